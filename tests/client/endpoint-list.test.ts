/**
 * `edgerunner/client` given a list of endpoints: validation, the failover table of failover.ts and
 * `endpointUnreachable` (pure), the request failover with a scripted fetch (fake timers for the jittered delays),
 * then over real sockets: a dev engine with the counter example reached through [a dead port, a TCP relay, the
 * engine itself], the relay cut under an open socket and a request, and a proxy answering 502 in front.
 */
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { afterEach, describe, expect, test, vi } from "vitest";
import { WebSocket } from "ws";
// @ts-expect-error plain ESM example without type declarations
import { counterActors } from "../../examples/counter/counter.mjs";
import { EndpointList } from "../../src/client/endpoints.ts";
import {
	fetchWithFailover,
	mayRepeat,
	unreachableFrom,
} from "../../src/client/failover.ts";
import {
	ActorClient,
	type ActorSocket,
	ClientConfigError,
	endpointUnreachable,
} from "../../src/client/index.ts";
import type { Runner } from "../../src/core/index.ts";
import { startEngine } from "../../src/engine/index.ts";
import { counterRunner } from "../helpers/counter-runner.ts";
import { TcpRelay } from "../helpers/tcp-relay.ts";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
	vi.useRealTimers();
	vi.restoreAllMocks();
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const refusedError = () =>
	Object.assign(new TypeError("fetch failed"), {
		cause: Object.assign(new Error("connect ECONNREFUSED"), {
			code: "ECONNREFUSED",
		}),
	});

describe("validation", () => {
	test.each([
		[[], /empty list/],
		[["http://a:1", 7], /endpoint\[1\] must be an absolute http\(s\) URL/],
		[["http://a:1", "not a url"], /endpoint\[1\] must be an absolute/],
		[["http://a:1", "ws://b:1"], /endpoint\[1\] must be http\(s\), got ws:/],
		[
			["http://a:1", "http://a:1/"],
			/endpoint\[1\] is the same as endpoint\[0\]/,
		],
	])("%j is a ClientConfigError naming the entry", (endpoint, message) => {
		expect(() => new ActorClient({ endpoint: endpoint as string[] })).toThrow(
			ClientConfigError,
		);
		expect(() => new ActorClient({ endpoint: endpoint as string[] })).toThrow(
			message,
		);
	});

	test("a list is accepted; endpoint is the current one, endpoints all of them", () => {
		const client = new ActorClient({ endpoint: ["http://a:1/", "https://b"] });
		expect(client.endpoint).toBe("http://a:1");
		expect(client.endpoints).toEqual(["http://a:1", "https://b"]);
		expect(client.actor("x").url("/p")).toBe("http://a:1/gateway/x/p");
		expect(new ActorClient({ endpoint: "http://a:1/" }).endpoint).toBe(
			"http://a:1",
		);
	});
});

describe("the failover table (failover.ts)", () => {
	test("which outcomes say the endpoint is unreachable", () => {
		expect(unreachableFrom({ error: refusedError() })).toBe("refused");
		const deno = new TypeError("fetch failed", {
			cause: new Error("tcp connect error: Connection refused (os error 111)"),
		});
		expect(unreachableFrom({ error: deno })).toBe("refused");
		expect(unreachableFrom({ error: new TypeError("socket hang up") })).toBe(
			"network",
		);
		for (const status of [502, 503, 504])
			expect(unreachableFrom({ response: new Response("", { status }) })).toBe(
				"proxy",
			);
		const engine503 = new Response("", {
			status: 503,
			headers: { "x-rivet-error": "guard.service_unavailable" },
		});
		expect(unreachableFrom({ response: engine503 })).toBeUndefined();
		expect(
			unreachableFrom({ response: new Response("", { status: 500 }) }),
		).toBeUndefined();
		const abort = new DOMException("aborted", "AbortError");
		expect(unreachableFrom({ error: abort })).toBeUndefined();
	});

	test("what may be sent again: a refused connect always; otherwise idempotent methods; never a stream body", () => {
		expect(mayRepeat("refused", "POST", "{}")).toBe(true);
		expect(mayRepeat("network", "POST", "{}")).toBe(false);
		expect(mayRepeat("proxy", "POST", "{}")).toBe(false);
		expect(mayRepeat("network", "PUT", "{}")).toBe(true);
		expect(mayRepeat("proxy", "get", undefined)).toBe(true);
		expect(mayRepeat("refused", "PUT", new ReadableStream())).toBe(false);
	});

	test("socket closes that move the client to the next endpoint", () => {
		for (const [code, reason] of [
			[1000, ""],
			[1000, "timeout"],
			[1006, ""],
			[0, ""],
			[1001, ""],
			[1012, ""],
			[1014, ""],
		] as const)
			expect(endpointUnreachable(code, reason), `${code} ${reason}`).toBe(true);
		for (const [code, reason] of [
			[1000, "actor.stopped#ray"], // a gateway answered: the node is up
			[1011, "guard.websocket_service_unavailable#r"],
			[1000, "bye"], // the actor closed it
			[1011, ""],
			[4001, "app"],
		] as const)
			expect(endpointUnreachable(code, reason), `${code} ${reason}`).toBe(
				false,
			);
	});
});

describe("request failover with a scripted fetch", () => {
	function scriptedFetch(outcomes: Record<string, () => Response>) {
		const calls: string[] = [];
		const fetchImpl = (async (input: string | URL | Request) => {
			const url = new URL(String(input));
			calls.push(url.host);
			const outcome = outcomes[url.host];
			if (!outcome) throw refusedError();
			return outcome();
		}) as typeof fetch;
		return { calls, fetchImpl };
	}

	test("A refused: the request goes to B; the client stays on B for the next one", async () => {
		const { calls, fetchImpl } = scriptedFetch({
			b: () => Response.json({ actor: { actor_id: "x1" } }),
		});
		const client = new ActorClient({
			endpoint: ["http://a", "http://b", "http://c"],
			fetch: fetchImpl,
			retryDelays: { baseMs: 0 },
		});
		const request = { name: "n", runnerNameSelector: "r" };
		expect((await client.create(request)).id).toBe("x1"); // POST: a refused connect sent nothing
		expect(client.endpoint).toBe("http://b");
		await client.create(request);
		expect(calls).toEqual(["a", "b", "b"]);
	});

	test("a POST that failed after it may have been sent is not repeated; the next request goes to B", async () => {
		const { calls, fetchImpl } = scriptedFetch({
			a: () => {
				throw new TypeError("other side closed");
			},
			b: () => new Response("ok"),
		});
		const client = new ActorClient({
			endpoint: ["http://a", "http://b"],
			fetch: fetchImpl,
			retryDelays: { baseMs: 0 },
		});
		const handle = client.actor("x");
		await expect(
			handle.fetch("/increment", { method: "POST" }),
		).rejects.toThrow("other side closed");
		expect(calls).toEqual(["a"]);
		expect(await (await handle.fetch("/count")).text()).toBe("ok");
		expect(calls).toEqual(["a", "b"]);
	});

	test("a proxy's 502 on A: a GET is repeated on B", async () => {
		const { calls, fetchImpl } = scriptedFetch({
			a: () => new Response("bad gateway", { status: 502 }),
			b: () => new Response("ok"),
		});
		const client = new ActorClient({
			endpoint: ["http://a", "http://b"],
			fetch: fetchImpl,
			retryDelays: { baseMs: 0 },
		});
		expect((await client.actor("x").fetch("/count")).status).toBe(200);
		expect(calls).toEqual(["a", "b"]);
	});

	test("every endpoint refused: one try each, with the client's jittered backoff between, then the error", async () => {
		vi.useFakeTimers();
		vi.spyOn(Math, "random").mockReturnValue(0.999_999);
		const { calls, fetchImpl } = scriptedFetch({});
		const endpoints = new EndpointList(["http://a", "http://b", "http://c"]);
		const done = fetchWithFailover({
			endpoints,
			fetch: fetchImpl,
			url: (base) => `${base}/x`,
			init: {},
			delays: { baseMs: 100 },
		});
		const outcome = done.catch((err: unknown) => err);
		await vi.advanceTimersByTimeAsync(98);
		expect(calls).toEqual(["a"]);
		await vi.advanceTimersByTimeAsync(1); // ceiling 100 (attempt 1)
		expect(calls).toEqual(["a", "b"]);
		await vi.advanceTimersByTimeAsync(198);
		expect(calls).toEqual(["a", "b"]);
		await vi.advanceTimersByTimeAsync(1); // ceiling 200 (attempt 2)
		expect(calls).toEqual(["a", "b", "c"]);
		expect(await outcome).toMatchObject({ cause: { code: "ECONNREFUSED" } });
		expect(endpoints.current).toBe("http://a"); // round robin: c failed, a is next
	});

	test("one endpoint: nothing is repeated, as before", async () => {
		const { calls, fetchImpl } = scriptedFetch({});
		const client = new ActorClient({ endpoint: "http://a", fetch: fetchImpl });
		await expect(client.actor("x").fetch("/count")).rejects.toThrow(
			"fetch failed",
		);
		expect(calls).toEqual(["a"]);
	});
});

/** Resolves with the next message on `socket`. */
function nextMessage(socket: ActorSocket): Promise<string> {
	return new Promise((resolve) =>
		socket.addEventListener("message", (event) => resolve(String(event.data)), {
			once: true,
		}),
	);
}

async function deadEndpoint(): Promise<string> {
	const server = createServer();
	await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
	const { port } = server.address() as { port: number };
	await new Promise<void>((r) => server.close(() => r()));
	return `http://127.0.0.1:${port}`;
}

async function counterEngine() {
	const engine = await startEngine({ port: 0 });
	cleanups.push(() => engine.close());
	let runner: Runner | undefined;
	const counter = counterActors(() => runner);
	cleanups.push(() => counter.stopAll());
	const next = counterRunner(engine.url, "counter", counter as object);
	runner = next.runner;
	cleanups.push(() => next.runner.shutdown(true));
	await next.start();
	return engine;
}

describe("over real sockets: a dev engine behind a dead port, a relay and a proxy", () => {
	const request = {
		name: "counter",
		key: "k",
		runnerNameSelector: "counter",
		crashPolicy: "destroy" as const,
	};

	test("[dead, relay, engine]: the API skips the dead port; cutting the relay moves the open socket and the next request to the engine", async () => {
		const engine = await counterEngine();
		const relay = new TcpRelay(engine.url);
		const viaRelay = await relay.listen();
		cleanups.push(() => relay.close());
		const dead = await deadEndpoint();
		const client = new ActorClient({
			endpoint: [dead, viaRelay, engine.url],
			WebSocket,
			retryDelays: { baseMs: 50 },
		});
		const handle = await client.getOrCreate(request);
		expect(client.endpoint).toBe(viaRelay);
		const socket = handle.connect("/ws", {
			reconnectDelays: { baseMs: 50, maxMs: 200 },
		});
		cleanups.push(() => socket.close());
		expect(JSON.parse(await nextMessage(socket))).toEqual({ count: 1 });
		expect(relay.requested.filter((r) => r.includes("/gateway/"))).toHaveLength(
			1,
		);

		const reopened = new Promise<void>((resolve) =>
			socket.addEventListener("open", () => resolve(), { once: true }),
		);
		const countAfter = nextMessage(socket);
		relay.cut("both");
		await reopened;
		expect(client.endpoint).toBe(engine.url);
		expect(JSON.parse(await countAfter)).toEqual({ count: 1 });
		const pushed = nextMessage(socket);
		socket.send("increment");
		expect(JSON.parse(await pushed)).toEqual({ count: 2 });

		const response = await handle.fetch("/increment", { method: "POST" });
		expect(await response.json()).toEqual({ count: 3 });
		expect(relay.requested.filter((r) => r.includes("/gateway/"))).toHaveLength(
			1,
		);
	});

	test("[a proxy answering 502, engine]: getOrCreate (PUT) and a GET through the gateway are repeated on the engine", async () => {
		const engine = await counterEngine();
		const proxied: string[] = [];
		const proxy = createHttpServer((req, res) => {
			proxied.push(`${req.method} ${req.url}`);
			res.writeHead(502).end("no upstream");
		});
		await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
		cleanups.push(() => new Promise((r) => proxy.close(r)));
		const proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
		const client = new ActorClient({
			endpoint: [proxyUrl, engine.url],
			WebSocket,
			retryDelays: { baseMs: 20 },
		});
		const handle = await client.getOrCreate(request);
		expect(client.endpoint).toBe(engine.url);
		expect(await (await handle.fetch("/count")).json()).toEqual({ count: 1 });
		expect(proxied).toEqual(["PUT /actors?namespace=default"]);
	});
});
