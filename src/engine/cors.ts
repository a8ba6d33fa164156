/**
 * The CORS headers of the real engine, which browser clients depend on. Its API (api-public) mirrors the request's
 * origin with credentials, and answers preflights with the method and headers asked for; its fallback 404 allows
 * any origin. Guard's gateway allows the request's origin (else any) with credentials and exposes every header.
 * Guard's own `guard.no_route` carries none.
 */

const API_VARY =
	"origin, access-control-request-method, access-control-request-headers";

/** Adds the API's CORS headers to `response` (a fresh, mutable one) for `request`. */
export function addApiCors(request: Request, response: Response): void {
	const headers = response.headers;
	if (headers.get("x-rivet-error") === "guard.no_route") return;
	headers.set("vary", API_VARY);
	if (headers.has("access-control-allow-origin")) return; // the fallback 404 (apiNotFoundCors)
	headers.set("access-control-allow-credentials", "true");
	const origin = request.headers.get("origin");
	if (origin !== null) headers.set("access-control-allow-origin", origin);
	if (request.method !== "OPTIONS" || origin === null) return;
	const method = request.headers.get("access-control-request-method");
	if (method !== null) headers.set("access-control-allow-methods", method);
	const asked = request.headers.get("access-control-request-headers");
	if (asked !== null) headers.set("access-control-allow-headers", asked);
}

/** The headers of the API's fallback `404 api.not_found`. */
export const apiNotFoundCors = {
	"access-control-allow-origin": "*",
	"access-control-expose-headers": "*",
} as const;

/** Adds guard's CORS headers to a gateway response, unless the actor set its own. */
export function addGatewayCors(request: Request, response: Response): Response {
	if (response.headers.has("access-control-allow-origin")) return response;
	const origin = request.headers.get("origin");
	const cors: Record<string, string> = {
		"access-control-allow-origin": origin ?? "*",
		"access-control-allow-credentials": "true",
		"access-control-expose-headers": "*",
	};
	if (origin !== null) cors.vary = "Origin";
	try {
		for (const [name, value] of Object.entries(cors))
			response.headers.set(name, value);
		return response;
	} catch {
		// Immutable headers: answer with a copy.
		const copy = new Response(response.body, response);
		for (const [name, value] of Object.entries(cors))
			copy.headers.set(name, value);
		return copy;
	}
}
