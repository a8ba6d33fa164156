/**
 * In-flight tunnel requests (HTTP and WebSocket), keyed by gatewayId + requestId, with a per-actor index so
 * stopping an actor touches only its own requests, never a scan of all of them.
 */
import type * as protocol from "@rivetkit/engine-runner-protocol";
import type { ActorEntry } from "../actor-entry.ts";
import type { OutboundTunnel } from "./outbound.ts";
import type { ActorWebSocket } from "./websocket.ts";

/** Inbound WebSocket traffic waiting for its socket to be ready (open handler or restore still running). */
export type PendingInbound =
	| { tag: "message"; data: ArrayBuffer; binary: boolean; index: number }
	| { tag: "close"; code: number | null; reason: string | null };

export interface TunnelRequest {
	readonly key: number;
	readonly actor: ActorEntry;
	readonly gatewayId: ArrayBuffer;
	readonly requestId: ArrayBuffer;
	readonly kind: "http" | "websocket" | "awaiting-restore";
	/** Runner → gateway message index (u16, wraps). */
	clientIndex: number;
	/** WebSocket: the last gateway message index delivered (the open is 0). */
	serverIndex: number;
	canHibernate: boolean;
	ws: ActorWebSocket | undefined;
	/** WebSocket traffic that arrived before the socket was ready; undefined once it flows directly. */
	pending: PendingInbound[] | undefined;
	/** HTTP: set once the handler has returned (or thrown); settles when its answer is sent (or dropped). */
	responding: Promise<void> | undefined;
}

export class RequestTable {
	readonly #byKey = new Map<number, TunnelRequest>();
	readonly #byActor = new Map<ActorEntry, Set<TunnelRequest>>();
	readonly #outbound: OutboundTunnel;

	constructor(outbound: OutboundTunnel) {
		this.#outbound = outbound;
	}

	get size(): number {
		return this.#byKey.size;
	}

	get(key: number): TunnelRequest | undefined {
		return this.#byKey.get(key);
	}

	add(
		key: number,
		actor: ActorEntry,
		messageId: protocol.MessageId,
		kind: TunnelRequest["kind"],
	): TunnelRequest {
		const request: TunnelRequest = {
			key,
			actor,
			gatewayId: messageId.gatewayId,
			requestId: messageId.requestId,
			kind,
			clientIndex: 0,
			serverIndex: 0,
			canHibernate: false,
			ws: undefined,
			pending: undefined,
			responding: undefined,
		};
		const existing = this.#byKey.get(key);
		if (existing) this.delete(existing);
		this.#byKey.set(key, request);
		let set = this.#byActor.get(actor);
		if (!set) {
			set = new Set();
			this.#byActor.set(actor, set);
		}
		set.add(request);
		return request;
	}

	/** True if `request` is still the live entry for its key (it was not ended meanwhile). */
	isLive(request: TunnelRequest): boolean {
		return this.#byKey.get(request.key) === request;
	}

	delete(request: TunnelRequest): void {
		if (this.#byKey.get(request.key) !== request) return;
		this.#byKey.delete(request.key);
		const set = this.#byActor.get(request.actor);
		set?.delete(request);
		if (set?.size === 0) this.#byActor.delete(request.actor);
	}

	/** A snapshot of the actor's requests (safe to end them while iterating). */
	ofActor(actor: ActorEntry): TunnelRequest[] {
		const set = this.#byActor.get(actor);
		return set ? [...set] : [];
	}

	all(): TunnelRequest[] {
		return [...this.#byKey.values()];
	}

	/** Sends one runner → gateway message for `request` (buffered while disconnected). */
	send(
		request: TunnelRequest,
		messageKind: protocol.ToServerTunnelMessageKind,
	): void {
		const messageIndex = request.clientIndex;
		request.clientIndex = (messageIndex + 1) & 0xffff;
		this.#outbound.send({
			messageId: {
				gatewayId: request.gatewayId,
				requestId: request.requestId,
				messageIndex,
			},
			messageKind,
		});
	}
}
