/**
 * `npm start` (the built CLI's demo) prints curl and WebSocket commands that reach the counter actor through the
 * dev engine's gateway. This runs exactly what it prints: each `curl` line (as fetch) and the `node -e` WebSocket
 * line (as a child process in the repository, where `ws` resolves).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, expect, it } from "vitest";
import { buildDistIfStale, REPO_ROOT } from "../helpers/build-dist.ts";
import { NodeChild } from "../helpers/node-child.ts";

const CLI = join(REPO_ROOT, "dist", "cli.js");

beforeAll(() => buildDistIfStale(CLI), 60_000);

const children: NodeChild[] = [];
const dirs: string[] = [];
afterEach(async () => {
	await Promise.all(children.splice(0).map((c) => c.kill()));
	for (const dir of dirs.splice(0))
		rmSync(dir, { recursive: true, force: true });
});

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
	const cli = new NodeChild(
		[CLI, "--port", "0", "--data", "memory"],
		cwd,
		"edgerunner",
	);
	children.push(cli);
	await cli.output(/Ctrl-C/);
	const stdout = cli.stdout;
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
	const pushes = new NodeChild(
		["-e", script],
		REPO_ROOT,
		"the WebSocket command",
	);
	children.push(pushes);
	await pushes.output(new RegExp(`"count":${before}\\b`));
	expect(await count(curl("/gateway/", "/increment"))).toBe(before + 1);
	expect(await count(curl("x-rivet-target", "/request/increment"))).toBe(
		before + 2,
	);
	await pushes.output(new RegExp(`"count":${before + 2}\\b`));
	expect(pushes.stdout).toContain(`"count":${before + 1}`);
});
