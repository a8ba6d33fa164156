/**
 * Tunnelled client WebSockets (spec §8.3–§8.4): open → `config.websocket` → `ToServerWebSocketOpen`, messages in
 * order, close both ways, and for hibernatable sockets the message-index checks (duplicates ignored, a gap
 * closes `1008 ws.message_index_skip`) and acks. Restoring after a sleep is in hibernation.ts.
 *
 * Traffic for a socket that is not ready yet (its open handler or restore is still running) waits in the
 * request's `pending` list and is delivered in order once it is.
 */
import type * as protocol from "@rivetkit/engine-runner-protocol";
import type { ActorEntry } from "../actor-entry.ts";
import type { RunnerConfig } from "../config.ts";
import { errorFields, type Logger } from "../log.ts";
import type { Runner } from "../runner.ts";
import { classifyIndex } from "./message-index.ts";
import type { RequestKeys } from "./request-key.ts";
import type {
	PendingInbound,
	RequestTable,
	TunnelRequest,
} from "./requests.ts";
import { ActorWebSocket } from "./websocket.ts";

export interface SessionDeps {
	log: Logger;
	requests: RequestTable;
	keys: RequestKeys;
	actor(actorId: string): ActorEntry | undefined;
	runner(): Runner;
	config: RunnerConfig;
	/** Sends a message for a request the table does not hold (refusals). */
	sendDetached(
		messageId: protocol.MessageId,
		kind: protocol.ToServerTunnelMessageKind,
	): void;
}

export const closeKind = (
	code: number | null,
	reason: string | null,
): protocol.ToServerTunnelMessageKind => ({
	tag: "ToServerWebSocketClose",
	val: { code, reason, hibernate: false },
});

export class WebSocketSessions {
	readonly #d: SessionDeps;

	constructor(deps: SessionDeps) {
		this.#d = deps;
	}

	open(
		key: number,
		messageId: protocol.MessageId,
		open: protocol.ToClientWebSocketOpen,
	): void {
		const { requests } = this.#d;
		const existing = requests.get(key);
		if (existing?.kind === "websocket" && existing.ws?.readyState === 1) {
			// A replayed open for a socket we have (spec §8.3, HEAD): confirm it again.
			if (messageId.messageIndex === 0) existing.serverIndex = 0;
			requests.send(existing, {
				tag: "ToServerWebSocketOpen",
				val: { canHibernate: existing.canHibernate },
			});
			return;
		}
		const actor = this.#d.actor(open.actorId);
		if (!actor) {
			this.#d.sendDetached(messageId, closeKind(1011, "Actor not found"));
			return;
		}
		const request = requests.add(key, actor, messageId, "websocket");
		request.pending = [];
		void this.#runOpen(request, open);
	}

	async #runOpen(
		request: TunnelRequest,
		open: protocol.ToClientWebSocketOpen,
	): Promise<void> {
		const { requests, config } = this.#d;
		const { actor } = request;
		if (actor.status !== "running" && !(await actor.whenStarted())) {
			if (requests.isLive(request)) {
				requests.send(request, closeKind(1011, "Actor not found"));
				requests.delete(request);
			}
			return;
		}
		if (!requests.isLive(request)) return;
		const headers = Object.fromEntries(open.headers);
		const ws = this.socket(request, open.path, headers);
		try {
			const httpRequest = webSocketRequest(open.path, headers);
			request.canHibernate =
				config.hibernatableWebSocket?.canHibernate(
					actor.actorId,
					request.gatewayId,
					request.requestId,
					httpRequest,
				) === true;
			if (!config.websocket) throw new Error("no `websocket` handler");
			await config.websocket(
				this.#d.runner(),
				actor.actorId,
				ws as unknown as WebSocket,
				request.gatewayId,
				request.requestId,
				httpRequest,
				open.path,
				headers,
				request.canHibernate,
				false,
			);
		} catch (err) {
			this.#d.log.error(
				{ actorId: actor.actorId, ...errorFields(err) },
				"websocket handler failed",
			);
			ws._close(1011, "Server Error", requests.isLive(request));
			return;
		}
		if (!requests.isLive(request) || ws.readyState !== 0) return;
		requests.send(request, {
			tag: "ToServerWebSocketOpen",
			val: { canHibernate: request.canHibernate },
		});
		ws._open();
		this.drainPending(request);
	}

	/** The actor's socket for `request`; its link ends the request when the actor closes it. */
	socket(
		request: TunnelRequest,
		path: string,
		headers: Record<string, string>,
		detached = false,
	): ActorWebSocket {
		const { requests } = this.#d;
		const ws = new ActorWebSocket(
			`ws://actor${path}`,
			headers["sec-websocket-protocol"]?.split(",")[0]?.trim() ?? "",
			request.requestId,
			{
				send: (data, binary) => {
					if (!detached && requests.isLive(request))
						requests.send(request, {
							tag: "ToServerWebSocketMessage",
							val: { data, binary },
						});
				},
				close: (code, reason) => {
					if (detached || !requests.isLive(request)) return;
					requests.send(request, closeKind(code, reason));
					requests.delete(request);
				},
			},
			this.#d.log,
		);
		request.ws = ws;
		return ws;
	}

	message(
		key: number,
		index: number,
		message: protocol.ToClientWebSocketMessage,
	): void {
		const request = this.#d.requests.get(key);
		if (!request || request.kind === "http") {
			// Ended here already (closed, actor stopped), or never opened.
			this.#d.log.debug(
				{ key, index },
				"websocket message for an unknown socket ignored",
			);
			return;
		}
		if (request.pending) {
			request.pending.push({
				tag: "message",
				data: message.data,
				binary: message.binary,
				index,
			});
			return;
		}
		this.#deliver(request, message.data, message.binary, index);
	}

	#deliver(
		request: TunnelRequest,
		data: ArrayBuffer,
		binary: boolean,
		index: number,
	): void {
		const ws = request.ws;
		if (!ws) return;
		if (request.canHibernate) {
			const verdict = classifyIndex(index, request.serverIndex);
			if (verdict === "duplicate") {
				this.#d.log.debug(
					{ last: request.serverIndex, index },
					"duplicate websocket message ignored",
				);
				return;
			}
			if (verdict === "gap") {
				this.#d.log.warn(
					{ last: request.serverIndex, index },
					"websocket message index gap: closing",
				);
				ws._close(1008, "ws.message_index_skip", true);
				return;
			}
		}
		request.serverIndex = index;
		ws._message(data, binary, index);
	}

	close(key: number, close: protocol.ToClientWebSocketClose): void {
		const request = this.#d.requests.get(key);
		if (!request || request.kind === "http") {
			this.#d.log.debug(
				{ key, code: close.code },
				"websocket close for an unknown socket ignored",
			);
			return;
		}
		if (request.pending) {
			request.pending.push({
				tag: "close",
				code: close.code,
				reason: close.reason,
			});
			return;
		}
		this.#remoteClose(request, close.code, close.reason);
	}

	#remoteClose(
		request: TunnelRequest,
		code: number | null,
		reason: string | null,
	): void {
		this.#d.requests.delete(request);
		request.ws?._close(code, reason, false);
	}

	drainPending(request: TunnelRequest): void {
		const pending = request.pending as PendingInbound[];
		request.pending = undefined;
		for (const item of pending) {
			if (!this.#d.requests.isLive(request)) return;
			if (item.tag === "message")
				this.#deliver(request, item.data, item.binary, item.index);
			else this.#remoteClose(request, item.code, item.reason);
		}
	}

	ack(gatewayId: ArrayBuffer, requestId: ArrayBuffer, index: number): void {
		if (!Number.isInteger(index) || index < 0 || index > 0xffff)
			throw new RangeError(
				`WebSocket ack index must be an integer 0–65535, got ${index}`,
			);
		const request = this.#d.requests.get(
			this.#d.keys.key(gatewayId, requestId),
		);
		if (!request || request.kind === "http") {
			this.#d.log.warn({}, "websocket ack for an unknown socket ignored");
			return;
		}
		this.#d.requests.send(request, {
			tag: "ToServerWebSocketMessageAck",
			val: { index },
		});
	}

	/** The actor stopped or the runner is going away: non-hibernatable sockets close locally with `reason`. */
	end(request: TunnelRequest, reason: string): void {
		this.#d.requests.delete(request);
		// Hibernatable sockets stay open at the gateway, which keeps them while the actor sleeps.
		if (request.canHibernate) return;
		request.ws?._close(1000, reason, false);
	}
}

/** The `Request` an actor's websocket handler receives, with the upgrade headers a real one would carry. */
export function webSocketRequest(
	path: string,
	headers: Record<string, string>,
): Request {
	return new Request(`http://actor${path}`, {
		method: "GET",
		headers: { ...headers, upgrade: "websocket", connection: "Upgrade" },
	});
}
