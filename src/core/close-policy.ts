/**
 * The close policy (DESIGN §5), a pure function: what a close of the engine socket means.
 *
 * The engine puts the meaning in the close reason `"{group}.{code}#{rayId}"`; the close code is 1000 for
 * `ws.eviction`/`ws.connection_closed` and 1011 for the rest. The first matching row wins:
 *
 * | close seen | decision |
 * | --- | --- |
 * | a close of a socket that is no longer current | ignore |
 * | any close while we are shutting down | part of the shutdown |
 * | `ws.eviction`, from whichever endpoint | evicted: shut down now, never reconnect to any endpoint |
 * | `ws.going_away`, 1001, 1012 | reconnect soon, to the next endpoint |
 * | 1013 | reconnect with long backoff (to the next endpoint soon, when a round of the list is not yet done) |
 * | a refusal (`api.forbidden`, `guard.missing_header`, `namespace.not_found`, `ws.invalid_url`, `ws.invalid_packet` at init) while another endpoint has not refused since the last handshake | refused: that node's problem (a node mid-rollout, a wrong list entry); logged as an error, the next endpoint is tried |
 * | the same refusal when every endpoint has refused since the last handshake (always, with one endpoint) | fatal: shut down with a typed error naming the cause |
 * | anything else (1006, 1005, `core.internal_error`, `ws.timed_out_*`, …) | reconnect with backoff, to the next endpoint |
 *
 * Refusals are about the cluster (the nodes of a cluster share their tokens and namespaces), so the cluster
 * refusing is fatal; one node refusing while another may still accept is not, since the other may be the one
 * that is right. Moving to the next endpoint and backing off is the lifecycle's and the backoff's job.
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
	/**
	 * Is there another endpoint in the list that has not refused the runner since its last handshake? Always
	 * false with one endpoint. Default false.
	 */
	othersMayAccept?: boolean;
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
	/** This endpoint refused us (`cause`) but another may not: note the refusal, reconnect to the next with backoff. */
	| { action: "refused"; cause: string }
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

/** Refusals that no retry on the same engine can fix. `ws.invalid_packet` is one only at init (protocol mismatch). */
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
	const refusal =
		cause !== undefined &&
		(ALWAYS_FATAL.has(cause) ||
			(cause === "ws.invalid_packet" && !input.initialized));
	if (refusal)
		return input.othersMayAccept
			? { action: "refused", cause }
			: { action: "fatal", cause };
	return { action: "reconnect", urgency: "backoff" };
}
