import type { IncomingMessage } from "node:http";
import { tokenError } from "../connection.ts";

/** The cookie that carries the engine token after `/ui/?token=…` (HttpOnly, SameSite=Strict, path /ui). */
export const TOKEN_COOKIE = "edgerunner_inspector";

/** Without a token the inspector exists only on a loopback interface: anyone who can reach it could drive actors. */
export function inspectorEnabled(host: string, token: string | undefined) {
	return token !== undefined || isLoopback(host);
}

export function isLoopback(host: string): boolean {
	const bare = host.replace(/^\[|\]$/g, "");
	return (
		bare === "localhost" ||
		bare === "::1" ||
		/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare) ||
		/^::ffff:127\./.test(bare)
	);
}

export function cookieValue(
	header: string | null | undefined,
	name: string,
): string | undefined {
	for (const part of (header ?? "").split(";")) {
		const eq = part.indexOf("=");
		if (eq > 0 && part.slice(0, eq).trim() === name)
			return decodeURIComponent(part.slice(eq + 1).trim());
	}
	return undefined;
}

/** The token a browser request carries: the cookie, or `Authorization: Bearer` (scripts, tests). */
export function requestToken(
	cookie: string | null | undefined,
	authorization: string | null | undefined,
): string | undefined {
	if (authorization?.startsWith("Bearer "))
		return authorization.slice("Bearer ".length);
	return cookieValue(cookie, TOKEN_COOKIE);
}

export function tokenAccepted(
	expected: string | undefined,
	given: string | undefined,
): boolean {
	return tokenError(expected, given) === null;
}

/** A browser's WebSocket carries an Origin: only the inspector's own page may open the feed (no cross-site reuse of the cookie). */
export function sameOrigin(request: IncomingMessage): boolean {
	const origin = request.headers.origin;
	if (origin === undefined) return true;
	try {
		return new URL(origin).host === request.headers.host;
	} catch {
		return false;
	}
}
