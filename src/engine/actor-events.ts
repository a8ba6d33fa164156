import * as protocol from "@rivetkit/engine-runner-protocol";
import { EVENT_ACK_BATCH_SIZE } from "./options.ts";
import type { ActorRecord } from "./storage/types.ts";

/** The state-machine transitions a runner's events may trigger. */
export interface ActorEventTransitions {
	actor(actorId: string): ActorRecord | undefined;
	save(actor: ActorRecord): void;
	/** The runner says the actor runs: it is connectable from now on. */
	markRunning(actor: ActorRecord, now: number): void;
	/** The generation ended (`graceful`: stopped as asked, not crashed or lost). */
	afterStop(actor: ActorRecord, graceful: boolean, now: number): void;
	requestStop(actor: ActorRecord): void;
}

/**
 * `ToServerEvents`: de-duplicated by (runner id, generation, index > last), applied in order. Returns the
 * checkpoints to ack: an actor whose last index passed its last ack by more than 250 (spec §4.5).
 */
export function applyRunnerEvents(
	transitions: ActorEventTransitions,
	runnerId: string,
	events: protocol.ToServerEvents,
	now: number,
): protocol.ActorCheckpoint[] {
	// The ack carries the runner's own index (a bigint): the stored number loses precision past 2^53, and an index
	// near i64 max rounded up no longer fits an i64.
	const touched = new Map<
		string,
		{ actor: ActorRecord; generation: number; index: bigint }
	>();
	for (const event of events) {
		const actor = transitions.actor(event.checkpoint.actorId);
		if (!actor || actor.runnerId !== runnerId) continue;
		const index = Number(event.checkpoint.index);
		if (
			event.checkpoint.generation !== actor.generation ||
			index <= actor.lastEventIdx
		)
			continue;
		actor.lastEventIdx = index;
		touched.set(actor.actorId, {
			actor,
			generation: actor.generation,
			index: event.checkpoint.index,
		});
		applyEvent(transitions, actor, event.inner, now);
		transitions.save(actor);
	}
	const acks: protocol.ActorCheckpoint[] = [];
	for (const { actor, generation, index } of touched.values()) {
		if (actor.lastEventIdx <= actor.lastEventAckIdx + EVENT_ACK_BATCH_SIZE)
			continue;
		actor.lastEventAckIdx = actor.lastEventIdx;
		transitions.save(actor);
		acks.push({ actorId: actor.actorId, generation, index });
	}
	return acks;
}

function applyEvent(
	transitions: ActorEventTransitions,
	actor: ActorRecord,
	event: protocol.Event,
	now: number,
): void {
	switch (event.tag) {
		case "EventActorStateUpdate": {
			const state = event.val.state;
			if (state.tag === "ActorStateRunning") {
				if (actor.status === "starting") transitions.markRunning(actor, now);
			} else {
				const crashed = state.val.code === protocol.StopCode.Error;
				if (crashed) actor.error = { crashed: { message: state.val.message } };
				transitions.afterStop(actor, !crashed && !actor.goingAway, now);
			}
			return;
		}
		case "EventActorIntent":
			if (event.val.intent.tag === "ActorIntentSleep") actor.sleepIntent = true;
			else actor.stopIntent = true;
			transitions.requestStop(actor);
			return;
		case "EventActorSetAlarm":
			actor.alarmTs =
				event.val.alarmTs === null ? null : Number(event.val.alarmTs);
			return;
	}
}
