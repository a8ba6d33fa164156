/**
 * `npm run fuzz [-- --seed N --frames K]`: the fuzz run (issue 12 §2). See reliability/fuzz-campaign.ts.
 */
import { fuzzRunnerSide } from "./fuzz-runner-side.ts";

function arg(name: string): string | undefined {
	const i = process.argv.indexOf(`--${name}`);
	return i >= 0 ? process.argv[i + 1] : undefined;
}

const seed = Number(arg("seed") ?? 1);
const frames = Number(arg("frames") ?? 100_000);
const result = await fuzzRunnerSide((arg("target") as "ours") ?? "ours", {
	seed,
	frames,
	progress: (line) => console.log(line),
	batchTimeoutMs: Number(arg("batch-timeout") ?? 15000),
});
console.log(JSON.stringify(result, null, 2));
