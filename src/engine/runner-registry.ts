import type * as protocol from "@rivetkit/engine-runner-protocol";
import { newRivetId } from "./ids.ts";
import type { ResolvedEngineOptions } from "./options.ts";
import type { EngineStorage, RunnerRecord } from "./storage/types.ts";

/** The engine's handle on one runner socket. */
export interface RunnerLink {
	send(message: protocol.ToClient): void;
	/** Close `1000 ws.eviction#…`: a newer connection took over, or the runner is finished. */
	evict(): void;
}

/** Why a runner will never get actors again: its actors are lost. */
export type RunnerGoneReason = "lost" | "drain_timeout" | "drained";

export interface RunnerRegistryHooks {
	onGone(runnerId: string, reason: RunnerGoneReason): void;
}

/**
 * Runner identity (spec §3.2): runners keyed by (namespace, name, runner_key); a reconnect reuses the runner id
 * unless the runner expired (lost), drained or stopped. One live socket per runner: a newer one evicts the older.
 */
export class RunnerRegistry {
	readonly #storage: EngineStorage;
	readonly #options: ResolvedEngineOptions;
	readonly #hooks: RunnerRegistryHooks;
	readonly #records = new Map<string, RunnerRecord>();
	readonly #links = new Map<string, RunnerLink>();
	readonly #lostTimers = new Map<string, ReturnType<typeof setTimeout>>();
	readonly #drainTimers = new Map<string, ReturnType<typeof setTimeout>>();

	constructor(
		storage: EngineStorage,
		options: ResolvedEngineOptions,
		hooks: RunnerRegistryHooks,
	) {
		this.#storage = storage;
		this.#options = options;
		this.#hooks = hooks;
		for (const record of storage.listRunners())
			this.#records.set(record.runnerId, record);
	}

	/**
	 * After an engine restart every live runner is disconnected. The outage counts: the lost clock runs from the
	 * last ping the engine stored (as the real engine's `last_ping_ts`), so a runner that stopped its actors on its
	 * own lost timer while the engine was down never gets its old id, and those actors, back as "running".
	 */
	resume(now = Date.now()): void {
		for (const record of [...this.#records.values()]) {
			if (record.stopTs !== null) continue;
			if (record.drainTs !== null) {
				this.#finish(record, "drained");
				continue;
			}
			const lastSeen =
				record.lastPingTs ?? record.lastConnectedTs ?? record.createTs;
			const remaining = lastSeen + this.#options.runnerLostThresholdMs - now;
			if (remaining <= 0) this.#finish(record, "lost");
			else this.#startLostTimer(record.runnerId, remaining);
		}
	}

	/** A runner finished its handshake: reuse its id or mint one. The caller then sends `ToClientInit` and calls {@link attach}. */
	resolve(
		namespace: string,
		key: string,
		init: protocol.ToServerInit,
		now: number,
	): RunnerRecord {
		let record = [...this.#records.values()].find(
			(r) =>
				r.namespace === namespace &&
				r.name === init.name &&
				r.key === key &&
				r.stopTs === null &&
				r.drainTs === null,
		);
		if (!record) {
			record = {
				runnerId: newRivetId(),
				namespace,
				name: init.name,
				key,
				// Version and slots come from the first init only, as in the real engine's workflow input.
				version: init.version,
				totalSlots: init.totalSlots,
				metadata: null,
				createTs: now,
				lastConnectedTs: null,
				lastPingTs: null,
				drainTs: null,
				stopTs: null,
			};
		}
		record.lastConnectedTs = now;
		record.lastPingTs = now;
		if (init.metadata !== null) record.metadata = init.metadata;
		this.#save(record);
		this.#clearTimer(this.#lostTimers, record.runnerId);
		return record;
	}

	/** Make `link` the runner's socket; the previous one, if any, is evicted. */
	attach(runnerId: string, link: RunnerLink): void {
		const previous = this.#links.get(runnerId);
		this.#links.set(runnerId, link);
		previous?.evict();
	}

	/** The socket `link` closed. Ignored when a newer socket already replaced it. */
	detach(runnerId: string, link: RunnerLink, now: number): void {
		if (this.#links.get(runnerId) !== link) return;
		this.#links.delete(runnerId);
		const record = this.#records.get(runnerId);
		if (!record || record.stopTs !== null) return;
		record.lastPingTs = now;
		this.#save(record);
		if (record.drainTs !== null) this.#finish(record, "drained");
		else this.#startLostTimer(runnerId);
	}

	/** Stored, so that after a restart the lost clock starts from the last pong, not from the restart. */
	pong(runnerId: string, now: number): void {
		const record = this.#records.get(runnerId);
		if (!record) return;
		record.lastPingTs = now;
		this.#save(record);
	}

	/** `ToServerStopping`: no new actors; evict after the drain window. Returns false if already draining. */
	drain(runnerId: string, now: number): boolean {
		const record = this.#records.get(runnerId);
		if (!record || record.drainTs !== null || record.stopTs !== null)
			return false;
		record.drainTs = now;
		this.#save(record);
		this.#drainTimers.set(
			runnerId,
			setTimeout(() => {
				this.#drainTimers.delete(runnerId);
				const current = this.#records.get(runnerId);
				if (current && current.stopTs === null)
					this.#finish(current, "drain_timeout");
			}, this.#options.drainWindowMs),
		);
		return true;
	}

	link(runnerId: string): RunnerLink | undefined {
		return this.#links.get(runnerId);
	}

	get(runnerId: string): RunnerRecord | undefined {
		return this.#records.get(runnerId);
	}

	list(): RunnerRecord[] {
		return [...this.#records.values()];
	}

	/** Connected, not draining, not stopped: may receive new actors. */
	isEligible(record: RunnerRecord): boolean {
		return (
			record.stopTs === null &&
			record.drainTs === null &&
			this.#links.has(record.runnerId)
		);
	}

	#startLostTimer(
		runnerId: string,
		delayMs = this.#options.runnerLostThresholdMs,
	): void {
		this.#clearTimer(this.#lostTimers, runnerId);
		this.#lostTimers.set(
			runnerId,
			setTimeout(() => {
				this.#lostTimers.delete(runnerId);
				const record = this.#records.get(runnerId);
				if (record && record.stopTs === null && !this.#links.has(runnerId))
					this.#finish(record, "lost");
			}, delayMs),
		);
	}

	/** The runner's workflow ends: forget its commands, evict any socket, give its actors away. */
	#finish(record: RunnerRecord, reason: RunnerGoneReason): void {
		record.stopTs = Date.now();
		this.#storage.transaction(() => {
			this.#save(record);
			this.#storage.deleteRunnerCommands(record.runnerId);
		});
		this.#clearTimer(this.#lostTimers, record.runnerId);
		this.#clearTimer(this.#drainTimers, record.runnerId);
		const link = this.#links.get(record.runnerId);
		this.#links.delete(record.runnerId);
		link?.evict();
		this.#options.log(`runner ${record.runnerId} (${record.name}) ${reason}`);
		this.#hooks.onGone(record.runnerId, reason);
	}

	#save(record: RunnerRecord): void {
		this.#records.set(record.runnerId, record);
		this.#storage.putRunner(record);
	}

	#clearTimer(
		timers: Map<string, ReturnType<typeof setTimeout>>,
		runnerId: string,
	): void {
		const timer = timers.get(runnerId);
		if (timer !== undefined) clearTimeout(timer);
		timers.delete(runnerId);
	}

	/** Clears every timer; state stays as stored. */
	close(): void {
		for (const timer of this.#lostTimers.values()) clearTimeout(timer);
		for (const timer of this.#drainTimers.values()) clearTimeout(timer);
		this.#lostTimers.clear();
		this.#drainTimers.clear();
		this.#links.clear();
	}
}
