/**
 * Our runner's tunnel against a scripted engine (official codec + ws): the wire behaviour of spec §8 that the
 * dev engine's gateway cannot provoke (gaps, duplicates, restore with wrap-around, stale metadata, disconnects).
 */
import type * as protocol from "@rivetkit/engine-runner-protocol";
import { afterEach, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import {
	type HibernatingWebSocketMetadata,
	Runner,
	type RunnerConfig,
} from "../../src/core/index.ts";
import { startActorCommand } from "../helpers/engine-commands.ts";
import type { ScriptedConnection } from "../helpers/scripted-engine.ts";
import { startScriptedEngine } from "../helpers/scripted-engine.ts";

const GATEWAY = new Uint8Array([9, 8, 7, 6]).buffer;
const MiB = 1024 * 1024;

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
	let resolve!: (value: T) => void;
	const promise = new Promise<T>((r) => {
		resolve = r;
	});
	return { promise, resolve };
}

const requestIdOf = (n: number) => new Uint8Array([n, 0, 0, 0]).buffer;
const idNumber = (id: ArrayBuffer) => new Uint8Array(id)[0];
const text = (s: string) => new TextEncoder().encode(s).buffer as ArrayBuffer;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(overrides: Partial<RunnerConfig> = {}) {
	const engine = await startScriptedEngine();
	cleanups.push(() => engine.close());
	const runner = new Runner({
		version: 1,
		endpoint: engine.url,
		namespace: "default",
		runnerName: "tunnel",
		totalSlots: 10,
		platform: {
			name: "node",
			WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
		},
		reconnect: { baseDelayMs: 20, maxDelayMs: 200, soonDelayMs: 20 },
		...overrides,
	});
	cleanups.push(() => runner.shutdown(true));
	const first = engine.nextConnection();
	await runner.start();
	const conn = await first;
	await conn.next("ToServerInit");
	return { engine, runner, conn };
}

async function startActor(
	conn: ScriptedConnection,
	actorId: string,
	hibernatingRequests: protocol.HibernatingRequest[] = [],
) {
	const base = startActorCommand(actorId);
	const command: protocol.CommandWrapper =
		base.inner.tag === "CommandStartActor"
			? {
					...base,
					inner: {
						tag: "CommandStartActor",
						val: { ...base.inner.val, hibernatingRequests },
					},
				}
			: base;
	conn.commands([command]);
	await conn.waitForEvents(1, (e) => e.checkpoint.actorId === actorId);
}

function toRunner(
	conn: ScriptedConnection,
	request: number,
	index: number,
	messageKind: protocol.ToClientTunnelMessageKind,
): void {
	conn.send({
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
}

/** The next tunnel message the runner sent for `request`. */
async function fromRunner(conn: ScriptedConnection, request: number) {
	const message = await conn.next("ToServerTunnelMessage", {
		where: (m) =>
			m.tag === "ToServerTunnelMessage" &&
			idNumber(m.val.messageId.requestId) === request,
	});
	return message.val;
}

const get = (
	actorId: string,
	path: string,
): protocol.ToClientTunnelMessageKind => ({
	tag: "ToClientRequestStart",
	val: {
		actorId,
		method: "GET",
		path,
		headers: new Map(),
		body: null,
		stream: false,
	},
});

const wsOpen = (actorId: string): protocol.ToClientTunnelMessageKind => ({
	tag: "ToClientWebSocketOpen",
	val: { actorId, path: "/ws", headers: new Map([["x-a", "b"]]) },
});

const wsMessage = (data: string): protocol.ToClientTunnelMessageKind => ({
	tag: "ToClientWebSocketMessage",
	val: { data: text(data), binary: false },
});

describe("HTTP", () => {
	test("an unknown actor gets ToServerResponseAbort (retryable by the gateway)", async () => {
		const { conn } = await setup();
		toRunner(conn, 1, 0, get("nobody", "/"));
		const reply = await fromRunner(conn, 1);
		expect(reply.messageKind.tag).toBe("ToServerResponseAbort");
		expect(new Uint8Array(reply.messageId.gatewayId)).toEqual(
			new Uint8Array(GATEWAY),
		);
	});

	test("a response over 20 MiB is a 500 and the runner socket survives", async () => {
		const { conn } = await setup({
			fetch: async (_r, _a, _g, _q, request) =>
				new Response(
					new Uint8Array(
						new URL(request.url).pathname === "/huge" ? 20 * MiB + 1 : 20 * MiB,
					),
				),
		});
		await startActor(conn, "a1");
		toRunner(conn, 1, 0, get("a1", "/huge"));
		const huge = await fromRunner(conn, 1);
		expect(huge.messageKind).toMatchObject({
			tag: "ToServerResponseStart",
			val: { status: 500 },
		});
		toRunner(conn, 2, 0, get("a1", "/edge"));
		const edge = await fromRunner(conn, 2);
		if (edge.messageKind.tag !== "ToServerResponseStart") throw new Error();
		expect(edge.messageKind.val.status).toBe(200);
		expect(edge.messageKind.val.body?.byteLength).toBe(20 * MiB);
		expect(conn.isOpen).toBe(true);
	});

	test("a response finished while disconnected is sent after the next init", async () => {
		const release = deferred<void>();
		const handling = deferred<void>();
		const { engine, conn } = await setup({
			fetch: async () => {
				handling.resolve();
				await release.promise;
				return new Response("late");
			},
		});
		await startActor(conn, "a1");
		toRunner(conn, 1, 0, get("a1", "/"));
		await handling.promise;
		await engine.stopListening();
		await conn.close(1011, "core.internal_error#test");
		release.resolve();
		const next = engine.nextConnection();
		await engine.restart();
		const conn2 = await next;
		const reply = await fromRunner(conn2, 1);
		expect(reply.messageKind).toMatchObject({
			tag: "ToServerResponseStart",
			val: { status: 200 },
		});
	});

	test("actor stop: a pending request ends without an answer, a plain socket closes locally", async () => {
		const release = deferred<void>();
		const handling = deferred<void>();
		const closes: string[] = [];
		const { conn } = await setup({
			fetch: async () => {
				handling.resolve();
				await release.promise;
				return new Response("too late");
			},
			websocket: async (_r, _a, ws) => {
				ws.addEventListener("close", (e) =>
					closes.push(`${e.code} ${e.reason}`),
				);
			},
		});
		await startActor(conn, "a1");
		toRunner(conn, 1, 0, get("a1", "/"));
		toRunner(conn, 2, 0, wsOpen("a1"));
		expect((await fromRunner(conn, 2)).messageKind.tag).toBe(
			"ToServerWebSocketOpen",
		);
		await handling.promise;
		conn.stopActor("a1");
		await conn.waitForEvents(2, (e) => e.checkpoint.actorId === "a1");
		release.resolve();
		expect(closes).toEqual(["1000 actor.stopped"]);
		// A later request shows the runner is idle: nothing else was sent for requests 1 and 2.
		toRunner(conn, 3, 0, get("a1", "/"));
		await fromRunner(conn, 3);
		const tunnelFor = (n: number) =>
			conn.received.filter(
				(m) =>
					m.tag === "ToServerTunnelMessage" &&
					idNumber(m.val.messageId.requestId) === n,
			);
		expect(tunnelFor(1)).toHaveLength(0);
		expect(tunnelFor(2)).toHaveLength(1);
	});
});

describe("hibernatable WebSockets", () => {
	test("duplicates are ignored, a gap closes 1008 ws.message_index_skip", async () => {
		const seen: string[] = [];
		const { conn } = await setup({
			hibernatableWebSocket: { canHibernate: () => true },
			websocket: async (_r, _a, ws) => {
				ws.addEventListener("message", (e) => seen.push(e.data as string));
			},
		});
		await startActor(conn, "a1");
		toRunner(conn, 1, 0, wsOpen("a1"));
		expect((await fromRunner(conn, 1)).messageKind).toEqual({
			tag: "ToServerWebSocketOpen",
			val: { canHibernate: true },
		});
		toRunner(conn, 1, 1, wsMessage("one"));
		toRunner(conn, 1, 1, wsMessage("one again"));
		toRunner(conn, 1, 2, wsMessage("two"));
		toRunner(conn, 1, 4, wsMessage("four"));
		expect((await fromRunner(conn, 1)).messageKind).toEqual({
			tag: "ToServerWebSocketClose",
			val: { code: 1008, reason: "ws.message_index_skip", hibernate: false },
		});
		expect(seen).toEqual(["one", "two"]);
	});

	test("acks go out as ToServerWebSocketMessageAck with the given index", async () => {
		const { conn, runner } = await setup({
			hibernatableWebSocket: { canHibernate: () => true },
			websocket: async (r, _a, ws, gatewayId, requestId) => {
				ws.addEventListener("message", (e) =>
					r.sendHibernatableWebSocketMessageAck(
						gatewayId,
						requestId,
						(e as unknown as { rivetMessageIndex: number }).rivetMessageIndex,
					),
				);
			},
		});
		await startActor(conn, "a1");
		toRunner(conn, 1, 0, wsOpen("a1"));
		await fromRunner(conn, 1);
		toRunner(conn, 1, 1, wsMessage("x"));
		expect((await fromRunner(conn, 1)).messageKind).toEqual({
			tag: "ToServerWebSocketMessageAck",
			val: { index: 1 },
		});
		expect(() =>
			runner.sendHibernatableWebSocketMessageAck(
				GATEWAY,
				requestIdOf(1),
				70000,
			),
		).toThrow(RangeError);
	});

	test("restore on wake: held traffic is delivered across the u16 wrap; stale and unpersisted sockets are closed", async () => {
		const seen: string[] = [];
		const events: string[] = [];
		const restoring: boolean[] = [];
		const holdStart = deferred<void>();
		let runnerRef: Runner | undefined;
		const meta = (
			request: number,
			serverMessageIndex: number,
		): HibernatingWebSocketMetadata => ({
			gatewayId: GATEWAY,
			requestId: requestIdOf(request),
			clientMessageIndex: 5,
			serverMessageIndex,
			path: "/ws",
			headers: {},
		});
		const { conn, runner } = await setup({
			onActorStart: async (actorId) => {
				await holdStart.promise;
				// 1: connected and persisted; 3: persisted only (stale). 2 is connected but not persisted.
				await runnerRef?.restoreHibernatingRequests(actorId, [
					meta(1, 65534),
					meta(3, 7),
				]);
			},
			websocket: async (
				_r,
				_a,
				ws,
				_g,
				requestId,
				_q,
				_p,
				_h,
				hib,
				restore,
			) => {
				restoring.push(hib && restore);
				ws.addEventListener("message", (e) => seen.push(e.data as string));
				ws.addEventListener("open", () => events.push("open"));
				ws.addEventListener("close", (e) =>
					events.push(`close ${idNumber(requestId)} ${e.code} ${e.reason}`),
				);
			},
		});
		runnerRef = runner;
		await startActor(conn, "a1", [
			{ gatewayId: GATEWAY, requestId: requestIdOf(1) },
			{ gatewayId: GATEWAY, requestId: requestIdOf(2) },
		]);
		// The gateway republishes right after Running, before onActorStart has restored anything.
		toRunner(conn, 1, 65534, wsMessage("already had it"));
		toRunner(conn, 1, 65535, wsMessage("a"));
		holdStart.resolve();
		expect((await fromRunner(conn, 2)).messageKind).toEqual({
			tag: "ToServerWebSocketClose",
			val: {
				code: 1000,
				reason: "ws.meta_not_found_during_restore",
				hibernate: false,
			},
		});
		toRunner(conn, 1, 0, wsMessage("b"));
		toRunner(conn, 1, 1, wsMessage("c"));
		toRunner(conn, 1, 3, wsMessage("gap"));
		const closed = await fromRunner(conn, 1);
		expect(closed.messageKind).toMatchObject({
			tag: "ToServerWebSocketClose",
			val: { code: 1008 },
		});
		// The restored socket continues the persisted client index.
		expect(closed.messageId.messageIndex).toBe(5);
		expect(seen).toEqual(["a", "b", "c"]);
		expect(restoring).toEqual([true, true]);
		expect(events).toEqual([
			"close 3 1000 ws.stale_metadata",
			"close 1 1008 ws.message_index_skip",
		]);
		expect(
			conn.received.some(
				(m) =>
					m.tag === "ToServerTunnelMessage" &&
					m.val.messageKind.tag === "ToServerWebSocketOpen",
			),
		).toBe(false);
		await expect(runner.restoreHibernatingRequests("a1", [])).rejects.toThrow(
			/already restored/,
		);
	});
});
