/**
 * The example counter (examples/counter/counter.mjs) through the gateway with our runner: `GET /count`,
 * `POST /increment` persisted in KV, and `/ws` pushing every change; both addressings.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
// @ts-expect-error plain ESM example without type declarations
import { counterActors } from "../../examples/counter/counter.mjs";
import type { Runner } from "../../src/core/index.ts";
import { type RunningEngine, startEngine } from "../../src/engine/index.ts";
import { isRunning, watchActors } from "../engine/actor-watch.ts";
import { counterRunner } from "../helpers/counter-runner.ts";
import { TestClient } from "./tunnel-scenarios.ts";

let engine: RunningEngine;
let runner: Runner;
let counter: { stopAll(): void };
const clients: TestClient[] = [];
const watch = watchActors();

beforeEach(async () => {
	engine = await startEngine({ port: 0, onActorChange: watch.onActorChange });
	counter = counterActors(() => runner);
	// Actors are created once the engine has the runner (and so its runner config).
	const next = counterRunner(engine.url, "counter", counter as object);
	runner = next.runner;
	await next.start();
});

afterEach(async () => {
	for (const client of clients.splice(0)) client.close();
	await runner.shutdown(true);
	counter.stopAll();
	await engine.close();
});

it("counts over HTTP (both addressings) and pushes every change over /ws", async () => {
	const created = await fetch(`${engine.url}/actors?namespace=default`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({
			name: "counter",
			runner_name_selector: "counter",
			crash_policy: "destroy",
		}),
	});
	const { actor } = (await created.json()) as { actor: { actor_id: string } };
	const id = actor.actor_id;
	await watch.until(id, isRunning);
	const count = async (init?: RequestInit, path = `/gateway/${id}/count`) =>
		(
			(await (await fetch(`${engine.url}${path}`, init)).json()) as {
				count: number;
			}
		).count;
	expect(await count()).toBe(1); // every start adds 1
	const socket = new TestClient(
		`${engine.url.replace("http", "ws")}/gateway/${id}/ws`,
	);
	clients.push(socket);
	await socket.received(1); // the current count on open
	expect(JSON.parse(socket.messages[0]?.data.toString() ?? "")).toEqual({
		count: 1,
	});
	expect(await count({ method: "POST" }, `/gateway/${id}/increment`)).toBe(2);
	expect(
		await count(
			{
				method: "POST",
				headers: { "x-rivet-target": "actor", "x-rivet-actor": id },
			},
			"/request/increment",
		),
	).toBe(3);
	socket.ws.send("increment");
	await socket.received(4);
	expect(
		socket.messages.map((m) => JSON.parse(m.data.toString()).count),
	).toEqual([1, 2, 3, 4]);
	expect(await count()).toBe(4);
});
