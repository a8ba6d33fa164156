/** Percentiles of a latency sample (nearest rank), for tables and for the distribution charts. */

export interface LatencyPercentiles {
	p50: number;
	p90: number;
	p99: number;
	max: number;
}

/** Nearest-rank percentile of an ascending array; p in [0, 100]. */
export function percentileOfSorted(
	sorted: ArrayLike<number>,
	p: number,
): number {
	if (sorted.length === 0) return Number.NaN;
	const rank = Math.ceil((p / 100) * sorted.length);
	return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}

export function sortedCopy(values: ArrayLike<number>): Float64Array {
	return Float64Array.from(values).sort();
}

export function latencyPercentiles(
	values: ArrayLike<number>,
): LatencyPercentiles {
	const sorted = sortedCopy(values);
	return {
		p50: percentileOfSorted(sorted, 50),
		p90: percentileOfSorted(sorted, 90),
		p99: percentileOfSorted(sorted, 99),
		max: percentileOfSorted(sorted, 100),
	};
}

/** The percentiles to plot a distribution with: dense in the tail, where runners differ. */
export const DISTRIBUTION_POINTS = [
	1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 97, 98, 99, 99.5, 99.9, 100,
];

/** [percentile, latency] pairs of `values` at DISTRIBUTION_POINTS. */
export function distribution(values: ArrayLike<number>): [number, number][] {
	const sorted = sortedCopy(values);
	return DISTRIBUTION_POINTS.map((p) => [p, percentileOfSorted(sorted, p)]);
}
