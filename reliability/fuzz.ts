/**
 * `npm run fuzz [-- --seed N --frames K --bounded]`: the fuzz run of issue 12 §2 (reliability/fuzz-campaign.ts).
 * Writes reliability/results/fuzz.json and re-renders RELIABILITY.md; exits 1 when a property did not hold, after
 * printing each failure with the seed (and frame) that replays it.
 */
import {
	BOUNDED_SIZES,
	FULL_SIZES,
	fuzzResults,
	runFuzz,
} from "./fuzz-campaign.ts";
import { writeReliability } from "./report.ts";
import { writeResults } from "./results.ts";

function arg(name: string): string | undefined {
	const i = process.argv.indexOf(`--${name}`);
	return i >= 0 ? process.argv[i + 1] : undefined;
}

const bounded = process.argv.includes("--bounded");
const seed = Number(arg("seed") ?? 1) >>> 0;
const sizes = { ...(bounded ? BOUNDED_SIZES : FULL_SIZES) };
const frames = arg("frames");
if (frames !== undefined) {
	sizes.runnerFrames = Number(frames);
	sizes.referenceFrames = Math.min(sizes.referenceFrames, sizes.runnerFrames);
}
const engineFrames = arg("engine-frames");
if (engineFrames !== undefined) sizes.engineFrames = Number(engineFrames);
const referenceFrames = arg("reference-frames");
if (referenceFrames !== undefined)
	sizes.referenceFrames = Number(referenceFrames);

const command = `npm run fuzz -- ${process.argv.slice(2).join(" ") || `--seed ${seed}`}`;
console.log(`fuzz: seed ${seed}, ${JSON.stringify(sizes)}`);
const run = await runFuzz(seed, sizes, (line) => console.log(line));
const results = fuzzResults(run, seed, command, bounded);
const root = process.cwd();
console.log(`wrote ${writeResults(root, results)}`);
console.log(`wrote ${writeReliability(root)}`);
if (run.failed.length > 0) {
	console.log(
		`\n${run.failed.length} properties did not hold (replay: npm run fuzz -- --seed ${seed}):`,
	);
	for (const line of run.failed) console.log(`- ${line}`);
	process.exit(1);
}
console.log("every property held");
process.exit(0);
