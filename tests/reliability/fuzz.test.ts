/**
 * The bounded fuzz run (issue 12 §2): the same code as `npm run fuzz` (reliability/fuzz-campaign.ts) at CI size,
 * with a fixed seed. Fails on a crash, a hang, a leak, an untyped error or a wrong frame handled in silence, and
 * prints each failure with the seed and frame that replay it (`npm run fuzz -- --seed N`).
 */
import { describe, expect, it } from "vitest";
import { BOUNDED_SIZES, runFuzz } from "../../reliability/fuzz-campaign.ts";

const SEED = 20_261_202;

describe("fuzz (bounded)", () => {
	it(`runner and dev engine survive ${BOUNDED_SIZES.runnerFrames} ToClient and ${BOUNDED_SIZES.engineFrames} ToServer frames, ${BOUNDED_SIZES.httpRequests} API, ${BOUNDED_SIZES.gatewayRequests} gateway requests and ${BOUNDED_SIZES.gatewaySockets} gateway sockets (seed ${SEED})`, async () => {
		const run = await runFuzz(SEED, BOUNDED_SIZES);
		// Without --expose-gc the heap figures are not after a collection: the bound is checked by `npm run fuzz`.
		const heapMeasured =
			typeof (globalThis as { gc?: unknown }).gc === "function";
		const failed = heapMeasured
			? run.failed
			: run.failed.filter((line) => !line.includes("`heapBounded`"));
		expect(failed, failed.join("\n")).toEqual([]);
		expect(run.ours.frames).toBe(BOUNDED_SIZES.runnerFrames);
		expect(run.ours.byExpectation.close ?? 0).toBeGreaterThan(100);
		expect(run.ours.byExpectation.answer ?? 0).toBeGreaterThan(1000);
		expect(run.ours.probes).toBeGreaterThan(3);
		expect(run.engine.counts["kv answers"] ?? 0).toBeGreaterThan(500);
	}, 120_000);
});
