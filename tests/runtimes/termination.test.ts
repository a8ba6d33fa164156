/**
 * core/termination.ts in process, with a scripted platform (its termination events fired by the test) and a real
 * runner on the dev engine: drain on the first event, the budget and a second event escalate to immediate, the
 * exit code is 128 + n, and `signals: false`, `noAutoShutdown` and `exit: false` do what they say.
 */
import { afterEach, expect, it } from "vitest";
import { WebSocket } from "ws";
import type {
	Platform,
	RunnerConfig,
	TerminateEvent,
	WebSocketConstructor,
} from "../../src/core/index.ts";
import { Runner } from "../../src/core/index.ts";
import { exitCodeFor, installTermination } from "../../src/core/termination.ts";
import {
	type ActorJson,
	type RunningEngine,
	startEngine,
} from "../../src/engine/index.ts";

const engines: RunningEngine[] = [];
const runners: Runner[] = [];
afterEach(async () => {
	await Promise.all(runners.splice(0).map((r) => r.shutdown(true)));
	await Promise.all(engines.splice(0).map((e) => e.close()));
});

/** A platform whose termination events the test fires, recording exits and subscriptions. */
function scriptedPlatform() {
	const listeners = new Set<(event: TerminateEvent) => void>();
	const exits: number[] = [];
	let subscriptions = 0;
	const platform: Platform = {
		name: "scripted",
		WebSocket: WebSocket as unknown as WebSocketConstructor,
		onTerminate(listener) {
			subscriptions++;
			listeners.add(listener);
			return () => listeners.delete(listener);
		},
		exit: (code) => exits.push(code),
	};
	return {
		platform,
		exits,
		listeners,
		get subscriptions() {
			return subscriptions;
		},
		fire: (event: TerminateEvent) => {
			for (const listener of [...listeners]) listener(event);
		},
	};
}

/** A connected runner hosting one actor whose onActorStop never finishes: a drain can only end by escalation. */
async function runnerWithStuckActor(
	platform: Platform,
	extra: Partial<RunnerConfig> = {},
) {
	const engine = await startEngine({ port: 0 });
	engines.push(engine);
	let connected!: () => void;
	const isConnected = new Promise<void>((r) => {
		connected = r;
	});
	let started!: () => void;
	const isStarted = new Promise<void>((r) => {
		started = r;
	});
	const runner = new Runner({
		version: 1,
		endpoint: engine.url,
		namespace: "default",
		runnerName: "termination",
		totalSlots: 1,
		platform,
		onConnected: () => connected(),
		onActorStart: async () => started(),
		onActorStop: () => new Promise<void>(() => {}),
		...extra,
	});
	runners.push(runner);
	return { engine, runner, isConnected, isStarted };
}

async function startWithActor(
	setup: Awaited<ReturnType<typeof runnerWithStuckActor>>,
) {
	await setup.runner.start();
	await setup.isConnected;
	const res = await fetch(`${setup.engine.url}/actors?namespace=default`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({
			name: "stuck",
			runner_name_selector: "termination",
			crash_policy: "destroy",
		}),
	});
	expect(
		((await res.json()) as { actor: ActorJson }).actor.actor_id,
	).toBeTruthy();
	await setup.isStarted;
}

it("exit codes: 128 + the signal number, 0 for hooks that are not signals", () => {
	expect(exitCodeFor("SIGTERM")).toBe(143);
	expect(exitCodeFor("SIGINT")).toBe(130);
	expect(exitCodeFor("SIGHUP")).toBe(129);
	expect(exitCodeFor("preShutdown")).toBe(0);
});

it("the first event drains; a second escalates to immediate; then exit(143) with the signal as reason", async () => {
	const scripted = scriptedPlatform();
	const setup = await runnerWithStuckActor(scripted.platform);
	const termination = installTermination(setup.runner, scripted.platform);
	await startWithActor(setup);

	scripted.fire({ name: "SIGTERM" });
	expect(setup.runner.state).toBe("draining");
	scripted.fire({ name: "SIGTERM" });
	const { report, exitCode } = await termination.terminated;
	expect(report).toMatchObject({
		reason: "signal:SIGTERM",
		mode: "immediate",
		actorsAbandoned: 1,
	});
	expect(exitCode).toBe(143);
	expect(scripted.exits).toEqual([143]);
	expect(scripted.listeners.size).toBe(0);
});

it("the drain ends at the smaller of the event's budget and options.drainTimeoutMs", async () => {
	const scripted = scriptedPlatform();
	const setup = await runnerWithStuckActor(scripted.platform);
	const termination = installTermination(setup.runner, scripted.platform, {
		drainTimeoutMs: 60_000,
	});
	await startWithActor(setup);
	const firedAt = Date.now();
	scripted.fire({ name: "SIGINT", budgetMs: 150 });
	const { report } = await termination.terminated;
	expect(Date.now() - firedAt).toBeGreaterThanOrEqual(140);
	expect(Date.now() - firedAt).toBeLessThan(5_000);
	expect(report).toMatchObject({ reason: "signal:SIGINT", mode: "immediate" });
	expect(scripted.exits).toEqual([130]);
});

it("exit: false leaves the process alone", async () => {
	const scripted = scriptedPlatform();
	const setup = await runnerWithStuckActor(scripted.platform);
	const termination = installTermination(setup.runner, scripted.platform, {
		exit: false,
	});
	await setup.runner.start();
	await setup.isConnected;
	scripted.fire({ name: "SIGTERM" });
	expect((await termination.terminated).report.mode).toBe("drain");
	expect(scripted.exits).toEqual([]);
});

it("signals: false and noAutoShutdown install no hooks", async () => {
	const scripted = scriptedPlatform();
	const off = await runnerWithStuckActor(scripted.platform);
	installTermination(off.runner, scripted.platform, { signals: false });
	const r = await runnerWithStuckActor(scripted.platform, {
		noAutoShutdown: true,
	});
	installTermination(r.runner, scripted.platform);
	expect(scripted.subscriptions).toBe(0);
});

it("a runner that stops for another reason removes its hooks and never exits", async () => {
	const scripted = scriptedPlatform();
	const setup = await runnerWithStuckActor(scripted.platform);
	installTermination(setup.runner, scripted.platform);
	expect(scripted.listeners.size).toBe(1);
	await setup.runner.start();
	await setup.isConnected;
	await setup.runner.shutdown({ mode: "immediate", reason: "user" });
	expect(scripted.listeners.size).toBe(0);
	expect(scripted.exits).toEqual([]);
});
