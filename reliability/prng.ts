/**
 * A tiny seeded PRNG (mulberry32) for the reliability runs: the fault schedule (reliability/faults.ts) and the fuzz
 * cases are drawn from it, so a run replays from its seed. Not for anything secret.
 */
export interface Prng {
	/** The seed this generator started from (a 32-bit unsigned integer). */
	readonly seed: number;
	/** A float in [0, 1). */
	next(): number;
	/** An integer in [min, max] (both inclusive). */
	int(min: number, max: number): number;
	/** A float in [min, max). */
	float(min: number, max: number): number;
	/** true with probability p. */
	chance(p: number): boolean;
	/** One element of a non-empty array. */
	pick<T>(items: readonly T[]): T;
	/** A shuffled copy (Fisher–Yates). */
	shuffle<T>(items: readonly T[]): T[];
	/** n random bytes. */
	bytes(n: number): Uint8Array;
	/** An independent generator derived from this one (for a sub-stream whose draws must not shift the parent's). */
	fork(): Prng;
}

/** Normalises any number to a 32-bit unsigned seed (so `--seed 7` and `--seed 7.0` replay the same run). */
export function normaliseSeed(seed: number): number {
	return Math.trunc(seed) >>> 0;
}

export function createPrng(seed: number): Prng {
	const start = normaliseSeed(seed);
	let state = start;
	const next = (): number => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
	const int = (min: number, max: number) =>
		min + Math.floor(next() * (max - min + 1));
	const prng: Prng = {
		seed: start,
		next,
		int,
		float: (min, max) => min + next() * (max - min),
		chance: (p) => next() < p,
		pick: (items) => {
			if (items.length === 0) throw new Error("pick from an empty array");
			return items[int(0, items.length - 1)] as (typeof items)[number];
		},
		shuffle: (items) => {
			const copy = [...items];
			for (let i = copy.length - 1; i > 0; i--) {
				const j = int(0, i);
				[copy[i], copy[j]] = [
					copy[j] as (typeof copy)[number],
					copy[i] as (typeof copy)[number],
				];
			}
			return copy;
		},
		bytes: (n) => {
			const out = new Uint8Array(n);
			for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
			return out;
		},
		fork: () => createPrng(Math.floor(next() * 4294967296)),
	};
	return prng;
}
