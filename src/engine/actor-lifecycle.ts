import type * as protocol from "@rivetkit/engine-runner-protocol";
import { ActorCommandLog } from "./actor-command-log.ts";
import {
	type ActorEventTransitions,
	applyRunnerEvents,
} from "./actor-events.ts";
import { actorJson } from "./actor-json.ts";
import { pickRunner, startActorCommand } from "./actor-placement.ts";
import {
	actorWithKey,
	assertKeyFree,
	type CreateActorInput,
	FRESH_GENERATION,
	newActorRecord,
} from "./actor-record.ts";
import { ActorTimers } from "./actor-timers.ts";
import { EngineError } from "./errors.ts";
import type { ResolvedEngineOptions } from "./options.ts";
import type { RunnerGoneReason, RunnerRegistry } from "./runner-registry.ts";
import type { ActorRecord, EngineStorage } from "./storage/types.ts";

/**
 * The actor state machine (spec §4, §14.2): scheduling onto runners with free slots, sleep/stop intents, alarms,
 * crash policy, loss. Placement, the command log, event handling and timers have their own actor-*.ts files.
 * Every change is written to storage before anything is sent.
 */
export class ActorLifecycle {
	readonly #storage: EngineStorage;
	readonly #options: ResolvedEngineOptions;
	readonly #runners: RunnerRegistry;
	readonly #actors = new Map<string, ActorRecord>();
	readonly #commands: ActorCommandLog;
	readonly #timers: ActorTimers;
	readonly #transitions: ActorEventTransitions = {
		actor: (actorId) => this.#actors.get(actorId),
		save: (actor) => this.#save(actor),
		markRunning: (actor, now) => {
			this.#timers.clearGc(actor.actorId);
			actor.status = "running";
			// As the real engine: when it was *first* connectable.
			actor.startTs ??= now;
			actor.connectableTs = now;
		},
		afterStop: (actor, graceful, now) => this.#afterStop(actor, graceful, now),
		requestStop: (actor) => this.#requestStop(actor),
	};
	#closed = false;
	/** StartActor's `hibernatingRequests` for an actor (the gateway's sleeping client sockets). */
	hibernatingRequests: (actorId: string) => protocol.HibernatingRequest[] =
		() => [];

	constructor(
		storage: EngineStorage,
		options: ResolvedEngineOptions,
		runners: RunnerRegistry,
	) {
		this.#storage = storage;
		this.#options = options;
		this.#runners = runners;
		this.#commands = new ActorCommandLog(storage, runners, (actor) =>
			this.#save(actor),
		);
		this.#timers = new ActorTimers({
			lookup: (actorId) => this.#actors.get(actorId),
			onAlarmDue: (actor) => this.#wakeByAlarm(actor),
			onNoResponse: (actor, thresholdMs) =>
				this.#loseUnanswered(actor, thresholdMs),
		});
		for (const actor of storage.listActors())
			this.#actors.set(actor.actorId, actor);
	}

	/** Re-arm timers after a restart; allocated actors wait for their runner to come back. */
	resume(): void {
		for (const actor of this.#actors.values()) {
			if (actor.status === "sleeping") this.#timers.armAlarm(actor);
			else if (actor.status === "starting")
				this.#timers.armGc(actor, this.#options.actorStartThresholdMs);
			else if (actor.status === "stopping")
				this.#timers.armGc(actor, this.#options.actorStopThresholdMs);
		}
	}

	create(input: CreateActorInput, now = Date.now()): ActorRecord {
		assertKeyFree(this.#actors.values(), input);
		const actor = newActorRecord(input, now);
		this.#allocate(actor, now);
		return { ...actor };
	}

	/** PUT /actors: the live actor with this (namespace, name, key), else a new one. */
	getOrCreate(
		input: CreateActorInput,
		now = Date.now(),
	): { actor: ActorRecord; created: boolean } {
		const existing = actorWithKey(this.#actors.values(), input);
		if (existing) return { actor: { ...existing }, created: false };
		return { actor: this.create(input, now), created: true };
	}

	get(actorId: string): ActorRecord | undefined {
		const actor = this.#actors.get(actorId);
		return actor && { ...actor };
	}

	list(): ActorRecord[] {
		return [...this.#actors.values()].map((actor) => ({ ...actor }));
	}

	/** DELETE /actors/{id}: allocated actors are asked to stop and destroyed when they have; others at once. */
	destroy(actorId: string, now = Date.now()): void {
		const actor = this.#actors.get(actorId);
		if (!actor || actor.status === "destroyed") {
			throw new EngineError(
				"actor",
				"not_found",
				"The actor does not exist or was destroyed.",
				404,
			);
		}
		if (actor.runnerId === null) {
			this.#markDestroyed(actor, now);
			return;
		}
		actor.destroyRequested = true;
		this.#requestStop(actor);
	}

	/** Wake a sleeping actor (alarm, or a gateway request once the tunnel exists). */
	wake(actorId: string, now = Date.now()): boolean {
		const actor = this.#actors.get(actorId);
		if (actor?.status !== "sleeping") return false;
		this.#reschedule(actor, now);
		return true;
	}

	/** Put a started actor to sleep from the engine side (the inspector): as its own sleep intent, then StopActor. */
	sleep(actorId: string): void {
		const actor = this.#actors.get(actorId);
		if (actor?.status !== "running" && actor?.status !== "starting")
			throw new EngineError(
				"actor",
				"not_running",
				"Only a starting or running actor can be put to sleep.",
				400,
			);
		actor.sleepIntent = true;
		this.#requestStop(actor);
	}

	/** A runner became eligible: place pending actors, oldest first. */
	allocatePending(now = Date.now()): void {
		const pending = [...this.#actors.values()]
			.filter((a) => a.status === "pending")
			.sort(
				(a, b) => (a.pendingAllocationTs ?? 0) - (b.pendingAllocationTs ?? 0),
			);
		for (const actor of pending) this.#allocate(actor, now);
	}

	/** Unacked commands of a runner, for replay right after `ToClientInit`. */
	replayCommands(runnerId: string): protocol.CommandWrapper[] {
		return this.#commands.replay(runnerId);
	}

	ackCommands(runnerId: string, ack: protocol.ToServerAckCommands): void {
		this.#commands.ack(runnerId, ack);
	}

	/** Who may use an actor's KV: null if `runnerId` may, else the real engine's error message. */
	kvRefusal(actorId: string, runnerId: string): string | null {
		const actor = this.#actors.get(actorId);
		if (!actor || actor.runnerId === null) return "actor does not exist";
		if (actor.runnerId !== runnerId) return "actor does not belong to runner";
		return null;
	}

	/** `ToServerEvents`, then `ToClientAckEvents` for the actors whose acks are due. */
	handleEvents(
		runnerId: string,
		events: protocol.ToServerEvents,
		now = Date.now(),
	): void {
		const acks = applyRunnerEvents(this.#transitions, runnerId, events, now);
		if (acks.length > 0) {
			this.#runners.link(runnerId)?.send({
				tag: "ToClientAckEvents",
				val: { lastEventCheckpoints: acks },
			});
		}
	}

	/** `ToServerStopping` from a runner: every actor on it is going away and gets `StopActor`. */
	onRunnerDraining(runnerId: string): void {
		for (const actor of this.#actors.values()) {
			if (actor.runnerId !== runnerId) continue;
			actor.goingAway = true;
			this.#requestStop(actor);
		}
	}

	/** The runner is lost, drained or timed out: its actors are lost and follow their crash policy. */
	onRunnerGone(
		runnerId: string,
		reason: RunnerGoneReason,
		now = Date.now(),
	): void {
		for (const actor of [...this.#actors.values()]) {
			if (actor.runnerId !== runnerId) continue;
			actor.error =
				reason === "lost"
					? { runner_connection_lost: { runner_id: runnerId } }
					: { runner_draining_timeout: { runner_id: runnerId } };
			this.#afterStop(actor, false, now);
		}
	}

	#requestStop(actor: ActorRecord): void {
		actor.connectableTs = null;
		if (actor.status === "stopping" || actor.runnerId === null) {
			this.#save(actor);
			return;
		}
		actor.status = "stopping";
		this.#timers.armGc(actor, this.#options.actorStopThresholdMs);
		this.#commands.issue(actor, { tag: "CommandStopActor", val: null });
	}

	/** The generation ended (Stopped event or loss): deallocate, then sleep, reschedule or destroy (spec §4.4). */
	#afterStop(actor: ActorRecord, graceful: boolean, now: number): void {
		this.#timers.clearGc(actor.actorId);
		actor.runnerId = null;
		actor.connectableTs = null;
		if (actor.destroyRequested) this.#markDestroyed(actor, now);
		else if (actor.sleepIntent) this.#markSleeping(actor, now);
		else if (!graceful && actor.crashPolicy === "restart")
			this.#reschedule(actor, now);
		else if (!graceful && actor.crashPolicy === "sleep")
			this.#markSleeping(actor, now);
		else this.#markDestroyed(actor, now);
		this.#allocatePendingSoon();
	}

	/** A slot just freed up; placing waiting actors must not re-enter the caller's loop over actors. */
	#allocatePendingSoon(): void {
		queueMicrotask(() => {
			if (!this.#closed) this.allocatePending();
		});
	}

	#markSleeping(actor: ActorRecord, now: number): void {
		actor.status = "sleeping";
		actor.sleepTs = now;
		this.#save(actor);
		this.#timers.armAlarm(actor);
	}

	#markDestroyed(actor: ActorRecord, now: number): void {
		actor.status = "destroyed";
		actor.destroyTs = now;
		actor.runnerId = null;
		actor.connectableTs = null;
		this.#timers.clearAlarm(actor.actorId);
		this.#timers.clearGc(actor.actorId);
		this.#storage.transaction(() => {
			this.#save(actor);
			this.#storage.kvDrop(actor.actorId);
		});
	}

	#reschedule(actor: ActorRecord, now: number): void {
		this.#timers.clearAlarm(actor.actorId);
		actor.generation += 1;
		actor.status = "pending";
		actor.sleepTs = null;
		actor.rescheduleTs = now;
		actor.pendingAllocationTs = now;
		this.#allocate(actor, now);
	}

	/** Place the actor on an eligible runner with a free slot (highest version first), or leave it pending. */
	#allocate(actor: ActorRecord, now: number): void {
		const runner = pickRunner(this.#runners, this.#actors.values(), actor);
		actor.rescheduleTs = null;
		if (!runner) {
			// As the real engine: a runner failure stays the reported cause; otherwise it is `no_capacity`.
			actor.error ??= "no_capacity";
			if (actor.crashPolicy === "sleep") {
				// The real engine does not queue a sleep-policy actor: it sleeps until woken.
				actor.pendingAllocationTs = null;
				this.#markSleeping(actor, now);
				return;
			}
			actor.status = "pending";
			actor.pendingAllocationTs ??= now;
			this.#save(actor);
			return;
		}
		Object.assign(actor, {
			status: "starting",
			runnerId: runner.runnerId,
			...FRESH_GENERATION,
			pendingAllocationTs: null,
			connectableTs: null,
			sleepTs: null,
			error: null,
		} satisfies Partial<ActorRecord>);
		this.#timers.armGc(actor, this.#options.actorStartThresholdMs);
		this.#commands.issue(
			actor,
			startActorCommand(actor, now, this.hibernatingRequests(actor.actorId)),
		);
	}

	/** The alarm fired: it wakes the actor once. */
	#wakeByAlarm(actor: ActorRecord): void {
		actor.alarmTs = null;
		this.#options.log(`actor ${actor.actorId} woken by alarm`);
		this.#reschedule(actor, Date.now());
	}

	#loseUnanswered(actor: ActorRecord, thresholdMs: number): void {
		const { actorId, generation } = actor;
		const runnerId = actor.runnerId;
		if (runnerId === null) return;
		this.#options.log(
			`actor ${actorId} lost: runner did not answer within ${thresholdMs} ms`,
		);
		const stopIndex = BigInt(actor.nextCommandIdx);
		actor.error = { runner_no_response: { runner_id: runnerId } };
		this.#afterStop(actor, false, Date.now());
		// The real engine also tells the old runner to stop, in case it did start the actor.
		this.#commands.sendUnlogged(runnerId, {
			checkpoint: { actorId, generation, index: stopIndex },
			inner: { tag: "CommandStopActor", val: null },
		});
	}

	#save(actor: ActorRecord): void {
		this.#actors.set(actor.actorId, actor);
		this.#storage.putActor(actor);
		try {
			this.#options.onActorChange?.(actorJson(actor));
		} catch {
			// An observer's bug must not roll back engine state.
		}
	}

	close(): void {
		this.#closed = true;
		this.#timers.close();
	}
}
