/**
 * The built CLI (`node dist/cli.js`), as a user runs it: `edgerunner engine` and the default demo, each on a free
 * port. It must say where it listens, serve the API there, and exit 0 promptly on Ctrl-C (SIGINT).
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
import { afterEach, beforeAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const CLI = join(ROOT, "dist", "cli.js");
/** Every wait is on the child's output or exit; this only bounds a child that hangs. */
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

/** Build `dist` once, unless it is newer than every source file. */
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

/** A CLI child process with its output collected and awaitable. */
class CliProcess {
	readonly child: ChildProcess;
	stdout = "";
	stderr = "";
	readonly exited: Promise<{ code: number | null; signal: string | null }>;
	readonly #waiters = new Set<() => void>();

	constructor(args: string[], cwd: string) {
		this.child = spawn(process.execPath, [CLI, ...args], {
			cwd,
			stdio: ["ignore", "pipe", "pipe"],
		});
		this.child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
			this.stdout += chunk;
			this.#notify();
		});
		this.child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
			this.stderr += chunk;
			this.#notify();
		});
		this.exited = new Promise((resolve) => {
			this.child.once("exit", (code, signal) => {
				resolve({ code, signal });
				this.#notify();
			});
		});
	}

	#notify(): void {
		for (const check of [...this.#waiters]) check();
	}

	/** Resolves with the first match of `pattern` in stdout; rejects if the child exits or WAIT_MS passes first. */
	output(pattern: RegExp): Promise<RegExpMatchArray> {
		return new Promise((resolve, reject) => {
			const check = () => {
				const match = this.stdout.match(pattern);
				if (match) {
					done();
					resolve(match);
				} else if (this.child.exitCode !== null || this.child.signalCode) {
					done();
					reject(new Error(this.#explain(`exited before printing ${pattern}`)));
				}
			};
			const timer = setTimeout(() => {
				done();
				reject(new Error(this.#explain(`did not print ${pattern}`)));
			}, WAIT_MS);
			const done = () => {
				clearTimeout(timer);
				this.#waiters.delete(check);
			};
			this.#waiters.add(check);
			check();
		});
	}

	/** Sends SIGINT and resolves with the exit and how long it took; rejects after WAIT_MS. */
	async interrupt(): Promise<{ code: number | null; ms: number }> {
		const began = Date.now();
		this.child.kill("SIGINT");
		let timer: ReturnType<typeof setTimeout> | undefined;
		const hung = new Promise<never>((_, reject) => {
			timer = setTimeout(
				() => reject(new Error(this.#explain("did not exit after SIGINT"))),
				WAIT_MS,
			);
		});
		try {
			const { code } = await Promise.race([this.exited, hung]);
			return { code, ms: Date.now() - began };
		} finally {
			clearTimeout(timer);
		}
	}

	#explain(what: string): string {
		return `edgerunner ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`;
	}

	async kill(): Promise<void> {
		if (this.child.exitCode !== null || this.child.signalCode) return;
		this.child.kill("SIGKILL");
		await this.exited;
	}
}

const children: CliProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
	await Promise.all(children.splice(0).map((c) => c.kill()));
	for (const dir of dirs.splice(0))
		rmSync(dir, { recursive: true, force: true });
});

function run(args: string[]): { cli: CliProcess; cwd: string } {
	// A scratch working directory, so the default ./.edgerunner never lands in the repository.
	const cwd = mkdtempSync(join(tmpdir(), "edgerunner-cli-"));
	dirs.push(cwd);
	const cli = new CliProcess(args, cwd);
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
		const actors = await fetch(`${url}/actors?namespace=default`);
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
		expect((await fetch(`${url}/actors?namespace=default`)).status).toBe(401);
		const authorized = await fetch(`${url}/actors?namespace=default`, {
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
		expect(cli.stdout).toContain(`curl ${url}/actors/${actorId}/kv`);

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
