/**
 * A Rivet Engine cluster on one machine, over loopback: PostgreSQL and NATS (cluster-services.ts), then N engine
 * nodes with the same config apart from their ports (one datacenter, the same topology). Each is a child process in
 * its own process group with its log in the data dir.
 *
 * One node holds the engine's leader lease (`udb_lease` in Postgres, 10 s TTL); the others send it their writes over
 * NATS. `leaseHolder()` says which node holds it.
 *
 * Stop order: the engine nodes (SIGTERM, SIGKILL after a bound), then NATS, then Postgres. `writeClusterState()` puts
 * every pid in a state file in the data dir, so `edgerunner cluster down` (src/cluster-command.ts) stops a cluster
 * another process runs.
 */
import {
	chmodSync,
	existsSync,
	mkdirSync,
	readFileSync,
	rmSync,
	statSync,
	writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import {
	ClusterPrerequisitesMissingError,
	DATABASE,
	findClusterBinaries,
	missingClusterBinaries,
	POLL_MS,
	postgresUser,
	runToEnd,
	sleep,
	startNats,
	startPostgres,
} from "./cluster-services.ts";
import {
	type RivetEngineProcess,
	rivetEngineBinary,
	startRivetEngineProcess,
} from "./rivet-engine-process.ts";

/** The file in the data dir that lists the cluster's processes. */
export const CLUSTER_STATE_FILE = "cluster-state.json";

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
