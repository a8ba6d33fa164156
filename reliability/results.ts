/**
 * What a reliability run (faults, fuzz, load) records, and where: reliability/results/<kind>.json. RELIABILITY.md is
 * rendered from these files (reliability/report.ts), so every figure in it comes from a run that can be repeated
 * with the command and seeds it names.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export type ReliabilityKind = "faults" | "fuzz" | "load";

export interface ReliabilityResults {
	kind: ReliabilityKind;
	/** ISO time the run ended. */
	generatedAt: string;
	/** The command that reproduces this run, e.g. `npm run faults -- --seed 7 --minutes 5`. */
	command: string;
	/** true for a bounded (CI-sized) run; RELIABILITY.md is meant to be rendered from full runs. */
	bounded: boolean;
	/** Every seed used; a failure's seed replays it. */
	seeds: number[];
	/** Markdown bullets (without the leading "- "): what was tried. */
	tried: string[];
	/** Markdown bullets: each invariant or property and whether it held, with counts. */
	held: string[];
	/** Markdown bullets: what broke (empty when all held), each with its seed and shortest history. */
	failed: string[];
	/** Markdown bullets: what the engine under test got wrong in the run, with its evidence (not a failure of ours). */
	engineFindings?: string[];
	/** Markdown (tables) with the figures measured. */
	figures: string;
	/** Markdown: what the reference runner (@rivetkit/engine-runner) did in the same run, or why it could not run. */
	reference: string;
}

const resultsDir = (root: string) => join(root, "reliability", "results");

export function writeResults(
	root: string,
	results: ReliabilityResults,
): string {
	mkdirSync(resultsDir(root), { recursive: true });
	const file = join(resultsDir(root), `${results.kind}.json`);
	writeFileSync(file, `${JSON.stringify(results, null, "\t")}\n`);
	return file;
}

export function readResults(
	root: string,
	kind: ReliabilityKind,
): ReliabilityResults | undefined {
	const file = join(resultsDir(root), `${kind}.json`);
	return existsSync(file)
		? (JSON.parse(readFileSync(file, "utf8")) as ReliabilityResults)
		: undefined;
}
