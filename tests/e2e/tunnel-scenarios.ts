/**
 * Tunnel scenarios through an engine's gateway, parameterised by the Runner class and the engine under test, so the
 * same list runs with our runner and the reference runner on the dev engine (tests/e2e/tunnel-ours.test.ts,
 * tests/conformance/reference-runner-tunnel.test.ts) and on the real Rivet Engine
 * (tests/rivet-engine/tunnel-{ours,reference}.test.ts). Only the RunnerConfig fields both runners share are used.
 * Both engines' gateways answer alike, but where the dev engine keeps a difference on purpose: there a branch
 * `devEngineDiffers(kind, row)` asserts each engine's answer, `row` naming the row of docs/engine.md's table
 * that says why (rest-differential.test.ts checks the rows are there).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type RawData, WebSocket } from "ws";
import {
	type HibernatingWebSocketMetadata,
	Runner as OurRunner,
} from "../../src/core/index.ts";
import { newRivetId } from "../../src/engine/ids.ts";
import type { EngineOptions } from "../../src/engine/index.ts";
import {
	declareRunnerConfig,
	type EngineKind,
	type EngineUnderTest,
	isDestroyed,
	isRunning,
	isSleeping,
	startEngineUnderTest,
	untilRunnerListed,
} from "../helpers/engines.ts";
import { Recorder } from "../helpers/recorder.ts";
import type { GatewayDifference } from "../rivet-engine/differential.ts";

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
			if (url.pathname.endsWith("/headers"))
				return Response.json(Object.fromEntries(request.headers));
			if (url.pathname === "/sized")
				return new Response(new Uint8Array(Number(url.searchParams.get("n"))));
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
				if (typeof data === "string" && data.startsWith("sized:")) {
					// The actor sends n bytes; a refusal by the runner is reported back as text.
					try {
						ws.send(new Uint8Array(Number(data.slice(6))));
					} catch (error) {
						ws.send(
							`refused:${(error as Error).name}:${(error as Error).message}`,
						);
					}
					return;
				}
				if (typeof data === "string" && data.startsWith("close:")) {
					const [, code, reason] = data.split(":");
					if (code === "") ws.close();
					else ws.close(Number(code), reason);
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

	/** `protocols` defaults to `["rivet"]`: the real engine answers `rivet` even when none was offered. */
	constructor(url: string, protocols: string[] = ["rivet"]) {
		this.ws = new WebSocket(url, protocols);
		this.ws.on("message", (data: RawData, binary: boolean) => {
			this.messages.push({ data: data as Buffer, binary });
			for (const check of [...this.#waiters]) check();
		});
		// Unhandled when a test expects the handshake to fail and awaits only `closed`.
		this.ws.on("error", () => {});
		this.opened = new Promise((resolve, reject) => {
			this.ws.once("open", () => resolve());
			this.ws.once("error", reject);
		});
		// A refused handshake is asserted by awaiting `opened`, maybe after another await: never unhandled.
		this.opened.catch(() => {});
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
						`got ${this.messages.length} of ${count} messages in ${timeoutMs} ms: ${JSON.stringify(this.texts())}`,
					),
				);
			}, timeoutMs);
			this.#waiters.add(check);
			check();
		});
	}

	/** Resolves once a text message `expected` has arrived. */
	async receivedText(expected: string, timeoutMs = 10_000): Promise<void> {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			if (this.messages.some((m) => m.data.toString("utf8") === expected))
				return;
			const left = deadline - Date.now();
			if (left <= 0)
				throw new Error(
					`no message ${JSON.stringify(expected)} in ${timeoutMs} ms: ${JSON.stringify(this.texts())}`,
				);
			await this.received(this.messages.length + 1, left);
		}
	}

	texts(): string[] {
		return this.messages.map((m) => m.data.toString("utf8"));
	}

	close(): void {
		if (this.ws.readyState < 2) this.ws.terminate();
	}
}

export interface TunnelContext {
	engine: EngineUnderTest;
	log: ActorLog;
	runner: TunnelRunner;
	/** Creates an actor and waits until it is running. */
	actor(body?: Record<string, unknown>): Promise<string>;
	client(path: string, protocols?: string[]): TestClient;
	wsUrl(path: string): string;
}

export function baseConfig(
	engine: { url: string },
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

/** How long the real engine may answer 400 no_runner_config_configured after a runner's first connect. */
const RUNNER_CONFIG_WITHIN_MS = 10_000;

const POLL_EVERY_MS = 100;

/**
 * POST /actors, retried while the engine answers 400 `no_runner_config_configured` (a runner config not yet
 * visible, see declareRunnerConfig in tests/helpers/engines.ts). Just after the real engine starts it may also answer `namespace.not_found` for
 * "default" once; retried the same way.
 */
export async function createActor(
	engine: EngineUnderTest,
	body: Record<string, unknown> = {},
): Promise<string> {
	const deadline = Date.now() + RUNNER_CONFIG_WITHIN_MS;
	for (;;) {
		const response = await engine.api("/actors?namespace=default", {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({
				name: "echo",
				runner_name_selector: RUNNER_NAME,
				crash_policy: "sleep",
				...body,
			}),
		});
		const text = await response.text();
		if (response.ok)
			return (JSON.parse(text) as { actor: { actor_id: string } }).actor
				.actor_id;
		const settling =
			text.includes("no_runner_config_configured") ||
			text.includes('"group":"namespace","code":"not_found"');
		if (!settling || Date.now() > deadline)
			throw new Error(`POST /actors: ${response.status} ${text}`);
		await new Promise((resolve) => setTimeout(resolve, POLL_EVERY_MS));
	}
}

/** Starts an engine of `kind` and a runner for each test, and closes everything after it. */
export function useTunnelContext(
	RunnerClass: TunnelRunnerClass,
	overrides: Record<string, unknown> = {},
	engineOptions: EngineOptions = {},
	kind: EngineKind = "dev",
): () => TunnelContext {
	let ctx: TunnelContext | undefined;
	const clients: TestClient[] = [];
	beforeEach(async () => {
		const log = new ActorLog();
		const engine = await startEngineUnderTest(kind, {
			dev: {
				...engineOptions,
				gateway: { retryBaseDelayMs: 20, ...engineOptions.gateway },
			},
		});
		if (engine.kind === "rivet") await declareRunnerConfig(engine, RUNNER_NAME);
		const runner = new RunnerClass(baseConfig(engine, log, overrides));
		await runner.start();
		await untilRunnerListed(engine, (r) => r.name === RUNNER_NAME);
		const wsUrl = (path: string) => engine.url.replace("http", "ws") + path;
		ctx = {
			engine,
			log,
			runner,
			wsUrl,
			async actor(body = {}) {
				const actorId = await createActor(engine, body);
				await engine.untilActor(actorId, isRunning);
				return actorId;
			},
			client(path, protocols) {
				const client = new TestClient(wsUrl(path), protocols);
				clients.push(client);
				return client;
			},
		};
	}, 60_000);
	afterEach(async () => {
		for (const client of clients.splice(0)) client.close();
		if (!ctx) return;
		await ctx.runner.shutdown(true);
		await ctx.engine.close();
		ctx = undefined;
	}, 30_000);
	return () => {
		if (!ctx) throw new Error("no tunnel context");
		return ctx;
	};
}

const text = (data: Buffer) => data.toString("utf8");

/** True on the dev engine where it differs from the real one on purpose; `row` is the docs/engine.md row. */
function devEngineDiffers(kind: EngineKind, _row: GatewayDifference): boolean {
	return kind === "dev";
}
const MiB = 1024 * 1024;

/** The scenarios both runners must pass through the gateway of either engine. */
export function describeTunnelScenarios(
	label: string,
	RunnerClass: TunnelRunnerClass,
	kind: EngineKind = "dev",
): void {
	describe(label, () => {
		describeGatewayScenarios(RunnerClass, kind);
		describeHibernationScenarios(RunnerClass, kind);
	});
}

function describeGatewayScenarios(
	RunnerClass: TunnelRunnerClass,
	kind: EngineKind,
): void {
	const ours = RunnerClass === (OurRunner as unknown);
	describe("HTTP and WebSocket", () => {
		const ctx = useTunnelContext(RunnerClass, {}, {}, kind);

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

		it("HTTP: header addressing routes only /request paths; elsewhere 404 guard.no_route", async () => {
			const { engine, actor } = ctx();
			const id = await actor();
			const headers = { "x-rivet-target": "actor", "x-rivet-actor": id };
			const root = await fetch(`${engine.url}/request`, { headers });
			expect(root.headers.get("x-path")).toBe("/request");
			for (const path of ["/other/x", "/requests", "/"]) {
				const response = await fetch(`${engine.url}${path}`, { headers });
				expect(response.status).toBe(404);
				expect(response.headers.get("x-rivet-error")).toBe("guard.no_route");
			}
		});

		it("HTTP: a 20 MiB request body goes through and back; one byte more is refused 413", async () => {
			const { engine, actor } = ctx();
			const id = await actor();
			const body = new Uint8Array(20 * MiB);
			body[0] = 1;
			body[body.length - 1] = 2;
			const ok = await fetch(`${engine.url}/gateway/${id}/echo`, {
				method: "POST",
				body,
			});
			expect(ok.status).toBe(200);
			const echoed = new Uint8Array(await ok.arrayBuffer());
			expect(echoed.byteLength).toBe(20 * MiB);
			expect([echoed[0], echoed[echoed.length - 1]]).toEqual([1, 2]);
			const tooBig = await fetch(`${engine.url}/gateway/${id}/echo`, {
				method: "POST",
				body: new Uint8Array(20 * MiB + 1),
			});
			expect(tooBig.status).toBe(413);
			expect(tooBig.headers.get("x-rivet-error")).toBe(
				"guard.invalid_request_body",
			);
		}, 60_000);

		it("HTTP: a response body past 20 MiB is refused by the runner with a 500, and it keeps serving", async () => {
			const { engine, actor } = ctx();
			const id = await actor();
			const tooBig = await fetch(
				`${engine.url}/gateway/${id}/sized?n=${20 * MiB + 1}`,
			);
			expect(tooBig.status).toBe(500);
			// Ours names the refusal; R answers a bare "Internal Server Error" (it throws inside its send and the
			// catch-all answers). Neither sends the body, which would make the engine drop the runner socket.
			expect(await tooBig.text()).toBe(
				ours ? "Response body too large" : "Internal Server Error",
			);
			const after = await fetch(`${engine.url}/gateway/${id}/echo`);
			expect(after.status).toBe(200);
		});

		it("HTTP: the actor sees the client's request headers (both engines pass the same set) plus x-rivet-ray-id", async () => {
			const { engine, actor } = ctx();
			const id = await actor();
			const sent = {
				"x-test": "t",
				cookie: "c=1",
				authorization: "Bearer x",
				"x-forwarded-for": "1.2.3.4",
				"user-agent": "tunnel-test",
				"x-rivet-custom": "kept",
			};
			const byPath = await fetch(`${engine.url}/gateway/${id}/headers`, {
				headers: sent,
			});
			const seen = (await byPath.json()) as Record<string, string>;
			expect(seen).toMatchObject(sent);
			expect(seen["x-rivet-ray-id"]).toMatch(/^[0-9a-z]{30}$/);
			expect(seen.host).toBe(new URL(engine.url).host);
			const byHeader = await fetch(`${engine.url}/request/headers`, {
				headers: { "x-rivet-target": "actor", "x-rivet-actor": id },
			});
			const seenByHeader = (await byHeader.json()) as Record<string, string>;
			expect([
				seenByHeader["x-rivet-target"],
				seenByHeader["x-rivet-actor"],
			]).toEqual(["actor", id]);
		});

		it("HTTP: repeated response headers are joined with ', '; only the last Set-Cookie survives", async () => {
			const { engine, actor } = ctx();
			const id = await actor();
			const response = await fetch(`${engine.url}/gateway/${id}/cookies`);
			expect(response.headers.get("x-multi")).toBe("one, two");
			expect(response.headers.getSetCookie()).toEqual(["b=2"]);
		});

		it("HTTP and WebSocket: an unknown actor is refused, the error named in x-rivet-error or the close reason", async () => {
			const { engine, client } = ctx();
			// A well-formed id of this datacenter (label 1) that names no actor.
			const missing = newRivetId();
			const response = await fetch(`${engine.url}/gateway/${missing}/x`);
			expect([response.status, response.headers.get("x-rivet-error")]).toEqual([
				404,
				"actor.not_found",
			]);
			expect(response.headers.get("content-type")).toMatch(/json/);
			// Over WebSocket the gateway accepts, then closes 1011 with the same error and a ray id.
			const closed = await client(`/gateway/${missing}/ws`).closed;
			expect(closed.code).toBe(1011);
			expect(closed.reason).toMatch(/^actor\.not_found#[0-9a-z]{30}$/);
			// The same id with another datacenter label (its last digits): refused before any actor is looked up.
			const elsewhere = `${missing.slice(0, -3)}m00`;
			const foreign = await fetch(`${engine.url}/gateway/${elsewhere}/x`);
			expect([foreign.status, foreign.headers.get("x-rivet-error")]).toEqual([
				400,
				"datacenter.not_found",
			]);
			const foreignClosed = await client(`/gateway/${elsewhere}/ws`).closed;
			expect(foreignClosed.code).toBe(1011);
			expect(foreignClosed.reason).toMatch(/^datacenter\.not_found#/);
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
			const { engine, actor, runner, log } = ctx();
			const id = await actor({ crash_policy: "sleep" });
			runner.sleepActor(id);
			await engine.untilActor(id, isSleeping);
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

		it("WebSocket: messages to the 20 MiB edge both ways; past it the actor's send throws, the client's per engine", async () => {
			const { actor, client } = ctx();
			const id = await actor();
			const socket = client(`/gateway/${id}/ws`);
			await socket.opened;
			const edge = new Uint8Array(20 * MiB);
			edge[edge.length - 1] = 7;
			socket.ws.send(edge);
			socket.ws.send(`sized:${20 * MiB + 1}`);
			await socket.received(2, 30_000);
			expect(socket.messages[0]?.data.byteLength).toBe(20 * MiB);
			expect(socket.messages[0]?.data[20 * MiB - 1]).toBe(7);
			// Ours throws a typed error that says what to do; R throws a plain Error.
			expect(text(socket.messages[1]?.data as Buffer)).toBe(
				ours
					? "refused:TunnelMessageTooLargeError:A WebSocket message of 20971521 bytes exceeds the tunnel limit of 20971520 bytes; it was not sent. Split it into smaller messages."
					: "refused:Error:WebSocket message too large",
			);
			socket.ws.send(new Uint8Array(20 * MiB + 1));
			socket.ws.send("after");
			if (devEngineDiffers(kind, "D12")) {
				expect(await socket.closed).toEqual({ code: 1009, reason: "" });
				expect(socket.messages).toHaveLength(2);
			} else {
				// Real engine 2.3.19: the oversized client message is dropped without a word and the socket carries
				// on (the next message is the next echo).
				await socket.received(3);
				expect(text(socket.messages[2]?.data as Buffer)).toBe("after");
			}
		}, 60_000);

		it("WebSocket: the gateway answers subprotocol rivet, so a client must offer it", async () => {
			const { actor, client } = ctx();
			const id = await actor();
			const offeredNone = client(`/gateway/${id}/ws`, []);
			const targetOnly = client("/ws", [
				"rivet_target.actor",
				`rivet_actor.${id}`,
			]);
			// Both engines answer `rivet` whatever was offered; ws aborts a handshake answered with an unoffered
			// subprotocol.
			await expect(offeredNone.opened).rejects.toThrow(
				/subprotocol but none was requested/,
			);
			await expect(targetOnly.opened).rejects.toThrow(/invalid subprotocol/);
			await Promise.all([offeredNone.closed, targetOnly.closed]);
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

		it("WebSocket: a close without a code, both ways", async () => {
			const { actor, client, log } = ctx();
			const id = await actor();
			const fromActor = client(`/gateway/${id}/ws`);
			await fromActor.opened;
			fromActor.ws.send("close::");
			// Ours sends the gateway no code (as the WHATWG close() does), and both engines then close the client
			// 1000 ws.closed; R fills in 1000 itself, which the engines pass on with an empty reason.
			expect(await fromActor.closed).toEqual(
				ours ? { code: 1000, reason: "ws.closed" } : { code: 1000, reason: "" },
			);
			const fromClient = client(`/gateway/${id}/ws`);
			await fromClient.opened;
			fromClient.ws.send("ping");
			await fromClient.received(1);
			fromClient.ws.close();
			await log.until("the client's close heard", () => log.closes.length > 0);
			// Both engines forward a close frame without a status as no code: ours reports 1005 (WHATWG "no status
			// received"), R reports 1000.
			expect(log.closes).toEqual([
				ours ? { code: 1005, reason: "" } : { code: 1000, reason: "" },
			]);
		});

		it("WebSocket: addressed by x-rivet-* headers (HTTP only): accepted, then closed 1011 guard.websocket_not_supported", async () => {
			const { actor, wsUrl } = ctx();
			const id = await actor();
			const socket = new WebSocket(wsUrl("/request/ws"), ["rivet"], {
				headers: { "x-rivet-target": "actor", "x-rivet-actor": id },
			});
			const messages: string[] = [];
			socket.on("message", (data) => messages.push(String(data)));
			socket.once("open", () => socket.send("by headers"));
			const closed = await new Promise<{ code: number; reason: string }>(
				(resolve) => {
					socket.on("message", () => socket.close(1000, "done"));
					socket.once("close", (code, reason) =>
						resolve({ code, reason: reason.toString() }),
					);
				},
			);
			// WebSockets are addressed by path or subprotocols; the actor never sees this one.
			expect(messages).toEqual([]);
			expect(closed.code).toBe(1011);
			expect(closed.reason).toMatch(
				/^guard\.websocket_not_supported#[0-9a-z]{30}$/,
			);
		});

		it("WebSocket: a burst of messages arrives in order", async () => {
			const { actor, client } = ctx();
			const id = await actor();
			// The real engine's gateway is CPU-bound here (~1 s per 250 echoed messages on 2 cores): a smaller burst.
			const count = kind === "rivet" ? 250 : 1000;
			const socket = client(`/gateway/${id}/ws`);
			await socket.opened;
			for (let i = 0; i < count; i++) socket.ws.send(`m${i}`);
			await socket.received(count);
			expect(socket.messages.map((m) => text(m.data))).toEqual(
				Array.from({ length: count }, (_, i) => `m${i}`),
			);
		});

		it("WebSocket: destroying the actor closes the actor's socket 1000 actor.stopped; the client's per engine", async () => {
			const { actor, client, engine, log } = ctx();
			const id = await actor();
			const socket = client(`/gateway/${id}/ws`);
			await socket.opened;
			const destroyed = await engine.api(`/actors/${id}?namespace=default`, {
				method: "DELETE",
			});
			expect(destroyed.status).toBe(200);
			await log.until("the actor's socket closed", () => log.closes.length > 0);
			expect(log.closes).toEqual([{ code: 1000, reason: "actor.stopped" }]);
			if (devEngineDiffers(kind, "D11")) {
				expect(await socket.closed).toEqual({
					code: 1000,
					reason: "actor.stopped",
				});
			} else {
				// Real engine 2.3.19: guard keeps the client socket open after its actor is destroyed (seen open
				// > 10 s, messages sent on it answered by nothing) until its tunnel ping times out.
				await engine.untilActor(id, isDestroyed);
				expect(socket.ws.readyState).toBe(WebSocket.OPEN);
			}
		});
	});
}

/** What a hibernating actor keeps across sleeps (a real actor would keep it in KV), and what it saw. */
export class HibernationLog extends Recorder {
	readonly persisted = new Map<string, HibernatingWebSocketMetadata>();
	readonly received: string[] = [];
	readonly acked: number[] = [];
	readonly starts: string[] = [];
	readonly stops: string[] = [];
	/** One entry per socket handed back to the actor at a start (`isRestoring`). */
	readonly restores: string[] = [];
	readonly closes: string[] = [];
	runner: HibernationRunner | undefined;
}

/** What both runners offer a hibernating actor. */
export interface HibernationRunner extends TunnelRunner {
	restoreHibernatingRequests(
		actorId: string,
		entries: HibernatingWebSocketMetadata[],
	): Promise<void>;
	sendHibernatableWebSocketMessageAck(
		gatewayId: ArrayBuffer,
		requestId: ArrayBuffer,
		index: number,
	): void;
}

const hex = (id: ArrayBuffer) => Buffer.from(id).toString("hex");

/**
 * An actor whose sockets hibernate: it persists each socket's metadata, restores them all at start, acks every
 * message except those starting `noack:`, echoes `echo:<message>`, and says `restored` on a restored socket.
 */
export function hibernatingActor(log: HibernationLog) {
	return {
		hibernatableWebSocket: { canHibernate: () => true },
		onActorStart: async (actorId: string) => {
			log.record(() => log.starts.push(actorId));
			await log.runner?.restoreHibernatingRequests(actorId, [
				...log.persisted.values(),
			]);
		},
		onActorStop: async (actorId: string) => {
			log.record(() => log.stops.push(actorId));
		},
		websocket: async (
			runner: HibernationRunner,
			_actorId: string,
			ws: ActorSocket,
			gatewayId: ArrayBuffer,
			requestId: ArrayBuffer,
			_request: Request,
			path: string,
			headers: Record<string, string>,
			_isHibernatable: boolean,
			isRestoring: boolean,
		) => {
			const key = hex(requestId);
			if (isRestoring) log.record(() => log.restores.push(key));
			else
				log.persisted.set(key, {
					gatewayId,
					requestId,
					clientMessageIndex: 0,
					serverMessageIndex: 0,
					path,
					headers,
				});
			ws.addEventListener("message", (event) => {
				const data = event.data as string;
				const index = (event as unknown as { rivetMessageIndex: number })
					.rivetMessageIndex;
				log.record(() => log.received.push(data));
				if (!data.startsWith("noack:")) {
					const meta = log.persisted.get(key);
					if (meta) meta.serverMessageIndex = index;
					runner.sendHibernatableWebSocketMessageAck(
						gatewayId,
						requestId,
						index,
					);
					log.acked.push(index);
				}
				ws.send(`echo:${data}`);
			});
			ws.addEventListener("close", (event) => {
				log.record(() => {
					log.persisted.delete(key);
					log.closes.push(`${event.code} ${event.reason}`);
				});
			});
			if (isRestoring) ws.send("restored");
		},
	};
}

/** Hibernatable WebSockets: the actor sleeps while its client stays connected, and wakes for it. */
function describeHibernationScenarios(
	RunnerClass: TunnelRunnerClass,
	kind: EngineKind,
): void {
	describe("hibernatable WebSockets across an actor sleep", () => {
		const log = new HibernationLog();
		const ctx = useTunnelContext(
			RunnerClass,
			hibernatingActor(log),
			{ gateway: { hibernationAckTimeoutMs: 5_000 } },
			kind,
		);
		beforeEach(() => {
			log.persisted.clear();
			log.received.length = 0;
			log.acked.length = 0;
			log.starts.length = 0;
			log.stops.length = 0;
			log.restores.length = 0;
			log.closes.length = 0;
			log.runner = ctx().runner as HibernationRunner;
		});

		/**
		 * A sleep-policy actor whose socket sent `messages` (each echoed), then the actor put to sleep. With
		 * `wakesAtOnce` (an unacked message) it is not awaited asleep: both engines wake it right away.
		 */
		async function socketOfSleepingActor(
			messages: string[],
			{ wakesAtOnce = false } = {},
		) {
			const { actor, client, runner, engine } = ctx();
			const id = await actor({ crash_policy: "sleep" });
			const socket = client(`/gateway/${id}/hws`);
			await socket.opened;
			for (const message of messages) socket.ws.send(message);
			await socket.received(messages.length);
			runner.sleepActor(id);
			// Both: the engine shows it asleep (set as soon as the engine takes the sleep intent) and the runner
			// has stopped it (until then the real engine still delivers messages to the running actor).
			if (!wakesAtOnce) await engine.untilActor(id, isSleeping);
			await log.until("the actor stopped", () => log.stops.includes(id));
			return { id, socket };
		}

		it("the actor sleeps, the client stays, a message wakes it: nothing lost or duplicated, acks sent", async () => {
			const { id, socket } = await socketOfSleepingActor(["a", "b"]);
			expect(socket.ws.readyState).toBe(WebSocket.OPEN);
			socket.ws.send("c");
			socket.ws.send("d");
			await socket.receivedText("echo:d");
			expect(log.starts).toEqual([id, id]);
			expect(log.restores).toHaveLength(1);
			expect(log.received).toEqual(["a", "b", "c", "d"]);
			expect(log.acked).toEqual([1, 2, 3, 4]);
			expect(socket.texts().filter((t) => t !== "restored")).toEqual([
				"echo:a",
				"echo:b",
				"echo:c",
				"echo:d",
			]);
			// The actor's push while restoring (`restored`): the dev engine delivers it; the real engine 2.3.19
			// drops what the actor sends before its gateway re-attaches the socket (a race, seen either way).
			if (devEngineDiffers(kind, "D13"))
				expect(socket.texts()[2]).toBe("restored");
		});

		it("woken by something else (HTTP), the actor restores the socket and it carries messages again", async () => {
			const { engine } = ctx();
			const { id, socket } = await socketOfSleepingActor(["a"]);
			expect((await fetch(`${engine.url}/gateway/${id}/echo`)).status).toBe(
				200,
			);
			await log.until("the socket restored", () => log.restores.length === 1);
			// Dev engine: the push made while restoring reaches the client at once (dropped by the real engine's
			// gateway when it races its re-attach, see above).
			if (devEngineDiffers(kind, "D13")) await socket.receivedText("restored");
			socket.ws.send("b");
			await socket.receivedText("echo:b");
			expect(log.received).toEqual(["a", "b"]);
		});

		it("a client that leaves while the actor sleeps: the actor hears its close (dev); not on the real engine", async () => {
			const { engine } = ctx();
			const { id, socket } = await socketOfSleepingActor(["a"]);
			socket.ws.close(4100, "bye");
			if (devEngineDiffers(kind, "D14")) {
				// The dev engine wakes the actor, restores the socket and delivers the client's close.
				await log.until(
					"the actor heard the close",
					() => log.closes.length > 0,
				);
				expect(log.starts).toEqual([id, id]);
				expect(log.closes).toEqual(["4100 bye"]);
				expect(log.persisted.size).toBe(0);
				return;
			}
			// Real engine 2.3.19: a close while its gateway holds the socket hibernating ends the hibernation and
			// deletes the socket's hibernating entry; the close itself goes nowhere, and whether it also wakes the
			// actor depends on timing. At the actor's next start (forced here by a request; the start, restore
			// included, is over when the request is answered) either StartActor no longer lists the socket and the
			// runner closes the persisted one `1000 ws.stale_metadata`, or the delete lost the race and the actor
			// restores a socket whose client is gone, told nothing. Both seen; the client's 4100 never arrives.
			await socket.closed;
			expect((await fetch(`${engine.url}/gateway/${id}/echo`)).status).toBe(
				200,
			);
			expect(log.starts).toEqual([id, id]);
			expect(log.restores).toHaveLength(1);
			expect([[], ["1000 ws.stale_metadata"]]).toContainEqual(log.closes);
		});

		it("a message the actor never acked wakes it as soon as it sleeps and is redelivered, acked ones are not", async () => {
			const { id, socket } = await socketOfSleepingActor(["kept", "noack:x"], {
				wakesAtOnce: true,
			});
			// No client message: the engine wakes the actor itself for what it still owes it.
			await log.until("the unacked message redelivered", () =>
				log.received.includes("noack:x", 2),
			);
			expect(log.starts).toEqual([id, id]);
			socket.ws.send("y");
			await socket.receivedText("echo:y");
			expect(log.received).toEqual(["kept", "noack:x", "noack:x", "y"]);
		});
	});
}
