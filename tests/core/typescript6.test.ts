import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect, test } from "vitest";

const run = promisify(execFile);

// Deno's checker is TypeScript 6; the core must type-check there too, not only under our tsc 5.9.
test("the core type-checks under Deno's TypeScript 6 checker", async () => {
	const { stderr } = await run(
		"node_modules/.bin/deno",
		["check", "src/core/index.ts"],
		{
			env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
			timeout: 60_000,
		},
	);
	expect(stderr).toContain("Check");
	expect(stderr).not.toMatch(/error/i);
}, 60_000);
