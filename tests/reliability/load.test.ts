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

	it("SIGTERM under 100 in-flight requests, 2 actors stuck: none lost or hung, the drain report matches the clients", async () => {
		const result = await sigtermInFlight("dev", "ours", {
			requests: 100,
			actors: 10,
			stuckActors: 2,
			drainBudgetMs: 3000,
			exitBoundMs: 20_000,
			requestBoundMs: 40_000,
			timeoutMs: 30_000,
		});
		expect(failed(result.checks)).toEqual([]);
		const report = result.terminated?.report;
		// The stuck actors cannot stop within the budget; the others normally do (a stalled machine may add some).
		expect(report?.reason).toBe("signal:SIGTERM");
		expect(report?.mode).toBe("immediate");
		expect(report?.actorsAbandoned).toBeGreaterThanOrEqual(2);
		expect((report?.actorsStopped ?? 0) + (report?.actorsAbandoned ?? 0)).toBe(
			10,
		);
		// Each actor had 10 requests in flight: a stopped actor's were all answered by the drained runner.
		expect(result.outcomes["2xx from the drained runner"]).toBe(
			10 * (report?.actorsStopped ?? -1),
		);
		expect(result.lostResponses).toBe(0);
	}, 90_000);

	it("SIGTERM under 100 in-flight requests, a drain that completes: all answered by the drained runner", async () => {
		const result = await sigtermInFlight("dev", "ours", {
			requests: 100,
			actors: 10,
			stuckActors: 0,
			drainBudgetMs: 15_000,
			exitBoundMs: 20_000,
			requestBoundMs: 40_000,
			timeoutMs: 30_000,
		});
		expect(failed(result.checks)).toEqual([]);
		expect(result.terminated?.report).toMatchObject({
			reason: "signal:SIGTERM",
			mode: "drain",
			actorsStopped: 10,
			actorsAbandoned: 0,
		});
		expect(result.outcomes).toEqual({ "2xx from the drained runner": 100 });
	}, 90_000);
});
