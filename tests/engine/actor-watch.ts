import type { ActorJson } from "../../src/engine/index.ts";

/**
 * Follows actor changes through the engine's `onActorChange` hook so tests await engine state instead of
 * polling or sleeping. Pass `watch.onActorChange` to startEngine.
 */
export function watchActors() {
	const latest = new Map<string, ActorJson>();
	const waiters = new Set<() => void>();
	return {
		onActorChange(actor: ActorJson): void {
			latest.set(actor.actor_id, actor);
			for (const check of [...waiters]) check();
		},
		get(actorId: string): ActorJson | undefined {
			return latest.get(actorId);
		},
		/** Resolves with the actor once `predicate` holds (checked now and after every change). */
		until(
			actorId: string,
			predicate: (actor: ActorJson) => boolean,
			timeoutMs = 10_000,
		): Promise<ActorJson> {
			return new Promise((resolve, reject) => {
				const check = () => {
					const actor = latest.get(actorId);
					if (actor && predicate(actor)) {
						waiters.delete(check);
						clearTimeout(timer);
						resolve(actor);
					}
				};
				const timer = setTimeout(() => {
					waiters.delete(check);
					reject(
						new Error(
							`actor ${actorId} did not reach the expected state: ${JSON.stringify(latest.get(actorId))}`,
						),
					);
				}, timeoutMs);
				waiters.add(check);
				check();
			});
		},
	};
}

export const isRunning = (a: ActorJson): boolean => a.connectable_ts !== null;
export const isSleeping = (a: ActorJson): boolean =>
	a.sleep_ts !== null && a.connectable_ts === null && a.destroy_ts === null;
export const isDestroyed = (a: ActorJson): boolean => a.destroy_ts !== null;
