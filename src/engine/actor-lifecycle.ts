import * as protocol from "@rivetkit/engine-runner-protocol";
import { actorJson } from "./actor-json.ts";
import { EngineError } from "./errors.ts";
import { newRivetId } from "./ids.ts";
import { EVENT_ACK_BATCH_SIZE, type ResolvedEngineOptions } from "./options.ts";
import type { RunnerGoneReason, RunnerRegistry } from "./runner-registry.ts";
import type {
	ActorRecord,
	CrashPolicy,
	EngineStorage,
} from "./storage/types.ts";

export interface CreateActorInput {
	namespace: string;
	name: string;
	key: string | null;
	input: string | null;
	runnerNameSelector: string;
	crashPolicy: CrashPolicy;
}

/** Longest delay setTimeout takes; later alarms re-arm when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The actor state machine (spec §4, §14.2): scheduling onto runners with free slots, the per-(runner, actor,
 * generation) command log, event de-duplication and acks, sleep/stop intents, alarms, crash policy, loss.
 * Every change is written to storage before anything is sent.
 */
export class ActorLifecycle {
	readonly #storage: EngineStorage;
	readonly #options: ResolvedEngineOptions;
	readonly #runners: RunnerRegistry;
	readonly #actors = new Map<string, ActorRecord>();
	readonly #alarmTimers = new Map<string, ReturnType<typeof setTimeout>>();
	/** Start/stop thresholds: an actor that does not answer in time is lost. */
	readonly #gcTimers = new Map<string, ReturnType<typeof setTimeout>>();
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
		for (const actor of storage.listActors())
			this.#actors.set(actor.actorId, actor);
	}

	/** Re-arm timers after a restart; allocated actors wait for their runner to come back. */
	resume(): void {
		for (const actor of this.#actors.values()) {
			if (actor.status === "sleeping") this.#armAlarm(actor);
			else if (actor.status === "starting")
				this.#armGc(actor, this.#options.actorStartThresholdMs);
			else if (actor.status === "stopping")
				this.#armGc(actor, this.#options.actorStopThresholdMs);
		}
	}

	create(input: CreateActorInput, now = Date.now()): ActorRecord {
		if (input.key !== null) {
			const taken = [...this.#actors.values()].find(
				(a) =>
					a.namespace === input.namespace &&
					a.name === input.name &&
					a.key === input.key &&
					a.status !== "destroyed",
			);
			if (taken) {
				throw new EngineError(
					"actor",
					"duplicate_key",
					`Actor already exists with this key: ${taken.actorId}`,
					400,
				);
			}
		}
		const actor: ActorRecord = {
			actorId: newRivetId(),
			...input,
			createTs: now,
			status: "pending",
			generation: 0,
			runnerId: null,
			nextCommandIdx: 0,
			lastEventIdx: -1,
			lastEventAckIdx: -1,
			sleepIntent: false,
			stopIntent: false,
			goingAway: false,
			destroyRequested: false,
			alarmTs: null,
			pendingAllocationTs: now,
			startTs: null,
			connectableTs: null,
			sleepTs: null,
			rescheduleTs: null,
			destroyTs: null,
			error: null,
		};
		this.#allocate(actor, now);
		return { ...actor };
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
		return this.#storage.listCommands(runnerId).map((command) => ({
			checkpoint: {
				actorId: command.actorId,
				generation: command.generation,
				index: BigInt(command.index),
			},
			inner: protocol.decodeActorCommandKeyData(
				command.data,
			) as protocol.Command,
		}));
	}

	ackCommands(runnerId: string, ack: protocol.ToServerAckCommands): void {
		this.#storage.transaction(() => {
			for (const checkpoint of ack.lastCommandCheckpoints) {
				this.#storage.ackCommands(
					runnerId,
					checkpoint.actorId,
					checkpoint.generation,
					Number(checkpoint.index),
				);
			}
		});
	}

	/** Who may use an actor's KV: null if `runnerId` may, else the real engine's error message. */
	kvRefusal(actorId: string, runnerId: string): string | null {
		const actor = this.#actors.get(actorId);
		if (!actor || actor.runnerId === null) return "actor does not exist";
		if (actor.runnerId !== runnerId) return "actor does not belong to runner";
		return null;
	}

	/**
	 * `ToServerEvents`: de-duplicated by (runner id, generation, index > last), applied in order. After the batch,
	 * an actor whose last index passed its last ack by more than 250 gets `ToClientAckEvents` (spec §4.5).
	 */
	handleEvents(
		runnerId: string,
		events: protocol.ToServerEvents,
		now = Date.now(),
	): void {
		const touched = new Map<
			string,
			{ actor: ActorRecord; generation: number }
		>();
		for (const event of events) {
			const actor = this.#actors.get(event.checkpoint.actorId);
			if (!actor || actor.runnerId !== runnerId) continue;
			const index = Number(event.checkpoint.index);
			if (
				event.checkpoint.generation !== actor.generation ||
				index <= actor.lastEventIdx
			)
				continue;
			actor.lastEventIdx = index;
			touched.set(actor.actorId, { actor, generation: actor.generation });
			this.#applyEvent(actor, event.inner, now);
			this.#save(actor);
		}
		const acks: protocol.ActorCheckpoint[] = [];
		for (const { actor, generation } of touched.values()) {
			if (actor.lastEventIdx <= actor.lastEventAckIdx + EVENT_ACK_BATCH_SIZE)
				continue;
			actor.lastEventAckIdx = actor.lastEventIdx;
			this.#save(actor);
			acks.push({
				actorId: actor.actorId,
				generation,
				index: BigInt(actor.lastEventIdx),
			});
		}
		if (acks.length > 0) {
			this.#runners.link(runnerId)?.send({
				tag: "ToClientAckEvents",
				val: { lastEventCheckpoints: acks },
			});
		}
	}

	#applyEvent(actor: ActorRecord, event: protocol.Event, now: number): void {
		switch (event.tag) {
			case "EventActorStateUpdate": {
				const state = event.val.state;
				if (state.tag === "ActorStateRunning") {
					if (actor.status !== "starting") return;
					this.#clearTimer(this.#gcTimers, actor.actorId);
					actor.status = "running";
					actor.startTs = now;
					actor.connectableTs = now;
				} else {
					const crashed = state.val.code === protocol.StopCode.Error;
					if (crashed)
						actor.error = state.val.message
							? `crashed: ${state.val.message}`
							: "crashed";
					this.#afterStop(actor, !crashed && !actor.goingAway, now);
				}
				return;
			}
			case "EventActorIntent":
				if (event.val.intent.tag === "ActorIntentSleep")
					actor.sleepIntent = true;
				else actor.stopIntent = true;
				this.#requestStop(actor);
				return;
			case "EventActorSetAlarm":
				actor.alarmTs =
					event.val.alarmTs === null ? null : Number(event.val.alarmTs);
				return;
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
					? "lost: runner connection lost"
					: "lost: runner draining timeout";
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
		this.#armGc(actor, this.#options.actorStopThresholdMs);
		this.#issueCommand(actor, { tag: "CommandStopActor", val: null });
	}

	/** The generation ended (Stopped event or loss): deallocate, then sleep, reschedule or destroy (spec §4.4). */
	#afterStop(actor: ActorRecord, graceful: boolean, now: number): void {
		this.#clearTimer(this.#gcTimers, actor.actorId);
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
		this.#armAlarm(actor);
	}

	#markDestroyed(actor: ActorRecord, now: number): void {
		actor.status = "destroyed";
		actor.destroyTs = now;
		actor.runnerId = null;
		actor.connectableTs = null;
		this.#clearTimer(this.#alarmTimers, actor.actorId);
		this.#clearTimer(this.#gcTimers, actor.actorId);
		this.#storage.transaction(() => {
			this.#save(actor);
			this.#storage.kvDrop(actor.actorId);
		});
	}

	#reschedule(actor: ActorRecord, now: number): void {
		this.#clearTimer(this.#alarmTimers, actor.actorId);
		actor.generation += 1;
		actor.status = "pending";
		actor.sleepTs = null;
		actor.rescheduleTs = now;
		actor.pendingAllocationTs = now;
		this.#allocate(actor, now);
	}

	/** Place the actor on an eligible runner with a free slot (highest version first), or leave it pending. */
	#allocate(actor: ActorRecord, now: number): void {
		const runner = this.#runners
			.list()
			.filter(
				(r) =>
					r.namespace === actor.namespace &&
					r.name === actor.runnerNameSelector &&
					this.#runners.isEligible(r),
			)
			.filter((r) => this.#usedSlots(r.runnerId) < r.totalSlots)
			.sort((a, b) => b.version - a.version)[0];
		if (!runner) {
			actor.status = "pending";
			actor.pendingAllocationTs ??= now;
			this.#save(actor);
			return;
		}
		Object.assign(actor, {
			status: "starting",
			runnerId: runner.runnerId,
			nextCommandIdx: 0,
			lastEventIdx: -1,
			lastEventAckIdx: -1,
			sleepIntent: false,
			stopIntent: false,
			goingAway: false,
			pendingAllocationTs: null,
			connectableTs: null,
		} satisfies Partial<ActorRecord>);
		this.#armGc(actor, this.#options.actorStartThresholdMs);
		this.#issueCommand(actor, {
			tag: "CommandStartActor",
			val: {
				config: {
					name: actor.name,
					key: actor.key,
					// Like the real engine: the time the command was built, not the actor's creation.
					createTs: BigInt(now),
					input:
						actor.input === null
							? null
							: (new Uint8Array(Buffer.from(actor.input, "base64"))
									.buffer as ArrayBuffer),
				},
				hibernatingRequests: this.hibernatingRequests(actor.actorId),
			},
		});
	}

	#usedSlots(runnerId: string): number {
		let used = 0;
		for (const actor of this.#actors.values())
			if (actor.runnerId === runnerId) used++;
		return used;
	}

	/** Persist the command with the actor in one transaction, then send it if the runner is connected. */
	#issueCommand(actor: ActorRecord, command: protocol.Command): void {
		const runnerId = actor.runnerId;
		if (runnerId === null) return;
		const index = actor.nextCommandIdx++;
		this.#storage.transaction(() => {
			this.#save(actor);
			this.#storage.appendCommand({
				runnerId,
				actorId: actor.actorId,
				generation: actor.generation,
				index,
				data: protocol.encodeActorCommandKeyData(
					command as protocol.ActorCommandKeyData,
				),
			});
		});
		this.#runners.link(runnerId)?.send({
			tag: "ToClientCommands",
			val: [
				{
					checkpoint: {
						actorId: actor.actorId,
						generation: actor.generation,
						index: BigInt(index),
					},
					inner: command,
				},
			],
		});
	}

	#armAlarm(actor: ActorRecord): void {
		this.#clearTimer(this.#alarmTimers, actor.actorId);
		if (actor.alarmTs === null || actor.status !== "sleeping") return;
		const alarmTs = actor.alarmTs;
		const delay = Math.min(Math.max(0, alarmTs - Date.now()), MAX_TIMER_MS);
		this.#alarmTimers.set(
			actor.actorId,
			setTimeout(() => {
				this.#alarmTimers.delete(actor.actorId);
				const current = this.#actors.get(actor.actorId);
				if (current?.status !== "sleeping" || current.alarmTs !== alarmTs)
					return;
				if (Date.now() < alarmTs) {
					this.#armAlarm(current);
					return;
				}
				// The alarm fired: it wakes the actor once.
				current.alarmTs = null;
				this.#options.log(`actor ${current.actorId} woken by alarm`);
				this.#reschedule(current, Date.now());
			}, delay),
		);
	}

	#armGc(actor: ActorRecord, thresholdMs: number): void {
		this.#clearTimer(this.#gcTimers, actor.actorId);
		const { actorId, generation } = actor;
		this.#gcTimers.set(
			actorId,
			setTimeout(
				() => {
					this.#gcTimers.delete(actorId);
					const current = this.#actors.get(actorId);
					if (
						!current ||
						current.generation !== generation ||
						current.runnerId === null
					)
						return;
					const runnerId = current.runnerId;
					this.#options.log(
						`actor ${actorId} lost: runner did not answer within ${thresholdMs} ms`,
					);
					// The real engine also tells the old runner to stop, in case it did start the actor.
					const link = this.#runners.link(runnerId);
					const stopIndex = BigInt(current.nextCommandIdx);
					current.error = "lost: runner no response";
					this.#afterStop(current, false, Date.now());
					link?.send({
						tag: "ToClientCommands",
						val: [
							{
								checkpoint: { actorId, generation, index: stopIndex },
								inner: { tag: "CommandStopActor", val: null },
							},
						],
					});
				},
				Math.min(thresholdMs, MAX_TIMER_MS),
			),
		);
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

	#clearTimer(
		timers: Map<string, ReturnType<typeof setTimeout>>,
		actorId: string,
	): void {
		const timer = timers.get(actorId);
		if (timer !== undefined) clearTimeout(timer);
		timers.delete(actorId);
	}

	close(): void {
		this.#closed = true;
		for (const timer of this.#alarmTimers.values()) clearTimeout(timer);
		for (const timer of this.#gcTimers.values()) clearTimeout(timer);
		this.#alarmTimers.clear();
		this.#gcTimers.clear();
	}
}
