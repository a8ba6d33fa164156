/**
 * The fault run's line between a runner's fault and the engine's: an actor the real engine shows running (or
 * started, never connectable) after it stopped (declared lost or drained) every runner id that hosted it is the
 * engine's finding, reported apart; any other actor left that way stays a violation of ours.
 */
import { describe, expect, it } from "vitest";
import type { FaultProxy } from "../../reliability/fault-proxy.ts";
import { checkInvariants } from "../../reliability/invariants.ts";
import {
	DEFAULT_TIMEOUTS,
	EventLog,
	type Host,
	leftByTheEngine,
	type WorkloadRecord,
} from "../../reliability/workload.ts";

const ACTOR = "actor-a";
const STOP_TS = Date.UTC(2026, 11, 2, 18, 57, 48, 346);

function host(label: string, ended: boolean, runnerIds: string[]): Host {
	return {
		label,
		family: "ours",
		proxy: {} as FaultProxy,
		schedule: [],
		connected: !ended,
		ended,
		live: new Map(),
		runnerIds: new Set(runnerIds),
		hasActor: () => false,
		sleepActor: () => {},
		shutdown: async () => {},
	};
}

/** The actor ran on ours-1 (ended); it may have moved to `later` afterwards. */
function record(hosts: Host[], later?: string): WorkloadRecord {
	const log = new EventLog();
	log.add({
		kind: "actor-start",
		family: "ours",
		runner: "ours-1",
		actorId: ACTOR,
		generation: 0,
	});
	log.add({
		kind: "runner-shutdown",
		family: "ours",
		runner: "ours-1",
		detail: "immediate",
	});
	log.add({
		kind: "actor-stop",
		family: "ours",
		runner: "ours-1",
		actorId: ACTOR,
		generation: 0,
	});
	log.add({ kind: "runner-closed", family: "ours", runner: "ours-1" });
	if (later)
		log.add({
			kind: "actor-start",
			family: "ours",
			runner: later,
			actorId: ACTOR,
			generation: 1,
		});
	return {
		engine: "rivet",
		seed: 1,
		size: {
			runners: 1,
			referenceRunners: 0,
			actors: 1,
			referenceActors: 0,
			faultMs: 1,
			httpWriters: 0,
			wsWriters: 0,
			churn: 0,
			engineFaults: [],
		},
		timeouts: DEFAULT_TIMEOUTS,
		log,
		hosts,
		actors: { ours: [ACTOR], reference: [] },
		writes: [],
		kvCalls: [],
		states: new Map(),
		deliveries: new Map(),
		unreachableEngineView: new Map(),
		engineView: [],
		engineFindings: [],
		recovery: [],
		reachableMs: new Map([[ACTOR, null]]),
		faultsInjected: {},
		engineFaultsDone: [],
		unhandled: [],
		faultsEndedAt: 0,
	};
}

const stopped = (id: string) => ({
	runner_id: id,
	stop_ts: STOP_TS,
	last_ping_ts: STOP_TS - 6_935,
});
const alive = (id: string) => ({
	runner_id: id,
	stop_ts: null,
	last_ping_ts: STOP_TS,
});

describe("leftByTheEngine", () => {
	it("names the engine when it stopped every runner id of the actor's ended runner", () => {
		const finding = leftByTheEngine(
			record([host("ours-1", true, ["r1", "r2"])]),
			ACTOR,
			[stopped("r1"), stopped("r2"), alive("other")],
			"started but not connectable",
		);
		expect(finding).toContain(
			"shows it started but not connectable (generation 0 on ours-1)",
		);
		expect(finding).toContain("r1 at 18:57:48.346");
		expect(finding).toContain("r2 at 18:57:48.346");
	});

	it("is not the engine's while one of those runner ids is not stopped there", () => {
		expect(
			leftByTheEngine(
				record([host("ours-1", true, ["r1", "r2"])]),
				ACTOR,
				[stopped("r1"), alive("r2")],
				"running",
			),
		).toBeUndefined();
	});

	it("is not the engine's when the engine does not list the runner at all", () => {
		expect(
			leftByTheEngine(
				record([host("ours-1", true, ["r1"])]),
				ACTOR,
				[],
				"running",
			),
		).toBeUndefined();
	});

	it("is not the engine's when the actor's last runner is still live", () => {
		const hosts = [host("ours-1", true, ["r1"]), host("ours-2", false, ["r2"])];
		expect(
			leftByTheEngine(
				record(hosts, "ours-2"),
				ACTOR,
				[stopped("r1"), stopped("r2")],
				"running",
			),
		).toBeUndefined();
	});

	it("is not the engine's when the runner never learnt an id", () => {
		expect(
			leftByTheEngine(
				record([host("ours-1", true, [])]),
				ACTOR,
				[stopped("r1")],
				"running",
			),
		).toBeUndefined();
	});
});

describe("checkInvariants with an engine finding", () => {
	it("keeps an actor the engine left running out of our recovery violations, and says so", () => {
		const withFinding = record([host("ours-1", true, ["r1"])]);
		withFinding.engineFindings.push({
			actorId: ACTOR,
			family: "ours",
			finding: "left running",
		});
		const results = checkInvariants(withFinding, "ours");
		const recovery = results.find((r) => r.name === "recovery");
		expect(recovery?.held).toBe(true);
		expect(recovery?.summary).toContain("1 left running by the engine");
		expect(results.find((r) => r.name === "stopped")?.summary).toContain(
			"1 left running by the engine after it stopped their runner",
		);
	});

	it("counts the same unreachable actor against the runner when the engine is not at fault", () => {
		const results = checkInvariants(
			record([host("ours-1", true, ["r1"])]),
			"ours",
		);
		const recovery = results.find((r) => r.name === "recovery");
		expect(recovery?.held).toBe(false);
		expect(recovery?.violations[0]?.message).toContain(
			`actor ${ACTOR} not reachable`,
		);
	});
});
