/**
 * Runner-side fuzz: generated and mutated `ToClient` frames into a live runner (ours: src/core `Runner` on the
 * Node `ws` platform; or the reference `@rivetkit/engine-runner`) through a fake engine socket.
 *
 * Our runner's socket is instrumented: every inbound message is tagged with the fuzz frame it carries, so each log
 * line and each frame the runner sends while handling it is attributed to that frame, and its handling time is
 * measured. After each batch a ping must come back (liveness); every few thousand frames a probe actor is started,
 * asked for an HTTP response through the tunnel and stopped (the runner still works); at the end every actor is
 * stopped, every handler must have finished, and the heap is measured again after gc.
 */
import * as protocol from "@rivetkit/engine-runner-protocol";
import { WebSocket as WsWebSocket } from "ws";
import type { RunnerConfig } from "../src/core/config.ts";
import type { Logger } from "../src/core/log.ts";
import { Runner as OurRunner } from "../src/core/runner.ts";
import { wsForUplink } from "../src/runtimes/ws-for-uplink.ts";
import {
	type FuzzConnection,
	FuzzEngine,
	initFrame,
	pingFrame,
} from "./fuzz-engine-socket.ts";
import {
	type FuzzFrame,
	nextToClient,
	preInitFrame,
	ToClientModel,
} from "./fuzz-toclient.ts";
import { hex, u32Id } from "./fuzz-values.ts";
import { createPrng } from "./prng.ts";

export const RUNNER_ID = "fuzz-runner";
const OTHER = -10;

export interface RunnerFuzzOptions {
	seed: number;
	frames: number;
	/** Frames per batch (one liveness ping each). Default 50. */
	batch?: number;
	/** A probe actor every this many frames. Default 2000. */
	probeEvery?: number;
	/** Longest a frame's (synchronous) handling may take, ms. Default 1000. */
	frameBoundMs?: number;
	/** Longest wait for a batch's ping to come back, ms. Default 15000. */
	batchTimeoutMs?: number;
	/** Allowed heap growth between the start (after warm-up) and the end, MB. Default 24. */
	heapBoundMb?: number;
	oversizedRate?: number;
	/**
	 * Before the final heap figure, wait this long and ping: stopped actors are remembered for 60 s (late
	 * commands and acks for them are recognised), so the end figure after 61 s shows what stays for good.
	 */
	settleMs?: number;
	/** Progress lines. */
	progress?: (line: string) => void;
}

export interface FrameFailure {
	seed: number;
	frame: number;
	generator: string;
	problem: string;
	hex: string;
}

export interface RunnerFuzzResult {
	target: "ours" | "reference";
	seed: number;
	frames: number;
	durationMs: number;
	framesPerSecond: number;
	byGenerator: Record<string, number>;
	byExpectation: Record<string, number>;
	preInitFrames: number;
	connections: number;
	probes: number;
	/** Handling time of one frame, ms (ours only). */
	frameMs: { p50: number; p99: number; max: number } | undefined;
	heapStartMb: number;
	heapEndMb: number;
	/** Log lines by `level: message (code)`. */
	logKinds: Record<string, number>;
	/** How the runner closed its socket to the engine, by `code reason`. */
	closeReasons: Record<string, number>;
	/** Client WebSocket closes the actors saw, by `code reason`. */
	actorSocketCloses: Record<string, number>;
	kvErrors: Record<string, number>;
	/** KV failures that were not an `EdgerunnerError` with a code (must be none). */
	untypedKvErrors: string[];
	uncaught: string[];
	unhandledRejections: string[];
	/** Totals (the lists above keep the first 10). */
	crashCounts: { uncaught: number; unhandledRejections: number };
	hangs: number;
	afterShutdown:
		| { framesDuringDrain: number; reason: string; stoppedCleanly: boolean }
		| undefined;
	checks: Record<string, boolean>;
	failures: FrameFailure[];
}

interface FrameRecord {
	logs: number;
	errorLogs: number;
	codes: string[];
	replies: number;
	ms: number;
}

/** The instrumented socket's link to the harness (one runner socket at a time). */
class Instrument {
	fifo: number[] = [];
	latest: object | undefined;
	current = OTHER;
	readonly records = new Map<number, FrameRecord>();
	/** Allocated up front so the measurement does not grow the heap it measures. */
	readonly times: Float64Array;
	timeCount = 0;

	constructor(frames: number) {
		this.times = new Float64Array(frames + 1);
	}

	record(id: number): FrameRecord | undefined {
		if (id < 0) return undefined;
		let record = this.records.get(id);
		if (!record) {
			record = { logs: 0, errorLogs: 0, codes: [], replies: 0, ms: -1 };
			this.records.set(id, record);
		}
		return record;
	}
}

function instrumentedWebSocket(instrument: Instrument): typeof WebSocket {
	const Base = wsForUplink(WsWebSocket);
	class InstrumentedWebSocket extends Base {
		constructor(url: string, protocols?: string | string[]) {
			super(url, protocols);
			instrument.latest = this;
		}

		override addEventListener(...args: unknown[]): void {
			const [type, listener, options] = args as [
				string,
				(event: unknown) => void,
				unknown,
			];
			const add = super.addEventListener as unknown as (
				...a: unknown[]
			) => void;
			if (type !== "message") {
				add.call(this, type, listener, options);
				return;
			}
			const wrapped = (event: unknown) => {
				if (this !== instrument.latest) {
					listener.call(this, event);
					return;
				}
				const id = instrument.fifo.shift() ?? OTHER;
				instrument.current = id;
				const started = performance.now();
				try {
					listener.call(this, event);
				} finally {
					instrument.current = OTHER;
					const record = instrument.record(id);
					if (record) {
						record.ms = performance.now() - started;
						if (instrument.timeCount < instrument.times.length)
							instrument.times[instrument.timeCount++] = record.ms;
					}
				}
			};
			add.call(this, type, wrapped, options);
		}

		override send(...args: unknown[]): void {
			const record = instrument.record(instrument.current);
			if (record) record.replies++;
			(super.send as (...a: unknown[]) => void)(...args);
		}
	}
	return InstrumentedWebSocket as unknown as typeof WebSocket;
}

function capturingLogger(
	instrument: Instrument | undefined,
	kinds: Map<string, number>,
): Logger {
	const line =
		(level: string) =>
		(obj: object, msg?: string): void => {
			const code = (obj as { code?: unknown }).code;
			const text = msg ?? (obj as { msg?: unknown }).msg;
			const kind = `${level}: ${typeof text === "string" ? text.slice(0, 80) : ""}${typeof code === "string" ? ` (${code})` : ""}`;
			kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
			const record = instrument?.record(instrument.current);
			if (!record) return;
			record.logs++;
			if (level === "error") record.errorLogs++;
			if (typeof code === "string") record.codes.push(code);
		};
	return Object.assign(
		{
			trace: line("trace"),
			debug: line("debug"),
			info: line("info"),
			warn: line("warn"),
			error: line("error"),
			child: () => capturingLogger(instrument, kinds),
		},
		// The tunnel's per-message trace would count as an answer to every tunnel frame: keep it off.
		{
			isLevelEnabled: (level: string) => level !== "debug" && level !== "trace",
		},
	);
}

interface AppStats {
	fetchStarted: number;
	fetchDone: number;
	wsOpened: number;
	wsClosed: number;
	hibOpened: number;
	hibClosed: number;
	closes: Map<string, number>;
	kvErrors: Map<string, number>;
	untypedKvErrors: string[];
}

/** The actor app both runners host: HTTP echo (and a KV read on `/kv`), WebSocket echo, `/hib` hibernatable. */
function appHandlers(stats: AppStats) {
	const countClose = (code: number, reason: string) => {
		const key = `${code} ${reason}`;
		stats.closes.set(key, (stats.closes.get(key) ?? 0) + 1);
	};
	return {
		fetch: async (
			runner: { kvGet(actorId: string, keys: Uint8Array[]): Promise<unknown> },
			actorId: string,
			_gatewayId: unknown,
			_requestId: unknown,
			request: Request,
		): Promise<Response> => {
			stats.fetchStarted++;
			try {
				if (new URL(request.url).pathname === "/kv") {
					try {
						await runner.kvGet(actorId, [new Uint8Array([1, 2, 3])]);
					} catch (error) {
						const code = (error as { code?: unknown }).code;
						if (typeof code === "string")
							stats.kvErrors.set(code, (stats.kvErrors.get(code) ?? 0) + 1);
						else stats.untypedKvErrors.push(String(error));
					}
				}
				return new Response("ok");
			} finally {
				stats.fetchDone++;
			}
		},
		websocket: async (
			_runner: unknown,
			_actorId: string,
			ws: WebSocket,
			_gatewayId: unknown,
			_requestId: unknown,
			_request: Request,
			path: string,
		): Promise<void> => {
			const hib = path.startsWith("/hib");
			if (hib) stats.hibOpened++;
			else stats.wsOpened++;
			ws.addEventListener("message", (event) => {
				if (ws.readyState === 1 && typeof event.data !== "string")
					ws.send(event.data as ArrayBuffer);
			});
			ws.addEventListener("close", (event) => {
				if (hib) stats.hibClosed++;
				else stats.wsClosed++;
				countClose(event.code, event.reason);
			});
		},
		hibernatableWebSocket: {
			canHibernate: (
				_a: string,
				_g: ArrayBuffer,
				_r: ArrayBuffer,
				request: Request,
			) => new URL(request.url).pathname.startsWith("/hib"),
		},
	};
}

interface RunnerUnderFuzz {
	start(): Promise<void>;
	live(): { actorId: string; generation: number }[];
	drain(): Promise<string>;
	stopNow(): Promise<void>;
	forceStop(actorId: string): Promise<void>;
}

function ourRunner(
	endpoint: string,
	logger: Logger,
	instrument: Instrument,
	stats: AppStats,
): RunnerUnderFuzz {
	const app = appHandlers(stats);
	const config: RunnerConfig = {
		version: 1,
		endpoint,
		namespace: "default",
		runnerName: "fuzz",
		totalSlots: 100_000,
		logger,
		platform: { name: "node", WebSocket: instrumentedWebSocket(instrument) },
		reconnect: { baseDelayMs: 1, maxDelayMs: 2, stableUptimeMs: 1 },
		engineSilenceTimeoutMs: 600_000,
		kvTimeoutMs: 2_000,
		drainTimeoutMs: 10_000,
		onActorStart: async () => {},
		onActorStop: async () => {},
		fetch: app.fetch as RunnerConfig["fetch"],
		websocket: app.websocket as unknown as RunnerConfig["websocket"],
		hibernatableWebSocket: app.hibernatableWebSocket,
	};
	const runner = new OurRunner(config);
	return {
		start: () => runner.start(),
		live: () =>
			[...runner.actors.values()].map((a) => ({
				actorId: a.actorId,
				generation: a.generation,
			})),
		drain: async () => (await runner.shutdown(false)).reason,
		forceStop: (actorId) => runner.forceStopActor(actorId),
		stopNow: async () => {
			await runner.shutdown(true);
		},
	};
}

async function referenceRunner(
	endpoint: string,
	logger: Logger,
	stats: AppStats,
	seen: Map<string, number>,
): Promise<RunnerUnderFuzz> {
	const { Runner } = await import("@rivetkit/engine-runner");
	const app = appHandlers(stats);
	const runner = new Runner({
		version: 1,
		endpoint,
		namespace: "default",
		runnerName: "fuzz",
		totalSlots: 100_000,
		prepopulateActorNames: {},
		noAutoShutdown: true,
		logger: logger as never,
		onConnected: () => {},
		onDisconnected: () => {},
		onShutdown: () => {},
		onActorStart: async () => {},
		onActorStop: async () => {},
		fetch: app.fetch as never,
		websocket: app.websocket as never,
		hibernatableWebSocket: app.hibernatableWebSocket,
	});
	// R keeps its actors in a private map: ask it about every actor it reported running.
	return {
		start: () => runner.start(),
		live: () =>
			[...seen.keys()].flatMap((actorId) => {
				const actor = runner.getActor(actorId) as
					| { generation: number }
					| undefined;
				return actor ? [{ actorId, generation: actor.generation }] : [];
			}),
		drain: async () => {
			await runner.shutdown(false);
			return "drain";
		},
		forceStop: async (actorId) => {
			await runner.forceStopActor(actorId);
		},
		stopNow: async () => {
			await runner.shutdown(true);
		},
	};
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

function heapAfterGc(): number {
	const gc = (globalThis as { gc?: () => void }).gc;
	if (gc) {
		gc();
		gc();
	}
	return process.memoryUsage().heapUsed;
}

function percentile(sorted: number[], p: number): number {
	if (sorted.length === 0) return 0;
	return sorted[
		Math.min(sorted.length - 1, Math.floor(sorted.length * p))
	] as number;
}

const round = (n: number) => Math.round(n * 100) / 100;

/** Runs the runner-side campaign against one runner. */
export async function fuzzRunnerSide(
	target: "ours" | "reference",
	options: RunnerFuzzOptions,
): Promise<RunnerFuzzResult> {
	const seed = options.seed >>> 0;
	const total = options.frames;
	const batchSize = options.batch ?? 50;
	const probeEvery = options.probeEvery ?? 2000;
	const frameBound = options.frameBoundMs ?? 1000;
	const batchTimeout = options.batchTimeoutMs ?? 15_000;
	const heapBound = options.heapBoundMb ?? 24;
	const progress = options.progress ?? (() => {});
	const frames = createPrng(seed);
	const connections = createPrng(seed ^ 0x5eed_c0de);
	const model = new ToClientModel();
	const byGenerator = new Map<string, number>();
	const byExpectation = new Map<string, number>();
	const logKinds = new Map<string, number>();
	const closeReasons = new Map<string, number>();
	const failures: FrameFailure[] = [];
	const uncaught: string[] = [];
	const unhandled: string[] = [];
	const checks: Record<string, boolean> = {};
	const instrument = target === "ours" ? new Instrument(total) : undefined;
	const stats: AppStats = {
		fetchStarted: 0,
		fetchDone: 0,
		wsOpened: 0,
		wsClosed: 0,
		hibOpened: 0,
		hibClosed: 0,
		closes: new Map(),
		kvErrors: new Map(),
		untypedKvErrors: [],
	};
	let uncaughtCount = 0;
	let unhandledCount = 0;
	// Only the first few are kept: the reference runner rejects once per undecodable frame.
	const onUncaught = (error: unknown) => {
		if (uncaughtCount++ < 10)
			uncaught.push(String((error as Error)?.stack ?? error));
	};
	const onUnhandled = (error: unknown) => {
		if (unhandledCount++ < 10)
			unhandled.push(String((error as Error)?.stack ?? error));
	};
	process.on("uncaughtException", onUncaught);
	process.on("unhandledRejection", onUnhandled);

	const engine = new FuzzEngine();
	await engine.listen();
	const logger = capturingLogger(instrument, logKinds);
	/** Actors the runner reported running (from its events), for asking the reference runner about them. */
	const seen = new Map<string, number>();
	const runner =
		target === "ours"
			? ourRunner(engine.url, logger, instrument as Instrument, stats)
			: await referenceRunner(engine.url, logger, stats, seen);
	const watchEvents = (c: FuzzConnection) =>
		c.listeners.add((m) => {
			if (m.tag !== "ToServerEvents") return;
			for (const e of m.val)
				if (
					e.inner.tag === "EventActorStateUpdate" &&
					e.inner.val.state.tag === "ActorStateRunning"
				)
					seen.set(e.checkpoint.actorId, e.checkpoint.generation);
		});
	const fail = (frame: number, f: FuzzFrame | undefined, problem: string) => {
		if (failures.length < 50)
			failures.push({
				seed,
				frame,
				generator: f?.generator ?? "-",
				problem,
				hex: f ? hex(f.bytes) : "",
			});
	};

	let hangs = 0;
	let preInitFrames = 0;
	let probes = 0;
	let lastIndex = -1;
	let conn: FuzzConnection | undefined;
	const sendOther = (bytes: Uint8Array) => {
		instrument?.fifo.push(OTHER);
		conn?.send(bytes);
	};

	/** Waits for the runner's next connection and answers its handshake (sometimes after wrong-state frames). */
	const connect = async (): Promise<boolean> => {
		conn = await engine.connectionAfter(lastIndex, 10_000);
		if (!conn) return false;
		lastIndex = conn.index;
		if (target === "reference") watchEvents(conn);
		const init = await Promise.race([
			conn.init,
			conn.closed.then(() => undefined),
			new Promise<undefined>((r) => setTimeout(r, 10_000)),
		]);
		if (!init) return connect();
		if (instrument) instrument.fifo = [];
		if (connections.chance(0.3)) {
			const n = connections.int(1, 5);
			for (let i = 0; i < n; i++) {
				const f = preInitFrame(connections);
				preInitFrames++;
				byGenerator.set(f.generator, (byGenerator.get(f.generator) ?? 0) + 1);
				sendOther(f.bytes);
			}
		}
		sendOther(initFrame(RUNNER_ID));
		return true;
	};

	const waitFor = async (
		what: (m: protocol.ToServer) => boolean,
		timeoutMs: number,
	): Promise<boolean> => {
		const c = conn;
		if (!c) return false;
		return new Promise((resolve) => {
			const timer = setTimeout(() => done(false), timeoutMs);
			const listener = (m: protocol.ToServer) => {
				if (what(m)) done(true);
			};
			const done = (ok: boolean) => {
				clearTimeout(timer);
				c.listeners.delete(listener);
				resolve(ok);
			};
			c.listeners.add(listener);
			void c.closed.then(() => done(false));
		});
	};

	/** A new actor starts, answers an HTTP request through the tunnel, and stops. */
	const probe = async (n: number): Promise<boolean> => {
		const actorId = `fz-probe-${n}`;
		const running = waitFor(
			(m) =>
				m.tag === "ToServerEvents" &&
				m.val.some(
					(e) =>
						e.checkpoint.actorId === actorId &&
						e.inner.tag === "EventActorStateUpdate" &&
						e.inner.val.state.tag === "ActorStateRunning",
				),
			5000,
		);
		sendOther(
			protocol.encodeToClient({
				tag: "ToClientCommands",
				val: [
					{
						checkpoint: { actorId, generation: 0, index: 0n },
						inner: {
							tag: "CommandStartActor",
							val: {
								config: { name: "probe", key: null, createTs: 0n, input: null },
								hibernatingRequests: [],
							},
						},
					},
				],
			}),
		);
		if (!(await running)) return false;
		const requestId = 0x7fff_0000 + (n % 0xffff);
		const answered = waitFor(
			(m) =>
				m.tag === "ToServerTunnelMessage" &&
				new DataView(m.val.messageId.requestId).getUint32(0, true) ===
					requestId &&
				m.val.messageKind.tag === "ToServerResponseStart" &&
				m.val.messageKind.val.status === 200,
			5000,
		);
		sendOther(
			protocol.encodeToClient({
				tag: "ToClientTunnelMessage",
				val: {
					messageId: {
						gatewayId: u32Id(0x0a0b0c0d),
						requestId: u32Id(requestId),
						messageIndex: 0,
					},
					messageKind: {
						tag: "ToClientRequestStart",
						val: {
							actorId,
							method: "GET",
							path: "/echo",
							headers: new Map(),
							body: null,
							stream: false,
						},
					},
				},
			}),
		);
		if (!(await answered)) return false;
		const stopped = waitFor(
			(m) =>
				m.tag === "ToServerEvents" &&
				m.val.some(
					(e) =>
						e.checkpoint.actorId === actorId &&
						e.inner.tag === "EventActorStateUpdate" &&
						e.inner.val.state.tag === "ActorStateStopped",
				),
			5000,
		);
		sendOther(
			protocol.encodeToClient({
				tag: "ToClientCommands",
				val: [
					{
						checkpoint: { actorId, generation: 0, index: 1n },
						inner: { tag: "CommandStopActor", val: null },
					},
				],
			}),
		);
		return stopped;
	};

	const started = performance.now();
	await runner.start();
	progress(`${target}: runner started`);
	if (!(await connect())) fail(0, undefined, "the runner never connected");
	progress(`${target}: connected`);
	let frameNo = 0;
	let heapStart = 0;
	const warmup = Math.min(2000, Math.floor(total / 10));
	let nextProbe = probeEvery;
	let probesOk = true;
	let aborted = false;
	const pending: { id: number; frame: FuzzFrame }[] = [];

	while (frameNo < total && conn && !aborted) {
		if (frameNo >= warmup && heapStart === 0) {
			await new Promise((r) => setImmediate(r));
			heapStart = heapAfterGc();
		}
		pending.length = 0;
		while (pending.length < batchSize && frameNo < total) {
			const f = nextToClient(frames, model, {
				oversizedRate: options.oversizedRate,
			});
			const id = frameNo++;
			pending.push({ id, frame: f });
			byGenerator.set(f.generator, (byGenerator.get(f.generator) ?? 0) + 1);
			byExpectation.set(f.expect, (byExpectation.get(f.expect) ?? 0) + 1);
			instrument?.fifo.push(id);
			conn.send(f.bytes);
			// An open runs the actor's handler as a task: traffic for the socket in the same TCP read would wait
			// for it and be judged after its frame was handled. The next batch starts after the open is done.
			if (f.expect === "close" || f.generator === "tunnel-ws-open") break;
		}
		const last = pending[pending.length - 1] as {
			id: number;
			frame: FuzzFrame;
		};
		const current: FuzzConnection = conn;
		let outcome: "pong" | "closed" | "timeout";
		if (last.frame.expect === "close" && target === "ours") {
			outcome = await Promise.race([
				current.closed.then(() => "closed" as const),
				new Promise<"timeout">((r) =>
					setTimeout(() => r("timeout"), batchTimeout),
				),
			]);
		} else {
			const ts = BigInt(last.id);
			const pong = current.pong(ts);
			sendOther(pingFrame(ts));
			outcome = await Promise.race([
				pong,
				new Promise<"timeout">((r) =>
					setTimeout(() => r("timeout"), batchTimeout),
				),
			]);
		}
		if (outcome === "timeout") {
			hangs++;
			fail(last.id, last.frame, `no answer within ${batchTimeout} ms (hang)`);
			aborted = true;
			break;
		}
		if (outcome === "closed") {
			const info = current.closeInfo ?? { code: 0, reason: "" };
			const key = `${info.code} ${info.reason}`;
			closeReasons.set(key, (closeReasons.get(key) ?? 0) + 1);
			if (target === "ours" && last.frame.expect !== "close")
				fail(
					last.id,
					last.frame,
					`the runner closed its socket unexpectedly (${key})`,
				);
			if (
				target === "ours" &&
				last.frame.expect === "close" &&
				(info.code !== 4000 || info.reason !== "runner.invalid_frame")
			)
				fail(
					last.id,
					last.frame,
					`undecodable frame closed with ${key}, not 4000 runner.invalid_frame`,
				);
		}
		if (instrument) {
			for (const { id, frame: f } of pending) {
				const record = instrument.records.get(id);
				instrument.records.delete(id);
				if (!record || record.ms < 0) {
					fail(id, f, "the frame was never handled");
					continue;
				}
				if (record.ms > frameBound)
					fail(
						id,
						f,
						`handling took ${Math.round(record.ms)} ms (bound ${frameBound} ms)`,
					);
				if (
					f.expect === "close" &&
					!record.codes.includes("protocol_invalid_frame")
				)
					fail(
						id,
						f,
						"undecodable frame without a typed protocol_invalid_frame error log",
					);
				if (f.expect === "answer" && record.logs + record.replies === 0)
					fail(
						id,
						f,
						"a wrong frame was handled in silence (no log line, no answer)",
					);
				if (f.expect === "ok" && record.errorLogs > 0)
					fail(
						id,
						f,
						`a valid frame logged an error (${record.codes.join(",")})`,
					);
			}
			instrument.records.clear();
		}
		if (outcome === "closed" && !(await connect())) {
			fail(last.id, last.frame, "the runner did not reconnect within 10 s");
			aborted = true;
			break;
		}
		if (frameNo >= nextProbe || frameNo >= total) {
			nextProbe += probeEvery;
			probes++;
			if (!(await probe(probes))) {
				probesOk = false;
				fail(frameNo, undefined, `liveness probe ${probes} failed`);
				if (!conn?.isOpen && !(await connect())) aborted = true;
			}
			progress(
				`${target}: ${frameNo}/${total} frames, ${engine.accepted} connections, heap ${mb(process.memoryUsage().heapUsed)} MB`,
			);
		}
	}
	const fuzzMs = performance.now() - started;

	// The end: every actor stopped, every handler finished, then the heap again.
	const stopAll = () => {
		const live = runner.live();
		if (live.length === 0 || !conn?.isOpen) return;
		sendOther(
			protocol.encodeToClient({
				tag: "ToClientCommands",
				val: live.map(({ actorId, generation }) => ({
					checkpoint: { actorId, generation, index: 2n ** 50n },
					inner: { tag: "CommandStopActor", val: null },
				})),
			}),
		);
	};
	stopAll();
	const until = async (what: () => boolean, ms: number) => {
		const deadline = Date.now() + ms;
		while (!what() && Date.now() < deadline)
			await new Promise((r) => setTimeout(r, 20));
		return what();
	};
	// An actor whose last command index was i64 max (random frames) can get no later command: stop it locally.
	if (!(await until(() => runner.live().length === 0, 2000)))
		await Promise.all(runner.live().map((a) => runner.forceStop(a.actorId)));
	checks.allActorsStopped = await until(() => runner.live().length === 0, 5000);
	checks.allHandlersFinished = await until(
		() => stats.fetchStarted === stats.fetchDone,
		5000,
	);
	checks.allSocketsClosed = await until(
		() => stats.wsOpened === stats.wsClosed,
		2000,
	);
	checks.kvErrorsTyped = stats.untypedKvErrors.length === 0;
	await new Promise((r) => setTimeout(r, 50));
	if ((options.settleMs ?? 0) > 0 && conn?.isOpen) {
		progress(
			`${target}: waiting ${options.settleMs} ms before the final heap figure`,
		);
		await new Promise((r) => setTimeout(r, options.settleMs));
		const settled = conn.pong(777_777n);
		sendOther(pingFrame(777_777n));
		await Promise.race([settled, new Promise((r) => setTimeout(r, 5000))]);
	}
	const heapEnd = heapAfterGc();
	if (heapStart === 0) heapStart = heapEnd;
	checks.heapBounded = mb(heapEnd - heapStart) < heapBound;
	checks.probesAnswered = probesOk;

	// Wrong state: frames while the runner drains, then after it has closed.
	let afterShutdown: RunnerFuzzResult["afterShutdown"];
	if (conn?.isOpen && !aborted) {
		const drainConn = conn;
		const stopping = waitFor((m) => m.tag === "ToServerStopping", 5000);
		const startActor = protocol.encodeToClient({
			tag: "ToClientCommands",
			val: [
				{
					checkpoint: { actorId: "fz-drain", generation: 0, index: 0n },
					inner: {
						tag: "CommandStartActor",
						val: {
							config: { name: "drain", key: null, createTs: 0n, input: null },
							hibernatingRequests: [],
						},
					},
				},
			],
		});
		sendOther(startActor);
		await waitFor((m) => m.tag === "ToServerEvents", 2000);
		const report = runner.drain();
		await stopping;
		let during = 0;
		for (let i = 0; i < 50; i++) {
			const f = nextToClient(frames, model, { oversizedRate: 0 });
			if (f.expect === "close") continue;
			sendOther(f.bytes);
			during++;
		}
		// Stop whatever the drain frames started, once they have been handled, so the drain ends on its own.
		const handled = drainConn.pong(424242n);
		sendOther(pingFrame(424242n));
		await Promise.race([handled, new Promise((r) => setTimeout(r, 5000))]);
		await new Promise((r) => setTimeout(r, 100));
		stopAll();
		sendOther(
			protocol.encodeToClient({
				tag: "ToClientCommands",
				val: [
					{
						checkpoint: { actorId: "fz-drain", generation: 0, index: 1n },
						inner: { tag: "CommandStopActor", val: null },
					},
				],
			}),
		);
		const reason = await Promise.race([
			report,
			new Promise<string>((r) => setTimeout(() => r("timeout"), 15_000)),
		]);
		await Promise.race([
			drainConn.closed,
			new Promise((r) => setTimeout(r, 2000)),
		]);
		for (let i = 0; i < 10; i++) drainConn.send(pingFrame(BigInt(i))); // after the close: dropped
		const info = drainConn.closeInfo;
		if (info) {
			const key = `${info.code} ${info.reason}`;
			closeReasons.set(key, (closeReasons.get(key) ?? 0) + 1);
		}
		afterShutdown = {
			framesDuringDrain: during,
			reason,
			stoppedCleanly: reason !== "timeout" && info?.code === 1000,
		};
		checks.drainEndsCleanly = afterShutdown.stoppedCleanly;
		if (reason === "timeout") hangs++;
	} else {
		await runner.stopNow().catch(() => {});
	}
	await new Promise((r) => setTimeout(r, 100));
	await engine.close();
	process.off("uncaughtException", onUncaught);
	process.off("unhandledRejection", onUnhandled);

	const times = instrument
		? [...instrument.times.subarray(0, instrument.timeCount)].sort(
				(a, b) => a - b,
			)
		: [];
	checks.noCrash = uncaughtCount === 0 && unhandledCount === 0;
	checks.noHang = hangs === 0;
	checks.everyFrameSent = frameNo >= total;
	return {
		target,
		seed,
		frames: frameNo,
		durationMs: Math.round(fuzzMs),
		framesPerSecond: Math.round(frameNo / (fuzzMs / 1000)),
		byGenerator: Object.fromEntries([...byGenerator].sort()),
		byExpectation: Object.fromEntries(byExpectation),
		preInitFrames,
		connections: engine.accepted,
		probes,
		frameMs: instrument
			? {
					p50: round(percentile(times, 0.5)),
					p99: round(percentile(times, 0.99)),
					max: round(times[times.length - 1] ?? 0),
				}
			: undefined,
		heapStartMb: mb(heapStart),
		heapEndMb: mb(heapEnd),
		logKinds: Object.fromEntries([...logKinds].sort((a, b) => b[1] - a[1])),
		closeReasons: Object.fromEntries(closeReasons),
		actorSocketCloses: Object.fromEntries(
			[...stats.closes].sort((a, b) => b[1] - a[1]).slice(0, 20),
		),
		kvErrors: Object.fromEntries(stats.kvErrors),
		untypedKvErrors: stats.untypedKvErrors.slice(0, 5),
		uncaught: uncaught.slice(0, 10),
		unhandledRejections: unhandled.slice(0, 10),
		crashCounts: {
			uncaught: uncaughtCount,
			unhandledRejections: unhandledCount,
		},
		hangs,
		afterShutdown,
		checks,
		failures,
	};
}
