/**
 * Client HTTP → actor (spec §8.2): wait for the actor to be Ready (waking it), one `ToClientRequestStart`
 * (body buffered, at most 20 MiB), then one `ToServerResponseStart`. Retryable failures (the runner aborted,
 * the actor stopped while we waited, timeouts) are retried like guard: up to 7 attempts, 150 ms × 2^n apart.
 */
import type * as protocol from "@rivetkit/engine-runner-protocol";
import { newRayId } from "../ids.ts";
import type { ActorRecord } from "../storage/types.ts";
import type { ActorTarget } from "./addressing.ts";
import type { Gateway } from "./gateway.ts";
import { GatewayError } from "./gateway-error.ts";
import { MAX_REQUEST_BODY_BYTES } from "./gateway-options.ts";

/**
 * Not forwarded: a chunked upload arrives whole, and `upgrade` means nothing here. Everything else goes to the
 * actor as guard sends it (`connection` and `content-length` included), plus guard's `x-rivet-ray-id`.
 */
const DROPPED_REQUEST_HEADERS = new Set(["transfer-encoding", "upgrade"]);
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

export async function proxyHttp(
	gateway: Gateway,
	request: Request,
	target: ActorTarget,
): Promise<Response> {
	const body =
		request.method === "GET" || request.method === "HEAD"
			? null
			: await request.arrayBuffer();
	// Guard's name for it: a body past its limit is an invalid request body (413).
	if (body && body.byteLength > MAX_REQUEST_BODY_BYTES) {
		return new GatewayError(
			"guard",
			"invalid_request_body",
			`Request bodies are limited to ${MAX_REQUEST_BODY_BYTES} bytes`,
			413,
		).toResponse();
	}
	const headers = new Map<string, string>();
	request.headers.forEach((value, name) => {
		if (!DROPPED_REQUEST_HEADERS.has(name)) headers.set(name, value);
	});
	headers.set("x-rivet-ray-id", newRayId());
	const start: protocol.ToClientRequestStart = {
		actorId: target.actorId,
		method: request.method,
		path: target.path,
		headers,
		body: body && body.byteLength > 0 ? body : null,
		stream: false,
	};
	const { maxAttempts, retryBaseDelayMs, actorReadyTimeoutMs } =
		gateway.options;
	let last: GatewayError | undefined;
	for (let attempt = 1; attempt <= maxAttempts; attempt++) {
		if (attempt > 1) await gateway.delay(retryBaseDelayMs * 2 ** (attempt - 2));
		try {
			const actor = await gateway.readyAndLinked(
				target.actorId,
				actorReadyTimeoutMs,
			);
			return await exchange(gateway, actor, start);
		} catch (error) {
			if (!(error instanceof GatewayError)) throw error;
			if (!error.retryable) return error.toResponse();
			last = error;
		}
	}
	return new GatewayError(
		"guard",
		"retry_attempts_exceeded",
		`Gave up after ${maxAttempts} attempts: ${last?.group}.${last?.code}`,
		502,
	).toResponse();
}

/** One attempt: RequestStart to the actor's runner, resolved by its answer, its stop, or the timeout. */
function exchange(
	gateway: Gateway,
	actor: ActorRecord,
	start: protocol.ToClientRequestStart,
): Promise<Response> {
	return new Promise((resolve, reject) => {
		const runnerId = actor.runnerId as string;
		const fail = (error: GatewayError): void => {
			end();
			reject(error);
		};
		const unsubscribe = gateway.watch.subscribe(actor.actorId, (now) => {
			if (
				!now ||
				now.runnerId !== runnerId ||
				now.generation !== actor.generation
			)
				fail(
					new GatewayError(
						"guard",
						"actor_stopped_while_waiting",
						"The actor stopped before it answered",
						503,
						true,
					),
				);
		});
		const requestId = gateway.open({
			onMessage(kind) {
				if (kind.tag === "ToServerResponseStart") {
					end();
					try {
						resolve(toResponse(kind.val));
					} catch {
						reject(
							new GatewayError(
								"guard",
								"invalid_response",
								`The actor answered an invalid status ${kind.val.status}`,
								502,
							),
						);
					}
				} else if (kind.tag === "ToServerResponseAbort") {
					fail(
						new GatewayError(
							"guard",
							"tunnel_request_aborted",
							"The runner aborted the request",
							503,
							true,
						),
					);
				}
				// Anything else (ResponseChunk: no streaming on this path) is dropped, as the real gateway does.
			},
			onGatewayClose() {
				fail(
					new GatewayError(
						"guard",
						"service_unavailable",
						"Engine closing",
						503,
					),
				);
			},
		});
		const timer = setTimeout(
			() =>
				fail(
					new GatewayError(
						"guard",
						"gateway_response_start_timeout",
						`No response within ${gateway.options.responseTimeoutMs} ms`,
						504,
						true,
					),
				),
			gateway.options.responseTimeoutMs,
		);
		const end = (): void => {
			clearTimeout(timer);
			unsubscribe();
			gateway.release(requestId);
		};
		gateway.sendToRunner(runnerId, requestId, 0, {
			tag: "ToClientRequestStart",
			val: start,
		});
	});
}

function toResponse(start: protocol.ToServerResponseStart): Response {
	const headers = new Headers();
	for (const [name, value] of start.headers) headers.set(name, value);
	const body = NULL_BODY_STATUSES.has(start.status) ? null : start.body;
	return new Response(body, { status: start.status, headers });
}
