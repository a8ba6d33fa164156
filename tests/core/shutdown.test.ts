import * as protocol from "@rivetkit/engine-runner-protocol";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { settle } from "./fake-socket.ts";
import {
	connectedRecordingRunner as connected,
	recordingRunner as setup,
} from "./recording-runner.ts";

beforeEach(() => {
	vi.useFakeTimers();
});
afterEach(() => {
	vi.useRealTimers();
});

describe("one shutdown path", () => {
	test("drain: Stopping, Stopped(Ok) per StopActor, then close 1000 pegboard.runner_shutdown once no actor is left", async () => {
		const { runner, socket, calls } = await connected();
		socket(0).startActor("a1");
		socket(0).startActor("a2");
		await settle();
		const done = runner.shutdown(false);
		expect(runner.state).toBe("draining");
		expect(socket(0).sentCount("ToServerStopping")).toBe(1);
		socket(0).stopActor("a1");
		await settle();
		expect(socket(0).closeCalls).toEqual([]);
		socket(0).stopActor("a2");
		await settle(10);
		const stopped = socket(0)
			.events()
			.filter(
				(e) =>
					e.inner.tag === "EventActorStateUpdate" &&
					e.inner.val.state.tag === "ActorStateStopped",
			);
		expect(stopped.map((e) => e.checkpoint.actorId)).toEqual(["a1", "a2"]);
		for (const e of stopped) {
			expect(e.inner.val).toMatchObject({
				state: { val: { code: protocol.StopCode.Ok } },
			});
		}
		expect(socket(0).closeCalls).toEqual([
			{ code: 1000, reason: "pegboard.runner_shutdown" },
		]);
		const lastTags = socket(0).tags();
		expect(lastTags.lastIndexOf("ToServerEvents")).toBeGreaterThan(
			lastTags.indexOf("ToServerStopping"),
		);
		socket(0).finishClose();
		const report = await done;
		expect(report).toMatchObject({
			reason: "user",
			mode: "drain",
			actorsStopped: 2,
			actorsAbandoned: 0,
		});
		expect(runner.state).toBe("stopped");
		expect(calls.filter((c) => c.startsWith("disconnected"))).toEqual([
			"disconnected:1000:pegboard.runner_shutdown",
		]);
		expect(calls.at(-1)).toBe("shutdown");
		await expect(runner.closed).resolves.toEqual(report);
		expect(vi.getTimerCount()).toBe(0);
	});

	test("concurrent shutdown calls join one shutdown and send one ToServerStopping", async () => {
		const { runner, socket } = await connected();
		socket(0).startActor("a1");
		await settle();
		const first = runner.shutdown(false);
		const second = runner.shutdown(false);
		const third = runner.shutdown({ mode: "drain", reason: "other" });
		expect(socket(0).sentCount("ToServerStopping")).toBe(1);
		socket(0).stopActor("a1");
		await settle(10);
		socket(0).finishClose();
		const reports = await Promise.all([first, second, third]);
		expect(new Set(reports).size).toBe(1);
		expect(reports[0]?.reason).toBe("user");
	});

	test("immediate escalates a drain; a later drain request never de-escalates", async () => {
		const { runner, socket } = await connected();
		socket(0).startActor("a1");
		await settle();
		const drain = runner.shutdown(false);
		expect(runner.state).toBe("draining");
		const immediate = runner.shutdown(true);
		expect(runner.state).toBe("closing");
		expect(socket(0).closeCalls).toEqual([
			{ code: 1000, reason: "pegboard.runner_shutdown" },
		]);
		void runner.shutdown(false);
		expect(runner.state).toBe("closing");
		socket(0).finishClose();
		const report = await drain;
		expect(await immediate).toBe(report);
		expect(report).toMatchObject({
			mode: "immediate",
			actorsAbandoned: 1,
			actorsStopped: 0,
		});
	});

	test("immediate with an actor still running: its Stopped(Error) goes out before the close frame, so the engine need not wait for the lost threshold", async () => {
		const { runner, socket } = await connected();
		socket(0).startActor("a1");
		await settle();
		const done = runner.shutdown(true);
		const stopped = socket(0)
			.events()
			.filter(
				(e) =>
					e.inner.tag === "EventActorStateUpdate" &&
					e.inner.val.state.tag === "ActorStateStopped",
			);
		expect(stopped.map((e) => [e.checkpoint.actorId, e.inner.val])).toEqual([
			[
				"a1",
				{
					state: {
						tag: "ActorStateStopped",
						val: { code: protocol.StopCode.Error, message: "runner shut down" },
					},
				},
			],
		]);
		expect(socket(0).closeCalls).toHaveLength(1);
		socket(0).finishClose();
		expect(await done).toMatchObject({
			actorsAbandoned: 1,
			abandonedActorIds: ["a1"],
		});
	});

	test("a drain whose engine goes silent (a one-way stall) sends its actors' Stopped(Error) before dropping the socket", async () => {
		const { runner, socket } = await connected({
			engineSilenceTimeoutMs: 1000,
		});
		socket(0).startActor("a1");
		await settle();
		const done = runner.shutdown(false);
		await vi.advanceTimersByTimeAsync(1500);
		const stoppedFor = socket(0)
			.events()
			.filter(
				(e) =>
					e.inner.tag === "EventActorStateUpdate" &&
					e.inner.val.state.tag === "ActorStateStopped",
			)
			.map((e) => e.checkpoint.actorId);
		expect(stoppedFor).toEqual(["a1"]);
		expect(await done).toMatchObject({ abandonedActorIds: ["a1"] });
	});

	test("drain ends when the budget runs out, driven by one timer (no polling)", async () => {
		const { runner, socket } = await connected({ drainTimeoutMs: 2000 });
		socket(0).startActor("a1");
		await settle();
		const done = runner.shutdown(false);
		expect(vi.getTimerCount()).toBe(2); // the engine-silence watchdog and the drain budget
		await vi.advanceTimersByTimeAsync(1999);
		expect(socket(0).closeCalls).toEqual([]);
		await vi.advanceTimersByTimeAsync(1);
		expect(socket(0).closeCalls).toEqual([
			{ code: 1000, reason: "pegboard.runner_shutdown" },
		]);
		socket(0).finishClose();
		expect(await done).toMatchObject({ mode: "drain", actorsAbandoned: 1 });
	});

	test("drain ends when the socket dies, and a close during shutdown never reconnects", async () => {
		const { runner, socket, sockets, calls } = await connected();
		socket(0).startActor("a1");
		await settle();
		const done = runner.shutdown(false);
		socket(0).closed(1006, "");
		expect(await done).toMatchObject({ actorsAbandoned: 1 });
		expect(calls).toContain("disconnected:1006:");
		await vi.runAllTimersAsync();
		expect(sockets).toHaveLength(1);
	});

	test("the engine closing the socket mid-drain (its drain window ran out): the report names the close and the actors it never stopped, with a warning", async () => {
		const warnings: { fields: object; msg?: string }[] = [];
		const noop = () => {};
		const { runner, socket } = await connected({
			logger: {
				debug: noop,
				info: noop,
				error: noop,
				warn: (fields, msg) => warnings.push({ fields, msg }),
			},
		});
		socket(0).startActor("a1");
		socket(0).startActor("a2");
		await settle();
		const done = runner.shutdown(false);
		socket(0).stopActor("a1");
		await settle();
		socket(0).closed(1000, "ws.eviction#ray");
		const report = await done;
		expect(report).toMatchObject({
			actorsStopped: 1,
			actorsAbandoned: 1,
			abandonedActorIds: ["a2"],
			closedBy: { code: 1000, reason: "ws.eviction#ray" },
		});
		expect(
			warnings.filter((line) =>
				/closed the socket mid-drain/.test(line.msg ?? ""),
			),
		).toEqual([
			{
				fields: { code: 1000, reason: "ws.eviction#ray", abandoned: ["a2"] },
				msg: expect.any(String),
			},
		]);
	});

	test("a drain that ends by our own close has no closedBy and no abandoned ids", async () => {
		const { runner, socket } = await connected();
		socket(0).startActor("a1");
		await settle();
		const done = runner.shutdown(false);
		socket(0).stopActor("a1");
		await settle(10);
		socket(0).finishClose();
		const report = await done;
		expect(report.abandonedActorIds).toEqual([]);
		expect(report).not.toHaveProperty("closedBy");
	});

	test("shutdown racing the socket's close: an eviction after shutdown started is ours, not a second shutdown", async () => {
		const { runner, socket, sockets, calls } = await connected();
		const done = runner.shutdown(false);
		socket(0).closed(1000, "ws.eviction#ray");
		const report = await done;
		expect(report.reason).toBe("user");
		await vi.runAllTimersAsync();
		expect(sockets).toHaveLength(1);
		expect(calls.filter((c) => c === "shutdown")).toHaveLength(1);
	});

	test("a CONNECTING socket is closed on shutdown and no reconnect follows", async () => {
		const { runner, socket, sockets } = setup();
		await runner.start();
		expect(socket(0).readyState).toBe(0);
		const done = runner.shutdown(false);
		expect(socket(0).closeCalls).toEqual([
			{ code: 1000, reason: "pegboard.runner_shutdown" },
		]);
		socket(0).closed(1006, "");
		expect(await done).toMatchObject({ mode: "immediate", actorsAbandoned: 0 });
		await vi.runAllTimersAsync();
		expect(sockets).toHaveLength(1);
		expect(vi.getTimerCount()).toBe(0);
	});

	test("shutdown while waiting to reconnect cancels the reconnect", async () => {
		const { runner, socket, sockets } = await connected();
		socket(0).closed(1006, "");
		expect(runner.state).toBe("reconnecting");
		expect(vi.getTimerCount()).toBeGreaterThan(0);
		const report = await runner.shutdown(false);
		expect(report.mode).toBe("immediate");
		expect(vi.getTimerCount()).toBe(0);
		await vi.runAllTimersAsync();
		expect(sockets).toHaveLength(1);
	});

	test("shutdown before start resolves at once; start after shutdown throws", async () => {
		const { runner, sockets } = setup();
		const report = await runner.shutdown();
		expect(report).toMatchObject({ reason: "user", actorsAbandoned: 0 });
		await expect(runner.start()).rejects.toThrow(/starts once/);
		expect(sockets).toHaveLength(0);
	});

	test("shutdown rejects pending KV requests with a typed error", async () => {
		const { runner, socket } = await connected();
		const pending = runner.kvGet("a1", [new Uint8Array([1])]);
		const shut = runner.shutdown(true);
		socket(0).finishClose();
		await shut;
		await expect(pending).rejects.toMatchObject({ code: "runner_shutdown" });
		await expect(
			runner.kvGet("a1", [new Uint8Array([1])]),
		).rejects.toMatchObject({ code: "runner_shutdown" });
	});
});
