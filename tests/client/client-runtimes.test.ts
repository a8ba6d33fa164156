/**
 * `edgerunner/client` on Bun and Deno (Node and Chromium have their own tests: actor-client.test.ts and
 * tests/browser/counter-page.test.ts). A dev engine and a Node runner hosting the counter example run here; the
 * client runs in the other runtime, bundled by esbuild from fixtures/client-runtime-check.ts, with that runtime's
 * own fetch and WebSocket: get-or-create, a gateway request, and a socket that gets a count and a push.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { build } from "esbuild";
import {
	afterAll,
	afterEach,
	beforeAll,
	beforeEach,
	describe,
	expect,
	it,
} from "vitest";
// @ts-expect-error plain ESM example without type declarations
import { counterActors } from "../../examples/counter/counter.mjs";
import type { Runner } from "../../src/core/index.ts";
import { type RunningEngine, startEngine } from "../../src/engine/index.ts";
import { counterRunner } from "../helpers/counter-runner.ts";
import { runtimeCommand, runtimesUnderTest } from "../runtimes/runtimes.ts";

const RUNNER_NAME = "counter";
/** The fixture gives itself 10 s; this is the backstop if the runtime hangs before its timer runs. */
const CHILD_LIMIT_MS = 15_000;

let script = "";
let engine: RunningEngine;
let runner: Runner;
let counter: { stopAll(): void };
const children: ChildProcess[] = [];

beforeAll(async () => {
	script = join(mkdtempSync(join(tmpdir(), "client-runtimes-")), "check.mjs");
	await build({
		entryPoints: [
			resolve(import.meta.dirname, "fixtures/client-runtime-check.ts"),
		],
		bundle: true,
		format: "esm",
		platform: "neutral",
		outfile: script,
		logLevel: "silent",
	});
});

afterAll(() => {
	if (script) rmSync(dirname(script), { recursive: true, force: true });
});

beforeEach(async () => {
	engine = await startEngine({ port: 0 });
	counter = counterActors(() => runner);
	const next = counterRunner(engine.url, RUNNER_NAME, counter as object);
	runner = next.runner;
	await next.start();
});

afterEach(async () => {
	for (const child of children.splice(0))
		if (child.exitCode === null && child.signalCode === null)
			child.kill("SIGKILL");
	await runner.shutdown(true);
	counter.stopAll();
	await engine.close();
});

/** Runs the fixture and resolves with its last stdout line parsed (spawned, not execFileSync: the engine is here). */
function runFixture(
	command: string,
	args: string[],
	env: Record<string, string>,
): Promise<{
	code: number | null;
	result: Record<string, unknown>;
	stderr: string;
}> {
	return new Promise((resolvePromise, reject) => {
		const child = spawn(command, args, {
			env: { ...process.env, NO_COLOR: "1", ...env },
			stdio: ["ignore", "pipe", "pipe"],
		});
		children.push(child);
		let stdout = "";
		let stderr = "";
		child.stdout?.on("data", (chunk) => {
			stdout += chunk;
		});
		child.stderr?.on("data", (chunk) => {
			stderr += chunk;
		});
		const limit = setTimeout(() => {
			child.kill("SIGKILL");
			reject(
				new Error(
					`${command} gave no result within ${CHILD_LIMIT_MS} ms; stderr: ${stderr}`,
				),
			);
		}, CHILD_LIMIT_MS);
		child.on("error", (error) => {
			clearTimeout(limit);
			reject(error);
		});
		child.on("close", (code) => {
			clearTimeout(limit);
			const last = stdout.trim().split("\n").at(-1) ?? "";
			try {
				resolvePromise({ code, result: JSON.parse(last), stderr });
			} catch {
				reject(
					new Error(
						`no JSON line from ${command} (exit ${code}): ${stdout}\n${stderr}`,
					),
				);
			}
		});
	});
}

describe("edgerunner/client with the runtime's own fetch and WebSocket", () => {
	for (const runtime of runtimesUnderTest()) {
		if (runtime.name !== "bun" && runtime.name !== "deno") continue;
		const title = `${runtime.name}: getOrCreate, fetch POST /increment, connect /ws (count on open, push after a send), close`;
		if (runtime.unavailable) {
			it.skip(`${title} — skipped: ${runtime.unavailable}`, () => {});
			continue;
		}
		it(title, async () => {
			const [command, args] = runtimeCommand(runtime, script);
			const { code, result, stderr } = await runFixture(command, args, {
				ENGINE_URL: engine.url,
				ACTOR_KEY: `client-${runtime.name}`,
				RUNNER_NAME,
			});
			expect({ code, result }, stderr).toEqual({
				code: 0,
				result: {
					sameActor: true,
					status: 200,
					// Every start adds 1, then the request adds 1, then the socket's "increment".
					incremented: 2,
					onOpen: 2,
					afterSend: 3,
					ending: {
						code: 1000,
						reason: "done",
						why: "closed by the application",
						unsent: 0,
					},
				},
			});
		});
	}
});
