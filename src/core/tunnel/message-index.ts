/**
 * Tunnel message indexes are u16 counters that wrap (spec §8.1). "Newer than" is the gateway's wrapping
 * comparison: `a != b && (a - b) mod 2^16 < 32767`, so half the ring is ahead and half behind.
 */
const U16 = 0x1_0000;
const HALF = 32767;

/** `(a + 1) mod 2^16`. */
export function nextIndex(a: number): number {
	return (a + 1) & 0xffff;
}

/** `a` comes after `b` on the u16 ring. */
export function isNewerIndex(a: number, b: number): boolean {
	return a !== b && (a - b + U16) % U16 < HALF;
}

/** What to do with an incoming message index, given the last one delivered. */
export type IndexVerdict = "next" | "duplicate" | "gap";

/** Hibernatable WebSockets: old or repeated indexes are duplicates (ignored), anything but last+1 is a gap. */
export function classifyIndex(index: number, last: number): IndexVerdict {
	if (!isNewerIndex(index, last)) return "duplicate";
	return index === nextIndex(last) ? "next" : "gap";
}
