/**
 * The real Rivet Engine (`@rivetkit/engine-cli`, a static binary) as a child process for tests: free loopback
 * ports (never 6420), fresh state in a temporary folder, its own HOME, ready once guard answers, stopped with
 * SIGTERM then SIGKILL after a bound. `restart()` keeps the ports and the state folder.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
	LOCAL_ENGINE_RUNTIME,
	rivetEngineBinary,
} from "../../src/rivet-engine-process.js";

export { rivetEngineBinary };

const READY_WITHIN_MS = 30_000;
const STOP_WITHIN_MS = 10_000;

export interface RivetEngineOptions {
	/** Merged over the generated config, top level only (e.g. `{ auth: { admin_token } }`, `{ pegboard: {…} }`). */
	config?: Record<string, unknown>;
	/** Reuse this state folder (e.g. to start a second engine on the state of a stopped one). */
	dataDir?: string;
}

export interface RivetEngine {
	/** Guard: the public HTTP API, the gateway and `/runners/connect`. */
	readonly url: string;
	readonly apiPeerUrl: string;
	readonly dataDir: string;
	readonly config: Record<string, unknown>;
	/** Everything the engine printed since it was first started (stdout and stderr). */
	readonly logPath: string;
	readonly pid: number | undefined;
	/** SIGTERM, then SIGKILL if it has not exited within 10 s. Idempotent. */
	stop(): Promise<void>;
	/** SIGKILL now. */
	kill(): Promise<void>;
	/** Starts it again on the same ports and state (after stop or kill). */
	restart(): Promise<void>;
	/** stop() and remove the state folder. */
	close(): Promise<void>;
}

/** A port the kernel says is free on 127.0.0.1 now. */
export function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.once("error", reject);
		server.listen(0, "127.0.0.1", () => {
			const address = server.address();
			const port = typeof address === "object" && address ? address.port : 0;
			server.close(() => resolve(port));
		});
	});
}

/** Starts a real Rivet Engine and resolves once its guard answers HTTP. */
export async function startRivetEngine(
	options: RivetEngineOptions = {},
): Promise<RivetEngine> {
	const binary = rivetEngineBinary();
	const [guard, apiPeer, metrics] = await distinctFreePorts(3);
	const home = mkdtempSync(join(tmpdir(), "rivet-engine-"));
	const dataDir = options.dataDir ?? join(home, "data");
	const url = `http://127.0.0.1:${guard}`;
	const apiPeerUrl = `http://127.0.0.1:${apiPeer}`;
	const config = {
		guard: { host: "127.0.0.1", port: guard },
		api_peer: { host: "127.0.0.1", port: apiPeer },
		metrics: { host: "127.0.0.1", port: metrics },
		telemetry: { enabled: false },
		file_system: { path: dataDir },
		topology: {
			datacenter_label: 1,
			datacenters: {
				default: {
					datacenter_label: 1,
					is_leader: true,
					public_url: url,
					peer_url: apiPeerUrl,
				},
			},
		},
		runtime: LOCAL_ENGINE_RUNTIME,
		...options.config,
	};
	const configPath = join(home, "config.json");
	writeFileSync(configPath, JSON.stringify(config, null, 2));
	const logPath = join(home, "engine.log");
	const log = createWriteStream(logPath, { flags: "a" });

	let child: ChildProcess | undefined;
	let exited: Promise<void> = Promise.resolve();

	const launch = async () => {
		const started = spawn(binary, ["start", "--config", configPath], {
			env: { ...process.env, HOME: home, RUST_LOG_ANSI_COLOR: "0" },
			stdio: ["ignore", "pipe", "pipe"],
		});
		child = started;
		started.stdout?.pipe(log, { end: false });
		started.stderr?.pipe(log, { end: false });
		exited = new Promise((resolve) => started.once("exit", () => resolve()));
		await waitUntilAnswering(url, started, logPath);
	};

	const signalAndWait = async (signal: NodeJS.Signals) => {
		const running = child;
		if (!running || running.exitCode !== null || running.signalCode !== null)
			return;
		running.kill(signal);
		const timer = setTimeout(() => running.kill("SIGKILL"), STOP_WITHIN_MS);
		await exited;
		clearTimeout(timer);
	};

	await launch();
	return {
		url,
		apiPeerUrl,
		dataDir,
		config,
		logPath,
		get pid() {
			return child?.pid;
		},
		stop: () => signalAndWait("SIGTERM"),
		kill: () => signalAndWait("SIGKILL"),
		restart: async () => {
			await signalAndWait("SIGTERM");
			await launch();
		},
		close: async () => {
			await signalAndWait("SIGTERM");
			log.end();
			rmSync(home, { recursive: true, force: true });
		},
	};
}

async function distinctFreePorts(count: number): Promise<number[]> {
	const ports = new Set<number>();
	while (ports.size < count) {
		const port = await freePort();
		if (port !== 6420) ports.add(port);
	}
	return [...ports];
}

/** Polls `/metadata` (there is no readiness event to await from outside the process), bounded. */
async function waitUntilAnswering(
	url: string,
	child: ChildProcess,
	logPath: string,
): Promise<void> {
	const deadline = Date.now() + READY_WITHIN_MS;
	while (Date.now() < deadline) {
		if (child.exitCode !== null || child.signalCode !== null)
			throw new Error(
				`the Rivet Engine exited (${child.exitCode ?? child.signalCode}) before answering; see ${logPath}`,
			);
		try {
			const response = await fetch(`${url}/metadata`);
			if (response.ok) return;
		} catch {
			// not listening yet
		}
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
	child.kill("SIGKILL");
	throw new Error(
		`the Rivet Engine did not answer on ${url} within ${READY_WITHIN_MS} ms; see ${logPath}`,
	);
}
