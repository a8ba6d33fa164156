/**
 * The lost threshold after a half-open cut, end to end, with our runner on the dev engine: only the runner's side
 * of a loopback TCP relay is dropped, so the engine notices nothing until its ping timeout while our runner's
 * lost timer fires. (The plain partition past the threshold is a shared scenario for both runners on both
 * engines: tests/conformance/runner-scenarios.ts.)
 */
import { expect, it } from "vitest";
import { type RunningEngine, startEngine } from "../../src/engine/index.ts";
import { isRunning, watchActors } from "../engine/actor-watch.ts";
import { TcpRelay } from "../helpers/tcp-relay.ts";
import {
	connectedRunner,
	createCounter,
	deferCleanups,
} from "./engine-fixtures.ts";

const LOST_THRESHOLD_MS = 300;

const defer = deferCleanups();

/** The dev engine with a short lost threshold, and our runner connected to it through a {@link TcpRelay}. */
async function runnerBehindPartition(watch: ReturnType<typeof watchActors>) {
	const engine: RunningEngine = await startEngine({
		port: 0,
		onActorChange: watch.onActorChange,
		runnerLostThresholdMs: LOST_THRESHOLD_MS,
	});
	defer(() => engine.close());
	const partition = new TcpRelay(engine.url);
	const relayUrl = await partition.listen();
	defer(() => partition.close());
	const { runner, events } = await connectedRunner(engine, defer, {
		maxReconnectDelayMs: 40,
		endpoint: relayUrl,
	});
	return { engine, partition, runner, events };
}

// The runner's lost timer runs from when IT saw the close, the engine's from when the engine saw it, which after
// a half-open cut is only its ping timeout (15 s) later. In between the runner has stopped its actors locally yet
// reconnects to the same runner id. R tells no one, and the engine keeps the actor "running" there with nobody
// hosting it; we report each lost actor Stopped(Error) on that reconnect, so the engine applies the crash policy.
it("after a half-open cut past the lost threshold, the runner back under its old id reports its lost actors and the engine reschedules them", async () => {
	const watch = watchActors();
	const { engine, partition, runner, events } =
		await runnerBehindPartition(watch);
	const firstRunnerId = runner.runnerId;
	const { actor_id: actorId } = await createCounter(engine, {
		crashPolicy: "restart",
	});
	await watch.until(actorId, isRunning);

	partition.cut("runner");
	await events.until("local stop", () => events.stopped.length === 1);
	partition.heal();
	await events.until("reconnection", () => events.connects === 2);
	expect(runner.runnerId).toBe(firstRunnerId); // the engine never noticed: same identity
	// The crash policy (restart) brings the actor back here as the next generation.
	await events.until("restart", () =>
		events.started.some((s) => s.actorId === actorId && s.generation === 1),
	);
	const actor = await watch.until(actorId, isRunning);
	expect(actor.destroy_ts).toBeNull();
	expect(runner.hasActor(actorId, 1)).toBe(true);
});
