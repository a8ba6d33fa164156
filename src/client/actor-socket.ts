/**
 * `ActorSocket`: a partysocket `ReconnectingWebSocket` to an actor through the gateway, with the client's
 * reconnect policy: full-jitter delays (partysocket has none by default), the close table (`close-table.ts`)
 * instead of partysocket's "always come back", and a bounded send buffer of our own while the socket is down.
 *
 * The send buffer is ours, not partysocket's, for two reasons: partysocket's queue is unbounded in bytes and
 * drops silently past `maxEnqueuedMessages`, and it flushes its queue on `open` *before* any open listener runs;
 * ours is flushed right *after* the open listeners, so a greeting sent from an open listener goes first.
 */
import ReconnectingWebSocket from "partysocket/ws";
import { fullJitterDelay, type ReconnectDelays } from "./backoff.ts";
import {
	type CloseDecision,
	decideOnClose,
	endpointUnreachable,
} from "./close-table.ts";
import {
	SendBufferFullError,
	SocketEndedError,
	type SocketEnding,
} from "./errors.ts";

export type SocketMessage =
	| string
	| ArrayBuffer
	| Blob
	| ArrayBufferView<ArrayBuffer>;

/** The bound on what `send()` keeps while the socket is down. */
export interface SendBufferLimit {
	/** Default 256 messages. */
	messages?: number;
	/** Default 1 MiB (strings counted as UTF-8). */
	bytes?: number;
}

export const DEFAULT_SEND_BUFFER = { messages: 256, bytes: 1024 * 1024 };
/** Long enough for the gateway to wake a sleeping actor before the upgrade completes. */
export const DEFAULT_CONNECTION_TIMEOUT_MS = 10_000;

export interface ActorSocketOptions {
	/** A WHATWG WebSocket constructor; default `globalThis.WebSocket` (pass `ws`'s on Node 20). */
	WebSocket?: unknown;
	reconnectDelays?: ReconnectDelays;
	sendBuffer?: SendBufferLimit;
	/** Abandon a connection attempt after this long and try again (ms). Default 10000. */
	connectionTimeoutMs?: number;
	/** A reconnect that stays up this long resets the backoff (ms). Default 5000. */
	minUptimeMs?: number;
	/**
	 * Called on a close that says the endpoint could not be reached (`endpointUnreachable`), before the next
	 * attempt asks `url` for its URL: a client with several endpoints moves to the next one here.
	 */
	onUnreachable?: () => void;
}

const encoder = new TextEncoder();

function sizeOf(data: SocketMessage): number {
	if (typeof data === "string") return encoder.encode(data).byteLength;
	if (data instanceof ArrayBuffer) return data.byteLength;
	if (ArrayBuffer.isView(data)) return data.byteLength;
	return data.size;
}

export class ActorSocket extends ReconnectingWebSocket {
	readonly #limit: { messages: number; bytes: number };
	#buffer: SocketMessage[] = [];
	#bufferedBytes = 0;
	#lastDecision: (CloseDecision & { code: number; reason: string }) | undefined;
	#dispatchingOpen = false;
	#ending: SocketEnding | undefined;
	readonly #onUnreachable: (() => void) | undefined;
	#resolveEnded: (ending: SocketEnding) => void = () => {};
	/** Resolves once the socket has ended for good (see the close table), with why. */
	readonly ended: Promise<SocketEnding>;

	/** `url` may be a function: it is asked again before each attempt (the client's current endpoint). */
	constructor(
		url: string | (() => string),
		protocols: string[],
		options: ActorSocketOptions = {},
	) {
		const delays = options.reconnectDelays ?? {};
		let socket: ActorSocket | undefined;
		super(url, protocols, {
			WebSocket: options.WebSocket,
			// partysocket waits `minReconnectionDelay * grow^(n-1)` capped at the max: with grow 1 and no cap,
			// this getter is the whole delay, read once per attempt.
			get minReconnectionDelay() {
				return fullJitterDelay(socket?.retryCount ?? 1, delays);
			},
			reconnectionDelayGrowFactor: 1,
			maxReconnectionDelay: Number.POSITIVE_INFINITY,
			connectionTimeout:
				options.connectionTimeoutMs ?? DEFAULT_CONNECTION_TIMEOUT_MS,
			minUptime: options.minUptimeMs ?? 5000,
			// Ours buffers instead (see above); partysocket never queues.
			maxEnqueuedMessages: 0,
			shouldReconnectOnClose: (event) =>
				socket ? socket.#decide(event) : true,
		});
		socket = this;
		this.#onUnreachable = options.onUnreachable;
		this.#limit = {
			messages: options.sendBuffer?.messages ?? DEFAULT_SEND_BUFFER.messages,
			bytes: options.sendBuffer?.bytes ?? DEFAULT_SEND_BUFFER.bytes,
		};
		this.ended = new Promise((resolve) => {
			this.#resolveEnded = resolve;
		});
	}

	/** Why the socket ended, or undefined while it is up or coming back. */
	get ending(): SocketEnding | undefined {
		return this.#ending;
	}

	/** Messages and bytes waiting for the next open. */
	get buffered(): { messages: number; bytes: number } {
		return { messages: this.#buffer.length, bytes: this.#bufferedBytes };
	}

	/**
	 * Sends now if open; while reconnecting, keeps the message (up to the bound) for the next open. Throws
	 * `SendBufferFullError` past the bound and `SocketEndedError` once ended: never a silent drop.
	 * Returns true if sent now, false if buffered.
	 */
	override send(data: SocketMessage): boolean {
		if (this.#ending) throw new SocketEndedError(this.#ending);
		// Open listeners send ahead of what was kept (it is flushed once they have run).
		if (
			this.readyState === this.OPEN &&
			(this.#buffer.length === 0 || this.#dispatchingOpen)
		)
			return super.send(data);
		const size = sizeOf(data);
		if (
			this.#buffer.length + 1 > this.#limit.messages ||
			this.#bufferedBytes + size > this.#limit.bytes
		)
			throw new SendBufferFullError(this.#limit, this.buffered);
		this.#buffer.push(data);
		this.#bufferedBytes += size;
		return false;
	}

	/** Ends the socket for good (no reconnect). Buffered messages are dropped and counted in `ending.unsent`. */
	override close(code?: number, reason?: string): void {
		this.#end(code ?? 1000, reason ?? "", "closed by the application");
		super.close(code, reason);
	}

	override dispatchEvent(event: Event): boolean {
		if (event.type === "open") {
			this.#dispatchingOpen = true;
			try {
				return super.dispatchEvent(event);
			} finally {
				this.#dispatchingOpen = false;
				this.#flush();
			}
		}
		// Decided before the close listeners run, so they see `ending` set. The code and reason are the ones the
		// decision saw: on Node, partysocket's clone of the event says 1999 / "unknown reason" for none.
		if (event.type === "close") {
			const decision = this.#lastDecision;
			if (decision?.action === "end" && !this.#ending)
				this.#end(decision.code, decision.reason, decision.why);
		}
		return super.dispatchEvent(event);
	}

	#decide(event: { code: number; reason?: string }): boolean {
		const code = event.code;
		const reason = event.reason ?? "";
		this.#lastDecision = { ...decideOnClose(code, reason), code, reason };
		if (
			!this.#ending &&
			this.#lastDecision.action === "reconnect" &&
			endpointUnreachable(code, reason)
		)
			this.#onUnreachable?.();
		return this.#lastDecision.action === "reconnect";
	}

	#flush(): void {
		const pending = this.#buffer;
		this.#buffer = [];
		this.#bufferedBytes = 0;
		for (const [index, message] of pending.entries()) {
			if (this.readyState !== this.OPEN) {
				// Closed again while flushing (an open listener closed it): keep the rest, in order.
				this.#buffer = pending.slice(index);
				this.#bufferedBytes = this.#buffer.reduce((n, m) => n + sizeOf(m), 0);
				return;
			}
			super.send(message);
		}
	}

	#end(code: number, reason: string, why: string): void {
		if (this.#ending) return;
		this.#ending = { code, reason, why, unsent: this.#buffer.length };
		this.#buffer = [];
		this.#bufferedBytes = 0;
		this.#resolveEnded(this.#ending);
	}
}
