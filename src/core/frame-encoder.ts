/**
 * Encodes runner → engine frames with as few allocations as the hot path allows.
 *
 * The codec's `encodeToServer` starts every frame in a new 1 KiB buffer and reallocates it each time it fills.
 * Here a frame is written into one reused scratch buffer, then copied out: small frames into consecutive,
 * never-reused slices of a shared 64 KiB slab (as Node's `Buffer` pool does), larger ones into a buffer of their
 * own. A slice is never written again once handed out, so a socket may keep it as long as it likes; the slab is
 * freed when its last frame is. Thousands of frames a second would otherwise mean as many `ArrayBuffer`s for the
 * garbage collector to sweep. A frame larger than the scratch leaves the grown scratch to the collector.
 */
import * as bare from "@rivetkit/bare-ts";
import * as protocol from "@rivetkit/engine-runner-protocol";

const SCRATCH_BYTES = 64 * 1024;
const SLAB_BYTES = 64 * 1024;
/** Frames up to this size share a slab; larger ones get their own buffer. */
const SLAB_FRAME_LIMIT = 8 * 1024;
const CODEC_CONFIG = bare.Config({});

export class FrameEncoder {
	#cursor = FrameEncoder.#scratch();
	#slab = new Uint8Array(SLAB_BYTES);
	#slabUsed = 0;

	static #scratch(): bare.ByteCursor {
		return new bare.ByteCursor(new Uint8Array(SCRATCH_BYTES), CODEC_CONFIG);
	}

	encode(message: protocol.ToServer): Uint8Array<ArrayBuffer> {
		const cursor = this.#cursor;
		cursor.offset = 0;
		try {
			protocol.writeToServer(cursor, message);
			return this.#copyOut(cursor.bytes, cursor.offset);
		} finally {
			if (cursor.bytes.byteLength > SCRATCH_BYTES)
				this.#cursor = FrameEncoder.#scratch();
		}
	}

	#copyOut(bytes: Uint8Array, length: number): Uint8Array<ArrayBuffer> {
		if (length > SLAB_FRAME_LIMIT)
			return bytes.slice(0, length) as Uint8Array<ArrayBuffer>;
		if (this.#slabUsed + length > SLAB_BYTES) {
			this.#slab = new Uint8Array(SLAB_BYTES);
			this.#slabUsed = 0;
		}
		const start = this.#slabUsed;
		this.#slab.set(bytes.subarray(0, length), start);
		// Keep the next frame 8-byte aligned, as Node's pool does.
		this.#slabUsed = (start + length + 7) & ~7;
		return this.#slab.subarray(start, start + length);
	}
}
