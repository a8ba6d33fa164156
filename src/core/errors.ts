/**
 * Typed errors. Every error has a stable `code` that callers can switch on; the message says what happened and
 * what to do about it.
 */
export class EdgerunnerError extends Error {
	readonly code: string;
	constructor(code: string, message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = new.target.name;
		this.code = code;
	}
}

/** The runner configuration is invalid; thrown by the `Runner` constructor. */
export class ConfigError extends EdgerunnerError {
	constructor(field: string, message: string) {
		super("config_invalid", `Invalid runner config \`${field}\`: ${message}`);
		this.field = field;
	}
	readonly field: string;
}

/** A frame from the engine could not be decoded, or was not binary. */
export class ProtocolError extends EdgerunnerError {
	constructor(message: string, options?: { cause?: unknown }) {
		super("protocol_invalid_frame", message, options);
	}
}

/** The engine refused this runner for good (auth, namespace, protocol version): retrying cannot help. */
export class FatalCloseError extends EdgerunnerError {
	/** `{group}.{code}` from the engine's close reason, e.g. `api.forbidden`. */
	readonly refusal: string;
	constructor(refusal: string, closeCode: number, reason: string) {
		super(
			`fatal:${refusal}`,
			`The engine refused the runner (${refusal}, close ${closeCode} "${reason}"). ${fatalAdvice(refusal)}`,
		);
		this.refusal = refusal;
	}
}

function fatalAdvice(cause: string): string {
	switch (cause) {
		case "api.forbidden":
			return "Check the `token` passed to the runner.";
		case "guard.missing_header":
			return "The engine requires a token: pass `token` in the runner config.";
		case "namespace.not_found":
			return "Create the namespace on the engine or fix `namespace`.";
		case "ws.invalid_url":
			return "The connect URL was rejected: check `endpoint` and `namespace`.";
		case "ws.invalid_packet":
			return "The engine does not speak runner protocol v7: upgrade the engine or use a matching runner.";
		default:
			return "Fix the configuration; the runner will not retry.";
	}
}

/** The runner is shutting down or has shut down; the operation was not (or will not be) completed. */
export class RunnerShutdownError extends EdgerunnerError {
	constructor(what = "operation") {
		super("runner_shutdown", `Runner shut down before the ${what} completed.`);
	}
}

/** The runner was disconnected longer than the engine's lost threshold: the engine has given its actors away. */
export class RunnerLostError extends EdgerunnerError {
	constructor(what = "operation") {
		super(
			"runner_lost",
			`Runner was disconnected longer than the engine's lost threshold; the ${what} was abandoned and the actor stopped.`,
		);
	}
}

/** A KV request breaks an engine limit; it was never sent. */
export class KvLimitError extends EdgerunnerError {
	constructor(message: string) {
		super("kv_limit", message);
	}
}

/** The engine answered a KV request with an error. */
export class KvRemoteError extends EdgerunnerError {
	constructor(message: string) {
		super("kv_remote", `The engine rejected the KV request: ${message}`);
	}
}

/** A KV write was sent but the connection was lost before the answer: it may or may not have been applied. */
export class KvUnknownOutcomeError extends EdgerunnerError {
	constructor(op: string) {
		super(
			"kv_unknown_outcome",
			`The connection to the engine was lost after the KV ${op} was sent; it may or may not have been applied. Read back before retrying.`,
		);
	}
}

/** The engine answered a KV request with a response of another kind (a get answered by a put response). */
export class KvUnexpectedResponseError extends EdgerunnerError {
	constructor(op: string, got: string) {
		super(
			"kv_unexpected_response",
			`The engine answered the KV ${op} with a ${got}; the request's outcome is unknown.`,
		);
	}
}

/** A KV request got no answer within the timeout. */
export class KvTimeoutError extends EdgerunnerError {
	constructor(op: string, ms: number) {
		super("kv_timeout", `The KV ${op} got no answer within ${ms} ms.`);
	}
}

/** The actor is not running on this runner. */
export class ActorNotFoundError extends EdgerunnerError {
	constructor(actorId: string) {
		super("actor_not_found", `Actor ${actorId} is not running on this runner.`);
	}
}

/** A tunnel WebSocket message is larger than the engine accepts (20 MiB); sending it would kill the runner socket. */
export class TunnelMessageTooLargeError extends EdgerunnerError {
	constructor(bytes: number, limit: number) {
		super(
			"tunnel_message_too_large",
			`A WebSocket message of ${bytes} bytes exceeds the tunnel limit of ${limit} bytes; it was not sent. Split it into smaller messages.`,
		);
	}
}
