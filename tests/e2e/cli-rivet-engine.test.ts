/**
 * The built CLI's demo on the real Rivet Engine (`--engine rivet`, from `@rivetkit/engine-cli`), as a user runs
 * it: it must say where the engine listens (never 6420 here: `--port 0`), the printed commands must work against
 * it, Ctrl-C (SIGINT) must drain the runner, stop the engine and exit 0 leaving no engine process, `--data` must
 * keep the engine's state, and a missing engine must be one line saying what to install.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildDistIfStale, REPO_ROOT } from "../helpers/build-dist.ts";
import { NodeChild } from "../helpers/node-child.ts";
import {
	printedCurl,
	runCurl,
	runPrintedGatewayCommands,
} from "./cli-printed-commands.ts";

const CLI = join(REPO_ROOT, "dist", "cli.js");
/** The engine starts in ~0.5 s and takes actors 0.5–4 s after the runner connects; bound a loaded machine. */
const DEMO_READY_WITHIN_MS = 40_000;

beforeAll(() => buildDistIfStale(CLI), 60_000);

const children: NodeChild[] = [];
const enginePids: number[] = [];
const dirs: string[] = [];
afterEach(async () => {
	await Promise.all(children.splice(0).map((c) => c.kill()));
	// A CLI killed by a failing test leaves its engine (its own process group) running: end it here.
	for (const pid of enginePids.splice(0))
		if (isAlive(pid)) process.kill(pid, "SIGKILL");
	for (const dir of dirs.splice(0))
		rmSync(dir, { recursive: true, force: true });
});

function scratchDir(): string {
	// A scratch working directory, so ./.edgerunner never lands in the repository.
	const cwd = mkdtempSync(join(tmpdir(), "edgerunner-cli-rivet-"));
	dirs.push(cwd);
	return cwd;
}

function run(
	args: string[],
	cwd: string,
	env: Record<string, string> = {},
): NodeChild {
	const saved = { ...process.env };
	Object.assign(process.env, env); // spawn copies the environment at once
	try {
		const cli = new NodeChild([CLI, ...args], cwd, "edgerunner --engine rivet");
		children.push(cli);
		return cli;
	} finally {
		for (const key of Object.keys(env))
			if (saved[key] === undefined) delete process.env[key];
			else process.env[key] = saved[key];
	}
}

/** NodeChild.output bounds each wait at 10 s; the demo on the real engine may need longer on a loaded machine. */
async function outputWithin(
	cli: NodeChild,
	pattern: RegExp,
	ms = DEMO_READY_WITHIN_MS,
): Promise<RegExpMatchArray> {
	const deadline = Date.now() + ms;
	for (;;) {
		try {
			return await cli.output(pattern);
		} catch (error) {
			const exited = cli.child.exitCode !== null || cli.child.signalCode;
			if (exited || Date.now() >= deadline) throw error;
		}
	}
}

function isAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch {
		return false;
	}
}

const BANNER =
	/Rivet Engine (\S+) \(pid (\d+)\) listening on (http:\/\/127\.0\.0\.1:(\d+)) — state: (\S+)/;

/** Starts the demo and waits until it has printed everything; the engine's pid is cleaned up after the test. */
async function startDemo(args: string[], cwd: string) {
	const cli = run(["--engine", "rivet", "--port", "0", ...args], cwd);
	const [, version, pid, url, port, dataDir] = await outputWithin(cli, BANNER);
	enginePids.push(Number(pid));
	const [, actorId] = await outputWithin(
		cli,
		/hosts the counter actor (\S+)\./,
	);
	await outputWithin(cli, /Ctrl-C drains the runner.*\n?$/m);
	return {
		cli,
		version: version as string,
		enginePid: Number(pid),
		url: url as string,
		port: Number(port),
		dataDir: dataDir as string,
		actorId: actorId as string,
	};
}

/** SIGINT: the runner drains its one actor, the engine stops, the CLI exits 0 and no engine process is left. */
async function interruptCleanly(
	cli: NodeChild,
	enginePid: number,
	url: string,
) {
	const { code, ms } = await cli.interrupt();
	expect(code).toBe(0);
	expect(ms).toBeLessThan(10_000);
	expect(cli.stdout).toMatch(
		/runner drained: 1 actor\(s\) stopped, 0 abandoned/,
	);
	expect(cli.stdout).toContain("stopped cleanly");
	expect(cli.stderr).toBe("");
	expect(isAlive(enginePid)).toBe(false);
	await expect(fetch(`${url}/metadata`)).rejects.toThrow();
}

describe("edgerunner --engine rivet (the demo on the real Rivet Engine)", () => {
	it("--port 0: prints the real URL; the printed gateway and API commands work; SIGINT drains, stops the engine, exits 0", async () => {
		const cwd = scratchDir();
		const demo = await startDemo([], cwd);
		expect(demo.version).toBe("2.3.19");
		expect(demo.port).toBeGreaterThan(0);
		expect(demo.port).not.toBe(6420);
		// Without --data the state is a fresh folder under ./.edgerunner/rivet.
		expect(demo.dataDir.startsWith(join(cwd, ".edgerunner", "rivet"))).toBe(
			true,
		);
		const stdout = demo.cli.stdout;

		await runPrintedGatewayCommands(stdout, children);
		const { count } = (await (
			await runCurl(printedCurl(stdout, "/gateway/", "/count"))
		).json()) as { count: number };

		const actor = (await (
			await runCurl(printedCurl(stdout, "actor_ids="))
		).json()) as {
			actors: { actor_id: string; runner_name_selector: string }[];
		};
		expect(actor.actors).toEqual([
			expect.objectContaining({
				actor_id: demo.actorId,
				runner_name_selector: "edgerunner-demo",
			}),
		]);
		const kv = (await (
			await runCurl(printedCurl(stdout, "/kv/keys/"))
		).json()) as { value: string };
		expect(Number(atob(kv.value))).toBe(count);
		const runners = (await (
			await runCurl(printedCurl(stdout, "/runners?"))
		).json()) as { runners: { name: string }[] };
		expect(runners.runners.map((r) => r.name)).toEqual(["edgerunner-demo"]);

		await interruptCleanly(demo.cli, demo.enginePid, demo.url);
		// The fresh state and the run folder (config, HOME, log) are removed after a clean stop.
		expect(readdirSync(join(cwd, ".edgerunner", "rivet"))).toEqual([]);
	}, 90_000);

	it("edgerunner dev --data <dir> keeps the engine's state: the next run hosts the same counter and its count carries on", async () => {
		const cwd = scratchDir();
		// `dev` names the demo; the second run below leaves it out.
		const first = await startDemo(["dev", "--data", "state"], cwd);
		expect(first.dataDir).toBe(join(cwd, "state"));
		expect(first.cli.stdout).toContain("run again and the count carries on");
		const countOf = async (url: string, actorId: string) =>
			(
				(await (await fetch(`${url}/gateway/${actorId}/count`)).json()) as {
					count: number;
				}
			).count;
		const before = await countOf(first.url, first.actorId);
		await interruptCleanly(first.cli, first.enginePid, first.url);
		expect(existsSync(join(cwd, "state", "CURRENT"))).toBe(true);

		const second = await startDemo(["--data", "state"], cwd);
		expect(second.actorId).toBe(first.actorId);
		expect(await countOf(second.url, second.actorId)).toBeGreaterThan(before);
		await interruptCleanly(second.cli, second.enginePid, second.url);
	}, 120_000);

	it("without the engine binary: one line on stderr saying what to install, exit 1, nothing left behind", async () => {
		const cwd = scratchDir();
		const missing = join(cwd, "no-such-rivet-engine");
		const cli = run(["--engine", "rivet", "--port", "0"], cwd, {
			RIVET_ENGINE_BINARY: missing,
		});
		expect((await cli.exited).code).toBe(1);
		const lines = cli.stderr.trimEnd().split("\n");
		expect(lines).toHaveLength(1);
		expect(lines[0]).toContain("npm install @rivetkit/engine-cli@2.3.19");
		expect(lines[0]).toContain(missing);
		expect(cli.stdout).not.toContain("listening");
		expect(readdirSync(join(cwd, ".edgerunner", "rivet"))).toEqual([]);
	});
});
