/**
 * The gateway's view of actor state: change notifications (delivered in a microtask, never inside the actor
 * lifecycle's own update) and "wait until Ready", waking a sleeping actor (spec §8.6: up to 8 re-wakes).
 */
import type { ActorRecord } from "../storage/types.ts";
import { GatewayError } from "./gateway-error.ts";

export interface ActorDirectory {
	get(actorId: string): ActorRecord | undefined;
	wake(actorId: string): boolean;
}

type Listener = (record: ActorRecord | undefined) => void;

const MAX_WAKES = 8;

export const isReady = (record: ActorRecord): boolean =>
	record.status === "running" && record.runnerId !== null;

export class ActorWatch {
	readonly #actors: ActorDirectory;
	readonly #listeners = new Map<string, Set<Listener>>();
	readonly #dirty = new Set<string>();
	readonly #cancels = new Set<() => void>();
	#scheduled = false;
	#closed = false;

	constructor(actors: ActorDirectory) {
		this.#actors = actors;
	}

	get(actorId: string): ActorRecord | undefined {
		return this.#actors.get(actorId);
	}

	wake(actorId: string): boolean {
		return this.#actors.wake(actorId);
	}

	/** The engine saved a change of this actor. */
	changed(actorId: string): void {
		if (!this.#listeners.has(actorId)) return;
		this.#dirty.add(actorId);
		if (this.#scheduled) return;
		this.#scheduled = true;
		queueMicrotask(() => {
			this.#scheduled = false;
			const ids = [...this.#dirty];
			this.#dirty.clear();
			for (const id of ids) {
				const listeners = this.#listeners.get(id);
				if (!listeners) continue;
				const record = this.#actors.get(id);
				for (const listener of [...listeners]) listener(record);
			}
		});
	}

	subscribe(actorId: string, listener: Listener): () => void {
		let set = this.#listeners.get(actorId);
		if (!set) {
			set = new Set();
			this.#listeners.set(actorId, set);
		}
		set.add(listener);
		return () => {
			set.delete(listener);
			if (set.size === 0 && this.#listeners.get(actorId) === set)
				this.#listeners.delete(actorId);
		};
	}

	/** Resolves with the actor once it is Ready; wakes it if it sleeps. Rejects with a `GatewayError`. */
	ready(actorId: string, timeoutMs: number): Promise<ActorRecord> {
		if (this.#closed)
			return Promise.reject(
				new GatewayError("guard", "service_unavailable", "Engine closing", 503),
			);
		const now = this.#actors.get(actorId);
		if (now && isReady(now)) return Promise.resolve(now);
		return new Promise((resolve, reject) => {
			let wakes = 0;
			let unsubscribe = (): void => {};
			const finish = (): void => {
				clearTimeout(timer);
				unsubscribe();
				this.#cancels.delete(cancel);
			};
			const check = (record: ActorRecord | undefined): void => {
				if (!record || record.status === "destroyed") {
					finish();
					reject(GatewayError.actorNotFound());
				} else if (isReady(record)) {
					finish();
					resolve(record);
				} else if (record.status === "sleeping" && wakes < MAX_WAKES) {
					wakes++;
					this.#actors.wake(actorId);
				}
			};
			const cancel = (): void => {
				finish();
				reject(
					new GatewayError(
						"guard",
						"service_unavailable",
						"Engine closing",
						503,
					),
				);
			};
			const timer = setTimeout(() => {
				finish();
				reject(
					new GatewayError(
						"guard",
						"actor_ready_timeout",
						`Actor ${actorId} was not ready within ${timeoutMs} ms`,
						504,
						true,
					),
				);
			}, timeoutMs);
			this.#cancels.add(cancel);
			unsubscribe = this.subscribe(actorId, check);
			check(now);
		});
	}

	close(): void {
		this.#closed = true;
		for (const cancel of [...this.#cancels]) cancel();
		this.#listeners.clear();
	}
}
