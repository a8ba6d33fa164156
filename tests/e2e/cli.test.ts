/**
 * The built CLI (`node dist/cli.js`), as a user runs it: `edgerunner engine` and the default demo, each on a free
 * port. It must say where it listens, serve the API there, and exit 0 promptly on Ctrl-C (SIGINT).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildDistIfStale, REPO_ROOT } from "../helpers/build-dist.ts";
import { NodeChild } from "../helpers/node-child.ts";
import { printedCurl, runCurl } from "./cli-printed-commands.ts";

const CLI = join(REPO_ROOT, "dist", "cli.js");

beforeAll(() => buildDistIfStale(CLI), 60_000);

const children: NodeChild[] = [];
const dirs: string[] = [];
afterEach(async () => {
	await Promise.all(children.splice(0).map((c) => c.kill()));
	for (const dir of dirs.splice(0))
		rmSync(dir, { recursive: true, force: true });
});

function run(args: string[]): { cli: NodeChild; cwd: string } {
	// A scratch working directory, so the default ./.edgerunner never lands in the repository.
	const cwd = mkdtempSync(join(tmpdir(), "edgerunner-cli-"));
	dirs.push(cwd);
	const cli = new NodeChild([CLI, ...args], cwd, "edgerunner");
	children.push(cli);
	return { cli, cwd };
}

const LISTENING = /listening on (http:\/\/127\.0\.0\.1:(\d+)) — state: (.+)\n/;

describe("edgerunner engine", () => {
	it("--port 0 --data memory: prints where it listens, the API answers there, SIGINT exits 0", async () => {
		const { cli } = run(["engine", "--port", "0", "--data", "memory"]);
		const [, url, port, state] = await cli.output(LISTENING);
		expect(Number(port)).toBeGreaterThan(0);
		expect(state).toBe("memory (nothing is kept)");
		await cli.output(/runners connect to http:\/\/127\.0\.0\.1:\d+/);
		expect(await (await fetch(`${url}/health`)).json()).toMatchObject({
			status: "ok",
		});
		// A list names the actors it wants (the real engine requires `name` or `actor_ids`).
		const actors = await fetch(`${url}/actors?namespace=default&name=counter`);
		expect(actors.status).toBe(200);
		expect(await actors.json()).toMatchObject({ actors: [] });
		const missing = await fetch(
			`${url}/actors/00000000000000000000000000?namespace=default`,
		);
		expect(missing.status).toBeGreaterThanOrEqual(400);
		expect(missing.status).toBeLessThan(500);

		const { code, ms } = await cli.interrupt();
		expect(code).toBe(0);
		expect(ms).toBeLessThan(5_000);
		expect(cli.stdout).toContain("stopped cleanly");
		expect(cli.stderr).toBe("");
		await expect(fetch(`${url}/health`)).rejects.toThrow();
	});

	it("--data <dir> --token: keeps state in <dir>/engine.sqlite and guards the API with the token", async () => {
		const { cli, cwd } = run([
			"engine",
			"--port",
			"0",
			"--data",
			"state",
			"--token",
			"s3cret",
		]);
		const [, url, , state] = await cli.output(LISTENING);
		const file = join(cwd, "state", "engine.sqlite");
		expect(state).toBe(file);
		expect(existsSync(file)).toBe(true);
		const list = `${url}/actors?namespace=default&name=counter`;
		expect((await fetch(list)).status).toBe(403);
		const authorized = await fetch(list, {
			headers: { authorization: "Bearer s3cret" },
		});
		expect(authorized.status).toBe(200);
		const { code } = await cli.interrupt();
		expect(code).toBe(0);
	});

	it("refuses a bad --port with exit 1 and a message on stderr", async () => {
		const { cli } = run(["engine", "--port", "70000"]);
		expect((await cli.exited).code).toBe(1);
		expect(cli.stderr).toMatch(/--port must be 0–65535/);
	});
});

describe("edgerunner (the demo)", () => {
	it("--port 0: runs the engine, a runner and a counter actor whose KV count moves; SIGINT drains and exits 0", async () => {
		const { cli } = run(["--port", "0", "--data", "memory"]);
		const [, url] = await cli.output(LISTENING);
		const [, actorId] = await cli.output(/hosts the counter actor (\S+)\./);
		await cli.output(/Ctrl-C drains the runner/);
		// The printed engine API commands answer, as printed.
		const actorLine = printedCurl(cli.stdout, "actor_ids=");
		expect(
			(
				(await (await runCurl(actorLine)).json()) as {
					actors: { actor_id: string }[];
				}
			).actors[0]?.actor_id,
		).toBe(actorId);
		expect(
			(await runCurl(printedCurl(cli.stdout, `/actors/${actorId}/kv`))).status,
		).toBe(200);
		expect((await runCurl(printedCurl(cli.stdout, "/runners?"))).status).toBe(
			200,
		);
		// The counter's page (tests/browser/counter-page.test.ts runs it in Chromium).
		expect(cli.stdout).toContain(`page: ${url}/gateway/${actorId}/page`);
		const page = await fetch(`${url}/gateway/${actorId}/page`);
		expect(page.headers.get("content-type")).toMatch(/^text\/html/);
		expect(await page.text()).toContain('id="increment"');

		// Through the gateway the request waits until the actor runs; the counter answers with its KV count.
		const counted = await fetch(`${url}/gateway/${actorId}/`);
		expect(counted.status).toBe(200);
		const { count } = (await counted.json()) as { count: number };
		expect(count).toBeGreaterThanOrEqual(1); // every start adds 1
		const kv = (await (await fetch(`${url}/actors/${actorId}/kv`)).json()) as {
			entries: { key: string; value: string }[];
		};
		const stored = kv.entries.find((e) => e.key === "count");
		expect(Number(stored?.value)).toBeGreaterThanOrEqual(count);
		const runners = (await (
			await fetch(`${url}/runners?namespace=default`)
		).json()) as { runners: { name: string; connected: boolean }[] };
		expect(runners.runners).toEqual([
			expect.objectContaining({ name: "edgerunner-demo", connected: true }),
		]);

		const { code, ms } = await cli.interrupt();
		expect(code).toBe(0);
		expect(ms).toBeLessThan(10_000);
		expect(cli.stdout).toContain("stopped cleanly");
	});
});
