/**
 * `npm pack` of the repository as a user would get it (dist/ is built by the node project's global setup, so
 * the prepack build is skipped here).
 */
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";

export const REPO = resolve(import.meta.dirname, "../..");

export interface PackedFile {
	path: string;
}

export interface Packed {
	filename: string;
	files: PackedFile[];
}

export function npmPack(destination?: string): Packed {
	const args = ["pack", "--json", "--ignore-scripts"];
	if (destination) args.push("--pack-destination", destination);
	else args.push("--dry-run");
	const out = execFileSync("npm", args, {
		cwd: REPO,
		encoding: "utf8",
		stdio: ["ignore", "pipe", "pipe"],
	});
	const [packed] = JSON.parse(out) as Packed[];
	if (!packed) throw new Error(`npm pack printed no result: ${out}`);
	return packed;
}
