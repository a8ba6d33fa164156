/**
 * `npm run bench`: every scenario, ours vs the reference runner vs the floor, alternating runners within each
 * round (A B C A B C …). Writes bench/results.json, BENCHMARKS.md and bench/chart-*.svg (full mode, all
 * scenarios) or the same files into the OS temp dir (quick, smoke, --only, or --out-dir <dir>).
 *
 *   node bench/run.mjs suite [--quick | --smoke] [--only lifecycle,heap,http,websocket,drain,reconnect,bundle]
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { renderCharts } from "./bench-charts.ts";
import type { BenchResults } from "./bench-results.ts";
import { loadRunnerKinds, type RunnerKind } from "./bench-runners.ts";
import { renderBenchmarksMarkdown } from "./benchmarks-markdown.ts";
import { measureBundleSizes } from "./bundle-size.ts";
import { measureDrain } from "./drain-measure.ts";
import { distribution, latencyPercentiles } from "./latency-percentiles.ts";
import { measureHeapPerActor, measureLifecycle } from "./lifecycle-measure.ts";
import { measureReconnects } from "./reconnect-measure.ts";
import { summarize } from "./sample-summary.ts";
import { MODES, type Mode, parseSuiteArgs } from "./suite-modes.ts";
import { threadedKinds } from "./threaded-runners.ts";
import { measureHttp } from "./tunnel-http-measure.ts";
import { measureWebSocket } from "./tunnel-websocket-measure.ts";

const root = process.cwd();

/** Samples per figure key ("http:ours:64:1024:rps" …), nulls for failed measurements. */
class Samples {
	readonly #values = new Map<string, (number | null)[]>();
	readonly latencies = new Map<string, number[]>();
	readonly errors: string[] = [];

	push(key: string, value: number | null): void {
		const list = this.#values.get(key) ?? [];
		list.push(value);
		this.#values.set(key, list);
	}

	summary(key: string) {
		return summarize(this.#values.get(key) ?? []);
	}

	addLatencies(key: string, values: ArrayLike<number>): void {
		const list = this.latencies.get(key) ?? [];
		for (let i = 0; i < values.length; i++) list.push(values[i] as number);
		this.latencies.set(key, list);
	}
}

/** Runs one measurement; a failure is recorded and becomes null, never the end of the run. */
async function attempt<T>(
	samples: Samples,
	what: string,
	run: () => Promise<T>,
): Promise<T | null> {
	try {
		return await run();
	} catch (error) {
		const message = `${what}: ${String(error instanceof Error ? error.message : error)}`;
		samples.errors.push(message);
		console.log(`  ! ${message}`);
		return null;
	}
}

const fmt = (v: number | null | undefined, unit: string) =>
	v == null
		? "failed"
		: `${v >= 100 ? Math.round(v).toLocaleString("en-US") : v.toFixed(2)} ${unit}`;

/** The runners of a round: in this thread, and each in a thread of its own (the tunnel scenarios). */
interface RoundRunners {
	inProcess: RunnerKind[];
	threaded: RunnerKind[];
}

async function runRound(
	mode: Mode,
	only: Set<string>,
	runners: RoundRunners,
	s: Samples,
	label: string,
): Promise<void> {
	const t = mode.timeoutMs;
	const kinds = runners.inProcess;
	if (only.has("lifecycle"))
		for (const n of mode.lifecycleSizes)
			for (const kind of kinds) {
				const r = await attempt(s, `lifecycle N=${n} ${kind.name}`, () =>
					measureLifecycle(kind, n, t, `${label}-${n}`),
				);
				const rate = (ms: number | null | undefined) =>
					ms ? (n * 1000) / ms : null;
				s.push(`lifecycle:${kind.name}:${n}:starts`, rate(r?.startMs));
				s.push(`lifecycle:${kind.name}:${n}:stops`, rate(r?.stopMs));
				console.log(
					`  ${label} lifecycle N=${n} ${kind.name}: ${fmt(rate(r?.startMs), "starts/s")}, ${fmt(rate(r?.stopMs), "stops/s")}`,
				);
			}
	if (only.has("heap"))
		for (const kind of kinds.filter((k) => k.name !== "floor")) {
			const perActor = await attempt(s, `heap ${kind.name}`, () =>
				measureHeapPerActor(kind, mode.heapActors, t, `${label}-heap`),
			);
			s.push(`heap:${kind.name}`, perActor);
			console.log(`  ${label} heap ${kind.name}: ${fmt(perActor, "B/actor")}`);
		}
	if (only.has("http"))
		for (const c of mode.http)
			for (const kind of runners.threaded) {
				const key = `http:${kind.name}:${c.concurrency}:${c.bodyBytes}`;
				const r = await attempt(
					s,
					`http c=${c.concurrency} ${c.bodyBytes} B ${kind.name}`,
					() => measureHttp(kind, c, t),
				);
				const p = r ? latencyPercentiles(r.latenciesMs) : undefined;
				s.push(`${key}:rps`, r?.requestsPerSec ?? null);
				s.push(`${key}:p50`, p?.p50 ?? null);
				s.push(`${key}:p99`, p?.p99 ?? null);
				if (r) s.addLatencies(key, r.latenciesMs);
				console.log(
					`  ${label} http c=${c.concurrency} ${c.bodyBytes} B ${kind.name}: ${fmt(r?.requestsPerSec, "req/s")}, p50 ${fmt(p?.p50, "ms")}, p99 ${fmt(p?.p99, "ms")}`,
				);
			}
	if (only.has("websocket"))
		for (const c of mode.websocket)
			for (const kind of runners.threaded) {
				const rate = await attempt(
					s,
					`websocket ${c.mode} ${c.bytes} B ${kind.name}`,
					() => measureWebSocket(kind, c, t),
				);
				s.push(`websocket:${kind.name}:${c.mode}:${c.bytes}`, rate);
				console.log(
					`  ${label} websocket ${c.mode} ${c.bytes} B ${kind.name}: ${fmt(rate, "msg/s")}`,
				);
			}
	if (only.has("drain"))
		for (const kind of kinds) {
			const r = await attempt(s, `drain ${kind.name}`, () =>
				measureDrain(kind, mode.drainActors, t, `${label}-drain`),
			);
			s.push(`drain:${kind.name}:last`, r?.lastStopToCloseMs ?? null);
			s.push(`drain:${kind.name}:whole`, r?.wholeDrainMs ?? null);
			s.push(`drain:${kind.name}:stopping`, r?.stoppingMs ?? null);
			console.log(
				`  ${label} drain ${kind.name}: last stop → close ${fmt(r?.lastStopToCloseMs, "ms")}, whole ${fmt(r?.wholeDrainMs, "ms")} (Stopping after ${fmt(r?.stoppingMs, "ms")})`,
			);
		}
	if (only.has("reconnect"))
		for (const kind of kinds) {
			const r = await attempt(s, `reconnect ${kind.name}`, () =>
				measureReconnects(kind, mode.reconnects, t),
			);
			for (const ms of r ?? [null]) s.push(`reconnect:${kind.name}`, ms);
			if (r) s.addLatencies(`reconnect:${kind.name}`, r);
			console.log(
				`  ${label} reconnect ${kind.name}: ${(r ?? []).map((ms) => fmt(ms, "ms")).join(", ") || "failed"}`,
			);
		}
}

/** A short pass over the code paths (JIT warm-up) whose figures are thrown away. */
async function warmUp(
	mode: Mode,
	only: Set<string>,
	runners: RoundRunners,
): Promise<void> {
	console.log("warm-up (discarded)…");
	const scratch = new Samples();
	const small: Mode = {
		...mode,
		lifecycleSizes: [100, 1000],
		heapActors: 100,
		http: mode.http.map((c) => ({
			...c,
			requests: Math.min(c.requests, c.bodyBytes > 1024 ? 5 : 1000),
		})),
		websocket: mode.websocket.map((c) => ({
			...c,
			messages: Math.min(c.messages, 500),
		})),
		drainActors: 100,
		reconnects: 1,
	};
	const subset = new Set(
		[...only].filter((n) => n !== "reconnect" && n !== "heap"),
	);
	await runRound(small, subset, runners, scratch, "warm");
}

function gitCommit(): string | null {
	try {
		const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], {
			encoding: "utf8",
		}).trim();
		const dirty = execFileSync(
			"git",
			["status", "--porcelain", "--", "src/core"],
			{ encoding: "utf8" },
		).trim();
		return dirty ? `${head}+dirty` : head;
	} catch {
		return null;
	}
}

function collect(
	mode: Mode,
	kinds: RunnerKind[],
	s: Samples,
	only: Set<string>,
) {
	const names = kinds.map((k) => k.name);
	return {
		lifecycle: !only.has("lifecycle")
			? []
			: mode.lifecycleSizes.flatMap((n) =>
					names.map((runner) => ({
						runner,
						n,
						startsPerSec: s.summary(`lifecycle:${runner}:${n}:starts`),
						stopsPerSec: s.summary(`lifecycle:${runner}:${n}:stops`),
					})),
				),
		heap: !only.has("heap")
			? []
			: names
					.filter((r) => r !== "floor")
					.map((runner) => ({
						runner,
						n: mode.heapActors,
						bytesPerActor: s.summary(`heap:${runner}`),
					})),
		http: !only.has("http")
			? []
			: mode.http.flatMap((c) =>
					names.map((runner) => {
						const key = `http:${runner}:${c.concurrency}:${c.bodyBytes}`;
						return {
							runner,
							...c,
							requestsPerSec: s.summary(`${key}:rps`),
							p50Ms: s.summary(`${key}:p50`),
							p99Ms: s.summary(`${key}:p99`),
							distribution: distribution(s.latencies.get(key) ?? []),
						};
					}),
				),
		websocket: !only.has("websocket")
			? []
			: mode.websocket.flatMap((c) =>
					names.map((runner) => ({
						runner,
						...c,
						messagesPerSec: s.summary(
							`websocket:${runner}:${c.mode}:${c.bytes}`,
						),
					})),
				),
		drain: !only.has("drain")
			? []
			: names.map((runner) => ({
					runner,
					n: mode.drainActors,
					lastStopToCloseMs: s.summary(`drain:${runner}:last`),
					wholeDrainMs: s.summary(`drain:${runner}:whole`),
					stoppingMs: s.summary(`drain:${runner}:stopping`),
				})),
		reconnect: !only.has("reconnect")
			? []
			: names.map((runner) => ({
					runner,
					latencyMs: s.summary(`reconnect:${runner}`),
					distribution: distribution(
						s.latencies.get(`reconnect:${runner}`) ?? [],
					),
				})),
	};
}

async function main(): Promise<void> {
	const argv = process.argv.slice(2);
	const renderIndex = argv.indexOf("--render");
	if (renderIndex >= 0) {
		renderOnly(argv[renderIndex + 1] ?? join(root, "bench", "results.json"));
		return;
	}
	const { mode, only, outDir, runners } = parseSuiteArgs(argv);
	const started = performance.now();
	const loadAverageStart = loadavg();
	const loaded = await loadRunnerKinds();
	const { skipped } = loaded;
	const kinds = loaded.kinds.filter(
		(k) => !runners || runners.includes(k.name),
	);
	for (const skip of skipped)
		console.log(`skipping runner "${skip.name}": ${skip.reason}`);
	console.log(
		`bench (${mode.name}): ${[...only].join(", ")}; runners ${kinds.map((k) => k.name).join(", ")}; ${mode.rounds} round(s); load average ${loadAverageStart.map((x) => x.toFixed(2)).join(" ")}`,
	);
	const samples = new Samples();
	const threads = threadedKinds(kinds);
	const runnersOfRound = { inProcess: kinds, threaded: threads.kinds };
	try {
		if (mode.warmup) await warmUp(mode, only, runnersOfRound);
		for (let round = 1; round <= mode.rounds; round++) {
			console.log(`round ${round}/${mode.rounds}`);
			await runRound(mode, only, runnersOfRound, samples, `r${round}`);
		}
	} finally {
		await threads.close();
	}
	const bundle = only.has("bundle")
		? { ...(await measureBundleSizes(root)), targetGzipBytes: 20 * 1024 }
		: null;
	const results: BenchResults = {
		benchmark: "edgerunner vs @rivetkit/engine-runner 2.2.1 vs floor",
		date: new Date().toISOString(),
		mode: mode.name,
		durationSec: Math.round((performance.now() - started) / 1000),
		machine: {
			cpu: cpus()[0]?.model ?? "unknown",
			cores: cpus().length,
			memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
			platform: `${process.platform}-${process.arch}`,
			loadAverageStart,
			loadAverageEnd: loadavg(),
		},
		node: process.version,
		commit: gitCommit(),
		rounds: mode.rounds,
		timeoutMs: mode.timeoutMs,
		skipped,
		errors: samples.errors,
		...collect(mode, kinds, samples, only),
		bundle,
	};
	writeOutputs(results, mode, only.size, runners === undefined, outDir);
}

/**
 * `--render [results.json]`: regenerates BENCHMARKS.md and the charts from saved results (after editing
 * bench/notes.md or the generator) without measuring again. A full run's results go back into the repo.
 */
function renderOnly(file: string): void {
	const results = JSON.parse(readFileSync(file, "utf8")) as BenchResults;
	const complete =
		results.mode === "full" &&
		results.bundle !== null &&
		results.lifecycle.length > 0 &&
		results.reconnect.length > 0;
	const dir = dirname(resolve(file));
	writeOutputs(
		results,
		MODES[results.mode],
		complete ? 7 : 0,
		complete,
		complete && dir === join(root, "bench") ? undefined : dir,
	);
}

function writeOutputs(
	results: BenchResults,
	mode: Mode,
	scenarioCount: number,
	allRunners: boolean,
	outDir: string | undefined,
): void {
	const intoRepo =
		outDir === undefined &&
		mode.name === "full" &&
		scenarioCount === 7 &&
		allRunners;
	const dir =
		outDir ??
		(intoRepo
			? join(root, "bench")
			: join(tmpdir(), `edgerunner-bench-${mode.name}`));
	mkdirSync(dir, { recursive: true });
	const resultsFile = join(dir, "results.json");
	writeFileSync(resultsFile, `${JSON.stringify(results, null, "\t")}\n`);
	for (const [file, svg] of renderCharts(results))
		writeFileSync(join(dir, file), svg);
	const notesFile = join(root, "bench", "notes.md");
	const notes = existsSync(notesFile) ? readFileSync(notesFile, "utf8") : "";
	const markdownFile = intoRepo
		? join(root, "BENCHMARKS.md")
		: join(dir, "BENCHMARKS.md");
	const markdown = renderBenchmarksMarkdown(
		results,
		intoRepo ? "bench/" : "",
		notes,
	);
	writeFileSync(markdownFile, markdown);
	if (intoRepo) formatWithBiome(resultsFile);
	console.log(`\n${markdown.slice(markdown.indexOf("## Targets"))}`);
	console.log(`wrote ${resultsFile}, ${markdownFile} and the charts in ${dir}`);
}

/** Keeps the committed results file in the repo's format, so `biome check .` stays clean after a run. */
function formatWithBiome(file: string): void {
	try {
		execFileSync(
			join("node_modules", ".bin", "biome"),
			["format", "--write", file],
			{ stdio: "ignore" },
		);
	} catch {
		// The JSON is valid either way.
	}
}

main().then(
	() => process.exit(0),
	(error: unknown) => {
		console.error(error);
		process.exit(1);
	},
);
