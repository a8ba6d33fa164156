#!/usr/bin/env node
/**
 * Benchmark launcher: `node bench/run.mjs <name> [args…]` bundles bench/<name>.ts with esbuild (Node 20
 * cannot run TypeScript) and runs it with `--expose-gc`, passing the args through.
 *
 * Our runner core (src/core/index.ts) is bundled on its own and handed over by URL in
 * EDGERUNNER_BENCH_CORE, so that a core that does not exist or does not build yet makes the
 * benchmark skip "ours" with a reason (EDGERUNNER_BENCH_CORE_SKIP) instead of failing.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const [name, ...args] = process.argv.slice(2);
if (
	!name ||
	!/^[\w-]+$/.test(name) ||
	!existsSync(join(root, "bench", `${name}.ts`))
) {
	console.error(
		"usage: node bench/run.mjs <name> [args…]   (runs bench/<name>.ts)",
	);
	process.exit(2);
}

const outDir = join(root, "node_modules", ".cache", "edgerunner-bench");
const common = {
	bundle: true,
	platform: "node",
	format: "esm",
	target: "node20",
	// Dependencies load from node_modules at run time, exactly as a user's app would load them.
	packages: "external",
	sourcemap: "inline",
	logLevel: "silent",
};

const outfile = join(outDir, `${name}.mjs`);
await build({
	...common,
	entryPoints: [join(root, "bench", `${name}.ts`)],
	outfile,
});
// The entry of the worker threads that host runners (bench/threaded-runners.ts), next to the bundle using it.
await build({
	...common,
	entryPoints: [join(root, "bench", "runner-thread.ts")],
	outfile: join(outDir, "runner-thread.mjs"),
});

// The child-process entry that hosts one runner against the real Rivet Engine (bench/real-engine-measure.ts).
await build({
	...common,
	entryPoints: [join(root, "bench", "real-engine-runner.ts")],
	outfile: join(outDir, "real-engine-runner.mjs"),
});

const env = { ...process.env };
const coreEntry = join(root, "src", "core", "index.ts");
if (!existsSync(coreEntry)) {
	env.EDGERUNNER_BENCH_CORE_SKIP = "src/core/index.ts does not exist yet";
} else {
	const coreOut = join(outDir, "core.mjs");
	try {
		await build({ ...common, entryPoints: [coreEntry], outfile: coreOut });
		env.EDGERUNNER_BENCH_CORE = pathToFileURL(coreOut).href;
		// Ours runs on Node as a user's app would: with the Node adapter's WebSocket.
		const nodeOut = join(outDir, "node-adapter.mjs");
		await build({
			...common,
			entryPoints: [join(root, "src", "runtimes", "node.ts")],
			outfile: nodeOut,
		});
		env.EDGERUNNER_BENCH_NODE = pathToFileURL(nodeOut).href;
	} catch (error) {
		const first = String(error?.message ?? error)
			.split("\n")
			.slice(0, 3)
			.join(" ");
		env.EDGERUNNER_BENCH_CORE_SKIP = `src/core does not build: ${first}`;
	}
}

const child = spawn(
	process.execPath,
	["--expose-gc", "--enable-source-maps", outfile, ...args],
	{ stdio: "inherit", env, cwd: root },
);
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
