/**
 * The real Rivet Engine (`@rivetkit/engine-cli`, a static binary) as a child process of the CLI: guard on the
 * given port, api-peer and metrics on free loopback ports, telemetry off, its own HOME, state in `dataDir`. It
 * is ready once guard answers `/metadata` and its `default` namespace exists; it stops with SIGTERM, then SIGKILL
 * after a bound.
 *
 * `@rivetkit/engine-cli` is not a dependency of edgerunner (its binary is ~100 MB): it is loaded lazily, only
 * when asked for, and its absence is a `RivetEngineNotInstalledError` saying what to install.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
	closeSync,
	existsSync,
	mkdirSync,
	openSync,
	writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { dirname, join } from "node:path";

/** The engine version edgerunner is verified against (toolchain §11). */
export const RIVET_ENGINE_CLI_VERSION = "2.3.19";

const READY_WITHIN_MS = 30_000;
const STOP_WITHIN_MS = 10_000;
const READY_POLL_MS = 50;
/**
 * `runtime` settings for an engine on a developer's machine. Guard otherwise waits up to 10 min on SIGTERM for
 * open client connections (a gateway WebSocket stays open after its actor stops): stop in seconds (force ≥ both
 * others). And the engine's workflow worker sheds load by the host's CPU usage
 * over `worker_cpu_max` (default: the host's CPUs; from 70 % it pulls fewer workflows, above 90 % only 5 %): on a
 * machine busy with runners, builds and tests that stalled actor creates, runner configs and stops for 30 s and
 * more (`pegboard_actor_create timed out`). Declaring 100 cores keeps usage below the curve.
 */
export const LOCAL_ENGINE_RUNTIME = {
	guard_shutdown_duration: 2,
	worker_shutdown_duration: 5,
	force_shutdown_duration: 6,
	worker_cpu_max: 100_000,
};

/** `@rivetkit/engine-cli` is missing, or cannot find its binary; the message is one line saying what to do. */
export class RivetEngineNotInstalledError extends Error {
	readonly code = "rivet_engine_not_installed";
	constructor(cause: string) {
		super(
			`the Rivet Engine is not installed: run \`npm install @rivetkit/engine-cli@${RIVET_ENGINE_CLI_VERSION}\` or set RIVET_ENGINE_BINARY to a rivet-engine binary (${cause.replace(/\s+/g, " ").trim()})`,
		);
		this.name = "RivetEngineNotInstalledError";
	}
}

/** Where each platform's binary is published (the only ones on the npm registry for 2.3.19). */
const PLATFORM_PACKAGES: Record<string, string> = {
	"linux-x64": "@rivetkit/engine-cli-linux-x64-musl",
};

/**
 * The engine binary: `RIVET_ENGINE_BINARY`, else `@rivetkit/engine-cli` (what users install), else the platform
 * package itself. This project depends on the platform package directly: `@rivetkit/engine-cli` names optional
 * platform packages that are not on the registry, and a lock file without them fails `npm ci`.
 */
export function rivetEngineBinary(): string {
	const fromEnv = process.env.RIVET_ENGINE_BINARY;
	if (fromEnv) {
		if (!existsSync(fromEnv)) {
			throw new RivetEngineNotInstalledError(
				`RIVET_ENGINE_BINARY is ${fromEnv}, which does not exist`,
			);
		}
		return fromEnv;
	}
	const require = createRequire(import.meta.url);
	const reasons: string[] = [];
	try {
		const cli = require("@rivetkit/engine-cli") as { getEnginePath(): string };
		return cli.getEnginePath();
	} catch (error) {
		reasons.push(
			`@rivetkit/engine-cli: ${(error as Error).message.split("\n")[0]}`,
		);
	}
	const platformPackage =
		PLATFORM_PACKAGES[`${process.platform}-${process.arch}`];
	if (platformPackage) {
		try {
			const binary = join(
				dirname(require.resolve(`${platformPackage}/package.json`)),
				"rivet-engine",
			);
			if (existsSync(binary)) return binary;
			reasons.push(`${platformPackage} has no rivet-engine binary`);
		} catch (error) {
			reasons.push(
				`${platformPackage}: ${(error as Error).message.split("\n")[0]}`,
			);
		}
	}
	throw new RivetEngineNotInstalledError(reasons.join("; "));
}

export interface RivetEngineProcessOptions {
	/** Guard's port (the public API, the gateway, `/runners/connect`); 0 picks a free one. */
	port: number;
	/** Guard's interface; api-peer and metrics always bind 127.0.0.1. Default 127.0.0.1. */
	host?: string;
	/** The engine's state (its `file_system.path`); unused for a cluster node, whose state is in Postgres. */
	dataDir: string;
	/** A cluster node: its state in Postgres and its messages over NATS instead of `dataDir` (src/rivet-cluster.ts). */
	cluster?: RivetClusterStorage;
	/** Api-peer's and metrics' ports (e.g. a restarted cluster node keeps its own); default: free ones. */
	apiPeerPort?: number;
	metricsPort?: number;
	/** Where the config, the log and the engine's HOME go. */
	runDir: string;
	/** Required from runners and API clients (`auth.admin_token`). */
	token?: string;
	/** Merged over the generated config, top level only. */
	config?: Record<string, unknown>;
	binary?: string;
	readyWithinMs?: number;
	stopWithinMs?: number;
}

export interface RivetEngineProcess {
	/** Guard's URL. */
	readonly url: string;
	readonly apiPeerUrl: string;
	readonly port: number;
	readonly pid: number;
	/** As `/metadata` reports it. */
	readonly version: string;
	readonly logPath: string;
	readonly config: Record<string, unknown>;
	/** Resolves when the process exits, for whatever reason. */
	readonly exited: Promise<{ code: number | null; signal: string | null }>;
	/** SIGTERM, then SIGKILL if it has not exited within the bound. Idempotent. */
	stop(): Promise<void>;
}

/** Where a cluster node keeps its state and talks to the others (both top level in the config; env vars had no effect). */
export interface RivetClusterStorage {
	/** e.g. `postgresql://postgres@127.0.0.1:5432/rivet` (the database must exist; its name lowercase). */
	postgresUrl: string;
	/** NATS `host:port`s. */
	natsAddresses: string[];
}

/** The loopback config of toolchain §11 (one leader datacenter, no telemetry); a cluster node's state in Postgres. */
export function rivetEngineConfig(ports: {
	guard: number;
	apiPeer: number;
	metrics: number;
	host: string;
	dataDir: string;
	token?: string;
	cluster?: RivetClusterStorage;
}): Record<string, unknown> {
	const publicHost = ports.host === "0.0.0.0" ? "127.0.0.1" : ports.host;
	const url = `http://${publicHost}:${ports.guard}`;
	const peerUrl = `http://127.0.0.1:${ports.apiPeer}`;
	return {
		guard: { host: ports.host, port: ports.guard },
		api_peer: { host: "127.0.0.1", port: ports.apiPeer },
		metrics: { host: "127.0.0.1", port: ports.metrics },
		telemetry: { enabled: false },
		...(ports.cluster
			? {
					postgres: { url: ports.cluster.postgresUrl },
					nats: { addresses: ports.cluster.natsAddresses },
				}
			: { file_system: { path: ports.dataDir } }),
		runtime: LOCAL_ENGINE_RUNTIME,
		topology: {
			datacenter_label: 1,
			datacenters: {
				default: {
					datacenter_label: 1,
					is_leader: true,
					public_url: url,
					peer_url: peerUrl,
				},
			},
		},
		...(ports.token ? { auth: { admin_token: ports.token } } : {}),
	};
}

/** Starts the engine and resolves once guard answers; rejects (and kills it) if it exits or never answers. */
export async function startRivetEngineProcess(
	options: RivetEngineProcessOptions,
): Promise<RivetEngineProcess> {
	const binary = options.binary ?? rivetEngineBinary();
	const host = options.host ?? "127.0.0.1";
	const guard =
		options.port === 0
			? await freePort(host)
			: await ensurePortFree(options.port, host);
	// Never the engine's own defaults (api-peer 6421, metrics 6430): another engine may hold them.
	const taken = new Set([guard, 6420, 6421, 6430]);
	const apiPeer = options.apiPeerPort ?? (await freePortOutside(taken));
	taken.add(apiPeer);
	const metrics = options.metricsPort ?? (await freePortOutside(taken));
	const config = {
		...rivetEngineConfig({
			guard,
			apiPeer,
			metrics,
			host,
			dataDir: options.dataDir,
			token: options.token,
			cluster: options.cluster,
		}),
		...options.config,
	};
	const home = join(options.runDir, "home");
	mkdirSync(home, { recursive: true });
	mkdirSync(options.dataDir, { recursive: true });
	const configPath = join(options.runDir, "config.json");
	writeFileSync(configPath, JSON.stringify(config, null, 2));
	const logPath = join(options.runDir, "engine.log");
	// The log file itself as stdout and stderr, not a pipe through us: an engine must not die of a broken pipe when
	// this process is killed (`edgerunner cluster down` stops what a killed `up` left running).
	const log = openSync(logPath, "a");

	// Its own process group: a terminal's Ctrl-C reaches only us, so the runner drains before the engine stops.
	const child = spawn(binary, ["start", "--config", configPath], {
		env: { ...process.env, HOME: home, RUST_LOG_ANSI_COLOR: "0" },
		stdio: ["ignore", log, log],
		detached: true,
	});
	closeSync(log); // the child has its own copy
	const spawnFailed = new Promise<never>((_, reject) =>
		child.once("error", (error) =>
			reject(
				new Error(
					`could not run the Rivet Engine (${binary}): ${error.message}`,
				),
			),
		),
	);
	spawnFailed.catch(() => {});
	const exited = new Promise<{ code: number | null; signal: string | null }>(
		(resolve) =>
			child.once("close", (code, signal) => {
				process.off("exit", killOnExit);
				resolve({ code, signal });
			}),
	);
	// If this process ends without stop() (an uncaught error, process.exit), the engine must not outlive it.
	const killOnExit = () => {
		if (isRunning(child)) child.kill("SIGKILL");
	};
	process.on("exit", killOnExit);

	const url = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${guard}`;
	let stopping: Promise<void> | undefined;
	const stop = () => {
		stopping ??= (async () => {
			if (isRunning(child)) {
				child.kill("SIGTERM");
				const timer = setTimeout(
					() => child.kill("SIGKILL"),
					options.stopWithinMs ?? STOP_WITHIN_MS,
				);
				await exited;
				clearTimeout(timer);
			} else await exited;
		})();
		return stopping;
	};

	let version: string;
	try {
		version = await Promise.race([
			waitUntilAnswering(
				url,
				options.token,
				child,
				logPath,
				options.readyWithinMs ?? READY_WITHIN_MS,
			),
			spawnFailed,
		]);
	} catch (error) {
		child.kill("SIGKILL");
		await Promise.race([exited, spawnFailed.catch(() => {})]);
		throw error;
	}
	return {
		url,
		apiPeerUrl: `http://127.0.0.1:${apiPeer}`,
		port: guard,
		pid: child.pid as number,
		version,
		logPath,
		config,
		exited,
		stop,
	};
}

function isRunning(child: ChildProcess): boolean {
	return child.exitCode === null && child.signalCode === null;
}

/** A port the kernel says is free on `host` now. */
export function freePort(host = "127.0.0.1"): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.once("error", reject);
		server.listen(0, host, () => {
			const address = server.address();
			const port = typeof address === "object" && address ? address.port : 0;
			server.close(() => resolve(port));
		});
	});
}

/** Resolves `port` if nothing listens on it; a clear error if something does (the engine would only log it). */
function ensurePortFree(port: number, host: string): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.once("error", (error: NodeJS.ErrnoException) =>
			reject(
				new Error(
					error.code === "EADDRINUSE"
						? `port ${port} on ${host} is in use (another engine?): pass --port 0 or another port`
						: `cannot listen on ${host}:${port}: ${error.message}`,
				),
			),
		);
		server.listen(port, host, () => server.close(() => resolve(port)));
	});
}

/** A free loopback port not in `taken`, which it joins. */
async function freePortOutside(taken: Set<number>): Promise<number> {
	for (let attempt = 0; attempt < 100; attempt++) {
		const port = await freePort();
		if (!taken.has(port)) {
			taken.add(port);
			return port;
		}
	}
	throw new Error("no free loopback port found in 100 attempts");
}

/**
 * Polls `/metadata`, then the `default` namespace (the engine offers no readiness event to await from outside),
 * bounded; resolves its version. Guard answers a moment before the engine has created `default`, and a runner that
 * connects then is refused `namespace.not_found`: the engine is ready once an actor list in it answers.
 */
async function waitUntilAnswering(
	url: string,
	token: string | undefined,
	child: ChildProcess,
	logPath: string,
	withinMs: number,
): Promise<string> {
	const deadline = Date.now() + withinMs;
	const headers: Record<string, string> =
		token === undefined ? {} : { authorization: `Bearer ${token}` };
	let version: string | undefined;
	while (Date.now() < deadline) {
		if (!isRunning(child))
			throw new Error(
				`the Rivet Engine exited (${child.exitCode ?? child.signalCode}) before answering; see ${logPath}`,
			);
		try {
			if (version === undefined) {
				const response = await fetch(`${url}/metadata`);
				if (response.ok)
					version =
						((await response.json()) as { version?: string }).version ?? "?";
			}
			if (version !== undefined) {
				const listed = await fetch(
					`${url}/actors?namespace=default&name=edgerunner-readiness`,
					{ headers },
				);
				if (listed.ok) return version;
			}
		} catch {
			// not listening yet
		}
		await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
	}
	throw new Error(
		`the Rivet Engine did not answer on ${url} within ${withinMs} ms; see ${logPath}`,
	);
}
