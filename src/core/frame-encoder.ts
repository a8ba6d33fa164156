/**
 * Encodes runner → engine frames in one reused scratch buffer and copies out exactly the frame.
 *
 * The codec's `encodeToServer` starts every frame in a new 1 KiB buffer and reallocates it each time it fills, so
 * a tunnelled response of a few KiB costs several allocations; on the hot path that is garbage-collector work
 * for every request. Here a frame costs one allocation of its own size. A frame larger than the scratch leaves
 * the grown buffer to the collector instead of keeping up to 20 MiB alive.
 */
import * as bare from "@rivetkit/bare-ts";
import * as protocol from "@rivetkit/engine-runner-protocol";

const SCRATCH_BYTES = 64 * 1024;
const CODEC_CONFIG = bare.Config({});

export class FrameEncoder {
	#cursor = FrameEncoder.#scratch();

	static #scratch(): bare.ByteCursor {
		return new bare.ByteCursor(new Uint8Array(SCRATCH_BYTES), CODEC_CONFIG);
	}

	encode(message: protocol.ToServer): Uint8Array<ArrayBuffer> {
		const cursor = this.#cursor;
		cursor.offset = 0;
		try {
			protocol.writeToServer(cursor, message);
			return cursor.bytes.slice(0, cursor.offset) as Uint8Array<ArrayBuffer>;
		} finally {
			if (cursor.bytes.byteLength > SCRATCH_BYTES)
				this.#cursor = FrameEncoder.#scratch();
		}
	}
}
