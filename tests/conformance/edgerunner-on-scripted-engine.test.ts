/**
 * Our runner against a scripted engine on loopback (official codec + ws), over real sockets: the scenarios of the
 * seed review of R's close handler (rivet#3800, #3896, #4397, #4877).
 */
import * as protocol from "@rivetkit/engine-runner-protocol";
import { afterEach, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { Runner, type RunnerConfig } from "../../src/core/index.ts";
import {
	type ScriptedEngine,
	type ScriptedEngineOptions,
	startScriptedEngine,
} from "../helpers/scripted-engine.ts";

/** Node 20 has no Promise.withResolvers. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
	let resolve!: (value: T) => void;
	const promise = new Promise<T>((r) => {
		resolve = r;
	});
	return { promise, resolve };
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(
	engineOptions: ScriptedEngineOptions = {},
	overrides: Partial<RunnerConfig> = {},
) {
	const engine = await startScriptedEngine(engineOptions);
	cleanups.push(() => engine.close());
	const stops: string[] = [];
	const disconnects: string[] = [];
	let stopped = deferred<string>();
	let connected = deferred<void>();
	const runner = new Runner({
		version: 1,
		endpoint: engine.url,
		namespace: "default",
		runnerName: "conformance",
		totalSlots: 100,
		platform: {
			name: "node",
			WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
		},
		onActorStop: async (id) => {
			stops.push(id);
			stopped.resolve(id);
			stopped = deferred<string>();
		},
		onConnected: () => {
			connected.resolve();
			connected = deferred<void>();
		},
		onDisconnected: (code, reason) => disconnects.push(`${code} ${reason}`),
		reconnect: { baseDelayMs: 20, maxDelayMs: 200, soonDelayMs: 20 },
		...overrides,
	});
	cleanups.push(() => runner.shutdown(true));
	/** Resolve on the next onActorStop / onConnected (events, not polling). */
	const nextStop = () => stopped.promise;
	const nextConnected = () => connected.promise;
	return { engine, runner, stops, disconnects, nextStop, nextConnected };
}

async function connectedWithActor(
	engineOptions: ScriptedEngineOptions = {},
	overrides: Partial<RunnerConfig> = {},
) {
	const ctx = await setup(engineOptions, overrides);
	const connection = ctx.engine.nextConnection();
	await ctx.runner.start();
	const conn = await connection;
	await conn.next("ToServerInit");
	conn.startActor("actor-1");
	await conn.waitForEvents(1, (e) => e.checkpoint.actorId === "actor-1");
	return { ...ctx, conn };
}

const isStopped = (e: protocol.EventWrapper) =>
	e.inner.tag === "EventActorStateUpdate" &&
	e.inner.val.state.tag === "ActorStateStopped";

/** No reconnect can follow: the runner stopped and cleared every timer; the engine saw only these sockets. */
function expectNoReconnect(
	engine: ScriptedEngine,
	runner: Runner,
	connections: number,
) {
	expect(runner.state).toBe("stopped");
	expect(engine.connections).toHaveLength(connections);
}

describe("connect", () => {
	test("URL, query, subprotocols; ToServerInit is the first binary frame", async () => {
		const { engine, runner } = await setup(
			{},
			{ token: "tok_en", namespace: "ns-1" },
		);
		const connection = engine.nextConnection();
		await runner.start();
		const conn = await connection;
		expect(conn.url.pathname).toBe("/runners/connect");
		expect(conn.url.searchParams.get("protocol_version")).toBe("7");
		expect(conn.url.searchParams.get("namespace")).toBe("ns-1");
		expect(conn.url.searchParams.get("runner_key")).toBe(runner.runnerKey);
		expect(conn.protocols).toEqual(["rivet", "rivet_token.tok_en"]);
		const init = await conn.next();
		expect(init).toMatchObject({
			tag: "ToServerInit",
			val: { name: "conformance", totalSlots: 100 },
		});
		expect(conn.rawFrames[0]?.binary).toBe(true);
	});

	test("a garbage frame is a typed error in the log and a reconnect, never a crash", async () => {
		const errors: { code?: string }[] = [];
		const logger = {
			debug() {},
			info() {},
			warn() {},
			error: (o: object) => errors.push(o),
		};
		const { engine, runner, conn } = await connectedWithActor({}, { logger });
		const second = engine.nextConnection();
		conn.sendRaw(new Uint8Array([0xff, 0xfe, 0x00]));
		const replacement = await second;
		await replacement.next("ToServerInit");
		expect(errors[0]).toMatchObject({ code: "protocol_invalid_frame" });
		expect((await conn.closed).code).toBe(4000);
		expect(runner.hasActor("actor-1")).toBe(true); // resent, not lost
		await replacement.waitForEvents(1);
		expect(replacement.events()[0]?.checkpoint.actorId).toBe("actor-1");
	});

	test("pings are answered; engine silence past the watchdog bound reconnects", async () => {
		const { engine, runner } = await setup({}, { engineSilenceTimeoutMs: 300 });
		const first = engine.nextConnection();
		await runner.start();
		const conn = await first;
		conn.ping(77n);
		expect(await conn.next("ToServerPong")).toEqual({
			tag: "ToServerPong",
			val: { ts: 77n },
		});
		const replacement = await engine.nextConnection({ index: 1 });
		await replacement.next("ToServerInit");
		expect(await conn.closed).toEqual({
			code: 4000,
			reason: "runner.engine_silent",
		});
	});
});

describe("shutdown", () => {
	test("drain: Stopping, StopActor → Stopped(Ok), then close 1000 pegboard.runner_shutdown", async () => {
		const { engine, runner, conn, stops } = await connectedWithActor();
		const done = runner.shutdown(false);
		await conn.next("ToServerStopping");
		conn.stopActor("actor-1");
		const closed = await conn.closed;
		expect(closed).toEqual({ code: 1000, reason: "pegboard.runner_shutdown" });
		const stopped = conn.events().filter(isStopped);
		expect(stopped).toHaveLength(1);
		expect(stopped[0]?.inner.val).toMatchObject({
			state: { val: { code: protocol.StopCode.Ok } },
		});
		expect(await done).toMatchObject({
			mode: "drain",
			actorsStopped: 1,
			actorsAbandoned: 0,
		});
		expect(stops).toEqual(["actor-1"]);
		expectNoReconnect(engine, runner, 1);
	});

	test("shutdown racing a WebSocket close does not reconnect", async () => {
		const { engine, runner, conn } = await connectedWithActor();
		const done = runner.shutdown(false);
		conn.terminate();
		await done;
		expectNoReconnect(engine, runner, 1);
	});

	test("an engine close racing shutdown (close first, shutdown in the same tick) does not reconnect", async () => {
		const { engine, runner, conn } = await connectedWithActor();
		const closing = conn.close(1011, "ws.going_away#ray");
		const done = runner.shutdown(false);
		await closing;
		await done;
		expectNoReconnect(engine, runner, 1);
	});

	test("concurrent shutdown() calls send one ToServerStopping", async () => {
		const { runner, conn } = await connectedWithActor();
		const all = Promise.all([
			runner.shutdown(false),
			runner.shutdown(false),
			runner.shutdown({ mode: "drain" }),
		]);
		await conn.next("ToServerStopping");
		conn.stopActor("actor-1");
		const reports = await all;
		expect(new Set(reports).size).toBe(1);
		expect(
			conn.received.filter((m) => m.tag === "ToServerStopping"),
		).toHaveLength(1);
	});

	test("the engine restarting mid-drain: the drain ends, nothing reconnects, the actor is reported abandoned", async () => {
		const { engine, runner, conn, stops } = await connectedWithActor();
		const done = runner.shutdown(false);
		await conn.next("ToServerStopping");
		await engine.stopListening();
		conn.terminate();
		await engine.restart();
		const report = await done;
		expect(report).toMatchObject({
			mode: "drain",
			actorsStopped: 0,
			actorsAbandoned: 1,
		});
		expect(stops).toEqual(["actor-1"]);
		expectNoReconnect(engine, runner, 1);
	});

	test("shutdown while the engine is down closes the CONNECTING socket and stops at once", async () => {
		const { engine, runner } = await setup();
		await engine.stopListening();
		await runner.start();
		const report = await runner.shutdown(false);
		expect(report.mode).toBe("immediate");
		await engine.restart();
		expectNoReconnect(engine, runner, 0);
	});
});

describe("each close code and reason", () => {
	test.each([
		[1011, "ws.going_away#ray"],
		[1011, "core.internal_error#ray"],
		[1011, "ws.timed_out_waiting_for_init#ray"],
		[1000, "ws.closed"],
		[1000, ""],
		[1013, ""],
		[4000, "anything"],
	])(
		"%i %j reconnects with the same runner key and resends unacked events",
		async (code, reason) => {
			const { engine, runner, conn, disconnects } = await connectedWithActor();
			const next = engine.nextConnection();
			await conn.close(code, reason);
			const replacement = await next;
			await replacement.next("ToServerInit");
			expect(replacement.url.searchParams.get("runner_key")).toBe(
				runner.runnerKey,
			);
			await replacement.waitForEvents(1);
			expect(replacement.events()[0]?.checkpoint).toMatchObject({
				actorId: "actor-1",
				index: 0n,
			});
			expect(disconnects).toEqual([`${code} ${reason}`]);
		},
	);

	test("a drop without a close frame (1006) reconnects", async () => {
		const { engine, conn, disconnects } = await connectedWithActor();
		const next = engine.nextConnection();
		conn.terminate();
		await (await next).next("ToServerInit");
		expect(disconnects).toEqual(["1006 "]);
	});

	test("eviction: immediate shutdown, onDisconnected once, no reconnect", async () => {
		const { engine, runner, conn, disconnects, stops } =
			await connectedWithActor();
		await conn.close(1000, "ws.eviction#t1s80so6h3irenp8ymzltfoittcl00");
		const report = await runner.closed;
		expect(report).toMatchObject({
			reason: "evicted",
			mode: "immediate",
			actorsAbandoned: 1,
		});
		expect(disconnects).toEqual([
			"1000 ws.eviction#t1s80so6h3irenp8ymzltfoittcl00",
		]);
		expect(stops).toEqual(["actor-1"]);
		expectNoReconnect(engine, runner, 1);
	});

	test.each([
		["api.forbidden", true],
		["guard.missing_header", true],
		["namespace.not_found", true],
		["ws.invalid_url", true],
		["ws.invalid_packet", false],
	])(
		"%s at connect is fatal: typed error once, no retry storm",
		async (cause) => {
			const errors: object[] = [];
			const logger = {
				debug() {},
				info() {},
				warn() {},
				error: (o: object) => errors.push(o),
			};
			const { engine, runner } = await setup({ autoInit: false }, { logger });
			const first = engine.nextConnection();
			await runner.start();
			const conn = await first;
			await conn.next("ToServerInit");
			await conn.close(1011, `${cause}#ray`);
			const report = await runner.closed;
			expect(report.reason).toBe(`fatal:${cause}`);
			expect(report.error?.code).toBe(`fatal:${cause}`);
			expect(errors).toHaveLength(1);
			expectNoReconnect(engine, runner, 1);
		},
	);
});

describe("runner lost", () => {
	test("down past runnerLostThreshold: actors stopped locally once, and a new runner id drops nothing twice", async () => {
		const { engine, runner, conn, stops, nextStop, nextConnected } =
			await connectedWithActor(
				{ runnerLostThreshold: 200, runnerId: (i) => `runner-${i}` },
				{ reconnect: { baseDelayMs: 400, maxDelayMs: 400 } },
			);
		await engine.stopListening();
		const lost = nextStop();
		conn.terminate();
		expect(await lost).toBe("actor-1");
		expect(runner.actors.size).toBe(0);
		const reconnected = nextConnected();
		await engine.restart();
		await reconnected;
		expect(runner.runnerId).toBe("runner-1");
		expect(stops).toEqual(["actor-1"]);
	});
});
