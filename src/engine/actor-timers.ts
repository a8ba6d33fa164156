import type { ActorRecord } from "./storage/types.ts";

/** Longest delay setTimeout takes; later alarms re-arm when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

type Timer = ReturnType<typeof setTimeout>;

export interface ActorTimerHooks {
	/** The actor as it is now (timers outlive the record they were armed for). */
	lookup(actorId: string): ActorRecord | undefined;
	/** A sleeping actor's alarm is due and still the one that was armed. */
	onAlarmDue(actor: ActorRecord): void;
	/** The runner did not answer a start/stop of this generation within `thresholdMs`. */
	onNoResponse(actor: ActorRecord, thresholdMs: number): void;
}

/** The per-actor timers: the sleeping actor's alarm, and the start/stop threshold after which it is lost. */
export class ActorTimers {
	readonly #hooks: ActorTimerHooks;
	readonly #alarmTimers = new Map<string, Timer>();
	/** Start/stop thresholds: an actor that does not answer in time is lost. */
	readonly #gcTimers = new Map<string, Timer>();

	constructor(hooks: ActorTimerHooks) {
		this.#hooks = hooks;
	}

	armAlarm(actor: ActorRecord): void {
		this.clearAlarm(actor.actorId);
		if (actor.alarmTs === null || actor.status !== "sleeping") return;
		const { actorId, alarmTs } = actor;
		const delay = Math.min(Math.max(0, alarmTs - Date.now()), MAX_TIMER_MS);
		this.#alarmTimers.set(
			actorId,
			setTimeout(() => {
				this.#alarmTimers.delete(actorId);
				const current = this.#hooks.lookup(actorId);
				if (current?.status !== "sleeping" || current.alarmTs !== alarmTs)
					return;
				if (Date.now() < alarmTs) {
					this.armAlarm(current);
					return;
				}
				this.#hooks.onAlarmDue(current);
			}, delay),
		);
	}

	armGc(actor: ActorRecord, thresholdMs: number): void {
		this.clearGc(actor.actorId);
		const { actorId, generation } = actor;
		this.#gcTimers.set(
			actorId,
			setTimeout(
				() => {
					this.#gcTimers.delete(actorId);
					const current = this.#hooks.lookup(actorId);
					if (
						!current ||
						current.generation !== generation ||
						current.runnerId === null
					)
						return;
					this.#hooks.onNoResponse(current, thresholdMs);
				},
				Math.min(thresholdMs, MAX_TIMER_MS),
			),
		);
	}

	clearAlarm(actorId: string): void {
		clearTimer(this.#alarmTimers, actorId);
	}

	clearGc(actorId: string): void {
		clearTimer(this.#gcTimers, actorId);
	}

	close(): void {
		for (const timer of this.#alarmTimers.values()) clearTimeout(timer);
		for (const timer of this.#gcTimers.values()) clearTimeout(timer);
		this.#alarmTimers.clear();
		this.#gcTimers.clear();
	}
}

function clearTimer(timers: Map<string, Timer>, actorId: string): void {
	const timer = timers.get(actorId);
	if (timer !== undefined) clearTimeout(timer);
	timers.delete(actorId);
}
