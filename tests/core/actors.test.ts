import * as protocol from "@rivetkit/engine-runner-protocol";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import type { RunnerConfig } from "../../src/core/index.ts";
import {
	connectedRunner,
	dropAndReconnect,
	settle,
	startCommand,
} from "./fake-socket.ts";

async function connected(overrides: Partial<RunnerConfig> = {}) {
	const calls: string[] = [];
	const { runner, sockets, latest } = await connectedRunner({
		onActorStart: async (id, generation) => {
			calls.push(`start:${id}:${generation}`);
		},
		onActorStop: async (id, generation) => {
			calls.push(`stop:${id}:${generation}`);
		},
		reconnect: { baseDelayMs: 10 },
		...overrides,
	});
	return { runner, sockets, socket: latest, calls };
}

const stateOf = (e: protocol.EventWrapper) =>
	e.inner.tag === "EventActorStateUpdate" ? e.inner.val.state.tag : e.inner.tag;

beforeEach(() => {
	vi.useFakeTimers();
});
afterEach(() => {
	vi.useRealTimers();
});

describe("commands", () => {
	test("start sends Running, calls onActorStart, and acks the batch at once", async () => {
		const { runner, socket, calls } = await connected();
		socket().commands([startCommand("a1", 0, 0n), startCommand("a2", 3, 0n)]);
		await settle();
		expect(calls).toEqual(["start:a1:0", "start:a2:3"]);
		const ack = socket().sent.find((m) => m.tag === "ToServerAckCommands");
		expect(ack?.val).toEqual({
			lastCommandCheckpoints: [
				{ actorId: "a1", generation: 0, index: 0n },
				{ actorId: "a2", generation: 3, index: 0n },
			],
		});
		expect(socket().events().map(stateOf)).toEqual([
			"ActorStateRunning",
			"ActorStateRunning",
		]);
		expect(runner.getActor("a2")?.generation).toBe(3);
		expect(runner.hasActor("a2", 2)).toBe(false);
	});

	test("stops are acked too", async () => {
		const { socket } = await connected();
		socket().startActor("a1");
		socket().stopActor("a1", 0, 1n);
		await settle(10);
		const acks = socket().sent.filter((m) => m.tag === "ToServerAckCommands");
		expect(acks.at(-1)?.val).toEqual({
			lastCommandCheckpoints: [{ actorId: "a1", generation: 0, index: 1n }],
		});
	});

	test("a replayed start of a running actor (same generation) is a no-op", async () => {
		const { socket, calls } = await connected();
		socket().startActor("a1");
		await settle();
		socket().startActor("a1"); // replay after a reconnect
		socket().commands([startCommand("a1", 0, 0n)]);
		await settle();
		expect(calls).toEqual(["start:a1:0"]);
		expect(socket().events().map(stateOf)).toEqual(["ActorStateRunning"]);
	});

	test("a replayed start+stop of an actor that already stopped does not start it again", async () => {
		const { socket, calls } = await connected();
		socket().startActor("a1");
		socket().stopActor("a1");
		await settle(10);
		socket().commands([
			startCommand("a1", 0, 0n),
			{
				checkpoint: { actorId: "a1", generation: 0, index: 1n },
				inner: { tag: "CommandStopActor", val: null },
			},
		]);
		await settle(10);
		expect(calls).toEqual(["start:a1:0", "stop:a1:0"]);
	});

	test("a stop for an unknown actor answers with Stopped for that generation", async () => {
		const { socket, calls } = await connected();
		socket().stopActor("ghost", 4, 1n);
		await settle();
		expect(calls).toEqual([]);
		const [event] = socket().events();
		expect(event?.checkpoint).toMatchObject({
			actorId: "ghost",
			generation: 4,
		});
		expect(event?.inner).toEqual({
			tag: "EventActorStateUpdate",
			val: {
				state: {
					tag: "ActorStateStopped",
					val: { code: protocol.StopCode.Ok, message: null },
				},
			},
		});
	});

	test("a failing onActorStart reports Stopped with StopCode.Error and its message", async () => {
		const { socket } = await connected({
			onActorStart: async () => {
				throw new Error("boom");
			},
		});
		socket().startActor("a1");
		await settle(10);
		const stopped = socket()
			.events()
			.find((e) => stateOf(e) === "ActorStateStopped");
		expect(stopped?.inner.val).toMatchObject({
			state: {
				val: {
					code: protocol.StopCode.Error,
					message: expect.stringContaining("boom"),
				},
			},
		});
	});

	test("a stop waits for a start still in progress; onActorStop runs after onActorStart", async () => {
		let finishStart!: () => void;
		const order: string[] = [];
		const { socket } = await connected({
			onActorStart: () =>
				new Promise<void>((resolve) => {
					finishStart = () => {
						order.push("started");
						resolve();
					};
				}),
			onActorStop: async () => {
				order.push("stopped");
			},
		});
		socket().startActor("a1");
		socket().stopActor("a1");
		await settle(10);
		expect(order).toEqual([]);
		finishStart();
		await settle(10);
		expect(order).toEqual(["started", "stopped"]);
	});

	test("stop codes: sleep and destroy are Ok; stopActor without destroy is Error (the crash policy applies)", async () => {
		const { runner, socket } = await connected();
		socket().commands([
			startCommand("s", 0, 0n),
			startCommand("d", 0, 0n),
			startCommand("x", 0, 0n),
		]);
		await settle();
		runner.sleepActor("s");
		runner.destroyActor("d");
		await runner.stopActor("x");
		await settle();
		const intents = socket()
			.events()
			.filter((e) => e.inner.tag === "EventActorIntent")
			.map((e) => [
				e.checkpoint.actorId,
				e.inner.tag === "EventActorIntent" && e.inner.val.intent.tag,
			]);
		expect(intents).toEqual([
			["s", "ActorIntentSleep"],
			["d", "ActorIntentStop"],
			["x", "ActorIntentStop"],
		]);
		socket().stopActor("s");
		socket().stopActor("d");
		socket().stopActor("x");
		await settle(10);
		const codes = Object.fromEntries(
			socket()
				.events()
				.filter((e) => stateOf(e) === "ActorStateStopped")
				.map((e) => [
					e.checkpoint.actorId,
					e.inner.tag === "EventActorStateUpdate" &&
					e.inner.val.state.tag === "ActorStateStopped"
						? e.inner.val.state.val.code
						: undefined,
				]),
		);
		expect(codes).toEqual({
			s: protocol.StopCode.Ok,
			d: protocol.StopCode.Ok,
			x: protocol.StopCode.Error,
		});
	});
});

describe("events", () => {
	test("event indexes strictly increase per actor generation", async () => {
		const { runner, socket } = await connected();
		socket().startActor("a1", 2);
		await settle();
		runner.setAlarm("a1", 1000);
		runner.clearAlarm("a1");
		runner.sleepActor("a1");
		await settle();
		const indexes = socket()
			.events()
			.map((e) => e.checkpoint.index);
		expect(indexes).toEqual([0n, 1n, 2n, 3n]);
		expect(socket().events()[1]?.inner).toEqual({
			tag: "EventActorSetAlarm",
			val: { alarmTs: 1000n },
		});
	});

	test("events of one tick go out as one frame", async () => {
		const { socket } = await connected();
		socket().commands(
			Array.from({ length: 100 }, (_, i) => startCommand(`a${i}`)),
		);
		await settle();
		const frames = socket().sent.filter((m) => m.tag === "ToServerEvents");
		expect(frames).toHaveLength(1);
		expect(frames[0]?.val).toHaveLength(100);
	});

	test("unacked events are resent after every init; acked ones are not", async () => {
		const { runner, socket, sockets } = await connected();
		socket().startActor("a1");
		socket().startActor("a2");
		await settle();
		runner.setAlarm("a1", 5);
		await settle();
		socket().receive({
			tag: "ToClientAckEvents",
			val: {
				lastEventCheckpoints: [{ actorId: "a1", generation: 0, index: 0n }],
			},
		});
		socket().closed(1006, "");
		await vi.advanceTimersByTimeAsync(10);
		expect(sockets).toHaveLength(2);
		socket().open();
		socket().init();
		const resent = socket().sent.find((m) => m.tag === "ToServerEvents");
		expect(
			resent?.val.map((e) => `${e.checkpoint.actorId}:${e.checkpoint.index}`),
		).toEqual(["a1:1", "a2:0"]);
		socket().closed(1006, "");
		await vi.advanceTimersByTimeAsync(20);
		socket().open();
		socket().init();
		expect(socket().events()).toHaveLength(2); // resent again: still not acked
	});

	test("events emitted while disconnected wait and go out after the next init", async () => {
		const { runner, socket } = await connected();
		socket().startActor("a1");
		await settle();
		socket().closed(1006, "");
		runner.setAlarm("a1", 99);
		await settle();
		await vi.advanceTimersByTimeAsync(10);
		socket().open();
		expect(socket().events()).toEqual([]);
		socket().init();
		expect(socket().events().map(stateOf)).toEqual([
			"ActorStateRunning",
			"EventActorSetAlarm",
		]);
	});

	test("a stopped actor's Stopped event survives a disconnect and is resent once on the next connection (R loses it)", async () => {
		const { socket, sockets } = await connected();
		socket().startActor("a1");
		await settle();
		socket().stopActor("a1");
		socket().closed(1006, ""); // the socket dies before the Stopped event could go out
		await settle(10);
		await vi.advanceTimersByTimeAsync(10);
		expect(sockets).toHaveLength(2);
		socket().open();
		socket().init();
		expect(socket().events().map(stateOf)).toEqual([
			"ActorStateRunning",
			"ActorStateStopped",
		]);
		socket().closed(1006, "");
		await vi.advanceTimersByTimeAsync(30);
		socket().open();
		socket().init();
		expect(socket().events()).toEqual([]); // handed over on the previous connection
	});
});

describe("runner lost and runner id", () => {
	test("disconnected longer than runnerLostThreshold: every actor stops locally exactly once; KV fails typed", async () => {
		const { runner, socket, calls } = await connected({
			reconnect: { baseDelayMs: 100_000, maxDelayMs: 100_000 },
		});
		socket().startActor("a1");
		socket().startActor("a2");
		await settle();
		const kv = runner
			.kvGet("a1", [new Uint8Array([1])])
			.catch((err: unknown) => err);
		socket().closed(1006, "");
		await vi.advanceTimersByTimeAsync(14_999);
		expect(calls.filter((c) => c.startsWith("stop"))).toEqual([]);
		await vi.advanceTimersByTimeAsync(1);
		await settle();
		expect(calls.filter((c) => c.startsWith("stop"))).toEqual([
			"stop:a1:0",
			"stop:a2:0",
		]);
		expect(runner.actors.size).toBe(0);
		expect(await kv).toMatchObject({ code: "runner_lost" });
		await vi.advanceTimersByTimeAsync(30_000);
		expect(calls.filter((c) => c.startsWith("stop"))).toHaveLength(2);
	});

	test("lost, then back under the same runner id: each lost actor is reported Stopped(Error) so the engine reschedules it", async () => {
		const { runner, socket, calls } = await connected({
			reconnect: { baseDelayMs: 20_000, maxDelayMs: 20_000 },
			engineSilenceTimeoutMs: 60_000, // the unopened reconnect socket must not be abandoned meanwhile
		});
		socket().startActor("a1");
		await settle();
		socket().closed(1006, "");
		await vi.advanceTimersByTimeAsync(20_000); // lost at 15 s, reconnect by 20 s
		socket().open();
		socket().init("runner-1");
		expect(calls).toEqual(["start:a1:0", "stop:a1:0"]);
		expect(runner.hasActor("a1")).toBe(false);
		const resent = socket().events();
		expect(
			resent.map(
				(e) => `${e.checkpoint.actorId}:${e.checkpoint.index}:${stateOf(e)}`,
			),
		).toEqual(["a1:0:ActorStateRunning", "a1:1:ActorStateStopped"]);
		expect(resent[1]?.inner.val).toMatchObject({
			state: { val: { code: protocol.StopCode.Error } },
		});
	});

	test("reconnecting within the threshold keeps the actors", async () => {
		const { runner, socket, calls } = await connected();
		socket().startActor("a1");
		await settle();
		await dropAndReconnect(socket, "runner-1");
		await vi.advanceTimersByTimeAsync(20_000);
		expect(runner.hasActor("a1")).toBe(true);
		expect(calls).toEqual(["start:a1:0"]);
	});

	test("a reconnect that comes back with a different runnerId drops all local actors", async () => {
		const { runner, socket, calls } = await connected();
		socket().startActor("a1");
		await settle();
		await dropAndReconnect(socket, "runner-2");
		await settle();
		expect(runner.runnerId).toBe("runner-2");
		expect(runner.actors.size).toBe(0);
		expect(calls).toEqual(["start:a1:0", "stop:a1:0"]);
		expect(socket().events()).toEqual([]); // nothing of the old identity is resent
	});
});
