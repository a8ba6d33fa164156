/**
 * The benchmark harness end to end with the floor client, on loopback: the measurements return sane figures and
 * leave nothing open (each one closes its engine and runner).
 */
import { describe, expect, test } from "vitest";
import { loadRunnerKinds, type RunnerKind } from "../../bench/bench-runners.ts";
import { measureDrain } from "../../bench/drain-measure.ts";
import { measureReconnects } from "../../bench/reconnect-measure.ts";
import { measureHttp } from "../../bench/tunnel-http-measure.ts";
import { measureWebSocket } from "../../bench/tunnel-websocket-measure.ts";

const TIMEOUT_MS = 5000;

async function floorKind(): Promise<RunnerKind> {
	const { kinds } = await loadRunnerKinds();
	const floor = kinds.find((k) => k.name === "floor");
	if (!floor) throw new Error("no floor runner");
	return floor;
}

describe("the harness with the floor runner", () => {
	test("HTTP: every request is answered with its echoed body and timed", async () => {
		const sample = await measureHttp(
			await floorKind(),
			{ requests: 40, concurrency: 4, bodyBytes: 1024 },
			TIMEOUT_MS,
		);
		expect(sample.latenciesMs).toHaveLength(40);
		expect(Math.min(...sample.latenciesMs)).toBeGreaterThan(0);
		expect(sample.requestsPerSec).toBeGreaterThan(0);
	});

	test("WebSocket: one-way and echo both complete", async () => {
		const kind = await floorKind();
		for (const mode of ["oneway", "echo"] as const) {
			const rate = await measureWebSocket(
				kind,
				{ mode, messages: 30, bytes: 64 },
				TIMEOUT_MS,
			);
			expect(rate).toBeGreaterThan(0);
		}
	});

	test("drain: the close follows the last Stopped, within the whole drain", async () => {
		const sample = await measureDrain(await floorKind(), 20, TIMEOUT_MS, "t");
		expect(sample.lastStopToCloseMs).toBeGreaterThanOrEqual(0);
		expect(sample.wholeDrainMs).toBeGreaterThanOrEqual(
			sample.lastStopToCloseMs,
		);
		expect(sample.stoppingMs).toBeLessThanOrEqual(sample.wholeDrainMs);
	});

	test("reconnect: each going_away close is followed by a new ToServerInit", async () => {
		const samples = await measureReconnects(await floorKind(), 2, TIMEOUT_MS);
		expect(samples).toHaveLength(2);
		for (const ms of samples) expect(ms).toBeGreaterThan(0);
	});
});
