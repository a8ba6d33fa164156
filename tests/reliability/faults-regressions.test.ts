/**
 * Bugs the fault runs (npm run faults) found in the dev engine and the runner, each pinned by a test that failed
 * before its fix.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { startEngine } from "../../src/engine/index.ts";
import { RawRunner } from "../engine/raw-runner.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// Found by `npm run faults -- --seed 1 --engine dev` (a restart while runners redial): a runner socket upgraded
// while close() waited on the others outlived the SQLite file, and its close then wrote the runner record to the
// closed database, an uncaught "database connection is not open" that ended the process.
it("a runner that connects while the dev engine is closing is refused, and nothing writes to the closed storage", async () => {
	const dir = mkdtempSync(join(tmpdir(), "faults-regression-"));
	cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
	const engine = await startEngine({
		port: 0,
		storage: { path: join(dir, "engine.sqlite") },
	});
	// A peer that never answers the close handshake holds close() up for its 1 s terminate bound.
	const silent = new RawRunner(engine.url, { key: "silent" });
	await silent.opened;
	silent.ws.pause();
	(silent.ws as unknown as { _socket: { pause(): void } })._socket.pause();
	cleanups.push(() => silent.ws.terminate());

	const closed = engine.close();
	const late = new RawRunner(engine.url, { key: "late" });
	cleanups.push(() => late.ws.terminate());
	const lateOutcome = await late.opened.then(
		() => "open",
		() => "refused",
	);
	if (lateOutcome === "open") {
		late.init();
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
	await closed;
	late.ws.terminate();
	await late.closed;
	// Had the late socket been served, its close would have written to the closed database by now.
	await new Promise((resolve) => setImmediate(resolve));
	expect(lateOutcome).toBe("refused");
});

// Found by `npm run faults -- --seed 1 --engine dev` after the fix above: a runner that drained (ToServerStopping)
// while the engine was closing armed a drain timer after close() had cleared the timers; it fired on the closed
// database, the same uncaught error.
it("frames a runner sends while the dev engine is closing are not served, so no timer outlives the storage", async () => {
	const dir = mkdtempSync(join(tmpdir(), "faults-regression-"));
	cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
	const drainWindowMs = 1_300;
	const engine = await startEngine({
		port: 0,
		storage: { path: join(dir, "engine.sqlite") },
		drainWindowMs,
	});
	const silent = new RawRunner(engine.url, { key: "silent" });
	await silent.opened;
	(silent.ws as unknown as { _socket: { pause(): void } })._socket.pause();
	cleanups.push(() => silent.ws.terminate());
	const drainer = new RawRunner(engine.url, { key: "drainer" });
	cleanups.push(() => drainer.ws.terminate());
	await drainer.opened;
	drainer.init();
	await drainer.next("ToClientInit");

	const closed = engine.close();
	drainer.send({ tag: "ToServerStopping", val: null });
	await closed;
	// Past the drain window: a timer armed by the Stopping frame would have fired on the closed storage by now.
	const errors: unknown[] = [];
	const onError = (error: unknown) => errors.push(error);
	process.on("uncaughtException", onError);
	cleanups.push(() => {
		process.off("uncaughtException", onError);
	});
	await new Promise((resolve) => setTimeout(resolve, drainWindowMs));
	expect(errors).toEqual([]);
});
