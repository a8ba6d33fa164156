/**
 * Tests of the scripted engine harness itself, mostly driven by the reference runner R
 * (`@rivetkit/engine-runner`): if R and the harness agree on the wire, tests of our runner written
 * against the harness speak the real protocol.
 */
import * as protocol from "@rivetkit/engine-runner-protocol";
import { afterEach, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import {
	createReferenceRunner,
	type ReferenceRunnerHandle,
} from "../helpers/reference-runner.ts";
import {
	isActorStateEvent,
	type ScriptedEngine,
	type ScriptedEngineOptions,
	startScriptedEngine,
} from "../helpers/scripted-engine.ts";

let engine: ScriptedEngine | undefined;
const runners: ReferenceRunnerHandle[] = [];
const rawClients: WebSocket[] = [];

afterEach(async () => {
	for (const r of runners.splice(0)) await r.stop();
	for (const c of rawClients.splice(0)) c.terminate();
	await engine?.close();
	engine = undefined;
});

async function setup(
	engineOpts: ScriptedEngineOptions = {},
	runnerOpts: Partial<Parameters<typeof createReferenceRunner>[0]> = {},
) {
	engine = await startScriptedEngine(engineOpts);
	const r = createReferenceRunner({ endpoint: engine.url, ...runnerOpts });
	runners.push(r);
	const connected = r.waitFor("connected");
	connected.catch(() => {}); // not every test awaits it; a test that does still sees the rejection
	const conn = engine.nextConnection();
	await r.runner.start();
	return { engine, r, conn: await conn, connected };
}

/** A plain ws client speaking raw protocol frames, for harness behaviour R cannot trigger. */
async function rawClient(url: string): Promise<WebSocket> {
	const ws = new WebSocket(
		`${url.replace("http://", "ws://")}/runners/connect`,
		["rivet"],
	);
	rawClients.push(ws);
	await new Promise<void>((resolve, reject) => {
		ws.once("open", () => resolve());
		ws.once("error", reject);
	});
	return ws;
}

const initFrame: protocol.ToServer = {
	tag: "ToServerInit",
	val: {
		name: "raw",
		version: 1,
		totalSlots: 1,
		prepopulateActorNames: null,
		metadata: null,
	},
};

function runningEvent(actorId: string, index: bigint): protocol.ToServer {
	return {
		tag: "ToServerEvents",
		val: [
			{
				checkpoint: { actorId, generation: 0, index },
				inner: {
					tag: "EventActorStateUpdate",
					val: { state: { tag: "ActorStateRunning", val: null } },
				},
			},
		],
	};
}

describe("scripted engine with the reference runner", () => {
	test("R connects to /runners/connect with v7 query and subprotocol rivet; first frame is ToServerInit", async () => {
		const { conn, connected } = await setup(
			{},
			{ namespace: "ns one", runnerName: "bench" },
		);
		expect(conn.index).toBe(0);
		expect(conn.url.pathname).toBe("/runners/connect");
		expect(conn.url.searchParams.get("protocol_version")).toBe("7");
		expect(conn.url.searchParams.get("namespace")).toBe("ns one");
		expect(conn.url.searchParams.get("runner_key")).toMatch(/^[0-9a-f-]{36}$/);
		expect(conn.protocols).toEqual(["rivet"]);
		const first = await conn.next();
		expect(first.tag).toBe("ToServerInit");
		expect(conn.received[0]).toBe(first);
		expect(conn.rawFrames[0]?.binary).toBe(true);
		if (first.tag === "ToServerInit") expect(first.val.name).toBe("bench");
		await connected; // auto init reached R
		expect(r0().runner.runnerId).toBe("runner-1");
	});

	test("R offers rivet_token.<token> when a token is set", async () => {
		const { conn } = await setup({}, { token: "secret-token" });
		expect(conn.protocols).toEqual(["rivet", "rivet_token.secret-token"]);
	});

	test("autoInit false: no ToClientInit until the test sends init() with its runnerId", async () => {
		const { conn, connected } = await setup({ autoInit: false });
		await conn.next("ToServerInit");
		expect(r0().runner.runnerId).toBeUndefined();
		conn.init({ runnerId: "custom-id", runnerLostThreshold: 5000 });
		await connected;
		expect(r0().runner.runnerId).toBe("custom-id");
		expect(r0().runner.getProtocolMetadata()?.runnerLostThreshold).toBe(5000n);
	});

	test("startActor → R reports ActorStateRunning at generation 0, event index 0", async () => {
		const starts: string[] = [];
		const { conn, connected } = await setup(
			{},
			{ onActorStart: async (id) => void starts.push(id) },
		);
		await connected;
		conn.startActor("actor-a", { name: "counter", key: "k1" });
		const msg = await conn.next("ToServerEvents");
		expect(msg.val).toHaveLength(1);
		expect(msg.val[0]?.checkpoint).toEqual({
			actorId: "actor-a",
			generation: 0,
			index: 0n,
		});
		expect(
			isActorStateEvent("ActorStateRunning")(
				msg.val[0] as protocol.EventWrapper,
			),
		).toBe(true);
		expect(conn.events()).toHaveLength(1);
		expect(starts).toEqual(["actor-a"]);
		expect(r0().runner.getActor("actor-a")?.config).toMatchObject({
			name: "counter",
			key: "k1",
		});
	});

	test("stopActor → R reports ActorStateStopped (code Error: R only says Ok when draining or destroying)", async () => {
		const { conn, connected } = await setup();
		await connected;
		conn.startActor("actor-b");
		await conn.waitForEvents(1, isActorStateEvent("ActorStateRunning"));
		conn.stopActor("actor-b");
		await conn.waitForEvents(1, isActorStateEvent("ActorStateStopped"));
		const stopped = conn.events()[1];
		expect(stopped?.checkpoint).toEqual({
			actorId: "actor-b",
			generation: 0,
			index: 1n,
		});
		expect(stopped?.inner).toEqual({
			tag: "EventActorStateUpdate",
			val: {
				state: {
					tag: "ActorStateStopped",
					val: { code: protocol.StopCode.Error, message: null },
				},
			},
		});
	});

	test("KV round trip: R's kvPut and kvGet resolve from kvRespond", async () => {
		const { conn, connected } = await setup();
		await connected;
		conn.startActor("actor-kv");
		await conn.waitForEvents(1);
		const enc = new TextEncoder();
		const put = r0().runner.kvPut("actor-kv", [
			[enc.encode("k"), enc.encode("v")],
		]);
		const putReq = await conn.next("ToServerKvRequest");
		expect(putReq.val.actorId).toBe("actor-kv");
		expect(putReq.val.data.tag).toBe("KvPutRequest");
		conn.kvRespond(putReq.val.requestId, { tag: "KvPutResponse", val: null });
		await put;

		const get = r0().runner.kvGet("actor-kv", [
			enc.encode("k"),
			enc.encode("missing"),
		]);
		const getReq = await conn.next("ToServerKvRequest");
		expect(getReq.val.requestId).toBe(putReq.val.requestId + 1);
		conn.kvRespond(getReq.val.requestId, {
			tag: "KvGetResponse",
			val: {
				keys: [enc.encode("k").buffer as ArrayBuffer],
				values: [enc.encode("v").buffer as ArrayBuffer],
				metadata: [{ version: new ArrayBuffer(1), updateTs: 1n }],
			},
		});
		expect(await get).toEqual([enc.encode("v"), null]);
	});

	test("ping → R answers ToServerPong echoing ts; pingIntervalMs pings by itself", async () => {
		const { conn } = await setup({ pingIntervalMs: 20 });
		conn.ping(1234n);
		await conn.next("ToServerPong", {
			where: (m) => m.tag === "ToServerPong" && m.val.ts === 1234n,
		});
		const auto = await conn.next("ToServerPong");
		expect(auto.val.ts).toBeGreaterThan(1_000_000_000_000n); // Date.now() from the auto ping
	});

	test('engine close "ws.eviction#x" → R shuts down and does not reconnect', async () => {
		const { engine, conn, connected } = await setup();
		await connected;
		const shutdown = r0().waitFor("shutdown");
		await conn.close(1000, "ws.eviction#x");
		expect(await conn.closed).toEqual({ code: 1000, reason: "ws.eviction#x" });
		await shutdown;
		expect(r0().disconnects).toEqual([{ code: 1000, reason: "ws.eviction#x" }]);
		// Proving an absence needs a window: R's first reconnect would come after 1000–1250 ms.
		await expect(engine.nextConnection({ timeoutMs: 1600 })).rejects.toThrow(
			/connection #1/,
		);
		expect(engine.connections).toHaveLength(1);
	});

	test('engine close "ws.going_away#x" → R reconnects with the same runner_key and inits again', async () => {
		const { engine, conn, connected } = await setup();
		await connected;
		const second = engine.nextConnection();
		await conn.close(1011, "ws.going_away#x");
		const conn2 = await second;
		expect(conn2.index).toBe(1);
		expect(conn2.url.searchParams.get("runner_key")).toBe(
			conn.url.searchParams.get("runner_key"),
		);
		expect((await conn2.next()).tag).toBe("ToServerInit");
		expect(r0().disconnects).toEqual([
			{ code: 1011, reason: "ws.going_away#x" },
		]);
	});

	test("terminate → R sees 1006 and reconnects; R resends its unacked events after init", async () => {
		const { engine, conn, connected } = await setup();
		await connected;
		conn.startActor("actor-r");
		await conn.waitForEvents(1);
		const second = engine.nextConnection();
		conn.terminate();
		expect(await conn.closed).toEqual({ code: 1006, reason: "" });
		const conn2 = await second;
		await conn2.next("ToServerInit");
		const resent = await conn2.next("ToServerEvents");
		expect(resent.val.map((e) => e.checkpoint.actorId)).toEqual(["actor-r"]);
		expect(r0().disconnects[0]?.code).toBe(1006);
	});
});

describe("scripted engine mechanics (raw protocol client)", () => {
	test("next() consumes each message once; a tagged next() leaves other tags for later", async () => {
		engine = await startScriptedEngine({ autoInit: false });
		const ws = await rawClient(engine.url);
		const conn = await engine.nextConnection({ index: 0 });
		ws.send(protocol.encodeToServer(initFrame));
		ws.send(protocol.encodeToServer({ tag: "ToServerPong", val: { ts: 7n } }));
		ws.send(protocol.encodeToServer(runningEvent("a1", 0n)));
		await conn.waitUntil((r) => r.length === 3);
		expect((await conn.next("ToServerPong")).val.ts).toBe(7n);
		expect((await conn.next()).tag).toBe("ToServerInit");
		expect((await conn.next()).tag).toBe("ToServerEvents");
		await expect(conn.next(undefined, { timeoutMs: 50 })).rejects.toThrow(
			/timed out after 50 ms on connection #0 waiting for next message; received 3 frames \(ToServerInit×1, ToServerPong×1, ToServerEvents×1\)/,
		);
		ws.send("text frame");
		ws.send(new Uint8Array([250, 1]));
		await conn.waitUntil(() => conn.rawFrames.length === 5);
		expect(conn.rawFrames[3]?.binary).toBe(false);
		expect(conn.decodeErrors).toHaveLength(1);
		expect(conn.received).toHaveLength(3);
	});

	test("waitForEvents counts matching events from `since`; a close fails pending waits at once", async () => {
		engine = await startScriptedEngine({ autoInit: false });
		const accepted = engine.nextConnection();
		const ws = await rawClient(engine.url);
		const conn = await accepted;
		ws.send(protocol.encodeToServer(runningEvent("a1", 0n)));
		await conn.waitForEvents(1);
		const since = conn.eventCount;
		const two = conn.waitForEvents(2, isActorStateEvent("ActorStateRunning"), {
			since,
		});
		ws.send(protocol.encodeToServer(runningEvent("a2", 0n)));
		ws.send(protocol.encodeToServer(runningEvent("a3", 0n)));
		await two;
		const never = conn.next("ToServerStopping", { timeoutMs: 4000 });
		ws.close(4000, "bye");
		await expect(never).rejects.toThrow(
			/closed \(4000 "bye"\) while waiting for next ToServerStopping/,
		);
	});

	test("stopListening refuses new connections but keeps open ones; restart listens on the same port", async () => {
		engine = await startScriptedEngine();
		const first = await rawClient(engine.url);
		const conn = await engine.nextConnection({ index: 0 });
		const port = engine.port;
		await engine.stopListening();
		await expect(rawClient(engine.url)).rejects.toThrow(/ECONNREFUSED/);
		first.send(protocol.encodeToServer(initFrame));
		await conn.next("ToServerInit"); // the open socket still works both ways
		expect(conn.isOpen).toBe(true);
		await engine.restart();
		expect(engine.port).toBe(port);
		const next = engine.nextConnection();
		await rawClient(engine.url);
		expect((await next).index).toBe(1);
	});

	test("the engine answers subprotocol rivet even when the client offers none (like guard)", async () => {
		engine = await startScriptedEngine();
		const ws = new WebSocket(
			`${engine.url.replace("http", "ws")}/runners/connect`,
		);
		rawClients.push(ws);
		const error = await new Promise<Error>((resolve) =>
			ws.once("error", resolve),
		);
		expect(error.message).toMatch(/subprotocol/);
	});
});

function r0(): ReferenceRunnerHandle {
	const r = runners[0];
	if (!r) throw new Error("no reference runner in this test");
	return r;
}
