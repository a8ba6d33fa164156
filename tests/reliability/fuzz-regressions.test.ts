/**
 * Bugs the fuzz run found, one test each (each fails without its fix): wrong frames our runner used to handle in
 * silence, which the fuzz's "every bad input gets its typed error or a log line" property caught.
 */
import type * as protocol from "@rivetkit/engine-runner-protocol";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { Runner, type RunnerConfig } from "../../src/core/index.ts";
import type { Logger } from "../../src/core/log.ts";
import { startActorCommand } from "../helpers/engine-commands.ts";
import {
	type ScriptedConnection,
	startScriptedEngine,
} from "../helpers/scripted-engine.ts";

const GATEWAY = new Uint8Array([9, 8, 7, 6]).buffer;
const requestIdOf = (n: number) => new Uint8Array([n, 0, 0, 0]).buffer;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(overrides: Partial<RunnerConfig> = {}) {
	const lines: string[] = [];
	const line = (msg?: string) => {
		lines.push(msg ?? "");
	};
	const logger: Logger = {
		debug: (_o, m) => line(m),
		info: (_o, m) => line(m),
		warn: (_o, m) => line(m),
		error: (_o, m) => line(m),
	};
	const engine = await startScriptedEngine();
	cleanups.push(() => engine.close());
	const runner = new Runner({
		version: 1,
		endpoint: engine.url,
		namespace: "default",
		runnerName: "fuzz-regressions",
		totalSlots: 10,
		logger,
		platform: {
			name: "node",
			WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
		},
		websocket: async () => {},
		hibernatableWebSocket: { canHibernate: () => true },
		...overrides,
	});
	cleanups.push(() => runner.shutdown(true));
	const first = engine.nextConnection();
	await runner.start();
	const conn = await first;
	await conn.next("ToServerInit");
	return { conn, lines };
}

/** Sends `message`, then a ping; once the pong is back the message has been handled. */
async function handled(
	conn: ScriptedConnection,
	message: protocol.ToClient,
): Promise<void> {
	conn.send(message);
	const ts = BigInt(Math.floor(Math.random() * 1e9));
	conn.ping(ts);
	await conn.next("ToServerPong", {
		where: (m) => m.tag === "ToServerPong" && m.val.ts === ts,
	});
}

const tunnel = (
	request: number,
	index: number,
	messageKind: protocol.ToClientTunnelMessageKind,
): protocol.ToClient => ({
	tag: "ToClientTunnelMessage",
	val: {
		messageId: {
			gatewayId: GATEWAY,
			requestId: requestIdOf(request),
			messageIndex: index,
		},
		messageKind,
	},
});

describe("wrong frames are logged, not handled in silence", () => {
	it("tunnel traffic for a request the runner does not have", async () => {
		const { conn, lines } = await setup();
		await handled(
			conn,
			tunnel(1, 3, {
				tag: "ToClientWebSocketMessage",
				val: { data: new ArrayBuffer(2), binary: true },
			}),
		);
		expect(lines).toContain("websocket message for an unknown socket ignored");
		await handled(
			conn,
			tunnel(2, 1, {
				tag: "ToClientWebSocketClose",
				val: { code: 1000, reason: null },
			}),
		);
		expect(lines).toContain("websocket close for an unknown socket ignored");
		await handled(
			conn,
			tunnel(3, 1, { tag: "ToClientRequestAbort", val: null }),
		);
		expect(lines).toContain(
			"tunnel message ignored: no HTTP request with this id",
		);
		await handled(
			conn,
			tunnel(4, 1, {
				tag: "ToClientRequestChunk",
				val: { body: new ArrayBuffer(1), finish: true },
			}),
		);
		expect(lines).toContain(
			"tunnel message ignored: streaming request bodies are not supported",
		);
	});

	it("a hibernatable socket's message with an old index (a duplicate)", async () => {
		const { conn, lines } = await setup();
		conn.commands([startActorCommand("actor-a")]);
		await conn.waitForEvents(1, (e) => e.checkpoint.actorId === "actor-a");
		conn.send(
			tunnel(7, 0, {
				tag: "ToClientWebSocketOpen",
				val: { actorId: "actor-a", path: "/hib", headers: new Map() },
			}),
		);
		await conn.next("ToServerTunnelMessage", {
			where: (m) =>
				m.tag === "ToServerTunnelMessage" &&
				m.val.messageKind.tag === "ToServerWebSocketOpen",
		});
		const message: protocol.ToClientTunnelMessageKind = {
			tag: "ToClientWebSocketMessage",
			val: { data: new ArrayBuffer(1), binary: true },
		};
		await handled(conn, tunnel(7, 1, message));
		await handled(conn, tunnel(7, 1, message));
		expect(lines).toContain("duplicate websocket message ignored");
	});

	it("an event ack for an actor the runner never had, and a stop for one it already stopped", async () => {
		const { conn, lines } = await setup();
		await handled(conn, {
			tag: "ToClientAckEvents",
			val: {
				lastEventCheckpoints: [{ actorId: "ghost", generation: 0, index: 3n }],
			},
		});
		expect(lines).toContain(
			"event ack for an unknown actor generation ignored",
		);
		conn.commands([startActorCommand("actor-b")]);
		const stop: protocol.CommandWrapper = {
			checkpoint: { actorId: "actor-b", generation: 0, index: 1n },
			inner: { tag: "CommandStopActor", val: null },
		};
		conn.commands([stop]);
		await conn.waitForEvents(
			1,
			(e) =>
				e.checkpoint.actorId === "actor-b" &&
				e.inner.tag === "EventActorStateUpdate" &&
				e.inner.val.state.tag === "ActorStateStopped",
		);
		await handled(conn, {
			tag: "ToClientCommands",
			val: [{ ...stop, checkpoint: { ...stop.checkpoint, index: 2n } }],
		});
		expect(lines).toContain("stop for an actor already stopped here ignored");
	});
});

describe("tunnelled HTTP requests a fetch Request cannot carry", () => {
	it("TRACE is answered 405 and a malformed header 400, without calling the actor (it was a 500 'fetch handler failed')", async () => {
		let calls = 0;
		const { conn } = await setup({
			fetch: async () => {
				calls++;
				return new Response("ok");
			},
		});
		conn.commands([startActorCommand("actor-c")]);
		await conn.waitForEvents(1, (e) => e.checkpoint.actorId === "actor-c");
		const statusOf = async (
			request: number,
			method: string,
			headers: Map<string, string>,
		) => {
			conn.send(
				tunnel(request, 0, {
					tag: "ToClientRequestStart",
					val: {
						actorId: "actor-c",
						method,
						path: "/x",
						headers,
						body: null,
						stream: false,
					},
				}),
			);
			const answer = await conn.next("ToServerTunnelMessage", {
				where: (m) =>
					m.tag === "ToServerTunnelMessage" &&
					new Uint8Array(m.val.messageId.requestId)[0] === request &&
					m.val.messageKind.tag === "ToServerResponseStart",
			});
			return answer.val.messageKind.tag === "ToServerResponseStart"
				? answer.val.messageKind.val.status
				: 0;
		};
		expect(await statusOf(11, "TRACE", new Map())).toBe(405);
		expect(await statusOf(12, "GET", new Map([["bad header", "x"]]))).toBe(400);
		expect(calls).toBe(0);
		expect(await statusOf(13, "GET", new Map([["x-ok", "1"]]))).toBe(200);
	});
});

describe("KV answers of the wrong kind", () => {
	it("a get answered by a put response rejects with a typed kv_unexpected_response error (it was a TypeError)", async () => {
		const engine = await startScriptedEngine();
		cleanups.push(() => engine.close());
		const runner = new Runner({
			version: 1,
			endpoint: engine.url,
			namespace: "default",
			runnerName: "fuzz-kv",
			totalSlots: 10,
			platform: {
				name: "node",
				WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
			},
		});
		cleanups.push(() => runner.shutdown(true));
		const first = engine.nextConnection();
		await runner.start();
		const conn = await first;
		conn.commands([startActorCommand("actor-kv")]);
		await conn.waitForEvents(1, (e) => e.checkpoint.actorId === "actor-kv");
		const get = runner.kvGet("actor-kv", [new Uint8Array([1])]);
		const request = await conn.next("ToServerKvRequest");
		conn.kvRespond(request.val.requestId, { tag: "KvPutResponse", val: null });
		await expect(get).rejects.toMatchObject({ code: "kv_unexpected_response" });
	});
});

describe("strings the codec cannot write", () => {
	it("an actor's close reason with a lone surrogate reaches the engine as U+FFFD (the frame was undecodable)", async () => {
		const { conn } = await setup({
			websocket: async (_runner, _actorId, ws) => {
				ws.addEventListener("message", () => ws.close(1000, "bye\ud800"));
			},
			hibernatableWebSocket: { canHibernate: () => false },
		});
		conn.commands([startActorCommand("actor-d")]);
		await conn.waitForEvents(1, (e) => e.checkpoint.actorId === "actor-d");
		conn.send(
			tunnel(21, 0, {
				tag: "ToClientWebSocketOpen",
				val: { actorId: "actor-d", path: "/ws", headers: new Map() },
			}),
		);
		await conn.next("ToServerTunnelMessage", {
			where: (m) =>
				m.tag === "ToServerTunnelMessage" &&
				m.val.messageKind.tag === "ToServerWebSocketOpen",
		});
		conn.send(
			tunnel(21, 1, {
				tag: "ToClientWebSocketMessage",
				val: { data: new ArrayBuffer(1), binary: true },
			}),
		);
		const close = await conn.next("ToServerTunnelMessage", {
			where: (m) =>
				m.tag === "ToServerTunnelMessage" &&
				m.val.messageKind.tag === "ToServerWebSocketClose",
		});
		expect(close.val.messageKind.val).toMatchObject({
			code: 1000,
			reason: "bye\ufffd",
		});
		expect(conn.decodeErrors).toEqual([]);
	});
});
