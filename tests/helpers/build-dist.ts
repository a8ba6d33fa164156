/**
 * Builds dist/ (tsconfig.build.json) for tests that run the published entry points, only when src/ changed
 * since the last build.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

export const REPO_ROOT = resolve(import.meta.dirname, "..", "..");

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

/** Builds unless `marker` (a file under dist/) is newer than every source file. */
export function buildDistIfStale(marker: string): void {
	const srcChanged = newestMtime(join(REPO_ROOT, "src"));
	if (existsSync(marker) && statSync(marker).mtimeMs >= srcChanged) return;
	try {
		execFileSync(
			process.execPath,
			[
				join(REPO_ROOT, "node_modules/typescript/bin/tsc"),
				"-p",
				"tsconfig.build.json",
			],
			{ cwd: REPO_ROOT, stdio: "pipe" },
		);
	} catch (error) {
		// Type errors still emit JavaScript (tsc --noEmit reports them); only a missing output is fatal.
		if (!existsSync(marker)) throw error;
	}
}
