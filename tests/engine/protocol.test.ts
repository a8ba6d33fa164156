import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as protocol from "@rivetkit/engine-runner-protocol";
import { afterEach, describe, expect, it } from "vitest";
import {
	type EngineOptions,
	type RunningEngine,
	startEngine,
} from "../../src/engine/index.ts";
import {
	isDestroyed,
	isRunning,
	isSleeping,
	watchActors,
} from "./actor-watch.ts";
import { RawRunner, running, sleepIntent, stopped } from "./raw-runner.ts";

const engines: RunningEngine[] = [];
const sockets: RawRunner[] = [];
const dirs: string[] = [];
afterEach(async () => {
	await Promise.all(sockets.splice(0).map((s) => s.close()));
	await Promise.all(engines.splice(0).map((e) => e.close()));
	for (const dir of dirs.splice(0))
		rmSync(dir, { recursive: true, force: true });
});

async function engineWith(options: EngineOptions = {}) {
	const watch = watchActors();
	const engine = await startEngine({
		port: 0,
		onActorChange: watch.onActorChange,
		...options,
	});
	engines.push(engine);
	return { engine, watch };
}

async function connect(
	engine: RunningEngine,
	key = "raw-key",
	name = "raw-runner",
): Promise<RawRunner> {
	const socket = new RawRunner(engine.url, { key });
	sockets.push(socket);
	await socket.opened;
	socket.init(name);
	await socket.next("ToClientInit");
	return socket;
}

async function createActor(
	engine: RunningEngine,
	body: Record<string, unknown> = {},
): Promise<string> {
	const response = await fetch(`${engine.url}/actors?namespace=default`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({
			name: "thing",
			runner_name_selector: "raw-runner",
			crash_policy: "destroy",
			...body,
		}),
	});
	expect(response.status).toBe(200);
	return ((await response.json()) as { actor: { actor_id: string } }).actor
		.actor_id;
}

describe("handshake", () => {
	it("answers subprotocol rivet and ToClientInit with the configured thresholds", async () => {
		const { engine } = await engineWith({
			runnerLostThresholdMs: 1234,
			actorStopThresholdMs: 5678,
		});
		const socket = new RawRunner(engine.url, {
			protocols: ["rivet", "rivet_token.unused"],
		});
		sockets.push(socket);
		await socket.opened;
		expect(socket.ws.protocol).toBe("rivet");
		socket.init();
		const init = await socket.next("ToClientInit");
		expect(init.runnerId).toMatch(/^[0-9a-z]{30}$/);
		expect(init.metadata).toEqual({
			runnerLostThreshold: 1234n,
			actorStopThreshold: 5678n,
			serverlessDrainGracePeriod: null,
		});
	});

	it("pings on the configured cadence and closes core.internal_error when pongs stop", async () => {
		const { engine } = await engineWith({
			pingIntervalMs: 20,
			pingTimeoutMs: 150,
		});
		const socket = await connect(engine);
		const ping = await socket.next("ToClientPing");
		expect(typeof ping.ts).toBe("bigint");
		const closed = await socket.closed;
		expect(closed.code).toBe(1011);
		expect(closed.reason).toMatch(/^core\.internal_error#[0-9a-z]{30}$/);
	});

	it("keeps a ponging runner connected past the ping timeout", async () => {
		const { engine } = await engineWith({
			pingIntervalMs: 20,
			pingTimeoutMs: 150,
		});
		const socket = await connect(engine);
		socket.ws.on("message", () => {
			const last = socket.received.at(-1);
			if (last?.tag === "ToClientPing")
				socket.send({ tag: "ToServerPong", val: { ts: last.val.ts } });
		});
		// 15 pings at ~22 ms is well past the 150 ms timeout.
		await socket.next(
			"ToClientPing",
			() =>
				socket.received.filter((m) => m.tag === "ToClientPing").length >= 15,
		);
		expect(socket.ws.readyState).toBe(socket.ws.OPEN);
	});
});

describe("protocol versions", () => {
	it("serves v6 as the real engine does: v7 frames but for KvDropRequest's tag (4 in v6)", async () => {
		const { engine, watch } = await engineWith();
		const socket = new RawRunner(engine.url, {
			query: "protocol_version=6&namespace=default&runner_key=v6",
		});
		sockets.push(socket);
		await socket.opened;
		socket.init();
		await socket.next("ToClientInit");
		const actorId = await createActor(engine);
		await socket.next("ToClientCommands");
		socket.event(actorId, 0, 0, running);
		await watch.until(actorId, isRunning);
		const key = new Uint8Array([1]).buffer;
		await socket.kv(actorId, 1, {
			tag: "KvPutRequest",
			val: { keys: [key], values: [new Uint8Array([2]).buffer] },
		});
		// v6 KvDropRequest: ToServerKvRequest (5), actor id, request id 2 (u32 LE), KvRequestData tag 4, no body.
		const id = new TextEncoder().encode(actorId);
		socket.ws.send(new Uint8Array([5, id.length, ...id, 2, 0, 0, 0, 4]));
		expect(
			(await socket.next("ToClientKvResponse", (r) => r.requestId === 2)).data,
		).toEqual({ tag: "KvDropResponse", val: null });
		expect(
			await socket.kv(actorId, 3, {
				tag: "KvGetRequest",
				val: { keys: [key] },
			}),
		).toMatchObject({ tag: "KvGetResponse", val: { keys: [] } });
	});

	it("refuses the versions the real engine refuses (3, 8) with ws.invalid_packet", async () => {
		const { engine } = await engineWith();
		for (const version of [3, 8]) {
			const socket = new RawRunner(engine.url, {
				query: `protocol_version=${version}&namespace=default&runner_key=v${version}`,
			});
			sockets.push(socket);
			await socket.opened;
			socket.init();
			const closed = await socket.closed;
			expect(closed.code).toBe(1011);
			expect(closed.reason).toMatch(/^ws\.invalid_packet#/);
			expect(socket.received).toEqual([]);
		}
	});
});

describe("runner identity", () => {
	it("evicts the older connection with 1000 ws.eviction and keeps the runner id", async () => {
		const { engine } = await engineWith();
		const first = await connect(engine, "same-key");
		const firstId = (await first.next("ToClientInit")).runnerId;
		const second = await connect(engine, "same-key");
		expect((await second.next("ToClientInit")).runnerId).toBe(firstId);
		const closed = await first.closed;
		expect(closed.code).toBe(1000);
		expect(closed.reason).toMatch(/^ws\.eviction#/);
		const other = await connect(engine, "other-key");
		expect((await other.next("ToClientInit")).runnerId).not.toBe(firstId);
	});

	it("after the lost threshold the actors are lost and the next connect gets a new runner id", async () => {
		const { engine, watch } = await engineWith({ runnerLostThresholdMs: 100 });
		const socket = await connect(engine, "k");
		const oldId = (await socket.next("ToClientInit")).runnerId;
		const actorId = await createActor(engine, { crash_policy: "sleep" });
		await socket.next("ToClientCommands");
		socket.event(actorId, 0, 0, running);
		await watch.until(actorId, isRunning);
		await socket.close();
		const lost = await watch.until(actorId, isSleeping);
		expect(lost.error).toEqual({
			runner_connection_lost: { runner_id: oldId },
		});
		const again = await connect(engine, "k");
		expect((await again.next("ToClientInit")).runnerId).not.toBe(oldId);
	});
});

describe("commands and events", () => {
	it("replays unacked commands on init until acked, then stops replaying", async () => {
		const { engine } = await engineWith();
		const first = await connect(engine, "k");
		const actorId = await createActor(engine);
		const [start] = await first.next("ToClientCommands");
		expect(start?.checkpoint).toEqual({ actorId, generation: 0, index: 0n });
		expect(start?.inner.tag).toBe("CommandStartActor");
		await first.close();

		const second = await connect(engine, "k");
		const replay = await second.next("ToClientCommands");
		expect(replay.map((c) => [c.checkpoint.actorId, c.inner.tag])).toEqual([
			[actorId, "CommandStartActor"],
		]);
		const initIndex = second.received.findIndex(
			(m) => m.tag === "ToClientInit",
		);
		expect(second.received[initIndex + 1]?.tag).toBe("ToClientCommands");
		second.send({
			tag: "ToServerAckCommands",
			val: { lastCommandCheckpoints: [{ actorId, generation: 0, index: 0n }] },
		});
		second.event(actorId, 0, 0, running); // orders the ack before the close below
		await second.close();

		const third = await connect(engine, "k");
		await third.next("ToClientInit");
		expect(third.commands()).toEqual([]);
	});

	it("ignores duplicate and stale events (generation, index, runner) and sleeps on a sleep intent", async () => {
		const { engine, watch } = await engineWith();
		const socket = await connect(engine, "k");
		const intruder = await connect(engine, "intruder");
		const actorId = await createActor(engine);
		await socket.next("ToClientCommands");
		// Another runner's events about this actor are ignored.
		intruder.event(actorId, 0, 0, stopped(protocol.StopCode.Ok));
		socket.event(actorId, 0, 0, running);
		await watch.until(actorId, isRunning);
		// A resent index and a wrong generation change nothing.
		socket.event(actorId, 0, 0, stopped(protocol.StopCode.Ok));
		socket.event(actorId, 5, 1, stopped(protocol.StopCode.Ok));
		socket.event(actorId, 0, 1, sleepIntent);
		const stop = await socket.next("ToClientCommands", (cs) =>
			cs.some((c) => c.inner.tag === "CommandStopActor"),
		);
		expect(stop[0]?.checkpoint).toEqual({ actorId, generation: 0, index: 1n });
		expect(watch.get(actorId)?.destroy_ts).toBeNull();
		socket.event(actorId, 0, 2, stopped(protocol.StopCode.Error));
		await watch.until(actorId, isSleeping);
	});

	it("sends ToClientAckEvents only when the last index passes the last ack by more than 250", async () => {
		const { engine, watch } = await engineWith();
		const socket = await connect(engine, "k");
		const actorId = await createActor(engine);
		await socket.next("ToClientCommands");
		const alarm = (i: number): protocol.EventWrapper => ({
			checkpoint: { actorId, generation: 0, index: BigInt(i) },
			inner: { tag: "EventActorSetAlarm", val: { alarmTs: null } },
		});
		const first: protocol.EventWrapper = {
			checkpoint: { actorId, generation: 0, index: 0n },
			inner: running,
		};
		socket.send({
			tag: "ToServerEvents",
			val: [first, ...Array.from({ length: 249 }, (_, i) => alarm(i + 1))],
		});
		// Frames are handled in order: this KV answer comes after any ack for the batch above.
		await socket.kv(actorId, 1, { tag: "KvDropRequest", val: null });
		await watch.until(actorId, isRunning);
		expect(socket.received.some((m) => m.tag === "ToClientAckEvents")).toBe(
			false,
		);
		socket.event(actorId, 0, 250, {
			tag: "EventActorSetAlarm",
			val: { alarmTs: null },
		});
		const ack = await socket.next("ToClientAckEvents");
		expect(ack.lastEventCheckpoints).toEqual([
			{ actorId, generation: 0, index: 250n },
		]);
	});

	it("applies the crash policy to an actor that stops on its own", async () => {
		const { engine, watch } = await engineWith();
		const socket = await connect(engine, "k");
		const restart = await createActor(engine, { crash_policy: "restart" });
		const destroy = await createActor(engine, { crash_policy: "destroy" });
		await socket.next("ToClientCommands", () => socket.commands().length >= 2);
		for (const id of [restart, destroy]) socket.event(id, 0, 0, running);
		await watch.until(destroy, isRunning);
		socket.event(restart, 0, 1, stopped(protocol.StopCode.Error));
		socket.event(destroy, 0, 1, stopped(protocol.StopCode.Error));
		const again = await socket.next("ToClientCommands", (cs) =>
			cs.some((c) => c.checkpoint.generation === 1),
		);
		expect(again[0]?.checkpoint).toEqual({
			actorId: restart,
			generation: 1,
			index: 0n,
		});
		await watch.until(destroy, isDestroyed);
	});
});

describe("KV over the runner socket", () => {
	it("refuses unknown actors and actors of another runner, answering on the requesting socket", async () => {
		const { engine } = await engineWith();
		const owner = await connect(engine, "owner");
		const other = await connect(engine, "other");
		const actorId = await createActor(engine);
		const [start] = await owner
			.next("ToClientCommands")
			.catch(() => other.next("ToClientCommands"));
		const holder = owner.commands().length > 0 ? owner : other;
		const stranger = holder === owner ? other : owner;
		expect(start?.checkpoint.actorId).toBe(actorId);
		const put: protocol.KvRequestData = {
			tag: "KvPutRequest",
			val: {
				keys: [new Uint8Array([1]).buffer],
				values: [new Uint8Array([2]).buffer],
			},
		};
		expect(await holder.kv(actorId, 1, put)).toEqual({
			tag: "KvPutResponse",
			val: null,
		});
		expect(await stranger.kv(actorId, 1, put)).toEqual({
			tag: "KvErrorResponse",
			val: { message: "actor does not belong to runner" },
		});
		expect(
			await holder.kv("0".repeat(30), 2, { tag: "KvDropRequest", val: null }),
		).toEqual({
			tag: "KvErrorResponse",
			val: { message: "actor does not exist" },
		});
		expect(
			stranger.received.filter((m) => m.tag === "ToClientKvResponse"),
		).toHaveLength(1);
	});
});

describe("restart on the same SQLite file", () => {
	it("keeps actors, KV and unacked commands; the runner reconnects to the same id", async () => {
		const dir = mkdtempSync(join(tmpdir(), "edgerunner-restart-"));
		dirs.push(dir);
		const storage = { path: join(dir, "engine.sqlite") };
		const first = await engineWith({ storage });
		const socket = await connect(first.engine, "k");
		const runnerId = (await socket.next("ToClientInit")).runnerId;
		const actorId = await createActor(first.engine, { key: "durable" });
		await socket.next("ToClientCommands");
		socket.event(actorId, 0, 0, running);
		await first.watch.until(actorId, isRunning);
		const put: protocol.KvRequestData = {
			tag: "KvPutRequest",
			val: {
				keys: [new TextEncoder().encode("count").buffer],
				values: [new TextEncoder().encode("7").buffer],
			},
		};
		expect((await socket.kv(actorId, 1, put)).tag).toBe("KvPutResponse");
		const port = first.engine.port;
		await first.engine.close();
		expect((await socket.closed).reason).toMatch(/^ws\.going_away#/);

		const second = await engineWith({ storage, port });
		const again = await connect(second.engine, "k");
		expect((await again.next("ToClientInit")).runnerId).toBe(runnerId);
		const replay = await again.next("ToClientCommands");
		expect(replay.map((c) => c.checkpoint)).toEqual([
			{ actorId, generation: 0, index: 0n },
		]);
		const get = await again.kv(actorId, 2, {
			tag: "KvGetRequest",
			val: { keys: [new TextEncoder().encode("count").buffer] },
		});
		expect(
			get.tag === "KvGetResponse" &&
				new TextDecoder().decode(get.val.values[0]),
		).toBe("7");
		// A resent Running for the same generation and index is a duplicate, not a second start.
		again.event(actorId, 0, 0, running);
		const listed = await fetch(
			`${second.engine.url}/actors?namespace=default&actor_ids=${actorId}`,
		);
		expect(
			((await listed.json()) as { actors: { key: string }[] }).actors[0]?.key,
		).toBe("durable");
	});
});
