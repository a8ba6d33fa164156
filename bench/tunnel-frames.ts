/**
 * Engine → runner tunnel frames for the benchmarks, encoded with the official codec before the clock starts.
 * HTTP requests reuse one encoded frame per concurrency slot and patch only the request id in place (found by
 * encoding twice and diffing, so no byte offset is assumed).
 */
import * as bare from "@rivetkit/bare-ts";
import * as protocol from "@rivetkit/engine-runner-protocol";

export const BENCH_GATEWAY_ID = new Uint8Array([0xbe, 0x7c, 0x4e, 0x11])
	.buffer as ArrayBuffer;

export function requestIdBytes(id: number): ArrayBuffer {
	const bytes = new ArrayBuffer(4);
	new DataView(bytes).setUint32(0, id, true);
	return bytes;
}

export function requestIdNumber(requestId: ArrayBuffer): number {
	return new DataView(requestId).getUint32(0, true);
}

export function tunnelFrame(
	requestId: number,
	messageIndex: number,
	messageKind: protocol.ToClientTunnelMessageKind,
): Uint8Array {
	return protocol.encodeToClient({
		tag: "ToClientTunnelMessage",
		val: {
			messageId: {
				gatewayId: BENCH_GATEWAY_ID,
				requestId: requestIdBytes(requestId),
				messageIndex,
			},
			messageKind,
		},
	});
}

function requestStart(
	body: ArrayBuffer | null,
): protocol.ToClientTunnelMessageKind {
	return {
		tag: "ToClientRequestStart",
		val: {
			actorId: "http-actor",
			method: "POST",
			path: "/echo",
			headers: new Map(),
			body,
			stream: false,
		},
	};
}

/**
 * Where the request id sits in an encoded tunnel frame: found by encoding two small frames that differ only in it.
 * The message id comes before the message kind, so the offset holds for any body.
 */
function requestIdOffset(): number {
	const a = tunnelFrame(0x01020304, 0, requestStart(null));
	const b = tunnelFrame(0xa0b0c0d0, 0, requestStart(null));
	const diff: number[] = [];
	for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) diff.push(i);
	const offset = diff[0] ?? -1;
	if (diff.length !== 4 || diff[3] !== offset + 3)
		throw new Error("request id is not 4 contiguous bytes in the frame");
	return offset;
}

/** A POST /echo RequestStart frame whose request id can be rewritten in place with `setRequestId`. */
export class RequestFrameTemplate {
	readonly frame: Uint8Array;
	readonly #offset: number;

	/** Pass `copyOf` to reuse another template's encoding (one encode per body, not per slot). */
	constructor(body: ArrayBuffer, copyOf?: RequestFrameTemplate) {
		this.frame = copyOf
			? copyOf.frame.slice()
			: tunnelFrame(0, 0, requestStart(body));
		this.#offset = requestIdOffset();
	}

	setRequestId(id: number): void {
		new DataView(
			this.frame.buffer,
			this.frame.byteOffset + this.#offset,
			4,
		).setUint32(0, id, true);
	}
}

/** What the HTTP benchmark checks in a runner's answer. */
export interface ResponseStartSummary {
	requestId: number;
	status: number;
	bodyBytes: number;
}

const SUMMARY_CODEC_CONFIG = bare.Config({});
const TO_SERVER_TUNNEL_MESSAGE = 6;
const TO_SERVER_RESPONSE_START = 0;
const ID_BYTES = 4;
const MESSAGE_INDEX_BYTES = 2;

/**
 * Reads only the request id, status and body length of a ToServerTunnelMessage(ToServerResponseStart) frame,
 * skipping the headers and the body without allocating them (undefined for any other frame). The engine side of
 * the benchmark runs this for every response; decoding everything would make it allocate (and collect garbage)
 * in proportion to the runner's speed, which shows up in every runner's tail latency.
 */
export function readResponseStartSummary(
	frame: Uint8Array,
): ResponseStartSummary | undefined {
	const bc = new bare.ByteCursor(frame, SUMMARY_CODEC_CONFIG);
	if (bare.readU8(bc) !== TO_SERVER_TUNNEL_MESSAGE) return undefined;
	bc.offset += ID_BYTES; // gatewayId
	const requestId = bc.view.getUint32(bc.offset, true);
	bc.offset += ID_BYTES + MESSAGE_INDEX_BYTES;
	if (bare.readU8(bc) !== TO_SERVER_RESPONSE_START) return undefined;
	const status = bare.readU16(bc);
	const headerStrings = bare.readUintSafe(bc) * 2;
	for (let i = 0; i < headerStrings; i++) {
		const length = bare.readUintSafe(bc); // read before the offset is (it moves it)
		bc.offset += length;
	}
	const bodyBytes = bare.readBool(bc) ? bare.readUintSafe(bc) : 0;
	return { requestId, status, bodyBytes };
}
