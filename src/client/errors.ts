/**
 * The client's typed errors. Each has a stable `code`; engine and gateway refusals also carry the engine's own
 * `group.code` (from the JSON body `{group, code, message}` or the `x-rivet-error` header).
 */

/** A refusal from the engine's API or its gateway, with the engine's `group.code`. */
export class RivetError extends Error {
	override readonly name = "RivetError";
	/** The engine's error group, e.g. `actor`, `guard`, `api`. */
	readonly group: string;
	/** The engine's error code within its group, e.g. `not_found`. */
	readonly code: string;
	/** The HTTP status of the refusal. */
	readonly status: number;
	/** What was asked: `PUT /actors`, `GET /gateway/{id}/count`, … */
	readonly request: string;

	constructor(
		group: string,
		code: string,
		message: string,
		status: number,
		request: string,
	) {
		super(`${request}: ${group}.${code} (HTTP ${status}): ${message}`);
		this.group = group;
		this.code = code;
		this.status = status;
		this.request = request;
	}

	/** `group.code`, the engine's identity for this error. */
	get id(): string {
		return `${this.group}.${this.code}`;
	}
}

/** `send()` while the socket is down and the send buffer is at its bound: the message was not taken. */
export class SendBufferFullError extends Error {
	override readonly name = "SendBufferFullError";
	readonly code = "send_buffer_full";
	readonly limit: { messages: number; bytes: number };
	readonly buffered: { messages: number; bytes: number };
	constructor(
		limit: { messages: number; bytes: number },
		buffered: { messages: number; bytes: number },
	) {
		super(
			`the socket is reconnecting and its send buffer is full (${buffered.messages} messages, ${buffered.bytes} bytes buffered; bound ${limit.messages} messages / ${limit.bytes} bytes): wait for "open" or raise sendBuffer`,
		);
		this.limit = limit;
		this.buffered = buffered;
	}
}

/** `send()` on a socket that has ended (closed by you, or a close that means "do not come back"). */
export class SocketEndedError extends Error {
	override readonly name = "SocketEndedError";
	readonly code = "socket_ended";
	readonly ending: SocketEnding;
	constructor(ending: SocketEnding) {
		super(
			`the socket has ended (${ending.code} ${ending.reason || "(no reason)"}: ${ending.why}); open a new one with handle.connect()`,
		);
		this.ending = ending;
	}
}

/** Why a socket ended for good. */
export interface SocketEnding {
	code: number;
	reason: string;
	/** The row of the close table that applied. */
	why: string;
	/** Messages that were buffered while down and are dropped with the socket. */
	unsent: number;
}

/** Bad arguments to the client (an empty name, a relative endpoint, …). */
export class ClientConfigError extends Error {
	override readonly name = "ClientConfigError";
	readonly code = "client_config";
}
