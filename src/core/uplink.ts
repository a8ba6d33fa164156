/**
 * The engine socket. One current connection at a time; every event carries the connection it came from, so a
 * socket that was replaced can never act on the runner (R's stale-socket bugs, rivet#4397, #3800).
 *
 * Inbound frames are decoded and delivered strictly in arrival order, synchronously when they arrive as
 * `ArrayBuffer` (we set `binaryType = "arraybuffer"`), through a FIFO when a runtime hands us a `Blob` anyway.
 * Before `ToClientInit` only `ToServerInit` (and pongs) may go out; everything else waits in its owner's buffer.
 */
import * as protocol from "@rivetkit/engine-runner-protocol";
import { ProtocolError } from "./errors.ts";
import { FrameEncoder } from "./frame-encoder.ts";
import { errorFields, type Logger } from "./log.ts";
import type { Platform } from "./platform.ts";
import type { TimerSet } from "./timers.ts";

export class Connection {
	readonly id: number;
	readonly socket: WebSocket;
	/** The engine has answered our init: normal traffic may flow. */
	initialized = false;
	/** We stopped listening to it (replaced, or closed by us): its events are bookkeeping only. */
	retired = false;
	readonly openedAt: number;
	/** When the engine last sent a frame (the watchdog reads it; no timer churn per frame). */
	lastFrameAt: number;
	readonly inbound: Array<ArrayBuffer | Blob> = [];
	draining = false;

	constructor(id: number, socket: WebSocket, now: number) {
		this.id = id;
		this.socket = socket;
		this.openedAt = now;
		this.lastFrameAt = now;
	}

	get isOpen(): boolean {
		return this.socket.readyState === 1;
	}
}

export interface UplinkHandlers {
	onOpen(conn: Connection): void;
	onMessage(conn: Connection, message: protocol.ToClient): void;
	onInvalidFrame(conn: Connection, error: ProtocolError): void;
	/** `current` is false for a socket that was already replaced or retired. */
	onClose(
		conn: Connection,
		code: number,
		reason: string,
		current: boolean,
	): void;
	/** No frame from the engine for `silenceMs` on the current connection. */
	onSilence(conn: Connection): void;
}

export interface UplinkOptions {
	platform: Platform;
	protocols: string[];
	log: Logger;
	timers: TimerSet;
	silenceMs: number;
	handlers: UplinkHandlers;
}

const WATCHDOG = "uplink.watchdog";

export class Uplink {
	readonly #o: UplinkOptions;
	readonly #encoder = new FrameEncoder();
	#current: Connection | undefined;
	#nextId = 1;

	constructor(options: UplinkOptions) {
		this.#o = options;
	}

	get current(): Connection | undefined {
		return this.#current;
	}

	/** True when normal traffic can be sent now (open and past the handshake). */
	get ready(): boolean {
		const conn = this.#current;
		return conn?.initialized === true && conn.isOpen;
	}

	/** Opens a new connection to `url`; a previous one still around is closed and retired first. */
	connect(url: string): Connection {
		if (this.#current) this.retire(1000, "runner.reconnect");
		const { platform, protocols } = this.#o;
		const socket = new platform.WebSocket(url, protocols);
		socket.binaryType = "arraybuffer";
		const conn = new Connection(this.#nextId++, socket, Date.now());
		this.#current = conn;
		socket.addEventListener("open", () => {
			if (conn === this.#current) this.#o.handlers.onOpen(conn);
		});
		socket.addEventListener("message", (event) =>
			this.#receive(conn, event.data),
		);
		socket.addEventListener("error", (event) => {
			const message = (event as { message?: string }).message;
			this.#o.log.debug(
				{ connection: conn.id, message },
				"engine socket error",
			);
		});
		socket.addEventListener("close", (event) => {
			const current = conn === this.#current && !conn.retired;
			if (current) {
				this.#current = undefined;
				this.#o.timers.clear(WATCHDOG);
			}
			conn.retired = true;
			this.#o.handlers.onClose(conn, event.code, event.reason, current);
		});
		this.#armWatchdog(conn);
		return conn;
	}

	/** Marks the current connection as past the handshake. */
	markInitialized(conn: Connection): void {
		conn.initialized = true;
	}

	/** Sends when the current connection is ready; returns false (nothing sent) otherwise. */
	send(message: protocol.ToServer): boolean {
		if (!this.ready) return false;
		return this.#write(message);
	}

	/** Sends on the current open connection before the handshake is done (`ToServerInit`, pongs). */
	sendHandshake(message: protocol.ToServer): boolean {
		const conn = this.#current;
		if (!conn?.isOpen) return false;
		return this.#write(message);
	}

	/**
	 * Closes the current connection (OPEN or CONNECTING) and keeps it current, so its close event completes
	 * whatever asked for the close (the shutdown path).
	 */
	close(code: number, reason: string): void {
		const conn = this.#current;
		if (!conn) return;
		this.#safeClose(conn, code, reason);
	}

	/** Closes the current connection and stops listening to it at once; returns it, or undefined if none. */
	retire(code: number, reason: string): Connection | undefined {
		const conn = this.#current;
		if (!conn) return undefined;
		conn.retired = true;
		this.#current = undefined;
		this.#o.timers.clear(WATCHDOG);
		this.#safeClose(conn, code, reason);
		return conn;
	}

	#safeClose(conn: Connection, code: number, reason: string): void {
		if (conn.socket.readyState >= 2) return;
		try {
			conn.socket.close(code, reason);
		} catch (err) {
			this.#o.log.warn(
				{ connection: conn.id, ...errorFields(err) },
				"closing the engine socket failed",
			);
		}
	}

	#write(message: protocol.ToServer): boolean {
		const conn = this.#current;
		if (!conn) return false;
		try {
			conn.socket.send(this.#encoder.encode(message));
			return true;
		} catch (err) {
			this.#o.log.warn(
				{ connection: conn.id, tag: message.tag, ...errorFields(err) },
				"send failed",
			);
			return false;
		}
	}

	/** One timer per silence window, not per frame: on expiry it re-arms for what is left since the last frame. */
	#armWatchdog(conn: Connection, ms = this.#o.silenceMs): void {
		this.#o.timers.set(WATCHDOG, ms, () => {
			if (conn !== this.#current) return;
			const silentFor = Date.now() - conn.lastFrameAt;
			if (silentFor < this.#o.silenceMs)
				this.#armWatchdog(conn, this.#o.silenceMs - silentFor);
			else this.#o.handlers.onSilence(conn);
		});
	}

	#receive(conn: Connection, data: unknown): void {
		if (conn !== this.#current || conn.retired) return;
		conn.lastFrameAt = Date.now();
		if (typeof data === "string") {
			this.#o.log.warn(
				{ connection: conn.id, length: data.length },
				"ignoring a text frame from the engine",
			);
			return;
		}
		const bytes =
			data instanceof ArrayBuffer
				? new Uint8Array(data)
				: ArrayBuffer.isView(data)
					? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
					: undefined;
		if (bytes && !conn.draining) {
			// The common case: nothing queued ahead of it, deliver now (no queue round trip).
			conn.draining = true;
			this.#deliver(conn, bytes);
			conn.draining = false;
			if (conn.inbound.length > 0) this.#drain(conn);
			return;
		}
		let frame: ArrayBuffer | Blob;
		if (bytes) frame = bytes.slice().buffer as ArrayBuffer;
		else if (typeof Blob !== "undefined" && data instanceof Blob) frame = data;
		else {
			this.#o.handlers.onInvalidFrame(
				conn,
				new ProtocolError(`unexpected frame type ${typeof data}`),
			);
			return;
		}
		conn.inbound.push(frame);
		if (!conn.draining) this.#drain(conn);
	}

	/** Delivers queued frames in order; pauses (asynchronously) only on a Blob. */
	#drain(conn: Connection): void {
		conn.draining = true;
		while (conn.inbound.length > 0) {
			if (conn !== this.#current || conn.retired) {
				conn.inbound.length = 0;
				break;
			}
			const frame = conn.inbound[0];
			if (frame instanceof ArrayBuffer) {
				conn.inbound.shift();
				this.#deliver(conn, new Uint8Array(frame));
				continue;
			}
			frame?.arrayBuffer().then(
				(buffer) => {
					conn.inbound[0] = buffer;
					this.#drain(conn);
				},
				(err: unknown) => {
					conn.inbound.shift();
					this.#o.handlers.onInvalidFrame(
						conn,
						new ProtocolError("could not read a Blob frame", { cause: err }),
					);
					this.#drain(conn);
				},
			);
			return;
		}
		conn.draining = false;
	}

	#deliver(conn: Connection, bytes: Uint8Array): void {
		let message: protocol.ToClient;
		try {
			message = protocol.decodeToClient(bytes);
		} catch (err) {
			this.#o.handlers.onInvalidFrame(
				conn,
				new ProtocolError(
					`undecodable frame of ${bytes.byteLength} bytes: ${(err as Error).message}`,
					{
						cause: err,
					},
				),
			);
			return;
		}
		this.#o.handlers.onMessage(conn, message);
	}
}
