/**
 * Random values for the fuzz generators: strings, integers at their edges, byte buffers, and the byte-level
 * mutations applied to encoded frames. Every draw comes from the run's PRNG, so a seed replays the same values.
 */
import type { Prng } from "./prng.ts";

const ODD_STRINGS = [
	"",
	" ",
	"\u0000",
	"../../etc/passwd",
	"%ff%fe",
	"😀",
	"\ud800",
	"a\nb\r\nc",
	"<script>",
	"null",
	"{}",
	"\u202e",
];

/**
 * Lone surrogates become U+FFFD. @rivetkit/bare-ts 0.6.2 writes a lone surrogate as its raw 3 bytes (CESU-8),
 * which its own fatal UTF-8 reader then refuses: a frame with one does not decode on the other side. Structure
 * generation wants frames that decode; the byte mutations cover the undecodable ones.
 */
export function wellFormed(text: string): string {
	return text.replace(
		/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
		"\ufffd",
	);
}

export function randomString(p: Prng, maxLength = 40): string {
	return wellFormed(anyString(p, maxLength));
}

function anyString(p: Prng, maxLength: number): string {
	const mode = p.int(0, 5);
	if (mode === 0) return p.pick(ODD_STRINGS);
	if (mode === 1) return "x".repeat(p.int(0, maxLength * 20));
	let out = "";
	const length = p.int(0, maxLength);
	for (let i = 0; i < length; i++) {
		out +=
			mode === 2
				? String.fromCharCode(p.int(0, 0xffff))
				: String.fromCharCode(p.int(0x20, 0x7e));
	}
	return out;
}

export function randomU32(p: Prng): number {
	return p.chance(0.3)
		? p.pick([0, 1, 0x7fffffff, 0xffffffff])
		: p.int(0, 0xffffffff);
}

export function randomU16(p: Prng): number {
	return p.chance(0.3) ? p.pick([0, 1, 32767, 32768, 65535]) : p.int(0, 0xffff);
}

export function randomI64(p: Prng): bigint {
	if (p.chance(0.3))
		return p.pick([0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n]);
	const high = BigInt(p.int(0, 0xffffffff)) << 32n;
	return BigInt.asIntN(64, high | BigInt(p.int(0, 0xffffffff)));
}

export function randomBuffer(p: Prng, maxLength = 64): ArrayBuffer {
	return p.bytes(p.int(0, maxLength)).buffer as ArrayBuffer;
}

export function id4(p: Prng): ArrayBuffer {
	return p.bytes(4).buffer as ArrayBuffer;
}

export function u32Id(value: number): ArrayBuffer {
	const buffer = new ArrayBuffer(4);
	new DataView(buffer).setUint32(0, value >>> 0, true);
	return buffer;
}

export type MutationKind =
	| "bit-flip"
	| "truncate"
	| "extend"
	| "random-bytes"
	| "tag-byte"
	| "length-prefix"
	| "empty"
	| "splice";

export const MUTATIONS: readonly MutationKind[] = [
	"bit-flip",
	"truncate",
	"extend",
	"random-bytes",
	"tag-byte",
	"length-prefix",
	"empty",
	"splice",
];

/** One byte-level mutation of an encoded frame. */
export function mutate(
	p: Prng,
	bytes: Uint8Array,
	kind: MutationKind,
): Uint8Array {
	switch (kind) {
		case "bit-flip": {
			const out = bytes.slice();
			const flips = p.int(1, 8);
			for (let i = 0; i < flips && out.length > 0; i++) {
				const at = p.int(0, out.length - 1);
				out[at] = (out[at] as number) ^ (1 << p.int(0, 7));
			}
			return out;
		}
		case "truncate":
			return bytes.slice(0, p.int(0, Math.max(0, bytes.length - 1)));
		case "extend": {
			const extra = p.bytes(p.int(1, 64));
			const out = new Uint8Array(bytes.length + extra.length);
			out.set(bytes);
			out.set(extra, bytes.length);
			return out;
		}
		case "random-bytes":
			return p.bytes(p.int(1, 256));
		case "tag-byte": {
			const out = bytes.length > 0 ? bytes.slice() : new Uint8Array(1);
			out[0] = p.int(0, 255);
			return out;
		}
		case "length-prefix": {
			// A huge ULEB128 length right after the tag: a decoder must not allocate it.
			const out = new Uint8Array(bytes.length + 5);
			out[0] = bytes[0] ?? 0;
			out.set([0xff, 0xff, 0xff, 0xff, 0x0f], 1);
			out.set(bytes.subarray(1), 6);
			return out;
		}
		case "empty":
			return new Uint8Array(0);
		case "splice": {
			if (bytes.length < 2) return p.bytes(4);
			const a = p.int(0, bytes.length - 1);
			const b = p.int(a, bytes.length);
			const insert = p.bytes(p.int(0, 16));
			const out = new Uint8Array(bytes.length - (b - a) + insert.length);
			out.set(bytes.subarray(0, a));
			out.set(insert, a);
			out.set(bytes.subarray(b), a + insert.length);
			return out;
		}
	}
}

export function hex(bytes: Uint8Array, max = 512): string {
	let out = "";
	const n = Math.min(bytes.length, max);
	for (let i = 0; i < n; i++)
		out += (bytes[i] as number).toString(16).padStart(2, "0");
	return bytes.length > max ? `${out}… (${bytes.length} bytes)` : out;
}
