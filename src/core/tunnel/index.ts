/**
 * The tunnel: client HTTP and WebSocket traffic to actors (spec §8), behind the `TunnelPort` seam.
 *
 * `handle()` runs on the frame path and never awaits user code: it looks the request up (a number key, one map
 * lookup) and starts the per-request work as a task. Stopping an actor touches only its own requests.
 */
import type * as protocol from "@rivetkit/engine-runner-protocol";
import type { ActorEntry } from "../actor-entry.ts";
import type { RunnerConfig } from "../config.ts";
import { errorFields, type Logger, silentLogger } from "../log.ts";
import type { Runner } from "../runner.ts";
import { Hibernation } from "./hibernation.ts";
import { buildRequest, encodeResponse, plainResponse } from "./http.ts";
import { OutboundTunnel } from "./outbound.ts";
import type { HibernatingWebSocketMetadata, TunnelPort } from "./port.ts";
import { RequestKeys } from "./request-key.ts";
import { RequestTable, type TunnelRequest } from "./requests.ts";
import { type SessionDeps, WebSocketSessions } from "./websocket-sessions.ts";

export interface TunnelDeps {
	log: Logger;
	/** Sends a tunnel message now; false if the engine socket is not ready. */
	send(message: protocol.ToServerTunnelMessage): boolean;
	/** The live actor with this id, if any. */
	actor(actorId: string): ActorEntry | undefined;
	/** The runner, passed to the user's `fetch` and `websocket` handlers (late-bound: built after the tunnel). */
	runner(): Runner;
	config: RunnerConfig;
}

/** Methods the Fetch standard refuses to build a `Request` with. */
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);

const ABORT: protocol.ToServerTunnelMessageKind = {
	tag: "ToServerResponseAbort",
	val: null,
};

export function createTunnel(deps: TunnelDeps): TunnelPort {
	return new Tunnel(deps);
}

class Tunnel implements TunnelPort {
	readonly #d: TunnelDeps;
	readonly #outbound: OutboundTunnel;
	readonly #requests: RequestTable;
	readonly #keys = new RequestKeys();
	readonly #sessions: WebSocketSessions;
	readonly #hibernation: Hibernation;
	readonly #debug: boolean;

	constructor(deps: TunnelDeps) {
		this.#d = deps;
		this.#outbound = new OutboundTunnel(deps.send);
		this.#requests = new RequestTable(this.#outbound);
		this.#debug = debugEnabled(deps.log);
		const sessionDeps: SessionDeps = {
			log: deps.log,
			requests: this.#requests,
			keys: this.#keys,
			actor: deps.actor,
			runner: deps.runner,
			config: deps.config,
			sendDetached: (messageId, messageKind) =>
				this.#outbound.send({
					messageId: { ...messageId, messageIndex: 0 },
					messageKind,
				}),
		};
		this.#sessions = new WebSocketSessions(sessionDeps);
		this.#hibernation = new Hibernation(sessionDeps, this.#sessions);
	}

	handle(message: protocol.ToClientTunnelMessage): void {
		const { messageId, messageKind: kind } = message;
		const key = this.#keys.key(messageId.gatewayId, messageId.requestId);
		if (this.#debug)
			this.#d.log.debug(
				{ kind: kind.tag, key, index: messageId.messageIndex },
				"tunnel message",
			);
		switch (kind.tag) {
			case "ToClientRequestStart":
				this.#requestStart(key, messageId, kind.val);
				return;
			case "ToClientWebSocketMessage":
				this.#sessions.message(key, messageId.messageIndex, kind.val);
				return;
			case "ToClientWebSocketOpen":
				this.#sessions.open(key, messageId, kind.val);
				return;
			case "ToClientWebSocketClose":
				this.#sessions.close(key, kind.val);
				return;
			case "ToClientRequestAbort": {
				// The gateway never sends it today (spec §8.2); if it does, the response has nowhere to go.
				const request = this.#requests.get(key);
				if (request?.kind === "http") this.#requests.delete(request);
				else this.#ignored(kind.tag, key, "no HTTP request with this id");
				return;
			}
			case "ToClientRequestChunk":
				// Streaming request bodies are never sent by the gateway (spec §8.2).
				this.#ignored(
					kind.tag,
					key,
					"streaming request bodies are not supported",
				);
				return;
		}
	}

	#ignored(kind: string, key: number, why: string): void {
		this.#d.log.debug({ kind, key }, `tunnel message ignored: ${why}`);
	}

	#requestStart(
		key: number,
		messageId: protocol.MessageId,
		start: protocol.ToClientRequestStart,
	): void {
		const actor = this.#d.actor(start.actorId);
		if (!actor) {
			// Not here (stopped, never started, moved): an abort is what guard retries (spec §8.2, Recommendation).
			this.#outbound.send({
				messageId: { ...messageId, messageIndex: 0 },
				messageKind: ABORT,
			});
			return;
		}
		const request = this.#requests.add(key, actor, messageId, "http");
		void this.#serve(request, start);
	}

	async #serve(
		request: TunnelRequest,
		start: protocol.ToClientRequestStart,
	): Promise<void> {
		const { actor } = request;
		if (actor.status !== "running" && !(await actor.whenStarted())) {
			this.#reply(request, ABORT);
			return;
		}
		const fetch = this.#d.config.fetch;
		if (!fetch) {
			this.#reply(request, {
				tag: "ToServerResponseStart",
				val: plainResponse(501, "Not Implemented"),
			});
			return;
		}
		let httpRequest: Request;
		try {
			httpRequest = buildRequest(start);
		} catch (err) {
			// The client's request cannot be a fetch `Request` (TRACE/CONNECT, a malformed header or path): the
			// client's error, not the actor's, so 405/400 and the actor is not called.
			const forbidden = FORBIDDEN_METHODS.has(start.method.toUpperCase());
			this.#d.log.warn(
				{ actorId: actor.actorId, method: start.method, ...errorFields(err) },
				"request refused: not a valid fetch Request",
			);
			this.#reply(request, {
				tag: "ToServerResponseStart",
				val: forbidden
					? plainResponse(405, "Method Not Allowed")
					: plainResponse(400, "Bad Request"),
			});
			return;
		}
		let handled: Promise<Response>;
		try {
			// Promise.resolve: a plain-JavaScript handler may return a Response, not a promise.
			handled = Promise.resolve(
				fetch(
					this.#d.runner(),
					actor.actorId,
					request.gatewayId,
					request.requestId,
					httpRequest,
				),
			);
		} catch (err) {
			handled = Promise.reject(err);
		}
		// The first reaction to the handler's promise marks the request as responding: a response returned before
		// the actor's onActorStop returns (an app that waits for its requests) then goes out instead of being dropped.
		void handled.then(
			(result) => {
				request.responding = this.#respond(request, start, result);
			},
			(err: unknown) => {
				request.responding = this.#respond(request, start, err, true);
			},
		);
	}

	async #respond(
		request: TunnelRequest,
		start: protocol.ToClientRequestStart,
		result: unknown,
		failed = false,
	): Promise<void> {
		if (!this.#requests.isLive(request)) return;
		const { actor } = request;
		let response: protocol.ToServerResponseStart;
		try {
			if (failed) throw result;
			const encoded = await encodeResponse(result as Response);
			if (encoded === "too_large") {
				this.#d.log.error(
					{ actorId: actor.actorId, path: start.path },
					"response body over 20 MiB: answering 500",
				);
				response = plainResponse(500, "Response body too large");
			} else response = encoded;
		} catch (err) {
			this.#d.log.error(
				{ actorId: actor.actorId, path: start.path, ...errorFields(err) },
				"fetch handler failed",
			);
			response = plainResponse(500, "Internal Server Error");
		}
		this.#reply(request, { tag: "ToServerResponseStart", val: response });
	}

	/** The one answer to an HTTP request, unless it ended meanwhile (actor stopped, runner shut down). */
	#reply(
		request: TunnelRequest,
		kind: protocol.ToServerTunnelMessageKind,
	): void {
		if (!this.#requests.isLive(request)) return;
		this.#requests.send(request, kind);
		this.#requests.delete(request);
	}

	flush(): void {
		this.#outbound.flush();
	}

	/**
	 * Pending HTTP requests end without an answer (the gateway sees the actor stop and retries); non-hibernatable
	 * sockets close locally `1000 actor.stopped` (the gateway closes the client the same way). On a stop, a request
	 * whose handler has already returned is not ended: its response goes out, and the promise returned settles
	 * once every such response is sent, so the caller can send the Stopped event after them.
	 */
	closeActor(
		actor: ActorEntry,
		cause: "stopped" | "lost",
	): Promise<void> | undefined {
		const responding: Promise<void>[] = [];
		for (const request of this.#requests.ofActor(actor)) {
			if (cause === "stopped" && request.responding)
				responding.push(request.responding);
			else this.#end(request, "actor.stopped");
		}
		return responding.length > 0
			? Promise.allSettled(responding).then(() => {})
			: undefined;
	}

	shutdown(): void {
		for (const request of this.#requests.all())
			this.#end(request, "ws.tunnel_shutdown");
		this.#outbound.clear();
	}

	#end(request: TunnelRequest, reason: string): void {
		if (request.kind === "http") this.#requests.delete(request);
		else this.#sessions.end(request, reason);
	}

	actorStarting(actor: ActorEntry): void {
		this.#hibernation.actorStarting(actor);
	}

	sendHibernatableWebSocketMessageAck(
		gatewayId: ArrayBuffer,
		requestId: ArrayBuffer,
		index: number,
	): void {
		this.#sessions.ack(gatewayId, requestId, index);
	}

	async restoreHibernatingRequests(
		actorId: string,
		metaEntries: readonly HibernatingWebSocketMetadata[],
	): Promise<void> {
		const actor = this.#d.actor(actorId);
		if (actor) await this.#hibernation.restore(actor, metaEntries);
	}
}

/** Building log objects per message costs; only when someone listens at debug level. */
function debugEnabled(log: Logger): boolean {
	if (log === silentLogger) return false;
	const level = (log as { isLevelEnabled?: (level: string) => boolean })
		.isLevelEnabled;
	return typeof level === "function" ? level.call(log, "debug") : true;
}
