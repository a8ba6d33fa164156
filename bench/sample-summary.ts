/** Median and range of repeated benchmark samples; nulls (timeouts) are counted, not averaged. */

export interface SampleSummary {
	median: number | null;
	min: number | null;
	max: number | null;
	samples: number[];
	timeouts: number;
}

export function summarize(values: (number | null)[]): SampleSummary {
	const samples = values
		.filter((v): v is number => v !== null)
		.sort((a, b) => a - b);
	const timeouts = values.length - samples.length;
	if (samples.length === 0)
		return { median: null, min: null, max: null, samples, timeouts };
	const mid = Math.floor(samples.length / 2);
	const median =
		samples.length % 2 === 1
			? (samples[mid] as number)
			: ((samples[mid - 1] as number) + (samples[mid] as number)) / 2;
	return {
		median,
		min: samples[0] as number,
		max: samples[samples.length - 1] as number,
		samples,
		timeouts,
	};
}
