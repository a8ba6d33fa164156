/**
 * Before the node project runs: build dist/ when src/ changed since the last build (examples and the Node 20
 * child processes import the published entry points), and install Node 24 into tools/node24 when it is missing
 * (`npm ci` there; offline-tolerant: if it fails, the Node 24 tests say why in their names).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { NODE24, REPO } from "./runtimes.ts";

function newestMtime(dir: string): number {
	let newest = 0;
	for (const entry of readdirSync(dir, { withFileTypes: true })) {
		const path = join(dir, entry.name);
		newest = Math.max(
			newest,
			entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs,
		);
	}
	return newest;
}

function buildIfStale(): void {
	const marker = join(REPO, "dist/runtimes/node.js");
	const srcChanged = newestMtime(join(REPO, "src"));
	if (existsSync(marker) && statSync(marker).mtimeMs >= srcChanged) return;
	try {
		execFileSync(
			process.execPath,
			[
				join(REPO, "node_modules/typescript/bin/tsc"),
				"-p",
				"tsconfig.build.json",
			],
			{ cwd: REPO, stdio: "pipe" },
		);
	} catch (error) {
		// Type errors still emit JavaScript; only a missing output is fatal.
		if (!existsSync(marker)) throw error;
	}
}

function installNode24(): void {
	if (existsSync(NODE24)) return;
	try {
		execFileSync(
			"npm",
			[
				"ci",
				"--prefix",
				join(REPO, "tools/node24"),
				"--no-audit",
				"--no-fund",
				"--prefer-offline",
			],
			{ cwd: REPO, stdio: "pipe", timeout: 120_000 },
		);
	} catch {
		// Offline and not cached: tests/runtimes mark Node 24 unavailable.
	}
}

export default function setup(): void {
	buildIfStale();
	installNode24();
}
