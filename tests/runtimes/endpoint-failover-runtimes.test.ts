/**
 * A runner given a list of engine endpoints, over real sockets, on Node (in this process, with `ws`) and on Deno
 * and Bun (a child with the runtime's own WebSocket, endpoint-failover-child.ts). Two scripted engines play two
 * nodes of a cluster; a TCP relay in front of one cuts its link. What is checked is where the runner goes and
 * what each close means; the delays are checked with fake timers in tests/core/endpoint-failover.test.ts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { build } from "esbuild";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import type { WebSocketConstructor } from "../../src/core/index.ts";
import {
	type ScriptedConnection,
	type ScriptedEngine,
	startScriptedEngine,
} from "../helpers/scripted-engine.ts";
import { TcpRelay } from "../helpers/tcp-relay.ts";
import {
	type FailoverEvent,
	startFailoverRunner,
} from "./endpoint-failover-runner.ts";
import { runtimeCommand, runtimesUnderTest } from "./runtimes.ts";

const WAIT_MS = 10_000;

/** The runner's events as they come, awaitable by predicate (no polling). */
class EventLog {
	readonly events: FailoverEvent[] = [];
	readonly #waiters = new Set<() => void>();
	ended: string | undefined;

	push(event: FailoverEvent): void {
		this.events.push(event);
		for (const check of [...this.#waiters]) check();
	}

	end(why: string): void {
		this.ended = why;
		for (const check of [...this.#waiters]) check();
	}

	/** The `n`-th (1-based) event named `name`. */
	nth<N extends FailoverEvent["event"]>(
		name: N,
		n = 1,
	): Promise<Extract<FailoverEvent, { event: N }>> {
		return new Promise((resolvePromise, reject) => {
			const check = (): void => {
				const found = this.events.filter((e) => e.event === name)[n - 1];
				if (found) done(() => resolvePromise(found as never));
				else if (this.ended)
					done(() => reject(new Error(`${this.ended} before ${name} #${n}`)));
			};
			const timer = setTimeout(
				() =>
					done(() =>
						reject(
							new Error(
								`no ${name} #${n} within ${WAIT_MS} ms; events ${JSON.stringify(this.events)}`,
							),
						),
					),
				WAIT_MS,
			);
			const done = (settle: () => void): void => {
				clearTimeout(timer);
				this.#waiters.delete(check);
				settle();
			};
			this.#waiters.add(check);
			check();
		});
	}
}

interface RunnerUnderTest {
	log: EventLog;
	/** Resolves once nothing of the runner is left: the child exited (code 0), or the in-process runner stopped. */
	gone: Promise<{ code: number | null; state: string }>;
}

type Start = (endpoints: string[]) => RunnerUnderTest;

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function inProcess(endpoints: string[]): RunnerUnderTest {
	const log = new EventLog();
	const runner = startFailoverRunner(
		endpoints,
		WebSocket as unknown as WebSocketConstructor,
		(event) => log.push(event),
	);
	cleanups.push(() => runner.shutdown(true));
	return {
		log,
		gone: runner.closed.then(() => ({ code: 0, state: runner.state })),
	};
}

function inChild(command: string, args: string[]): Start {
	return (endpoints) => {
		const log = new EventLog();
		const child: ChildProcess = spawn(command, args, {
			env: {
				...process.env,
				NO_COLOR: "1",
				FAILOVER_ENDPOINTS: JSON.stringify(endpoints),
			},
			stdio: ["ignore", "pipe", "pipe"],
		});
		cleanups.push(() => {
			if (child.exitCode === null && child.signalCode === null)
				child.kill("SIGKILL");
		});
		let stderr = "";
		child.stderr?.on("data", (chunk: Buffer) => {
			stderr += chunk.toString();
		});
		createInterface({ input: child.stdout as NodeJS.ReadableStream }).on(
			"line",
			(line) => {
				if (line.startsWith("{")) log.push(JSON.parse(line) as FailoverEvent);
			},
		);
		const gone = new Promise<{ code: number | null; state: string }>(
			(resolvePromise) =>
				child.on("exit", (code) => {
					log.end(`the child exited (${code}); stderr: ${stderr.slice(-2000)}`);
					resolvePromise({ code, state: "exited" });
				}),
		);
		return { log, gone };
	};
}

/** An http:// URL where nothing listens (connections are refused). */
async function deadEndpoint(): Promise<string> {
	const server = createServer();
	await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
	const address = server.address() as { port: number };
	await new Promise<void>((r) => server.close(() => r()));
	return `http://127.0.0.1:${address.port}`;
}

async function engine(autoInit: boolean): Promise<ScriptedEngine> {
	const e = await startScriptedEngine({ autoInit });
	cleanups.push(() => e.close());
	return e;
}

const keyOf = (c: ScriptedConnection) => c.url.searchParams.get("runner_key");

/**
 * [dead, A (through a relay), B]: the dead one fails, A refuses (B may still accept), B accepts; B goes away →
 * the dead one fails again, A accepts; A's link is cut → B; B evicts → the runner stops and nothing dials again.
 * `dropCode` is the close code the runtime's WebSocket reports for a refused connect or a cut link.
 */
async function failoverTour(start: Start, dropCode = 1006): Promise<void> {
	const dead = await deadEndpoint();
	const a = await engine(false);
	const b = await engine(true);
	const relay = new TcpRelay(a.url);
	const viaRelay = await relay.listen();
	cleanups.push(() => relay.close());
	const { log, gone } = start([dead, viaRelay, b.url]);
	const { runnerKey } = await log.nth("started");

	const a0 = await a.nextConnection({ index: 0 });
	await a0.next("ToServerInit");
	await a0.close(1011, "api.forbidden#ray"); // A refuses: not fatal, B has not refused
	expect(await log.nth("connected", 1)).toMatchObject({ endpoint: b.url });

	const b0 = await b.nextConnection({ index: 0 });
	await b0.close(1011, "ws.going_away#ray"); // → dead (fails) → A
	const a1 = await a.nextConnection({ index: 1 });
	await a1.next("ToServerInit");
	a1.init({ runnerId: "runner-1" });
	expect(await log.nth("connected", 2)).toMatchObject({
		endpoint: viaRelay,
		runnerId: "runner-1",
	});

	relay.cut("both"); // a network drop on A → B
	expect(await log.nth("connected", 3)).toMatchObject({ endpoint: b.url });
	const b1 = await b.nextConnection({ index: 1 });
	await b1.close(1000, "ws.eviction#ray");
	expect(await log.nth("closed")).toEqual({
		event: "closed",
		reason: "evicted",
	});
	expect((await gone).code).toBe(0);

	const reasons = log.events.flatMap((e) =>
		e.event === "disconnected" ? [`${e.endpoint} ${e.code} ${e.reason}`] : [],
	);
	expect(reasons).toEqual([
		`${dead} ${dropCode} `,
		`${viaRelay} 1011 api.forbidden#ray`,
		`${b.url} 1011 ws.going_away#ray`,
		`${dead} ${dropCode} `,
		`${viaRelay} ${dropCode} `,
		`${b.url} 1000 ws.eviction#ray`,
	]);
	expect([a0, a1, b0, b1].map(keyOf)).toEqual(Array(4).fill(runnerKey));
	expect([a.connections.length, b.connections.length]).toEqual([2, 2]);
}

/** [A, B], both refuse: fatal once every endpoint has refused, after one dial each. */
async function clusterRefusal(start: Start): Promise<void> {
	const a = await engine(false);
	const b = await engine(false);
	const { log, gone } = start([a.url, b.url]);
	for (const e of [a, b]) {
		const conn = await e.nextConnection({ index: 0 });
		await conn.next("ToServerInit");
		await conn.close(1011, "api.forbidden#ray");
	}
	expect(await log.nth("closed")).toMatchObject({
		reason: "fatal:api.forbidden",
		error: "fatal:api.forbidden",
	});
	expect((await gone).code).toBe(0);
	expect([a.connections.length, b.connections.length]).toEqual([1, 1]);
}

describe("node20 (in process, ws)", () => {
	it("tour: dead endpoint skipped, a refusal from one node, going_away, a cut link, an eviction; one runner_key throughout", () =>
		failoverTour(inProcess));
	it("every endpoint refuses: fatal, one dial each", () =>
		clusterRefusal(inProcess));
});

let script = "";
beforeAll(async () => {
	script = join(mkdtempSync(join(tmpdir(), "endpoint-failover-")), "child.mjs");
	await build({
		entryPoints: [resolve(import.meta.dirname, "endpoint-failover-child.ts")],
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

for (const runtime of runtimesUnderTest()) {
	if (runtime.name !== "deno" && runtime.name !== "bun") continue;
	describe(`${runtime.name} (child, its own WebSocket)`, () => {
		const start: Start = (endpoints) => {
			const [command, args] = runtimeCommand(runtime, script);
			return inChild(command, args)(endpoints);
		};
		// Deno's WebSocket reports a refused connect and a cut link as close code 0 (Node's ws and Bun: 1006).
		const dropCode = runtime.name === "deno" ? 0 : 1006;
		it(`tour: dead endpoint skipped, a refusal from one node, going_away, a cut link (close ${dropCode}), an eviction; exits by itself`, () =>
			failoverTour(start, dropCode));
		it("every endpoint refuses: fatal, one dial each, exits by itself", () =>
			clusterRefusal(start));
	});
}
