import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect, test } from "vitest";

const run = promisify(execFile);
const ADAPTERS = ["node", "deno", "bun", "cloudflare", "serverless"].map(
	(name) => `src/runtimes/${name}.ts`,
);

// Deno runs the adapters' sources and its checker is TypeScript 6: they must type-check there, not only under tsc 5.9.
test("every runtime adapter type-checks under Deno's TypeScript 6 checker", async () => {
	const { stderr } = await run(
		"node_modules/.bin/deno",
		["check", ...ADAPTERS],
		{
			env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
			timeout: 60_000,
		},
	);
	for (const adapter of ADAPTERS) expect(stderr).toContain(`Check ${adapter}`);
	expect(stderr).not.toMatch(/error/i);
}, 60_000);
