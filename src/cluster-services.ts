/**
 * The two services a Rivet Engine cluster needs beside its nodes, as child processes on loopback: PostgreSQL (the
 * engine's state and leader lease) and NATS (the nodes' messages). Each runs in its own process group, logs straight
 * to its file, and is stopped with a signal then SIGKILL. PostgreSQL refuses to run as root: when this process is
 * root it runs as the `postgres` user (the Debian package's), on a data dir that user owns.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
	chmodSync,
	chownSync,
	closeSync,
	existsSync,
	fchownSync,
	mkdirSync,
	openSync,
	readdirSync,
	readFileSync,
	statSync,
} from "node:fs";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { freePort } from "./rivet-engine-process.ts";

/** The database the nodes share; the engine needs it to exist, and its name lowercase. */
export const DATABASE = "rivet";
const SERVICE_READY_WITHIN_MS = 30_000;
const STOP_WITHIN_MS = 10_000;
export const POLL_MS = 50;

/** Postgres' or NATS' binaries are missing; the message says what to install. */
export class ClusterPrerequisitesMissingError extends Error {
	readonly code = "cluster_prerequisites_missing";
	readonly missing: string[];
	constructor(missing: string[]) {
		super(
			`a Rivet Engine cluster needs ${missing.join(" and ")}: on Debian/Ubuntu \`apt-get install postgresql nats-server\` (or set EDGERUNNER_POSTGRES_BIN to the folder with initdb and postgres, EDGERUNNER_NATS_SERVER to nats-server)`,
		);
		this.name = "ClusterPrerequisitesMissingError";
		this.missing = missing;
	}
}

export interface ClusterBinaries {
	/** The folder with `initdb`, `postgres` and `createdb`. */
	postgresBin: string | undefined;
	natsServer: string | undefined;
}

/** Where PostgreSQL's and NATS' binaries are: env overrides, then Debian's paths, then PATH. */
export function findClusterBinaries(): ClusterBinaries {
	const pathDirs = (process.env.PATH ?? "").split(":").filter(Boolean);
	const onPath = (name: string) =>
		pathDirs.map((dir) => join(dir, name)).find((file) => existsSync(file));
	let postgresBin = process.env.EDGERUNNER_POSTGRES_BIN;
	if (postgresBin === undefined) {
		const debian = "/usr/lib/postgresql";
		const versions = existsSync(debian)
			? readdirSync(debian)
					.filter((v) => existsSync(join(debian, v, "bin", "initdb")))
					.sort((a, b) => Number(b) - Number(a))
			: [];
		if (versions[0] !== undefined)
			postgresBin = join(debian, versions[0], "bin");
		else {
			const initdb = onPath("initdb");
			if (initdb !== undefined) postgresBin = resolve(initdb, "..");
		}
	}
	const natsServer =
		process.env.EDGERUNNER_NATS_SERVER ??
		[onPath("nats-server"), "/usr/sbin/nats-server"].find(
			(file) => file !== undefined && existsSync(file),
		);
	return {
		postgresBin:
			postgresBin !== undefined && existsSync(join(postgresBin, "postgres"))
				? postgresBin
				: undefined,
		natsServer,
	};
}

/** The names of what is missing (empty when a cluster can start). */
export function missingClusterBinaries(
	binaries = findClusterBinaries(),
): string[] {
	const missing: string[] = [];
	if (binaries.postgresBin === undefined) missing.push("PostgreSQL");
	if (binaries.natsServer === undefined) missing.push("nats-server");
	return missing;
}

/** One child process with a log file, in its own process group, stopped with `stopSignal` then SIGKILL. */
export interface Service {
	readonly child: ChildProcess;
	readonly pid: number;
	readonly exited: Promise<void>;
	running(): boolean;
	stop(signal: NodeJS.Signals): Promise<void>;
}

export function startService(
	command: string,
	args: string[],
	logPath: string,
	user?: { uid: number; gid: number },
): Service {
	// The log file itself, not a pipe through us: a service must not die of a broken pipe if we are killed.
	const log = openSync(logPath, "a");
	if (user) fchownSync(log, user.uid, user.gid);
	const child = spawn(command, args, {
		stdio: ["ignore", log, log],
		// Its own process group: a terminal's Ctrl-C reaches only us, and we stop the cluster in order.
		detached: true,
		...(user ?? {}),
	});
	closeSync(log); // the child has its own copy
	const running = () => child.exitCode === null && child.signalCode === null;
	const exited = new Promise<void>((resolveExit) => {
		child.once("error", () => resolveExit());
		child.once("close", () => {
			process.off("exit", killOnExit);
			resolveExit();
		});
	});
	// If this process ends without stop(), the service must not outlive it.
	const killOnExit = () => {
		if (running()) child.kill("SIGKILL");
	};
	process.on("exit", killOnExit);
	return {
		child,
		pid: child.pid ?? -1,
		exited,
		running,
		async stop(signal) {
			if (!running()) return exited;
			child.kill(signal);
			const timer = setTimeout(() => child.kill("SIGKILL"), STOP_WITHIN_MS);
			await exited;
			clearTimeout(timer);
		},
	};
}

/** The `postgres` account's uid/gid when this process is root (Postgres refuses root), else undefined (run as us). */
export function postgresUser(): { uid: number; gid: number } | undefined {
	if (process.getuid?.() !== 0) return undefined;
	const line = readFileSync("/etc/passwd", "utf8")
		.split("\n")
		.find((entry) => entry.startsWith("postgres:"));
	const [, , uid, gid] = line?.split(":") ?? [];
	if (uid === undefined || gid === undefined)
		throw new Error(
			"PostgreSQL refuses to run as root and there is no `postgres` user to run it as (install the postgresql package, or run as another user)",
		);
	return { uid: Number(uid), gid: Number(gid) };
}

/** Runs a command to its end; resolves its exit code and output. */
export function runToEnd(
	command: string,
	args: string[],
	user?: { uid: number; gid: number },
): Promise<{ code: number | null; output: string }> {
	return new Promise((resolveRun, reject) => {
		const child = spawn(command, args, {
			stdio: ["ignore", "pipe", "pipe"],
			...(user ?? {}),
		});
		let output = "";
		child.stdout?.on("data", (chunk) => {
			output += chunk;
		});
		child.stderr?.on("data", (chunk) => {
			output += chunk;
		});
		child.once("error", reject);
		child.once("close", (code) => resolveRun({ code, output }));
	});
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`; rejects if `service` exits or after the bound. */
async function untilListening(
	port: number,
	service: Service,
	what: string,
	logPath: string,
): Promise<void> {
	const deadline = Date.now() + SERVICE_READY_WITHIN_MS;
	while (Date.now() < deadline) {
		if (!service.running())
			throw new Error(`${what} exited before listening; see ${logPath}`);
		const accepted = await new Promise<boolean>((resolveProbe) => {
			const socket = connect(port, "127.0.0.1");
			socket.once("connect", () => {
				socket.destroy();
				resolveProbe(true);
			});
			socket.once("error", () => resolveProbe(false));
		});
		if (accepted) return;
		await sleep(POLL_MS);
	}
	throw new Error(
		`${what} did not listen on 127.0.0.1:${port} within ${SERVICE_READY_WITHIN_MS} ms; see ${logPath}`,
	);
}

export const sleep = (ms: number) =>
	new Promise((resolveSleep) => setTimeout(resolveSleep, ms));

/**
 * Postgres on a free loopback port with its data in `dir` (initialised there if it is not yet: trust auth, loopback
 * only), and the engine's database created. Reuses the state of an earlier run in the same dir.
 */
export async function startPostgres(
	bin: string,
	dir: string,
	logPath: string,
	fast: boolean,
): Promise<{ service: Service; port: number; url: string }> {
	const user = postgresUser();
	const blocked = user && unenterableAncestor(dir, user);
	if (blocked)
		throw new Error(
			`PostgreSQL runs as the postgres user here (it refuses root), and that user cannot enter ${blocked}: choose a data dir it can reach (e.g. under /tmp) or \`chmod o+x ${blocked}\``,
		);
	if (!existsSync(join(dir, "PG_VERSION"))) {
		mkdirSync(dir, { recursive: true });
		if (user) chownSync(dir, user.uid, user.gid);
		chmodSync(dir, 0o700);
		const init = await runToEnd(
			join(bin, "initdb"),
			[
				"-D",
				dir,
				"--auth=trust",
				"--username=postgres",
				"--encoding=UTF8",
				"--no-sync",
			],
			user,
		);
		if (init.code !== 0)
			throw new Error(
				`initdb failed (${init.code})${user ? " as the postgres user: every folder above the data dir must be searchable by it (e.g. use a data dir under /tmp)" : ""}: ${init.output.trim().split("\n").slice(-3).join(" ")}`,
			);
	}
	const port = await freePort();
	const settings = [
		"listen_addresses=127.0.0.1",
		// Its socket file in its own data dir: the system's /var/run/postgresql may not exist or belong to another.
		`unix_socket_directories=${dir}`,
		"max_connections=200",
		...(fast
			? ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
			: []),
	];
	const service = startService(
		join(bin, "postgres"),
		["-D", dir, "-p", String(port), ...settings.flatMap((s) => ["-c", s])],
		logPath,
		user,
	);
	await untilListening(port, service, "PostgreSQL", logPath);
	// Listening comes a moment before it accepts sessions ("the database system is starting up"): retried, bounded.
	const deadline = Date.now() + SERVICE_READY_WITHIN_MS;
	for (;;) {
		const created = await runToEnd(
			join(bin, "createdb"),
			["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", DATABASE],
			user,
		);
		if (created.code === 0 || created.output.includes("already exists")) break;
		if (Date.now() > deadline || !service.running()) {
			await service.stop("SIGKILL");
			throw new Error(
				`could not create the engine's database: ${created.output.trim()}; see ${logPath}`,
			);
		}
		await sleep(POLL_MS * 2);
	}
	return {
		service,
		port,
		url: `postgresql://postgres@127.0.0.1:${port}/${DATABASE}`,
	};
}

/** The first folder above `dir` that `user` may not enter (no x bit for it), if any. */
function unenterableAncestor(
	dir: string,
	user: { uid: number; gid: number },
): string | undefined {
	const parts = resolve(dir).split("/").filter(Boolean);
	for (let depth = 1; depth < parts.length; depth++) {
		const path = `/${parts.slice(0, depth).join("/")}`;
		const { mode, uid, gid } = statSync(path);
		const bit = uid === user.uid ? 0o100 : gid === user.gid ? 0o010 : 0o001;
		if ((mode & bit) === 0) return path;
	}
	return undefined;
}

export async function startNats(
	natsServer: string,
	logPath: string,
): Promise<{ service: Service; port: number }> {
	const port = await freePort();
	const service = startService(
		natsServer,
		["--addr", "127.0.0.1", "--port", String(port)],
		logPath,
	);
	await untilListening(port, service, "nats-server", logPath);
	return { service, port };
}
