/**
 * Our runner against the dev engine when a second connection claims its identity (same namespace, name and
 * runner_key): the engine evicts the older socket with `1000 ws.eviction`, and our runner must stop for good.
 */
import { expect, it } from "vitest";
import { startEngine } from "../../src/engine/index.ts";
import { RUNNER_NAME } from "../conformance/runner-scenarios.ts";
import { isRunning, watchActors } from "../engine/actor-watch.ts";
import { RawRunner } from "../engine/raw-runner.ts";
import {
	connectedRunner,
	createCounter,
	deferCleanups,
} from "./engine-fixtures.ts";

const PING_INTERVAL_MS = 50;

const defer = deferCleanups();

it("a second socket with our runner_key evicts our runner: report 'evicted', state stopped, no reconnect", async () => {
	const watch = watchActors();
	const engineLog: string[] = [];
	const engine = await startEngine({
		port: 0,
		onActorChange: watch.onActorChange,
		pingIntervalMs: PING_INTERVAL_MS,
		log: (line) => engineLog.push(line),
	});
	defer(() => engine.close());
	// A runner that wrongly reconnected after eviction would dial again within ~20 ms.
	const { runner, events } = await connectedRunner(engine, defer, {
		maxReconnectDelayMs: 20,
	});
	const runnerId = runner.runnerId;

	const { actor_id: actorId } = await createCounter(engine);
	await watch.until(actorId, isRunning);

	const usurper = new RawRunner(engine.url, { key: runner.runnerKey });
	defer(() => usurper.close());
	await usurper.opened;
	usurper.init(RUNNER_NAME);
	// Same (namespace, name, runner_key): the engine hands the usurper our runner id.
	expect((await usurper.next("ToClientInit")).runnerId).toBe(runnerId);

	const report = await runner.closed;
	const evictedAt = Date.now();
	expect(report.reason).toBe("evicted");
	expect(report.mode).toBe("immediate");
	expect(report.error).toBeUndefined();
	expect(report.actorsAbandoned).toBe(1);
	expect(runner.state).toBe("stopped");
	expect(events.disconnects).toEqual([
		{ code: 1000, reason: expect.stringMatching(/^ws\.eviction#/) },
	]);
	// The actor was stopped here (locally); the engine was not told, it belongs to the usurper's socket now.
	expect(events.stopped).toEqual([{ actorId, generation: 0 }]);

	// A window of several engine pings (each far longer than our reconnect delay): our runner must not come
	// back, which would in turn evict the usurper.
	await usurper.next(
		"ToClientPing",
		(ping) => Number(ping.ts) > evictedAt + 4 * PING_INTERVAL_MS,
	);
	expect(usurper.ws.readyState).toBe(usurper.ws.OPEN);
	expect(events.connects).toBe(1);
	expect(events.disconnects).toHaveLength(1);
	const connectsWithOurKey = engineLog.filter((line) =>
		line.endsWith(`key ${runner.runnerKey}) connected`),
	);
	expect(connectsWithOurKey).toHaveLength(2); // ours, then the usurper's
	const listed = (await (
		await fetch(`${engine.url}/runners?namespace=default`)
	).json()) as { runners: { runner_id: string; connected: boolean }[] };
	expect(listed.runners).toEqual([
		expect.objectContaining({ runner_id: runnerId, connected: true }),
	]);
	// Still allocated to the runner id, not lost: eviction is not a loss.
	expect(watch.get(actorId)?.connectable_ts).not.toBeNull();
});
