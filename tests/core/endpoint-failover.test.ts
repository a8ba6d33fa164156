/**
 * A runner given a list of engine endpoints (the nodes of a cluster), on the fake platform with fake timers: which
 * endpoint it dials, when, and what a close from one node means for the others (close-policy.ts, endpoints.ts).
 */
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { ReconnectBackoff, type RunnerConfig } from "../../src/core/index.ts";
import { type FakeSocket, settle } from "./fake-socket.ts";
import {
	connectedRecordingRunner as connected,
	recordingRunner as setup,
} from "./recording-runner.ts";

const A = "http://10.0.0.1:6420";
const B = "http://10.0.0.2:6420";
const C = "http://10.0.0.3:6420";
const hostOf = (s: FakeSocket) => new URL(s.url).host;
const keyOf = (s: FakeSocket) => new URL(s.url).searchParams.get("runner_key");

beforeEach(() => {
	vi.useFakeTimers();
});
afterEach(() => {
	vi.useRealTimers();
	vi.restoreAllMocks();
});

/** A logger that keeps the "reconnect scheduled" delays, in order. */
function delayLog() {
	const delays: number[] = [];
	const errors: string[] = [];
	const log = (obj: object, msg?: string) => {
		if (msg === "reconnect scheduled")
			delays.push((obj as { delayMs: number }).delayMs);
	};
	const logger = {
		debug: log,
		info: log,
		warn: log,
		error: (_: object, msg?: string) => errors.push(msg ?? ""),
	};
	return { delays, errors, logger };
}

describe("failover between endpoints", () => {
	test("the first endpoint down (the dial fails): the runner connects to the second, with the same runner key", async () => {
		const { runner, socket, sockets, calls } = setup({ endpoint: [A, B] });
		await runner.start();
		expect(hostOf(socket(0))).toBe("10.0.0.1:6420");
		expect(runner.endpoint).toBe(A);
		socket(0).closed(1006, ""); // connection refused: never opened
		expect(runner.endpoint).toBe(B); // what it dials next
		expect(runner.pegboardUrl).toMatch(/^ws:\/\/10\.0\.0\.2:6420\/runners\//);
		await vi.advanceTimersByTimeAsync(500); // inside a round: the soon ceiling (500 ms here)
		expect(sockets).toHaveLength(2);
		expect(hostOf(socket(1))).toBe("10.0.0.2:6420");
		socket(1).open();
		socket(1).init();
		expect(runner.state).toBe("ready");
		expect(calls).toContain("connected");
		expect(sockets.map(keyOf)).toEqual([runner.runnerKey, runner.runnerKey]);
	});

	test.each([
		["ws.going_away from A", 1011, "ws.going_away#ray"],
		["a network drop on A", 1006, ""],
		["engine silence on A", 0, "silence"],
	])(
		"%s: the runner comes back on B with the same key and runner id, its actors kept",
		async (_, code, reason) => {
			const { runner, socket, sockets, calls } = await connected({
				endpoint: [A, B],
				engineSilenceTimeoutMs: 5000,
			});
			socket(0).startActor("a1");
			await settle();
			if (reason === "silence") await vi.advanceTimersByTimeAsync(5000);
			else socket(0).closed(code, reason);
			expect(runner.state).toBe("reconnecting");
			await vi.advanceTimersByTimeAsync(500);
			expect(sockets.map(hostOf)).toEqual(["10.0.0.1:6420", "10.0.0.2:6420"]);
			socket(1).open();
			socket(1).init("runner-1");
			expect(runner.state).toBe("ready");
			expect(runner.hasActor("a1")).toBe(true);
			expect(calls).not.toContain("stop:a1");
			expect(keyOf(socket(1))).toBe(runner.runnerKey);
		},
	);

	test("round robin: A, B, C, then A again", async () => {
		const { runner, socket, sockets } = setup({ endpoint: [A, B, C] });
		await runner.start();
		for (let i = 0; i < 4; i++) {
			socket(i).closed(1006, "");
			await vi.runOnlyPendingTimersAsync();
		}
		expect(sockets.map(hostOf)).toEqual([
			"10.0.0.1:6420",
			"10.0.0.2:6420",
			"10.0.0.3:6420",
			"10.0.0.1:6420",
			"10.0.0.2:6420",
		]);
	});

	test("pegboardEndpoint takes a list too and wins over endpoint", async () => {
		const { runner, socket } = setup({ endpoint: A, pegboardEndpoint: [C, B] });
		await runner.start();
		expect(hostOf(socket(0))).toBe("10.0.0.3:6420");
		socket(0).closed(1006, "");
		await vi.runOnlyPendingTimersAsync();
		expect(hostOf(socket(1))).toBe("10.0.0.2:6420");
	});
});

describe("backoff over a list: a full round of failures backs off, no storm", () => {
	test("recorded delays: soon inside a round, the exponential ceiling at the end of each round", async () => {
		vi.spyOn(Math, "random").mockReturnValue(0.999_999);
		const { delays, logger } = delayLog();
		const { runner, socket } = setup({ endpoint: [A, B, C], logger });
		await runner.start();
		for (let i = 0; i < 9; i++) {
			socket(i).closed(1006, "");
			await vi.runOnlyPendingTimersAsync();
		}
		// soonDelayMs 500, baseDelayMs 1000 (recording-runner): rounds 0, 1, 2 end with 1 s, 2 s, 4 s ceilings.
		expect(delays).toEqual([499, 499, 999, 499, 499, 1999, 499, 499, 3999]);
	});

	test("with fake timers: all endpoints down for 60 s costs a bounded number of dials, fewer each minute", async () => {
		vi.spyOn(Math, "random").mockReturnValue(0.999_999);
		const { runner, sockets } = setup({
			endpoint: [A, B],
			reconnect: { baseDelayMs: 1000, maxDelayMs: 30_000, soonDelayMs: 500 },
		});
		await runner.start();
		const refuseEverything = () => {
			const last = sockets.at(-1);
			if (last && last.readyState === 0) last.closed(1006, "");
		};
		refuseEverything();
		const dialsBy: number[] = [];
		for (let second = 1; second <= 120; second++) {
			await vi.advanceTimersByTimeAsync(1000);
			refuseEverything();
			if (second === 60 || second === 120) dialsBy.push(sockets.length);
		}
		// Rounds of 2 dials separated by 1+2+4+8+16+30+30… s (plus 0.5 s inside each round).
		expect(dialsBy[0]).toBeLessThanOrEqual(14);
		expect((dialsBy[1] ?? 0) - (dialsBy[0] ?? 0)).toBeLessThanOrEqual(6);
	});

	test("a connection that stays up past the stable window starts a new round; a short one does not", async () => {
		vi.spyOn(Math, "random").mockReturnValue(0.999_999);
		const { delays, logger } = delayLog();
		const { runner, socket } = setup({
			endpoint: [A, B],
			logger,
			reconnect: {
				baseDelayMs: 1000,
				soonDelayMs: 500,
				stableUptimeMs: 10_000,
			},
		});
		await runner.start();
		socket(0).closed(1006, ""); // A fails: soon to B
		await vi.runOnlyPendingTimersAsync();
		socket(1).closed(1006, ""); // B fails: the round ends, 1 s
		await vi.runOnlyPendingTimersAsync();
		socket(2).open();
		socket(2).init();
		await vi.advanceTimersByTimeAsync(2000);
		socket(2).closed(1006, ""); // up for 2 s only: the count goes on, soon to B
		await vi.runOnlyPendingTimersAsync();
		socket(3).closed(1006, ""); // round 1 ends: 2 s
		await vi.runOnlyPendingTimersAsync();
		socket(4).open();
		socket(4).init();
		await vi.advanceTimersByTimeAsync(10_000);
		socket(4).closed(1006, ""); // stable: a new round
		await vi.runOnlyPendingTimersAsync();
		socket(5).closed(1006, "");
		expect(delays).toEqual([499, 999, 499, 1999, 499, 999]);
	});

	test("ReconnectBackoff with 3 endpoints: the round count drives the exponent, the stable window resets it", () => {
		const backoff = new ReconnectBackoff(
			{ baseDelayMs: 1000, soonDelayMs: 100, stableUptimeMs: 10_000 },
			() => 0.999_999,
			3,
		);
		const ceilings = Array.from(
			{ length: 6 },
			() => backoff.next("backoff", 0) + 1,
		);
		expect(ceilings).toEqual([100, 100, 1000, 100, 100, 2000]);
		backoff.ready(0);
		expect(backoff.next("backoff", 10_000)).toBe(99); // stable: a new round, first move is soon
		expect(backoff.next("long", 10_000)).toBe(99); // 1013 inside a round: the next node, soon
		expect(backoff.next("long", 10_000)).toBeGreaterThanOrEqual(15_000); // end of round: long
	});
});

describe("close policy over a list", () => {
	test("an eviction from B shuts down, and no endpoint is dialled again", async () => {
		const { runner, socket, sockets, calls } = await connected({
			endpoint: [A, B],
		});
		socket(0).closed(1006, "");
		await vi.runOnlyPendingTimersAsync();
		socket(1).open();
		socket(1).init();
		socket(1).startActor("a1");
		await settle();
		socket(1).closed(1000, "ws.eviction#ray");
		const report = await runner.closed;
		expect(report).toMatchObject({ reason: "evicted", actorsAbandoned: 1 });
		expect(calls).toContain("stop:a1");
		await vi.runAllTimersAsync();
		expect(sockets).toHaveLength(2);
		expect(runner.state).toBe("stopped");
	});

	test("an eviction before any other endpoint was tried: still no dial anywhere", async () => {
		const { runner, socket, sockets } = await connected({
			endpoint: [A, B, C],
		});
		socket(0).closed(1000, "ws.eviction#ray");
		expect((await runner.closed).reason).toBe("evicted");
		await vi.runAllTimersAsync();
		expect(sockets).toHaveLength(1);
	});

	test("a refusal from A while B has not refused: logged, B is tried; B refusing too is fatal, one typed error", async () => {
		const { errors, logger } = delayLog();
		const { runner, socket, sockets } = setup({ endpoint: [A, B], logger });
		await runner.start();
		socket(0).open();
		socket(0).closed(1011, "api.forbidden#ray");
		expect(runner.state).toBe("reconnecting");
		expect(errors).toEqual(["an endpoint refused the runner: trying the next"]);
		await vi.runOnlyPendingTimersAsync();
		expect(hostOf(socket(1))).toBe("10.0.0.2:6420");
		socket(1).open();
		socket(1).closed(1011, "api.forbidden#ray2");
		const report = await runner.closed;
		expect(report.reason).toBe("fatal:api.forbidden");
		expect(report.error).toMatchObject({ refusal: "api.forbidden" });
		await vi.runAllTimersAsync();
		expect(sockets).toHaveLength(2);
	});

	test("a refusal from A, B accepts: the runner runs on B; after that handshake A's refusal no longer counts", async () => {
		const { runner, socket } = setup({ endpoint: [A, B] });
		await runner.start();
		socket(0).open();
		socket(0).closed(1011, "namespace.not_found#r");
		await vi.runOnlyPendingTimersAsync();
		socket(1).open();
		socket(1).init();
		expect(runner.state).toBe("ready");
		socket(1).closed(1011, "namespace.not_found#r"); // now B refuses: A has not, since B's handshake
		expect(runner.state).toBe("reconnecting");
		await vi.runOnlyPendingTimersAsync();
		expect(hostOf(socket(2))).toBe("10.0.0.1:6420");
		socket(2).open();
		socket(2).closed(1011, "namespace.not_found#r"); // A refuses too: every endpoint has, fatal
		expect((await runner.closed).reason).toBe("fatal:namespace.not_found");
	});

	test("a node that cannot be reached has not refused: A refusing while B is down is retried, not fatal", async () => {
		const { runner, socket, sockets } = setup({ endpoint: [A, B] });
		await runner.start();
		for (let round = 0; round < 3; round++) {
			socket(2 * round).open();
			socket(2 * round).closed(1011, "api.forbidden#r");
			await vi.runOnlyPendingTimersAsync();
			socket(2 * round + 1).closed(1006, ""); // B down
			await vi.runOnlyPendingTimersAsync();
		}
		expect(runner.state).toBe("reconnecting");
		expect(sockets).toHaveLength(7);
	});

	test("a protocol refusal at init counts as a refusal per endpoint too", async () => {
		const { runner, socket } = setup({ endpoint: [A, B] });
		await runner.start();
		socket(0).open();
		socket(0).closed(1011, "ws.invalid_packet#r");
		await vi.runOnlyPendingTimersAsync();
		socket(1).open();
		socket(1).closed(1011, "ws.invalid_packet#r");
		expect((await runner.closed).reason).toBe("fatal:ws.invalid_packet");
	});

	test("one endpoint given as a one-entry list: a refusal is fatal at once, as with a string", async () => {
		const config: Partial<RunnerConfig> = { endpoint: [A] };
		const { runner, socket, sockets } = setup(config);
		await runner.start();
		socket(0).open();
		socket(0).closed(1011, "api.forbidden#r");
		expect((await runner.closed).reason).toBe("fatal:api.forbidden");
		expect(sockets).toHaveLength(1);
	});
});
