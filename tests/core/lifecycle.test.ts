import * as protocol from "@rivetkit/engine-runner-protocol";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { type FakeSocket, settle } from "./fake-socket.ts";
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

describe("connect", () => {
	test("the watchdog: a pinging engine keeps the socket; 1 s of silence after the last frame abandons it", async () => {
		const { runner, socket } = await connected({
			engineSilenceTimeoutMs: 1000,
		});
		for (let i = 0; i < 10; i++) {
			await vi.advanceTimersByTimeAsync(600);
			socket(0).receive({ tag: "ToClientPing", val: { ts: BigInt(i) } });
		}
		expect(socket(0).closeCalls).toEqual([]);
		expect(runner.state).toBe("ready");
		await vi.advanceTimersByTimeAsync(999);
		expect(socket(0).closeCalls).toEqual([]);
		await vi.advanceTimersByTimeAsync(1);
		expect(socket(0).closeCalls).toEqual([
			{ code: 4000, reason: "runner.engine_silent" },
		]);
		expect(runner.state).toBe("reconnecting");
	});

	test("uses the spec URL, subprotocols and arraybuffer, and sends ToServerInit first", async () => {
		const { runner, socket } = setup({ token: "sekret", namespace: "my ns" });
		await runner.start();
		const s = socket(0);
		const url = new URL(s.url);
		expect(`${url.protocol}//${url.host}${url.pathname}`).toBe(
			"ws://127.0.0.1:6420/runners/connect",
		);
		expect(url.searchParams.get("protocol_version")).toBe("7");
		expect(url.searchParams.get("namespace")).toBe("my ns");
		expect(url.searchParams.get("runner_key")).toBe(runner.runnerKey);
		expect(s.protocols).toEqual(["rivet", "rivet_token.sekret"]);
		expect(s.binaryType).toBe("arraybuffer");
		expect(runner.state).toBe("connecting");
		s.open();
		expect(s.sent[0]).toMatchObject({
			tag: "ToServerInit",
			val: { name: "test", version: 1, totalSlots: 10 },
		});
		s.init("runner-abc");
		expect(runner.state).toBe("ready");
		expect(runner.runnerId).toBe("runner-abc");
	});

	test("nothing but init and pongs goes out before ToClientInit", async () => {
		const { runner, socket } = setup();
		await runner.start();
		socket(0).open();
		const kv = runner.kvGet("actor-1", [new Uint8Array([1])]);
		socket(0).receive({ tag: "ToClientPing", val: { ts: 42n } });
		expect(socket(0).tags()).toEqual(["ToServerInit", "ToServerPong"]);
		socket(0).init();
		expect(socket(0).tags()).toEqual([
			"ToServerInit",
			"ToServerPong",
			"ToServerKvRequest",
		]);
		const req = socket(0).sent[2] as Extract<
			protocol.ToServer,
			{ tag: "ToServerKvRequest" }
		>;
		socket(0).receive({
			tag: "ToClientKvResponse",
			val: {
				requestId: req.val.requestId,
				data: {
					tag: "KvGetResponse",
					val: { keys: [], values: [], metadata: [] },
				},
			},
		});
		await expect(kv).resolves.toEqual([null]);
	});

	test("a command before ToClientInit is logged as out of order (and still handled)", async () => {
		const warnings: string[] = [];
		const noop = () => {};
		const { runner, socket, calls } = setup({
			logger: {
				debug: noop,
				info: noop,
				error: noop,
				warn: (fields, msg) =>
					warnings.push(`${msg}:${(fields as { tag?: string }).tag}`),
			},
		});
		await runner.start();
		socket(0).open();
		socket(0).startActor("early");
		await settle();
		expect(warnings).toContain("frame before ToClientInit:ToClientCommands");
		expect(calls).toContain("start:early");
	});

	test("answers pings with the same timestamp", async () => {
		const { socket } = await connected();
		socket(0).receive({ tag: "ToClientPing", val: { ts: 123456789n } });
		expect(socket(0).sent.at(-1)).toEqual({
			tag: "ToServerPong",
			val: { ts: 123456789n },
		});
	});

	test("handles frames strictly in order, even when a Blob arrives between ArrayBuffers", async () => {
		const { runner, socket } = await connected();
		const encode = (m: protocol.ToClient) => protocol.encodeToClient(m);
		const start = (id: string): protocol.ToClient => ({
			tag: "ToClientCommands",
			val: [
				{
					checkpoint: { actorId: id, generation: 0, index: 0n },
					inner: {
						tag: "CommandStartActor",
						val: {
							config: { name: "n", key: null, createTs: 1n, input: null },
							hibernatingRequests: [],
						},
					},
				},
			],
		});
		socket(0).receiveRaw(
			new Blob([encode(start("a")) as Uint8Array<ArrayBuffer>]),
		);
		socket(0).receive(start("b"));
		socket(0).receiveRaw(encode(start("c"))); // a Uint8Array view (Bun's nodebuffer)
		await vi.waitFor(() => expect(runner.actors.size).toBe(3));
		expect([...runner.actors.keys()]).toEqual(["a", "b", "c"]);
	});

	test("an undecodable frame is logged as a typed error and the runner reconnects; nothing crashes", async () => {
		const errors: { code?: string }[] = [];
		const logger = {
			debug() {},
			info() {},
			warn() {},
			error: (obj: object) => errors.push(obj as { code?: string }),
		};
		const { runner, socket, sockets, calls } = await connected({ logger });
		socket(0).receiveRaw(new Uint8Array([250, 1, 2, 3]).buffer);
		socket(0).receiveRaw("a text frame");
		expect(errors).toEqual([
			expect.objectContaining({ code: "protocol_invalid_frame" }),
		]);
		expect(socket(0).closeCalls).toEqual([
			{ code: 4000, reason: "runner.invalid_frame" },
		]);
		expect(calls).toContain("disconnected:4000:runner.invalid_frame");
		expect(runner.state).toBe("reconnecting");
		await vi.runOnlyPendingTimersAsync();
		expect(sockets).toHaveLength(2);
	});
});

describe("close policy in the runner", () => {
	test("eviction shuts down immediately and never reconnects", async () => {
		const { runner, socket, sockets, calls } = await connected();
		socket(0).startActor("a1");
		await settle();
		socket(0).closed(1000, "ws.eviction#t1s80so6h3irenp8ymzltfoittcl00");
		const report = await runner.closed;
		expect(report).toMatchObject({
			reason: "evicted",
			mode: "immediate",
			actorsAbandoned: 1,
		});
		expect(calls.filter((c) => c.startsWith("disconnected"))).toHaveLength(1);
		expect(calls).toContain("stop:a1");
		await vi.runAllTimersAsync();
		expect(sockets).toHaveLength(1);
	});

	test("a replaced socket's close (even an eviction) is ignored", async () => {
		const { runner, socket, sockets, calls } = await connected({
			engineSilenceTimeoutMs: 1000,
			reconnect: { baseDelayMs: 100 },
		});
		await vi.advanceTimersByTimeAsync(1000); // silence: the runner gives up on socket 0
		expect(socket(0).closeCalls).toEqual([
			{ code: 4000, reason: "runner.engine_silent" },
		]);
		await vi.advanceTimersByTimeAsync(100);
		expect(sockets).toHaveLength(2);
		socket(1).open();
		socket(1).init();
		socket(0).closed(1000, "ws.eviction#late");
		expect(runner.state).toBe("ready");
		expect(calls.filter((c) => c.startsWith("disconnected"))).toEqual([
			"disconnected:4000:runner.engine_silent",
		]);
	});

	test("a replaced socket closing during a drain on its successor does not end the drain", async () => {
		const { runner, socket } = await connected({
			engineSilenceTimeoutMs: 1000,
			reconnect: { baseDelayMs: 100 },
		});
		await vi.advanceTimersByTimeAsync(1100); // socket 0 abandoned, socket 1 opened
		socket(1).open();
		socket(1).init();
		socket(1).startActor("a1");
		await settle();
		const done = runner.shutdown(false);
		socket(0).closed(1000, "ws.eviction#late");
		expect(runner.state).toBe("draining");
		socket(1).stopActor("a1");
		await settle(10);
		socket(1).finishClose();
		expect(await done).toMatchObject({ mode: "drain", actorsStopped: 1 });
	});

	test.each([
		["api.forbidden", 1011],
		["guard.missing_header", 1011],
		["namespace.not_found", 1011],
		["ws.invalid_url", 1011],
	])("%s is fatal: one typed error, no retry", async (cause, code) => {
		const errors: object[] = [];
		const { runner, socket, sockets } = setup({
			logger: {
				debug() {},
				info() {},
				warn() {},
				error: (o: object) => errors.push(o),
			},
		});
		await runner.start();
		socket(0).open();
		socket(0).closed(code, `${cause}#ray`);
		const report = await runner.closed;
		expect(report.reason).toBe(`fatal:${cause}`);
		expect(report.error).toMatchObject({
			code: `fatal:${cause}`,
			refusal: cause,
		});
		expect(errors).toHaveLength(1);
		await vi.runAllTimersAsync();
		expect(sockets).toHaveLength(1);
	});

	test("a protocol-version refusal at init is fatal; the same reason after init reconnects", async () => {
		const first = setup();
		await first.runner.start();
		first.socket(0).open();
		first.socket(0).closed(1011, "ws.invalid_packet#ray");
		expect((await first.runner.closed).reason).toBe("fatal:ws.invalid_packet");

		const second = await connected();
		second.socket(0).closed(1011, "ws.invalid_packet#ray"); // a payload too large, after init
		expect(second.runner.state).toBe("reconnecting");
	});

	test("ws.going_away reconnects after a short jittered delay", async () => {
		const { runner, socket, sockets } = await connected();
		socket(0).closed(1011, "ws.going_away#ray");
		expect(runner.state).toBe("reconnecting");
		await vi.advanceTimersByTimeAsync(500);
		expect(sockets).toHaveLength(2);
	});

	test("a drop reconnects with backoff and keeps the runner key", async () => {
		const { runner, socket, sockets } = await connected();
		socket(0).closed(1006, "");
		await vi.advanceTimersByTimeAsync(1000);
		expect(sockets).toHaveLength(2);
		socket(1).closed(1006, ""); // never opened: attempt 2, ceiling 2 s
		await vi.advanceTimersByTimeAsync(2000);
		expect(sockets).toHaveLength(3);
		const key = (s: FakeSocket) =>
			new URL(s.url).searchParams.get("runner_key");
		expect(new Set(sockets.map(key))).toEqual(new Set([runner.runnerKey]));
	});
});
