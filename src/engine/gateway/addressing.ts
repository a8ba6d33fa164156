/**
 * How a client names the actor it wants (spec §8.6). Two forms:
 *
 * - path: `/gateway/{actorId}[@{token}]/{rest}[?query]` → the actor sees `/{rest}[?query]` (query byte-for-byte);
 * - headers: `x-rivet-target: actor` + `x-rivet-actor: {actorId}` on a `/request`, `/request/…` or `/request?…`
 *   path (forwarded whole), or for WebSockets the subprotocols `rivet_target.actor` + `rivet_actor.{id}`
 *   (path forwarded as is).
 *
 * The query form (`/gateway/{name}?rvt-method=getOrCreate…`) is not supported by the dev engine.
 */
export interface ActorTarget {
	actorId: string;
	/** The path and query the actor receives. */
	path: string;
}

const GATEWAY_PREFIX = "/gateway/";

/** The target of a request, or null if it is not addressed to an actor. `url` is the raw request target. */
export function resolveTarget(
	url: string,
	header: (name: string) => string | undefined,
	subprotocols: readonly string[] = [],
): ActorTarget | null {
	if (url.startsWith(GATEWAY_PREFIX)) return pathTarget(url);
	if (header("x-rivet-target") === "actor") {
		const actorId = header("x-rivet-actor");
		if (!actorId) return null;
		if (subprotocols.length > 0) return { actorId, path: url };
		return isRequestPath(url) ? { actorId, path: url } : null;
	}
	if (subprotocols.includes("rivet_target.actor")) {
		const offered = subprotocols.find((p) => p.startsWith("rivet_actor."));
		if (!offered) return null;
		return {
			actorId: decodeURIComponent(offered.slice("rivet_actor.".length)),
			path: url,
		};
	}
	return null;
}

function pathTarget(url: string): ActorTarget | null {
	const afterPrefix = url.slice(GATEWAY_PREFIX.length);
	const end = afterPrefix.search(/[/?]/);
	const segment = end === -1 ? afterPrefix : afterPrefix.slice(0, end);
	let rest = end === -1 ? "" : afterPrefix.slice(end);
	const actorId = safeDecode(segment.split("@")[0] ?? "");
	if (!actorId) return null;
	if (!rest.startsWith("/")) rest = `/${rest}`;
	return { actorId, path: rest };
}

function isRequestPath(url: string): boolean {
	return (
		url === "/request" ||
		url.startsWith("/request/") ||
		url.startsWith("/request?")
	);
}

function safeDecode(text: string): string {
	try {
		return decodeURIComponent(text);
	} catch {
		return "";
	}
}

/** Subprotocols offered on a WebSocket upgrade (`sec-websocket-protocol`, comma-separated). */
export function offeredSubprotocols(
	header: string | string[] | undefined,
): string[] {
	const text = Array.isArray(header) ? header.join(",") : (header ?? "");
	return text
		.split(",")
		.map((p) => p.trim())
		.filter((p) => p.length > 0);
}
