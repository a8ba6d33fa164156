/**
 * Engine restart mid-traffic, end to end: our runner hosts actors that keep writing KV while the dev engine
 * (SQLite) is closed and started again on the same file and port. Nothing the engine acknowledged may be lost,
 * an event made while the engine was down must still arrive, and no actor may start twice.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { KvUnknownOutcomeError, type Runner } from "../../src/core/index.ts";
import {
	type ActorJson,
	type RunningEngine,
	startEngine,
} from "../../src/engine/index.ts";
import { RunnerRecorder } from "../conformance/runner-scenarios.ts";
import { isRunning, isSleeping, watchActors } from "../engine/actor-watch.ts";
import {
	connectedRunner,
	createCounter,
	deferCleanups,
} from "./engine-fixtures.ts";

const WRITERS = 3;
/** Acknowledged writes each writer must reach before the restart, and again after it. */
const WRITES_PER_PHASE = 20;

const defer = deferCleanups();

/** A SQLite file for the engine in a fresh directory, removed after the test. */
function scratchSqlite(prefix: string): { path: string } {
	const dir = mkdtempSync(join(tmpdir(), prefix));
	defer(() => rmSync(dir, { recursive: true, force: true }));
	return { path: join(dir, "engine.sqlite") };
}

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);

/** One actor writing `n/<i>` = `<i>` in a loop; `acked` holds every i whose put resolved. */
class Writer {
	readonly acked: number[] = [];
	/** Acknowledged puts that were made while the runner had no engine (queued, sent after the reconnect). */
	readonly ackedFromOutage: number[] = [];
	readonly failures: unknown[] = [];
	readonly actorId: string;
	#stopped = false;
	readonly done: Promise<void>;

	constructor(runner: Runner, actorId: string, onProgress: () => void) {
		this.actorId = actorId;
		this.done = (async () => {
			for (let i = 0; !this.#stopped; i++) {
				const duringOutage = runner.state === "reconnecting";
				try {
					await runner.kvPut(actorId, [[encode(`n/${i}`), encode(String(i))]]);
					this.acked.push(i);
					if (duringOutage) this.ackedFromOutage.push(i);
				} catch (error) {
					this.failures.push(error);
				}
				onProgress();
			}
		})();
	}

	stop(): Promise<void> {
		this.#stopped = true;
		return this.done;
	}
}

it("restart on the same SQLite file mid-traffic: acknowledged writes and events survive, no actor starts twice", async () => {
	const storage = scratchSqlite("edgerunner-e2e-restart-");
	const before = watchActors();
	let engine: RunningEngine = await startEngine({
		port: 0,
		storage,
		onActorChange: before.onActorChange,
	});
	defer(() => engine.close());
	const port = engine.port;

	const { runner, events } = await connectedRunner(engine, defer, {
		maxReconnectDelayMs: 50,
	});
	const runnerId = runner.runnerId;

	const create = async (key: string): Promise<string> => {
		const actor = await createCounter(engine, {
			key,
			crashPolicy: "restart",
		});
		await before.until(actor.actor_id, isRunning);
		return actor.actor_id;
	};
	const writerIds: string[] = [];
	for (let i = 0; i < WRITERS; i++) writerIds.push(await create(`writer-${i}`));
	const sleeper = await create("sleeper");

	const progress = new RunnerRecorder();
	const writers = writerIds.map(
		(id) => new Writer(runner, id, () => progress.record(() => {})),
	);
	defer(() => Promise.all(writers.map((w) => w.stop())));
	const everyWriterReached = (count: number) =>
		progress.until(`${count} acknowledged writes per actor`, () =>
			writers.every((w) => w.acked.length >= count),
		);
	await everyWriterReached(WRITES_PER_PHASE);

	const runningBeforeRestart = [...writerIds, sleeper].filter((id) => {
		const actor = before.get(id);
		return actor !== undefined && isRunning(actor);
	});
	expect(runningBeforeRestart).toHaveLength(WRITERS + 1);
	await engine.close();
	await events.until("disconnect", () => events.disconnects.length >= 1);
	expect(events.disconnects[0]?.reason).toMatch(/^ws\.going_away#/);
	const ackedAtClose = writers.map((w) => w.acked.length);
	// An event made while no engine is listening: it must reach the restarted engine.
	runner.sleepActor(sleeper);

	const after = watchActors();
	engine = await startEngine({
		port,
		storage,
		onActorChange: after.onActorChange,
	});
	await events.until("reconnection", () => events.connects === 2);
	expect(runner.runnerId).toBe(runnerId);
	await everyWriterReached(Math.max(...ackedAtClose) + WRITES_PER_PHASE);
	await after.until(sleeper, isSleeping);
	await Promise.all(writers.map((w) => w.stop()));

	// No actor started twice, and none restarted: the runner came back well within the lost threshold.
	expect(
		events.started.map(({ actorId, generation }) => ({ actorId, generation })),
	).toEqual(
		[...writerIds, sleeper].map((actorId) => ({ actorId, generation: 0 })),
	);
	expect(events.stopped).toEqual([{ actorId: sleeper, generation: 0 }]);

	for (const writer of writers) {
		// Only a put in flight when the engine went away may fail, and only as "outcome unknown".
		expect(writer.failures.length).toBeLessThanOrEqual(1);
		for (const failure of writer.failures)
			expect(failure).toBeInstanceOf(KvUnknownOutcomeError);
		expect(writer.ackedFromOutage.length).toBeGreaterThan(0);

		const listed = (await (
			await fetch(
				`${engine.url}/actors?namespace=default&actor_ids=${writer.actorId}`,
			)
		).json()) as { actors: ActorJson[] };
		expect(isRunning(listed.actors[0] as ActorJson)).toBe(true);
		const kv = (await (
			await fetch(`${engine.url}/actors/${writer.actorId}/kv`)
		).json()) as { entries: { key: string; value: string }[] };
		const stored = new Map(kv.entries.map((e) => [e.key, e.value]));
		const lost = writer.acked.filter((i) => stored.get(`n/${i}`) !== String(i));
		expect(lost).toEqual([]);
		// And the runner reads the same through its own socket.
		const last = writer.acked.at(-1) as number;
		const [value] = await runner.kvGet(writer.actorId, [encode(`n/${last}`)]);
		expect(new TextDecoder().decode(value ?? new Uint8Array())).toBe(
			String(last),
		);
	}
	const listed = (await (
		await fetch(`${engine.url}/actors?namespace=default&name=counter`)
	).json()) as { actors: ActorJson[] };
	expect(listed.actors.map((a) => a.actor_id).sort()).toEqual(
		runningBeforeRestart.sort(),
	);
});

it("an engine down for longer than the lost threshold: on restart the runner is lost, gets a new id and its actor restarts", async () => {
	const lostThresholdMs = 300;
	const storage = scratchSqlite("edgerunner-e2e-outage-");
	const before = watchActors();
	let engine: RunningEngine = await startEngine({
		port: 0,
		storage,
		runnerLostThresholdMs: lostThresholdMs,
		onActorChange: before.onActorChange,
	});
	defer(() => engine.close());
	const port = engine.port;
	const { runner, events } = await connectedRunner(engine, defer, {
		maxReconnectDelayMs: 50,
	});
	const firstRunnerId = runner.runnerId;
	const { actor_id: actorId } = await createCounter(engine, {
		crashPolicy: "restart",
	});
	await before.until(actorId, isRunning);

	await engine.close();
	// The runner's own lost timer fires during the outage: it stops the actor here, telling no one.
	await events.until("local stop", () => events.stopped.length === 1);
	expect(runner.hasActor(actorId)).toBe(false);

	const after = watchActors();
	engine = await startEngine({
		port,
		storage,
		runnerLostThresholdMs: lostThresholdMs,
		onActorChange: after.onActorChange,
	});
	await events.until("reconnection", () => events.connects === 2);
	// The outage counts towards the threshold: the engine must not hand back the old id, whose actor the runner
	// has already dropped (it would stay "running" on the engine with nobody hosting it).
	expect(runner.runnerId).not.toBe(firstRunnerId);
	await events.until("restart as generation 1", () =>
		events.started.some((s) => s.actorId === actorId && s.generation === 1),
	);
	await after.until(actorId, isRunning);
	// Placed again: as on the real engine, the failure (runner_connection_lost) is cleared on allocation.
	expect(after.get(actorId)?.error).toBeUndefined();
	expect(
		events.started.map(({ actorId, generation }) => ({ actorId, generation })),
	).toEqual([
		{ actorId, generation: 0 },
		{ actorId, generation: 1 },
	]);
});
