/**
 * One HTTP request of the client (an API call or a gateway request) over its endpoint list: it goes to the
 * current endpoint; when that endpoint looks unreachable the client moves to the next one and, where repeating the
 * request is safe, tries it there after a jittered delay, at most once per endpoint. With one endpoint nothing is
 * repeated: the request behaves as a plain `fetch`.
 *
 * | outcome | the node | repeated on the next endpoint |
 * | --- | --- | --- |
 * | connection refused | unreachable | always (nothing was sent) |
 * | any other network failure (reset, DNS, TLS) | unreachable | idempotent methods only (GET, HEAD, PUT, DELETE, OPTIONS) |
 * | 502, 503 or 504 without `x-rivet-error` (a proxy in front of a node) | unreachable | idempotent methods only |
 * | any other response, the engine's own errors included | up | no |
 * | aborted by the caller | — | no |
 *
 * A body that cannot be sent twice (a stream) is never repeated.
 */
import { fullJitterDelay, type ReconnectDelays } from "./backoff.ts";
import type { EndpointList } from "./endpoints.ts";

export type Unreachable = "refused" | "network" | "proxy";

const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);
const PROXY_STATUSES = new Set([502, 503, 504]);

function refused(error: unknown): boolean {
	const seen = new Set<unknown>();
	for (let e = error; e && typeof e === "object" && !seen.has(e); ) {
		seen.add(e);
		const { code, message } = e as { code?: unknown; message?: unknown };
		// Node and Bun: ECONNREFUSED; Deno: "… Connection refused (os error 111)".
		if (code === "ECONNREFUSED" || code === "ConnectionRefused") return true;
		if (typeof message === "string" && /connection refused/i.test(message))
			return true;
		e = (e as { cause?: unknown }).cause;
	}
	return false;
}

/** Why this outcome says the endpoint is unreachable, or undefined when the node answered (or the caller aborted). */
export function unreachableFrom(outcome: {
	response?: Response;
	error?: unknown;
}): Unreachable | undefined {
	const { response, error } = outcome;
	if (response)
		return PROXY_STATUSES.has(response.status) &&
			!response.headers.has("x-rivet-error")
			? "proxy"
			: undefined;
	const name = (error as { name?: unknown } | undefined)?.name;
	if (name === "AbortError" || name === "TimeoutError") return undefined;
	return refused(error) ? "refused" : "network";
}

/** May a request that met `why` be sent again to another endpoint? */
export function mayRepeat(
	why: Unreachable,
	method: string,
	body: RequestInit["body"],
): boolean {
	if (typeof ReadableStream !== "undefined" && body instanceof ReadableStream)
		return false;
	return why === "refused" || IDEMPOTENT.has(method.toUpperCase());
}

export interface FailoverFetch {
	endpoints: EndpointList;
	fetch: typeof fetch;
	/** The request's URL on the endpoint `base`. */
	url: (base: string) => string;
	init: RequestInit;
	delays?: ReconnectDelays;
}

export async function fetchWithFailover(
	request: FailoverFetch,
): Promise<Response> {
	const { endpoints, init } = request;
	const method = init.method ?? "GET";
	for (let attempt = 1; ; attempt++) {
		const index = endpoints.index;
		let response: Response | undefined;
		let error: unknown;
		try {
			response = await request.fetch(request.url(endpoints.current), init);
		} catch (err) {
			error = err;
		}
		const why = unreachableFrom({ response, error });
		if (why !== undefined) endpoints.failed(index);
		const repeat =
			why !== undefined &&
			attempt < endpoints.size &&
			!init.signal?.aborted &&
			mayRepeat(why, method, init.body);
		if (!repeat) {
			if (response) return response;
			throw error;
		}
		await response?.body?.cancel().catch(() => {});
		const delay = fullJitterDelay(attempt, request.delays);
		await new Promise((resolve) => setTimeout(resolve, delay));
	}
}
