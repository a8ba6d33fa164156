/**
 * `edgerunner/client` inside workerd (vitest-pool-workers), with workerd's own fetch and WebSocket, against the
 * dev engine from global-setup.ts. The actor is the counter the example worker's Durable Object runner hosts
 * (runner name "counter-workerd"): get-or-create, a request through the gateway, and a socket on `/ws` that gets
 * the count on open and a push after it sends "increment".
 *
 * The run ends with workerd logging "exception = ... WebSocket peer disconnected": a plain `new WebSocket` to the
 * gateway closed cleanly (1000, wasClean) logs it too, so it is workerd's read of the engine's TCP close after the
 * close handshake, not the client's doing, and no failure.
 */

import { abortAllDurableObjects, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, expect, it } from "vitest";
import { ActorClient, type ActorSocket } from "../../../src/client/index.ts";

const ENGINE = env.EDGERUNNER_ENDPOINT;
const RUNNER_NAME = env.EDGERUNNER_RUNNER_NAME;
const OBJECT_NAME = "client-test-runner";

afterEach(async () => {
	await runInDurableObject(
		env.RUNNER.get(env.RUNNER.idFromName(OBJECT_NAME)),
		(instance) => instance.runner?.shutdown(true),
	);
	await abortAllDurableObjects();
});

/** Re-checks `probe` every 25 ms until it returns a value (a bounded wait on the object's state, not a sleep). */
async function until<T>(
	describe: string,
	probe: () => Promise<T | undefined>,
	timeoutMs = 8000,
): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await probe();
		if (value !== undefined) return value;
		if (Date.now() > deadline)
			throw new Error(`timed out waiting for ${describe}`);
		await new Promise((r) => setTimeout(r, 25));
	}
}

function nextCount(socket: ActorSocket): Promise<number> {
	return new Promise((resolve) =>
		socket.addEventListener(
			"message",
			(event) =>
				resolve((JSON.parse(String(event.data)) as { count: number }).count),
			{ once: true },
		),
	);
}

it("getOrCreate, fetch POST /increment and connect /ws (count on open, push after a send) with workerd's fetch and WebSocket", async () => {
	// A runner for the actor: the Durable Object's, started by a first request, ready once it has its runner id.
	const stub = env.RUNNER.get(env.RUNNER.idFromName(OBJECT_NAME));
	await stub.fetch("http://do/");
	await until("the object's runner to be ready", async () => {
		const status = await runInDurableObject(stub, (instance) =>
			instance.status(),
		);
		return status.state === "ready" && status.runnerId ? true : undefined;
	});

	const client = new ActorClient({ endpoint: ENGINE });
	const request = {
		name: "counter",
		key: "client-workerd",
		runnerNameSelector: RUNNER_NAME,
		crashPolicy: "destroy" as const,
	};
	const handle = await client.getOrCreate(request);
	expect((await client.getOrCreate(request)).id).toBe(handle.id);
	// The dev engine's gateway holds the request until the new actor runs.
	const response = await handle.fetch("/increment", { method: "POST" });
	expect(response.status).toBe(200);
	// Every start adds 1, then the request adds 1.
	expect(await response.json()).toEqual({ count: 2 });

	const socket = handle.connect("/ws", { connectionTimeoutMs: 5000 });
	expect(await nextCount(socket)).toBe(2);
	const pushed = nextCount(socket);
	socket.send("increment");
	expect(await pushed).toBe(3);
	const closed = new Promise<void>((resolve) =>
		socket.addEventListener("close", () => resolve(), { once: true }),
	);
	socket.close(1000, "done");
	await closed;
	expect(socket.ending).toEqual({
		code: 1000,
		reason: "done",
		why: "closed by the application",
		unsent: 0,
	});
});
