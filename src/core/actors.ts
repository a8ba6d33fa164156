/**
 * The actor table: generations, command de-duplication, the per-actor event log kept until the engine acks it,
 * and the start/stop transitions that call user code as tracked tasks (never awaited on the frame path).
 *
 * Costs are per command or per event, never per actor-table scan: acks touch only the acked actors, the outbox
 * batches every event emitted in one tick into one frame.
 */
import type * as protocol from "@rivetkit/engine-runner-protocol";
import { StopCode } from "@rivetkit/engine-runner-protocol";
import { ActorEntry } from "./actor-entry.ts";
import type { ActorConfig } from "./config.ts";
import { errorFields, type Logger } from "./log.ts";

/** A stopped actor: its unacked events (the Stopped event) and its command index, kept for a while. */
interface RetiredActor {
	generation: number;
	lastCommandIdx: bigint;
	nextEventIdx: number;
	log: protocol.EventWrapper[];
	retiredAt: number;
}

export interface ActorHooks {
	log: Logger;
	onActorStart(
		actorId: string,
		generation: number,
		config: ActorConfig,
	): Promise<void>;
	onActorStop(actorId: string, generation: number): Promise<void>;
	/**
	 * Ends the actor's tunnel traffic before its Stopped event goes out. On "stopped" it may return a promise: the
	 * responses already returned by the actor's handlers are still being sent, and must go out before Stopped.
	 */
	closeTunnel(
		actor: ActorEntry,
		cause: "stopped" | "lost",
	): Promise<void> | undefined;
	/** Sends events now if the engine socket is ready; false means they wait in the log for the next init. */
	sendEvents(events: protocol.EventWrapper[]): boolean;
	isDraining(): boolean;
	now(): number;
}

export class ActorTable {
	readonly #hooks: ActorHooks;
	readonly #live = new Map<string, ActorEntry>();
	readonly #retired = new Map<string, RetiredActor>();
	readonly #retiredTtlMs: number;
	#outbox: protocol.EventWrapper[] = [];
	#flushScheduled = false;
	#emptyWaiters: Array<() => void> = [];
	/** Actors stopped cleanly (Stopped with StopCode.Ok) over the runner's life. */
	stoppedCleanly = 0;

	constructor(hooks: ActorHooks, retiredTtlMs = 60_000) {
		this.#hooks = hooks;
		this.#retiredTtlMs = retiredTtlMs;
	}

	get size(): number {
		return this.#live.size;
	}

	get live(): ReadonlyMap<string, ActorEntry> {
		return this.#live;
	}

	get(actorId: string, generation?: number): ActorEntry | undefined {
		const actor = this.#live.get(actorId);
		if (!actor || (generation !== undefined && actor.generation !== generation))
			return undefined;
		return actor;
	}

	/** Resolves when no actor is live (immediately if none is). */
	whenEmpty(): Promise<void> {
		if (this.#live.size === 0) return Promise.resolve();
		return new Promise((resolve) => this.#emptyWaiters.push(resolve));
	}

	/** Handles one `ToClientCommands` batch; returns the checkpoints to ack (one per actor generation). */
	handleCommands(
		commands: protocol.ToClientCommands,
	): protocol.ActorCheckpoint[] {
		const acks = new Map<string, protocol.ActorCheckpoint>();
		for (const { checkpoint, inner } of commands) {
			const { actorId, generation, index } = checkpoint;
			const ackKey = `${actorId}\u0000${generation}`;
			const prev = acks.get(ackKey);
			if (!prev || prev.index < index) acks.set(ackKey, checkpoint);
			if (this.#isDuplicate(actorId, generation, index)) {
				this.#hooks.log.debug(
					{ actorId, generation, index: String(index) },
					"duplicate command ignored",
				);
				continue;
			}
			if (inner.tag === "CommandStartActor") this.#start(checkpoint, inner.val);
			else this.#stopCommand(actorId, generation, index);
		}
		return [...acks.values()];
	}

	#isDuplicate(actorId: string, generation: number, index: bigint): boolean {
		const live = this.#live.get(actorId);
		if (live && live.generation === generation)
			return index <= live.lastCommandIdx;
		const retired = this.#retired.get(actorId);
		if (retired && retired.generation === generation)
			return index <= retired.lastCommandIdx;
		if (retired && retired.generation > generation) return true;
		return live !== undefined && live.generation > generation;
	}

	#start(
		checkpoint: protocol.ActorCheckpoint,
		command: protocol.CommandStartActor,
	): void {
		const { actorId, generation, index } = checkpoint;
		const existing = this.#live.get(actorId);
		if (existing) {
			// An older generation is still here: the engine moved on, so it is stopped locally without events.
			this.#hooks.log.warn(
				{ actorId, old: existing.generation, generation },
				"replacing an older generation",
			);
			this.#stopLocally(existing, "lost");
		}
		this.#retired.delete(actorId);
		const { config } = command;
		const actorConfig: ActorConfig = {
			name: config.name,
			key: config.key,
			createTs: config.createTs,
			input: config.input ? new Uint8Array(config.input) : null,
		};
		const actor = new ActorEntry(
			actorId,
			generation,
			actorConfig,
			index,
			command.hibernatingRequests,
		);
		this.#live.set(actorId, actor);
		this.#emit(actor, {
			tag: "EventActorStateUpdate",
			val: { state: { tag: "ActorStateRunning", val: null } },
		});
		actor.started = this.#runStart(actor);
	}

	async #runStart(actor: ActorEntry): Promise<void> {
		try {
			await this.#hooks.onActorStart(
				actor.actorId,
				actor.generation,
				actor.config,
			);
			if (actor.status === "starting") actor.status = "running";
			actor.settleStart(actor.status === "running");
		} catch (err) {
			this.#hooks.log.error(
				{ actorId: actor.actorId, ...errorFields(err) },
				"onActorStart failed",
			);
			actor.failure = `onActorStart failed: ${errorFields(err).error}`;
			actor.settleStart(false);
			if (this.#live.get(actor.actorId) === actor) void this.#stop(actor);
		}
	}

	#stopCommand(actorId: string, generation: number, index: bigint): void {
		const actor = this.get(actorId, generation);
		if (actor) {
			actor.lastCommandIdx = index;
			void this.#stop(actor);
			return;
		}
		const retired = this.#retired.get(actorId);
		if (retired && retired.generation === generation) {
			retired.lastCommandIdx = index;
			this.#hooks.log.debug(
				{ actorId, generation },
				"stop for an actor already stopped here ignored",
			);
			return;
		}
		// Unknown here: answer so the engine is not left waiting for a Stopped that would never come.
		this.#hooks.log.info(
			{ actorId, generation },
			"stop for an unknown actor: answering Stopped",
		);
		const nextEventIdx =
			retired?.generation === generation ? retired.nextEventIdx : 0;
		const event: protocol.EventWrapper = {
			checkpoint: { actorId, generation, index: BigInt(nextEventIdx) },
			inner: stoppedState(StopCode.Ok, null),
		};
		this.#retired.set(actorId, {
			generation,
			lastCommandIdx: index,
			nextEventIdx: nextEventIdx + 1,
			log: [event],
			retiredAt: this.#hooks.now(),
		});
		this.#queue(event);
	}

	/** Graceful stop: onActorStop, close the tunnel, send Stopped, keep the event until acked. */
	async #stop(actor: ActorEntry): Promise<void> {
		if (actor.status === "stopping") return;
		const wasStarting = actor.status === "starting";
		actor.status = "stopping";
		if (wasStarting) {
			await actor.started;
			actor.settleStart(false);
		}
		try {
			await this.#hooks.onActorStop(actor.actorId, actor.generation);
		} catch (err) {
			this.#hooks.log.error(
				{ actorId: actor.actorId, ...errorFields(err) },
				"onActorStop failed",
			);
			actor.failure ??= `onActorStop failed: ${errorFields(err).error}`;
		}
		if (this.#live.get(actor.actorId) !== actor) return; // dropped meanwhile (lost, replaced)
		const responding = this.#hooks.closeTunnel(actor, "stopped");
		if (responding) {
			await responding;
			if (this.#live.get(actor.actorId) !== actor) return;
		}
		const crashed =
			actor.failure !== undefined ||
			(actor.stopWithoutDestroy && !this.#hooks.isDraining());
		const code = crashed ? StopCode.Error : StopCode.Ok;
		this.#emit(actor, stoppedState(code, actor.failure ?? null));
		if (code === StopCode.Ok) this.stoppedCleanly++;
		this.#retire(actor);
	}

	#retire(actor: ActorEntry): void {
		this.#live.delete(actor.actorId);
		this.#retired.set(actor.actorId, {
			generation: actor.generation,
			lastCommandIdx: actor.lastCommandIdx,
			nextEventIdx: actor.nextEventIdx,
			log: actor.log,
			retiredAt: this.#hooks.now(),
		});
		this.#notifyIfEmpty();
	}

	#notifyIfEmpty(): void {
		if (this.#live.size > 0 || this.#emptyWaiters.length === 0) return;
		const waiters = this.#emptyWaiters;
		this.#emptyWaiters = [];
		for (const resolve of waiters) resolve();
	}

	/** Stops an actor here without telling the engine (it already gave the actor away). */
	#stopLocally(actor: ActorEntry, cause: "lost"): Promise<void> {
		this.#live.delete(actor.actorId);
		const alreadyStopping = actor.status === "stopping";
		actor.status = "stopping";
		actor.settleStart(false);
		this.#hooks.closeTunnel(actor, cause);
		this.#notifyIfEmpty();
		if (alreadyStopping) return Promise.resolve(); // its onActorStop is already running
		return this.#hooks
			.onActorStop(actor.actorId, actor.generation)
			.catch((err: unknown) => {
				this.#hooks.log.error(
					{ actorId: actor.actorId, ...errorFields(err) },
					"onActorStop failed",
				);
			});
	}

	/**
	 * Stops every live actor here at once, without waiting for the engine; returns how many.
	 * - `"lost"`: disconnected past the lost threshold. If we come back under the same runner id (a half-open cut:
	 *   our timer ran from when *we* saw the close), the engine still counts them as ours, so each gets a
	 *   Stopped(Error) event that waits for the next init; the engine then applies the crash policy.
	 * - `"shutdown"`: the runner is about to close or drop its socket with actors still running: each gets a
	 *   Stopped(Error) event, sent before the socket goes, so the engine applies the crash policy at once instead
	 *   of waiting to declare the runner lost.
	 * - `"forget"`: a new runner id, or the runner's end: nothing of the old identity is kept.
	 */
	stopAllLocally(mode: "lost" | "shutdown" | "forget"): {
		count: number;
		actorIds: string[];
		done: Promise<void>;
	} {
		const actors = [...this.#live.values()];
		const actorIds = actors.map((actor) => actor.actorId);
		const done = Promise.all(
			actors.map((actor) => this.#stopLocally(actor, "lost")),
		).then(() => {});
		if (mode === "forget") {
			this.#retired.clear();
			this.#outbox = [];
			return { count: actors.length, actorIds, done };
		}
		for (const actor of actors) {
			this.#emit(
				actor,
				stoppedState(
					StopCode.Error,
					mode === "lost"
						? "runner lost: disconnected past the lost threshold"
						: "runner shut down",
				),
			);
			this.#retire(actor);
		}
		return { count: actors.length, actorIds, done };
	}

	/** Sends an actor intent (sleep or stop) as an event. */
	intent(actor: ActorEntry, intent: "sleep" | "stop"): void {
		const tag = intent === "sleep" ? "ActorIntentSleep" : "ActorIntentStop";
		this.#emit(actor, {
			tag: "EventActorIntent",
			val: { intent: { tag, val: null } },
		});
	}

	setAlarm(actor: ActorEntry, alarmTs: number | null): void {
		this.#emit(actor, {
			tag: "EventActorSetAlarm",
			val: { alarmTs: alarmTs === null ? null : BigInt(alarmTs) },
		});
	}

	#emit(actor: ActorEntry, inner: protocol.Event): void {
		const event: protocol.EventWrapper = {
			checkpoint: {
				actorId: actor.actorId,
				generation: actor.generation,
				index: BigInt(actor.nextEventIdx++),
			},
			inner,
		};
		actor.log.push(event);
		this.#queue(event);
	}

	#queue(event: protocol.EventWrapper): void {
		this.#outbox.push(event);
		if (this.#flushScheduled) return;
		this.#flushScheduled = true;
		queueMicrotask(() => this.flush());
	}

	/** Sends every event emitted since the last flush, as one frame. */
	flush(): void {
		this.#flushScheduled = false;
		if (this.#outbox.length === 0) return;
		const events = this.#outbox;
		this.#outbox = [];
		// Not sent now: they stay in their actor's log and go out with the resend after the next init.
		this.#hooks.sendEvents(events);
	}

	/** Drops acked events: touches only the actors named in the ack. */
	handleAck(checkpoints: readonly protocol.ActorCheckpoint[]): void {
		for (const { actorId, generation, index } of checkpoints) {
			const live = this.#live.get(actorId);
			if (live && live.generation === generation) {
				live.log = live.log.filter((event) => event.checkpoint.index > index);
				continue;
			}
			const retired = this.#retired.get(actorId);
			if (retired && retired.generation === generation) {
				retired.log = retired.log.filter(
					(event) => event.checkpoint.index > index,
				);
				continue;
			}
			this.#hooks.log.debug(
				{ actorId, generation },
				"event ack for an unknown actor generation ignored",
			);
		}
	}

	/**
	 * Every unacked event, for the resend after `ToClientInit`. Stopped actors' events are handed over once: after a
	 * resend on a new connection the engine has them (it de-duplicates), so their logs are released.
	 */
	takeUnacked(): protocol.EventWrapper[] {
		this.#outbox = [];
		const events: protocol.EventWrapper[] = [];
		for (const actor of this.#live.values())
			for (const event of actor.log) events.push(event);
		for (const retired of this.#retired.values()) {
			for (const event of retired.log) events.push(event);
			retired.log = [];
		}
		return events;
	}

	/**
	 * Forgets stopped actors older than the TTL whose events went out on a connection that has been up since
	 * (`connectedSince`): the engine has had them for a while. Cheap: the map is in retirement order.
	 */
	sweepRetired(connectedSince: number | undefined): void {
		if (connectedSince === undefined) return;
		const horizon = this.#hooks.now() - this.#retiredTtlMs;
		for (const [actorId, retired] of this.#retired) {
			if (retired.retiredAt > horizon) break;
			// Events that have not yet gone out on this connection stay (takeUnacked hands them over at init).
			if (retired.log.length > 0 && retired.retiredAt < connectedSince)
				continue;
			this.#retired.delete(actorId);
		}
	}

	/** Public stop of one actor (engine StopActor, or the user stopping it locally). */
	stop(actor: ActorEntry): Promise<void> {
		return this.#stop(actor);
	}
}

function stoppedState(code: StopCode, message: string | null): protocol.Event {
	return {
		tag: "EventActorStateUpdate",
		val: { state: { tag: "ActorStateStopped", val: { code, message } } },
	};
}
