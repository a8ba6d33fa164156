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

	constructor(group: string, code: string, message: string, status = 400) {
		super(message);
		this.name = "EngineError";
		this.group = group;
		this.code = code;
		this.status = status;
	}

	toJSON(): { group: string; code: string; message: string } {
		return { group: this.group, code: this.code, message: this.message };
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
