/**
 * `edgerunner/serverless`: the engine-started ("serverless") runner endpoint of spec §10 as a Hono app. The
 * engine calls `GET /start` with its headers; the app runs one runner for the lifetime of that request and
 * answers as an SSE stream whose first `message` is the runner's init packet. The request's abort (or the
 * stream's cancel) is the termination hook: the runner drains through the one shutdown path. Runs wherever Hono
 * runs: Node (with `@hono/node-server`), Bun, Deno, workerd.
 */
import { Hono } from "hono";
import type { RunnerConfig } from "../core/config.ts";
import type { Platform, TerminateEvent } from "../core/platform.ts";
import { Runner } from "../core/runner.ts";
import { installTermination } from "../core/termination.ts";

/** What the engine sends with `GET /start` (spec §10). */
export interface ServerlessStart {
	endpoint: string;
	namespace: string;
	runnerName: string;
	totalSlots: number;
	token: string | undefined;
	request: Request;
}

/** The config fields the start request decides. */
type StartFields =
	| "endpoint"
	| "namespace"
	| "runnerName"
	| "totalSlots"
	| "token";

export interface ServerlessAppOptions {
	/**
	 * The rest of the runner config (actor callbacks, version, …), per start request. `runner()` returns the
	 * runner being built (callable from the callbacks, not during this call).
	 */
	config: (
		start: ServerlessStart,
		runner: () => Runner,
	) => Omit<RunnerConfig, StartFields>;
	/** The runtime's platform (only `name` and `WebSocket` are used; the request is the termination hook). */
	platform: Platform;
	/** Longest drain after the request ends, ms. Default: the config's `drainTimeoutMs`. */
	drainTimeoutMs?: number;
	/** SSE `ping` cadence that keeps proxies from closing an idle stream, ms. Default 1000. */
	pingIntervalMs?: number;
	/** Called with each runner once it is created (for tests and metrics). */
	onRunner?: (runner: Runner, start: ServerlessStart) => void;
}

/** The termination event a serverless runner gets when its start request ends. */
export const REQUEST_ENDED = "request-ended";

function startFrom(request: Request): ServerlessStart | string {
	const header = (name: string): string | undefined =>
		request.headers.get(name) ?? undefined;
	const endpoint = header("x-rivet-endpoint");
	// x-rivet-namespace-id is the deprecated spelling; it carries the name too.
	const namespace =
		header("x-rivet-namespace-name") ?? header("x-rivet-namespace-id");
	const runnerName = header("x-rivet-runner-name");
	const totalSlots = Number(header("x-rivet-total-slots"));
	if (!endpoint) return "missing header x-rivet-endpoint";
	if (!namespace) return "missing header x-rivet-namespace-name";
	if (!runnerName) return "missing header x-rivet-runner-name";
	if (!Number.isInteger(totalSlots) || totalSlots < 1)
		return "header x-rivet-total-slots must be a positive integer";
	return {
		endpoint,
		namespace,
		runnerName,
		totalSlots,
		token: header("x-rivet-token"),
		request,
	};
}

/** The Hono app serving `GET /start` (and `GET /health`). Mount it where the engine's runner config URL points. */
export function createServerlessApp(options: ServerlessAppOptions): Hono {
	const app = new Hono();
	app.get("/health", (c) => c.text("ok"));
	app.get("/start", (c) => {
		const start = startFrom(c.req.raw);
		if (typeof start === "string") return c.text(start, 400);
		return serveStart(start, options);
	});
	return app;
}

function serveStart(
	start: ServerlessStart,
	options: ServerlessAppOptions,
): Response {
	const listeners = new Set<(event: TerminateEvent) => void>();
	let ended = false;
	// The request's abort and the stream's cancel are one event: a second would escalate to immediate.
	const terminate = (): void => {
		if (ended) return;
		ended = true;
		for (const listener of [...listeners]) listener({ name: REQUEST_ENDED });
	};
	const platform: Platform = {
		name: options.platform.name,
		WebSocket: options.platform.WebSocket,
		onTerminate(listener) {
			listeners.add(listener);
			return () => listeners.delete(listener);
		},
	};
	const encoder = new TextEncoder();
	let ping: ReturnType<typeof setInterval> | undefined;
	let runner: Runner | undefined;
	const stream = new ReadableStream<Uint8Array>({
		start(controller) {
			const write = (text: string): void => {
				try {
					controller.enqueue(encoder.encode(text));
				} catch {
					// The stream is already closed: the runner is shutting down.
				}
			};
			const user = options.config(start, () => {
				if (!runner)
					throw new Error("the serverless runner is not created yet");
				return runner;
			});
			runner = new Runner({
				...user,
				endpoint: start.endpoint,
				namespace: start.namespace,
				runnerName: start.runnerName,
				totalSlots: start.totalSlots,
				token: start.token,
				platform,
				onConnected: () => {
					const packet = runner?.getServerlessInitPacket();
					if (packet) write(`event: message\ndata: ${packet}\n\n`);
					user.onConnected?.();
				},
			});
			installTermination(runner, platform, {
				exit: false,
				drainTimeoutMs: options.drainTimeoutMs,
			});
			options.onRunner?.(runner, start);
			ping = setInterval(
				() => write("event: ping\ndata:\n\n"),
				options.pingIntervalMs ?? 1000,
			);
			void runner.closed.then(() => {
				clearInterval(ping);
				try {
					controller.close();
				} catch {
					// Cancelled by the client already.
				}
			});
			start.request.signal.addEventListener("abort", terminate, { once: true });
			void runner.start();
		},
		cancel() {
			clearInterval(ping);
			terminate();
		},
	});
	return new Response(stream, {
		headers: {
			"content-type": "text/event-stream",
			"cache-control": "no-cache",
		},
	});
}
