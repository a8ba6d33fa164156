/**
 * One live actor: its generation, command and event indexes, its unacked event log, and whether it has started.
 */
import type * as protocol from "@rivetkit/engine-runner-protocol";
import type { ActorConfig } from "./config.ts";

export type ActorStatus = "starting" | "running" | "stopping";

/** A live actor as the public API shows it. */
export interface ActorInfo {
	readonly actorId: string;
	readonly generation: number;
	readonly config: ActorConfig;
	readonly status: ActorStatus;
	readonly hibernatingRequests: readonly protocol.HibernatingRequest[];
}

export class ActorEntry implements ActorInfo {
	readonly actorId: string;
	readonly generation: number;
	readonly config: ActorConfig;
	readonly hibernatingRequests: readonly protocol.HibernatingRequest[];
	status: ActorStatus = "starting";
	lastCommandIdx: bigint;
	nextEventIdx = 0;
	log: protocol.EventWrapper[] = [];
	/** The actor asked to be stopped (`stopActor`) without being destroyed: the crash policy applies. */
	stopWithoutDestroy = false;
	/** onActorStart or onActorStop threw. */
	failure: string | undefined;
	/** Settles when onActorStart has settled. */
	started: Promise<void> | undefined;
	#startWaiters: Array<(ok: boolean) => void> | undefined;

	constructor(
		actorId: string,
		generation: number,
		config: ActorConfig,
		commandIdx: bigint,
		hr: readonly protocol.HibernatingRequest[],
	) {
		this.actorId = actorId;
		this.generation = generation;
		this.config = config;
		this.lastCommandIdx = commandIdx;
		this.hibernatingRequests = hr;
	}

	/** Resolves true once the actor has started, false if it failed or stopped first. */
	whenStarted(): Promise<boolean> {
		if (this.status === "running") return Promise.resolve(true);
		if (this.status === "stopping" || this.failure)
			return Promise.resolve(false);
		this.#startWaiters ??= [];
		const waiters = this.#startWaiters;
		return new Promise((resolve) => waiters.push(resolve));
	}

	settleStart(ok: boolean): void {
		const waiters = this.#startWaiters;
		this.#startWaiters = undefined;
		if (waiters) for (const resolve of waiters) resolve(ok);
	}
}
