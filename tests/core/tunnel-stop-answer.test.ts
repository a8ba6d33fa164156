/**
 * Regression (found by `npm run load`, SIGTERM under in-flight requests): an actor whose `onActorStop` waits for
 * its in-flight requests, as a graceful app does. The handler returns its response just before `onActorStop`
 * returns; the runner used to drop that response (the actor's tunnel was closed while the body was still being
 * read), so the gateway retried the request elsewhere and it ran twice. The response must go out, and before the
 * actor's Stopped event (the gateway gives up on a request once it sees the actor stop).
 */
import { afterEach, expect, test } from "vitest";
import { WebSocket } from "ws";
import { Runner } from "../../src/core/index.ts";
import { isActorStateEvent } from "../helpers/engine-commands.ts";
import { startScriptedEngine } from "../helpers/scripted-engine.ts";

const GATEWAY = new Uint8Array([1, 2, 3, 4]).buffer;
const requestIdOf = (n: number) => new Uint8Array([n, 0, 0, 0]).buffer;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

test("a response returned while its actor stops is sent, before the Stopped event", async () => {
	const engine = await startScriptedEngine();
	cleanups.push(() => engine.close());
	const REQUESTS = 5;
	let entered = 0;
	let allEntered = () => {};
	const everyHandlerRunning = new Promise<void>((resolve) => {
		allEntered = resolve;
	});
	let stopSignal = () => {};
	const stopping = new Promise<void>((resolve) => {
		stopSignal = resolve;
	});
	const handlers = new Set<Promise<unknown>>();
	const runner = new Runner({
		version: 1,
		endpoint: engine.url,
		namespace: "default",
		runnerName: "stop-answer",
		totalSlots: 10,
		platform: {
			name: "node",
			WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
		},
		fetch: async (_r, _a, _g, _q, request) => {
			const work = stopping;
			handlers.add(work);
			if (++entered === REQUESTS) allEntered();
			await work;
			return new Response(new URL(request.url).pathname);
		},
		onActorStop: async () => {
			stopSignal();
			await Promise.allSettled(handlers);
		},
	});
	cleanups.push(() => runner.shutdown(true));
	const first = engine.nextConnection();
	await runner.start();
	const conn = await first;
	await conn.next("ToServerInit");
	conn.startActor("a1");
	await conn.waitForEvents(1, isActorStateEvent("ActorStateRunning"));
	for (let n = 1; n <= REQUESTS; n++)
		conn.send({
			tag: "ToClientTunnelMessage",
			val: {
				messageId: {
					gatewayId: GATEWAY,
					requestId: requestIdOf(n),
					messageIndex: 0,
				},
				messageKind: {
					tag: "ToClientRequestStart",
					val: {
						actorId: "a1",
						method: "GET",
						path: `/r${n}`,
						headers: new Map(),
						body: null,
						stream: false,
					},
				},
			},
		});
	await everyHandlerRunning;
	conn.stopActor("a1");
	await conn.waitForEvents(1, isActorStateEvent("ActorStateStopped"));
	const stoppedAt = conn.received.findIndex(
		(m) =>
			m.tag === "ToServerEvents" &&
			m.val.some(
				(e) =>
					e.inner.tag === "EventActorStateUpdate" &&
					e.inner.val.state.tag === "ActorStateStopped",
			),
	);
	const answers = conn.received
		.map((m, at) => ({ m, at }))
		.filter(
			({ m }) =>
				m.tag === "ToServerTunnelMessage" &&
				m.val.messageKind.tag === "ToServerResponseStart",
		);
	expect(answers).toHaveLength(REQUESTS);
	for (const { at } of answers) expect(at).toBeLessThan(stoppedAt);
});

test("a handler that returns a Response, not a promise, is answered", async () => {
	const engine = await startScriptedEngine();
	cleanups.push(() => engine.close());
	const runner = new Runner({
		version: 1,
		endpoint: engine.url,
		namespace: "default",
		runnerName: "sync-handler",
		totalSlots: 10,
		platform: {
			name: "node",
			WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
		},
		// Plain JavaScript can do this; the type says a promise.
		fetch: (() => new Response("sync")) as unknown as () => Promise<Response>,
	});
	cleanups.push(() => runner.shutdown(true));
	const first = engine.nextConnection();
	await runner.start();
	const conn = await first;
	await conn.next("ToServerInit");
	conn.startActor("a1");
	await conn.waitForEvents(1, isActorStateEvent("ActorStateRunning"));
	conn.send({
		tag: "ToClientTunnelMessage",
		val: {
			messageId: {
				gatewayId: GATEWAY,
				requestId: requestIdOf(1),
				messageIndex: 0,
			},
			messageKind: {
				tag: "ToClientRequestStart",
				val: {
					actorId: "a1",
					method: "GET",
					path: "/",
					headers: new Map(),
					body: null,
					stream: false,
				},
			},
		},
	});
	const reply = await conn.next("ToServerTunnelMessage");
	expect(reply.val.messageKind).toMatchObject({
		tag: "ToServerResponseStart",
		val: { status: 200 },
	});
});
