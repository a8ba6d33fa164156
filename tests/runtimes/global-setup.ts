/**
 * Before the node project runs: build dist/ when src/ changed since the last build (examples and the Node 20
 * child processes import the published entry points), and install Node 24 into tools/node24 when it is missing
 * (`npm ci` there; offline-tolerant: if it fails, the Node 24 tests say why in their names).
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { buildDistIfStale } from "../helpers/build-dist.ts";
import { NODE24, REPO } from "./runtimes.ts";

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
	buildDistIfStale(join(REPO, "dist/runtimes/node.js"));
	installNode24();
}
