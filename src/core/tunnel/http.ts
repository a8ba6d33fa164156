/**
 * Client HTTP through the tunnel (spec §8.2): `ToClientRequestStart` → a standard `Request` → the actor's
 * `fetch` → one `ToServerResponseStart`. Bodies are buffered (`ArrayBuffer`), no Node types, no `duplex`.
 *
 * Response headers travel as a map with one value per name. `Headers` already joins repeated headers with
 * ", " (which HTTP allows), except `Set-Cookie`, which cannot be joined safely: only the LAST `Set-Cookie`
 * survives (as in R). Use one cookie per response, or put several values in one cookie.
 */
import type * as protocol from "@rivetkit/engine-runner-protocol";
import { tunnelRequest } from "./light-request.ts";
import { MAX_TUNNEL_PAYLOAD_BYTES } from "./limits.ts";

/** The `Request` an actor's `fetch` receives; the URL's origin is meaningless, the path and query are the client's. */
export function buildRequest(start: protocol.ToClientRequestStart): Request {
	return tunnelRequest(start.method, start.path, start.headers, start.body);
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
	const body = response.body === null ? null : await readBody(response.body);
	if (body === "too_large") return body;
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

/**
 * The whole body, or `"too_large"` as soon as it passes 20 MiB (the rest is cancelled, never buffered). Reading
 * the stream directly skips `Response.arrayBuffer()`'s extra machinery, and a body that arrives as one chunk
 * spanning its buffer (what `new Response(string | ArrayBuffer)` produces) is passed on without a copy.
 */
async function readBody(
	stream: ReadableStream<Uint8Array>,
): Promise<ArrayBuffer | "too_large"> {
	const reader = stream.getReader();
	const chunks: Uint8Array[] = [];
	let total = 0;
	for (;;) {
		const { done, value } = await reader.read();
		if (done) break;
		if (!(value instanceof Uint8Array)) {
			const error = new TypeError("Response body chunks must be Uint8Array");
			await reader.cancel(error).catch(() => {});
			throw error;
		}
		total += value.byteLength;
		if (total > MAX_TUNNEL_PAYLOAD_BYTES) {
			await reader.cancel().catch(() => {});
			return "too_large";
		}
		chunks.push(value);
	}
	const only = chunks.length === 1 ? chunks[0] : undefined;
	if (
		only !== undefined &&
		only.byteOffset === 0 &&
		only.byteLength === only.buffer.byteLength &&
		only.buffer instanceof ArrayBuffer
	)
		return only.buffer;
	const out = new Uint8Array(total);
	let offset = 0;
	for (const chunk of chunks) {
		out.set(chunk, offset);
		offset += chunk.byteLength;
	}
	return out.buffer;
}
