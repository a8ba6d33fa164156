/**
 * The WebSocket an actor sees for a tunnelled client socket: WHATWG-shaped (an `EventTarget` with `open`,
 * `message`, `close`, `error` events and `on*` handlers, `send`, `close(code, reason)`, `readyState`,
 * `binaryType`), built on web standards only so the same actor code runs on every runtime.
 *
 * Differences from a browser WebSocket, on purpose: `binaryType` defaults to `"arraybuffer"` (as R's virtual
 * WebSocket; `"blob"` is supported), a listener that throws is logged instead of reaching the runtime's
 * uncaught-error path (in Node that would end the process), and message events carry `rivetMessageIndex`
 * (the gateway's index, what a hibernatable socket persists and acks).
 */
import { TunnelMessageTooLargeError } from "../errors.ts";
import { errorFields, type Logger } from "../log.ts";
import { MAX_TUNNEL_PAYLOAD_BYTES } from "./limits.ts";

/** How the actor's socket reaches the gateway. */
export interface WebSocketLink {
	send(data: ArrayBuffer, binary: boolean): void;
	/** The actor closed the socket: tell the gateway (null code = no status code). */
	close(code: number | null, reason: string | null): void;
}

export class ActorCloseEvent extends Event {
	readonly code: number;
	readonly reason: string;
	readonly wasClean: boolean;
	constructor(code: number, reason: string, wasClean: boolean) {
		super("close");
		this.code = code;
		this.reason = reason;
		this.wasClean = wasClean;
	}
}

export class ActorMessageEvent extends MessageEvent<
	string | ArrayBuffer | Blob
> {
	/** The gateway's index of this message (u16, wraps): persist it and ack it for hibernatable sockets. */
	readonly rivetMessageIndex: number;
	readonly rivetRequestId: ArrayBuffer;
	constructor(
		data: string | ArrayBuffer | Blob,
		index: number,
		requestId: ArrayBuffer,
	) {
		super("message", { data });
		this.rivetMessageIndex = index;
		this.rivetRequestId = requestId;
	}
}

type Handler = ((event: Event) => unknown) | null;
type HandlerName = "open" | "message" | "close" | "error";
type Sendable = string | ArrayBuffer | ArrayBufferView | Blob;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const MAX_REASON_BYTES = 123;

export class ActorWebSocket extends EventTarget {
	static readonly CONNECTING = 0;
	static readonly OPEN = 1;
	static readonly CLOSING = 2;
	static readonly CLOSED = 3;
	readonly CONNECTING = 0;
	readonly OPEN = 1;
	readonly CLOSING = 2;
	readonly CLOSED = 3;
	readonly url: string;
	readonly protocol: string;
	readonly extensions = "";
	readonly #link: WebSocketLink;
	readonly #log: Logger;
	readonly #requestId: ArrayBuffer;
	#state = 0;
	#binaryType: BinaryType = "arraybuffer";
	/** Sends waiting behind a Blob being read, to keep their order. */
	#sendQueue: Sendable[] | undefined;
	readonly #handlers = new Map<
		HandlerName,
		{ fn: Handler; l: EventListener }
	>();
	readonly #wrapped = new Map<string, Map<unknown, EventListener>>();

	constructor(
		url: string,
		protocol: string,
		requestId: ArrayBuffer,
		link: WebSocketLink,
		log: Logger,
	) {
		super();
		this.url = url;
		this.protocol = protocol;
		this.#requestId = requestId;
		this.#link = link;
		this.#log = log;
	}

	get readyState(): number {
		return this.#state;
	}

	get bufferedAmount(): number {
		return 0;
	}

	get binaryType(): BinaryType {
		return this.#binaryType;
	}

	set binaryType(value: BinaryType) {
		// An enum attribute ignores values outside the enum (WebIDL).
		if (value === "arraybuffer" || value === "blob") this.#binaryType = value;
	}

	get onopen(): Handler {
		return this.#handlers.get("open")?.fn ?? null;
	}
	set onopen(fn: Handler) {
		this.#setHandler("open", fn);
	}
	get onmessage(): Handler {
		return this.#handlers.get("message")?.fn ?? null;
	}
	set onmessage(fn: Handler) {
		this.#setHandler("message", fn);
	}
	get onclose(): Handler {
		return this.#handlers.get("close")?.fn ?? null;
	}
	set onclose(fn: Handler) {
		this.#setHandler("close", fn);
	}
	get onerror(): Handler {
		return this.#handlers.get("error")?.fn ?? null;
	}
	set onerror(fn: Handler) {
		this.#setHandler("error", fn);
	}

	#setHandler(name: HandlerName, fn: Handler): void {
		const old = this.#handlers.get(name);
		if (old) super.removeEventListener(name, old.l);
		this.#handlers.delete(name);
		if (typeof fn !== "function") return;
		const l = this.#guard((event) => fn.call(this, event));
		this.#handlers.set(name, { fn, l });
		super.addEventListener(name, l);
	}

	override addEventListener(
		type: string,
		listener: EventListenerOrEventListenerObject | null,
		options?: boolean | AddEventListenerOptions,
	): void {
		if (!listener) return;
		let byListener = this.#wrapped.get(type);
		if (!byListener) {
			byListener = new Map();
			this.#wrapped.set(type, byListener);
		}
		if (byListener.has(listener)) return;
		const wrapped = this.#guard((event) =>
			typeof listener === "function"
				? listener.call(this, event)
				: listener.handleEvent(event),
		);
		byListener.set(listener, wrapped);
		super.addEventListener(type, wrapped, options);
	}

	override removeEventListener(
		type: string,
		listener: EventListenerOrEventListenerObject | null,
		options?: boolean | EventListenerOptions,
	): void {
		const byListener = this.#wrapped.get(type);
		const wrapped = byListener?.get(listener);
		if (!wrapped) return;
		byListener?.delete(listener);
		super.removeEventListener(type, wrapped, options);
	}

	#guard(fn: (event: Event) => unknown): EventListener {
		return (event) => {
			try {
				fn(event);
			} catch (err) {
				this.#log.error(
					{ event: event.type, ...errorFields(err) },
					"actor WebSocket listener threw",
				);
			}
		};
	}

	/** WHATWG `send`: throws while CONNECTING, drops silently once closing. */
	send(data: Sendable): void {
		if (this.#state === 0)
			throw new DOMException(
				"WebSocket is still connecting",
				"InvalidStateError",
			);
		if (this.#state !== 1) return;
		if (this.#sendQueue) {
			this.#sendQueue.push(data);
			return;
		}
		if (typeof Blob !== "undefined" && data instanceof Blob) {
			this.#sendQueue = [data];
			void this.#drainSendQueue();
			return;
		}
		this.#sendNow(data);
	}

	#sendNow(data: Sendable): void {
		let bytes: ArrayBuffer;
		let binary = true;
		if (typeof data === "string") {
			const encoded = encoder.encode(data);
			bytes =
				encoded.byteLength === encoded.buffer.byteLength
					? (encoded.buffer as ArrayBuffer)
					: (encoded.slice().buffer as ArrayBuffer);
			binary = false;
		} else if (data instanceof ArrayBuffer) bytes = data.slice(0);
		else if (ArrayBuffer.isView(data)) {
			bytes = new Uint8Array(
				data.buffer,
				data.byteOffset,
				data.byteLength,
			).slice().buffer as ArrayBuffer;
		} else {
			this.#sendNow(String(data));
			return;
		}
		if (bytes.byteLength > MAX_TUNNEL_PAYLOAD_BYTES)
			throw new TunnelMessageTooLargeError(
				bytes.byteLength,
				MAX_TUNNEL_PAYLOAD_BYTES,
			);
		this.#link.send(bytes, binary);
	}

	async #drainSendQueue(): Promise<void> {
		const queue = this.#sendQueue;
		while (queue && queue.length > 0) {
			const next = queue.shift() as Sendable;
			try {
				const data = next instanceof Blob ? await next.arrayBuffer() : next;
				if (this.#state === 1) this.#sendNow(data);
			} catch (err) {
				this.#log.error(errorFields(err), "actor WebSocket send failed");
			}
		}
		this.#sendQueue = undefined;
	}

	/**
	 * WHATWG `close`: code 1000 or 3000–4999 (else `InvalidAccessError`), reason at most 123 UTF-8 bytes (else
	 * `SyntaxError`). The gateway is told; the close event follows at once (the gateway does not echo).
	 */
	close(code?: number, reason?: string): void {
		// A USVString, as in WHATWG: lone surrogates become U+FFFD. The codec would write one as raw CESU-8 bytes
		// that the engine's strict UTF-8 reader refuses, dropping the whole close frame.
		if (reason !== undefined) reason = usvString(String(reason));
		if (code !== undefined) {
			code = Math.trunc(Number(code)) & 0xffff;
			if (code !== 1000 && (code < 3000 || code > 4999))
				throw new DOMException(
					`close code must be 1000 or 3000–4999, got ${code}`,
					"InvalidAccessError",
				);
		}
		if (
			reason !== undefined &&
			encoder.encode(reason).byteLength > MAX_REASON_BYTES
		)
			throw new DOMException(
				`close reason must be at most ${MAX_REASON_BYTES} UTF-8 bytes`,
				"SyntaxError",
			);
		if (this.#state >= 2) return;
		this.#state = 2;
		this.#link.close(code ?? null, reason ?? null);
		this.#finish(code ?? 1005, reason ?? "", true);
	}

	// Tunnel side (not part of the WHATWG surface).

	/** The gateway has the open: `open` event. */
	_open(): void {
		if (this.#state !== 0) return;
		this.#state = 1;
		this.dispatchEvent(new Event("open"));
	}

	/** Restored after hibernation: already open, no `open` event (spec §8.4). */
	_markOpen(): void {
		if (this.#state === 0) this.#state = 1;
	}

	_message(data: ArrayBuffer, binary: boolean, index: number): void {
		if (this.#state !== 1) return;
		const value = binary
			? this.#binaryType === "blob"
				? new Blob([data])
				: data
			: decoder.decode(data);
		this.dispatchEvent(new ActorMessageEvent(value, index, this.#requestId));
	}

	/**
	 * Closed by the tunnel: by the gateway (client close), or locally (actor stopped, runner shutdown, index gap).
	 * `notifyGateway` sends `ToServerWebSocketClose` with any code (internal codes such as 1008/1011 allowed).
	 */
	_close(
		code: number | null,
		reason: string | null,
		notifyGateway: boolean,
		wasClean = true,
	): void {
		if (this.#state >= 2) return;
		this.#state = 2;
		if (notifyGateway) this.#link.close(code, reason);
		this.#finish(code ?? 1005, reason ?? "", wasClean);
	}

	#finish(code: number, reason: string, wasClean: boolean): void {
		this.#state = 3;
		this.#sendQueue = undefined;
		this.dispatchEvent(new ActorCloseEvent(code, reason, wasClean));
	}
}

function usvString(text: string): string {
	return text.replace(
		/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
		"\ufffd",
	);
}
