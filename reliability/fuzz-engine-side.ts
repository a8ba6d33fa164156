/**
 * Dev-engine-side fuzz (src/engine `startEngine`): generated and mutated `ToServer` frames on its runner socket,
 * bad connects, the HTTP API (odd methods, paths, query strings, headers, bodies, content types and encodings,
 * huge and invalid JSON), the HTTP gateway and the WebSocket gateway (odd paths, headers, methods, subprotocols,
 * frames and close codes).
 *
 * Runner-socket frames go one at a time, each followed by a probe (a KV request the engine must answer): when the
 * probe's answer is back the frame has been handled, and the engine's log lines since are that frame's. Holds
 * when the engine answers every KV request with a KV response, logs every undecodable frame, closes only with the
 * documented reasons, never closes `core.internal_error`, never answers a client 5xx, and still serves a healthy
 * runner, the API and the gateway after each batch.
 */
import { request as httpRequest } from "node:http";
import { connect as netConnect } from "node:net";
import * as protocol from "@rivetkit/engine-runner-protocol";
import { WebSocket } from "ws";
import { Runner } from "../src/core/runner.ts";
import { type RunningEngine, startEngine } from "../src/engine/index.ts";
import { wsForUplink } from "../src/runtimes/ws-for-uplink.ts";
import {
	badConnect,
	type EngineFrame,
	initFrameFor,
	nextToServer,
} from "./fuzz-toserver.ts";
import { hex, randomString } from "./fuzz-values.ts";
import { createPrng, type Prng } from "./prng.ts";

export interface EngineFuzzOptions {
	seed: number;
	/** ToServer frames on the runner socket. */
	frames: number;
	/** Connects refused at the handshake (bad first frame, query, version). */
	badConnects: number;
	httpRequests: number;
	gatewayRequests: number;
	gatewaySockets: number;
	oversizedRate?: number;
	heapBoundMb?: number;
	progress?: (line: string) => void;
}

export interface EngineFailure {
	seed: number;
	target: string;
	case: number;
	generator: string;
	problem: string;
	input: string;
}

export interface EngineFuzzResult {
	seed: number;
	durationMs: number;
	counts: Record<string, number>;
	byGenerator: Record<string, number>;
	framesPerSecond: number;
	httpStatuses: Record<string, number>;
	gatewayStatuses: Record<string, number>;
	wsOutcomes: Record<string, number>;
	closeReasons: Record<string, number>;
	errorCodes: Record<string, number>;
	logKinds: Record<string, number>;
	heapStartMb: number;
	heapEndMb: number;
	uncaught: string[];
	unhandledRejections: string[];
	checks: Record<string, boolean>;
	failures: EngineFailure[];
	/** The engine's log lines that report an internal error (must be none). */
	internalErrorLines: string[];
}

const PROBE_ACTOR = "0".repeat(30);
const PROBE_BASE = 0xf000_0000;

/** A hand-driven runner socket: answers pings, starts and stops; resolves KV answers by request id. */
class RawSocket {
	readonly ws: WebSocket;
	readonly opened: Promise<boolean>;
	readonly closed: Promise<{ code: number; reason: string }>;
	closeInfo: { code: number; reason: string } | undefined;
	readonly actors = new Map<string, number>();
	readonly #kv = new Map<number, (r: protocol.KvResponseData) => void>();
	readonly #eventIdx = new Map<string, number>();
	initialized = false;
	#onInit: (() => void) | undefined;

	constructor(url: string, query: string) {
		this.ws = new WebSocket(
			`${url.replace("http", "ws")}/runners/connect?${query}`,
			["rivet"],
		);
		this.opened = new Promise((resolve) => {
			this.ws.once("open", () => resolve(true));
			this.ws.once("error", () => resolve(false));
		});
		this.closed = new Promise((resolve) => {
			this.ws.once("close", (code, reason) => {
				this.closeInfo = { code, reason: reason.toString() };
				resolve(this.closeInfo);
			});
		});
		this.ws.on("error", () => {});
		this.ws.on("message", (data, isBinary) => {
			if (!isBinary) return;
			let message: protocol.ToClient;
			try {
				message = protocol.decodeToClient(new Uint8Array(data as Buffer));
			} catch {
				return;
			}
			this.#handle(message);
		});
	}

	#handle(message: protocol.ToClient): void {
		switch (message.tag) {
			case "ToClientInit":
				this.initialized = true;
				this.#onInit?.();
				return;
			case "ToClientPing":
				this.send(
					protocol.encodeToServer({
						tag: "ToServerPong",
						val: { ts: message.val.ts },
					}),
				);
				return;
			case "ToClientKvResponse": {
				const waiter = this.#kv.get(message.val.requestId);
				this.#kv.delete(message.val.requestId);
				waiter?.(message.val.data);
				return;
			}
			case "ToClientCommands":
				for (const { checkpoint, inner } of message.val) {
					const { actorId, generation } = checkpoint;
					if (inner.tag === "CommandStartActor") {
						this.actors.set(actorId, generation);
						this.#event(actorId, generation, {
							tag: "ActorStateRunning",
							val: null,
						});
					} else {
						this.actors.delete(actorId);
						this.#event(actorId, generation, {
							tag: "ActorStateStopped",
							val: { code: protocol.StopCode.Ok, message: null },
						});
					}
				}
				return;
		}
	}

	#event(
		actorId: string,
		generation: number,
		state: protocol.ActorState,
	): void {
		const key = `${actorId}/${generation}`;
		const index = this.#eventIdx.get(key) ?? 0;
		this.#eventIdx.set(key, index + 1);
		this.send(
			protocol.encodeToServer({
				tag: "ToServerEvents",
				val: [
					{
						checkpoint: { actorId, generation, index: BigInt(index) },
						inner: { tag: "EventActorStateUpdate", val: { state } },
					},
				],
			}),
		);
	}

	send(data: Uint8Array | string): void {
		if (this.ws.readyState === 1) this.ws.send(data);
	}

	async init(name: string): Promise<boolean> {
		const done = new Promise<void>((resolve) => {
			this.#onInit = resolve;
		});
		this.send(initFrameFor(name));
		return Promise.race([
			done.then(() => true),
			this.closed.then(() => false),
			new Promise<boolean>((r) => setTimeout(() => r(false), 5000)),
		]);
	}

	/** The KV answer to `requestId`, or why there was none. */
	kvAnswer(
		requestId: number,
		timeoutMs: number,
	): Promise<protocol.KvResponseData | "closed" | "timeout"> {
		return new Promise((resolve) => {
			const timer = setTimeout(() => {
				this.#kv.delete(requestId);
				resolve("timeout");
			}, timeoutMs);
			this.#kv.set(requestId, (r) => {
				clearTimeout(timer);
				resolve(r);
			});
			void this.closed.then(() => {
				clearTimeout(timer);
				this.#kv.delete(requestId);
				resolve("closed");
			});
		});
	}

	probe(n: number): Promise<protocol.KvResponseData | "closed" | "timeout"> {
		const requestId = PROBE_BASE + (n % 0x0fff_ffff);
		const answer = this.kvAnswer(requestId, 10_000);
		this.send(
			protocol.encodeToServer({
				tag: "ToServerKvRequest",
				val: {
					actorId: PROBE_ACTOR,
					requestId,
					data: { tag: "KvDropRequest", val: null },
				},
			}),
		);
		return answer;
	}

	close(): void {
		if (this.ws.readyState <= 1) this.ws.terminate();
	}
}

interface HttpAnswer {
	status: number;
	headers: Record<string, string | string[] | undefined>;
	body: string;
}

function send(
	base: URL,
	method: string,
	path: string,
	headers: Record<string, string>,
	body: Uint8Array | string | undefined,
): Promise<HttpAnswer | { error: string }> {
	return new Promise((resolve) => {
		// Node's client sends a DELETE/OPTIONS body without a length unless told: the server would read it as
		// the next request.
		const withLength =
			body === undefined
				? headers
				: { ...headers, "content-length": String(Buffer.byteLength(body)) };
		const req = httpRequest(
			{
				host: base.hostname,
				port: base.port,
				method,
				path,
				headers: withLength,
				timeout: 15_000,
			},
			(res) => {
				const chunks: Buffer[] = [];
				res.on("data", (c: Buffer) => chunks.push(c));
				res.on("end", () =>
					resolve({
						status: res.statusCode ?? 0,
						headers: res.headers,
						body: Buffer.concat(chunks).toString("utf8").slice(0, 65_536),
					}),
				);
				res.on("error", (e) => resolve({ error: String(e) }));
			},
		);
		req.on("timeout", () => req.destroy(new Error("timeout")));
		req.on("error", (e) => resolve({ error: String(e) }));
		if (body !== undefined) req.write(body);
		req.end();
	});
}

/** A request line Node's client would refuse to send: raw bytes on a socket; resolves with the status line. */
function sendRaw(base: URL, raw: string): Promise<string> {
	return new Promise((resolve) => {
		const socket = netConnect(Number(base.port), base.hostname);
		let got = "";
		const timer = setTimeout(() => {
			socket.destroy();
			resolve(got.split("\r\n")[0] || "no answer");
		}, 5000);
		socket.on("data", (d) => {
			got += d.toString("latin1");
		});
		socket.on("error", () => {});
		socket.on("close", () => {
			clearTimeout(timer);
			resolve(got.split("\r\n")[0] || "closed without an answer");
		});
		socket.write(raw);
		socket.end();
	});
}

const METHODS = [
	"GET",
	"POST",
	"PUT",
	"DELETE",
	"PATCH",
	"HEAD",
	"OPTIONS",
	"FOO",
	"PROPFIND",
	"TRACE",
	"get",
];
const CONTENT_TYPES = [
	"application/json",
	"application/json; charset=utf-8",
	"application/vnd.api+json",
	"text/plain",
	"application/x-www-form-urlencoded",
	"multipart/form-data; boundary=x",
	"application/json; charset=latin1",
	"",
];

function apiPath(p: Prng, actorIds: string[]): string {
	const id = () =>
		p.pick([
			...actorIds,
			"1".repeat(30),
			"short",
			"%00%ff",
			"%",
			encodeURIComponent(randomString(p, 20)),
			"a".repeat(3000),
		]);
	const base = p.pick([
		"/actors",
		"/actors/",
		`/actors/${id()}`,
		`/actors/${id()}/sleep`,
		`/actors/${id()}/reschedule`,
		`/actors/${id()}/kv/keys/${encodeURIComponent(randomString(p, 10)) || "k"}`,
		`/actors/${id()}/kv`,
		"/actors/names",
		"/runners",
		"/runners/names",
		"/runner-configs",
		`/runner-configs/${encodeURIComponent(randomString(p, 12)) || "x"}`,
		"/namespaces",
		"/datacenters",
		"/metadata",
		"/health",
		"/runners/connect",
		`/${encodeURIComponent(randomString(p, 20))}`,
		"/..%2f..%2fetc%2fpasswd",
		"//actors",
		"/actors/%2e%2e",
	]);
	const query = p.pick([
		"",
		"?namespace=default",
		"?namespace=",
		"?namespace=nope",
		`?namespace=default&${encodeURIComponent(randomString(p, 8)) || "x"}=1`,
		"?namespace=default&limit=-1",
		"?namespace=default&limit=99999999999999999999",
		"?namespace=default&actor_ids=a,b,c&actor_ids=d",
		"?namespace=default&name=x&key=%ff",
		"?namespace=%ff%fe",
		"?&&&==",
		`?namespace=default&cursor=${encodeURIComponent(randomString(p, 30))}`,
		"?namespace=default&include_destroyed=maybe",
	]);
	return base + query;
}

function apiBody(p: Prng): string | Uint8Array | undefined {
	switch (p.int(0, 9)) {
		case 0:
			return undefined;
		case 1:
			return JSON.stringify({
				name: p.pick(["echo", randomString(p, 10)]),
				runner_name_selector: p.pick([
					"fuzz-host",
					"fuzz-raw",
					randomString(p, 8),
				]),
				crash_policy: p.pick(["destroy", "sleep", "restart", "explode"]),
				key: p.chance(0.5) ? randomString(p, 10) : undefined,
				input: p.chance(0.3) ? randomString(p, 20) : undefined,
			});
		case 2:
			return "{";
		case 3:
			return "[".repeat(p.int(10, 200_000));
		case 4:
			return JSON.stringify({ datacenters: { default: { normal: {} } } });
		case 5:
			return `{"a":"${"x".repeat(p.int(1, 4) * 1024 * 1024)}"}`;
		case 6:
			return p.bytes(p.int(1, 512));
		case 7:
			return JSON.stringify(randomString(p, 50));
		case 8:
			return "null";
		default:
			return JSON.stringify({
				[randomString(p, 8)]: randomString(p, 8),
				name: 5,
			});
	}
}

function randomHeaders(p: Prng, body: unknown): Record<string, string> {
	const headers: Record<string, string> = {};
	if (body !== undefined || p.chance(0.2))
		headers["content-type"] = p.pick(CONTENT_TYPES);
	if (p.chance(0.2))
		headers["content-encoding"] = p.pick([
			"gzip",
			"br",
			"deflate",
			"identity",
			"x-unknown",
		]);
	if (p.chance(0.1))
		headers.authorization = p.pick([
			"Bearer ",
			"Bearer x",
			"Basic YTpi",
			"garbage",
		]);
	if (p.chance(0.1))
		headers["x-rivet-target"] = p.pick(["actor", "runner", "", "x"]);
	if (p.chance(0.05))
		headers["x-rivet-actor"] = p.pick(["1".repeat(30), "%ff", ""]);
	if (p.chance(0.1)) headers.origin = p.pick(["http://evil.example", "null"]);
	if (p.chance(0.05)) headers["x-big"] = "y".repeat(p.int(1000, 12_000));
	if (p.chance(0.05)) headers.accept = "application/json";
	return headers;
}

/** Error bodies must carry the engine's shape: `{group, code, message}` (HEAD and 405 have no body). */
function errorShapeOk(method: string, answer: HttpAnswer): boolean {
	if (answer.status < 400) return true;
	if (method.toUpperCase() === "HEAD" || answer.status === 405) return true;
	try {
		const body = JSON.parse(answer.body) as Record<string, unknown>;
		return (
			typeof body.group === "string" &&
			typeof body.code === "string" &&
			typeof body.message === "string"
		);
	} catch {
		return false;
	}
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
function heapAfterGc(): number {
	const gc = (globalThis as { gc?: () => void }).gc;
	if (gc) {
		gc();
		gc();
	}
	return process.memoryUsage().heapUsed;
}

export async function fuzzEngineSide(
	options: EngineFuzzOptions,
): Promise<EngineFuzzResult> {
	const seed = options.seed >>> 0;
	const progress = options.progress ?? (() => {});
	const rootPrng = createPrng(seed ^ 0xe9_61_9e);
	const failures: EngineFailure[] = [];
	const counts = new Map<string, number>();
	const byGenerator = new Map<string, number>();
	const httpStatuses = new Map<string, number>();
	const gatewayStatuses = new Map<string, number>();
	const wsOutcomes = new Map<string, number>();
	const closeReasons = new Map<string, number>();
	const errorCodes = new Map<string, number>();
	const logKinds = new Map<string, number>();
	const checks: Record<string, boolean> = {};
	const bump = (map: Map<string, number>, key: string, n = 1) =>
		map.set(key, (map.get(key) ?? 0) + n);
	const uncaught: string[] = [];
	const unhandled: string[] = [];
	const onUncaught = (e: unknown) =>
		uncaught.push(String((e as Error)?.stack ?? e));
	const onUnhandled = (e: unknown) =>
		unhandled.push(String((e as Error)?.stack ?? e));
	process.on("uncaughtException", onUncaught);
	process.on("unhandledRejection", onUnhandled);
	const failuresPerTarget = new Map<string, number>();
	const fail = (
		target: string,
		n: number,
		generator: string,
		problem: string,
		input: string,
	) => {
		bump(failuresPerTarget, target);
		if ((failuresPerTarget.get(target) ?? 0) <= 10)
			failures.push({ seed, target, case: n, generator, problem, input });
	};

	let logCount = 0;
	let internalErrors = 0;
	const internalErrorLines: string[] = [];
	let lastLine = "";
	const engine: RunningEngine = await startEngine({
		port: 0,
		initTimeoutMs: 300,
		drainWindowMs: 300,
		maxMessageBytes: 22 * 1024 * 1024,
		log: (line) => {
			logCount++;
			const kind = line
				.replace(/[0-9a-z]{30}/g, "{id}")
				.replace(/#[0-9a-z]+/g, "#{ray}")
				.replace(/\(.*\)/, "(…)")
				.replace(/key [^\s)]+/, "key …")
				.slice(0, 100);
			bump(logKinds, kind);
			const previousLine = lastLine;
			lastLine = line;
			if (line.includes("internal_error") || line.startsWith("http error")) {
				internalErrors++;
				// The engine logs the cause on the line before the close.
				if (internalErrorLines.length < 5)
					internalErrorLines.push(
						`${previousLine.slice(0, 300)} / ${line.slice(0, 120)}`,
					);
			}
		},
	});
	const base = new URL(engine.url);
	const started = performance.now();

	// The host runner (ours) serves an echo actor for the gateway cases.
	const host = new Runner({
		version: 1,
		endpoint: engine.url,
		namespace: "default",
		runnerName: "fuzz-host",
		totalSlots: 100,
		platform: {
			name: "node",
			WebSocket: wsForUplink(
				WebSocket,
			) as unknown as typeof globalThis.WebSocket,
		},
		fetch: async (_r, _a, _g, _q, request) =>
			new Response(`echo ${request.method} ${new URL(request.url).pathname}`, {
				status: 200,
			}),
		websocket: async (_r, _a, ws) => {
			ws.addEventListener("message", (event) => {
				if (ws.readyState === 1) ws.send(event.data as string);
			});
		},
	});
	await host.start();
	await send(
		base,
		"PUT",
		"/runner-configs/fuzz-host?namespace=default",
		{ "content-type": "application/json" },
		JSON.stringify({ datacenters: { default: { normal: {} } } }),
	);
	const until = async (what: () => Promise<boolean> | boolean, ms: number) => {
		const deadline = Date.now() + ms;
		while (Date.now() < deadline) {
			if (await what()) return true;
			await new Promise((r) => setTimeout(r, 50));
		}
		return false;
	};
	await until(() => host.runnerId !== undefined, 5000);
	const created = await send(
		base,
		"POST",
		"/actors?namespace=default",
		{ "content-type": "application/json" },
		JSON.stringify({
			name: "echo",
			runner_name_selector: "fuzz-host",
			crash_policy: "restart",
			key: "fuzz-echo",
		}),
	);
	const echoId =
		"status" in created
			? ((JSON.parse(created.body) as { actor?: { actor_id?: string } }).actor
					?.actor_id ?? "")
			: "";
	const gatewayHealthy = async (): Promise<boolean> => {
		const answer = await send(
			base,
			"GET",
			`/gateway/${echoId}/alive`,
			{},
			undefined,
		);
		return (
			"status" in answer &&
			answer.status === 200 &&
			answer.body === "echo GET /alive"
		);
	};
	checks.echoActorServes =
		echoId !== "" && (await until(gatewayHealthy, 10_000));

	// 1. The runner socket: bad connects, then ToServer frames on an initialised socket.
	const framePrng = rootPrng.fork();
	let kvId = 1;
	const nextKvId = () => kvId++ % PROBE_BASE;
	let keyN = 0;
	const openRaw = async (): Promise<RawSocket | undefined> => {
		const socket = new RawSocket(
			engine.url,
			`protocol_version=7&namespace=default&runner_key=fuzz-raw-${keyN++}`,
		);
		if (!(await socket.opened) || !(await socket.init("fuzz-raw"))) {
			fail(
				"runner-socket",
				0,
				"connect",
				"a healthy runner could not connect",
				"",
			);
			socket.close();
			return undefined;
		}
		return socket;
	};
	for (let i = 0; i < options.badConnects; i++) {
		const bad = badConnect(framePrng, `fuzz-bad-${i}`);
		bump(byGenerator, `connect-${bad.generator}`);
		const socket = new RawSocket(engine.url, bad.query);
		await socket.opened;
		if (bad.first !== undefined) socket.send(bad.first);
		const closed = await Promise.race([
			socket.closed,
			new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000)),
		]);
		if (!closed) {
			fail(
				"runner-connect",
				i,
				bad.generator,
				"no close within 5 s",
				bad.query,
			);
			socket.close();
			continue;
		}
		const reason = closed.reason.split("#")[0] ?? "";
		bump(closeReasons, `${closed.code} ${reason}`);
		if (closed.code !== bad.code || reason !== bad.reason)
			fail(
				"runner-connect",
				i,
				bad.generator,
				`closed ${closed.code} ${closed.reason}, expected ${bad.code} ${bad.reason}`,
				`${bad.query} ${typeof bad.first === "string" ? bad.first : hex(bad.first ?? new Uint8Array())}`,
			);
	}
	counts.set("bad connects", options.badConnects);

	let raw = await openRaw();
	const allocate = async (n: number) => {
		for (let i = 0; i < n; i++)
			await send(
				base,
				"POST",
				"/actors?namespace=default",
				{ "content-type": "application/json" },
				JSON.stringify({
					name: "raw",
					runner_name_selector: "fuzz-raw",
					crash_policy: "sleep",
				}),
			);
	};
	await send(
		base,
		"PUT",
		"/runner-configs/fuzz-raw?namespace=default",
		{ "content-type": "application/json" },
		JSON.stringify({ datacenters: { default: { normal: {} } } }),
	);
	await allocate(4);
	await until(() => (raw?.actors.size ?? 0) > 0, 3000);
	let heapStart = 0;
	const warmup = Math.min(500, Math.floor(options.frames / 10));
	let probeN = 0;
	const frameStarted = performance.now();
	for (let i = 0; i < options.frames && raw; i++) {
		if (i === warmup) heapStart = heapAfterGc();
		const f: EngineFrame = nextToServer(
			framePrng,
			[...raw.actors.keys()],
			nextKvId,
			{
				oversizedRate: options.oversizedRate ?? 0,
			},
		);
		bump(byGenerator, f.generator);
		const logsBefore = logCount;
		const kvAnswer =
			f.expect.kind === "kv"
				? raw.kvAnswer(f.expect.requestId, 10_000)
				: undefined;
		raw.send(f.data);
		const input =
			typeof f.data === "string"
				? JSON.stringify(f.data.slice(0, 200))
				: hex(f.data);
		if (f.expect.kind === "close") {
			const closed = await Promise.race([
				raw.closed,
				new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000)),
			]);
			const reason = closed?.reason.split("#")[0] ?? "";
			if (closed) bump(closeReasons, `${closed.code} ${reason}`);
			if (
				!closed ||
				closed.code !== f.expect.code ||
				reason !== f.expect.reason
			)
				fail(
					"runner-socket",
					i,
					f.generator,
					`closed ${closed ? `${closed.code} ${closed.reason}` : "never"}, expected ${f.expect.code} ${f.expect.reason}`,
					input,
				);
			raw.close();
			raw = await openRaw();
			if (raw) await allocate(2);
			continue;
		}
		const probe = await raw.probe(probeN++);
		if (probe === "timeout") {
			fail(
				"runner-socket",
				i,
				f.generator,
				"the engine did not answer the probe within 10 s (hang)",
				input,
			);
			break;
		}
		if (probe === "closed") {
			const info = raw.closeInfo ?? { code: 0, reason: "" };
			const reason = info.reason.split("#")[0] ?? "";
			bump(closeReasons, `${info.code} ${reason}`);
			fail(
				"runner-socket",
				i,
				f.generator,
				`the engine closed the socket ${info.code} ${info.reason}`,
				input,
			);
			raw.close();
			raw = await openRaw();
			if (raw) await allocate(2);
			continue;
		}
		if (kvAnswer) {
			const answer = await kvAnswer;
			if (typeof answer === "string")
				fail(
					"runner-socket",
					i,
					f.generator,
					`KV request not answered (${answer})`,
					input,
				);
			else {
				bump(counts, "kv answers");
				if (answer.tag === "KvErrorResponse")
					bump(
						errorCodes,
						`KV: ${answer.val.message.replace(/[0-9a-z]{30}/g, "{id}").slice(0, 80)}`,
					);
			}
		}
		if (f.expect.kind === "log" && logCount === logsBefore)
			fail(
				"runner-socket",
				i,
				f.generator,
				"an undecodable frame was ignored without a log line",
				input,
			);
		if (i % 1000 === 999)
			progress(`engine runner socket: ${i + 1}/${options.frames} frames`);
	}
	const frameMs = performance.now() - frameStarted;
	counts.set("runner-socket frames", options.frames);
	raw?.close();

	// 2. The HTTP API.
	const apiPrng = rootPrng.fork();
	const actorIds = [echoId];
	for (let i = 0; i < options.httpRequests; i++) {
		const method = apiPrng.pick(METHODS);
		const path = apiPath(apiPrng, actorIds);
		const body =
			method === "GET" || method === "HEAD" ? undefined : apiBody(apiPrng);
		const headers = randomHeaders(apiPrng, body);
		const answer = await send(base, method, path, headers, body);
		const input = `${method} ${path.slice(0, 200)} ${JSON.stringify(headers).slice(0, 200)} ${typeof body === "string" ? body.slice(0, 100) : body ? hex(body, 32) : ""}`;
		if ("error" in answer) {
			bump(httpStatuses, "no answer");
			fail("http-api", i, method, `no HTTP answer (${answer.error})`, input);
			continue;
		}
		bump(httpStatuses, String(answer.status));
		if (answer.status >= 500)
			fail(
				"http-api",
				i,
				method,
				`${answer.status} for client input: ${answer.body.slice(0, 200)}`,
				input,
			);
		else if (!errorShapeOk(method, answer))
			fail(
				"http-api",
				i,
				method,
				`${answer.status} without the error shape: ${answer.body.slice(0, 200)}`,
				input,
			);
		if (answer.status >= 400 && answer.body.startsWith("{")) {
			try {
				const error = JSON.parse(answer.body) as {
					group?: string;
					code?: string;
				};
				bump(errorCodes, `HTTP ${answer.status} ${error.group}.${error.code}`);
			} catch {}
		}
		if (i % 500 === 499)
			progress(`engine HTTP API: ${i + 1}/${options.httpRequests}`);
	}
	// Request lines and headers Node's own client refuses to send.
	const rawCases = [
		"GET /actors?namespace=default HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
		"POST /actors HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"GET /\u00ff HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /actors HTTP/9.9\r\nHost: x\r\n\r\n",
		"BREW /actors HTTP/1.1\r\nHost: x\r\nX: a\u0000b\r\n\r\n",
		"GET /gateway/%ff/x HTTP/1.1\r\nHost: x\r\n\r\n",
	];
	for (const [i, raw] of rawCases.entries()) {
		const status = await sendRaw(base, raw);
		const code = Number(status.split(" ")[1]);
		bump(httpStatuses, `raw ${Number.isFinite(code) ? code : status}`);
		if (code >= 500) fail("http-raw", i, "raw", status, JSON.stringify(raw));
	}
	counts.set("HTTP API requests", options.httpRequests + rawCases.length);

	// 3. The HTTP gateway.
	const gwPrng = rootPrng.fork();
	for (let i = 0; i < options.gatewayRequests; i++) {
		const method = gwPrng.pick([
			"GET",
			"POST",
			"PUT",
			"DELETE",
			"PATCH",
			"OPTIONS",
			"FOO",
			"HEAD",
			"TRACE",
		]);
		const target = gwPrng.pick([
			echoId,
			echoId,
			echoId,
			`${echoId}@${encodeURIComponent(randomString(gwPrng, 10))}`,
			"1".repeat(30),
			"%ff",
			"",
			encodeURIComponent(randomString(gwPrng, 40)),
		]);
		const rest = gwPrng.pick([
			"/",
			"",
			"/echo",
			`/${encodeURIComponent(randomString(gwPrng, 30))}`,
			"/a/../../b",
			"?q=%ff",
			`/x?${encodeURIComponent(randomString(gwPrng, 20))}`,
			"/%2f%2e%2e",
			`/${"p".repeat(gwPrng.int(100, 6000))}`,
		]);
		const byHeaders = gwPrng.chance(0.15);
		const headers: Record<string, string> = byHeaders
			? {
					"x-rivet-target": "actor",
					"x-rivet-actor": gwPrng.pick([echoId, "%ff", "", "1".repeat(30)]),
				}
			: {};
		if (gwPrng.chance(0.3))
			Object.assign(headers, randomHeaders(gwPrng, undefined));
		const path = byHeaders
			? gwPrng.pick(["/request", "/request/x", "/request?y=%ff", "/other"])
			: `/gateway/${target}${rest}`;
		const body =
			method === "GET" || method === "HEAD" || method === "TRACE"
				? undefined
				: gwPrng.chance(0.5)
					? gwPrng.bytes(gwPrng.int(0, 4096))
					: undefined;
		const answer = await send(base, method, path, headers, body);
		const input = `${method} ${path.slice(0, 200)} ${JSON.stringify(headers).slice(0, 200)}`;
		if ("error" in answer) {
			bump(gatewayStatuses, "no answer");
			fail(
				"gateway-http",
				i,
				method,
				`no HTTP answer (${answer.error})`,
				input,
			);
			continue;
		}
		bump(gatewayStatuses, String(answer.status));
		if (answer.status >= 500)
			fail(
				"gateway-http",
				i,
				method,
				`${answer.status} for client input: ${answer.body.slice(0, 200)}`,
				input,
			);
		else if (answer.status >= 400 && !errorShapeOk(method, answer))
			fail(
				"gateway-http",
				i,
				method,
				`${answer.status} without the error shape: ${answer.body.slice(0, 200)}`,
				input,
			);
		if (i % 200 === 199 && !(await gatewayHealthy()))
			fail(
				"gateway-http",
				i,
				"liveness",
				"the echo actor no longer answers through the gateway",
				"",
			);
	}
	counts.set("gateway HTTP requests", options.gatewayRequests);

	// 4. The WebSocket gateway.
	const wsPrng = rootPrng.fork();
	for (let i = 0; i < options.gatewaySockets; i++) {
		const byProtocol = wsPrng.chance(0.3);
		const path = byProtocol
			? wsPrng.pick([
					"/",
					"/ws",
					`/${encodeURIComponent(randomString(wsPrng, 10))}`,
				])
			: `/gateway/${wsPrng.pick([echoId, echoId, "1".repeat(30), "%ff", encodeURIComponent(randomString(wsPrng, 12))])}${wsPrng.pick(["/ws", "", "/?x=%ff"])}`;
		const protocols = byProtocol
			? [
					"rivet",
					"rivet_target.actor",
					`rivet_actor.${wsPrng.pick([echoId, "%ff", "%", encodeURIComponent(randomString(wsPrng, 8)), ""])}`,
					...(wsPrng.chance(0.3) ? ["rivet_token.x"] : []),
				]
			: wsPrng.pick([
					[],
					["rivet"],
					["rivet", "x-odd"],
					["a", "b", "c"],
					["rivet_token.abc"],
					["rivet_skip_ready_wait"],
				]);
		const input = `${path} [${protocols.join(",")}]`;
		const outcome = await new Promise<string>((resolve) => {
			let ws: WebSocket;
			try {
				ws = new WebSocket(
					`${engine.url.replace("http", "ws")}${path}`,
					protocols,
				);
			} catch (error) {
				resolve(`client refused: ${(error as Error).message.slice(0, 40)}`);
				return;
			}
			const timer = setTimeout(() => {
				ws.terminate();
				resolve("hang");
			}, 10_000);
			ws.on("unexpected-response", (_req, res) => {
				clearTimeout(timer);
				resolve(`http ${res.statusCode}`);
				ws.terminate();
			});
			let clientError = "";
			ws.on("error", (error) => {
				clientError = error.message;
			});
			ws.on("open", () => {
				const n = wsPrng.int(0, 5);
				for (let k = 0; k < n; k++) {
					if (ws.readyState !== 1) break;
					if (wsPrng.chance(0.5)) ws.send(randomString(wsPrng, 100));
					else
						ws.send(
							wsPrng.bytes(
								wsPrng.int(0, wsPrng.chance(0.05) ? 2_000_000 : 300),
							),
						);
				}
				if (ws.readyState === 1)
					ws.close(
						wsPrng.pick([1000, 1001, 3000, 4000, 4999, 1008]),
						wsPrng.chance(0.5)
							? randomString(wsPrng, 30).slice(0, 30)
							: undefined,
					);
			});
			ws.on("close", (code, reason) => {
				clearTimeout(timer);
				// 1006 is the client giving up; say why (guard answers subprotocol `rivet` even when not offered).
				resolve(
					code === 1006 && clientError
						? `client refused the handshake: ${clientError.slice(0, 60)}`
						: `close ${code} ${reason.toString().split("#")[0]?.slice(0, 60)}`,
				);
			});
		});
		bump(
			wsOutcomes,
			outcome.startsWith("close 1000 echo") ? "close 1000 (echo)" : outcome,
		);
		if (outcome === "hang")
			fail(
				"gateway-ws",
				i,
				"ws",
				"no open, refusal or close within 10 s",
				input,
			);
		if (/^http 5/.test(outcome) || /^close 1011 core\./.test(outcome))
			fail("gateway-ws", i, "ws", outcome, input);
	}
	counts.set("gateway WebSockets", options.gatewaySockets);

	// Still healthy: a new runner connects and gets its actor, the API and the gateway answer.
	const healthy = await openRaw();
	checks.runnerConnectsAfter = healthy !== undefined;
	healthy?.close();
	checks.gatewayServesAfter = await until(gatewayHealthy, 5000);
	const health = await send(base, "GET", "/health", {}, undefined);
	checks.apiAnswersAfter = "status" in health && health.status === 200;
	await new Promise((r) => setTimeout(r, 100));
	const heapEnd = heapAfterGc();
	if (heapStart === 0) heapStart = heapEnd;
	checks.heapBounded = mb(heapEnd - heapStart) < (options.heapBoundMb ?? 48);
	await host.shutdown(true);
	// engine.close() waits for its runner sockets; its 1 s terminate timer is unref'd, so keep the loop alive.
	const keepAlive = setInterval(() => {}, 1000);
	const closeStarted = performance.now();
	await engine.close();
	clearInterval(keepAlive);
	const closeMs = performance.now() - closeStarted;
	checks.engineClosesWithin2s = closeMs < 2000;
	process.off("uncaughtException", onUncaught);
	process.off("unhandledRejection", onUnhandled);
	checks.noCrash = uncaught.length === 0 && unhandled.length === 0;
	checks.noInternalError = internalErrors === 0;
	return {
		seed,
		durationMs: Math.round(performance.now() - started),
		counts: Object.fromEntries(counts),
		byGenerator: Object.fromEntries([...byGenerator].sort()),
		framesPerSecond: Math.round(options.frames / (frameMs / 1000)),
		httpStatuses: Object.fromEntries([...httpStatuses].sort()),
		gatewayStatuses: Object.fromEntries([...gatewayStatuses].sort()),
		wsOutcomes: Object.fromEntries(
			[...wsOutcomes].sort((a, b) => b[1] - a[1]).slice(0, 25),
		),
		closeReasons: Object.fromEntries(closeReasons),
		errorCodes: Object.fromEntries(
			[...errorCodes].sort((a, b) => b[1] - a[1]).slice(0, 30),
		),
		logKinds: Object.fromEntries(
			[...logKinds].sort((a, b) => b[1] - a[1]).slice(0, 25),
		),
		heapStartMb: mb(heapStart),
		heapEndMb: mb(heapEnd),
		uncaught: uncaught.slice(0, 10),
		unhandledRejections: unhandled.slice(0, 10),
		checks,
		failures,
		internalErrorLines,
	};
}
