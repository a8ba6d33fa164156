import type * as protocol from "@rivetkit/engine-runner-protocol";
import { BoundedLog } from "./bounded-log.ts";

/** One runner socket opening or closing, as the inspector's connection log shows it. */
export interface ConnectionLogEntry {
	ts: number;
	kind: "connected" | "closed";
	runnerId: string | null;
	runnerName: string | null;
	runnerKey: string | null;
	/** Close code and reason (closes only). */
	code: number | null;
	reason: string | null;
}

/** One command sent to, or one event received from, a runner about an actor. */
export interface ActorHistoryEntry {
	ts: number;
	direction: "command" | "event";
	generation: number;
	index: number;
	/** `start`, `stop`, `intent sleep`, `intent stop`, `running`, `stopped`, `alarm`. */
	kind: string;
	/** Stop code for `stopped` events (`Ok`/`Error`). */
	code: string | null;
	message: string | null;
}

export interface RunnerLiveness {
	/** Round trip of the last ping, from the ping's own timestamp echoed in the pong. */
	rttMs: number;
	lastPongTs: number;
}

/** Bounds: the inspector's memory stays flat however long the engine runs. */
export const CONNECTION_LOG_CAPACITY = 500;
export const ACTOR_HISTORY_CAPACITY = 200;
export const TRACKED_ACTORS_CAPACITY = 2000;
export const TRACKED_RUNNERS_CAPACITY = 1000;

/**
 * What the engine tells the inspector as it happens: runner sockets, commands, events, pongs, KV writes. Every
 * history is bounded; `onChange` fires after each observation (the feed coalesces them).
 */
export class EngineObserver {
	readonly connections = new BoundedLog<ConnectionLogEntry>(
		CONNECTION_LOG_CAPACITY,
	);
	/** Insertion-ordered, so the least recently touched actor is the first one dropped past the cap. */
	readonly #histories = new Map<string, BoundedLog<ActorHistoryEntry>>();
	readonly #liveness = new Map<string, RunnerLiveness>();
	onChange: (actorId?: string) => void = () => {};

	runnerConnected(runner: {
		runnerId: string;
		name: string;
		key: string;
	}): void {
		this.connections.push({
			ts: Date.now(),
			kind: "connected",
			runnerId: runner.runnerId,
			runnerName: runner.name,
			runnerKey: runner.key,
			code: null,
			reason: null,
		});
		this.onChange();
	}

	runnerClosed(
		runner: { runnerId: string; name: string; key: string } | undefined,
		code: number,
		reason: string,
	): void {
		this.connections.push({
			ts: Date.now(),
			kind: "closed",
			runnerId: runner?.runnerId ?? null,
			runnerName: runner?.name ?? null,
			runnerKey: runner?.key ?? null,
			code,
			reason,
		});
		this.onChange();
	}

	pong(runnerId: string, pingTs: bigint, now = Date.now()): void {
		this.#liveness.set(runnerId, {
			rttMs: Math.max(0, now - Number(pingTs)),
			lastPongTs: now,
		});
		if (this.#liveness.size > TRACKED_RUNNERS_CAPACITY) {
			const oldest = this.#liveness.keys().next().value;
			if (oldest !== undefined) this.#liveness.delete(oldest);
		}
		this.onChange();
	}

	liveness(runnerId: string): RunnerLiveness | undefined {
		return this.#liveness.get(runnerId);
	}

	commands(commands: readonly protocol.CommandWrapper[]): void {
		for (const { checkpoint, inner } of commands) {
			this.#record(checkpoint, "command", {
				kind: inner.tag === "CommandStartActor" ? "start" : "stop",
				code: null,
				message: null,
			});
		}
	}

	events(events: readonly protocol.EventWrapper[]): void {
		for (const { checkpoint, inner } of events) {
			this.#record(checkpoint, "event", describeEvent(inner));
		}
	}

	/** A KV request ran: writes change what an actor's page shows. */
	kv(actorId: string, request: protocol.KvRequestData): void {
		if (request.tag !== "KvGetRequest" && request.tag !== "KvListRequest")
			this.onChange(actorId);
	}

	history(actorId: string): ActorHistoryEntry[] {
		return this.#histories.get(actorId)?.list() ?? [];
	}

	#record(
		checkpoint: protocol.ActorCheckpoint,
		direction: ActorHistoryEntry["direction"],
		what: Pick<ActorHistoryEntry, "kind" | "code" | "message">,
	): void {
		const { actorId } = checkpoint;
		let log = this.#histories.get(actorId);
		if (log) this.#histories.delete(actorId);
		else log = new BoundedLog(ACTOR_HISTORY_CAPACITY);
		this.#histories.set(actorId, log);
		if (this.#histories.size > TRACKED_ACTORS_CAPACITY) {
			const oldest = this.#histories.keys().next().value;
			if (oldest !== undefined) this.#histories.delete(oldest);
		}
		log.push({
			ts: Date.now(),
			direction,
			generation: checkpoint.generation,
			index: Number(checkpoint.index),
			...what,
		});
		this.onChange(actorId);
	}
}

function describeEvent(
	event: protocol.Event,
): Pick<ActorHistoryEntry, "kind" | "code" | "message"> {
	switch (event.tag) {
		case "EventActorIntent":
			return {
				kind:
					event.val.intent.tag === "ActorIntentSleep"
						? "intent sleep"
						: "intent stop",
				code: null,
				message: null,
			};
		case "EventActorStateUpdate":
			return event.val.state.tag === "ActorStateRunning"
				? { kind: "running", code: null, message: null }
				: {
						kind: "stopped",
						code: event.val.state.val.code,
						message: event.val.state.val.message,
					};
		case "EventActorSetAlarm":
			return {
				kind: "alarm",
				code: null,
				message:
					event.val.alarmTs === null ? "cleared" : alarmText(event.val.alarmTs),
			};
	}
}

/** An alarm time as ISO text; a runner may send any i64, and most are past what a Date can show. */
function alarmText(alarmTs: bigint): string {
	const date = new Date(Number(alarmTs));
	return Number.isNaN(date.getTime()) ? `${alarmTs} ms` : date.toISOString();
}
