/**
 * Core bundle size: esbuild bundles src/core/index.ts for `platform: "neutral"` (no Node built-ins, no Node
 * resolution conditions), minified, with every dependency inlined; the figure is the gzip size of that file.
 * The reference runner gets the same attempt: it imports Node built-ins, so a neutral bundle fails, and the
 * failure is reported instead of a number.
 */
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

export interface BundleSize {
	entry: string;
	minifiedBytes: number | null;
	gzipBytes: number | null;
	/** Why there is no number. */
	error?: string;
}

async function neutralBundleSize(
	entry: string,
	label: string,
): Promise<BundleSize> {
	try {
		const result = await build({
			entryPoints: [entry],
			bundle: true,
			platform: "neutral",
			format: "esm",
			target: "es2022",
			// Neutral resolves no package fields by default; these are what a bundler for the web or workerd reads.
			mainFields: ["module", "main"],
			conditions: ["import", "default"],
			minify: true,
			write: false,
			logLevel: "silent",
		});
		const code = result.outputFiles[0]?.contents ?? new Uint8Array();
		return {
			entry: label,
			minifiedBytes: code.byteLength,
			gzipBytes: gzipSync(code, { level: 9 }).byteLength,
		};
	} catch (error) {
		const errors = (error as { errors?: { text: string }[] }).errors ?? [];
		const first = errors
			.slice(0, 2)
			.map((e) => e.text)
			.join("; ");
		return {
			entry: label,
			minifiedBytes: null,
			gzipBytes: null,
			error: `${errors.length} esbuild errors, e.g. ${first || String(error)}`,
		};
	}
}

export async function measureBundleSizes(root: string): Promise<{
	ours: BundleSize;
	reference: BundleSize;
}> {
	return {
		ours: await neutralBundleSize(
			join(root, "src", "core", "index.ts"),
			"src/core/index.ts",
		),
		reference: await neutralBundleSize(
			join(
				root,
				"node_modules",
				"@rivetkit",
				"engine-runner",
				"dist",
				"mod.js",
			),
			"@rivetkit/engine-runner",
		),
	};
}
