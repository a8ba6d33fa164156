import { newRayId } from "./ids.ts";

/**
 * An error with the real engine's identity: `{group}.{code}`. The same pair reaches runners as a WebSocket
 * close reason and HTTP clients as a JSON body, so both sides can match on it.
 */
export class EngineError extends Error {
	readonly group: string;
	readonly code: string;
	/** HTTP status when this error answers an API request. */
	readonly status: number;
	/** The real engine's `metadata` object (e.g. `existing_actor_id`), omitted from JSON when absent. */
	readonly metadata: Record<string, unknown> | undefined;

	constructor(
		group: string,
		code: string,
		message: string,
		status = 400,
		metadata?: Record<string, unknown>,
	) {
		super(message);
		this.name = "EngineError";
		this.group = group;
		this.code = code;
		this.status = status;
		this.metadata = metadata;
	}

	toJSON(): {
		group: string;
		code: string;
		message: string;
		metadata?: Record<string, unknown>;
	} {
		const json = { group: this.group, code: this.code, message: this.message };
		return this.metadata === undefined
			? json
			: { ...json, metadata: this.metadata };
	}
}

/** The close frame the real guard sends for an error (`err_to_close_frame`): 1000 only for normal ends. */
export function closeFrameFor(
	group: string,
	code: string,
	rayId: string = newRayId(),
): { code: number; reason: string } {
	const normal =
		group === "ws" && (code === "eviction" || code === "connection_closed");
	return {
		code: normal ? 1000 : 1011,
		reason: truncateUtf8(`${group}.${code}#${rayId}`, 123),
	};
}

function truncateUtf8(text: string, maxBytes: number): string {
	const bytes = new TextEncoder().encode(text);
	if (bytes.length <= maxBytes) return text;
	return new TextDecoder()
		.decode(bytes.slice(0, maxBytes))
		.replace(/\uFFFD$/, "");
}
