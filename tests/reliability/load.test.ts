/**
 * The bounded CI version of `npm run load` (reliability/load.ts): the same scenario functions at small sizes, on
 * the dev engine, with our runner in a child process. It asserts the exactness properties (every actor started
 * once, every socket seen and closed, every request answered or ended with a status, none lost, none hung, the
 * drain report exact), never timings.
 */
import { describe, expect, it } from "vitest";
import {
	actorsOnOneRunner,
	type Check,
	clientWebSockets,
	sigtermInFlight,
} from "../../reliability/load-scenarios.ts";

const failed = (checks: Check[]) => checks.filter((check) => !check.held);

describe("load (bounded)", () => {
	it("1,000 actors on one runner: each created actor starts exactly once", async () => {
		const result = await actorsOnOneRunner("dev", "ours", 1000, 30_000);
		expect(result.created).toBe(1000);
		expect(failed(result.checks)).toEqual([]);
		expect(result.heapPerActorBytes).toBeGreaterThan(0);
	}, 60_000);

	it("100 client WebSockets through the gateway: each opens, echoes and closes at the actor", async () => {
		const result = await clientWebSockets("dev", "ours", 100, 10, 20_000);
		expect(result.opened).toBe(100);
		expect(result.runnerOpened).toBe(100);
		expect(failed(result.checks)).toEqual([]);
	}, 60_000);

	it("SIGTERM under 100 in-flight requests: none lost or hung, the drain report exact", async () => {
		const result = await sigtermInFlight("dev", "ours", {
			requests: 100,
			actors: 10,
			stuckActors: 2,
			drainBudgetMs: 2000,
			exitBoundMs: 20_000,
			requestBoundMs: 40_000,
			timeoutMs: 30_000,
		});
		expect(failed(result.checks)).toEqual([]);
		// The 8 actors that could stop answered their 80 requests; the 2 stuck actors' 20 were retried elsewhere.
		expect(result.outcomes["2xx from the drained runner"]).toBe(80);
		expect(result.lostResponses).toBe(0);
		expect(result.terminated?.report).toMatchObject({
			reason: "signal:SIGTERM",
			mode: "immediate",
			actorsStopped: 8,
			actorsAbandoned: 2,
		});
	}, 90_000);
});
