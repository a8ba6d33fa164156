/**
 * A two-node Rivet Engine cluster (Postgres + NATS + 2 nodes on loopback) with our runner connected to node A:
 * actors created through either node are reached through either node, over HTTP and WebSocket, and their KV (the
 * counter's count) is the same seen from both.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error plain ESM example without type declarations
import { counterActors } from "../../examples/counter/counter.mjs";
import type { Runner } from "../../src/core/index.ts";
import { TestClient } from "../e2e/tunnel-scenarios.ts";
import {
	clusterSkipReason,
	startTestCluster,
	type TestCluster,
} from "../helpers/cluster.ts";
import { counterRunner } from "../helpers/counter-runner.ts";
import {
	declareRunnerConfig,
	type EngineUnderTest,
	isRunning,
	untilRunnerListed,
} from "../helpers/engines.ts";

const RUNNER_NAME = "cluster-counter";
/** Bound of one engine step (a start, a listing) on a loaded 2-core machine; only a failing test waits this long. */
const STEP_MS = 20_000;
const skip = clusterSkipReason();

describe.skipIf(skip !== undefined)(
	`a two-node cluster: reach actors through either node${skip ? ` — skipped: ${skip}` : ""}`,
	() => {
		let cluster: TestCluster;
		let runner: Runner;
		let counter: { stopAll(): void };
		const clients: TestClient[] = [];

		beforeAll(async () => {
			cluster = await startTestCluster();
			const [a, b] = [cluster.engine(0), cluster.engine(1)];
			// Declared through B, used through both: each node must honour it before an actor is created.
			await declareRunnerConfig(b, RUNNER_NAME, STEP_MS);
			counter = counterActors(() => runner);
			const next = counterRunner(a.url, RUNNER_NAME, counter as object);
			runner = next.runner;
			await next.start();
			for (const engine of [a, b])
				await untilRunnerListed(engine, (r) => r.name === RUNNER_NAME, STEP_MS);
		}, 60_000);

		afterAll(async () => {
			for (const client of clients.splice(0)) client.close();
			await runner?.shutdown(true);
			counter?.stopAll();
			await cluster?.close();
		}, 30_000);

		const createCounter = async (engine: EngineUnderTest) => {
			const response = await engine.api("/actors?namespace=default", {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: JSON.stringify({
					name: "counter",
					runner_name_selector: RUNNER_NAME,
					crash_policy: "sleep",
				}),
			});
			const text = await response.text();
			expect(response.status, text).toBe(200);
			return (JSON.parse(text) as { actor: { actor_id: string } }).actor
				.actor_id;
		};
		const count = async (
			engine: EngineUnderTest,
			actorId: string,
			method = "GET",
		) => {
			const path = method === "GET" ? "count" : "increment";
			const response = await fetch(`${engine.url}/gateway/${actorId}/${path}`, {
				method,
			});
			expect(response.status).toBe(200);
			return ((await response.json()) as { count: number }).count;
		};
		const kvCount = async (engine: EngineUnderTest, actorId: string) => {
			const response = await engine.api(
				`/actors/${actorId}/kv/keys/${btoa("count")}?namespace=default`,
			);
			expect(response.status).toBe(200);
			const { value } = (await response.json()) as { value: string };
			return Number(atob(value));
		};

		it(
			"an actor created through B, on the runner connected to A: HTTP, WebSocket and KV through both nodes",
			async () => {
				const [a, b] = [cluster.engine(0), cluster.engine(1)];
				const actorId = await createCounter(b);
				await a.untilActor(actorId, isRunning, STEP_MS);
				await b.untilActor(actorId, isRunning, STEP_MS);
				expect(await count(a, actorId)).toBe(1); // every start adds 1
				expect(await count(b, actorId, "POST")).toBe(2);
				expect(await count(a, actorId, "POST")).toBe(3);
				expect(await kvCount(a, actorId)).toBe(3);
				expect(await kvCount(b, actorId)).toBe(3);

				// A socket through each node: an increment over one is pushed to both.
				const viaA = new TestClient(
					`${a.url.replace("http", "ws")}/gateway/${actorId}/ws`,
				);
				const viaB = new TestClient(
					`${b.url.replace("http", "ws")}/gateway/${actorId}/ws`,
				);
				clients.push(viaA, viaB);
				await viaA.received(1);
				await viaB.received(1);
				viaB.ws.send("increment");
				await viaA.received(2);
				await viaB.received(2);
				const counts = (client: TestClient) =>
					client.messages.map((m) => JSON.parse(m.data.toString()).count);
				expect(counts(viaA)).toEqual([3, 4]);
				expect(counts(viaB)).toEqual([3, 4]);
				expect(await kvCount(b, actorId)).toBe(4);
			},
			STEP_MS * 2,
		);

		it(
			"an actor created through A is reached through B",
			async () => {
				const [a, b] = [cluster.engine(0), cluster.engine(1)];
				const actorId = await createCounter(a);
				await b.untilActor(actorId, isRunning, STEP_MS);
				expect(await count(b, actorId, "POST")).toBe(2);
				expect(await kvCount(a, actorId)).toBe(2);
			},
			STEP_MS,
		);

		it(
			"a runner config declared through one node is honoured by the other at once (engine fault 2 avoided: no 400 no_runner_config_configured)",
			async () => {
				const [a, b] = [cluster.engine(0), cluster.engine(1)];
				const name = "cluster-declared-first";
				await declareRunnerConfig(a, name, STEP_MS);
				// No runner of that name yet: the actor waits for one, but the create itself is accepted.
				const response = await b.api("/actors?namespace=default", {
					method: "POST",
					headers: { "content-type": "application/json" },
					body: JSON.stringify({
						name: "counter",
						runner_name_selector: name,
						crash_policy: "sleep",
					}),
				});
				expect(response.status, await response.clone().text()).toBe(200);
			},
			STEP_MS,
		);

		it(
			"one node holds the leader lease, the other follows",
			async () => {
				const holder = await cluster.cluster.untilLeaseHolder(
					() => true,
					STEP_MS,
				);
				// The first node started alone, so it took the lease.
				expect(holder.index).toBe(1);
			},
			STEP_MS,
		);
	},
);
