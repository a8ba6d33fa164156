/**
 * What the client does on each kind of close: come back (reconnect with jittered backoff) or end the socket.
 * A pure function of the close code and reason, one row per kind (the README's table lists the same rows).
 *
 * Gateways (the dev engine and the real guard) close with reasons shaped `{group}.{code}#{ray_id}`; a few of
 * those say the actor or our credentials are gone for good. Everything that only says "the path to the actor
 * broke" (sleep, reschedule, runner or engine restart, a gateway not yet routable) comes back. partysocket
 * reports a failed connection attempt as a synthetic close 1000 with an empty reason, so a bare 1000 comes back.
 */

export type CloseDecision = { action: "reconnect" | "end"; why: string };

/** Gateway errors after which reconnecting cannot succeed. */
const ENDING_ERRORS = new Set([
	"actor.not_found",
	"actor.destroyed",
	"namespace.not_found",
	"api.unauthorized",
	"api.forbidden",
	"guard.unauthorized",
	"guard.forbidden",
]);
const ENDING_GROUPS = new Set(["auth"]);

/** Parses a gateway reason `group.code` or `group.code#ray`; undefined for anything else. */
export function gatewayErrorOf(
	reason: string,
): { group: string; code: string } | undefined {
	const match = /^([a-z0-9_]+)\.([a-z0-9_]+)(?:#.*)?$/.exec(reason);
	return match ? { group: match[1] ?? "", code: match[2] ?? "" } : undefined;
}

export function decideOnClose(code: number, reason: string): CloseDecision {
	const gatewayError = gatewayErrorOf(reason);
	if (gatewayError) {
		const id = `${gatewayError.group}.${gatewayError.code}`;
		if (ENDING_ERRORS.has(id) || ENDING_GROUPS.has(gatewayError.group))
			return { action: "end", why: `gateway error ${id}: it would repeat` };
	}
	if (code === 1000) {
		if (reason === "" || reason === "timeout")
			return {
				action: "reconnect",
				why: "1000 without a reason: a failed or timed-out connection attempt (partysocket's synthetic close)",
			};
		if (gatewayError)
			return {
				action: "reconnect",
				why: `1000 ${gatewayError.group}.${gatewayError.code}: the gateway lost the actor (sleep, stop, reschedule)`,
			};
		return {
			action: "end",
			why: "1000 with a reason of the actor's own: it closed the socket on purpose",
		};
	}
	if (code === 1001 || code === 1005 || code === 1006)
		return {
			action: "reconnect",
			why: `${code}: the connection went away without a decision (restart, network, no close frame)`,
		};
	if (code >= 1011 && code <= 1014)
		return {
			action: "reconnect",
			why: `${code}: a server-side failure or restart; it may pass`,
		};
	if (code === 3008)
		return { action: "reconnect", why: "3008: a timeout; it may pass" };
	if (code >= 1002 && code <= 1010)
		return {
			action: "end",
			why: `${code}: a protocol, data or policy error; it would repeat`,
		};
	if (code >= 3000 && code <= 4999)
		return {
			action: "end",
			why: `${code}: an application close code: the actor (or a library) decided`,
		};
	return {
		action: "reconnect",
		why: `${code}: an unknown code; assume it may pass`,
	};
}

/**
 * Did this close say the endpoint itself could not be reached (as opposed to the actor or the application
 * closing)? A client with several endpoints moves to the next one on such a close: a failed or timed-out attempt
 * (partysocket's synthetic 1000 without a reason, or "timeout"), a drop without a close frame (1006; Deno reports
 * 0), the server going away or restarting (1001, 1012), overloaded (1013) or a proxy's bad gateway (1014). A
 * gateway error (`group.code`) means a node answered: it stays.
 */
export function endpointUnreachable(code: number, reason: string): boolean {
	if (gatewayErrorOf(reason)) return false;
	if (code === 1000) return reason === "" || reason === "timeout";
	return [0, 1001, 1006, 1012, 1013, 1014].includes(code);
}
