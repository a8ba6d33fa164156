import { EngineError } from "./errors.ts";
import { newRivetId } from "./ids.ts";
import type { ActorRecord } from "./storage/types.ts";

/** What POST /actors decides; everything else about a new actor starts from defaults. */
export type CreateActorInput = Pick<
	ActorRecord,
	"namespace" | "name" | "key" | "input" | "runnerNameSelector" | "crashPolicy"
>;

/** Per-generation bookkeeping that a new actor, and every placement onto a runner, starts from. */
export const FRESH_GENERATION = {
	nextCommandIdx: 0,
	lastEventIdx: -1,
	lastEventAckIdx: -1,
	sleepIntent: false,
	stopIntent: false,
	goingAway: false,
} as const satisfies Partial<ActorRecord>;

/** A just-created actor: pending, generation 0, waiting for a runner since `now`. */
export function newActorRecord(
	input: CreateActorInput,
	now: number,
): ActorRecord {
	return {
		actorId: newRivetId(),
		...input,
		createTs: now,
		status: "pending",
		generation: 0,
		runnerId: null,
		...FRESH_GENERATION,
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
}

/** Keys are unique per (namespace, name) among actors not destroyed, as the real engine's `duplicate_key`. */
export function assertKeyFree(
	actors: Iterable<ActorRecord>,
	input: CreateActorInput,
): void {
	if (input.key === null) return;
	for (const a of actors) {
		if (
			a.namespace === input.namespace &&
			a.name === input.name &&
			a.key === input.key &&
			a.status !== "destroyed"
		) {
			throw new EngineError(
				"actor",
				"duplicate_key",
				`Actor already exists with this key: ${a.actorId}`,
				400,
			);
		}
	}
}
