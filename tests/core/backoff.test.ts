import { describe, expect, test } from "vitest";
import { ReconnectBackoff } from "../../src/core/index.ts";

describe("ReconnectBackoff", () => {
	test("full jitter: the delay spans [0, ceiling) and the ceiling doubles up to the cap", () => {
		const max = new ReconnectBackoff(
			{ baseDelayMs: 1000, maxDelayMs: 30_000 },
			() => 0.999_999,
		);
		const ceilings = Array.from(
			{ length: 8 },
			() => max.next("backoff", 0) + 1,
		);
		expect(ceilings).toEqual([
			1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000,
		]);
		const min = new ReconnectBackoff({}, () => 0);
		expect(min.next("backoff", 0)).toBe(0);
	});

	test("the attempt count survives an open that does not last (no reset on open)", () => {
		const backoff = new ReconnectBackoff(
			{ baseDelayMs: 1000, stableUptimeMs: 10_000 },
			() => 0.999_999,
		);
		backoff.next("backoff", 0);
		backoff.next("backoff", 0);
		backoff.ready(1000); // connected…
		expect(backoff.next("backoff", 1500)).toBe(3999); // …and lost after 0.5 s: keeps growing
	});

	test("the attempt count resets after a stable-uptime window", () => {
		const backoff = new ReconnectBackoff(
			{ baseDelayMs: 1000, stableUptimeMs: 10_000 },
			() => 0.999_999,
		);
		backoff.next("backoff", 0);
		backoff.next("backoff", 0);
		backoff.ready(1000);
		expect(backoff.next("backoff", 11_000)).toBe(999);
	});

	test("soon stays under the soon ceiling; long is at least half the cap", () => {
		const hi = new ReconnectBackoff(
			{ soonDelayMs: 500, maxDelayMs: 30_000 },
			() => 0.999_999,
		);
		for (let i = 0; i < 10; i++) hi.next("backoff", 0);
		expect(hi.next("soon", 0)).toBeLessThan(500);
		const lo = new ReconnectBackoff({ maxDelayMs: 30_000 }, () => 0);
		expect(lo.next("long", 0)).toBe(15_000);
	});

	test("jitter spreads a herd of runners", () => {
		const delays = new Set(
			Array.from({ length: 50 }, () =>
				new ReconnectBackoff().next("backoff", 0),
			),
		);
		expect(delays.size).toBeGreaterThan(40);
	});
});
