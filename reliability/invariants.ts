/**
 * The invariants a fault run is checked against, per runner family (ours, and the reference runner R side by side),
 * each with its violations and, for each violation, the shortest history that shows it: the events of the offending
 * write or actor only.
 */
import type {
	Family,
	LoggedEvent,
	WorkloadRecord,
	WriteRecord,
} from "./workload.ts";

export const INVARIANTS = [
	"writes",
	"generations",
	"stopped",
	"kv",
	"unhandled",
	"recovery",
] as const;
export type InvariantName = (typeof INVARIANTS)[number];

export const INVARIANT_TEXT: Record<InvariantName, string> = {
	writes: "no acknowledged write lost or applied twice",
	generations:
		"no actor running two generations at once, on one runner or across runners",
	stopped: "no Stopped event lost",
	kv: "every KV request answered or rejected with its typed error within its bound",
	unhandled: "no unhandled rejection",
	recovery: "every runner recovers within the stated time after the faults end",
};

export interface Violation {
	message: string;
	/** The offending write's or actor's events, in order. */
	history: LoggedEvent[];
}

export interface InvariantResult {
	name: InvariantName;
	family: Family;
	held: boolean;
	/** One line: what was checked, with counts. */
	summary: string;
	violations: Violation[];
}

/** Slack over a KV request's bound for the timer and the event loop on a loaded 2-core machine. */
const KV_BOUND_SLACK_MS = 1_000;

export function checkInvariants(
	record: WorkloadRecord,
	family: Family,
): InvariantResult[] {
	return [
		checkWrites(record, family),
		checkGenerations(record, family),
		checkStopped(record, family),
		checkKv(record, family),
		checkUnhandled(record, family),
		checkRecovery(record, family),
	];
}

const result = (
	name: InvariantName,
	family: Family,
	summary: string,
	violations: Violation[],
): InvariantResult => ({
	name,
	family,
	held: violations.length === 0,
	summary,
	violations,
});

const actorEvents = (record: WorkloadRecord, actorId: string) =>
	record.log.events.filter(
		(e) =>
			e.actorId === actorId &&
			(e.kind === "actor-start" || e.kind === "actor-stop"),
	);

const RUNNER_LIFECYCLE = new Set([
	"runner-connected",
	"runner-disconnected",
	"runner-shutdown",
	"runner-closed",
	"runner-log",
]);

/** The actor's starts and stops, with the connections, shutdowns and warnings of the runners that hosted it. */
const actorAndRunnerEvents = (record: WorkloadRecord, actorId: string) => {
	const runners = new Set(actorEvents(record, actorId).map((e) => e.runner));
	return record.log.events.filter(
		(e) =>
			(e.actorId === actorId &&
				(e.kind === "actor-start" || e.kind === "actor-stop")) ||
			(runners.has(e.runner) && RUNNER_LIFECYCLE.has(e.kind)),
	);
};

/** The actors of `family` the engine left running after stopping their runner itself (WorkloadRecord.engineFindings). */
const engineFindingsOf = (record: WorkloadRecord, family: Family) =>
	new Set(
		record.engineFindings
			.filter((f) => f.family === family)
			.map((f) => f.actorId),
	);

/** The write's own events plus its actor's starts and stops around it. */
function writeHistory(
	record: WorkloadRecord,
	write: WriteRecord,
): LoggedEvent[] {
	const sentT = write.sentAt - record.log.startedAt;
	const endT =
		(write.ackedAt ?? write.failedAt ?? Date.now()) - record.log.startedAt;
	return record.log.events.filter(
		(e) =>
			e.writeId === write.id ||
			(e.actorId === write.actorId &&
				(e.kind === "actor-start" || e.kind === "actor-stop") &&
				e.t >= sentT - 5_000 &&
				e.t <= endT + 5_000),
	);
}

function checkWrites(record: WorkloadRecord, family: Family): InvariantResult {
	const violations: Violation[] = [];
	const writes = record.writes.filter((w) => w.family === family);
	const acked = writes.filter((w) => w.ackedAt !== undefined);
	const byId = new Map(writes.map((w) => [w.id, w]));
	let verified = 0;
	let unverified = 0;
	let gatewayRetries = 0;
	for (const actorId of record.actors[family]) {
		const state = record.states.get(actorId);
		if (!state || "error" in state) continue;
		const seen = new Map<string, number>();
		for (const id of state.log) seen.set(id, (seen.get(id) ?? 0) + 1);
		if (state.count !== state.log.length)
			violations.push({
				message: `actor ${actorId}: count ${state.count} but ${state.log.length} log entries`,
				history: actorEvents(record, actorId),
			});
		for (const [id, n] of seen) {
			if (n < 2) continue;
			const write = byId.get(id);
			const deliveries = record.deliveries.get(id) ?? [];
			// Guard's documented at-least-once retry: each application came as a distinct HTTP tunnel request.
			if (
				deliveries.length === n &&
				deliveries.every((d) => d.startsWith("http:")) &&
				new Set(deliveries).size === n
			) {
				gatewayRetries++;
				continue;
			}
			violations.push({
				message: `write ${id} applied ${n} times to actor ${actorId}${write?.ackedAt ? " (acknowledged)" : ""}`,
				history: write
					? writeHistory(record, write)
					: actorEvents(record, actorId),
			});
		}
	}
	for (const write of acked) {
		const state = record.states.get(write.actorId);
		if (!state || "error" in state) {
			unverified++;
			continue;
		}
		verified++;
		if (!state.log.includes(write.id))
			violations.push({
				message: `acknowledged write ${write.id} (${write.via}) lost: not in actor ${write.actorId}'s log`,
				history: writeHistory(record, write),
			});
	}
	return result(
		"writes",
		family,
		`${acked.length} of ${writes.length} writes acknowledged; ${verified} read back${unverified ? `, ${unverified} on unreachable actors` : ""}; ${gatewayRetries} HTTP writes applied again by the gateway's retry after their actor stopped before answering (guard's at-least-once retry, not a duplicate delivery by the runner)`,
		violations,
	);
}

interface Interval {
	runner: string;
	generation: number;
	start: number;
	end: number;
	startEvent: LoggedEvent;
}

/** Each actor's hosted intervals: from its start on a runner to its stop there (or the runner's close). */
export function hostedIntervals(
	record: WorkloadRecord,
	family: Family,
): Map<string, Interval[]> {
	const closedAt = new Map<string, number>();
	for (const e of record.log.events)
		if (e.kind === "runner-closed" && e.runner) closedAt.set(e.runner, e.t);
	const end = record.log.now();
	const open = new Map<string, Interval>();
	const intervals = new Map<string, Interval[]>();
	for (const e of record.log.events) {
		if (e.family !== family || !e.actorId || !e.runner) continue;
		const key = `${e.actorId} ${e.runner} ${e.generation}`;
		if (e.kind === "actor-start") {
			open.set(key, {
				runner: e.runner,
				generation: e.generation ?? -1,
				start: e.t,
				end: closedAt.get(e.runner) ?? end,
				startEvent: e,
			});
		} else if (e.kind === "actor-stop") {
			const interval = open.get(key);
			if (!interval) continue;
			open.delete(key);
			interval.end = e.t;
			const list = intervals.get(e.actorId) ?? [];
			list.push(interval);
			intervals.set(e.actorId, list);
		}
	}
	for (const interval of open.values()) {
		const actorId = interval.startEvent.actorId as string;
		const list = intervals.get(actorId) ?? [];
		list.push(interval);
		intervals.set(actorId, list);
	}
	return intervals;
}

function checkGenerations(
	record: WorkloadRecord,
	family: Family,
): InvariantResult {
	const violations: Violation[] = [];
	const intervals = hostedIntervals(record, family);
	let starts = 0;
	for (const [actorId, list] of intervals) {
		starts += list.length;
		list.sort((a, b) => a.start - b.start);
		for (let i = 0; i < list.length; i++)
			for (let j = i + 1; j < list.length; j++) {
				const a = list[i] as Interval;
				const b = list[j] as Interval;
				if (b.start >= a.end) continue;
				const runners = new Set([a.runner, b.runner]);
				violations.push({
					message: `actor ${actorId} ran twice at once for ${Math.round(Math.min(a.end, b.end) - b.start)} ms: generation ${a.generation} on ${a.runner} and generation ${b.generation} on ${b.runner}`,
					history: record.log.events.filter(
						(e) =>
							(e.actorId === actorId &&
								(e.kind === "actor-start" || e.kind === "actor-stop")) ||
							(e.runner !== undefined &&
								runners.has(e.runner) &&
								e.actorId === undefined &&
								e.t >= a.start - 1_000 &&
								e.t <= Math.min(a.end, b.end) + 1_000),
					),
				});
			}
	}
	return result(
		"generations",
		family,
		`${starts} actor starts on ${new Set(record.hosts.filter((h) => h.family === family).map((h) => h.label)).size} runners checked for overlap`,
		violations,
	);
}

function checkStopped(record: WorkloadRecord, family: Family): InvariantResult {
	const violations: Violation[] = [];
	const intervals = hostedIntervals(record, family);
	const stoppedKeys = new Set(
		record.log.events
			.filter((e) => e.kind === "actor-stop" && e.family === family)
			.map((e) => `${e.actorId} ${e.runner} ${e.generation}`),
	);
	let checked = 0;
	for (const [actorId, list] of intervals)
		for (const interval of list) {
			const host = record.hosts.find((h) => h.label === interval.runner);
			if (!host?.ended) continue;
			checked++;
			if (
				!stoppedKeys.has(`${actorId} ${interval.runner} ${interval.generation}`)
			)
				violations.push({
					message: `actor ${actorId} generation ${interval.generation} started on ${interval.runner}, which ended without stopping it`,
					history: record.log.events.filter(
						(e) =>
							e.actorId === actorId ||
							(e.runner === interval.runner &&
								(e.kind === "runner-shutdown" || e.kind === "runner-closed")),
					),
				});
		}
	for (const problem of record.engineView.filter((p) => p.family === family))
		violations.push({
			message: `actor ${problem.actorId}: ${problem.problem}`,
			history: actorAndRunnerEvents(record, problem.actorId),
		});
	const engineFaults = engineFindingsOf(record, family).size;
	return result(
		"stopped",
		family,
		`${checked} actor runs on ended runners each stopped; ${record.actors[family].length} actors' engine state compared with the live runners${engineFaults ? ` (${engineFaults} left running by the engine after it stopped their runner: engine findings)` : ""}`,
		violations,
	);
}

function checkKv(record: WorkloadRecord, family: Family): InvariantResult {
	const violations: Violation[] = [];
	const calls = record.kvCalls.filter((c) => c.family === family);
	const bound = record.timeouts.kvTimeoutMs + KV_BOUND_SLACK_MS;
	const now = Date.now();
	let rejected = 0;
	let maxMs = 0;
	for (const call of calls) {
		const took = (call.endedAt ?? now) - call.startedAt;
		maxMs = Math.max(maxMs, took);
		if (call.error) rejected++;
		// Built only for a violation: the log holds every event of the run.
		const history = () =>
			record.log.events.filter(
				(e) =>
					((e.actorId === call.actorId &&
						(e.kind === "actor-start" || e.kind === "actor-stop")) ||
						(e.runner === call.runner && e.actorId === undefined)) &&
					e.t >= call.startedAt - record.log.startedAt - 1_000 &&
					e.t <= (call.endedAt ?? now) - record.log.startedAt + 1_000,
			);
		if (call.endedAt === undefined)
			violations.push({
				message: `KV ${call.op} for actor ${call.actorId} on ${call.runner} never settled (${took} ms)`,
				history: history(),
			});
		else if (took > bound)
			violations.push({
				message: `KV ${call.op} for actor ${call.actorId} on ${call.runner} settled after ${took} ms (bound ${bound} ms)${call.error ? `: ${call.error}` : ""}`,
				history: history(),
			});
		else if (call.error && family === "ours" && !call.typed)
			violations.push({
				message: `KV ${call.op} for actor ${call.actorId} on ${call.runner} rejected with an untyped ${call.error}`,
				history: history(),
			});
	}
	return result(
		"kv",
		family,
		`${calls.length} KV requests, ${rejected} rejected; slowest ${maxMs} ms (bound ${record.timeouts.kvTimeoutMs} ms + ${KV_BOUND_SLACK_MS} ms)`,
		violations,
	);
}

/** The reference runner's own rejections are told apart by their stack (its package path). */
const isReferenceStack = (text: string) => text.includes("engine-runner");

function checkUnhandled(
	record: WorkloadRecord,
	family: Family,
): InvariantResult {
	const mine = record.unhandled.filter(
		(text) => isReferenceStack(text) === (family === "reference"),
	);
	return result(
		"unhandled",
		family,
		`${mine.length} unhandled rejections or uncaught exceptions`,
		mine.map((text) => ({ message: text.slice(0, 600), history: [] })),
	);
}

function checkRecovery(
	record: WorkloadRecord,
	family: Family,
): InvariantResult {
	const violations: Violation[] = [];
	const bound = record.timeouts.recoveryBoundMs;
	for (const r of record.recovery.filter((r) => r.family === family))
		if (r.connectedMs === null)
			violations.push({
				message: `runner ${r.runner} not connected within ${bound} ms after the faults ended`,
				history: record.log.events
					.filter((e) => e.runner === r.runner && e.actorId === undefined)
					.slice(-12),
			});
	// An actor the engine itself left running (an engine finding) cannot answer; that is not a runner's recovery.
	const leftByEngine = engineFindingsOf(record, family);
	for (const actorId of record.actors[family])
		if (record.reachableMs.get(actorId) === null && !leftByEngine.has(actorId))
			violations.push({
				message: `actor ${actorId} not reachable within ${bound} ms after the faults ended; the engine shows ${record.unreachableEngineView.get(actorId) ?? "?"}`,
				history: actorEvents(record, actorId).slice(-12),
			});
	const connected = record.recovery
		.filter((r) => r.family === family && r.connectedMs !== null)
		.map((r) => r.connectedMs as number);
	const reachable = record.actors[family]
		.map((id) => record.reachableMs.get(id))
		.filter((ms): ms is number => typeof ms === "number");
	return result(
		"recovery",
		family,
		`${connected.length} runners connected (max ${Math.max(0, ...connected)} ms), ${reachable.length} of ${record.actors[family].length} actors reachable (max ${Math.max(0, ...reachable)} ms) after the faults${leftByEngine.size ? ` (${leftByEngine.size} left running by the engine: engine findings)` : ""}; bound ${bound} ms`,
		violations,
	);
}

/** A violation as text: the message, then its history one event a line. */
export function formatViolation(
	seed: number,
	engine: string,
	result: InvariantResult,
	violation: Violation,
): string {
	const lines = violation.history.map(
		(e) =>
			`    ${String(e.t).padStart(7)} ms ${e.kind}${e.runner ? ` ${e.runner}` : ""}${e.actorId ? ` actor=${e.actorId}` : ""}${e.generation !== undefined ? ` gen=${e.generation}` : ""}${e.writeId ? ` write=${e.writeId}` : ""}${e.detail ? ` ${e.detail}` : ""}`,
	);
	return [
		`[seed ${seed}, ${engine} engine, ${result.family}] ${INVARIANT_TEXT[result.name]}: ${violation.message}`,
		...lines,
	].join("\n");
}

/** An engine finding as text, like a violation: the finding, then the actor's starts and stops and its runner's end. */
export function formatEngineFinding(
	seed: number,
	record: WorkloadRecord,
	finding: WorkloadRecord["engineFindings"][number],
): string {
	const history = actorAndRunnerEvents(record, finding.actorId).filter(
		(e) => e.kind !== "runner-disconnected" && e.kind !== "runner-log",
	);
	return formatViolation(
		seed,
		record.engine,
		{
			name: "stopped",
			family: finding.family,
			held: false,
			summary: "",
			violations: [],
		},
		{ message: `actor ${finding.actorId}: ${finding.finding}`, history },
	);
}
