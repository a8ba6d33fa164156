/**
 * The light `Request` (src/core/tunnel/light-request.ts) on every runtime the runtime tests use: where the runtime
 * lets a stand-in pass for a `Request` (Node 20, Bun, Deno) the light one is used, where it does not (Node 24's
 * undici reads private fields) real ones are; either way the handler sees a `Request` (fixtures/light-request-check.ts).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";
import { runtimeCommand, runtimesUnderTest } from "../runtimes/runtimes.ts";

const EXPECT_LIGHT: Record<string, boolean> = {
	node20: true,
	node24: false,
	bun: true,
	deno: true,
};

let script = "";

beforeAll(async () => {
	script = join(mkdtempSync(join(tmpdir(), "light-request-")), "check.mjs");
	await build({
		entryPoints: [
			resolve(import.meta.dirname, "fixtures/light-request-main.ts"),
		],
		bundle: true,
		format: "esm",
		platform: "neutral",
		outfile: script,
		logLevel: "silent",
	});
});

describe("the request a fetch handler gets, per runtime", () => {
	for (const runtime of runtimesUnderTest()) {
		const title = `${runtime.name}: behaves as a Request (${EXPECT_LIGHT[runtime.name] ? "light" : "real"} one)`;
		if (runtime.unavailable) {
			it.skip(`${title} — skipped: ${runtime.unavailable}`, () => {});
			continue;
		}
		it(title, () => {
			const [command, args] = runtimeCommand(runtime, script);
			const output = execFileSync(command, args, {
				encoding: "utf8",
				timeout: 15_000,
				env: { ...process.env, NO_COLOR: "1" },
			});
			expect(JSON.parse(output.trim().split("\n").at(-1) ?? "")).toEqual({
				ok: true,
				light: EXPECT_LIGHT[runtime.name],
			});
		});
	}
});
