/** The charts of BENCHMARKS.md, drawn from the results with svg-chart.ts. Returns file name → SVG text. */
import type { BenchResults } from "./bench-results.ts";
import type { RunnerName } from "./bench-runners.ts";
import { type ChartSeries, renderLineChart } from "./svg-chart.ts";

const COLORS: Record<RunnerName, string> = {
	ours: "#1f77b4",
	reference: "#d62728",
	floor: "#7f7f7f",
};
const RUNNERS: RunnerName[] = ["ours", "reference", "floor"];

function series(
	name: RunnerName,
	points: [number, number][],
): ChartSeries | undefined {
	if (points.length === 0) return undefined;
	return {
		name: name === "reference" ? "reference (R)" : name,
		points,
		color: COLORS[name],
		dashed: name === "floor",
	};
}

function present(list: (ChartSeries | undefined)[]): ChartSeries[] {
	return list.filter((s): s is ChartSeries => s !== undefined);
}

/**
 * Percentiles on a "nines" scale (x = −log10(1 − p/100): 90 → 1, 99 → 2, 99.9 → 3, the max drawn at 4), so that the
 * tail, where runners differ, gets as much room as the body.
 */
const MAX_NINES = 4;
function nines(points: [number, number][]): [number, number][] {
	return points.map(([p, ms]) => [
		p >= 100 ? MAX_NINES : Math.min(MAX_NINES, -Math.log10(1 - p / 100)),
		ms,
	]);
}
const NINES_AXIS = {
	label: "percentile",
	ticks: [0, Math.log10(2), 1, 2, 3, MAX_NINES],
	tickLabel: (x: number) =>
		x >= MAX_NINES
			? "max"
			: `p${Number((100 * (1 - 10 ** -x)).toPrecision(3))}`,
};

export function renderCharts(results: BenchResults): Map<string, string> {
	const charts = new Map<string, string>();
	if (results.lifecycle.length > 0) {
		charts.set(
			"chart-lifecycle-starts.svg",
			renderLineChart({
				title: "Actor starts per second vs actors in the batch (median)",
				x: { label: "actors started in one batch", log: true },
				y: { label: "starts/s", log: true },
				series: present(
					RUNNERS.map((runner) =>
						series(
							runner,
							results.lifecycle
								.filter(
									(f) => f.runner === runner && f.startsPerSec.median !== null,
								)
								.map((f) => [f.n, f.startsPerSec.median as number]),
						),
					),
				),
			}),
		);
	}
	for (const concurrency of [1, 64]) {
		const cases = results.http.filter(
			(f) => f.concurrency === concurrency && f.bodyBytes === 1024,
		);
		if (cases.length === 0) continue;
		charts.set(
			`chart-http-latency-c${concurrency}.svg`,
			renderLineChart({
				title: `HTTP tunnel latency, 1 KB echo, concurrency ${concurrency} (all requests, all rounds)`,
				x: NINES_AXIS,
				y: { label: "latency, ms", log: true },
				series: present(
					RUNNERS.map((runner) =>
						series(
							runner,
							nines(cases.find((f) => f.runner === runner)?.distribution ?? []),
						),
					),
				),
			}),
		);
	}
	if (results.reconnect.length > 0) {
		charts.set(
			"chart-reconnect-latency.svg",
			renderLineChart({
				title: "Reconnect latency: engine going_away close → next ToServerInit",
				x: NINES_AXIS,
				y: { label: "latency, ms", log: true },
				series: present(
					RUNNERS.map((runner) =>
						series(
							runner,
							nines(
								results.reconnect.find((f) => f.runner === runner)
									?.distribution ?? [],
							),
						),
					),
				),
			}),
		);
	}
	return charts;
}
