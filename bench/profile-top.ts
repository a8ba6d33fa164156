/**
 * The top self-time functions of a V8 CPU profile (`node --cpu-prof`), for the notes on missed targets:
 *
 *   node bench/run.mjs profile-top <file.cpuprofile> [count]
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
	id: number;
	callFrame: {
		functionName: string;
		url: string;
		lineNumber: number;
	};
	hitCount?: number;
}

interface Profile {
	nodes: ProfileNode[];
	samples: number[];
	timeDeltas: number[];
}

const [file, countArg] = process.argv.slice(2);
if (!file) {
	console.error(
		"usage: node bench/run.mjs profile-top <file.cpuprofile> [count]",
	);
	process.exit(2);
}
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<string, number>();
let totalUs = 0;
profile.samples.forEach((id, i) => {
	const node = byId.get(id);
	const delta = profile.timeDeltas[i] ?? 0;
	totalUs += delta;
	if (!node) return;
	const { functionName, url, lineNumber } = node.callFrame;
	const where = url
		? `${url.replace(/^.*node_modules\//, "")}:${lineNumber + 1}`
		: "";
	const key = `${functionName || "(anonymous)"} ${where}`.trim();
	selfUs.set(key, (selfUs.get(key) ?? 0) + delta);
});
const top = [...selfUs.entries()]
	.sort((a, b) => b[1] - a[1])
	.slice(0, Number(countArg ?? 25));
console.log(`total ${(totalUs / 1000).toFixed(0)} ms sampled`);
for (const [name, us] of top)
	console.log(
		`${((us / totalUs) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${name}`,
	);
