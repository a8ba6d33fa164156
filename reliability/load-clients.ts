/**
 * The client side of the load runs: actors created through the engine's API, HTTP requests and WebSockets through
 * its gateway. Every call is bounded and never rejects: each outcome is recorded, none dropped.
 */
import { Agent, request as httpRequest } from "node:http";
import { performance } from "node:perf_hooks";
import { WebSocket } from "ws";
import type { EngineUnderTest } from "../tests/helpers/engines.ts";

/** How one HTTP request ended: answered (any status) or failed without an answer. */
export type HttpOutcome =
	| {
			ok: true;
			status: number;
			/** `x-load-pid` of the process that answered (0: none, e.g. a gateway error). */
			pid: number;
			body: string;
			ms: number;
	  }
	| { ok: false; failure: string; ms: number };

/** The gateway URL of `path` on `actorId`. */
export function gatewayUrl(
	engine: EngineUnderTest,
	actorId: string,
	path: string,
): URL {
	return new URL(`${engine.url}/gateway/${actorId}${path}`);
}

/** One request, bounded by `timeoutMs` ("timeout" then: the request hung). Never rejects. */
export function httpCall(
	agent: Agent,
	url: URL,
	options: {
		method?: string;
		headers?: Record<string, string>;
		body?: Uint8Array;
		timeoutMs: number;
		token?: string;
	},
): Promise<HttpOutcome> {
	const start = performance.now();
	return new Promise((resolve) => {
		let settled = false;
		const settle = (outcome: HttpOutcome) => {
			if (settled) return;
			settled = true;
			resolve(outcome);
		};
		const headers: Record<string, string | number> = { ...options.headers };
		if (options.body) headers["content-length"] = options.body.byteLength;
		if (options.token) headers.authorization = `Bearer ${options.token}`;
		const req = httpRequest(
			url,
			{ method: options.method ?? "GET", agent, headers },
			(res) => {
				const chunks: Buffer[] = [];
				res.on("data", (chunk: Buffer) => chunks.push(chunk));
				res.on("end", () =>
					settle({
						ok: true,
						status: res.statusCode ?? 0,
						pid: Number(res.headers["x-load-pid"] ?? 0),
						body: Buffer.concat(chunks).toString("utf8"),
						ms: performance.now() - start,
					}),
				);
				res.on("error", (error: NodeJS.ErrnoException) =>
					settle({
						ok: false,
						failure: error.code ?? error.message,
						ms: performance.now() - start,
					}),
				);
			},
		);
		req.setTimeout(options.timeoutMs, () => {
			settle({ ok: false, failure: "timeout", ms: performance.now() - start });
			req.destroy();
		});
		req.on("error", (error: NodeJS.ErrnoException) =>
			settle({
				ok: false,
				failure: error.code ?? error.message,
				ms: performance.now() - start,
			}),
		);
		req.end(options.body);
	});
}

/** A failed outcome's kind: the gateway's `group.code` for an error status, else the network failure. */
export function outcomeKind(outcome: HttpOutcome): string {
	if (!outcome.ok) return outcome.failure;
	if (outcome.status >= 200 && outcome.status < 300) return "2xx";
	try {
		const body = JSON.parse(outcome.body) as { group?: string; code?: string };
		if (body.group && body.code)
			return `${outcome.status} ${body.group}.${body.code}`;
	} catch {
		// not the gateway's JSON error
	}
	return String(outcome.status);
}

export function tally(kinds: Iterable<string>): Record<string, number> {
	const counts: Record<string, number> = {};
	for (const kind of kinds) counts[kind] = (counts[kind] ?? 0) + 1;
	return counts;
}

/** "3× 503 guard.x, 1× timeout", or "none". */
export function formatTally(counts: Record<string, number>): string {
	const entries = Object.entries(counts);
	return entries.length === 0
		? "none"
		: entries.map(([kind, n]) => `${n}× ${kind}`).join(", ");
}

const CREATE_TIMEOUT_MS = 30_000;

export interface Created {
	actorIds: string[];
	/** Creates the API refused or left unanswered, by kind. */
	failures: Record<string, number>;
	ms: number;
}

/** `count` actors of `runnerName` created through the API, `concurrency` at a time. */
export async function createActors(
	engine: EngineUnderTest,
	runnerName: string,
	count: number,
	concurrency: number,
): Promise<Created> {
	const actorIds: string[] = [];
	const failures: string[] = [];
	const start = performance.now();
	let next = 0;
	const creator = async () => {
		while (next < count) {
			next++;
			try {
				const response = await engine.api("/actors?namespace=default", {
					method: "POST",
					signal: AbortSignal.timeout(CREATE_TIMEOUT_MS),
					headers: { "content-type": "application/json" },
					body: JSON.stringify({
						name: "load",
						runner_name_selector: runnerName,
						// After a drain the actors come back on the next runner of this name.
						crash_policy: "restart",
					}),
				});
				const text = await response.text();
				if (!response.ok) failures.push(String(response.status));
				else
					actorIds.push(
						(JSON.parse(text) as { actor: { actor_id: string } }).actor
							.actor_id,
					);
			} catch (error) {
				failures.push(
					error instanceof Error && error.name === "TimeoutError"
						? "timeout"
						: String(error),
				);
			}
		}
	};
	await Promise.all(Array.from({ length: concurrency }, creator));
	return {
		actorIds,
		failures: tally(failures),
		ms: performance.now() - start,
	};
}

/**
 * Resolves once every actor answers `/echo` through the gateway with 200 from process `pid`; polled (no event
 * for it from outside the engine), bounded. Returns the ms it took.
 */
export async function untilAllRoutable(
	engine: EngineUnderTest,
	actorIds: string[],
	pid: number,
	timeoutMs: number,
): Promise<number> {
	const start = performance.now();
	const deadline = start + timeoutMs;
	const agent = new Agent({ keepAlive: true, maxSockets: 16 });
	let waiting = [...actorIds];
	try {
		while (waiting.length > 0) {
			const left = deadline - performance.now();
			if (left <= 0)
				throw new Error(
					`${waiting.length}/${actorIds.length} actors not routable to pid ${pid} within ${timeoutMs} ms`,
				);
			const outcomes = await Promise.all(
				waiting.map((id) =>
					httpCall(agent, gatewayUrl(engine, id, "/echo"), {
						method: "POST",
						body: new Uint8Array(1),
						timeoutMs: Math.min(left, 10_000),
						...(engine.token ? { token: engine.token } : {}),
					}),
				),
			);
			waiting = waiting.filter((_, i) => {
				const outcome = outcomes[i];
				return !(outcome?.ok && outcome.status === 200 && outcome.pid === pid);
			});
			if (waiting.length > 0)
				await new Promise((resolve) => setTimeout(resolve, 100));
		}
		return performance.now() - start;
	} finally {
		agent.destroy();
	}
}

/** A client WebSocket to `/echo` on the actor: open, one message echoed. Never rejects. */
export function openEchoSocket(
	engine: EngineUnderTest,
	actorId: string,
	timeoutMs: number,
): Promise<{ socket: WebSocket | undefined; failure: string | null }> {
	const url = `${engine.url.replace(/^http/, "ws")}/gateway/${actorId}/echo`;
	const protocols = ["rivet"];
	if (engine.token) protocols.push(`rivet_token.${engine.token}`);
	const socket = new WebSocket(url, protocols);
	return new Promise((resolve) => {
		let settled = false;
		const settle = (failure: string | null) => {
			if (settled) return;
			settled = true;
			clearTimeout(timer);
			if (failure !== null) socket.terminate();
			resolve({ socket: failure === null ? socket : undefined, failure });
		};
		const timer = setTimeout(() => settle("timeout"), timeoutMs);
		socket.once("open", () => socket.send(Buffer.from("ping")));
		socket.once("message", (data) =>
			settle(String(data) === "ping" ? null : "wrong echo"),
		);
		socket.once("unexpected-response", (_req, res) =>
			settle(`upgrade refused ${res.statusCode}`),
		);
		// `on`, not `once`: an error after the open (a reset) must not go unhandled.
		socket.on("error", (error: NodeJS.ErrnoException) =>
			settle(error.code ?? error.message),
		);
		socket.once("close", (code) => settle(`closed ${code}`));
	});
}
