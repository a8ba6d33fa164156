/**
 * Lifecycle benchmark (`npm run bench:lifecycle`): actor start/stop throughput and heap per idle
 * actor, reference runner vs ours, on the scripted engine, in one process.
 *
 *   node bench/run.mjs lifecycle            N ∈ {100, 1000, 10000, 20000}, warm-up + 5 rounds
 *   node bench/run.mjs lifecycle --quick    N ∈ {100, 1000}, warm-up + 3 rounds
 *   node bench/run.mjs lifecycle --smoke    N = 50, 1 round, no warm-up (for CI)
 *   --out <file>                            where to write the JSON (default bench/results-lifecycle.json;
 *                                           --smoke writes to the OS temp dir unless --out is given)
 *
 * Runners alternate (A B A B) within every round so that drift hits both alike.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { loadRunnerKinds, type RunnerKind } from "./bench-runners.ts";
import { measureHeapPerActor, measureLifecycle } from "./lifecycle-measure.ts";
import { type SampleSummary, summarize } from "./sample-summary.ts";

interface Mode {
	name: "full" | "quick" | "smoke";
	sizes: number[];
	warmupSizes: number[];
	rounds: number;
	heapN: number;
	timeoutMs: number;
}

const MODES: Record<Mode["name"], Mode> = {
	full: {
		name: "full",
		sizes: [100, 1000, 10_000, 20_000],
		warmupSizes: [100, 1000],
		rounds: 5,
		heapN: 10_000,
		timeoutMs: 120_000,
	},
	quick: {
		name: "quick",
		sizes: [100, 1000],
		warmupSizes: [100, 1000],
		rounds: 3,
		heapN: 10_000,
		timeoutMs: 60_000,
	},
	smoke: {
		name: "smoke",
		sizes: [50],
		warmupSizes: [],
		rounds: 1,
		heapN: 50,
		timeoutMs: 30_000,
	},
};

function parseArgs(argv: string[]): { mode: Mode; out: string } {
	const mode = argv.includes("--smoke")
		? MODES.smoke
		: argv.includes("--quick")
			? MODES.quick
			: MODES.full;
	const outIndex = argv.indexOf("--out");
	const outArg = outIndex >= 0 ? argv[outIndex + 1] : undefined;
	const out =
		outArg ??
		(mode.name === "smoke"
			? join(tmpdir(), "edgerunner-results-lifecycle.smoke.json")
			: join(process.cwd(), "bench", "results-lifecycle.json"));
	return { mode, out };
}

interface Samples {
	startMs: (number | null)[];
	stopMs: (number | null)[];
	errors: string[];
}

async function main(): Promise<void> {
	const { mode, out } = parseArgs(process.argv.slice(2));
	const { kinds, skipped } = await loadRunnerKinds();
	for (const s of skipped)
		console.log(`skipping runner "${s.name}": ${s.reason}`);
	console.log(
		`lifecycle benchmark, ${mode.name} mode: N ∈ {${mode.sizes.join(", ")}}, ${mode.rounds} round(s), runners: ${kinds.map((k) => k.name).join(", ")}, timeout ${mode.timeoutMs / 1000} s per measurement`,
	);

	if (mode.warmupSizes.length > 0) {
		console.log("warm-up…");
		for (const n of mode.warmupSizes) {
			for (const kind of kinds)
				await measureOnce(kind, n, mode.timeoutMs, `warm-${n}`);
		}
	}

	const samples = new Map<string, Samples>();
	const heap = new Map<string, (number | null)[]>();
	for (let round = 1; round <= mode.rounds; round++) {
		for (const n of mode.sizes) {
			for (const kind of kinds) {
				const key = `${kind.name}:${n}`;
				const s = samples.get(key) ?? { startMs: [], stopMs: [], errors: [] };
				samples.set(key, s);
				const sample = await measureOnce(
					kind,
					n,
					mode.timeoutMs,
					`r${round}-${n}`,
				);
				s.startMs.push(sample.startMs);
				s.stopMs.push(sample.stopMs);
				if (sample.error) s.errors.push(sample.error);
				console.log(
					`  round ${round} N=${n} ${kind.name}: start ${fmtMs(sample.startMs)}, stop ${fmtMs(sample.stopMs)}${sample.error ? ` (${sample.error})` : ""}`,
				);
			}
		}
		for (const kind of kinds) {
			const perActor = await measureHeapPerActor(
				kind,
				mode.heapN,
				mode.timeoutMs,
				`heap-r${round}`,
			).catch((error: unknown) => {
				console.log(`  heap ${kind.name}: ${String(error)}`);
				return null;
			});
			const list = heap.get(kind.name) ?? [];
			list.push(perActor);
			heap.set(kind.name, list);
			console.log(
				`  round ${round} heap ${kind.name}: ${perActor === null ? "timeout" : `${Math.round(perActor)} B/actor`} at N=${mode.heapN}`,
			);
		}
	}

	const results = mode.sizes.flatMap((n) =>
		kinds.map((kind) => {
			const s = samples.get(`${kind.name}:${n}`) as Samples;
			return {
				runner: kind.name,
				n,
				startsPerSec: summarize(s.startMs.map((ms) => perSecond(n, ms))),
				stopsPerSec: summarize(s.stopMs.map((ms) => perSecond(n, ms))),
				startMs: summarize(s.startMs),
				stopMs: summarize(s.stopMs),
				errors: s.errors,
			};
		}),
	);
	const heapResults = kinds.map((kind) => ({
		runner: kind.name,
		n: mode.heapN,
		bytesPerActor: summarize(heap.get(kind.name) ?? []),
	}));
	const ratios = mode.sizes.map((n) => {
		const ref = results.find((r) => r.runner === "reference" && r.n === n);
		const ours = results.find((r) => r.runner === "ours" && r.n === n);
		return {
			n,
			startsPerSec: ratio(ours?.startsPerSec.median, ref?.startsPerSec.median),
			stopsPerSec: ratio(ours?.stopsPerSec.median, ref?.stopsPerSec.median),
		};
	});

	printReport(mode, results, heapResults, ratios);
	const report = {
		benchmark: "lifecycle",
		date: new Date().toISOString(),
		mode: mode.name,
		machine: {
			cpu: cpus()[0]?.model ?? "unknown",
			cores: cpus().length,
			memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
			platform: `${process.platform}-${process.arch}`,
		},
		node: process.version,
		commit: gitCommit(),
		rounds: mode.rounds,
		timeoutMs: mode.timeoutMs,
		skipped,
		ratiosOursOverReference: ratios,
		results,
		heapPerIdleActor: heapResults,
	};
	writeFileSync(out, `${JSON.stringify(report, null, "\t")}\n`);
	formatWithBiome(out);
	console.log(`\nwrote ${out}`);
}

async function measureOnce(
	kind: RunnerKind,
	n: number,
	timeoutMs: number,
	label: string,
): Promise<{ startMs: number | null; stopMs: number | null; error?: string }> {
	try {
		return await measureLifecycle(kind, n, timeoutMs, label);
	} catch (error) {
		return { startMs: null, stopMs: null, error: String(error) };
	}
}

/** Keeps a committed results file in the repo's format, so `biome check .` stays clean after a run. */
function formatWithBiome(file: string): void {
	try {
		execFileSync(
			join("node_modules", ".bin", "biome"),
			["format", "--write", file],
			{
				stdio: "ignore",
			},
		);
	} catch {
		// Outside the repo (e.g. --out /tmp/x.json) biome may refuse the path; the JSON is still valid.
	}
}

/** The commit measured (with "+dirty" when the tree has local changes), if git is available. */
function gitCommit(): string | null {
	try {
		const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], {
			encoding: "utf8",
		}).trim();
		const dirty = execFileSync(
			"git",
			["status", "--porcelain", "--", "src/core"],
			{
				encoding: "utf8",
			},
		).trim();
		return dirty ? `${head}+dirty` : head;
	} catch {
		return null;
	}
}

function perSecond(n: number, ms: number | null): number | null {
	return ms === null || ms <= 0 ? null : (n * 1000) / ms;
}

function ratio(
	a: number | null | undefined,
	b: number | null | undefined,
): number | null {
	return a == null || b == null || b === 0 ? null : a / b;
}

function fmtMs(ms: number | null): string {
	return ms === null ? "timeout" : `${ms.toFixed(1)} ms`;
}

function fmtRate(s: SampleSummary): string {
	if (s.median === null) return `timeout ×${s.timeouts}`;
	const r = (v: number | null) => Math.round(v ?? 0).toLocaleString("en-US");
	const range = `${r(s.min)}–${r(s.max)}`;
	return `${r(s.median)} (${range})${s.timeouts ? ` +${s.timeouts} timeout` : ""}`;
}

function printReport(
	mode: Mode,
	results: {
		runner: string;
		n: number;
		startsPerSec: SampleSummary;
		stopsPerSec: SampleSummary;
	}[],
	heapResults: { runner: string; n: number; bytesPerActor: SampleSummary }[],
	ratios: {
		n: number;
		startsPerSec: number | null;
		stopsPerSec: number | null;
	}[],
): void {
	console.log(
		`\nactor lifecycle (${mode.name}; median (min–max) over ${mode.rounds} round(s))`,
	);
	const header = [
		"N",
		"runner",
		"starts/s",
		"stops/s",
		"starts/s vs smallest N",
	];
	const rows = results.map((r) => {
		const base = results.find(
			(b) => b.runner === r.runner && b.n === mode.sizes[0],
		);
		const rel = ratio(r.startsPerSec.median, base?.startsPerSec.median);
		return [
			r.n.toLocaleString("en-US"),
			r.runner,
			fmtRate(r.startsPerSec),
			fmtRate(r.stopsPerSec),
			rel === null ? "-" : `${rel.toFixed(2)}×`,
		];
	});
	printTable(header, rows);
	console.log("\nratio ours ÷ reference (medians; > 1 means ours is faster)");
	printTable(
		["N", "starts/s", "stops/s"],
		ratios.map((r) => [
			r.n.toLocaleString("en-US"),
			r.startsPerSec === null ? "-" : r.startsPerSec.toFixed(2),
			r.stopsPerSec === null ? "-" : r.stopsPerSec.toFixed(2),
		]),
	);
	console.log(
		"\nheap per idle running actor (forced GC before and after; delta / N)",
	);
	printTable(
		["N", "runner", "bytes/actor"],
		heapResults.map((h) => [
			h.n.toLocaleString("en-US"),
			h.runner,
			fmtRate(h.bytesPerActor),
		]),
	);
}

function printTable(header: string[], rows: string[][]): void {
	const widths = header.map((h, i) =>
		Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)),
	);
	const line = (cells: string[]) =>
		cells
			.map((c, i) => c.padEnd(widths[i] ?? 0))
			.join("  ")
			.trimEnd();
	console.log(line(header));
	console.log(widths.map((w) => "-".repeat(w)).join("  "));
	for (const r of rows) console.log(line(r));
}

main().then(
	() => process.exit(0),
	(error: unknown) => {
		console.error(error);
		process.exit(1);
	},
);
