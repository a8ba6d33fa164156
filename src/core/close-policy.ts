/**
 * The close policy (DESIGN §5), a pure function: what a close of the engine socket means.
 *
 * The engine puts the meaning in the close reason `"{group}.{code}#{rayId}"`; the close code is 1000 for
 * `ws.eviction`/`ws.connection_closed` and 1011 for the rest.
 */
import type { ReconnectUrgency } from "./backoff.ts";

export interface CloseInput {
	/** WebSocket close code (1006 when the connection dropped without a close frame). */
	code: number;
	/** Close reason as received. */
	reason: string;
	/** Was the runner already shutting down when the close arrived? */
	shuttingDown: boolean;
	/** Is this the runner's current socket (not one it already replaced)? */
	current: boolean;
	/** Had this socket completed the handshake (received `ToClientInit`)? */
	initialized: boolean;
}

export type CloseDecision =
	/** Part of our own shutdown: no reconnect, no eviction handling. */
	| { action: "shutdown" }
	/** A socket we already replaced: bookkeeping only. */
	| { action: "ignore" }
	/** The engine evicted us: shut down immediately, never reconnect. */
	| { action: "evicted" }
	/** The engine refused us for good: shut down with a typed error naming `cause`. */
	| { action: "fatal"; cause: string }
	/** Reconnect after a delay of this urgency, and start the lost timer. */
	| { action: "reconnect"; urgency: ReconnectUrgency };

export interface CloseReason {
	group: string;
	code: string;
	rayId?: string;
}

/** Parses `"{group}.{code}#{rayId}"`; anything else (our own reasons, empty) is `undefined`. */
export function parseCloseReason(reason: string): CloseReason | undefined {
	const match = /^([a-z0-9_]+)\.([a-z0-9_]+)(?:#(.*))?$/.exec(reason);
	if (!match) return undefined;
	const [, group = "", code = "", rayId] = match;
	return rayId === undefined ? { group, code } : { group, code, rayId };
}

/** Refusals that no retry can fix. `ws.invalid_packet` is one only at init (protocol version mismatch). */
const ALWAYS_FATAL = new Set([
	"api.forbidden",
	"guard.missing_header",
	"namespace.not_found",
	"ws.invalid_url",
]);

export function classifyClose(input: CloseInput): CloseDecision {
	// A replaced socket first: it can neither reconnect nor end a shutdown running on its successor.
	if (!input.current) return { action: "ignore" };
	if (input.shuttingDown) return { action: "shutdown" };
	const parsed = parseCloseReason(input.reason);
	const cause = parsed ? `${parsed.group}.${parsed.code}` : undefined;
	if (cause === "ws.eviction") return { action: "evicted" };
	if (cause === "ws.going_away" || input.code === 1001 || input.code === 1012) {
		return { action: "reconnect", urgency: "soon" };
	}
	if (input.code === 1013) return { action: "reconnect", urgency: "long" };
	if (cause !== undefined && ALWAYS_FATAL.has(cause))
		return { action: "fatal", cause };
	if (cause === "ws.invalid_packet" && !input.initialized)
		return { action: "fatal", cause };
	return { action: "reconnect", urgency: "backoff" };
}
