/**
 * `npm run bench`: every scenario, ours vs the reference runner vs the floor, alternating runners within each
 * round (A B C A B C …). Writes bench/results.json, BENCHMARKS.md and bench/chart-*.svg (full mode, all
 * scenarios) or the same files into the OS temp dir (quick, smoke, --only, or --out-dir <dir>).
 *
 *   node bench/run.mjs suite [--quick | --smoke] [--only lifecycle,heap,http,websocket,drain,reconnect,bundle,engine]
 *     [--runners ours,reference,floor] [--engine-setups default,tuned,gateway-v3] [--out-dir DIR]
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { rivetEngineBinary } from "../src/rivet-engine-process.ts";
import { renderCharts } from "./bench-charts.ts";
import type { BenchResults, RealEngineResults } from "./bench-results.ts";
import { loadRunnerKinds, type RunnerKind } from "./bench-runners.ts";
import { renderBenchmarksMarkdown } from "./benchmarks-markdown.ts";
import { measureBundleSizes } from "./bundle-size.ts";
import { measureDrain } from "./drain-measure.ts";
import { distribution, latencyPercentiles } from "./latency-percentiles.ts";
import { measureHeapPerActor, measureLifecycle } from "./lifecycle-measure.ts";
import {
	measureRealEngine,
	REAL_ENGINE_BODY_BYTES,
	REAL_ENGINE_CONCURRENCIES,
} from "./real-engine-measure.ts";
import { measureReconnects } from "./reconnect-measure.ts";
import { summarize } from "./sample-summary.ts";
import { MODES, type Mode, parseSuiteArgs, SCENARIOS } from "./suite-modes.ts";
import { threadedKinds } from "./threaded-runners.ts";
import { measureHttp } from "./tunnel-http-measure.ts";
import { measureWebSocket } from "./tunnel-websocket-measure.ts";

const root = process.cwd();

/** Samples per figure key ("http:ours:64:1024:rps" …), nulls for failed measurements. */
class Samples {
	readonly #values = new Map<string, (number | null)[]>();
	readonly latencies = new Map<string, number[]>();
	readonly failures = new Map<string, Record<string, number>>();
	readonly errors: string[] = [];

	push(key: string, value: number | null): void {
		const list = this.#values.get(key) ?? [];
		list.push(value);
		this.#values.set(key, list);
	}

	summary(key: string) {
		return summarize(this.#values.get(key) ?? []);
	}

	/** The sum of a key's samples (counts over rounds). */
	total(key: string): number {
		return (this.#values.get(key) ?? []).reduce<number>(
			(sum, v) => sum + (v ?? 0),
			0,
		);
	}

	addFailures(key: string, failures: Record<string, number>): void {
		const all = this.failures.get(key) ?? {};
		for (const [kind, count] of Object.entries(failures))
			all[kind] = (all[kind] ?? 0) + count;
		this.failures.set(key, all);
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
	round = 1,
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
	if (only.has("engine") && round <= mode.engine.rounds)
		await runEngineRound(mode, realEngineKinds(kinds), s, label, round);
}

/** The runners the engine scenario compares: ours and R (the floor speaks too little of the protocol for it). */
function realEngineKinds(kinds: RunnerKind[]): RunnerKind[] {
	return kinds.filter((k) => k.name !== "floor");
}

/** One engine per runner and setup (fresh state, the same config), runners alternating within each setup. */
async function runEngineRound(
	mode: Mode,
	kinds: RunnerKind[],
	s: Samples,
	label: string,
	round: number,
): Promise<void> {
	const e = mode.engine;
	// The order flips with every setup and every round, so that neither runner is always the first to run.
	for (const [i, setup] of e.setups.entries())
		for (const kind of (round + i) % 2 === 1 ? kinds : [...kinds].reverse()) {
			const key = `engine:${setup}:${kind.name}`;
			const what = `engine ${setup} ${kind.name}`;
			const r = await attempt(s, what, () =>
				measureRealEngine(kind.name, e, setup, mode.timeoutMs),
			);
			for (const error of r?.errors ?? []) {
				s.errors.push(`${what}: ${error}`);
				console.log(`  ! ${what}: ${error}`);
			}
			const http = REAL_ENGINE_CONCURRENCIES.map((concurrency, i) => {
				const h = r?.http[i] ?? null;
				const k = `${key}:http:${concurrency}`;
				const p =
					h && h.requests > 0 ? latencyPercentiles(h.latenciesMs) : null;
				const failed = h
					? Object.values(h.failures).reduce((a, b) => a + b, 0)
					: 0;
				s.push(`${k}:rps`, h?.requestsPerSec ?? null);
				s.push(`${k}:p50`, p?.p50 ?? null);
				s.push(`${k}:p99`, p?.p99 ?? null);
				s.push(`${k}:requests`, h?.requests ?? null);
				s.push(`${k}:failed`, h ? failed : null);
				s.push(`${k}:engineCpu`, h?.engineCpuMsPerRequest ?? null);
				s.push(`${k}:runnerCpu`, h?.runnerCpuMsPerRequest ?? null);
				if (h) s.addFailures(k, h.failures);
				const failures = h
					? Object.entries(h.failures)
							.map(([kind, n]) => `${n}× ${kind}`)
							.join(", ")
					: "";
				return `c=${concurrency} ${fmt(h?.requestsPerSec, "req/s")} p50 ${fmt(p?.p50, "ms")} p99 ${fmt(p?.p99, "ms")}${failures ? ` (failed: ${failures})` : ""}, CPU/req engine ${fmt(h?.engineCpuMsPerRequest, "ms")} runner ${fmt(h?.runnerCpuMsPerRequest, "ms")}`;
			});
			s.push(`${key}:ws`, r?.webSocketMessagesPerSec ?? null);
			const startFailures = r?.actorStarts?.failures ?? {};
			s.push(`${key}:starts`, r?.actorStarts?.perSec ?? null);
			s.push(
				`${key}:startsFailed`,
				Object.values(startFailures).reduce((a, b) => a + b, 0),
			);
			s.addFailures(`${key}:starts`, startFailures);
			console.log(
				`  ${label} ${what}: ${http.join("; ")}; websocket ${fmt(r?.webSocketMessagesPerSec, "msg/s")}; ${fmt(r?.actorStarts?.perSec, "starts/s")}${
					Object.keys(startFailures).length > 0
						? ` (failed creates: ${Object.entries(startFailures)
								.map(([kind, n]) => `${n}× ${kind}`)
								.join(", ")})`
						: ""
				}`,
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
	// Each engine measurement starts fresh processes: there is nothing to warm in this one.
	const subset = new Set(
		[...only].filter(
			(n) => n !== "reconnect" && n !== "heap" && n !== "engine",
		),
	);
	await runRound(small, subset, runners, scratch, "warm");
}

/** The engine binary's version line, or why the engine scenario cannot run here. */
function realEngineVersion(): string {
	return (
		execFileSync(rivetEngineBinary(), ["--version"], {
			encoding: "utf8",
			timeout: 10_000,
		})
			.split("\n")[0]
			?.trim() ?? "?"
	);
}

function realEngineUnavailable(): { reason: string; version: string } | null {
	try {
		realEngineVersion();
		return null;
	} catch (error) {
		return {
			reason: String(error instanceof Error ? error.message : error),
			version: "?",
		};
	}
}

function collectRealEngine(
	mode: Mode,
	kinds: RunnerKind[],
	s: Samples,
): RealEngineResults {
	const e = mode.engine;
	return {
		engine: realEngineVersion(),
		rounds: Math.min(e.rounds, mode.rounds),
		skipped: null,
		figures: e.setups.flatMap((setup) =>
			kinds.map((kind) => {
				const key = `engine:${setup}:${kind.name}`;
				return {
					runner: kind.name,
					setup,
					http: REAL_ENGINE_CONCURRENCIES.map((concurrency) => {
						const k = `${key}:http:${concurrency}`;
						return {
							concurrency,
							bodyBytes: REAL_ENGINE_BODY_BYTES,
							seconds: e.httpSeconds,
							requestsPerSec: s.summary(`${k}:rps`),
							p50Ms: s.summary(`${k}:p50`),
							p99Ms: s.summary(`${k}:p99`),
							requests: s.total(`${k}:requests`),
							failed: s.total(`${k}:failed`),
							failures: s.failures.get(k) ?? {},
							engineCpuMsPerRequest: s.summary(`${k}:engineCpu`),
							runnerCpuMsPerRequest: s.summary(`${k}:runnerCpu`),
						};
					}),
					webSocketMessages: e.webSocketMessages,
					webSocketMessagesPerSec: s.summary(`${key}:ws`),
					actorStarts: e.actorStarts,
					actorStartsPerSec: s.summary(`${key}:starts`),
					actorStartsFailed: s.total(`${key}:startsFailed`),
					actorStartFailures: s.failures.get(`${key}:starts`) ?? {},
				};
			}),
		),
	};
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
	const parsed = parseSuiteArgs(argv);
	const { only, outDir, runners } = parsed;
	// The engine scenario alone needs only its own rounds, and no warm-up (it starts fresh processes).
	const engineOnly = only.size === 1 && only.has("engine");
	const mode: Mode = engineOnly
		? {
				...parsed.mode,
				rounds: Math.min(parsed.mode.rounds, parsed.mode.engine.rounds),
				warmup: false,
			}
		: parsed.mode;
	const engineSkip = only.has("engine") ? realEngineUnavailable() : null;
	if (engineSkip !== null) {
		only.delete("engine");
		console.log(`skipping scenario "engine": ${engineSkip.reason}`);
	}
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
			await runRound(mode, only, runnersOfRound, samples, `r${round}`, round);
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
		realEngine: only.has("engine")
			? collectRealEngine(mode, realEngineKinds(kinds), samples)
			: engineSkip && {
					engine: engineSkip.version,
					rounds: 0,
					skipped: engineSkip.reason,
					figures: [],
				},
	};
	writeOutputs(
		results,
		mode,
		only.size + (engineSkip ? 1 : 0),
		runners === undefined,
		outDir,
	);
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
		complete ? SCENARIOS.length : 0,
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
		scenarioCount === SCENARIOS.length &&
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
