import { newRayId } from "../ids.ts";

/** A gateway failure with the real guard's identity `{group}.{code}`, HTTP status and retryability (spec §8.2). */
export class GatewayError extends Error {
	readonly group: string;
	readonly code: string;
	readonly status: number;
	/** Guard retries the request (HTTP only) when true. */
	readonly retryable: boolean;

	constructor(
		group: string,
		code: string,
		message: string,
		status: number,
		retryable = false,
	) {
		super(message);
		this.name = "GatewayError";
		this.group = group;
		this.code = code;
		this.status = status;
		this.retryable = retryable;
	}

	/** Guard's words: the id is not in the message. */
	static actorNotFound(): GatewayError {
		return new GatewayError(
			"actor",
			"not_found",
			"The actor does not exist or was destroyed.",
			404,
		);
	}

	/** The JSON error response guard gives: `x-rivet-error`, the ray id in `x-rivet-ray-id` (not in the body). */
	toResponse(): Response {
		return new Response(
			JSON.stringify({
				group: this.group,
				code: this.code,
				message: this.message,
			}),
			{
				status: this.status,
				headers: {
					"content-type": "application/json",
					"x-rivet-error": `${this.group}.${this.code}`,
					"x-rivet-ray-id": newRayId(),
				},
			},
		);
	}
}
