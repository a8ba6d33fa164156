/**
 * The workload a fault run drives (reliability/faults.ts, tests/reliability/faults.test.ts): runners (ours and the
 * reference runner, each behind its own {@link FaultProxy}) hosting actors whose state is a counter in KV, clients
 * writing through the engine's gateway over HTTP and WebSockets, actors put to sleep and woken, runners drained or
 * shut down at once, and the engine restarted, all while the proxies play their seeded fault schedules. Everything
 * that happens is recorded in an {@link EventLog} the invariants (reliability/invariants.ts) are checked against.
 *
 * The actor app: `POST /write?id=X` (or the WebSocket message `w:X`) reads `count` from KV and puts
 * `count = n + 1` and `log/<n> = X` in one KV put, then acknowledges `ack:X`. Writes to one actor on one runner are
 * serialised, so the log holds each applied write once, in order; an acknowledged id missing from the log is a lost
 * write, an id there twice a write applied twice. `GET /state` answers the count and the log; `POST /sleep` puts
 * the actor to sleep (the next request wakes it).
 */
import { setMaxListeners } from "node:events";
import { copyFileSync } from "node:fs";
import { Runner as ReferenceRunner } from "@rivetkit/engine-runner";
import { WebSocket } from "ws";
import { EdgerunnerError, Runner } from "../src/core/index.ts";
import { nodeWebSocket } from "../src/runtimes/node.ts";
import {
	declareRunnerConfig,
	type EngineKind,
	type EngineUnderTest,
	isRunning,
	startEngineUnderTest,
} from "../tests/helpers/engines.ts";
import { type Fault, FaultProxy, faultSchedule } from "./fault-proxy.ts";
import type { Prng } from "./prng.ts";

export type Family = "ours" | "reference";
export const FAMILIES: readonly Family[] = ["ours", "reference"];

export interface LoggedEvent {
	/** ms since the run started. */
	t: number;
	kind:
		| "runner-start"
		| "runner-connected"
		| "runner-disconnected"
		| "runner-shutdown"
		| "runner-closed"
		| "runner-log"
		| "actor-start"
		| "actor-stop"
		| "write-sent"
		| "write-acked"
		| "write-failed"
		| "write-applied"
		| "fault"
		| "engine-fault"
		| "engine-back"
		| "faults-end"
		| "kv-slow";
	family?: Family;
	runner?: string;
	actorId?: string;
	generation?: number;
	writeId?: string;
	detail?: string;
}

export class EventLog {
	readonly events: LoggedEvent[] = [];
	readonly startedAt = Date.now();
	now(): number {
		return Date.now() - this.startedAt;
	}
	add(event: Omit<LoggedEvent, "t">): void {
		this.events.push({ t: this.now(), ...event });
	}
}

export interface KvCall {
	family: Family;
	runner: string;
	actorId: string;
	op: string;
	startedAt: number;
	endedAt?: number;
	/** The error's class name when it was rejected. */
	error?: string;
	/** Rejected with one of edgerunner's typed errors (EdgerunnerError). */
	typed?: boolean;
}

export interface WriteRecord {
	id: string;
	actorId: string;
	family: Family;
	via: "http" | "ws";
	sentAt: number;
	ackedAt?: number;
	failedAt?: number;
	error?: string;
}

/** What `GET /state` answered for an actor after the faults. */
export interface ActorState {
	count: number;
	log: string[];
}

export interface WorkloadSize {
	/** Our runners (each behind its own proxy); a drained or stopped one is replaced. */
	runners: number;
	/** Reference runners, under the same fault schedules as ours (host i plays schedule i). */
	referenceRunners: number;
	actors: number;
	referenceActors: number;
	/** How long faults are injected. */
	faultMs: number;
	httpWriters: number;
	wsWriters: number;
	/** Runners drained or shut down at once during the faults (each family). */
	churn: number;
	/** Engine faults during the faults, in order. */
	engineFaults: ("SIGTERM" | "SIGKILL")[];
}

export interface WorkloadTimeouts {
	engineSilenceTimeoutMs: number;
	kvTimeoutMs: number;
	runnerLostThresholdMs: number;
	/** A client write gives up after this long. */
	writeTimeoutMs: number;
	/** Stated bound: after the faults end, every runner is connected and every actor reachable within this. */
	recoveryBoundMs: number;
}

export const DEFAULT_TIMEOUTS: WorkloadTimeouts = {
	// Above both engines' ping interval (3 s plus jitter): a shorter watchdog redials a quiet, healthy link.
	engineSilenceTimeoutMs: 4_000,
	kvTimeoutMs: 4_000,
	runnerLostThresholdMs: 6_000,
	writeTimeoutMs: 8_000,
	recoveryBoundMs: 30_000,
};

/** A runner (ours or R) behind its proxy, with what it hosted. */
export interface Host {
	label: string;
	family: Family;
	proxy: FaultProxy;
	schedule: Fault[];
	connected: boolean;
	/** Set once it was asked to stop (churn or the end of the run). */
	ended: boolean;
	closedAt?: number;
	hasActor(actorId: string): boolean;
	sleepActor(actorId: string): void;
	shutdown(mode: "drain" | "immediate"): Promise<void>;
	/** Actors started and not yet stopped here (by onActorStart/onActorStop). */
	live: Map<string, number>;
	/** The runner ids the engine gave this runner, one per identity (ToClientInit). */
	runnerIds: Set<string>;
}

export interface WorkloadRecord {
	engine: EngineKind;
	seed: number;
	size: WorkloadSize;
	timeouts: WorkloadTimeouts;
	log: EventLog;
	hosts: Host[];
	actors: Record<Family, string[]>;
	writes: WriteRecord[];
	kvCalls: KvCall[];
	states: Map<string, ActorState | { error: string }>;
	/**
	 * Each write's applications, by how it reached the actor: `http:<tunnel request id>` or `ws:<socket's request
	 * id>`. Two HTTP applications with different request ids are the gateway's retry (guard re-sends a request
	 * whose actor stopped before answering, on both engines); the same id twice is a duplicate delivery.
	 */
	deliveries: Map<string, string[]>;
	/** The engine's JSON for each actor not reachable within the recovery bound. */
	unreachableEngineView: Map<string, string>;
	/** Per family: the actor the engine shows running but no live runner of ours hosts, or hosted twice. */
	engineView: {
		actorId: string;
		family: Family;
		problem: string;
	}[];
	/**
	 * The real engine's own faults, kept apart from the invariants: an actor it shows running (or started, never
	 * connectable) after it has itself stopped (declared lost or drained) every runner id of the actor's last runner.
	 */
	engineFindings: { actorId: string; family: Family; finding: string }[];
	recovery: {
		family: Family;
		runner: string;
		connectedMs: number | null;
	}[];
	/** ms after the faults ended until each actor answered GET /state (null: never within the bound). */
	reachableMs: Map<string, number | null>;
	faultsInjected: Record<string, number>;
	engineFaultsDone: { signal: string; atMs: number; backMs: number }[];
	unhandled: string[];
	faultsEndedAt: number;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();
const COUNT_KEY = textEncoder.encode("count");
const LOG_PREFIX = textEncoder.encode("log/");
const logKey = (n: number) =>
	textEncoder.encode(`log/${n.toString().padStart(8, "0")}`);
const RUNNER_NAME: Record<Family, string> = {
	ours: "faults-ours",
	reference: "faults-reference",
};

const hex = (bytes: ArrayBuffer) =>
	Buffer.from(new Uint8Array(bytes)).toString("hex");

const REAL_ENGINE_SIGKILL_STALL_MS = 30_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The KV operations the actor app uses, as both runners name them. */
interface KvRunner {
	kvGet(actorId: string, keys: Uint8Array[]): Promise<(Uint8Array | null)[]>;
	kvPut(actorId: string, entries: [Uint8Array, Uint8Array][]): Promise<void>;
	kvListPrefix(
		actorId: string,
		prefix: Uint8Array,
	): Promise<[Uint8Array, Uint8Array][]>;
	sleepActor(actorId: string, generation?: number): void;
}

interface ActorSocketLike {
	addEventListener(
		type: "message",
		listener: (event: { data: unknown }) => void,
	): void;
	send(data: string): void;
}

/** Runs one workload on a fresh engine of `kind` and returns what happened (the invariants are checked apart). */
export async function runWorkload(
	kind: EngineKind,
	prng: Prng,
	size: WorkloadSize,
	timeouts: WorkloadTimeouts = DEFAULT_TIMEOUTS,
	progress: (line: string) => void = () => {},
	unhandled: string[] = [],
): Promise<WorkloadRecord> {
	const log = new EventLog();
	const writes: WriteRecord[] = [];
	const kvCalls: KvCall[] = [];
	const hosts: Host[] = [];
	const engine: EngineUnderTest = await startEngineUnderTest(kind, {
		runnerLostThresholdMs: timeouts.runnerLostThresholdMs,
		dev: {
			// The engine notices a silent (half-open) runner within a few pings instead of 15 s.
			pingTimeoutMs: Math.max(3 * timeouts.engineSilenceTimeoutMs, 5_000),
			drainWindowMs: timeouts.runnerLostThresholdMs,
			gateway: { retryBaseDelayMs: 50 },
		},
	});
	progress(`${kind} engine up at ${engine.url}`);
	const record: WorkloadRecord = {
		engine: kind,
		seed: prng.seed,
		size,
		timeouts,
		log,
		hosts,
		actors: { ours: [], reference: [] },
		writes,
		kvCalls,
		states: new Map(),
		deliveries: new Map(),
		unreachableEngineView: new Map(),
		engineView: [],
		engineFindings: [],
		recovery: [],
		reachableMs: new Map(),
		faultsInjected: {},
		engineFaultsDone: [],
		unhandled,
		faultsEndedAt: 0,
	};
	try {
		await drive(engine, prng, record, progress);
	} finally {
		for (const host of hosts)
			if (!host.ended) await host.shutdown("immediate").catch(() => {});
		for (const host of hosts) await host.proxy.close();
		// FAULTS_DUMP=<prefix>: keep the real engine's log for a look at what it did (close() removes it).
		if (process.env.FAULTS_DUMP && engine.logPath)
			copyFileSync(engine.logPath, `${process.env.FAULTS_DUMP}-engine.log`);
		await engine.close();
	}
	return record;
}

async function drive(
	engine: EngineUnderTest,
	prng: Prng,
	record: WorkloadRecord,
	progress: (line: string) => void,
): Promise<void> {
	const { size, timeouts, log, hosts, writes, kvCalls } = record;
	if (engine.kind === "rivet")
		for (const family of FAMILIES)
			await declareRunnerConfig(engine, RUNNER_NAME[family]);
	const ourWebSocket = await nodeWebSocket();
	const schedulePrng = prng.fork();
	const schedules: Fault[][] = [];
	const scheduleFor = (index: number): Fault[] => {
		while (schedules.length <= index)
			schedules.push(
				faultSchedule(schedulePrng.fork(), {
					durationMs: size.faultMs,
					engineSilenceTimeoutMs: timeouts.engineSilenceTimeoutMs,
				}),
			);
		return schedules[index] as Fault[];
	};
	let hostSeq = 0;

	/** KV through the runner, recorded with its timing and outcome. */
	const kv = async <T>(
		host: Host,
		actorId: string,
		op: string,
		call: () => Promise<T>,
	): Promise<T> => {
		const entry: KvCall = {
			family: host.family,
			runner: host.label,
			actorId,
			op,
			startedAt: Date.now(),
		};
		kvCalls.push(entry);
		try {
			const value = await call();
			entry.endedAt = Date.now();
			return value;
		} catch (error) {
			entry.endedAt = Date.now();
			entry.error = (error as Error)?.name ?? String(error);
			entry.typed = error instanceof EdgerunnerError;
			throw error;
		}
	};

	const startHost = async (family: Family, index: number): Promise<Host> => {
		const label = `${family === "ours" ? "ours" : "R"}-${++hostSeq}`;
		const schedule = scheduleFor(index);
		const proxy = new FaultProxy(engine.url, {
			seed: prng.int(1, 2 ** 31),
			onFault: (fault) =>
				log.add({
					kind: "fault",
					family,
					runner: label,
					detail: JSON.stringify(fault),
				}),
		});
		const endpoint = await proxy.listen();
		const live = new Map<string, number>();
		const chains = new Map<string, Promise<unknown>>();
		let runner!: KvRunner & {
			hasActor(actorId: string): boolean;
		};
		const host: Host = {
			label,
			family,
			proxy,
			schedule,
			connected: false,
			ended: false,
			live,
			runnerIds: new Set(),
			hasActor: (actorId) => runner.hasActor(actorId),
			sleepActor: (actorId) => runner.sleepActor(actorId),
			shutdown: async () => {},
		};
		/** The write, serialised per actor on this runner: read the count, put count+1 and the log entry. */
		const applyWrite = (
			actorId: string,
			id: string,
			delivery: string,
		): Promise<void> => {
			const run = async () => {
				const [count] = await kv(host, actorId, "get", () =>
					runner.kvGet(actorId, [COUNT_KEY]),
				);
				const n = count ? Number(textDecoder.decode(count)) : 0;
				await kv(host, actorId, "put", () =>
					runner.kvPut(actorId, [
						[COUNT_KEY, textEncoder.encode(String(n + 1))],
						[logKey(n), textEncoder.encode(id)],
					]),
				);
				const deliveries = record.deliveries.get(id) ?? [];
				deliveries.push(delivery);
				record.deliveries.set(id, deliveries);
				log.add({
					kind: "write-applied",
					family,
					runner: label,
					actorId,
					writeId: id,
					detail: `log/${n} ${delivery}`,
				});
			};
			const previous = chains.get(actorId) ?? Promise.resolve();
			const next = previous.then(run, run);
			chains.set(
				actorId,
				next.catch(() => {}),
			);
			return next;
		};
		const readState = async (actorId: string): Promise<ActorState> => {
			const [count] = await kv(host, actorId, "get", () =>
				runner.kvGet(actorId, [COUNT_KEY]),
			);
			const entries = await kv(host, actorId, "list", () =>
				runner.kvListPrefix(actorId, LOG_PREFIX),
			);
			return {
				count: count ? Number(textDecoder.decode(count)) : 0,
				log: entries.map(([, value]) => textDecoder.decode(value)),
			};
		};
		const app = {
			onConnected: () => {
				host.connected = true;
				// The runner id ties our events to the engine's log and its runner list.
				const { runnerId } = runner as { runnerId?: string };
				if (runnerId) host.runnerIds.add(runnerId);
				log.add({
					kind: "runner-connected",
					family,
					runner: label,
					detail: runnerId,
				});
			},
			onDisconnected: (code: number, reason: string) => {
				host.connected = false;
				log.add({
					kind: "runner-disconnected",
					family,
					runner: label,
					detail: `${code} ${reason}`,
				});
			},
			onShutdown: () => {},
			onActorStart: async (actorId: string, generation: number) => {
				live.set(actorId, generation);
				log.add({
					kind: "actor-start",
					family,
					runner: label,
					actorId,
					generation,
				});
			},
			onActorStop: async (actorId: string, generation: number) => {
				live.delete(actorId);
				log.add({
					kind: "actor-stop",
					family,
					runner: label,
					actorId,
					generation,
				});
			},
			fetch: async (
				_runner: unknown,
				actorId: string,
				_gatewayId: unknown,
				requestId: ArrayBuffer,
				request: Request,
			): Promise<Response> => {
				const url = new URL(request.url);
				try {
					if (url.pathname === "/write") {
						const id = url.searchParams.get("id") ?? "";
						await applyWrite(actorId, id, `http:${hex(requestId)}`);
						return new Response(`ack:${id}`);
					}
					if (url.pathname === "/state")
						return Response.json(await readState(actorId));
					if (url.pathname === "/sleep") {
						runner.sleepActor(actorId);
						return new Response("sleeping");
					}
					return new Response("not found", { status: 404 });
				} catch (error) {
					return new Response(`err:${(error as Error)?.name}`, {
						status: 503,
					});
				}
			},
			websocket: async (
				_runner: unknown,
				actorId: string,
				ws: ActorSocketLike,
				_gatewayId: unknown,
				requestId: ArrayBuffer,
			): Promise<void> => {
				const socket = hex(requestId);
				ws.addEventListener("message", (event) => {
					const text = String(event.data);
					if (!text.startsWith("w:")) return;
					const id = text.slice(2);
					applyWrite(actorId, id, `ws:${socket}`).then(
						() => trySend(ws, `ack:${id}`),
						(error: Error) => trySend(ws, `err:${id}:${error?.name}`),
					);
				});
			},
			hibernatableWebSocket: { canHibernate: () => false },
		};
		const common = {
			version: 1,
			endpoint,
			namespace: "default",
			runnerName: RUNNER_NAME[family],
			totalSlots: 10_000,
			prepopulateActorNames: {},
			noAutoShutdown: true,
			...app,
		};
		log.add({ kind: "runner-start", family, runner: label });
		if (family === "ours") {
			const ours = new Runner({
				...common,
				logger: eventLogger(log, family, label),
				platform: { name: "node", WebSocket: ourWebSocket },
				engineSilenceTimeoutMs: timeouts.engineSilenceTimeoutMs,
				kvTimeoutMs: timeouts.kvTimeoutMs,
				drainTimeoutMs: timeouts.runnerLostThresholdMs,
				reconnect: { baseDelayMs: 100, maxDelayMs: 1_000 },
			});
			runner = ours;
			host.shutdown = async (mode) => {
				host.ended = true;
				log.add({
					kind: "runner-shutdown",
					family,
					runner: label,
					detail: mode,
				});
				const report = await ours.shutdown({ mode, reason: "faults" });
				host.closedAt = Date.now();
				log.add({
					kind: "runner-closed",
					family,
					runner: label,
					detail: JSON.stringify({
						mode: report.mode,
						stopped: report.actorsStopped,
						abandoned: report.actorsAbandoned,
					}),
				});
			};
			// A runner may end by itself (the engine evicts it: it shuts down and never reconnects, by design).
			void ours.closed.then((report) => {
				if (host.ended) return;
				host.ended = true;
				host.closedAt = Date.now();
				log.add({
					kind: "runner-closed",
					family,
					runner: label,
					detail: JSON.stringify({
						reason: report.reason,
						mode: report.mode,
						stopped: report.actorsStopped,
						abandoned: report.actorsAbandoned,
					}),
				});
				progress(`${label} ended by itself: ${report.reason}`);
			});
			await ours.start();
		} else {
			const reference = new ReferenceRunner(
				common as unknown as ConstructorParameters<typeof ReferenceRunner>[0],
			);
			runner = reference as unknown as typeof runner;
			host.shutdown = async (mode) => {
				host.ended = true;
				log.add({
					kind: "runner-shutdown",
					family,
					runner: label,
					detail: mode,
				});
				// R's drain can wait on its engine for long: bounded here, as an orchestrator would.
				await Promise.race([
					reference.shutdown(mode === "immediate"),
					sleep(timeouts.runnerLostThresholdMs * 2),
				]);
				host.closedAt = Date.now();
				log.add({ kind: "runner-closed", family, runner: label });
			};
			await reference.start();
		}
		hosts.push(host);
		return host;
	};

	// Runners, then actors (spread by the engine over the runners of their name).
	const slots: Record<Family, Host[]> = { ours: [], reference: [] };
	for (let i = 0; i < size.runners; i++)
		slots.ours.push(await startHost("ours", i));
	for (let i = 0; i < size.referenceRunners; i++)
		slots.reference.push(await startHost("reference", i));
	await untilConnected(hosts, 20_000);
	for (const family of FAMILIES) {
		const count = family === "ours" ? size.actors : size.referenceActors;
		if (slots[family].length === 0) continue;
		record.actors[family] = await createActors(
			engine,
			RUNNER_NAME[family],
			count,
		);
	}
	progress(
		`${hosts.length} runners, ${record.actors.ours.length + record.actors.reference.length} actors`,
	);

	// The fault phase: proxies play their schedules while clients write, actors sleep and runners churn.
	let stopping = false;
	const faultsOver = new AbortController();
	// One listener per proxy (runners and their replacements).
	setMaxListeners(256, faultsOver.signal);
	const faultPhase = hosts.map((host) =>
		host.proxy.run(host.schedule, faultsOver.signal),
	);
	const loops: Promise<void>[] = [];
	let writeSeq = 0;
	for (const family of FAMILIES) {
		const actors = record.actors[family];
		if (actors.length === 0) continue;
		for (let i = 0; i < size.httpWriters; i++) {
			const rng = prng.fork();
			loops.push(
				(async () => {
					while (!stopping) {
						const actorId = rng.pick(actors);
						const id = `${family === "ours" ? "o" : "r"}h${++writeSeq}`;
						const ok = await httpWrite(engine, record, family, actorId, id);
						if (!ok) await sleep(100);
					}
				})(),
			);
		}
		for (let i = 0; i < size.wsWriters; i++) {
			const rng = prng.fork();
			loops.push(
				(async () => {
					while (!stopping) {
						const actorId = rng.pick(actors);
						await wsSession(
							engine,
							record,
							family,
							actorId,
							rng.int(3, 20),
							() => {
								return `${family === "ours" ? "o" : "r"}w${++writeSeq}`;
							},
							() => stopping,
						);
						await sleep(50);
					}
				})(),
			);
		}
		// Sleep and wake: an actor is put to sleep now and then; the next write wakes it.
		const rng = prng.fork();
		loops.push(
			(async () => {
				while (!stopping) {
					await sleep(rng.int(300, 1500));
					if (stopping) break;
					const actorId = rng.pick(actors);
					await engine
						.api(`/gateway/${actorId}/sleep`, {
							method: "POST",
							signal: AbortSignal.timeout(timeouts.writeTimeoutMs),
						})
						.then((r) => r.arrayBuffer())
						.catch(() => {});
				}
			})(),
		);
	}

	// Churn: runners drained or shut down at once in the middle of the faults, each replaced by a new one.
	const churnRng = prng.fork();
	const churnTimes = Array.from({ length: size.churn }, (_, i) =>
		Math.floor(((i + 0.6) * size.faultMs) / Math.max(1, size.churn)),
	);
	/**
	 * Resolves when no engine fault is in progress. Churn waits for it: a runner shut down while the real engine
	 * is down or stalled after a SIGKILL (D19) stays "running" there with its actors (seed 5, 1 min, rivet), an
	 * engine-side finding kept out of the runner's invariants.
	 */
	let engineSettled: Promise<void> = Promise.resolve();
	const churnModes = churnTimes.map((_, i) =>
		i % 2 === 0 ? ("drain" as const) : ("immediate" as const),
	);
	const churnTargets = churnTimes.map(() => churnRng.next());
	const phaseStart = Date.now();
	const churn = (async () => {
		for (let i = 0; i < churnTimes.length; i++) {
			await sleep(Math.max(0, phaseStart + (churnTimes[i] ?? 0) - Date.now()));
			await engineSettled;
			await Promise.all(
				FAMILIES.map(async (family) => {
					const list = slots[family];
					if (list.length === 0) return;
					const slot = Math.floor((churnTargets[i] ?? 0) * list.length);
					const victim = list[slot] as Host;
					const mode = churnModes[i] ?? "drain";
					progress(`churn: ${mode} ${victim.label}`);
					// The replacement comes up first, so the victim's actors have somewhere to go.
					list[slot] = await startHost(family, slot);
					// It plays what is left of its slot's schedule.
					const elapsed = Date.now() - phaseStart;
					const replacement = list[slot] as Host;
					void replacement.proxy.run(
						replacement.schedule
							.filter((f) => f.atMs > elapsed)
							.map((f) => ({ ...f, atMs: f.atMs - elapsed })),
						faultsOver.signal,
					);
					await victim.shutdown(mode).catch(() => {});
				}),
			);
		}
	})();

	// Engine faults: spread over the first half of the faults, so their aftermath falls inside the phase.
	const engineFaults = (async () => {
		for (let i = 0; i < size.engineFaults.length; i++) {
			const signal = size.engineFaults[i] ?? "SIGTERM";
			const atMs = Math.floor(
				((i + 0.25) * size.faultMs) / 2 / size.engineFaults.length,
			);
			await sleep(Math.max(0, phaseStart + atMs - Date.now()));
			log.add({ kind: "engine-fault", detail: signal });
			progress(`engine ${signal}`);
			const began = Date.now();
			const restarted = engine.restart(signal);
			// The real engine's workflows stall ~30 s after a SIGKILL (docs/engine.md D19); a later fault does not
			// end an earlier one's stall.
			engineSettled = Promise.all([
				engineSettled,
				restarted.then(async () => {
					if (engine.kind === "rivet" && signal === "SIGKILL")
						await sleep(REAL_ENGINE_SIGKILL_STALL_MS);
				}),
			]).then(() => {});
			await restarted;
			const backMs = Date.now() - began;
			log.add({ kind: "engine-back", detail: `${signal} after ${backMs} ms` });
			progress(`engine back after ${backMs} ms`);
			record.engineFaultsDone.push({ signal, atMs, backMs });
		}
	})();

	await Promise.all(faultPhase);
	await sleep(Math.max(0, phaseStart + size.faultMs - Date.now()));
	await Promise.all([churn, engineFaults]);
	faultsOver.abort();
	for (const host of hosts) host.proxy.heal();
	record.faultsEndedAt = Date.now();
	log.add({ kind: "faults-end" });
	stopping = true;

	// Recovery, from the moment the faults end: every live runner connected, every actor reachable (a probe of its
	// state, while the writers finish what they had in flight), within the stated bound.
	const live = hosts.filter((host) => !host.ended);
	const deadline = record.faultsEndedAt + timeouts.recoveryBoundMs;
	const connectedProbe = Promise.all(
		live.map(async (host) => {
			while (!host.connected && Date.now() < deadline) await sleep(25);
			record.recovery.push({
				family: host.family,
				runner: host.label,
				connectedMs: host.connected ? Date.now() - record.faultsEndedAt : null,
			});
		}),
	);
	const reachableProbe = Promise.all(
		FAMILIES.map((family) =>
			mapLimit(record.actors[family], 24, async (actorId) => {
				const state = await readState(engine, actorId, deadline, timeouts);
				record.reachableMs.set(
					actorId,
					state ? Date.now() - record.faultsEndedAt : null,
				);
				// What the engine says of an actor nobody could reach: the first clue of where it is stuck.
				if (!state)
					record.unreachableEngineView.set(
						actorId,
						JSON.stringify(await engine.actor(actorId).catch(String)),
					);
			}),
		),
	);
	await Promise.all([...loops, connectedProbe, reachableProbe]);
	progress(`faults ended; ${writes.length} writes sent`);
	for (const family of FAMILIES) {
		const reasons = new Map<string, number>();
		for (const w of writes)
			if (w.family === family && w.error)
				reasons.set(
					w.error.slice(0, 80),
					(reasons.get(w.error.slice(0, 80)) ?? 0) + 1,
				);
		progress(
			`${family} write failures: ${
				[...reasons]
					.sort((a, b) => b[1] - a[1])
					.slice(0, 4)
					.map(([r, n]) => `${n}× ${r}`)
					.join("; ") || "none"
			}`,
		);
	}

	// The read-back, once no write is in flight.
	// Both families at once: one family's unreachable actors must not use up the other's time.
	const readBackBy = Date.now() + timeouts.recoveryBoundMs;
	await Promise.all(
		FAMILIES.map((family) =>
			mapLimit(record.actors[family], 24, async (actorId) => {
				const state = await readState(engine, actorId, readBackBy, timeouts);
				record.states.set(actorId, state ?? { error: "unreachable" });
			}),
		),
	);
	progress("state read back");

	// The engine's view: an actor it shows running must be hosted by exactly one live runner of its family.
	for (const family of FAMILIES) {
		const familyHosts = live.filter((host) => host.family === family);
		await mapLimit(record.actors[family], 8, async (actorId) => {
			let problem: string | undefined;
			for (let attempt = 0; attempt < 10; attempt++) {
				const actor = await engine.actor(actorId).catch(() => undefined);
				const hostedBy = familyHosts.filter((host) => host.hasActor(actorId));
				problem = undefined;
				if (actor && isRunning(actor) && actor.sleep_ts === null) {
					if (hostedBy.length === 0) problem = RUNNING_UNHOSTED;
				}
				if (hostedBy.length > 1)
					problem = `hosted by ${hostedBy.length} live runners: ${hostedBy.map((h) => h.label).join(", ")}`;
				if (!problem) return;
				await sleep(300);
			}
			if (!problem) return;
			const runners = await engineRunners(engine, RUNNER_NAME[family]);
			const finding =
				engine.kind === "rivet" && problem === RUNNING_UNHOSTED
					? leftByTheEngine(record, actorId, runners, "running")
					: undefined;
			if (finding) record.engineFindings.push({ actorId, family, finding });
			else
				record.engineView.push({
					actorId,
					family,
					problem: `${problem}; the engine's runners: ${runners.map(runnerLine).join(" | ")}`,
				});
		});
	}
	// An actor nobody could reach, neither sleeping nor on a live runner: the same question of whose it is.
	if (engine.kind === "rivet")
		for (const family of FAMILIES)
			for (const actorId of record.actors[family]) {
				if (record.reachableMs.get(actorId) !== null) continue;
				if (record.engineFindings.some((f) => f.actorId === actorId)) continue;
				const actor = await engine.actor(actorId).catch(() => undefined);
				if (!actor || actor.sleep_ts !== null || actor.destroy_ts !== null)
					continue;
				const finding = leftByTheEngine(
					record,
					actorId,
					await engineRunners(engine, RUNNER_NAME[family]),
					isRunning(actor)
						? "running"
						: `started but not connectable (start_ts ${clock(actor.start_ts)}, no sleep_ts)`,
				);
				if (finding) record.engineFindings.push({ actorId, family, finding });
			}
	if (record.engineFindings.length > 0)
		await restartClears(engine, record, live, progress);
	for (const host of hosts)
		for (const [kind, n] of Object.entries(host.proxy.stats.injected))
			record.faultsInjected[kind] = (record.faultsInjected[kind] ?? 0) + n;
	// The end: every runner stops (each must report its actors stopped).
	await Promise.all(
		live.map((host) => host.shutdown("immediate").catch(() => {})),
	);
}

const RUNNING_UNHOSTED = "the engine shows it running; no live runner hosts it";
const RESTART_CLEARS_WITHIN_MS = 45_000;

/**
 * What an operator would try on an actor the engine left running: restart the engine (SIGTERM). Each finding then
 * says whether the actor left that state (slept, or runs on a live runner) within the bound.
 */
async function restartClears(
	engine: EngineUnderTest,
	record: WorkloadRecord,
	live: Host[],
	progress: (line: string) => void,
): Promise<void> {
	progress(
		`${record.engineFindings.length} actors left running by the engine: restarting it (SIGTERM)`,
	);
	const began = Date.now();
	await engine.restart("SIGTERM");
	await Promise.all(
		record.engineFindings.map(async (entry) => {
			while (Date.now() - began < RESTART_CLEARS_WITHIN_MS) {
				const actor = await engine.actor(entry.actorId).catch(() => undefined);
				const stuck =
					actor !== undefined &&
					actor.sleep_ts === null &&
					actor.destroy_ts === null &&
					!live.some((host) => host.hasActor(entry.actorId));
				if (actor && !stuck) {
					entry.finding += `; after an engine restart (SIGTERM) it left that state within ${((Date.now() - began) / 1000).toFixed(1)} s`;
					return;
				}
				await sleep(500);
			}
			entry.finding += `; an engine restart (SIGTERM) did not clear it within ${RESTART_CLEARS_WITHIN_MS / 1000} s`;
		}),
	);
}

/** A runner as the engine lists it (`GET /runners`, stopped ones included). */
interface EngineRunner {
	runner_id: string;
	last_connected_ts?: number | null;
	last_ping_ts?: number | null;
	drain_ts?: number | null;
	stop_ts?: number | null;
}

/** The engine's runners of `name`, stopped ones too; empty if it did not answer. */
async function engineRunners(
	engine: EngineUnderTest,
	name: string,
): Promise<EngineRunner[]> {
	try {
		const response = await engine.api(
			`/runners?namespace=default&name=${name}&include_stopped=true&limit=100`,
		);
		return ((await response.json()) as { runners: EngineRunner[] }).runners;
	} catch {
		return [];
	}
}

const clock = (ts: number | null | undefined) =>
	typeof ts === "number" ? new Date(ts).toISOString().slice(11, 23) : "-";

const runnerLine = (r: EngineRunner) =>
	`${r.runner_id} connected ${clock(r.last_connected_ts)} ping ${clock(r.last_ping_ts)} drain ${clock(r.drain_ts)} stop ${clock(r.stop_ts)}`;

/**
 * The engine's fault, when it is one: the actor's last runner has ended and the engine itself has stopped every
 * runner id it had (its lost or drain path sends Lost to each actor it still counts there), yet it shows the actor
 * `state` (running, or started and never connectable), not sleeping. Undefined when any of those ids is not stopped
 * there: then the runner may owe the engine a Stopped.
 */
export function leftByTheEngine(
	record: Pick<WorkloadRecord, "log" | "hosts">,
	actorId: string,
	runners: EngineRunner[],
	state: string,
): string | undefined {
	const lastStart = record.log.events.findLast(
		(e) => e.kind === "actor-start" && e.actorId === actorId,
	);
	const host = record.hosts.find((h) => h.label === lastStart?.runner);
	if (!host?.ended || host.runnerIds.size === 0) return undefined;
	const stopped = [...host.runnerIds].map((id) =>
		runners.find((r) => r.runner_id === id && typeof r.stop_ts === "number"),
	);
	if (stopped.some((r) => r === undefined)) return undefined;
	return `the engine shows it ${state} (generation ${lastStart?.generation} on ${host.label}), though it stopped that runner itself (${(stopped as EngineRunner[]).map((r) => `${r.runner_id} at ${clock(r.stop_ts)}, last ping ${clock(r.last_ping_ts)}`).join("; ")}): the runner's Lost never took effect on the actor`;
}

/** Our runner's warnings and errors, as events of the run: the runner's side of a history. */
function eventLogger(log: EventLog, family: Family, runner: string) {
	const line =
		(level: string) =>
		(fields: object, message = "") =>
			log.add({
				kind: "runner-log",
				family,
				runner,
				detail:
					`${level} ${message} ${JSON.stringify(fields, (_, v) => (typeof v === "bigint" ? String(v) : v))}`.slice(
						0,
						400,
					),
			});
	const quiet = () => {};
	const logger = {
		trace: quiet,
		debug: quiet,
		info: quiet,
		warn: line("warn"),
		error: line("error"),
		child: () => logger,
	};
	return logger;
}

/** GET /state through the gateway, asked again until `deadline`; undefined if it never answered. */
async function readState(
	engine: EngineUnderTest,
	actorId: string,
	deadline: number,
	timeouts: WorkloadTimeouts,
): Promise<ActorState | undefined> {
	for (;;) {
		const left = deadline - Date.now();
		if (left <= 0) return undefined;
		try {
			const response = await engine.api(`/gateway/${actorId}/state`, {
				signal: AbortSignal.timeout(Math.min(left, timeouts.writeTimeoutMs)),
			});
			if (response.ok) return (await response.json()) as ActorState;
			await response.arrayBuffer();
		} catch {
			// not reachable yet
		}
		await sleep(200);
	}
}

function trySend(ws: ActorSocketLike, text: string): void {
	try {
		ws.send(text);
	} catch {
		// the client went away; its write is not acknowledged
	}
}

async function httpWrite(
	engine: EngineUnderTest,
	record: WorkloadRecord,
	family: Family,
	actorId: string,
	id: string,
): Promise<boolean> {
	const write: WriteRecord = {
		id,
		actorId,
		family,
		via: "http",
		sentAt: Date.now(),
	};
	record.writes.push(write);
	record.log.add({ kind: "write-sent", family, actorId, writeId: id });
	try {
		const response = await engine.api(`/gateway/${actorId}/write?id=${id}`, {
			method: "POST",
			signal: AbortSignal.timeout(record.timeouts.writeTimeoutMs),
		});
		const text = await response.text();
		if (response.ok && text === `ack:${id}`) {
			write.ackedAt = Date.now();
			record.log.add({ kind: "write-acked", family, actorId, writeId: id });
			return true;
		}
		write.error = `${response.status} ${text.slice(0, 120)}`;
	} catch (error) {
		write.error = String((error as Error)?.name ?? error);
	}
	write.failedAt = Date.now();
	record.log.add({
		kind: "write-failed",
		family,
		actorId,
		writeId: id,
		detail: write.error,
	});
	return false;
}

/** One client WebSocket to an actor: up to `writes` writes, each awaiting its ack before the next. */
async function wsSession(
	engine: EngineUnderTest,
	record: WorkloadRecord,
	family: Family,
	actorId: string,
	writes: number,
	nextId: () => string,
	stopping: () => boolean,
): Promise<void> {
	const url = `${engine.url.replace("http", "ws")}/gateway/${actorId}/ws`;
	const ws = new WebSocket(url, ["rivet"]);
	ws.on("error", () => {});
	const waiters = new Map<string, (text: string) => void>();
	let closed = false;
	ws.on("message", (data) => {
		const text = data.toString();
		const id = text.startsWith("ack:") ? text.slice(4) : text.split(":")[1];
		if (id !== undefined) waiters.get(id)?.(text);
	});
	ws.on("close", () => {
		closed = true;
		for (const waiter of waiters.values()) waiter("closed");
	});
	try {
		const opened = await new Promise<boolean>((resolve) => {
			const timer = setTimeout(
				() => resolve(false),
				record.timeouts.writeTimeoutMs,
			);
			ws.once("open", () => {
				clearTimeout(timer);
				resolve(true);
			});
			ws.once("close", () => {
				clearTimeout(timer);
				resolve(false);
			});
		});
		if (!opened) return;
		for (let i = 0; i < writes && !closed && !stopping(); i++) {
			const id = nextId();
			const write: WriteRecord = {
				id,
				actorId,
				family,
				via: "ws",
				sentAt: Date.now(),
			};
			record.writes.push(write);
			record.log.add({ kind: "write-sent", family, actorId, writeId: id });
			const answer = await new Promise<string>((resolve) => {
				const timer = setTimeout(
					() => resolve("timeout"),
					record.timeouts.writeTimeoutMs,
				);
				waiters.set(id, (text) => {
					clearTimeout(timer);
					resolve(text);
				});
				try {
					ws.send(`w:${id}`);
				} catch {
					resolve("send failed");
				}
			});
			waiters.delete(id);
			if (answer === `ack:${id}`) {
				write.ackedAt = Date.now();
				record.log.add({ kind: "write-acked", family, actorId, writeId: id });
			} else {
				write.failedAt = Date.now();
				write.error = answer;
				record.log.add({
					kind: "write-failed",
					family,
					actorId,
					writeId: id,
					detail: answer,
				});
				break;
			}
		}
	} finally {
		ws.terminate();
	}
}

async function untilConnected(hosts: Host[], withinMs: number): Promise<void> {
	const deadline = Date.now() + withinMs;
	while (hosts.some((host) => !host.connected)) {
		if (Date.now() > deadline)
			throw new Error(
				`runners not connected within ${withinMs} ms: ${hosts
					.filter((host) => !host.connected)
					.map((host) => host.label)
					.join(", ")}`,
			);
		await sleep(50);
	}
}

/** POST /actors for `count` actors of `runnerName` (crash policy sleep: a lost actor sleeps until its next request). */
async function createActors(
	engine: EngineUnderTest,
	runnerName: string,
	count: number,
): Promise<string[]> {
	const ids: string[] = new Array(count);
	// The real engine answers a create only once the actor is allocated (about a second each), so several at once;
	// with too many at once it answers 500 core.internal_error for a while (asked again until the deadline).
	await mapLimit(
		Array.from({ length: count }, (_, i) => i),
		engine.kind === "rivet" ? 12 : 32,
		async (i) => {
			const deadline = Date.now() + 90_000;
			for (;;) {
				const response = await engine.api("/actors?namespace=default", {
					method: "POST",
					headers: { "content-type": "application/json" },
					body: JSON.stringify({
						name: "counter",
						key: `${runnerName}-${i}`,
						runner_name_selector: runnerName,
						crash_policy: "sleep",
					}),
				});
				const text = await response.text();
				if (response.ok) {
					ids[i] = (
						JSON.parse(text) as { actor: { actor_id: string } }
					).actor.actor_id;
					return;
				}
				if (Date.now() > deadline)
					throw new Error(`POST /actors: ${response.status} ${text}`);
				await sleep(250);
			}
		},
	);
	return ids;
}

async function mapLimit<T>(
	items: readonly T[],
	limit: number,
	fn: (item: T) => Promise<void>,
): Promise<void> {
	let next = 0;
	await Promise.all(
		Array.from({ length: Math.min(limit, items.length) }, async () => {
			while (next < items.length) {
				const item = items[next++] as T;
				await fn(item);
			}
		}),
	);
}
