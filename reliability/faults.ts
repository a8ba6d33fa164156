/**
 * `npm run faults [-- --seed N --minutes M --engine dev|rivet|both]`: the fault run of issue 12 §1. On each engine,
 * our runners and the reference runner (R) run the workload of reliability/workload.ts behind seeded fault proxies
 * (reliability/fault-proxy.ts), with runners drained and stopped and the engine restarted in the middle; then the
 * invariants (reliability/invariants.ts) are checked for each runner family. Writes reliability/results/faults.json,
 * re-renders RELIABILITY.md and exits non-zero when an invariant of ours broke (R's are findings, reported).
 * tests/reliability/faults.test.ts runs the same `runFaults` at the bounded size.
 */
import { writeFileSync } from "node:fs";
import type { EngineKind } from "../tests/helpers/engines.ts";
import {
	checkInvariants,
	formatEngineFinding,
	formatViolation,
	INVARIANT_TEXT,
	type InvariantResult,
} from "./invariants.ts";
import { createPrng, normaliseSeed } from "./prng.ts";
import { writeReliability } from "./report.ts";
import { type ReliabilityResults, writeResults } from "./results.ts";
import {
	DEFAULT_TIMEOUTS,
	FAMILIES,
	runWorkload,
	type WorkloadRecord,
	type WorkloadSize,
	type WorkloadTimeouts,
} from "./workload.ts";

export type FaultRunSize = "bounded" | "full";

export interface FaultRunOptions {
	seed: number;
	engines: EngineKind[];
	size: FaultRunSize;
	/** Full run: minutes of faults per engine. Default 1.5. */
	minutes?: number;
	progress?: (line: string) => void;
}

export interface FaultRunOutcome {
	results: ReliabilityResults;
	/** true when every invariant of ours held on every engine. */
	ok: boolean;
	/** Our violations, each with its seed and history. */
	failures: string[];
	/** R's violations (findings). */
	referenceFindings: string[];
	/** What the real engine got wrong (WorkloadRecord.engineFindings), each with its seed and history. */
	engineFindings: string[];
	invariants: { engine: EngineKind; results: InvariantResult[] }[];
}

/** The workload size on `engine`: bounded (CI) or full. */
export function workloadSize(
	engine: EngineKind,
	size: FaultRunSize,
	minutes = 1.5,
): WorkloadSize {
	if (size === "bounded")
		return {
			runners: 2,
			referenceRunners: 1,
			actors: 24,
			referenceActors: 8,
			faultMs: 20_000,
			httpWriters: 3,
			wsWriters: 2,
			churn: 2,
			// The real engine stalls ~30 s after SIGKILL (docs/engine.md D19): the bounded run sends SIGTERM only.
			engineFaults: ["SIGTERM"],
		};
	return {
		runners: 3,
		referenceRunners: 2,
		// The real engine creates actors about a second each, with few at once: fewer there, to keep the run short.
		actors: engine === "dev" ? 200 : 60,
		referenceActors: engine === "dev" ? 60 : 20,
		faultMs: Math.round(minutes * 60_000),
		httpWriters: 8,
		wsWriters: 4,
		churn: 4,
		// Dev engine: both mean close and reopen on the same SQLite file. Real engine: the run budgets its SIGKILL stall.
		engineFaults: ["SIGKILL", "SIGTERM"],
	};
}

/** The stated bounds. */
export function workloadTimeouts(
	engine: EngineKind,
	size: FaultRunSize,
): WorkloadTimeouts {
	return {
		...DEFAULT_TIMEOUTS,
		// The real engine wakes the actors of a restarted or drained runner one by one (about a second each, R's
		// alike), and after a SIGKILL stalls ~30 s more (docs/engine.md D19).
		recoveryBoundMs:
			engine === "dev" ? 30_000 : size === "full" ? 75_000 : 45_000,
	};
}

export async function runFaults(
	options: FaultRunOptions,
): Promise<FaultRunOutcome> {
	const progress = options.progress ?? (() => {});
	const seed = normaliseSeed(options.seed);
	const unhandled: string[] = [];
	const onRejection = (reason: unknown) =>
		unhandled.push(
			`unhandledRejection: ${(reason as Error)?.stack ?? String(reason)}`,
		);
	process.on("unhandledRejection", onRejection);
	const records: WorkloadRecord[] = [];
	const invariants: FaultRunOutcome["invariants"] = [];
	try {
		for (const engine of options.engines) {
			const mine: string[] = [];
			unhandled.length = 0;
			// One stream per engine, so a replay of one engine's run does not depend on the other's.
			const prng = createPrng(seed + (engine === "dev" ? 0 : 1));
			progress(`${engine}: seed ${seed}`);
			const record = await runWorkload(
				engine,
				prng,
				workloadSize(engine, options.size, options.minutes),
				workloadTimeouts(engine, options.size),
				(line) => progress(`${engine}: ${line}`),
				mine,
			);
			record.unhandled.push(...unhandled);
			if (process.env.FAULTS_DUMP)
				writeFileSync(
					`${process.env.FAULTS_DUMP}-${engine}.json`,
					JSON.stringify({
						startedAt: new Date(record.log.startedAt).toISOString(),
						events: record.log.events,
						writes: record.writes,
						reachableMs: [...record.reachableMs],
					}),
				);
			records.push(record);
			invariants.push({
				engine,
				results: FAMILIES.flatMap((family) => checkInvariants(record, family)),
			});
		}
	} finally {
		process.off("unhandledRejection", onRejection);
	}
	const failures: string[] = [];
	const referenceFindings: string[] = [];
	for (const { engine, results } of invariants)
		for (const result of results)
			for (const violation of result.violations.slice(0, 5))
				(result.family === "ours" ? failures : referenceFindings).push(
					formatViolation(seed, engine, result, violation),
				);
	const engineFindings = records.flatMap((record) =>
		record.engineFindings.map((finding) =>
			formatEngineFinding(seed, record, finding),
		),
	);
	const ok = invariants.every(({ results }) =>
		results.every((r) => r.family !== "ours" || r.held),
	);
	return {
		results: {
			...summarise(options, seed, records, invariants, failures),
			engineFindings: engineFindings.map((f) =>
				`\`\`\`\n${f}\n\`\`\``.replace(/\n/g, "\n  "),
			),
		},
		ok,
		failures,
		engineFindings,
		referenceFindings,
		invariants,
	};
}

const percentile = (values: number[], p: number): number | undefined => {
	if (values.length === 0) return undefined;
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[
		Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))
	];
};
const ms = (value: number | undefined) =>
	value === undefined ? "–" : `${Math.round(value)} ms`;

function summarise(
	options: FaultRunOptions,
	seed: number,
	records: WorkloadRecord[],
	invariants: FaultRunOutcome["invariants"],
	failures: string[],
): ReliabilityResults {
	const tried: string[] = [];
	for (const record of records) {
		const { size, timeouts } = record;
		tried.push(
			`${record.engine === "dev" ? "Dev engine (SQLite storage)" : "Rivet Engine 2.3.19"}: ${size.runners} of our runners and ${size.referenceRunners} reference runners, each behind its own fault proxy; ${size.actors} + ${size.referenceActors} actors with a KV counter; ${Math.round(size.faultMs / 1000)} s of faults; ${size.httpWriters} HTTP and ${size.wsWriters} WebSocket writers per family through the gateway; actors put to sleep and woken; ${size.churn} runners of each family drained or shut down at once mid-faults (and replaced); ${record.engine === "dev" ? `the engine restarted ${size.engineFaults.length}× (closed, runner sockets 1011 going_away, and reopened on the same SQLite file and port)` : `the engine killed with ${size.engineFaults.join(", then ")} and restarted on the same state and port`} mid-faults.`,
		);
		if (record === records[0])
			tried.push(
				`Fault kinds (one at a time per proxy, seeded): cut both sides, cut mid-frame (after 1–12 bytes of a WebSocket frame, either direction), stall one direction or both (30% longer than the runner's engine-silence watchdog of ${timeouts.engineSilenceTimeoutMs} ms), half-open link (same), latency 5–200 ms with jitter up to 100 ms, bandwidth 2–64 KB/s, refused reconnects 0.2–3 s. Bounds: kvTimeoutMs ${timeouts.kvTimeoutMs}, runner lost threshold ${timeouts.runnerLostThresholdMs} ms, recovery ${timeouts.recoveryBoundMs} ms after the faults end.`,
			);
	}
	const held: string[] = [];
	for (const { engine, results } of invariants)
		for (const result of results.filter((r) => r.family === "ours"))
			held.push(
				`${result.held ? "held" : "**broke**"} (${engine}): ${INVARIANT_TEXT[result.name]} — ${result.summary}${result.held ? "" : `; ${result.violations.length} violations`}`,
			);
	const figures: string[] = [];
	figures.push(
		"| engine | runner | writes sent | acked (HTTP / WS) | faults injected | reconnect after faults p50 / max | actor reachable after faults p50 / max | KV requests (rejected) |",
		"|---|---|---|---|---|---|---|---|",
	);
	for (const record of records)
		for (const family of FAMILIES) {
			const writes = record.writes.filter((w) => w.family === family);
			const acked = writes.filter((w) => w.ackedAt !== undefined);
			const connected = record.recovery
				.filter((r) => r.family === family && r.connectedMs !== null)
				.map((r) => r.connectedMs as number);
			const reachable = record.actors[family]
				.map((id) => record.reachableMs.get(id))
				.filter((v): v is number => typeof v === "number");
			const faults = new Map<string, number>();
			for (const host of record.hosts.filter((h) => h.family === family))
				for (const [kind, n] of Object.entries(host.proxy.stats.injected))
					faults.set(kind, (faults.get(kind) ?? 0) + n);
			const kv = record.kvCalls.filter((c) => c.family === family);
			figures.push(
				`| ${record.engine} | ${family === "ours" ? "edgerunner" : "R"} | ${writes.length} | ${acked.length} (${acked.filter((w) => w.via === "http").length} / ${acked.filter((w) => w.via === "ws").length}) | ${[
					...faults,
				]
					.filter(([, n]) => n > 0)
					.map(([k, n]) => `${k} ${n}`)
					.join(
						", ",
					)} | ${ms(percentile(connected, 50))} / ${ms(percentile(connected, 100))} | ${ms(percentile(reachable, 50))} / ${ms(percentile(reachable, 100))} | ${kv.length} (${kv.filter((c) => c.error).length}) |`,
			);
		}
	const restarts = records.flatMap((r) =>
		r.engineFaultsDone.map(
			(f) => `${r.engine} ${f.signal}: back in ${f.backMs} ms`,
		),
	);
	if (restarts.length)
		figures.push("", `Engine faults: ${restarts.join("; ")}.`);
	const reference: string[] = [
		"Under the same fault schedules (reference host i plays the schedule of our host i), in the same run. A broken invariant here is a finding about R, not a failure of the run.",
		"",
		"| engine | invariant | R |",
		"|---|---|---|",
	];
	for (const { engine, results } of invariants)
		for (const result of results.filter((r) => r.family === "reference"))
			reference.push(
				`| ${engine} | ${INVARIANT_TEXT[result.name]} | ${result.held ? "held" : `broke ×${result.violations.length}: ${escapeCell(result.violations[0]?.message ?? "")}`} — ${escapeCell(result.summary)} |`,
			);
	const args = [
		`--seed ${seed}`,
		...(options.size === "full" ? [`--minutes ${options.minutes ?? 1.5}`] : []),
		`--engine ${options.engines.length === 2 ? "both" : options.engines[0]}`,
	];
	return {
		kind: "faults",
		generatedAt: new Date().toISOString(),
		command: `npm run faults -- ${args.join(" ")}`,
		bounded: options.size === "bounded",
		seeds: [seed],
		tried,
		held,
		failed: failures.map((f) => `\`\`\`\n${f}\n\`\`\``.replace(/\n/g, "\n  ")),
		figures: figures.join("\n"),
		reference: reference.join("\n"),
	};
}

const escapeCell = (text: string) =>
	text.replace(/\|/g, "\\|").replace(/\n/g, " ");

function parseArgs(argv: string[]): {
	seed: number;
	minutes: number;
	engines: EngineKind[];
	size: FaultRunSize;
} {
	let seed = Date.now() % 2 ** 31;
	let minutes = 1.5;
	let engine = "both";
	let size: FaultRunSize = "full";
	for (let i = 0; i < argv.length; i++) {
		const arg = argv[i];
		const value = argv[i + 1];
		if (arg === "--seed" && value) seed = Number(value);
		else if (arg === "--minutes" && value) minutes = Number(value);
		else if (arg === "--engine" && value) engine = value;
		else if (arg === "--size" && (value === "bounded" || value === "full"))
			size = value;
		else continue;
		i++;
	}
	if (!Number.isFinite(seed) || !Number.isFinite(minutes) || minutes <= 0)
		throw new Error(
			"usage: npm run faults [-- --seed N --minutes M --engine dev|rivet|both]",
		);
	const engines: EngineKind[] =
		engine === "both"
			? ["dev", "rivet"]
			: engine === "dev"
				? ["dev"]
				: ["rivet"];
	return { seed, minutes, engines, size };
}

async function main(): Promise<void> {
	const { seed, minutes, engines, size } = parseArgs(process.argv.slice(2));
	const started = Date.now();
	const outcome = await runFaults({
		seed,
		minutes,
		engines,
		size,
		progress: (line) =>
			console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${line}`),
	});
	const root = process.cwd();
	console.log(`wrote ${writeResults(root, outcome.results)}`);
	console.log(`wrote ${writeReliability(root)}`);
	for (const line of outcome.results.held) console.log(`- ${line}`);
	for (const finding of outcome.referenceFindings.slice(0, 10))
		console.log(`R finding:\n${finding}`);
	for (const finding of outcome.engineFindings)
		console.log(`Engine finding:\n${finding}`);
	for (const failure of outcome.failures) console.error(`FAILED:\n${failure}`);
	console.log(
		outcome.ok
			? `all invariants of ours held (seed ${seed})`
			: `an invariant of ours broke: replay with npm run faults -- --seed ${seed} --minutes ${minutes} --engine ${engines.length === 2 ? "both" : engines[0]}`,
	);
	process.exit(outcome.ok ? 0 : 1);
}

if (process.argv[1]?.endsWith("/faults.mjs")) {
	main().catch((error: unknown) => {
		console.error(error);
		process.exit(2);
	});
}
