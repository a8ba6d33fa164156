/**
 * `npm start` (the built CLI's demo) prints curl and WebSocket commands that reach the counter actor through the
 * dev engine's gateway. This runs exactly what it prints: each `curl` line (as fetch) and the `node -e` WebSocket
 * line (as a child process in the repository, where `ws` resolves).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import {
	existsSync,
	mkdtempSync,
	readdirSync,
	rmSync,
	statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeAll, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const CLI = join(ROOT, "dist", "cli.js");
const WAIT_MS = 10_000;

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

beforeAll(async () => {
	if (
		existsSync(CLI) &&
		statSync(CLI).mtimeMs >= newestMtime(join(ROOT, "src"))
	)
		return;
	await promisify(execFile)(
		process.execPath,
		[
			join(ROOT, "node_modules", "typescript", "bin", "tsc"),
			"-p",
			"tsconfig.build.json",
		],
		{ cwd: ROOT },
	);
}, 60_000);

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
	for (const child of children.splice(0))
		if (child.exitCode === null && !child.signalCode) child.kill("SIGKILL");
	for (const dir of dirs.splice(0))
		rmSync(dir, { recursive: true, force: true });
});

/** Collects a child's stdout; `until(pattern)` resolves once it matches (rejects on exit or after WAIT_MS). */
function collect(child: ChildProcess) {
	let stdout = "";
	const waiters = new Set<() => void>();
	child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
		stdout += chunk;
		for (const check of [...waiters]) check();
	});
	child.once("exit", () => {
		for (const check of [...waiters]) check();
	});
	return {
		get stdout() {
			return stdout;
		},
		until(pattern: RegExp): Promise<string> {
			return new Promise((resolve, reject) => {
				const check = () => {
					if (pattern.test(stdout)) {
						done();
						resolve(stdout);
					} else if (child.exitCode !== null || child.signalCode) {
						done();
						reject(new Error(`exited before ${pattern}:\n${stdout}`));
					}
				};
				const timer = setTimeout(() => {
					done();
					reject(new Error(`no ${pattern} within ${WAIT_MS} ms:\n${stdout}`));
				}, WAIT_MS);
				const done = () => {
					clearTimeout(timer);
					waiters.delete(check);
				};
				waiters.add(check);
				check();
			});
		},
	};
}

/** A printed `curl [-X M] [-H 'k: v']… URL` line, run with fetch. */
async function runCurl(line: string): Promise<Response> {
	const method = /-X (\w+)/.exec(line)?.[1] ?? "GET";
	const headers: Record<string, string> = {};
	for (const [, header] of line.matchAll(/-H "([^"]+)"/g)) {
		const [name, ...value] = (header as string).split(":");
		headers[(name as string).trim()] = value.join(":").trim();
	}
	const url = /(http:\/\/\S+)/.exec(line)?.[1] as string;
	return fetch(url, { method, headers });
}

it("the printed curl and WebSocket commands reach the counter through the gateway", async () => {
	const cwd = mkdtempSync(join(tmpdir(), "edgerunner-cli-"));
	dirs.push(cwd);
	const cli = spawn(
		process.execPath,
		[CLI, "--port", "0", "--data", "memory"],
		{
			cwd,
			stdio: ["ignore", "pipe", "pipe"],
		},
	);
	children.push(cli);
	const stdout = await collect(cli).until(/Ctrl-C/);
	const lines = stdout.split("\n").map((l) => l.trim());
	const curl = (...needles: string[]) => {
		const line = lines.find(
			(l) => l.startsWith("curl") && needles.every((n) => l.includes(n)),
		);
		if (!line) throw new Error(`no curl line with ${needles}:\n${stdout}`);
		return line;
	};
	const count = async (line: string) =>
		((await (await runCurl(line)).json()) as { count: number }).count;

	const before = await count(curl("/gateway/", "/count"));
	expect(before).toBeGreaterThanOrEqual(1); // every start adds 1
	const wsLine = lines.find((l) => l.startsWith("node -e"));
	if (!wsLine) throw new Error(`no WebSocket command:\n${stdout}`);
	const script = /node -e "(.*)"$/.exec(wsLine)?.[1] as string;
	const watcher = spawn(process.execPath, ["-e", script], {
		cwd: ROOT,
		stdio: ["ignore", "pipe", "pipe"],
	});
	children.push(watcher);
	const pushes = collect(watcher);
	await pushes.until(new RegExp(`"count":${before}\\b`));
	expect(await count(curl("/gateway/", "/increment"))).toBe(before + 1);
	expect(await count(curl("x-rivet-target", "/request/increment"))).toBe(
		before + 2,
	);
	await pushes.until(new RegExp(`"count":${before + 2}\\b`));
	expect(pushes.stdout).toContain(`"count":${before + 1}`);
});
