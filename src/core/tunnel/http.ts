/**
 * Client HTTP through the tunnel (spec §8.2): `ToClientRequestStart` → a standard `Request` → the actor's
 * `fetch` → one `ToServerResponseStart`. Bodies are buffered (`ArrayBuffer`), no Node types, no `duplex`.
 *
 * Response headers travel as a map with one value per name. `Headers` already joins repeated headers with
 * ", " (which HTTP allows), except `Set-Cookie`, which cannot be joined safely: only the LAST `Set-Cookie`
 * survives (as in R). Use one cookie per response, or put several values in one cookie.
 */
import type * as protocol from "@rivetkit/engine-runner-protocol";
import { MAX_TUNNEL_PAYLOAD_BYTES } from "./limits.ts";

/** Methods whose requests may not carry a body (`new Request` throws otherwise). */
const NO_BODY_METHODS = new Set(["GET", "HEAD"]);

/** The `Request` an actor's `fetch` receives; the URL's origin is meaningless, the path and query are the client's. */
export function buildRequest(start: protocol.ToClientRequestStart): Request {
	const method = start.method.toUpperCase();
	const body =
		start.body && start.body.byteLength > 0 && !NO_BODY_METHODS.has(method)
			? start.body
			: null;
	return new Request(`http://actor${start.path}`, {
		method: start.method,
		headers: start.headers as unknown as HeadersInit,
		body,
	});
}

/** Why a response could not be passed on as is. */
export type ResponseProblem = "too_large";

/**
 * Reads the response into a `ToServerResponseStart`. A body over 20 MiB (the engine would close the whole runner
 * socket for it) becomes `"too_large"`; the caller answers 500 instead.
 */
export async function encodeResponse(
	response: Response,
): Promise<protocol.ToServerResponseStart | ResponseProblem> {
	const declared = response.headers.get("content-length");
	if (declared !== null && Number(declared) > MAX_TUNNEL_PAYLOAD_BYTES) {
		await response.body?.cancel().catch(() => {});
		return "too_large";
	}
	const body = response.body === null ? null : await response.arrayBuffer();
	if (body !== null && body.byteLength > MAX_TUNNEL_PAYLOAD_BYTES)
		return "too_large";
	const headers = new Map<string, string>();
	// Iteration joins repeats with ", " and yields each Set-Cookie on its own: the last one wins.
	for (const [name, value] of response.headers) headers.set(name, value);
	headers.set("content-length", String(body?.byteLength ?? 0));
	return {
		status: response.status,
		headers,
		body: body !== null && body.byteLength > 0 ? body : null,
		stream: false,
	};
}

/** A short plain-text response of our own (handler error, oversize body, no handler). */
export function plainResponse(
	status: number,
	text: string,
): protocol.ToServerResponseStart {
	const body = new TextEncoder().encode(text).buffer as ArrayBuffer;
	return {
		status,
		headers: new Map([
			["content-type", "text/plain; charset=utf-8"],
			["content-length", String(body.byteLength)],
		]),
		body,
		stream: false,
	};
}
