/**
 * The pure parts of the benchmark suite: percentiles, the SVG plotter, the generated BENCHMARKS.md (ratios first,
 * targets judged from the figures) and the in-place request-id patch of the HTTP frames.
 */
import * as protocol from "@rivetkit/engine-runner-protocol";
import { describe, expect, test } from "vitest";
import type { BenchResults } from "../../bench/bench-results.ts";
import { renderBenchmarksMarkdown } from "../../bench/benchmarks-markdown.ts";
import {
	distribution,
	latencyPercentiles,
	percentileOfSorted,
} from "../../bench/latency-percentiles.ts";
import { summarize } from "../../bench/sample-summary.ts";
import { formatTick, renderLineChart } from "../../bench/svg-chart.ts";
import {
	RequestFrameTemplate,
	readResponseStartSummary,
	requestIdBytes,
	requestIdNumber,
} from "../../bench/tunnel-frames.ts";

describe("percentiles", () => {
	test("nearest rank: p50 of 1..100 is 50, p99 is 99, p100 is the max", () => {
		const values = Array.from({ length: 100 }, (_, i) => 100 - i);
		expect(latencyPercentiles(values)).toEqual({
			p50: 50,
			p90: 90,
			p99: 99,
			max: 100,
		});
	});

	test("a single sample is every percentile; an empty one is NaN", () => {
		expect(percentileOfSorted([7], 1)).toBe(7);
		expect(percentileOfSorted([7], 100)).toBe(7);
		expect(percentileOfSorted([], 50)).toBeNaN();
	});

	test("the distribution ends at the maximum", () => {
		const points = distribution([3, 1, 2]);
		expect(points.at(-1)).toEqual([100, 3]);
		expect(points[0]).toEqual([1, 1]);
	});
});

describe("SVG line chart", () => {
	const svg = renderLineChart({
		title: "starts <per> second",
		x: { label: "actors", log: true },
		y: { label: "starts/s", log: true },
		series: [
			{
				name: "ours",
				points: [
					[100, 1000],
					[10_000, 100_000],
				],
			},
			{
				name: "floor",
				points: [
					[100, 0],
					[10_000, 50_000],
				],
				dashed: true,
			},
		],
	});

	test("one polyline per series with at least two plottable points, a legend, escaped text", () => {
		expect(svg.startsWith("<svg")).toBe(true);
		expect(svg.match(/<polyline /g)).toHaveLength(1);
		expect(svg).toContain("starts &lt;per&gt; second");
		expect(svg).toContain(">floor</text>");
		expect(svg).toContain('stroke-dasharray="6 4"');
	});

	test("log axes are ticked at powers of ten", () => {
		for (const tick of ["100", "1k", "10k", "100k"])
			expect(svg).toContain(`>${tick}</text>`);
	});

	test("tick labels are short", () => {
		expect(formatTick(1_500_000)).toBe("1.5M");
		expect(formatTick(20_000)).toBe("20k");
		expect(formatTick(0.05)).toBe("0.05");
	});
});

function emptyResults(): BenchResults {
	return {
		benchmark: "test",
		date: "2026-01-01T00:00:00.000Z",
		mode: "smoke",
		durationSec: 1,
		machine: {
			cpu: "cpu",
			cores: 2,
			memoryGiB: 1,
			platform: "linux-x64",
			loadAverageStart: [1, 1, 1],
			loadAverageEnd: [2, 2, 2],
		},
		node: "v20",
		commit: "abc",
		rounds: 1,
		timeoutMs: 1000,
		skipped: [],
		errors: [],
		lifecycle: [],
		heap: [],
		http: [],
		websocket: [],
		drain: [],
		reconnect: [],
		bundle: null,
	};
}

describe("BENCHMARKS.md", () => {
	test("ratio columns come before the figures, and a target below 10× is missed by the stated ratio", () => {
		const results = emptyResults();
		const rate = (v: number) => summarize([v]);
		for (const [runner, starts] of [
			["ours", 40_000],
			["reference", 5_000],
			["floor", 80_000],
		] as const) {
			results.lifecycle.push({
				runner,
				n: 10_000,
				startsPerSec: rate(starts),
				stopsPerSec: rate(starts),
			});
		}
		const md = renderBenchmarksMarkdown(results, "bench/", "");
		expect(md).toContain(
			"| N | ours ÷ reference | ours ÷ floor | ours | reference | floor |",
		);
		expect(md).toContain("| 10,000 | 8.0× | 0.50× | 40,000 | 5,000 | 80,000 |");
		expect(md).toMatch(
			/Lifecycle: ≥ 10× the reference at 10k actors \| \*\*missed\*\* \| 8\.0×/,
		);
		expect(md).toContain(
			"![starts/s vs actors, log-log](bench/chart-lifecycle-starts.svg)",
		);
		expect(md).toContain("load average 1.00 / 1.00 / 1.00 at the start");
	});

	test("the HTTP target is judged on issue 4's workload (c=64, 1 KB) only; other cases are reported", () => {
		const results = emptyResults();
		const figure = (
			runner: "ours" | "reference" | "floor",
			concurrency: number,
			bodyBytes: number,
			rps: number,
			p99: number,
		) => ({
			runner,
			concurrency,
			bodyBytes,
			requests: 20_000,
			requestsPerSec: summarize([rps]),
			p50Ms: summarize([p99 / 2]),
			p99Ms: summarize([p99]),
			distribution: [] as [number, number][],
		});
		for (const [c, bytes, oursRps, oursP99] of [
			[64, 1024, 30_000, 4],
			[1, 1024, 12_000, 0.3],
			[64, 1024 * 1024, 100, 200],
		] as const) {
			results.http.push(
				figure("ours", c, bytes, oursRps, oursP99),
				figure("reference", c, bytes, 12_000, 10),
				figure("floor", c, bytes, 40_000, 3),
			);
		}
		const md = renderBenchmarksMarkdown(results, "", "");
		expect(md).toMatch(
			/HTTP c=64 1 KB \(issue 4's workload\): ≥ 2× req\/s, p99 ≤ ½ of the reference \| met \| req\/s 2\.5×, p99 0\.40×/,
		);
		expect(md).not.toMatch(/HTTP c=1 1 KB.*\| (met|\*\*missed\*\*) \|/);
		expect(md).not.toMatch(/HTTP c=64 1 MB.*\| (met|\*\*missed\*\*) \|/);
		expect(md).toContain("| c=64, 1 MB × 20,000 | 0.01× |");
	});

	test("through the real engine: ratios ours ÷ R, failed requests counted by kind, CPU per request and shares at c=1", () => {
		const results = emptyResults();
		const http = (
			concurrency: number,
			rps: number,
			failures: Record<string, number>,
			engineCpu: number,
			runnerCpu: number,
		) => ({
			concurrency,
			bodyBytes: 1024,
			seconds: 5,
			requestsPerSec: summarize([rps]),
			p50Ms: summarize([1000 / rps]),
			p99Ms: summarize([2000 / rps]),
			requests: rps * 5,
			failed: Object.values(failures).reduce((a, b) => a + b, 0),
			failures,
			engineCpuMsPerRequest: summarize([engineCpu]),
			runnerCpuMsPerRequest: summarize([runnerCpu]),
		});
		const runner = (
			name: "ours" | "reference",
			c1: number,
			c64: number,
			failures: Record<string, number>,
		) => ({
			runner: name,
			setup: "default" as const,
			http: [http(1, c1, {}, 16, 2), http(64, c64, failures, 15, 1)],
			webSocketMessages: 2000,
			webSocketMessagesPerSec: summarize([500]),
			actorStarts: 20,
			actorStartsPerSec: summarize([name === "ours" ? 5 : null]),
			actorStartsFailed: name === "ours" ? 1 : 0,
			actorStartFailures: (name === "ours" ? { timeout: 1 } : {}) as Record<
				string,
				number
			>,
		});
		results.realEngine = {
			engine: "Rivet 2.3.19",
			rounds: 1,
			skipped: null,
			figures: [
				runner("ours", 50, 100, { "504": 30, timeout: 2 }),
				runner("reference", 40, 80, {}),
			],
		};
		const md = renderBenchmarksMarkdown(results, "", "");
		expect(md).toContain("## Through the real Rivet Engine");
		expect(md).toMatch(
			/\| default config \| HTTP c=1, 1 KB, 5\.0 s \| 1\.3× \| 50\.0 \| 40\.0 \|/,
		);
		// A c=64 with gateway errors keeps its rate and says how many failed, and why.
		expect(md).toMatch(
			/\| HTTP c=64, 1 KB, 5\.0 s \| 1\.3× \| 100 \| 80\.0 \| .* \| \*\*32\*\* of 532 \(HTTP 504: 30, timeout: 2\) · 0 \|/,
		);
		// A failed create is counted beside the rate of the others; a round with no rate at all says so.
		expect(md).toMatch(
			/actor starts through the API, 20 at 2 in flight \(starts\/s\) \| – \| 5\.00 \| timeout ×1 \| {2}\| \*\*1\*\* of 20 \(timeout: 1\) · 0 \|/,
		);
		// c=1: 20 ms end to end, of which the engine is on a CPU 16 ms and the runner 2 ms.
		expect(md).toContain(
			"| default config | c=1 | ours | 16.0 | 2.00 | 11 % | 20.0 | 80 % | 10 % |",
		);
		expect(md).toContain(
			"| default config | c=64 | reference | 15.0 | 1.00 | 6.3 % | – | – | – |",
		);
	});

	test("an engine scenario that could not run says why", () => {
		const results = emptyResults();
		results.realEngine = {
			engine: "?",
			rounds: 0,
			skipped: "the Rivet Engine is not installed",
			figures: [],
		};
		expect(renderBenchmarksMarkdown(results, "", "")).toContain(
			"Not measured: the Rivet Engine is not installed",
		);
	});

	test("a reference that cannot be bundled gets its reason, not a number", () => {
		const results = emptyResults();
		results.bundle = {
			ours: {
				entry: "src/core/index.ts",
				minifiedBytes: 50_000,
				gzipBytes: 17_000,
			},
			reference: {
				entry: "@rivetkit/engine-runner",
				minifiedBytes: null,
				gzipBytes: null,
				error: 'Could not resolve "node:crypto"',
			},
			targetGzipBytes: 20_480,
		};
		const md = renderBenchmarksMarkdown(results, "", "");
		expect(md).toContain(
			'cannot bundle outside Node: Could not resolve "node:crypto"',
		);
		expect(md).toMatch(/Bundle: ≤ 20 KB gzip \| met \| 17,000 B gzip/);
	});
});

test("HTTP frame templates (and copies) decode with the request id each was last given and the whole body", () => {
	const first = new RequestFrameTemplate(new Uint8Array(1024).buffer);
	const copy = new RequestFrameTemplate(new Uint8Array(1024).buffer, first);
	for (const id of [0, 1, 0xdeadbeef, 65_536]) {
		first.setRequestId(id);
		copy.setRequestId(id + 1);
		for (const [template, expected] of [
			[first, id],
			[copy, id + 1],
		] as const) {
			const message = protocol.decodeToClient(template.frame);
			if (message.tag !== "ToClientTunnelMessage") throw new Error(message.tag);
			expect(requestIdNumber(message.val.messageId.requestId)).toBe(expected);
			const kind = message.val.messageKind;
			if (kind.tag !== "ToClientRequestStart") throw new Error(kind.tag);
			expect(kind.val.body?.byteLength).toBe(1024);
		}
	}
});

test("the engine's partial read of a response frame agrees with the codec (headers skipped, body only measured)", () => {
	const frame = (
		requestId: number,
		headers: [string, string][],
		body: ArrayBuffer | null,
	) =>
		protocol.encodeToServer({
			tag: "ToServerTunnelMessage",
			val: {
				messageId: {
					gatewayId: new Uint8Array([9, 9, 9, 9]).buffer,
					requestId: requestIdBytes(requestId),
					messageIndex: 7,
				},
				messageKind: {
					tag: "ToServerResponseStart",
					val: { status: 418, headers: new Map(headers), body, stream: false },
				},
			},
		});
	const long = "é".repeat(300);
	expect(
		readResponseStartSummary(
			frame(
				0xfeedbeef,
				[
					["content-length", "5"],
					[long, long],
				],
				new Uint8Array(5).buffer,
			),
		),
	).toEqual({ requestId: 0xfeedbeef, status: 418, bodyBytes: 5 });
	expect(readResponseStartSummary(frame(3, [], null))).toEqual({
		requestId: 3,
		status: 418,
		bodyBytes: 0,
	});
	const big = new Uint8Array(200_000).buffer;
	expect(readResponseStartSummary(frame(1, [], big))?.bodyBytes).toBe(200_000);
	const abort = protocol.encodeToServer({
		tag: "ToServerTunnelMessage",
		val: {
			messageId: {
				gatewayId: new Uint8Array(4).buffer,
				requestId: requestIdBytes(1),
				messageIndex: 0,
			},
			messageKind: { tag: "ToServerResponseAbort", val: null },
		},
	});
	expect(readResponseStartSummary(abort)).toBeUndefined();
	expect(
		readResponseStartSummary(
			protocol.encodeToServer({ tag: "ToServerStopping", val: null }),
		),
	).toBeUndefined();
});
