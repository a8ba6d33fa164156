import type * as protocol from "@rivetkit/engine-runner-protocol";
import type { RunnerRegistry } from "./runner-registry.ts";
import type { ActorRecord, RunnerRecord } from "./storage/types.ts";

/** An eligible runner of the actor's namespace and name with a free slot, highest version first. */
export function pickRunner(
	runners: RunnerRegistry,
	actors: Iterable<ActorRecord>,
	actor: ActorRecord,
): RunnerRecord | undefined {
	return runners
		.list()
		.filter(
			(r) =>
				r.namespace === actor.namespace &&
				r.name === actor.runnerNameSelector &&
				runners.isEligible(r),
		)
		.filter((r) => usedSlots(actors, r.runnerId) < r.totalSlots)
		.sort((a, b) => b.version - a.version)[0];
}

function usedSlots(actors: Iterable<ActorRecord>, runnerId: string): number {
	let used = 0;
	for (const actor of actors) if (actor.runnerId === runnerId) used++;
	return used;
}

export function startActorCommand(
	actor: ActorRecord,
	now: number,
	hibernatingRequests: protocol.HibernatingRequest[],
): protocol.Command {
	return {
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
			hibernatingRequests,
		},
	};
}
