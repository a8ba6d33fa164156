/**
 * The evidence for the two engine faults of issue 13 (docs/deploy.md, "Growing past one machine"), run on demand:
 * the same scenario with our runner and with the reference runner R (@rivetkit/engine-runner, one endpoint, so
 * behind a TCP failover relay), each printing a timeline. Not in CI: the fault-1 runs wait for the engine's worker
 * failover (~35 s each), and what they show depends on where the engine placed each workflow (random), so they
 * print rather than assert.
 *
 * - Fault 1: after the node a runner was on went down (a SIGKILL of the follower by default; see the env
 *   variables below), a drain on the survivor. Timeline of each StopActor (the runners' onActorStop: R calls it
 *   only on a StopActor command; ours also at an eviction, at that instant).
 * - Fault 2: how long `POST /actors` answers 400 no_runner_config_configured after a runner's first connect,
 *   through each node, against a runner config declared first through the other node.
 *
 * Run: EDGERUNNER_CLUSTER_EVIDENCE=1 npx vitest run tests/cluster/engine-faults.test.ts; with
 * EDGERUNNER_CLUSTER_EVIDENCE_DOWN=leader, EDGERUNNER_CLUSTER_EVIDENCE_SIGNAL=SIGTERM,
 * EDGERUNNER_CLUSTER_LOST_THRESHOLD_MS=45000 (the mitigation) and EDGERUNNER_CLUSTER_EVIDENCE_KEEP=1 (keep the logs).
 */
import { readFileSync } from "node:fs";
import { Runner as ReferenceRunner } from "@rivetkit/engine-runner";
import { afterAll, beforeAll, describe, it } from "vitest";
import { WebSocket } from "ws";
import { Runner } from "../../src/core/index.ts";
import type { RivetClusterNode } from "../../src/rivet-cluster.ts";
import {
	clusterSkipReason,
	FailoverRelay,
	startTestCluster,
	type TestCluster,
} from "../helpers/cluster.ts";
import {
	declareRunnerConfig,
	type EngineUnderTest,
	isRunning,
	untilRunnerListed,
} from "../helpers/engines.ts";

const STEP_MS = 20_000;
const ACTORS = 6;
const skip =
	clusterSkipReason() ??
	(process.env.EDGERUNNER_CLUSTER_EVIDENCE
		? undefined
		: "on demand only (EDGERUNNER_CLUSTER_EVIDENCE=1; ~3 min, prints timelines)");

interface EvidenceRunner {
	start(): Promise<void>;
	shutdown(immediate: boolean): Promise<unknown>;
}

function newRunner(
	kind: "ours" | "reference",
	endpoint: string | string[],
	runnerName: string,
	note: (line: string) => void,
): EvidenceRunner {
	const config = {
		version: 1,
		endpoint,
		namespace: "default",
		runnerName,
		totalSlots: 20,
		noAutoShutdown: true,
		prepopulateActorNames: {},
		platform: { name: "node", WebSocket },
		onConnected: () => note("connected"),
		onDisconnected: (code: number, reason: string) =>
			note(`disconnected ${code} ${reason}`),
		onShutdown: () => {},
		fetch: async () => new Response("ok"),
		websocket: async () => {},
		hibernatableWebSocket: { canHibernate: () => false },
		onActorStart: async () => {},
		onActorStop: async (actorId: string) => note(`stop ${actorId}`),
	};
	return kind === "ours"
		? new Runner(config as unknown as ConstructorParameters<typeof Runner>[0])
		: new ReferenceRunner(
				config as unknown as ConstructorParameters<typeof ReferenceRunner>[0],
			);
}

/** Bounded polling of the gateway until the actor answers (the runners here answer every request 200). */
async function untilAnswering(url: string, actorId: string): Promise<void> {
	const deadline = Date.now() + 40_000;
	while (Date.now() < deadline) {
		try {
			const response = await fetch(`${url}/gateway/${actorId}/ping`, {
				signal: AbortSignal.timeout(2_000),
			});
			if (response.ok) return;
		} catch {
			// the node is failing over
		}
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}

async function create(
	engine: EngineUnderTest,
	runnerName: string,
): Promise<Response> {
	return engine.api("/actors?namespace=default", {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({
			name: "counter",
			runner_name_selector: runnerName,
			crash_policy: "sleep",
		}),
	});
}

describe.skipIf(skip !== undefined)(
	`engine faults of a two-node cluster, evidence${skip ? ` — skipped: ${skip}` : ""}`,
	() => {
		let cluster: TestCluster;
		beforeAll(async () => {
			// EDGERUNNER_CLUSTER_LOST_THRESHOLD_MS: the engine's runner_lost_threshold (its drain window), to try the
			// mitigation of fault 1.
			const lostThreshold = process.env.EDGERUNNER_CLUSTER_LOST_THRESHOLD_MS;
			cluster = await startTestCluster(
				lostThreshold
					? {
							config: {
								pegboard: { runner_lost_threshold: Number(lostThreshold) },
							},
						}
					: {},
			);
		}, 60_000);
		afterAll(async () => {
			// EDGERUNNER_CLUSTER_EVIDENCE_KEEP=1 leaves the cluster's folder (its logs) behind, its path printed.
			if (process.env.EDGERUNNER_CLUSTER_EVIDENCE_KEEP)
				await cluster?.cluster.stop();
			else await cluster?.close();
		}, 30_000);

		for (const kind of ["ours", "reference"] as const)
			it(`fault 1 with ${kind}: StopActor timeline of a drain on the survivor after its node went down`, async () => {
				const holder = await cluster.cluster.untilLeaseHolder(
					() => true,
					STEP_MS,
				);
				// EDGERUNNER_CLUSTER_EVIDENCE_DOWN=leader takes the lease holder down instead of the follower.
				const leaderGoes =
					process.env.EDGERUNNER_CLUSTER_EVIDENCE_DOWN === "leader";
				const follower = cluster.nodes.find(
					(n) => n !== holder,
				) as RivetClusterNode;
				const [down, up] = leaderGoes ? [holder, follower] : [follower, holder];
				// EDGERUNNER_CLUSTER_EVIDENCE_SIGNAL=SIGTERM stops it cleanly instead.
				const signal = (process.env.EDGERUNNER_CLUSTER_EVIDENCE_SIGNAL ??
					"SIGKILL") as NodeJS.Signals;
				const [downEngine, upEngine] = [down, up].map((n) =>
					cluster.engine(cluster.nodes.indexOf(n)),
				) as [EngineUnderTest, EngineUnderTest];
				const runnerName = `fault1-${kind}`;
				await declareRunnerConfig(upEngine, runnerName, STEP_MS);
				const relay = new FailoverRelay([down.url, up.url]);
				const relayUrl = await relay.listen();
				const began = Date.now();
				const timeline: string[] = [];
				const note = (line: string) =>
					timeline.push(
						`${((Date.now() - began) / 1000).toFixed(2)} s ${line}`,
					);
				const runner = newRunner(
					kind,
					kind === "ours" ? [down.url, up.url] : relayUrl,
					runnerName,
					note,
				);
				try {
					await runner.start();
					await untilRunnerListed(
						downEngine,
						(r) => r.name === runnerName,
						STEP_MS,
					);
					const ids: string[] = [];
					for (let i = 0; i < ACTORS; i++)
						ids.push(
							(
								(await (await create(upEngine, runnerName)).json()) as {
									actor: { actor_id: string };
								}
							).actor.actor_id,
						);
					for (const id of ids)
						await upEngine.untilActor(id, isRunning, STEP_MS);
					note(`${signal} ${down.url}`);
					await down.kill(signal);
					// The drain begins once every actor answers through the survivor again (the runner is back).
					for (const id of ids) await untilAnswering(up.url, id);
					note("drain begins");
					await Promise.race([
						runner.shutdown(false),
						new Promise((resolve) => setTimeout(resolve, 60_000)),
					]);
					note("drain ended");
					for (const id of ids) {
						const actor = await upEngine.actor(id);
						note(
							`${id} connectable_ts=${actor?.connectable_ts} sleep_ts=${actor?.sleep_ts}`,
						);
					}
					const failover = readFileSync(up.logPath, "utf8")
						.split("\n")
						.filter((line) => line.includes("handled failover"));
					console.log(
						`fault 1, ${kind}:\n${timeline.join("\n")}\nsurvivor's log: ${failover.join("\n") || "(no worker failover yet)"}\nactors: ${ids.join(" ")}\nlogs: ${cluster.cluster.dataDir}`,
					);
				} finally {
					await runner.shutdown(true);
					await relay.close();
					await down.restart();
				}
			}, 150_000);

		for (const kind of ["ours", "reference", "declared first"] as const)
			it(`fault 2 with ${kind}: 400 no_runner_config_configured after a first connect, through each node`, async () => {
				const [a, b] = [cluster.engine(0), cluster.engine(1)];
				const runnerName = `fault2-${kind.replace(" ", "-")}`;
				const began = Date.now();
				const timeline: string[] = [];
				const note = (line: string) =>
					timeline.push(`${Date.now() - began} ms ${line}`);
				let runner: EvidenceRunner | undefined;
				if (kind === "declared first") {
					await declareRunnerConfig(b, runnerName, STEP_MS);
					note("runner config declared through B");
				} else {
					runner = newRunner(kind, a.url, runnerName, note);
					await runner.start();
					// From the first connect on, as a deployment that creates actors once its runner is up.
					const deadline = Date.now() + STEP_MS;
					while (!timeline.some((line) => line.endsWith("connected")))
						if (Date.now() > deadline)
							throw new Error("runner never connected");
						else await new Promise((resolve) => setTimeout(resolve, 10));
				}
				const untilCreated = async (engine: EngineUnderTest, label: string) => {
					const refusals = new Map<string, number>();
					for (let attempt = 0; attempt < 200; attempt++) {
						const response = await create(engine, runnerName);
						const text = await response.text();
						if (response.ok) break;
						const key = `${response.status} ${/"code":"(\w+)"/.exec(text)?.[1]}`;
						refusals.set(key, (refusals.get(key) ?? 0) + 1);
						await new Promise((resolve) => setTimeout(resolve, 50));
					}
					note(
						`created through ${label}; refused before: ${JSON.stringify(Object.fromEntries(refusals))}`,
					);
				};
				await Promise.all([untilCreated(a, "A"), untilCreated(b, "B")]);
				console.log(`fault 2, ${kind}: ${timeline.join(" | ")}`);
				await runner?.shutdown(true);
			}, 60_000);
	},
);
