/**
 * The bounded fault run (issue 12 §1): the same `runFaults` as `npm run faults`, at the CI size, with a fixed seed,
 * on the dev engine (SQLite, restarted mid-faults) and the real Rivet Engine (SIGTERM mid-faults). Fails when an
 * invariant of ours breaks; the reference runner's results are printed, not asserted (they are findings about R).
 */
import { expect, it } from "vitest";
import { runFaults } from "../../reliability/faults.ts";

/** Fixed: a failure here replays with `npm run faults -- --seed 12 --size bounded --engine dev|rivet`. */
const SEED = 12;

it(`faults (seed ${SEED}, bounded): every invariant of ours holds on the dev engine and the Rivet Engine`, async () => {
	const outcome = await runFaults({
		seed: SEED,
		engines: ["dev", "rivet"],
		size: "bounded",
		progress: (line) => console.log(line),
	});
	for (const line of outcome.results.held) console.log(line);
	for (const finding of outcome.referenceFindings.slice(0, 3))
		console.log(`reference runner finding (not asserted):\n${finding}`);
	for (const finding of outcome.engineFindings)
		console.log(`engine finding (not asserted):\n${finding}`);
	// Something was exercised on both engines: writes acknowledged and faults injected.
	for (const { engine, results } of outcome.invariants) {
		const writes = results.find(
			(r) => r.family === "ours" && r.name === "writes",
		);
		expect(writes?.summary, engine).toMatch(/^[1-9]\d* of/);
	}
	expect(outcome.results.figures).toMatch(/cut \d+/);
	expect(outcome.failures.join("\n\n")).toBe("");
	expect(outcome.ok).toBe(true);
}, 240_000);
