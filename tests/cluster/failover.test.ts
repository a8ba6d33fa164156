/**
 * Failover on a two-node Rivet Engine cluster. For each way a node goes down (SIGKILL or SIGTERM, of the leader
 * lease holder or of a follower), our runner connected to that node with the endpoint list [that node, the other]
 * comes back on the survivor by itself under the same runner id, and its actors are reachable again through the
 * survivor: the time that takes is measured and logged (one line each; docs/deploy.md quotes them). Then a drain on
 * the survivor must stop every actor, and the node that went down is restarted and rejoins the cluster for the next
 * scenario. One cluster for the file: each scenario starts from two running nodes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
// @ts-expect-error plain ESM example without type declarations
import { counterActors } from "../../examples/counter/counter.mjs";
import { Runner } from "../../src/core/index.ts";
import type { RivetClusterNode } from "../../src/rivet-cluster.ts";
import {
	clusterSkipReason,
	startTestCluster,
	type TestCluster,
} from "../helpers/cluster.ts";
import {
	declareRunnerConfig,
	type EngineUnderTest,
	isRunning,
	isSleeping,
	untilRunnerListed,
} from "../helpers/engines.ts";
import { memoryLogger } from "../helpers/memory-logger.ts";

const STEP_MS = 20_000;
/** Generous bound of the unavailability: the leader's lease TTL is 10 s, and the runner backs off up to 1 s. */
const UNAVAILABLE_AT_MOST_MS = 30_000;
/** After a SIGKILL the engine's workflow worker failover takes ~33 s; every actor has stopped well within this. */
const CONVERGED_WITHIN_MS = 60_000;
const ACTORS = 3;
const skip = clusterSkipReason();

interface Scenario {
	target: "leader" | "follower";
	signal: "SIGKILL" | "SIGTERM";
}
const SCENARIOS: Scenario[] = [
	{ target: "follower", signal: "SIGKILL" },
	{ target: "leader", signal: "SIGKILL" },
	{ target: "follower", signal: "SIGTERM" },
	{ target: "leader", signal: "SIGTERM" },
];

describe.skipIf(skip !== undefined)(
	`failover between the nodes of a two-node cluster${skip ? ` — skipped: ${skip}` : ""}`,
	() => {
		let cluster: TestCluster;
		beforeAll(async () => {
			cluster = await startTestCluster();
		}, 60_000);
		afterAll(async () => {
			await cluster?.close();
		}, 30_000);

		const engineOf = (node: RivetClusterNode) =>
			cluster.engine(cluster.nodes.indexOf(node));

		SCENARIOS.forEach(({ target, signal }, index) => {
			it(`${signal} of the ${target}: the runner comes back on the survivor with the same id, its actors are reachable again, a drain there stops them all, the node rejoins`, async () => {
				const holder = await cluster.cluster.untilLeaseHolder(
					() => true,
					STEP_MS,
				);
				const down =
					target === "leader"
						? holder
						: (cluster.nodes.find((n) => n !== holder) as RivetClusterNode);
				const up = cluster.nodes.find((n) => n !== down) as RivetClusterNode;
				const [downEngine, upEngine] = [engineOf(down), engineOf(up)];
				const runnerName = `failover-${index}`;
				await declareRunnerConfig(upEngine, runnerName, STEP_MS);

				const runnerLog: string[] = [];
				const stopped: string[] = [];
				let runner: Runner | undefined;
				const counter = counterActors(() => runner) as {
					onActorStop(id: string): Promise<void>;
					stopAll(): void;
				};
				const connectedAt: number[] = [];
				const ours = new Runner({
					version: 1,
					// The node that goes down first: the runner must move to the other by itself.
					endpoint: [down.url, up.url],
					namespace: "default",
					runnerName,
					totalSlots: 10,
					noAutoShutdown: true,
					logger: memoryLogger(runnerLog),
					platform: {
						name: "node",
						WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
					},
					...(counter as object),
					onActorStop: async (actorId: string) => {
						stopped.push(actorId);
						await counter.onActorStop(actorId);
					},
					onConnected: () => {
						connectedAt.push(Date.now());
					},
				});
				runner = ours;
				const actorIds: string[] = [];
				let downAt = 0;
				try {
					await ours.start();
					await untilRunnerListed(
						downEngine,
						(r) => r.name === runnerName,
						STEP_MS,
					);
					expect(ours.endpoint).toBe(down.url);
					const runnerId = ours.runnerId;
					for (let i = 0; i < ACTORS; i++)
						actorIds.push(await createCounter(upEngine, runnerName));
					for (const id of actorIds)
						await upEngine.untilActor(id, isRunning, STEP_MS);

					downAt = Date.now();
					await down.kill(signal);
					const reachable = await Promise.all(
						actorIds.map((id) => untilReachable(upEngine, id, downAt)),
					);
					const unavailableMs = Math.max(...reachable);
					console.log(
						`cluster failover: ${signal} of the ${target}: actors reachable again through the survivor after ${unavailableMs} ms (each: ${reachable.join(", ")} ms; the runner was back on it after ${(connectedAt[1] ?? Number.NaN) - downAt} ms)`,
					);
					expect(unavailableMs).toBeLessThan(UNAVAILABLE_AT_MOST_MS);
					// Same runner key, so the cluster sees the same runner: same id, one runner listed.
					expect(ours.endpoint).toBe(up.url);
					expect(ours.runnerId).toBe(runnerId);
					expect(connectedAt.length).toBeGreaterThanOrEqual(2);
					const listed = await listRunners(upEngine, runnerName);
					expect(listed.map((r) => r.runner_id)).toEqual([runnerId]);

					// The drain on the survivor: every actor stops. The engine sends StopActor at once only for the actors
					// whose workflows the survivor runs; those the node that went down ran wait for the engine's worker
					// failover (~33 s), and if the engine's drain window (runner_lost_threshold, 15 s) ends first it closes
					// the runner, which then stops the rest itself (engine fault 1, docs/deploy.md): the report says how
					// many the engine never stopped.
					const report = await ours.shutdown(false);
					console.log(
						`cluster failover: ${signal} of the ${target}: drain on the survivor ended ${report.reason} after ${Math.round(report.durationMs)} ms, ${report.actorsStopped} stopped by the engine, ${report.actorsAbandoned} stopped by the runner alone${report.actorsAbandoned > 0 ? " (engine fault 1: no StopActor for them)" : ""}`,
					);
					expect([...stopped].sort()).toEqual([...actorIds].sort());
					expect(report.actorsStopped + report.actorsAbandoned).toBe(ACTORS);
					// Even after a SIGTERM some workflows may wait for the worker failover (seen in 1 of 3 runs): no
					// assertion on the split.
					// The engine converges in any case: every actor follows its crash policy (sleep) once the dead
					// node's workflows have failed over.
					for (const id of actorIds)
						await upEngine.untilActor(
							id,
							isSleeping,
							Math.max(STEP_MS, downAt + CONVERGED_WITHIN_MS - Date.now()),
						);
				} catch (error) {
					console.error(
						`--- our runner's log ---\n${runnerLog.slice(-60).join("\n")}\n${cluster.logTails(40)}`,
					);
					throw error;
				} finally {
					await ours.shutdown(true);
					counter.stopAll();
				}

				// The node comes back and rejoins: it answers, sees the actors as the survivor does, and a lease holder
				// runs.
				await down.restart();
				const seen = await downEngine.untilActor(
					actorIds[0] as string,
					isSleeping,
					STEP_MS,
				);
				expect(seen.actor_id).toBe(actorIds[0]);
				const holderNow = await cluster.cluster.untilLeaseHolder(
					(node) => node.running,
					STEP_MS,
				);
				// A leader that went down lost the lease to the survivor; a follower's return changes nothing.
				expect(holderNow).toBe(target === "leader" ? up : holder);
			}, 90_000);
		});
	},
);

async function listRunners(
	engine: EngineUnderTest,
	runnerName: string,
): Promise<{ runner_id: string }[]> {
	const response = await engine.api(
		`/runners?namespace=default&name=${runnerName}`,
	);
	expect(response.status).toBe(200);
	return ((await response.json()) as { runners: { runner_id: string }[] })
		.runners;
}

async function createCounter(
	engine: EngineUnderTest,
	runnerName: string,
): Promise<string> {
	const response = await engine.api("/actors?namespace=default", {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({
			name: "counter",
			runner_name_selector: runnerName,
			crash_policy: "sleep",
		}),
	});
	const text = await response.text();
	if (response.status !== 200)
		throw new Error(`POST /actors: ${response.status} ${text}`);
	return (JSON.parse(text) as { actor: { actor_id: string } }).actor.actor_id;
}

/** Milliseconds from `since` until `GET /gateway/{id}/count` through `engine` answers 200 (bounded polling). */
async function untilReachable(
	engine: EngineUnderTest,
	actorId: string,
	since: number,
): Promise<number> {
	const deadline = since + UNAVAILABLE_AT_MOST_MS + 10_000;
	let last = "";
	while (Date.now() < deadline) {
		try {
			const response = await fetch(`${engine.url}/gateway/${actorId}/count`, {
				signal: AbortSignal.timeout(2_000),
			});
			if (response.ok) return Date.now() - since;
			last = `${response.status} ${await response.text()}`;
		} catch (error) {
			last = String(error);
		}
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
	throw new Error(
		`actor ${actorId} not reachable through ${engine.url}: ${last}`,
	);
}
