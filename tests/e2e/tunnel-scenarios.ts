/**
 * Tunnel scenarios through the dev engine's gateway, parameterised by the Runner class so the same list runs
 * with our runner (tests/e2e/tunnel-ours.test.ts) and the reference runner
 * (tests/conformance/reference-runner-tunnel.test.ts). Only the RunnerConfig fields both runners share are used.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type RawData, WebSocket } from "ws";
import {
	type EngineOptions,
	type RunningEngine,
	startEngine,
} from "../../src/engine/index.ts";
import { isRunning, isSleeping, watchActors } from "../engine/actor-watch.ts";
import { Recorder } from "../helpers/recorder.ts";

export const RUNNER_NAME = "tunnel-runner";

export interface TunnelRunner {
	start(): Promise<void>;
	shutdown(immediate: boolean): Promise<unknown>;
	sleepActor(actorId: string, generation?: number): void;
}
// biome-ignore lint/suspicious/noExplicitAny: each runner types its own config; scenarios pass the shared fields.
export type TunnelRunnerClass = new (config: any) => TunnelRunner;

/** What actors saw, for assertions: client closes and started actors. */
export class ActorLog extends Recorder {
	readonly started: string[] = [];
	readonly closes: { code: number; reason: string }[] = [];
}

/** The WHATWG-shaped socket both runners hand to `websocket` (the subset the scenarios use). */
export interface ActorSocket {
	addEventListener(
		type: "message",
		listener: (event: { data: unknown }) => void,
	): void;
	addEventListener(
		type: "close",
		listener: (event: { code: number; reason: string }) => void,
	): void;
	send(data: string | ArrayBuffer | Uint8Array): void;
	close(code?: number, reason?: string): void;
}

/** The actor app both runners serve: an HTTP echo with a few special paths, and a WebSocket echo. */
export function tunnelHandlers(log: ActorLog) {
	return {
		fetch: async (
			_runner: unknown,
			actorId: string,
			_gatewayId: ArrayBuffer,
			_requestId: ArrayBuffer,
			request: Request,
		): Promise<Response> => {
			const url = new URL(request.url);
			if (url.pathname === "/throw") throw new Error("handler exploded");
			if (url.pathname === "/cookies") {
				const headers = new Headers();
				headers.append("set-cookie", "a=1");
				headers.append("set-cookie", "b=2");
				headers.append("x-multi", "one");
				headers.append("x-multi", "two");
				return new Response("cookies", { headers });
			}
			const body = new Uint8Array(await request.arrayBuffer());
			return new Response(body.byteLength > 0 ? body : null, {
				status: url.pathname === "/created" ? 201 : 200,
				headers: {
					"x-actor": actorId,
					"x-method": request.method,
					"x-path": url.pathname + url.search,
					"x-echo-header": request.headers.get("x-test") ?? "",
					"x-body-length": String(body.byteLength),
				},
			});
		},
		websocket: async (
			_runner: unknown,
			_actorId: string,
			ws: ActorSocket,
		): Promise<void> => {
			ws.addEventListener("message", (event) => {
				const data = event.data as string | ArrayBuffer;
				if (typeof data === "string" && data.startsWith("close:")) {
					const [, code, reason] = data.split(":");
					ws.close(Number(code), reason);
					return;
				}
				ws.send(data);
			});
			ws.addEventListener("close", (event) => {
				const { code, reason } = event;
				log.record(() => log.closes.push({ code, reason }));
			});
		},
		hibernatableWebSocket: { canHibernate: () => false },
	};
}

/** A test client socket whose messages and close can be awaited. */
export class TestClient {
	readonly ws: WebSocket;
	readonly messages: { data: Buffer; binary: boolean }[] = [];
	readonly opened: Promise<void>;
	readonly closed: Promise<{ code: number; reason: string }>;
	#waiters = new Set<() => void>();

	constructor(url: string, protocols?: string[]) {
		this.ws = new WebSocket(url, protocols);
		this.ws.on("message", (data: RawData, binary: boolean) => {
			this.messages.push({ data: data as Buffer, binary });
			for (const check of [...this.#waiters]) check();
		});
		this.opened = new Promise((resolve, reject) => {
			this.ws.once("open", () => resolve());
			this.ws.once("error", reject);
		});
		this.closed = new Promise((resolve) =>
			this.ws.once("close", (code, reason) =>
				resolve({ code, reason: reason.toString() }),
			),
		);
	}

	/** Resolves once `count` messages have arrived. */
	received(count: number, timeoutMs = 10_000): Promise<void> {
		return new Promise((resolve, reject) => {
			const check = () => {
				if (this.messages.length < count) return;
				this.#waiters.delete(check);
				clearTimeout(timer);
				resolve();
			};
			const timer = setTimeout(() => {
				this.#waiters.delete(check);
				reject(
					new Error(
						`got ${this.messages.length} of ${count} messages in ${timeoutMs} ms`,
					),
				);
			}, timeoutMs);
			this.#waiters.add(check);
			check();
		});
	}

	close(): void {
		if (this.ws.readyState < 2) this.ws.terminate();
	}
}

export interface TunnelContext {
	engine: RunningEngine;
	watch: ReturnType<typeof watchActors>;
	log: ActorLog;
	runner: TunnelRunner;
	/** Creates an actor and waits until it is running. */
	actor(body?: Record<string, unknown>): Promise<string>;
	client(path: string, protocols?: string[]): TestClient;
	wsUrl(path: string): string;
}

export function baseConfig(
	engine: RunningEngine,
	log: ActorLog,
	overrides: Record<string, unknown> = {},
) {
	return {
		version: 1,
		endpoint: engine.url,
		namespace: "default",
		totalSlots: 20,
		runnerName: RUNNER_NAME,
		prepopulateActorNames: {},
		noAutoShutdown: true,
		platform: { name: "node", WebSocket },
		onConnected: () => {},
		onDisconnected: () => {},
		onShutdown: () => {},
		onActorStart: async (actorId: string) => {
			log.record(() => log.started.push(actorId));
		},
		onActorStop: async () => {},
		...tunnelHandlers(log),
		...overrides,
	};
}

/** Starts an engine and a runner for each test, and closes everything after it. */
export function useTunnelContext(
	RunnerClass: TunnelRunnerClass,
	overrides: Record<string, unknown> = {},
	engineOptions: EngineOptions = {},
): () => TunnelContext {
	let ctx: TunnelContext | undefined;
	const clients: TestClient[] = [];
	beforeEach(async () => {
		const watch = watchActors();
		const log = new ActorLog();
		const engine = await startEngine({
			port: 0,
			onActorChange: watch.onActorChange,
			...engineOptions,
			gateway: { retryBaseDelayMs: 20, ...engineOptions.gateway },
		});
		const runner = new RunnerClass(baseConfig(engine, log, overrides));
		await runner.start();
		const wsUrl = (path: string) => engine.url.replace("http", "ws") + path;
		ctx = {
			engine,
			watch,
			log,
			runner,
			wsUrl,
			async actor(body = {}) {
				const response = await fetch(`${engine.url}/actors?namespace=default`, {
					method: "POST",
					headers: { "content-type": "application/json" },
					body: JSON.stringify({
						name: "echo",
						runner_name_selector: RUNNER_NAME,
						...body,
					}),
				});
				const { actor } = (await response.json()) as {
					actor: { actor_id: string };
				};
				await watch.until(actor.actor_id, isRunning);
				return actor.actor_id;
			},
			client(path, protocols) {
				const client = new TestClient(wsUrl(path), protocols);
				clients.push(client);
				return client;
			},
		};
	});
	afterEach(async () => {
		for (const client of clients.splice(0)) client.close();
		if (!ctx) return;
		await ctx.runner.shutdown(true);
		await ctx.engine.close();
		ctx = undefined;
	});
	return () => {
		if (!ctx) throw new Error("no tunnel context");
		return ctx;
	};
}

const text = (data: Buffer) => data.toString("utf8");

/** The scenarios both runners must pass through our gateway. */
export function describeTunnelScenarios(
	label: string,
	RunnerClass: TunnelRunnerClass,
): void {
	describe(label, () => {
		const ctx = useTunnelContext(RunnerClass);

		it("HTTP: methods, headers, query and bodies reach the actor by path", async () => {
			const { engine, actor } = ctx();
			const id = await actor();
			const get = await fetch(`${engine.url}/gateway/${id}/echo?a=1&b=two`, {
				headers: { "x-test": "hello" },
			});
			expect(get.status).toBe(200);
			expect(get.headers.get("x-path")).toBe("/echo?a=1&b=two");
			expect(get.headers.get("x-method")).toBe("GET");
			expect(get.headers.get("x-echo-header")).toBe("hello");
			expect(get.headers.get("x-actor")).toBe(id);
			for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
				const body = new Uint8Array([0, 1, 2, 250, 255, method.length]);
				const response = await fetch(`${engine.url}/gateway/${id}/created`, {
					method,
					body,
				});
				expect(response.status).toBe(201);
				expect(response.headers.get("x-method")).toBe(method);
				expect(new Uint8Array(await response.arrayBuffer())).toEqual(body);
			}
			const head = await fetch(`${engine.url}/gateway/${id}/echo`, {
				method: "HEAD",
			});
			expect(head.status).toBe(200);
			expect(head.headers.get("x-method")).toBe("HEAD");
		});

		it("HTTP: header addressing (x-rivet-target/x-rivet-actor) forwards the /request path", async () => {
			const { engine, actor } = ctx();
			const id = await actor();
			const response = await fetch(`${engine.url}/request/sub?q=1`, {
				method: "POST",
				headers: { "x-rivet-target": "actor", "x-rivet-actor": id },
				body: "payload",
			});
			expect(response.status).toBe(200);
			expect(response.headers.get("x-path")).toBe("/request/sub?q=1");
			expect(await response.text()).toBe("payload");
		});

		it("HTTP: a handler error is a 500 and the runner keeps serving", async () => {
			const { engine, actor } = ctx();
			const id = await actor();
			const failed = await fetch(`${engine.url}/gateway/${id}/throw`);
			expect(failed.status).toBe(500);
			const ok = await fetch(`${engine.url}/gateway/${id}/echo`);
			expect(ok.status).toBe(200);
		});

		it("HTTP: a sleeping actor is woken by a request", async () => {
			const { engine, actor, runner, watch, log } = ctx();
			const id = await actor({ crash_policy: "sleep" });
			runner.sleepActor(id);
			await watch.until(id, isSleeping);
			const response = await fetch(`${engine.url}/gateway/${id}/echo`, {
				method: "POST",
				body: "after sleep",
			});
			expect(response.status).toBe(200);
			expect(await response.text()).toBe("after sleep");
			expect(log.started.filter((s) => s === id)).toHaveLength(2);
		});

		it("WebSocket: echo of text and binary, by path and by subprotocol addressing", async () => {
			const { actor, client } = ctx();
			const id = await actor();
			const byPath = client(`/gateway/${id}/ws`);
			await byPath.opened;
			byPath.ws.send("hello");
			byPath.ws.send(Buffer.from([1, 2, 3, 255]));
			await byPath.received(2);
			expect(text(byPath.messages[0]?.data as Buffer)).toBe("hello");
			expect(byPath.messages[0]?.binary).toBe(false);
			expect([...(byPath.messages[1]?.data ?? [])]).toEqual([1, 2, 3, 255]);
			expect(byPath.messages[1]?.binary).toBe(true);
			const byProtocol = client("/ws", [
				"rivet",
				"rivet_target.actor",
				`rivet_actor.${id}`,
			]);
			await byProtocol.opened;
			byProtocol.ws.send("via subprotocol");
			await byProtocol.received(1);
			expect(text(byProtocol.messages[0]?.data as Buffer)).toBe(
				"via subprotocol",
			);
		});

		it("WebSocket: close codes travel both ways", async () => {
			const { actor, client, log } = ctx();
			const id = await actor();
			const fromActor = client(`/gateway/${id}/ws`);
			await fromActor.opened;
			fromActor.ws.send("close:4001:bye from actor");
			expect(await fromActor.closed).toEqual({
				code: 4001,
				reason: "bye from actor",
			});
			const fromClient = client(`/gateway/${id}/ws`);
			await fromClient.opened;
			fromClient.ws.send("ping");
			await fromClient.received(1);
			fromClient.ws.close(4002, "bye from client");
			await log.until("client close seen by the actor", () =>
				log.closes.some((c) => c.code === 4002),
			);
			expect(log.closes.find((c) => c.code === 4002)?.reason).toBe(
				"bye from client",
			);
		});

		it("WebSocket: 1,000 messages arrive in order", async () => {
			const { actor, client } = ctx();
			const id = await actor();
			const socket = client(`/gateway/${id}/ws`);
			await socket.opened;
			for (let i = 0; i < 1000; i++) socket.ws.send(`m${i}`);
			await socket.received(1000);
			expect(socket.messages.map((m) => text(m.data))).toEqual(
				Array.from({ length: 1000 }, (_, i) => `m${i}`),
			);
		});

		it("WebSocket: stopping the actor closes a client socket 1000 actor.stopped", async () => {
			const { actor, client, engine } = ctx();
			const id = await actor();
			const socket = client(`/gateway/${id}/ws`);
			await socket.opened;
			await fetch(`${engine.url}/actors/${id}?namespace=default`, {
				method: "DELETE",
			});
			expect(await socket.closed).toEqual({
				code: 1000,
				reason: "actor.stopped",
			});
		});
	});
}
