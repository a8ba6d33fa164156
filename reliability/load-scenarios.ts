/**
 * The load scenarios (issue 12 §3), each on a fresh engine (dev or the real Rivet Engine) with the runner, ours or
 * R, in a child process of its own: many actors, many client WebSockets, sustained HTTP, and SIGTERM under
 * in-flight requests. Each returns its figures and its checks; a check of ours that fails is what makes
 * `npm run load` exit non-zero (R's are findings).
 */
import { Agent } from "node:http";
import { performance } from "node:perf_hooks";
import {
	type LatencyPercentiles,
	latencyPercentiles,
} from "../bench/latency-percentiles.ts";
import {
	declareRunnerConfig,
	type EngineKind,
	type EngineUnderTest,
	startEngineUnderTest,
	untilRunnerListed,
} from "../tests/helpers/engines.ts";
import {
	createActors,
	gatewayUrl,
	type HttpOutcome,
	httpCall,
	openEchoSocket,
	outcomeKind,
	tally,
	untilAllRoutable,
} from "./load-clients.ts";
import { RunnerProcess, type Terminated } from "./load-runner-process.ts";

export type RunnerKindName = "ours" | "reference";

export interface Check {
	/** The same check in every run of a scenario ("sigterm:report"), to pair ours with R's. */
	key: string;
	engine: EngineKind;
	/** What must hold, with the counts that show it. */
	what: string;
	held: boolean;
	/** Ours: a failure fails the run. R: a finding. */
	runner: RunnerKindName;
}

/** API creates in flight at once: the real engine refuses or stalls creates under more (bench/real-engine-measure). */
export const CREATE_CONCURRENCY: Record<EngineKind, number> = {
	dev: 32,
	rivet: 2,
};

const ROUTABLE_WITHIN_MS = 60_000;

interface Session {
	engine: EngineUnderTest;
	runnerName: string;
	runner: RunnerProcess;
}

async function openSession(
	engineKind: EngineKind,
	kind: RunnerKindName,
	label: string,
	drainBudgetMs = 10_000,
): Promise<Session> {
	const engine = await startEngineUnderTest(engineKind);
	const runnerName = `load-${label}-${kind}`;
	try {
		await declareRunnerConfig(engine, runnerName);
		const runner = await RunnerProcess.start({
			kind,
			endpoint: engine.url,
			runnerName,
			holds: true,
			drainBudgetMs,
		});
		try {
			await untilRunnerListed(engine, (r) => r.name === runnerName);
		} catch (error) {
			await runner.kill();
			throw error;
		}
		return { engine, runnerName, runner };
	} catch (error) {
		await engine.close();
		throw error;
	}
}

async function closeSession(session: Session): Promise<void> {
	await session.runner.stop();
	await session.engine.close();
}

/** Starts `count` actors on the session's runner; resolves with the creates and the ms until all started. */
async function startActors(
	session: Session,
	engineKind: EngineKind,
	count: number,
	timeoutMs: number,
) {
	const before = session.runner.counts.started;
	const created = await createActors(
		session.engine,
		session.runnerName,
		count,
		CREATE_CONCURRENCY[engineKind],
	);
	const start = performance.now() - created.ms;
	await session.runner.until(
		() => session.runner.counts.started >= before + created.actorIds.length,
		timeoutMs,
		`${created.actorIds.length} actors started`,
	);
	return { created, startedMs: performance.now() - start };
}

// ---------------------------------------------------------------------------------------------------------------
// Many actors on one runner

export interface ActorsResult {
	engine: EngineKind;
	runner: RunnerKindName;
	requested: number;
	created: number;
	started: number;
	createFailures: Record<string, number>;
	/** ms from the first create to the last actor's onActorStart in the runner. */
	allStartedMs: number;
	heapPerActorBytes: number;
	rssPerActorBytes: number;
	heapBeforeBytes: number;
	heapAfterBytes: number;
	checks: Check[];
}

export async function actorsOnOneRunner(
	engineKind: EngineKind,
	kind: RunnerKindName,
	count: number,
	timeoutMs: number,
): Promise<ActorsResult> {
	const session = await openSession(engineKind, kind, "actors");
	try {
		const before = await session.runner.memory();
		const { created, startedMs } = await startActors(
			session,
			engineKind,
			count,
			timeoutMs,
		);
		const after = await session.runner.memory();
		const started = session.runner.counts.started;
		const n = Math.max(1, started);
		return {
			engine: engineKind,
			runner: kind,
			requested: count,
			created: created.actorIds.length,
			started,
			createFailures: created.failures,
			allStartedMs: startedMs,
			heapPerActorBytes: (after.heapUsed - before.heapUsed) / n,
			rssPerActorBytes: (after.rss - before.rss) / n,
			heapBeforeBytes: before.heapUsed,
			heapAfterBytes: after.heapUsed,
			checks: [
				{
					key: "actors:started-once",
					engine: engineKind,
					what: `${kind} on the ${engineKind} engine: every actor the API created started once in the runner (${started} started, ${created.actorIds.length} created)`,
					held: started === created.actorIds.length,
					runner: kind,
				},
			],
		};
	} finally {
		await closeSession(session);
	}
}

// ---------------------------------------------------------------------------------------------------------------
// Many client WebSockets through the gateway

export interface SocketsResult {
	engine: EngineKind;
	runner: RunnerKindName;
	requested: number;
	/** Opened and echoed one message. */
	opened: number;
	failures: Record<string, number>;
	/** ms to open them all (and see each one's echo). */
	openMs: number;
	heapPerSocketBytes: number;
	rssPerSocketBytes: number;
	runnerOpened: number;
	runnerClosed: number;
	checks: Check[];
}

const SOCKET_BATCH = 100;
const SOCKET_OPEN_TIMEOUT_MS = 30_000;

export async function clientWebSockets(
	engineKind: EngineKind,
	kind: RunnerKindName,
	count: number,
	actorCount: number,
	timeoutMs: number,
): Promise<SocketsResult> {
	const session = await openSession(engineKind, kind, "sockets");
	const { engine, runner } = session;
	const sockets: import("ws").WebSocket[] = [];
	try {
		const { created } = await startActors(
			session,
			engineKind,
			actorCount,
			timeoutMs,
		);
		const actorIds = created.actorIds;
		await untilAllRoutable(engine, actorIds, runner.pid, ROUTABLE_WITHIN_MS);
		const before = await runner.memory();
		const failures: string[] = [];
		const start = performance.now();
		for (let i = 0; i < count; i += SOCKET_BATCH) {
			const batch = await Promise.all(
				Array.from({ length: Math.min(SOCKET_BATCH, count - i) }, (_, j) =>
					openEchoSocket(
						engine,
						actorIds[(i + j) % actorIds.length] as string,
						SOCKET_OPEN_TIMEOUT_MS,
					),
				),
			);
			for (const { socket, failure } of batch) {
				if (socket) sockets.push(socket);
				else failures.push(failure ?? "unknown");
			}
		}
		const openMs = performance.now() - start;
		const after = await runner.memory();
		const runnerOpened = runner.counts.socketsOpened;
		const opened = sockets.length;
		for (const socket of sockets.splice(0)) socket.close(1000, "done");
		let closedOnRunner = true;
		try {
			await runner.until(
				() => runner.counts.socketsClosed >= runner.counts.socketsOpened,
				timeoutMs,
				"every socket closed",
			);
		} catch {
			closedOnRunner = false;
		}
		const n = Math.max(1, opened);
		return {
			engine: engineKind,
			runner: kind,
			requested: count,
			opened,
			failures: tally(failures),
			openMs,
			heapPerSocketBytes: (after.heapUsed - before.heapUsed) / n,
			rssPerSocketBytes: (after.rss - before.rss) / n,
			runnerOpened,
			runnerClosed: runner.counts.socketsClosed,
			checks: [
				{
					// A socket the client gave up on (open timeout) may still have reached the actor: at least, not exactly.
					key: "sockets:reached",
					engine: engineKind,
					what: `${kind} on the ${engineKind} engine: every socket a client opened and saw echoed reached an actor (${runnerOpened} seen at the actors, ${opened} opened and echoed, ${count - opened} failed at the client)`,
					held:
						runnerOpened >= opened && runnerOpened <= opened + (count - opened),
					runner: kind,
				},
				{
					key: "sockets:closed",
					engine: engineKind,
					what: `${kind} on the ${engineKind} engine: every socket the clients closed was closed at the actor within ${timeoutMs / 1000} s (${runner.counts.socketsClosed}/${runner.counts.socketsOpened})`,
					held: closedOnRunner,
					runner: kind,
				},
			],
		};
	} finally {
		for (const socket of sockets) socket.terminate();
		await closeSession(session);
	}
}

// ---------------------------------------------------------------------------------------------------------------
// Sustained HTTP

export interface LatencyWindow {
	/** Seconds since the load began, at the window's start. */
	fromS: number;
	requests: number;
	/** Answered 200 with the whole echo; percentiles over these. */
	answered: number;
	percentiles: LatencyPercentiles | null;
	failures: Record<string, number>;
}

export interface SustainedResult {
	engine: EngineKind;
	runner: RunnerKindName;
	seconds: number;
	concurrency: number;
	windows: LatencyWindow[];
	total: { requests: number; answered: number; perSec: number };
	overall: LatencyPercentiles | null;
	failures: Record<string, number>;
	heapStartBytes: number;
	heapEndBytes: number;
	checks: Check[];
}

const HTTP_BODY = new Uint8Array(1024).fill(120);
const HTTP_TIMEOUT_MS = 15_000;

export async function sustainedHttp(
	engineKind: EngineKind,
	kind: RunnerKindName,
	seconds: number,
	concurrency: number,
	windowSeconds: number,
	timeoutMs: number,
): Promise<SustainedResult> {
	const session = await openSession(engineKind, kind, "http");
	const { engine, runner } = session;
	const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
	try {
		const { created } = await startActors(session, engineKind, 4, timeoutMs);
		const actorIds = created.actorIds;
		await untilAllRoutable(engine, actorIds, runner.pid, ROUTABLE_WITHIN_MS);
		const heapStart = (await runner.memory()).heapUsed;
		const windowCount = Math.max(1, Math.ceil(seconds / windowSeconds));
		const latencies: number[][] = Array.from({ length: windowCount }, () => []);
		const kinds: string[][] = Array.from({ length: windowCount }, () => []);
		const start = performance.now();
		const end = start + seconds * 1000;
		const worker = async (w: number) => {
			let i = w;
			while (performance.now() < end) {
				const sentAt = performance.now();
				const actorId = actorIds[i++ % actorIds.length] as string;
				const outcome: HttpOutcome = await httpCall(
					agent,
					gatewayUrl(engine, actorId, "/echo"),
					{
						method: "POST",
						body: HTTP_BODY,
						timeoutMs: HTTP_TIMEOUT_MS,
						...(engine.token ? { token: engine.token } : {}),
					},
				);
				const window = Math.min(
					windowCount - 1,
					Math.floor((sentAt - start) / (windowSeconds * 1000)),
				);
				const kindOf =
					outcome.ok &&
					outcome.status === 200 &&
					outcome.body.length !== HTTP_BODY.byteLength
						? "short body"
						: outcomeKind(outcome);
				kinds[window]?.push(kindOf);
				if (kindOf === "2xx") latencies[window]?.push(outcome.ms);
			}
		};
		await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
		const elapsed = (performance.now() - start) / 1000;
		const heapEnd = (await runner.memory()).heapUsed;
		const windows: LatencyWindow[] = latencies.map((values, w) => {
			const counts = tally(kinds[w] ?? []);
			delete counts["2xx"];
			return {
				fromS: w * windowSeconds,
				requests: kinds[w]?.length ?? 0,
				answered: values.length,
				percentiles: values.length ? latencyPercentiles(values) : null,
				failures: counts,
			};
		});
		const all = latencies.flat();
		const failures = tally(kinds.flat().filter((k) => k !== "2xx"));
		const requests = kinds.flat().length;
		const hung = failures.timeout ?? 0;
		return {
			engine: engineKind,
			runner: kind,
			seconds,
			concurrency,
			windows,
			total: { requests, answered: all.length, perSec: all.length / elapsed },
			overall: all.length ? latencyPercentiles(all) : null,
			failures,
			heapStartBytes: heapStart,
			heapEndBytes: heapEnd,
			checks: [
				{
					key: "http:none-hung",
					engine: engineKind,
					what: `${kind} on the ${engineKind} engine, ${seconds} s of HTTP at ${concurrency} in flight: no request hung past ${HTTP_TIMEOUT_MS / 1000} s (${hung} of ${requests})`,
					held: hung === 0,
					runner: kind,
				},
			],
		};
	} finally {
		agent.destroy();
		await closeSession(session);
	}
}

// ---------------------------------------------------------------------------------------------------------------
// SIGTERM under in-flight requests

export interface SigtermOptions {
	requests: number;
	actors: number;
	/** Actors whose held requests never answer: they cannot stop within the drain budget. */
	stuckActors: number;
	/** Ours: TerminationOptions.drainTimeoutMs. */
	drainBudgetMs: number;
	/** The runner process must exit this long after SIGTERM; it is killed after it (`exitedInTime` false). */
	exitBoundMs: number;
	/** A request unanswered this long after it was sent counts as hung. */
	requestBoundMs: number;
	timeoutMs: number;
}

export interface SigtermResult {
	engine: EngineKind;
	runner: RunnerKindName;
	options: SigtermOptions;
	/** Requests that ended before SIGTERM (a gateway error before they reached the runner), by kind. */
	endedBeforeSigterm: Record<string, number>;
	/** Per outcome kind: "2xx from the drained runner", "2xx from its replacement", "503 guard.…", "timeout", … */
	outcomes: Record<string, number>;
	/** Responses the drained runner's app produced that never reached their client. */
	lostResponses: number;
	/** ms from SIGTERM to the runner process's exit (or to its kill, when it did not exit in time). */
	drainMs: number;
	exitedInTime: boolean;
	/** ms from the replacement runner's spawn until every actor answered from it. */
	recoverMs: number;
	/** ms from SIGTERM until every actor answered from the replacement. */
	sigtermToRecoveredMs: number;
	/** The slowest request, ms from send to outcome. */
	slowestMs: number;
	terminated: Terminated | null;
	exit: { code: number | null; signal: string | null };
	checks: Check[];
}

const ANSWERED_OLD = "2xx from the drained runner";
const ANSWERED_NEW = "2xx from its replacement";

export async function sigtermInFlight(
	engineKind: EngineKind,
	kind: RunnerKindName,
	options: SigtermOptions,
): Promise<SigtermResult> {
	const { requests, actors, stuckActors, drainBudgetMs } = options;
	const session = await openSession(engineKind, kind, "sigterm", drainBudgetMs);
	const { engine, runner: old } = session;
	let replacement: RunnerProcess | undefined;
	const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
	try {
		const { created } = await startActors(
			session,
			engineKind,
			actors,
			options.timeoutMs,
		);
		const actorIds = created.actorIds;
		if (actorIds.length < actors)
			throw new Error(
				`only ${actorIds.length}/${actors} actors created: ${JSON.stringify(created.failures)}`,
			);
		await untilAllRoutable(engine, actorIds, old.pid, ROUTABLE_WITHIN_MS);
		const stuck = new Set(actorIds.slice(0, stuckActors));
		const receivedBefore = old.counts.received;
		const settledEarly: string[] = [];
		let sigtermSent = false;
		// Request i goes to actor i mod A; a stuck actor's requests never answer, the others' answer 0–500 ms after
		// their actor was told to stop.
		const calls = Array.from({ length: requests }, (_, i) => {
			const actorId = actorIds[i % actorIds.length] as string;
			const after = stuck.has(actorId) ? "never" : String((i * 37) % 500);
			return httpCall(
				agent,
				gatewayUrl(engine, actorId, `/hold?after=${after}`),
				{
					headers: { "x-load-id": String(i) },
					timeoutMs: options.requestBoundMs,
					...(engine.token ? { token: engine.token } : {}),
				},
			).then((outcome) => {
				const beforeSigterm = !sigtermSent;
				if (beforeSigterm) settledEarly.push(outcomeKind(outcome));
				return { i, actorId, outcome, beforeSigterm };
			});
		});
		// Every request is in the runner's handlers, or already ended (a gateway error before it reached the runner).
		try {
			await old.until(
				() =>
					old.counts.received - receivedBefore + settledEarly.length >=
					requests,
				options.timeoutMs,
				`${requests} requests in flight`,
			);
		} catch (error) {
			throw new Error(
				`${String(error)}; ended before SIGTERM: ${JSON.stringify(tally(settledEarly))}`,
			);
		}
		const endedBeforeSigterm = tally(settledEarly);
		const sigtermAt = performance.now();
		sigtermSent = true;
		old.sigterm();
		// R's drain waits up to 120 s for its actors (not configurable): bounded here, then killed and said so.
		const exitedInTime = await Promise.race([
			old.exited.then(() => true),
			new Promise<false>((resolve) =>
				setTimeout(() => resolve(false), options.exitBoundMs).unref(),
			),
		]);
		if (!exitedInTime) await old.kill();
		const exit = await old.exited;
		const drainMs = old.exitedAt - sigtermAt;
		const spawnAt = performance.now();
		replacement = await RunnerProcess.start({
			kind,
			endpoint: engine.url,
			runnerName: session.runnerName,
			holds: false,
			drainBudgetMs,
		});
		const newPid = replacement.pid;
		let recoverMs = Number.NaN;
		let recovered = true;
		try {
			await untilAllRoutable(engine, actorIds, newPid, options.timeoutMs);
			recoverMs = performance.now() - spawnAt;
		} catch {
			recovered = false;
		}
		const sigtermToRecoveredMs = performance.now() - sigtermAt;
		const settled = await Promise.all(calls);
		const kindOf = (outcome: HttpOutcome) =>
			outcome.ok && outcome.status >= 200 && outcome.status < 300
				? outcome.pid === old.pid
					? ANSWERED_OLD
					: outcome.pid === newPid
						? ANSWERED_NEW
						: `2xx from pid ${outcome.pid}`
				: outcomeKind(outcome);
		const outcomes = tally(settled.map(({ outcome }) => kindOf(outcome)));
		const terminated = old.terminated ?? null;
		const answeredByOld = new Set(
			settled
				.filter(({ outcome }) => kindOf(outcome) === ANSWERED_OLD)
				.map(({ i }) => i),
		);
		const producedByOld = terminated?.answeredIds ?? [];
		const lostResponses = producedByOld.filter((i) => !answeredByOld.has(i));
		const actorOf = (i: number) => actorIds[i % actorIds.length] as string;
		const lostActors = new Set(lostResponses.map(actorOf));
		// What the clients saw of each actor: every request in flight at SIGTERM answered by the drained runner (it
		// stopped the actor gracefully), or not (the runner gave the actor up when its drain budget ran out).
		const abandonedSeen = new Set(
			settled
				.filter(
					({ outcome, beforeSigterm }) =>
						!beforeSigterm && kindOf(outcome) !== ANSWERED_OLD,
				)
				.map(({ actorId }) => actorId),
		);
		const hung = outcomes.timeout ?? 0;
		const slowestMs = Math.max(...settled.map(({ outcome }) => outcome.ms));
		const label = `${kind} on the ${engineKind} engine, SIGTERM under ${requests} in-flight requests`;
		const checks: Check[] = [
			{
				key: "sigterm:exited",
				engine: engineKind,
				what: `${label}: the runner process exited within ${options.exitBoundMs / 1000} s of SIGTERM (${exitedInTime ? `${Math.round(drainMs)} ms` : "killed"})`,
				held: exitedInTime,
				runner: kind,
			},
			{
				key: "sigterm:outcomes",
				engine: engineKind,
				what: `${label}: every request has an outcome (${settled.length}/${requests}) and none hung past ${options.requestBoundMs / 1000} s (${hung} did)`,
				held: settled.length === requests && hung === 0,
				runner: kind,
			},
			{
				key: "sigterm:recovered",
				engine: engineKind,
				what: `${label}: every actor answered from the replacement runner within ${options.timeoutMs / 1000} s`,
				held: recovered,
				runner: kind,
			},
		];
		if (kind === "ours") {
			const report = terminated?.report;
			const expectedMode = abandonedSeen.size > 0 ? "immediate" : "drain";
			checks.push(
				{
					key: "sigterm:report",
					engine: engineKind,
					what: `${label}: the drain report matches what the clients saw: reason signal:SIGTERM (${report?.reason}), mode ${expectedMode} (${report?.mode}), ${actors - abandonedSeen.size} actors stopped with every in-flight request answered (report: ${report?.actorsStopped}), ${abandonedSeen.size} abandoned with some not (report: ${report?.actorsAbandoned}), exit code 143 (${terminated?.exitCode}, process ${exit.code ?? exit.signal})`,
					held:
						report != null &&
						report.reason === "signal:SIGTERM" &&
						report.mode === expectedMode &&
						report.actorsStopped === actors - abandonedSeen.size &&
						report.actorsAbandoned === abandonedSeen.size &&
						terminated?.exitCode === 143 &&
						exit.code === 143,
					runner: kind,
				},
				{
					key: "sigterm:lost",
					engine: engineKind,
					what: `${label}: no response the app produced was lost for an actor the runner stopped gracefully (${producedByOld.length} produced, ${answeredByOld.size} delivered; ${lostResponses.length} produced for ${lostActors.size} of the ${report?.actorsAbandoned ?? "?"} abandoned actors after the runner gave them up)`,
					held:
						report != null &&
						[...lostActors].every((actorId) => abandonedSeen.has(actorId)) &&
						lostActors.size <= report.actorsAbandoned,
					runner: kind,
				},
			);
		} else {
			checks.push({
				key: "sigterm:lost",
				engine: engineKind,
				what: `${label}: every response the drained runner's app produced reached its client (${producedByOld.length} produced, ${answeredByOld.size} delivered${lostResponses.length ? `; lost: ${lostResponses.length}, on ${lostActors.size} actors, each then retried on the replacement` : ""})`,
				held: terminated !== null && lostResponses.length === 0,
				runner: kind,
			});
		}
		return {
			engine: engineKind,
			runner: kind,
			options,
			endedBeforeSigterm,
			outcomes,
			lostResponses: lostResponses.length,
			drainMs,
			exitedInTime,
			recoverMs,
			sigtermToRecoveredMs,
			slowestMs,
			terminated,
			exit,
			checks,
		};
	} finally {
		agent.destroy();
		await replacement?.stop();
		await closeSession(session);
	}
}
