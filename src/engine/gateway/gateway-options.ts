/** Gateway timeouts (ms) and retry policy; the defaults are the real engine's (spec §8.2–§8.6). */
export interface GatewayOptions {
	/** Wait this long for a woken (or starting) actor to be Ready. Default 30000. */
	actorReadyTimeoutMs?: number;
	/** Wait this long for `ToServerResponseStart`. Default 300000 (5 min). */
	responseTimeoutMs?: number;
	/** Wait this long for `ToServerWebSocketOpen`. Default 15000. */
	webSocketOpenTimeoutMs?: number;
	/** A hibernatable socket whose oldest unacked message is older than this is closed. Default 30000. */
	hibernationAckTimeoutMs?: number;
	/** How often the hibernation buffers are checked. Default 15000. */
	hibernationGcIntervalMs?: number;
	/** HTTP attempts for retryable failures (abort, actor stopped, timeouts). Default 7. */
	maxAttempts?: number;
	/** First retry delay; doubles each attempt. Default 150. */
	retryBaseDelayMs?: number;
}

export type ResolvedGatewayOptions = Required<GatewayOptions>;

export function resolveGatewayOptions(
	options: GatewayOptions = {},
): ResolvedGatewayOptions {
	return {
		actorReadyTimeoutMs: options.actorReadyTimeoutMs ?? 30_000,
		responseTimeoutMs: options.responseTimeoutMs ?? 300_000,
		webSocketOpenTimeoutMs: options.webSocketOpenTimeoutMs ?? 15_000,
		hibernationAckTimeoutMs: options.hibernationAckTimeoutMs ?? 30_000,
		hibernationGcIntervalMs: options.hibernationGcIntervalMs ?? 15_000,
		maxAttempts: options.maxAttempts ?? 7,
		retryBaseDelayMs: options.retryBaseDelayMs ?? 150,
	};
}

/** A request body, or a message to an actor, above this is refused (guard's `http_max_request_body_size`). */
export const MAX_REQUEST_BODY_BYTES = 20 * 1024 * 1024;
