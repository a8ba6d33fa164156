import { isRivetId } from "../ids.ts";

/**
 * How a client names the actor it wants (spec §8.6). Two forms:
 *
 * - path: `/gateway/{actorId}[@{token}]/{rest}[?query]` → the actor sees `/{rest}[?query]` (query byte-for-byte);
 * - headers: `x-rivet-target: actor` + `x-rivet-actor: {actorId}` on a `/request`, `/request/…` or `/request?…`
 *   path (forwarded whole), HTTP only: a WebSocket so addressed is accepted and then closed
 *   `1011 guard.websocket_not_supported`, as guard does;
 * - WebSockets: the subprotocols `rivet_target.actor` + `rivet_actor.{id}` (path forwarded as is).
 *
 * The query form (`/gateway/{name}?rvt-method=getOrCreate…`) is not supported by the dev engine.
 */
export interface ActorTarget {
	actorId: string;
	/** The path and query the actor receives. */
	path: string;
	/** Named by the `x-rivet-*` headers: HTTP only, guard refuses such WebSockets. */
	byHeaders?: true;
}

const GATEWAY_PREFIX = "/gateway/";
const BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz";
/** The dev engine's one datacenter has the real engine's default label. */
const DATACENTER_LABEL = 1;

/**
 * Whether `actorId` is a Rivet Id of another datacenter: its label (the u16 after the uuid, in the last base36
 * digits) is not this engine's. Guard answers those `400 datacenter.not_found` before looking for the actor.
 */
export function isForeignActorId(actorId: string): boolean {
	if (!isRivetId(actorId)) return false;
	let value = 0n;
	for (let i = actorId.length - 1; i >= 0; i--)
		value = value * 36n + BigInt(BASE36.indexOf(actorId[i] as string));
	// Bytes 17 and 18 of the little-endian number: the label, big-endian.
	const label = Number((value >> 136n) & 0xffn) * 256 + Number(value >> 144n);
	return label !== DATACENTER_LABEL;
}

/** The target of a request, or null if it is not addressed to an actor. `url` is the raw request target. */
export function resolveTarget(
	url: string,
	header: (name: string) => string | undefined,
	subprotocols: readonly string[] = [],
): ActorTarget | null {
	if (url.startsWith(GATEWAY_PREFIX)) return pathTarget(url);
	if (subprotocols.includes("rivet_target.actor")) {
		const offered = subprotocols.find((p) => p.startsWith("rivet_actor."));
		// A malformed percent-encoding names no actor (decodeURIComponent would throw in the upgrade handler).
		const actorId = safeDecode(offered?.slice("rivet_actor.".length) ?? "");
		if (!actorId) return null;
		return { actorId, path: url };
	}
	if (header("x-rivet-target") === "actor") {
		const actorId = header("x-rivet-actor");
		if (!actorId) return null;
		// An upgrade (it offers subprotocols) is a target on any path, to be refused by the gateway.
		if (subprotocols.length > 0 || isRequestPath(url))
			return { actorId, path: url, byHeaders: true };
		return null;
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
