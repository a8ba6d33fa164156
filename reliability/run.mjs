#!/usr/bin/env node
/**
 * Reliability launcher: `node reliability/run.mjs <faults|fuzz|load|report> [args…]` bundles reliability/<name>.ts
 * with esbuild (Node 20 cannot run TypeScript) and runs it with `--expose-gc` (the fuzz and load runs measure heap).
 * Files named reliability/<name>-child*.ts are bundled next to it, for runs that put runners in child processes;
 * RELIABILITY_BUNDLE_DIR says where they are.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const [name, ...args] = process.argv.slice(2);
if (
	!name ||
	!/^[\w-]+$/.test(name) ||
	!existsSync(join(root, "reliability", `${name}.ts`))
) {
	console.error(
		"usage: node reliability/run.mjs <name> [args…]   (runs reliability/<name>.ts)",
	);
	process.exit(2);
}

const outDir = join(root, "node_modules", ".cache", "edgerunner-reliability");
const entries = [
	`${name}.ts`,
	...readdirSync(join(root, "reliability")).filter(
		(file) => file.startsWith(`${name}-child`) && file.endsWith(".ts"),
	),
];
for (const entry of entries) {
	await build({
		bundle: true,
		platform: "node",
		format: "esm",
		target: "node20",
		// Dependencies load from node_modules at run time, as a user's app would load them.
		packages: "external",
		sourcemap: "inline",
		logLevel: "warning",
		entryPoints: [join(root, "reliability", entry)],
		outfile: join(outDir, entry.replace(/\.ts$/, ".mjs")),
	});
}

const child = spawn(
	process.execPath,
	["--expose-gc", "--enable-source-maps", join(outDir, `${name}.mjs`), ...args],
	{
		stdio: "inherit",
		// The protocol codec checks integer ranges only outside production: run with them, as vitest does.
		env: {
			...process.env,
			NODE_ENV: process.env.NODE_ENV ?? "development",
			RELIABILITY_BUNDLE_DIR: outDir,
		},
		cwd: root,
	},
);
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
