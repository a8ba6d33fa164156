/**
 * The Durable Object runner inside workerd (vitest-pool-workers), dialling the dev engine from global-setup.ts:
 * first use connects and serves gateway traffic; the alarm heartbeat restarts a runner the engine dropped; after
 * a reset (abortAllDurableObjects: the object's memory is gone, its storage and alarm stay) the alarm brings the
 * runner back and the engine reschedules the actor onto it. Also the serverless endpoint: GET /start streams the
 * init packet and ending the request drains the runner.
 */

import {
	abortAllDurableObjects,
	runDurableObjectAlarm,
	runInDurableObject,
} from "cloudflare:test";
import { env, exports, type RunnerStub } from "cloudflare:workers";
import * as protocol from "@rivetkit/engine-runner-protocol";
import { afterEach, expect, it } from "vitest";
import type { RunnerObjectStatus } from "../../../src/runtimes/cloudflare.ts";

const ENGINE = env.EDGERUNNER_ENDPOINT;
const RUNNER_NAME = env.EDGERUNNER_RUNNER_NAME;

let objects = 0;
const names: string[] = [];
/** A stub of a fresh runner object (after a reset, get a new stub of the same name: old stubs are broken). */
function runnerObject(name = `runner-${++objects}`): RunnerStub {
	if (!names.includes(name)) names.push(name);
	return env.RUNNER.get(env.RUNNER.idFromName(name));
}

afterEach(async () => {
	for (const name of names.splice(0)) {
		await runInDurableObject(runnerObject(name), (instance) =>
			instance.runner?.shutdown(true),
		);
	}
	await abortAllDurableObjects();
});

interface RunnerJson {
	runner_id: string;
	key: string;
	connected: boolean;
	drain_ts: number | null;
	stop_ts: number | null;
}
interface ActorJson {
	actor_id: string;
	start_ts: number | null;
	connectable_ts: number | null;
}

/** Re-checks `probe` on engine state every 25 ms until it returns a value (a bounded wait, not a sleep). */
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

async function engineRunner(runnerId: string): Promise<RunnerJson | undefined> {
	const res = await fetch(
		`${ENGINE}/runners?namespace=default&include_stopped=true`,
	);
	const { runners } = (await res.json()) as { runners: RunnerJson[] };
	return runners.find((r) => r.runner_id === runnerId);
}

/** The object's view, read without waking its runner (any fetch would start one). */
function status(stub: RunnerStub): Promise<RunnerObjectStatus> {
	return runInDurableObject(stub, (instance) => instance.status());
}

/** First use: a request to the object starts its runner. */
async function wake(stub: RunnerStub): Promise<RunnerObjectStatus> {
	return (await (await stub.fetch("http://do/")).json()) as RunnerObjectStatus;
}

async function readyRunner(stub: RunnerStub): Promise<RunnerObjectStatus> {
	return until("the object's runner to be ready", async () => {
		const s = await status(stub);
		return s.state === "ready" && s.runnerId ? s : undefined;
	});
}

async function createActor(): Promise<string> {
	const res = await fetch(`${ENGINE}/actors?namespace=default`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({
			name: "counter",
			runner_name_selector: RUNNER_NAME,
			crash_policy: "restart",
		}),
	});
	expect(res.status).toBe(200);
	return ((await res.json()) as { actor: ActorJson }).actor.actor_id;
}

async function actor(actorId: string): Promise<ActorJson> {
	const res = await fetch(
		`${ENGINE}/actors?namespace=default&actor_ids=${actorId}`,
	);
	return ((await res.json()) as { actors: ActorJson[] }).actors[0] as ActorJson;
}

it("starts on first use, connects, runs an actor and serves a gateway request", async () => {
	const stub = runnerObject();
	expect((await status(stub)).state).toBe("idle");
	await wake(stub);
	const ready = await readyRunner(stub);
	expect(ready.starts).toBe(1);
	const seen = await until("the engine to list the runner", () =>
		engineRunner(ready.runnerId as string),
	);
	expect(seen.connected).toBe(true);

	const actorId = await createActor();
	await until("the actor to run", async () =>
		(await actor(actorId)).connectable_ts ? true : undefined,
	);
	const res = await fetch(`${ENGINE}/gateway/${actorId}/increment`, {
		method: "POST",
	});
	expect(res.status).toBe(200);
	expect(((await res.json()) as { count: number }).count).toBeGreaterThan(1);
});

it("runDurableObjectAlarm restarts the runner after the engine evicted it", async () => {
	const stub = runnerObject();
	await wake(stub);
	const first = await readyRunner(stub);
	// A second socket with the same runner_key: the engine evicts ours (1000 ws.eviction, never reconnect).
	const usurper = new WebSocket(
		`${ENGINE.replace(/^http/, "ws")}/runners/connect?protocol_version=7&namespace=default&runner_key=${first.runnerKey}`,
		["rivet"],
	);
	await new Promise((resolve, reject) => {
		usurper.addEventListener("open", resolve);
		usurper.addEventListener("error", reject);
	});
	usurper.send(
		protocol.encodeToServer({
			tag: "ToServerInit",
			val: {
				name: RUNNER_NAME,
				version: 1,
				totalSlots: 1,
				prepopulateActorNames: null,
				metadata: null,
			},
		}) as Uint8Array<ArrayBuffer>,
	);
	const evicted = await until("the object's runner to stop", async () => {
		const s = await status(stub);
		return s.state === "stopped" ? s : undefined;
	});
	usurper.close(1000, "done");
	expect(evicted.state).toBe("stopped");

	expect(await runDurableObjectAlarm(stub)).toBe(true);
	const second = await readyRunner(stub);
	expect(second.starts).toBe(2);
	expect(second.runnerKey).not.toBe(first.runnerKey);
	expect((await engineRunner(second.runnerId as string))?.connected).toBe(true);
});

it("after a reset the alarm brings the runner back and the engine reschedules its actor onto it", async () => {
	const name = `runner-${++objects}`;
	const stub = runnerObject(name);
	await wake(stub);
	const first = await readyRunner(stub);
	const actorId = await createActor();
	const started = await until("the actor to run", async () => {
		const a = await actor(actorId);
		return a.connectable_ts ? a : undefined;
	});

	// A code-update reset: memory (and the outbound socket) gone, storage and the alarm kept.
	await abortAllDurableObjects();
	const revived = runnerObject(name);
	expect((await status(revived)).state).toBe("idle");
	expect(await runDurableObjectAlarm(revived)).toBe(true);
	const second = await readyRunner(revived);
	expect(second.runnerId).not.toBe(first.runnerId);

	// connectable_ts, not start_ts: the real engine (and the dev engine, as it) keeps start_ts at the first start.
	const rescheduled = await until("the actor to start again", async () => {
		const a = await actor(actorId);
		return a.connectable_ts && a.connectable_ts !== started.connectable_ts
			? a
			: undefined;
	});
	expect(rescheduled.connectable_ts).not.toBeNull();
	const res = await fetch(`${ENGINE}/gateway/${actorId}/count`);
	expect(res.status).toBe(200);
});

it("serverless: GET /start streams the init packet of a connected runner; ending the request drains it", async () => {
	const abort = new AbortController();
	const res = await exports.default.fetch("http://worker/start", {
		headers: {
			"x-rivet-endpoint": ENGINE,
			"x-rivet-namespace-name": "default",
			"x-rivet-runner-name": "serverless-workerd",
			"x-rivet-total-slots": "3",
		},
		signal: abort.signal,
	});
	expect(res.headers.get("content-type")).toBe("text/event-stream");
	const reader = (res.body as ReadableStream<Uint8Array>).getReader();
	let text = "";
	while (!text.includes("event: message\ndata: ")) {
		const { value, done } = await reader.read();
		if (done) throw new Error(`stream ended early: ${text}`);
		text += new TextDecoder().decode(value);
	}
	const data =
		(text.split("event: message\ndata: ")[1] ?? "").split("\n")[0] ?? "";
	const packet = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
	expect(new DataView(packet.buffer).getUint16(0, true)).toBe(7);
	const init = protocol.decodeToServerlessServer(packet.slice(2));
	expect(init.tag).toBe("ToServerlessServerInit");
	const runnerId = init.val.runnerId;
	expect((await engineRunner(runnerId))?.connected).toBe(true);

	await reader.cancel();
	abort.abort();
	const drained = await until("the serverless runner to drain", async () => {
		const r = await engineRunner(runnerId);
		return r && r.drain_ts !== null && !r.connected ? r : undefined;
	});
	expect(drained.drain_ts).not.toBeNull();
});

it("preShutdown() (the runtime's beta hook) drains through the one shutdown path and resolves once stopped", async () => {
	const stub = runnerObject();
	await wake(stub);
	const ready = await readyRunner(stub);
	const report = await runInDurableObject(stub, async (instance) => {
		await instance.preShutdown();
		return instance.runner?.closed;
	});
	expect(report).toMatchObject({ reason: "signal:preShutdown", mode: "drain" });
	const seen = await until("the engine to see the drain", async () => {
		const r = await engineRunner(ready.runnerId as string);
		return r && r.drain_ts !== null ? r : undefined;
	});
	expect(seen.drain_ts).not.toBeNull();
	expect((await status(stub)).state).toBe("stopped");
});
