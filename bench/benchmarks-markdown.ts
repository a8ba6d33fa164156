/**
 * BENCHMARKS.md, generated from the results (never edited by hand): how to rerun, the machine, targets met or
 * missed, then one table per scenario with the ratios first (ours ÷ reference, ours ÷ floor), the charts, and the
 * hand-written notes of bench/notes.md.
 */
import {
	type BenchResults,
	type HttpFigure,
	type RealEngineFigure,
	type RealEngineHttpFigure,
	type RealEngineResults,
	ratio,
} from "./bench-results.ts";
import type { RunnerName } from "./bench-runners.ts";
import type { SampleSummary } from "./sample-summary.ts";

const RUNNERS: RunnerName[] = ["ours", "reference", "floor"];

function num(value: number | null | undefined, digits = 0): string {
	if (value == null || !Number.isFinite(value)) return "–";
	return value.toLocaleString("en-US", {
		minimumFractionDigits: digits,
		maximumFractionDigits: digits,
	});
}

/** "median (min–max)" with a precision that suits the magnitude. */
function figure(s: SampleSummary | undefined): string {
	if (!s || s.median === null)
		return s?.timeouts ? `timeout ×${s.timeouts}` : "–";
	const digits = Math.abs(s.median) < 10 ? 2 : Math.abs(s.median) < 100 ? 1 : 0;
	const range =
		s.samples.length > 1
			? ` (${num(s.min, digits)}–${num(s.max, digits)})`
			: "";
	return `${num(s.median, digits)}${range}${s.timeouts ? ` +${s.timeouts} failed` : ""}`;
}

function times(value: number | null): string {
	if (value === null) return "–";
	return `${value >= 10 ? value.toFixed(0) : value >= 1 ? value.toFixed(1) : value.toFixed(2)}×`;
}

function table(header: string[], rows: string[][]): string {
	const align = header.map(() => "---");
	return [header, align, ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n");
}

function bytes(n: number): string {
	return n >= 1024 * 1024
		? `${n / (1024 * 1024)} MB`
		: n >= 1024
			? `${n / 1024} KB`
			: `${n} B`;
}

function pick<T extends { runner: RunnerName }>(
	list: T[],
	match: (f: T) => boolean,
): Record<RunnerName, T | undefined> {
	const found = list.filter(match);
	return {
		ours: found.find((f) => f.runner === "ours"),
		reference: found.find((f) => f.runner === "reference"),
		floor: found.find((f) => f.runner === "floor"),
	};
}

interface Target {
	what: string;
	met: boolean | null;
	detail: string;
}

function lifecycleSection(
	r: BenchResults,
	out: string[],
	targets: Target[],
): void {
	const sizes = [...new Set(r.lifecycle.map((f) => f.n))];
	for (const metric of ["startsPerSec", "stopsPerSec"] as const) {
		const rows = sizes.map((n) => {
			const f = pick(r.lifecycle, (x) => x.n === n);
			const m = (x: typeof f.ours) => x?.[metric].median;
			return [
				num(n),
				times(ratio(m(f.ours), m(f.reference))),
				times(ratio(m(f.ours), m(f.floor))),
				...RUNNERS.map((k) => figure(f[k]?.[metric])),
			];
		});
		out.push(
			`**${metric === "startsPerSec" ? "Starts" : "Stops"} per second** (N actors in one command frame, until N events)\n`,
			table(
				["N", "ours ÷ reference", "ours ÷ floor", "ours", "reference", "floor"],
				rows,
			),
			"",
		);
	}
	const at = (n: number, runner: RunnerName) =>
		r.lifecycle.find((f) => f.n === n && f.runner === runner)?.startsPerSec
			.median;
	const big = Math.max(...sizes);
	if (sizes.includes(1000) && big > 1000) {
		const kept = ratio(at(big, "ours"), at(1000, "ours"));
		targets.push({
			what: "Lifecycle: linear",
			met: kept === null ? null : kept >= 0.5,
			detail: `ours keeps ${times(kept)} of its 1k-actor starts/s at ${num(big)} actors (reference ${times(ratio(at(big, "reference"), at(1000, "reference")))})`,
		});
	}
	if (sizes.includes(10_000)) {
		const vsRef = ratio(at(10_000, "ours"), at(10_000, "reference"));
		targets.push({
			what: "Lifecycle: ≥ 10× the reference at 10k actors",
			met: vsRef === null ? null : vsRef >= 10,
			detail: `${times(vsRef)} (starts/s)`,
		});
		const vsFloor = ratio(at(10_000, "ours"), at(10_000, "floor"));
		targets.push({
			what: "Lifecycle: ≥ the floor's throughput",
			met: vsFloor === null ? null : vsFloor >= 1,
			detail: `${times(vsFloor)} of the floor at 10k actors`,
		});
	}
}

function heapSection(r: BenchResults, out: string[], targets: Target[]): void {
	const f = pick(r.heap, () => true);
	const ours = f.ours?.bytesPerActor.median;
	out.push(
		table(
			["N", "ours ÷ reference", "ours, bytes/actor", "reference, bytes/actor"],
			[
				[
					num(f.ours?.n ?? f.reference?.n),
					times(ratio(ours, f.reference?.bytesPerActor.median)),
					figure(f.ours?.bytesPerActor),
					figure(f.reference?.bytesPerActor),
				],
			],
		),
		"",
	);
	targets.push({
		what: "Heap: ≤ 1 KB per idle actor",
		met: ours == null ? null : ours <= 1024,
		detail: `${num(ours)} B`,
	});
}

/**
 * The HTTP target (issue 4) is set for 64 requests in flight over many small requests, where the reference does
 * about 13.8k req/s here; the 1 KB case is that workload. Concurrency 1 and 1 MB bodies are reported for context.
 */
function isTargetWorkload(c: { concurrency: number; bodyBytes: number }) {
	return c.concurrency === 64 && c.bodyBytes === 1024;
}

function httpSection(r: BenchResults, out: string[], targets: Target[]): void {
	const cases = r.http.filter((f) => f.runner === r.http[0]?.runner);
	const p = (f: HttpFigure | undefined) =>
		f ? `${figure(f.p50Ms)} / ${figure(f.p99Ms)}` : "–";
	const rows = cases.map((c) => {
		const f = pick(
			r.http,
			(x) => x.concurrency === c.concurrency && x.bodyBytes === c.bodyBytes,
		);
		const rps = (x: HttpFigure | undefined) => x?.requestsPerSec.median;
		const p99 = (x: HttpFigure | undefined) => x?.p99Ms.median;
		const vsRef = ratio(rps(f.ours), rps(f.reference));
		const p99Ratio = ratio(p99(f.ours), p99(f.reference));
		if (isTargetWorkload(c))
			targets.push({
				what: `HTTP c=${c.concurrency} ${bytes(c.bodyBytes)} (issue 4's workload): ≥ 2× req/s, p99 ≤ ½ of the reference`,
				met:
					vsRef === null || p99Ratio === null
						? null
						: vsRef >= 2 && p99Ratio <= 0.5,
				detail: `req/s ${times(vsRef)}, p99 ${times(p99Ratio)}`,
			});
		return [
			`c=${c.concurrency}, ${bytes(c.bodyBytes)} × ${num(c.requests)}`,
			times(vsRef),
			times(ratio(rps(f.ours), rps(f.floor))),
			times(p99Ratio),
			...RUNNERS.map((k) => figure(f[k]?.requestsPerSec)),
			...RUNNERS.map((k) => p(f[k])),
		];
	});
	out.push(
		table(
			[
				"workload",
				"req/s ours ÷ ref",
				"req/s ours ÷ floor",
				"p99 ours ÷ ref",
				"ours req/s",
				"reference req/s",
				"floor req/s",
				"ours p50 / p99 ms",
				"reference p50 / p99 ms",
				"floor p50 / p99 ms",
			],
			rows,
		),
		"",
		"The target (issue 4: ≥ 2× the reference's req/s with p99 ≤ ½ of its p99) is judged on 64 requests in flight with 1 KB bodies; concurrency 1 and 1 MB bodies are reported for context, not judged.",
		"",
	);
}

function webSocketSection(r: BenchResults, out: string[]): void {
	const cases = r.websocket.filter((f) => f.runner === r.websocket[0]?.runner);
	const rows = cases.map((c) => {
		const f = pick(
			r.websocket,
			(x) => x.mode === c.mode && x.bytes === c.bytes,
		);
		const m = (x: typeof f.ours) => x?.messagesPerSec.median;
		return [
			`${c.mode === "echo" ? "echo" : "one way"}, ${bytes(c.bytes)} × ${num(c.messages)}`,
			times(ratio(m(f.ours), m(f.reference))),
			times(ratio(m(f.ours), m(f.floor))),
			...RUNNERS.map((k) => figure(f[k]?.messagesPerSec)),
		];
	});
	out.push(
		table(
			[
				"workload (messages/s)",
				"ours ÷ reference",
				"ours ÷ floor",
				"ours",
				"reference",
				"floor",
			],
			rows,
		),
		"",
	);
}

function latencyRow(
	label: string,
	f: Record<RunnerName, { summary: SampleSummary } | undefined>,
): string[] {
	const m = (k: RunnerName) => f[k]?.summary.median;
	return [
		label,
		times(ratio(m("ours"), m("reference"))),
		times(ratio(m("ours"), m("floor"))),
		...RUNNERS.map((k) => figure(f[k]?.summary)),
	];
}

function drainAndReconnectSection(
	r: BenchResults,
	out: string[],
	targets: Target[],
): void {
	const header = [
		"ms (lower is better)",
		"ours ÷ reference",
		"ours ÷ floor",
		"ours",
		"reference",
		"floor",
	];
	const rows: string[][] = [];
	if (r.drain.length > 0) {
		const f = pick(r.drain, () => true);
		const n = r.drain[0]?.n ?? 0;
		const of = (get: (x: NonNullable<typeof f.ours>) => SampleSummary) =>
			Object.fromEntries(
				RUNNERS.map((k) => [
					k,
					f[k]
						? { summary: get(f[k] as NonNullable<typeof f.ours>) }
						: undefined,
				]),
			) as Record<RunnerName, { summary: SampleSummary } | undefined>;
		rows.push(
			latencyRow(
				`drain: last Stopped → close frame (${num(n)} actors)`,
				of((x) => x.lastStopToCloseMs),
			),
			latencyRow(
				`drain: whole drain of ${num(n)} actors`,
				of((x) => x.wholeDrainMs),
			),
		);
		const ours = f.ours?.lastStopToCloseMs.median;
		targets.push({
			what: "Drain: < 5 ms from the last stop to the close",
			met: ours == null ? null : ours < 5,
			detail: `${num(ours, 2)} ms (reference ${num(f.reference?.lastStopToCloseMs.median, 1)} ms)`,
		});
	}
	if (r.reconnect.length > 0) {
		const f = pick(r.reconnect, () => true);
		rows.push(
			latencyRow(
				"reconnect: going_away close → next ToServerInit",
				Object.fromEntries(
					RUNNERS.map((k) => [
						k,
						f[k]
							? { summary: (f[k] as NonNullable<typeof f.ours>).latencyMs }
							: undefined,
					]),
				) as Record<RunnerName, { summary: SampleSummary } | undefined>,
			),
		);
	}
	out.push(table(header, rows), "");
}

const SETUP_LABELS: Record<RealEngineFigure["setup"], string> = {
	default: "default config",
	tuned: "`guard.tcp_nodelay`",
	"gateway-v3": "`tcp_nodelay` + `guard_gateway_v3`",
};

/** "**12** of 500 (HTTP 504: 10, timeout: 2)" of a case's failed requests; "0" when none failed. */
function failedCell(
	f:
		| { failed: number; requests: number; failures: Record<string, number> }
		| undefined,
): string {
	if (!f) return "–";
	if (f.failed === 0) return "0";
	const kinds = Object.entries(f.failures)
		.sort((a, b) => b[1] - a[1])
		.map(
			([kind, n]) => `${/^\d+$/.test(kind) ? `HTTP ${kind}` : kind}: ${num(n)}`,
		)
		.join(", ");
	return `**${num(f.failed)}** of ${num(f.requests + f.failed)} (${kinds})`;
}

/** The failed creates of a figure, in failedCell's shape. */
function startsFailed(f: RealEngineFigure | undefined) {
	if (!f) return undefined;
	const rounds =
		f.actorStartsPerSec.samples.length + f.actorStartsPerSec.timeouts;
	return {
		failed: f.actorStartsFailed,
		requests: f.actorStarts * rounds - f.actorStartsFailed,
		failures: f.actorStartFailures,
	};
}

/** A share as "12 %", or "–". */
function percent(value: number | null): string {
	return value === null || !Number.isFinite(value)
		? "–"
		: `${value >= 0.1 ? (value * 100).toFixed(0) : (value * 100).toFixed(1)} %`;
}

/**
 * Through the real Rivet Engine: rates first (ours ÷ R), failed requests counted beside them, then where a
 * request's time goes — the CPU each process spends on it and, at concurrency 1 (one request at a time, so
 * 1 ÷ req/s is its end-to-end time), the share of that time each process is on a CPU.
 */
function realEngineSection(e: RealEngineResults, out: string[]): void {
	if (e.skipped !== null) {
		out.push(`Not measured: ${e.skipped}\n`);
		return;
	}
	const setups = [...new Set(e.figures.map((f) => f.setup))];
	const of = (setup: string, runner: RunnerName) =>
		e.figures.find((f) => f.setup === setup && f.runner === runner);
	const rateRows: string[][] = [];
	const timeRows: string[][] = [];
	for (const setup of setups) {
		const ours = of(setup, "ours");
		const ref = of(setup, "reference");
		const label = SETUP_LABELS[setup as RealEngineFigure["setup"]] ?? setup;
		const concurrencies = [
			...new Set(
				[...(ours?.http ?? []), ...(ref?.http ?? [])].map((h) => h.concurrency),
			),
		];
		for (const c of concurrencies) {
			const o = ours?.http.find((h) => h.concurrency === c);
			const r = ref?.http.find((h) => h.concurrency === c);
			const pp = (h: RealEngineHttpFigure | undefined) =>
				h ? `${figure(h.p50Ms)} / ${figure(h.p99Ms)}` : "–";
			rateRows.push([
				label,
				`HTTP c=${c}, ${bytes(o?.bodyBytes ?? r?.bodyBytes ?? 0)}, ${num(o?.seconds ?? r?.seconds, 1)} s`,
				times(ratio(o?.requestsPerSec.median, r?.requestsPerSec.median)),
				figure(o?.requestsPerSec),
				figure(r?.requestsPerSec),
				`${pp(o)} · ${pp(r)}`,
				`${failedCell(o)} · ${failedCell(r)}`,
			]);
			for (const [name, h] of [
				["ours", o],
				["reference", r],
			] as const) {
				if (!h) continue;
				const engineCpu = h.engineCpuMsPerRequest.median;
				const runnerCpu = h.runnerCpuMsPerRequest.median;
				const rps = h.requestsPerSec.median;
				// At c=1 requests run one after another: 1000 ÷ req/s ms is one request's end-to-end time.
				const endToEndMs = c === 1 && rps ? 1000 / rps : null;
				timeRows.push([
					label,
					`c=${c}`,
					name,
					figure(h.engineCpuMsPerRequest),
					figure(h.runnerCpuMsPerRequest),
					percent(
						engineCpu == null ||
							runnerCpu == null ||
							engineCpu + runnerCpu === 0
							? null
							: runnerCpu / (engineCpu + runnerCpu),
					),
					endToEndMs === null ? "–" : num(endToEndMs, endToEndMs < 10 ? 2 : 1),
					percent(
						endToEndMs === null || engineCpu == null
							? null
							: engineCpu / endToEndMs,
					),
					percent(
						endToEndMs === null || runnerCpu == null
							? null
							: runnerCpu / endToEndMs,
					),
				]);
			}
		}
		rateRows.push(
			[
				label,
				`WebSocket echo, 64 B × ${num(ours?.webSocketMessages ?? ref?.webSocketMessages)}, 64 in flight (messages/s)`,
				times(
					ratio(
						ours?.webSocketMessagesPerSec.median,
						ref?.webSocketMessagesPerSec.median,
					),
				),
				figure(ours?.webSocketMessagesPerSec),
				figure(ref?.webSocketMessagesPerSec),
				"",
				"",
			],
			[
				label,
				`actor starts through the API, ${num(ours?.actorStarts ?? ref?.actorStarts)} at 2 in flight (starts/s)`,
				times(
					ratio(ours?.actorStartsPerSec.median, ref?.actorStartsPerSec.median),
				),
				figure(ours?.actorStartsPerSec),
				figure(ref?.actorStartsPerSec),
				"",
				`${failedCell(startsFailed(ours))} · ${failedCell(startsFailed(ref))}`,
			],
		);
	}
	out.push(
		`${e.engine} (\`@rivetkit/engine-cli\`), started fresh for every runner, setup and round (${e.rounds} round(s)) on loopback; each runner in a child process of its own, as in a deployment, serving the same echo actor through the engine's gateway (guard). The client, the engine and the runner share the machine's cores. Rates count requests answered 200 with the whole body; failed requests (an HTTP error from the gateway, or no answer within 15 s) are counted in their own column, never dropped.\n`,
		table(
			[
				"engine config",
				"workload",
				"ours ÷ reference",
				"ours",
				"reference",
				"p50 / p99 ms, ours · reference",
				"failed, ours · reference",
			],
			rateRows,
		),
		"",
		"**Where a request's time goes.** CPU ms per request of the engine's process and of the runner's process (read from `/proc` around the load, less each one's idle CPU over the same time). At c=1 one request runs at a time, so 1000 ÷ req/s is a request's end-to-end time, and CPU ÷ that time is the share of it each process spent on a CPU; the rest is waiting (scheduling on a shared machine, the engine's database I/O, the client).\n",
		table(
			[
				"engine config",
				"load",
				"runner",
				"engine CPU ms / request",
				"runner CPU ms / request",
				"runner's share of the CPU",
				"end-to-end ms (c=1)",
				"engine's share of it",
				"runner's share of it",
			],
			timeRows,
		),
		"",
	);
}

export function renderBenchmarksMarkdown(
	r: BenchResults,
	chartDir: string,
	notes: string,
): string {
	const out: string[] = [];
	const targets: Target[] = [];
	const sections: string[] = [];
	const chart = (file: string, alt: string) =>
		`![${alt}](${chartDir}${file})\n`;
	if (r.lifecycle.length > 0) {
		sections.push("## Actor lifecycle\n");
		lifecycleSection(r, sections, targets);
		sections.push(
			chart("chart-lifecycle-starts.svg", "starts/s vs actors, log-log"),
		);
	}
	if (r.heap.length > 0) {
		sections.push("## Heap per idle running actor\n");
		heapSection(r, sections, targets);
	}
	if (r.http.length > 0) {
		sections.push("## HTTP tunnel\n");
		httpSection(r, sections, targets);
		for (const c of [1, 64])
			if (r.http.some((f) => f.concurrency === c))
				sections.push(
					chart(
						`chart-http-latency-c${c}.svg`,
						`HTTP latency distribution, concurrency ${c}`,
					),
				);
	}
	if (r.websocket.length > 0) {
		sections.push("## WebSocket tunnel\n");
		webSocketSection(r, sections);
	}
	if (r.drain.length > 0 || r.reconnect.length > 0) {
		sections.push("## Drain and reconnect latency\n");
		drainAndReconnectSection(r, sections, targets);
		if (r.reconnect.length > 0)
			sections.push(
				chart("chart-reconnect-latency.svg", "reconnect latency distribution"),
			);
	}
	if (r.realEngine) {
		sections.push("## Through the real Rivet Engine\n");
		realEngineSection(r.realEngine, sections);
	}
	if (r.bundle) {
		const { ours, reference, targetGzipBytes } = r.bundle;
		sections.push(
			"## Core bundle size\n",
			table(
				["bundle (esbuild, platform neutral, minified)", "minified", "gzip"],
				[
					[
						ours.entry,
						`${num(ours.minifiedBytes)} B`,
						ours.gzipBytes === null
							? `fails: ${ours.error}`
							: `${num(ours.gzipBytes)} B`,
					],
					[
						reference.entry,
						reference.minifiedBytes === null
							? "–"
							: `${num(reference.minifiedBytes)} B`,
						reference.gzipBytes === null
							? `cannot bundle outside Node: ${reference.error}`
							: `${num(reference.gzipBytes)} B`,
					],
				],
			),
			"",
		);
		targets.push({
			what: "Bundle: ≤ 20 KB gzip",
			met: ours.gzipBytes === null ? null : ours.gzipBytes <= targetGzipBytes,
			detail: `${num(ours.gzipBytes)} B gzip (${((ours.gzipBytes ?? 0) / 1024).toFixed(1)} KB)`,
		});
	}
	const m = r.machine;
	out.push(
		"# Benchmarks\n",
		"<!-- Generated by `npm run bench` (bench/suite.ts). Do not edit by hand: edit bench/notes.md or the generator. -->\n",
		`edgerunner ("ours", \`src/core\`) against the reference runner \`@rivetkit/engine-runner\` 2.2.1 ("reference") and a floor (a minimal client that only decodes and answers, bench/floor-runner.ts), on a scripted engine built on the official codec over loopback, in one process (except "Through the real Rivet Engine": ours and the reference there, each in its own process, behind a real engine). Runners alternate (ours, reference, floor) within every round; ${r.rounds} round(s) after a warm-up; figures are median (min–max) over rounds. Ratios > 1× mean ours is faster for rates, slower for latencies. Method: [docs/benchmarks.md](docs/benchmarks.md).\n`,
		"## Rerun\n",
		"```sh\nnpm run bench              # full: writes bench/results.json, BENCHMARKS.md, bench/chart-*.svg\nnpm run bench:quick        # ≈ 3 min, writes to the OS temp dir\nnpm run bench:quick -- --smoke   # a handful of iterations (CI)\nnpm run bench:lifecycle    # or bench:tunnel: a subset, to the OS temp dir\nnode bench/run.mjs suite --only engine   # through the real Rivet Engine only, to the OS temp dir\n```\n",
		`Measured ${r.date} (${r.mode} mode, ${r.durationSec} s), commit ${r.commit ?? "?"}, Node ${r.node}, ${m.cores}× ${m.cpu}, ${m.memoryGiB} GiB. The machine is shared: load average ${m.loadAverageStart.map((x) => x.toFixed(2)).join(" / ")} at the start, ${m.loadAverageEnd.map((x) => x.toFixed(2)).join(" / ")} at the end (1 / 5 / 15 min).\n`,
	);
	if (r.skipped.length > 0)
		out.push(...r.skipped.map((s) => `- skipped: ${s.name}: ${s.reason}`), "");
	if (targets.length > 0) {
		out.push(
			"## Targets\n",
			table(
				["target", "result", ""],
				targets.map((t) => [
					t.what,
					t.met === null ? "not measured" : t.met ? "met" : "**missed**",
					t.detail,
				]),
			),
			"",
		);
	}
	out.push(...sections);
	if (r.errors.length > 0)
		out.push("## Failed measurements\n", ...r.errors.map((e) => `- ${e}`), "");
	if (notes.trim()) out.push("## Notes\n", notes.trim(), "");
	return `${out.join("\n")}\n`;
}
