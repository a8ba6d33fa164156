/**
 * A Rivet Engine cluster for tests (src/rivet-cluster.ts): Postgres, NATS and N engine nodes on loopback in a fresh
 * temporary folder, removed by close(). Each node is also seen as an `EngineUnderTest`, so the helpers of
 * tests/helpers/engines.ts (declareRunnerConfig, untilRunnerListed, untilActor) work against one node.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import {
	createServer,
	connect as dial,
	type Server,
	type Socket,
} from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { missingClusterBinaries } from "../../src/cluster-services.ts";
import {
	type RivetCluster,
	type RivetClusterNode,
	startRivetCluster,
} from "../../src/rivet-cluster.ts";
import {
	type EngineActor,
	type EngineUnderTest,
	pollActor,
} from "./engines.ts";

/** Why the cluster tier cannot run here, or undefined when it can (only the binaries' absence skips it). */
export const clusterSkipReason = (): string | undefined => {
	const missing = missingClusterBinaries();
	return missing.length === 0
		? undefined
		: `${missing.join(" and ")} not installed (apt-get install postgresql nats-server)`;
};

export interface TestCluster {
	readonly cluster: RivetCluster;
	readonly nodes: readonly RivetClusterNode[];
	/** Node `index` (0-based) as an engine under test: its API, its view of actors. */
	engine(index: number): EngineUnderTest;
	/** Every node's log, for a failing test's message: the last `lines` lines of each. */
	logTails(lines?: number): string;
	close(): Promise<void>;
}

export async function startTestCluster(
	options: { nodes?: number; config?: Record<string, unknown> } = {},
): Promise<TestCluster> {
	const dir = mkdtempSync(join(tmpdir(), "rivet-cluster-"));
	let cluster: RivetCluster;
	try {
		cluster = await startRivetCluster({
			dataDir: dir,
			nodes: options.nodes ?? 2,
			config: options.config,
			unsafeFastPostgres: true,
		});
	} catch (error) {
		rmSync(dir, { recursive: true, force: true });
		throw error;
	}
	const engines = cluster.nodes.map((node) => nodeEngine(node));
	return {
		cluster,
		nodes: cluster.nodes,
		engine: (index) => {
			const engine = engines[index];
			if (engine === undefined) throw new Error(`no node ${index}`);
			return engine;
		},
		logTails(lines = 30) {
			return cluster.nodes
				.map((node) => {
					let text = "";
					try {
						text = readFileSync(node.logPath, "utf8");
					} catch {
						// never started: no log
					}
					return `--- node ${node.index} (${node.url}) ---\n${text.trimEnd().split("\n").slice(-lines).join("\n")}`;
				})
				.join("\n");
		},
		async close() {
			await cluster.stop();
			rmSync(dir, { recursive: true, force: true });
		},
	};
}

/** One node as an EngineUnderTest (no token: the cluster tier runs without one). */
function nodeEngine(node: RivetClusterNode): EngineUnderTest {
	const api = (path: string, init?: RequestInit) =>
		fetch(`${node.url}${path}`, init);
	const actor = async (actorId: string) => {
		const response = await api(
			`/actors?namespace=default&actor_ids=${encodeURIComponent(actorId)}`,
		);
		if (!response.ok)
			throw new Error(
				`GET /actors?actor_ids=${actorId} on node ${node.index}: ${response.status} ${await response.text()}`,
			);
		const { actors } = (await response.json()) as { actors: EngineActor[] };
		return actors.find((a) => a.actor_id === actorId);
	};
	return {
		kind: "rivet",
		url: node.url,
		token: undefined,
		logPath: node.logPath,
		api,
		actor,
		untilActor: pollActor(
			actor,
			` on node ${node.index}`,
			"the node is down or failing over",
		),
		async restart(signal) {
			await node.kill(signal);
			await node.restart();
		},
		close: async () => {},
	};
}

/**
 * A loopback TCP relay in front of a cluster's nodes for a runner that takes one endpoint (the reference runner):
 * each new connection goes to the first node in `targets` order that accepts it, so a runner whose node went down
 * reaches the next one on its reconnect. `connects` records which target each connection reached.
 */
export class FailoverRelay {
	readonly #server: Server;
	readonly #sockets = new Set<Socket>();
	readonly connects: string[] = [];

	constructor(targets: readonly string[]) {
		const addresses = targets.map((target) => new URL(target));
		this.#server = createServer((client) => {
			this.#track(client);
			client.pause();
			const tryTarget = (index: number) => {
				const target = addresses[index];
				if (target === undefined) {
					client.destroy();
					return;
				}
				const upstream = dial(Number(target.port), target.hostname);
				let connected = false;
				upstream.once("error", () => {
					if (!connected) tryTarget(index + 1); // refused: this node is down
				});
				upstream.once("connect", () => {
					connected = true;
					this.#track(upstream);
					this.connects.push(target.origin);
					client.pipe(upstream);
					upstream.pipe(client);
					client.resume();
					client.on("close", () => upstream.destroy());
					upstream.on("close", () => client.destroy());
				});
			};
			tryTarget(0);
		});
	}

	#track(socket: Socket): void {
		this.#sockets.add(socket);
		socket.on("error", () => {}); // the peer sees the drop
		socket.on("close", () => this.#sockets.delete(socket));
	}

	/** Starts listening on a free loopback port; resolves with the relay's `http://` URL. */
	async listen(): Promise<string> {
		await new Promise<void>((resolve) =>
			this.#server.listen(0, "127.0.0.1", resolve),
		);
		const address = this.#server.address();
		if (address === null || typeof address === "string")
			throw new Error("relay has no TCP address");
		return `http://127.0.0.1:${address.port}`;
	}

	async close(): Promise<void> {
		for (const socket of this.#sockets) socket.destroy();
		await new Promise<void>((resolve) => this.#server.close(() => resolve()));
	}
}
