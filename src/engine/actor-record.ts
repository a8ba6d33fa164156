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

/** The live actor holding (namespace, name, key), if any: keys are unique among actors not destroyed. */
export function actorWithKey(
	actors: Iterable<ActorRecord>,
	input: Pick<CreateActorInput, "namespace" | "name" | "key">,
): ActorRecord | undefined {
	if (input.key === null) return undefined;
	for (const a of actors) {
		if (
			a.namespace === input.namespace &&
			a.name === input.name &&
			a.key === input.key &&
			a.status !== "destroyed"
		)
			return a;
	}
	return undefined;
}

/** As the real engine's `duplicate_key` (with `existing_actor_id` in its metadata). */
export function assertKeyFree(
	actors: Iterable<ActorRecord>,
	input: CreateActorInput,
): void {
	const a = actorWithKey(actors, input);
	if (a) {
		throw new EngineError(
			"actor",
			"duplicate_key",
			`Actor key '${input.key}' already in use for actor '${a.actorId}'`,
			400,
			{ existing_actor_id: a.actorId, key: input.key },
		);
	}
}
