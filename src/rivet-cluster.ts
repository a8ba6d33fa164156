/**
 * A Rivet Engine cluster on one machine, over loopback: PostgreSQL (the engine's state, and the leader lease) and
 * NATS (the nodes' messages to each other), then N engine nodes with the same config apart from their ports (one
 * datacenter, the same topology). Each is a child process in its own process group with its log in the data dir.
 *
 * PostgreSQL refuses to run as root: when this process is root it runs as the `postgres` user (the Debian package's),
 * on a data dir that user owns. One node holds the engine's leader lease (`udb_lease` in Postgres, 10 s TTL); the
 * others send it their writes over NATS. `leaseHolder()` says which node holds it.
 *
 * Stop order: the engine nodes (SIGTERM, SIGKILL after a bound), then NATS, then Postgres. `writeClusterState()` puts
 * every pid in a state file in the data dir, so `edgerunner cluster down` (src/cluster-command.ts) stops a cluster
 * another process runs. Every service logs straight to its file in the data dir and runs in its own process group.
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
	rmSync,
	statSync,
	writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import {
	freePort,
	type RivetEngineProcess,
	rivetEngineBinary,
	startRivetEngineProcess,
} from "./rivet-engine-process.ts";

/** The database the nodes share; the engine needs it to exist, and its name lowercase. */
const DATABASE = "rivet";
const SERVICE_READY_WITHIN_MS = 30_000;
const STOP_WITHIN_MS = 10_000;
const POLL_MS = 50;
/** The file in the data dir that lists the cluster's processes. */
export const CLUSTER_STATE_FILE = "cluster-state.json";

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

export interface RivetClusterOptions {
	/** Where everything goes: `postgres/` (its data), `node-N/` (each node's config, log, HOME), the logs, the state file. */
	dataDir: string;
	/** Engine nodes (default 2). */
	nodes?: number;
	/** `auth.admin_token` of every node. */
	token?: string;
	/** Merged over each node's generated config, top level (e.g. `{ pegboard: {…} }`). */
	config?: Record<string, unknown>;
	/** Each node's guard port; default free ones. */
	ports?: number[];
	binary?: string;
	/** Postgres without fsync (fast, for tests; a crash of the machine may lose the cluster's state). */
	unsafeFastPostgres?: boolean;
	/** Progress lines (e.g. `console.log`); default none. */
	log?: (line: string) => void;
}

export interface RivetClusterNode {
	/** 1-based. */
	readonly index: number;
	/** Guard's URL (public API, gateway, `/runners/connect`). Stable across restarts. */
	readonly url: string;
	readonly port: number;
	readonly logPath: string;
	/** The running process's pid, or undefined while it is down. */
	readonly pid: number | undefined;
	readonly running: boolean;
	/** Sends `signal` and resolves once the process has exited (a SIGTERM becomes SIGKILL after 10 s). */
	kill(signal?: NodeJS.Signals): Promise<void>;
	/** Starts it again on the same ports (after kill); resolves once it is ready. */
	restart(): Promise<void>;
}

export interface ClusterService {
	readonly pid: number;
	readonly port: number;
	readonly logPath: string;
}

export interface RivetCluster {
	readonly dataDir: string;
	readonly nodes: readonly RivetClusterNode[];
	/** `postgresql://postgres@127.0.0.1:PORT/rivet` */
	readonly postgresUrl: string;
	/** `127.0.0.1:PORT` */
	readonly natsAddress: string;
	readonly postgres: ClusterService;
	readonly nats: ClusterService;
	/** The running node that holds an unexpired leader lease now, or undefined (e.g. while the lease fails over). */
	leaseHolder(): Promise<RivetClusterNode | undefined>;
	/** Resolves with the lease holder once one holds it that `accept` accepts; rejects after `withinMs`. */
	untilLeaseHolder(
		accept?: (node: RivetClusterNode) => boolean,
		withinMs?: number,
	): Promise<RivetClusterNode>;
	/** Stops every node, NATS and Postgres; nothing is left running. Idempotent. */
	stop(): Promise<void>;
}

/** What the state file records: enough for another process to stop the cluster. */
export interface ClusterState {
	/** The process that started the cluster (it stops everything cleanly on SIGTERM). */
	controllerPid: number;
	nodes: { url: string; pid: number | undefined }[];
	postgres: { pid: number; port: number; url: string };
	nats: { pid: number; port: number; address: string };
}

/** One child process with a log file, in its own process group, stopped with `stopSignal` then SIGKILL. */
interface Service {
	readonly child: ChildProcess;
	readonly pid: number;
	readonly exited: Promise<void>;
	running(): boolean;
	stop(signal: NodeJS.Signals): Promise<void>;
}

function startService(
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
function postgresUser(): { uid: number; gid: number } | undefined {
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
function runToEnd(
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

const sleep = (ms: number) =>
	new Promise((resolveSleep) => setTimeout(resolveSleep, ms));

/**
 * Postgres on a free loopback port with its data in `dir` (initialised there if it is not yet: trust auth, loopback
 * only), and the engine's database created. Reuses the state of an earlier run in the same dir.
 */
async function startPostgres(
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

async function startNats(
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

/** Starts Postgres, NATS and the engine nodes; resolves once every node answers and its `default` namespace exists. */
export async function startRivetCluster(
	options: RivetClusterOptions,
): Promise<RivetCluster> {
	const binaries = findClusterBinaries();
	const missing = missingClusterBinaries(binaries);
	if (missing.length > 0) throw new ClusterPrerequisitesMissingError(missing);
	const engineBinary = options.binary ?? rivetEngineBinary();
	const nodeCount = options.nodes ?? 2;
	if (!Number.isInteger(nodeCount) || nodeCount < 1)
		throw new Error(`a cluster needs at least 1 node, got ${nodeCount}`);
	const dataDir = resolve(options.dataDir);
	mkdirSync(dataDir, { recursive: true });
	// The postgres user must reach its data dir inside ours (mkdtemp makes 0700 folders).
	if (postgresUser()) chmodSync(dataDir, statSync(dataDir).mode | 0o711);
	const log = options.log ?? (() => {});

	const stops: (() => Promise<void>)[] = [];
	const stopAll = async () => {
		for (const stop of stops.splice(0).reverse()) await stop();
	};
	try {
		const postgres = await startPostgres(
			binaries.postgresBin as string,
			join(dataDir, "postgres"),
			join(dataDir, "postgres.log"),
			options.unsafeFastPostgres ?? false,
		);
		stops.push(() => postgres.service.stop("SIGINT")); // SIGINT: Postgres' fast shutdown
		log(
			`PostgreSQL on 127.0.0.1:${postgres.port} (pid ${postgres.service.pid})`,
		);
		const nats = await startNats(
			binaries.natsServer as string,
			join(dataDir, "nats.log"),
		);
		stops.push(() => nats.service.stop("SIGTERM"));
		log(`nats-server on 127.0.0.1:${nats.port} (pid ${nats.service.pid})`);
		const natsAddress = `127.0.0.1:${nats.port}`;

		const nodes: ClusterNode[] = [];
		stops.push(async () => {
			await Promise.all(nodes.map((node) => node.kill("SIGTERM")));
		});
		const newNode = (index: number) =>
			new ClusterNode(index, {
				binary: engineBinary,
				runDir: join(dataDir, `node-${index}`),
				port: options.ports?.[index - 1] ?? 0,
				token: options.token,
				config: options.config,
				cluster: { postgresUrl: postgres.url, natsAddresses: [natsAddress] },
			});
		// The first node alone first: it takes the leader lease, and the others join a cluster that is ready.
		const first = newNode(1);
		nodes.push(first);
		await first.restart();
		log(`node 1 on ${first.url} (pid ${first.pid})`);
		const rest = Array.from({ length: nodeCount - 1 }, (_, i) =>
			newNode(i + 2),
		);
		nodes.push(...rest);
		await Promise.all(rest.map((node) => node.restart()));
		for (const node of rest)
			log(`node ${node.index} on ${node.url} (pid ${node.pid})`);

		const leaseHolder = async () => {
			const holder = await leaseHolderId(
				binaries.postgresBin as string,
				postgres.port,
			);
			if (holder === undefined) return undefined;
			return nodes.find((node) => node.running && node.holdsLeaseAs(holder));
		};
		let stopping: Promise<void> | undefined;
		return {
			dataDir,
			nodes,
			postgresUrl: postgres.url,
			natsAddress,
			postgres: {
				pid: postgres.service.pid,
				port: postgres.port,
				logPath: join(dataDir, "postgres.log"),
			},
			nats: {
				pid: nats.service.pid,
				port: nats.port,
				logPath: join(dataDir, "nats.log"),
			},
			leaseHolder,
			async untilLeaseHolder(accept = () => true, withinMs = 30_000) {
				const deadline = Date.now() + withinMs;
				for (;;) {
					const holder = await leaseHolder();
					if (holder !== undefined && accept(holder)) return holder;
					if (Date.now() > deadline)
						throw new Error(
							`no accepted node held the leader lease within ${withinMs} ms (now: ${holder ? `node ${holder.index}` : "none"})`,
						);
					await sleep(POLL_MS * 4);
				}
			},
			stop() {
				stopping ??= stopAll();
				return stopping;
			},
		};
	} catch (error) {
		await stopAll();
		throw error;
	}
}

/**
 * The node id in Postgres' lease row if the lease has not expired (the engine's `udb_lease`: one row, the holder's
 * node id and its expiry). psql, as Postgres' own client, saves a driver dependency.
 */
async function leaseHolderId(
	postgresBin: string,
	port: number,
): Promise<string | undefined> {
	const query = await runToEnd(
		join(postgresBin, "psql"),
		[
			"-h",
			"127.0.0.1",
			"-p",
			String(port),
			"-U",
			"postgres",
			"-d",
			DATABASE,
			"-At",
			"-c",
			"select leader_addr from udb_lease where expires_at > now()",
		],
		postgresUser(),
	);
	const id = query.output.trim();
	return query.code === 0 && /^[0-9a-f]+$/.test(id) ? id : undefined;
}

interface NodeSettings {
	binary: string;
	runDir: string;
	port: number;
	token: string | undefined;
	config: Record<string, unknown> | undefined;
	cluster: { postgresUrl: string; natsAddresses: string[] };
}

/** One engine node: started with startRivetEngineProcess, restarted on the same ports. */
class ClusterNode implements RivetClusterNode {
	readonly index: number;
	readonly #settings: NodeSettings;
	#process: RivetEngineProcess | undefined;
	#ports: { guard: number; apiPeer?: number; metrics?: number };
	#running = false;

	constructor(index: number, settings: NodeSettings) {
		this.index = index;
		this.#settings = settings;
		this.#ports = { guard: settings.port };
	}

	get url(): string {
		return `http://127.0.0.1:${this.#ports.guard}`;
	}
	get port(): number {
		return this.#ports.guard;
	}
	get logPath(): string {
		return join(this.#settings.runDir, "engine.log");
	}
	get pid(): number | undefined {
		return this.#running ? this.#process?.pid : undefined;
	}
	get running(): boolean {
		return this.#running;
	}

	/** Whether this node's current run logged taking the lease as `nodeId` (the engine logs only the holder's id). */
	holdsLeaseAs(nodeId: string): boolean {
		if (!existsSync(this.logPath)) return false;
		const log = readFileSync(this.logPath, "utf8");
		// The log is appended to across restarts, and each run has a new node id: only the current run counts.
		const currentRun = log.slice(log.lastIndexOf('message="starting rivet"'));
		return new RegExp(`leader lease" epoch=\\d+ node_id=${nodeId}\\b`).test(
			currentRun,
		);
	}

	async kill(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
		const engine = this.#process;
		if (engine === undefined || !this.#running) return;
		if (signal === "SIGTERM") await engine.stop();
		else {
			process.kill(engine.pid, signal);
			await engine.exited;
		}
	}

	async restart(): Promise<void> {
		await this.kill("SIGTERM");
		const engine = await startRivetEngineProcess({
			binary: this.#settings.binary,
			port: this.#ports.guard,
			dataDir: join(this.#settings.runDir, "data"),
			runDir: this.#settings.runDir,
			token: this.#settings.token,
			config: this.#settings.config,
			cluster: this.#settings.cluster,
			apiPeerPort: this.#ports.apiPeer,
			metricsPort: this.#ports.metrics,
		});
		this.#process = engine;
		this.#running = true;
		void engine.exited.then(() => {
			if (this.#process === engine) this.#running = false;
		});
		const peer = new URL(engine.apiPeerUrl);
		const metrics = (engine.config.metrics as { port: number }).port;
		this.#ports = {
			guard: engine.port,
			apiPeer: Number(peer.port),
			metrics,
		};
	}
}

/** Writes the state file another process reads to stop this cluster. */
export function writeClusterState(cluster: RivetCluster): string {
	const state: ClusterState = {
		controllerPid: process.pid,
		nodes: cluster.nodes.map((node) => ({ url: node.url, pid: node.pid })),
		postgres: {
			pid: cluster.postgres.pid,
			port: cluster.postgres.port,
			url: cluster.postgresUrl,
		},
		nats: {
			pid: cluster.nats.pid,
			port: cluster.nats.port,
			address: cluster.natsAddress,
		},
	};
	const path = join(cluster.dataDir, CLUSTER_STATE_FILE);
	writeFileSync(path, `${JSON.stringify(state, null, 2)}\n`);
	return path;
}

export function removeClusterState(dataDir: string): void {
	rmSync(join(dataDir, CLUSTER_STATE_FILE), { force: true });
}
