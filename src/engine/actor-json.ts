import { DEFAULT_NAMESPACE_ID } from "./ids.ts";
import type { ActorError, ActorRecord } from "./storage/types.ts";

export type ActorJson = ReturnType<typeof actorJson>;

/**
 * The real engine's `Actor` JSON (snake_case, timestamps in ms or null, its field order). `error` is absent when
 * there is none, as serde's `skip_serializing_if` leaves it.
 */
export function actorJson(actor: ActorRecord) {
	const json: {
		actor_id: string;
		name: string;
		key: string | null;
		namespace_id: string;
		datacenter: string;
		runner_name_selector: string;
		crash_policy: ActorRecord["crashPolicy"];
		create_ts: number;
		start_ts: number | null;
		pending_allocation_ts: number | null;
		connectable_ts: number | null;
		sleep_ts: number | null;
		reschedule_ts: number | null;
		destroy_ts: number | null;
		error?: ActorError;
	} = {
		actor_id: actor.actorId,
		name: actor.name,
		key: actor.key,
		namespace_id: DEFAULT_NAMESPACE_ID,
		datacenter: "default",
		runner_name_selector: actor.runnerNameSelector,
		crash_policy: actor.crashPolicy,
		create_ts: actor.createTs,
		start_ts: actor.startTs,
		pending_allocation_ts: actor.pendingAllocationTs,
		connectable_ts: actor.connectableTs,
		sleep_ts: actor.sleepTs,
		reschedule_ts: actor.rescheduleTs,
		destroy_ts: actor.destroyTs,
	};
	if (actor.error !== null) json.error = actor.error;
	return json;
}

/** An actor error as one line of text (logs, the inspector): `crashed: boom`, `runner_connection_lost`, … */
export function actorErrorText(error: ActorError | null): string | null {
	if (error === null || typeof error === "string") return error;
	const [kind, detail] = Object.entries(error)[0] ?? ["error", {}];
	const message = (detail as { message?: string | null }).message;
	return message ? `${kind}: ${message}` : kind;
}
