/**
 * Speed through the real Rivet Engine (issue 10 §4): HTTP and WebSocket traffic through its gateway (guard) and
 * actor starts through its public API, with the runner in a child process of its own (real-engine-runner.ts) —
 * the figures a user sees in a deployment. Alongside the rates, the CPU time the engine and the runner process
 * spend per request (from /proc), which splits a request's end-to-end time between the two.
 */
import { type ChildProcess, fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";
import { LOCAL_ENGINE_RUNTIME } from "../src/rivet-engine-process.ts";
import {
	type RivetEngine,
	startRivetEngine,
} from "../tests/helpers/rivet-engine.ts";
import { type RunnerName, withTimeout } from "./bench-runners.ts";
import type { RealEngineRunnerMessage } from "./real-engine-runner.ts";
import type { EngineSetup, RealEngineCase } from "./suite-modes.ts";

export type { EngineSetup, RealEngineCase };

export interface RealEngineHttp {
	concurrency: number;
	/** Requests answered 200 with the whole echo; rates and latencies count these only. */
	requests: number;
	requestsPerSec: number;
	latenciesMs: Float64Array;
	/** Requests that failed, by kind ("504", "timeout", "ECONNRESET", "short body"): counted, never dropped. */
	failures: Record<string, number>;
	/**
	 * CPU ms per request (answered or failed) spent by the engine process and by the runner's process, less what
	 * each spent at idle over the same time (measured just before the load).
	 */
	engineCpuMsPerRequest: number | null;
	runnerCpuMsPerRequest: number | null;
}

export interface RealEngineFigures {
	/** One per concurrency level; null where that measurement failed. */
	http: (RealEngineHttp | null)[];
	webSocketMessagesPerSec: number | null;
	actorStarts: RealEngineStarts | null;
	/** What failed ("http c=64: …"); the other figures still count. */
	errors: string[];
}

export const REAL_ENGINE_BODY_BYTES = 1024;
const BODY = new Uint8Array(REAL_ENGINE_BODY_BYTES).fill(120);
export const REAL_ENGINE_CONCURRENCIES = [1, 64];
/** A request unanswered this long counts as a "timeout" failure (the gateway's own limit is longer). */
const REQUEST_TIMEOUT_MS = 15_000;
/** Idle time over which each process's background CPU rate is measured, subtracted from the per-request figures. */
const IDLE_BASELINE_MS = 1000;
/** Stop in seconds, but keep the engine's own CPU load shedding (the helper's default turns it off): as installed. */
const { worker_cpu_max: _, ...SHUTDOWN_DURATIONS_S } = LOCAL_ENGINE_RUNTIME;
const CREATE_CONCURRENCY = 2;
const WS_WINDOW = 64;

/**
 * The engine as installed ("default"), or with what docs/deploy.md advises ("tuned": guard's `tcp_nodelay`, off
 * by default). `gateway-v3` adds the engine's newer gateway (`features.guard_gateway_v3`, off by default in
 * 2.3.19) for comparison.
 */
export async function startBenchEngine(
	setup: EngineSetup,
): Promise<RivetEngine> {
	// guard's host and port come from the helper's generated config, which a top-level `guard` would replace;
	// the engine also reads `RIVET__<section>__<key>` from its environment, which the helper passes through.
	const env = { RIVET__guard__tcp_nodelay: "true" };
	const runtime = { runtime: SHUTDOWN_DURATIONS_S };
	if (setup === "default") return startRivetEngine({ config: runtime });
	const saved = process.env.RIVET__guard__tcp_nodelay;
	Object.assign(process.env, env);
	try {
		return await startRivetEngine({
			config:
				setup === "gateway-v3"
					? { ...runtime, features: { guard_gateway_v3: { percentage: 100 } } }
					: runtime,
		});
	} finally {
		if (saved === undefined) delete process.env.RIVET__guard__tcp_nodelay;
		else process.env.RIVET__guard__tcp_nodelay = saved;
	}
}

class RunnerProcess {
	readonly #child: ChildProcess;
	readonly #exited: Promise<void>;
	started = 0;
	#waiters: (() => void)[] = [];
	readonly ready: Promise<void>;

	constructor(kind: RunnerName, endpoint: string, runnerName: string) {
		const entry = fileURLToPath(
			new URL("./real-engine-runner.mjs", import.meta.url),
		);
		this.#child = fork(entry, [kind, endpoint, runnerName], {
			execArgv: ["--enable-source-maps"],
			stdio: ["ignore", "inherit", "inherit", "ipc"],
		});
		this.#exited = new Promise((resolve) =>
			this.#child.once("exit", () => resolve()),
		);
		this.ready = new Promise((resolve, reject) => {
			this.#child.on("message", (message: RealEngineRunnerMessage) => {
				if (message.type === "ready") resolve();
				else if (message.type === "error") reject(new Error(message.message));
				else {
					this.started = message.count;
					for (const wake of this.#waiters.splice(0)) wake();
				}
			});
			this.#child.once("exit", (code) =>
				reject(new Error(`the ${kind} runner process exited (${code})`)),
			);
		});
	}

	get pid(): number | undefined {
		return this.#child.pid;
	}

	/** Resolves once `count` actors have started in the runner, or rejects after `timeoutMs`. */
	async waitForStarts(count: number, timeoutMs: number): Promise<void> {
		const deadline = performance.now() + timeoutMs;
		while (this.started < count) {
			const left = deadline - performance.now();
			if (left <= 0)
				throw new Error(
					`${this.started}/${count} actors started within ${timeoutMs} ms`,
				);
			await new Promise<void>((resolve) => {
				const timer = setTimeout(resolve, left);
				this.#waiters.push(() => {
					clearTimeout(timer);
					resolve();
				});
			});
		}
	}

	async stop(): Promise<void> {
		if (this.#child.exitCode !== null || this.#child.signalCode !== null)
			return;
		this.#child.send({ type: "stop" });
		const timer = setTimeout(() => this.#child.kill("SIGKILL"), 10_000);
		await this.#exited;
		clearTimeout(timer);
	}
}

/** utime + stime of a process in ms (Linux /proc; null elsewhere). */
function cpuMs(pid: number | undefined): number | null {
	if (pid === undefined) return null;
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
		const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
		// utime and stime are fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
		return (Number(fields[11]) + Number(fields[12])) * 10;
	} catch {
		return null;
	}
}

/** A create through the API is bounded: the engine can leave one unanswered under load. */
const CREATE_TIMEOUT_MS = 30_000;

/** The API answered a create with an error status. */
class CreateRefused extends Error {
	readonly status: number;
	constructor(status: number, body: string) {
		super(`POST /actors: ${status} ${body.slice(0, 200)}`);
		this.status = status;
	}
}

async function createActor(
	engine: RivetEngine,
	runnerName: string,
	timeoutMs = CREATE_TIMEOUT_MS,
): Promise<string> {
	const response = await fetch(`${engine.url}/actors?namespace=default`, {
		method: "POST",
		signal: AbortSignal.timeout(timeoutMs),
		headers: { "content-type": "application/json" },
		body: JSON.stringify({
			name: "bench",
			runner_name_selector: runnerName,
			crash_policy: "sleep",
		}),
	});
	const text = await response.text();
	if (!response.ok) throw new CreateRefused(response.status, text);
	return (JSON.parse(text) as { actor: { actor_id: string } }).actor.actor_id;
}

/**
 * A "normal" runner config for the runner's name, declared up front: the engine creates one when a runner
 * connects, but not always before the first create arrives (R's connect was refused actors for 20 s and more).
 * Right after a start the engine answers this with "namespace not found" or a 500 until its default namespace
 * exists; polled (no event for it), bounded.
 */
async function declareRunnerConfig(
	engine: RivetEngine,
	runnerName: string,
	timeoutMs: number,
): Promise<void> {
	const deadline = performance.now() + timeoutMs;
	for (;;) {
		let failure: string;
		try {
			const response = await fetch(
				`${engine.url}/runner-configs/${runnerName}?namespace=default`,
				{
					method: "PUT",
					signal: AbortSignal.timeout(CREATE_TIMEOUT_MS),
					headers: { "content-type": "application/json" },
					body: JSON.stringify({ datacenters: { default: { normal: {} } } }),
				},
			);
			if (response.ok) return;
			failure = `${response.status} ${(await response.text()).slice(0, 200)}`;
		} catch (error) {
			failure = String(error);
		}
		if (performance.now() > deadline)
			throw new Error(`PUT /runner-configs/${runnerName}: ${failure}`);
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}

/** Until the runner is connected and its config known, the engine may refuse actors. Polled, bounded. */
async function createFirstActor(
	engine: RivetEngine,
	runnerName: string,
	timeoutMs: number,
): Promise<string> {
	const deadline = performance.now() + timeoutMs;
	for (;;) {
		try {
			return await createActor(engine, runnerName);
		} catch (error) {
			if (performance.now() > deadline) throw error;
		}
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}

/** How one request ended: the body length read back from a 200, or why it failed. */
type EchoOutcome =
	| { ok: true; length: number }
	| { ok: false; failure: string };

/** POST of 1 KB to the actor's echo through the gateway, bounded by REQUEST_TIMEOUT_MS. Never rejects. */
function echo(agent: Agent, url: URL): Promise<EchoOutcome> {
	return new Promise((resolve) => {
		let settled = false;
		const settle = (outcome: EchoOutcome) => {
			if (settled) return;
			settled = true;
			resolve(outcome);
		};
		const req = httpRequest(
			url,
			{
				method: "POST",
				agent,
				headers: { "content-length": BODY.byteLength },
			},
			(res) => {
				let length = 0;
				res.on("data", (chunk: Buffer) => {
					length += chunk.byteLength;
				});
				res.on("end", () =>
					settle(
						res.statusCode === 200
							? { ok: true, length }
							: { ok: false, failure: String(res.statusCode) },
					),
				);
				res.on("error", (error: NodeJS.ErrnoException) =>
					settle({ ok: false, failure: error.code ?? error.message }),
				);
			},
		);
		req.setTimeout(REQUEST_TIMEOUT_MS, () => {
			settle({ ok: false, failure: "timeout" });
			req.destroy();
		});
		req.on("error", (error: NodeJS.ErrnoException) =>
			settle({ ok: false, failure: error.code ?? error.message }),
		);
		req.end(BODY);
	});
}

/** The gateway routes once the actor is connectable; polled (the engine offers no event for it), bounded. */
async function waitUntilRoutable(
	agent: Agent,
	url: URL,
	timeoutMs: number,
): Promise<void> {
	const deadline = performance.now() + timeoutMs;
	for (;;) {
		const outcome = await echo(agent, url);
		if (outcome.ok && outcome.length === BODY.byteLength) return;
		if (performance.now() > deadline)
			throw new Error(
				`the gateway did not route to the actor within ${timeoutMs} ms (last: ${outcome.ok ? `${outcome.length} B` : outcome.failure})`,
			);
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

/** CPU ms per second each process spends with no load (timers, pings, the engine's own workflows). */
interface IdleCpu {
	engine: number | null;
	runner: number | null;
}

/**
 * Measured once per engine, before any load: right after a load, both processes still spend CPU on its tail
 * (the engine's deferred writes, the runner's GC), which would be subtracted from the next case as "idle".
 */
async function idleCpu(
	engine: RivetEngine,
	runner: RunnerProcess,
): Promise<IdleCpu> {
	const pids = [engine.pid, runner.pid];
	const before = pids.map(cpuMs);
	const start = performance.now();
	await new Promise((resolve) => setTimeout(resolve, IDLE_BASELINE_MS));
	const seconds = (performance.now() - start) / 1000;
	const [engineRate, runnerRate] = pids.map((pid, i) => {
		const a = before[i];
		const b = cpuMs(pid);
		return a == null || b === null ? null : Math.max(0, (b - a) / seconds);
	});
	return { engine: engineRate ?? null, runner: runnerRate ?? null };
}

/** A discarded stretch of load before each measured one: a tenth of it, at most 1 s. */
function warmUpSeconds(seconds: number): number {
	return Math.min(1, seconds / 10);
}

/**
 * `concurrency` requests in flight, each answered or failed before the next, for `seconds`; each outcome goes to
 * `record` with its latency and its failure kind (null: answered 200 with the whole echo).
 */
async function loadFor(
	agent: Agent,
	url: URL,
	concurrency: number,
	seconds: number,
	record: (ms: number, failure: string | null) => void,
): Promise<void> {
	const end = performance.now() + seconds * 1000;
	const worker = async () => {
		while (performance.now() < end) {
			const t = performance.now();
			const outcome = await echo(agent, url);
			record(
				performance.now() - t,
				!outcome.ok
					? outcome.failure
					: outcome.length !== BODY.byteLength
						? "short body"
						: null,
			);
		}
	};
	await Promise.all(Array.from({ length: concurrency }, worker));
}

async function measureHttpThrough(
	engine: RivetEngine,
	runner: RunnerProcess,
	url: URL,
	concurrency: number,
	seconds: number,
	idle: IdleCpu,
): Promise<RealEngineHttp> {
	const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
	try {
		// Open the connections, and warm the engine's route, the runner and this client, before the clock starts.
		await Promise.all(
			Array.from({ length: concurrency }, () => echo(agent, url)),
		);
		await loadFor(agent, url, concurrency, warmUpSeconds(seconds), () => {});
		const latencies: number[] = [];
		const failures: Record<string, number> = {};
		let failed = 0;
		const engineCpu0 = cpuMs(engine.pid);
		const runnerCpu0 = cpuMs(runner.pid);
		const start = performance.now();
		await loadFor(agent, url, concurrency, seconds, (ms, failure) => {
			if (failure === null) latencies.push(ms);
			else {
				failed++;
				failures[failure] = (failures[failure] ?? 0) + 1;
			}
		});
		const elapsed = performance.now() - start;
		const engineCpu1 = cpuMs(engine.pid);
		const runnerCpu1 = cpuMs(runner.pid);
		const attempts = latencies.length + failed;
		const perRequest = (
			a: number | null,
			b: number | null,
			idlePerSec: number | null | undefined,
		) =>
			a === null || b === null || attempts === 0
				? null
				: Math.max(0, b - a - ((idlePerSec ?? 0) * elapsed) / 1000) / attempts;
		return {
			concurrency,
			requests: latencies.length,
			requestsPerSec: (latencies.length * 1000) / elapsed,
			latenciesMs: Float64Array.from(latencies),
			failures,
			engineCpuMsPerRequest: perRequest(engineCpu0, engineCpu1, idle.engine),
			runnerCpuMsPerRequest: perRequest(runnerCpu0, runnerCpu1, idle.runner),
		};
	} finally {
		agent.destroy();
	}
}

/**
 * Echo with a window: `messages` binary messages of 64 B to "/echo", at most WS_WINDOW unanswered at a time,
 * timed until the last echo. (A one-way burst does not work through this engine: past about 1 000 unanswered
 * messages on one socket its gateway drops the rest, with either runner.)
 */
async function measureWebSocketThrough(
	engine: RivetEngine,
	actorId: string,
	messages: number,
	timeoutMs: number,
): Promise<number> {
	const url = `${engine.url.replace(/^http/, "ws")}/gateway/${actorId}/echo`;
	const socket = new WebSocket(url, ["rivet"]);
	try {
		await new Promise<void>((resolve, reject) => {
			socket.once("open", () => resolve());
			socket.once("error", reject);
		});
		const payload = new Uint8Array(64);
		let sent = 0;
		let received = 0;
		const start = performance.now();
		await new Promise<void>((resolve, reject) => {
			const timer = setTimeout(
				() =>
					reject(
						new Error(`${received}/${messages} echoes within ${timeoutMs} ms`),
					),
				timeoutMs,
			);
			socket.on("message", () => {
				if (++received === messages) {
					clearTimeout(timer);
					resolve();
				} else if (sent < messages) {
					sent++;
					socket.send(payload);
				}
			});
			socket.once("close", (code) => {
				clearTimeout(timer);
				reject(new Error(`the gateway closed the socket (${code})`));
			});
			for (; sent < Math.min(WS_WINDOW, messages); sent++) socket.send(payload);
		});
		return (messages * 1000) / (performance.now() - start);
	} finally {
		socket.terminate();
	}
}

/** A create during the measurement that takes longer counts as failed ("timeout"); the others go on. */
const MEASURED_CREATE_TIMEOUT_MS = 5000;

export interface RealEngineStarts {
	/** Starts per second of the actors whose create the API answered. */
	perSec: number;
	/** Creates the API refused or left unanswered, by kind ("500", "timeout"): counted, never dropped. */
	failures: Record<string, number>;
}

/**
 * `count` actors created through the API, CREATE_CONCURRENCY at a time, timed until every actor whose create was
 * answered has started in the runner.
 */
async function measureActorStarts(
	engine: RivetEngine,
	runner: RunnerProcess,
	runnerName: string,
	count: number,
	timeoutMs: number,
): Promise<RealEngineStarts> {
	const before = runner.started;
	const start = performance.now();
	let next = 0;
	let created = 0;
	const failures: Record<string, number> = {};
	const creator = async () => {
		while (next < count) {
			next++;
			try {
				await createActor(engine, runnerName, MEASURED_CREATE_TIMEOUT_MS);
				created++;
			} catch (error) {
				const kind =
					error instanceof CreateRefused
						? String(error.status)
						: error instanceof Error && error.name === "TimeoutError"
							? "timeout"
							: String(error);
				failures[kind] = (failures[kind] ?? 0) + 1;
			}
		}
	};
	await Promise.all(Array.from({ length: CREATE_CONCURRENCY }, creator));
	if (created === 0)
		throw new Error(
			`every create failed (${Object.entries(failures)
				.map(([kind, n]) => `${n}× ${kind}`)
				.join(", ")})`,
		);
	await runner.waitForStarts(before + created, timeoutMs);
	return {
		perSec: (created * 1000) / (performance.now() - start),
		failures,
	};
}

/** Every real-engine figure of one runner kind, on an engine of its own (fresh state, same config). */
export async function measureRealEngine(
	kind: RunnerName,
	c: RealEngineCase,
	setup: EngineSetup,
	timeoutMs: number,
): Promise<RealEngineFigures> {
	const engine = await startBenchEngine(setup);
	const runnerName = `bench-${kind}`;
	try {
		await declareRunnerConfig(engine, runnerName, timeoutMs);
	} catch (error) {
		await engine.close();
		throw error;
	}
	const runner = new RunnerProcess(kind, engine.url, runnerName);
	try {
		await withTimeout(runner.ready, timeoutMs, `the ${kind} runner's connect`);
		const actorId = await createFirstActor(engine, runnerName, timeoutMs);
		await runner.waitForStarts(1, timeoutMs);
		const url = new URL(`${engine.url}/gateway/${actorId}/echo`);
		const probe = new Agent({ keepAlive: true });
		try {
			await waitUntilRoutable(probe, url, timeoutMs);
		} finally {
			probe.destroy();
		}
		const errors: string[] = [];
		const part = async <T>(what: string, run: () => Promise<T>) => {
			try {
				return await run();
			} catch (error) {
				errors.push(
					`${what}: ${error instanceof Error ? error.message : String(error)}`,
				);
				return null;
			}
		};
		// Least disturbing first: a create right after 64 requests in flight can wait on the engine's backlog.
		const idle = await idleCpu(engine, runner);
		const actorStarts = await part("actor starts", () =>
			measureActorStarts(engine, runner, runnerName, c.actorStarts, timeoutMs),
		);
		const webSocketMessagesPerSec = await part("websocket", () =>
			measureWebSocketThrough(engine, actorId, c.webSocketMessages, timeoutMs),
		);
		const http: (RealEngineHttp | null)[] = [];
		for (const concurrency of REAL_ENGINE_CONCURRENCIES)
			http.push(
				await part(`http c=${concurrency}`, () =>
					measureHttpThrough(
						engine,
						runner,
						url,
						concurrency,
						c.httpSeconds,
						idle,
					),
				),
			);
		return { http, webSocketMessagesPerSec, actorStarts, errors };
	} finally {
		await runner.stop();
		// Its state is thrown away: no graceful stop, which waits seconds for guard and the workers.
		await engine.kill();
		await engine.close();
	}
}
