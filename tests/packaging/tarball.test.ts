/**
 * The published tarball: built JS and type declarations for every entry point of the exports map, and no tests,
 * fixtures, examples or tooling.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { npmPack, REPO } from "./pack.ts";

interface ExportEntry {
	types: string;
	default: string;
}

it("npm pack ships JS + .d.ts for every export (., engine, node, deno, bun, cloudflare, serverless, client) and no tests or fixtures", () => {
	const packed = npmPack();
	const paths = new Set(packed.files.map((f) => f.path));
	const manifest = JSON.parse(
		readFileSync(join(REPO, "package.json"), "utf8"),
	) as { exports: Record<string, ExportEntry> };
	expect(Object.keys(manifest.exports).sort()).toEqual(
		[
			".",
			"./bun",
			"./client",
			"./cloudflare",
			"./deno",
			"./engine",
			"./node",
			"./serverless",
		].sort(),
	);
	const missing: string[] = [];
	for (const entry of Object.values(manifest.exports)) {
		for (const target of [entry.types, entry.default]) {
			const path = target.replace(/^\.\//, "");
			if (!paths.has(path)) missing.push(path);
		}
	}
	expect(missing).toEqual([]);
	expect(paths.has("package.json")).toBe(true);
	const unwanted = [...paths].filter(
		(p) =>
			/(^|\/)tests?\//.test(p) ||
			/\.test\.[cm]?[jt]s$/.test(p) ||
			/(^|\/)fixtures?\//.test(p) ||
			(p.startsWith("examples/") && !p.startsWith("examples/counter/")) ||
			p.startsWith("tools/") ||
			p.startsWith("bench/") ||
			p.endsWith(".tgz"),
	);
	expect(unwanted).toEqual([]);
	// The CLI's demo (`edgerunner` with no subcommand) loads the example counter actor from the package.
	// …with the page it serves and the pre-built client module the page imports; not the script that builds it.
	for (const file of ["counter.mjs", "page.mjs", "client-module.generated.mjs"])
		expect(paths.has(`examples/counter/${file}`)).toBe(true);
	expect(paths.has("examples/counter/build-client-module.mjs")).toBe(false);
});
