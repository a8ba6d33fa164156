/**
 * Engine → runner commands with the harness's defaults (start: generation 0, index 0n; stop: index
 * 1n; createTs now, key/input null, no hibernating requests), and event filters for waits.
 */
import type * as protocol from "@rivetkit/engine-runner-protocol";

export interface StartActorOptions {
	generation?: number;
	index?: bigint;
	name?: string;
	key?: string | null;
	input?: Uint8Array | null;
}

/** A StartActor command with the defaults of the harness (generation 0, index 0n). */
export function startActorCommand(
	actorId: string,
	opts: StartActorOptions = {},
): protocol.CommandWrapper {
	const input = opts.input ? (opts.input.slice().buffer as ArrayBuffer) : null;
	return {
		checkpoint: {
			actorId,
			generation: opts.generation ?? 0,
			index: opts.index ?? 0n,
		},
		inner: {
			tag: "CommandStartActor",
			val: {
				config: {
					name: opts.name ?? "test-actor",
					key: opts.key ?? null,
					createTs: BigInt(Date.now()),
					input,
				},
				hibernatingRequests: [],
			},
		},
	};
}

/** A StopActor command with the defaults of the harness (generation 0, index 1n). */
export function stopActorCommand(
	actorId: string,
	opts: { generation?: number; index?: bigint } = {},
): protocol.CommandWrapper {
	return {
		checkpoint: {
			actorId,
			generation: opts.generation ?? 0,
			index: opts.index ?? 1n,
		},
		inner: { tag: "CommandStopActor", val: null },
	};
}

/** Event filter: an ActorStateUpdate with the given state (e.g. "ActorStateRunning"). */
export function isActorStateEvent(
	state: protocol.ActorState["tag"],
): (event: protocol.EventWrapper) => boolean {
	return (event) =>
		event.inner.tag === "EventActorStateUpdate" &&
		event.inner.val.state.tag === state;
}
