/**
 * The core is runtime-agnostic (DESIGN §2): it bundles for esbuild's `platform: "neutral"` with no Node built-in,
 * no source file names `node:*`, `process`, `Buffer`, `Deno` or `Bun`, and its minified+gzipped size is recorded
 * against the 20 KB target (the reference runner does not bundle outside Node at all).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { expect, it } from "vitest";

const CORE = resolve(import.meta.dirname, "../../src/core");
const GZIP_TARGET_BYTES = 20 * 1024;

function sourceFiles(dir: string): string[] {
	return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
		entry.isDirectory()
			? sourceFiles(join(dir, entry.name))
			: entry.name.endsWith(".ts")
				? [join(dir, entry.name)]
				: [],
	);
}

/** Code only: comments may mention the forbidden names to explain why they are not used. */
function withoutComments(source: string): string {
	return source
		.replace(/\/\*[\s\S]*?\*\//g, "")
		.replace(/(^|[^:])\/\/.*$/gm, "$1");
}

const FORBIDDEN: [string, RegExp][] = [
	["a node: import", /from\s+["']node:|import\(\s*["']node:/],
	["process", /\bprocess\s*[.[]/],
	["Buffer", /\bBuffer\b/],
	["Deno", /\bDeno\b/],
	["Bun", /\bBun\b/],
];

it("no file in src/core uses node:*, process, Buffer, Deno or Bun", () => {
	const offences: string[] = [];
	for (const file of sourceFiles(CORE)) {
		const code = withoutComments(readFileSync(file, "utf8"));
		for (const [what, pattern] of FORBIDDEN) {
			if (pattern.test(code))
				offences.push(`${file.slice(CORE.length + 1)}: ${what}`);
		}
	}
	expect(offences).toEqual([]);
});

it("the core bundles for platform neutral with no Node built-in; gzipped size recorded (target ≤ 20 KB)", async () => {
	const result = await build({
		entryPoints: [join(CORE, "index.ts")],
		bundle: true,
		minify: true,
		format: "esm",
		platform: "neutral",
		// The two runtime dependencies resolve like any bundler would: ESM `module`/`main` fields.
		mainFields: ["module", "main"],
		write: false,
		metafile: true,
		logLevel: "silent",
	});
	const inputs = Object.keys(result.metafile.inputs);
	expect(
		inputs.filter((path) => path.startsWith("node:") || !path.includes("/")),
	).toEqual([]);
	expect(result.errors).toEqual([]);
	const code = result.outputFiles[0]?.contents ?? new Uint8Array();
	const gzipped = gzipSync(code).byteLength;
	console.log(
		`core bundle: ${code.byteLength} bytes minified, ${gzipped} bytes gzipped (target ${GZIP_TARGET_BYTES})`,
	);
	expect(gzipped).toBeLessThanOrEqual(GZIP_TARGET_BYTES);
});
