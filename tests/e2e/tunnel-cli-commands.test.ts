/**
 * `npm start` (the built CLI's demo) prints curl and WebSocket commands that reach the counter actor through the
 * dev engine's gateway. This runs exactly what it prints (cli-printed-commands.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, it } from "vitest";
import { buildDistIfStale, REPO_ROOT } from "../helpers/build-dist.ts";
import { NodeChild } from "../helpers/node-child.ts";
import { runPrintedGatewayCommands } from "./cli-printed-commands.ts";

const CLI = join(REPO_ROOT, "dist", "cli.js");

beforeAll(() => buildDistIfStale(CLI), 60_000);

const children: NodeChild[] = [];
const dirs: string[] = [];
afterEach(async () => {
	await Promise.all(children.splice(0).map((c) => c.kill()));
	for (const dir of dirs.splice(0))
		rmSync(dir, { recursive: true, force: true });
});

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
	await runPrintedGatewayCommands(cli.stdout, children);
});
