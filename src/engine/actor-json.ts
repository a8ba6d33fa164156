import type { ActorRecord } from "./storage/types.ts";

export type ActorJson = ReturnType<typeof actorJson>;

/** The real engine's `Actor` JSON (snake_case, timestamps in ms or null). */
export function actorJson(actor: ActorRecord) {
	return {
		actor_id: actor.actorId,
		name: actor.name,
		key: actor.key,
		namespace_id: actor.namespace,
		datacenter: "default",
		runner_name_selector: actor.runnerNameSelector,
		crash_policy: actor.crashPolicy,
		create_ts: actor.createTs,
		pending_allocation_ts: actor.pendingAllocationTs,
		start_ts: actor.startTs,
		connectable_ts: actor.connectableTs,
		sleep_ts: actor.sleepTs,
		reschedule_ts: actor.rescheduleTs,
		destroy_ts: actor.destroyTs,
		error: actor.error,
	};
}
