/**
 * The shared runner scenarios: one list, run for each runner (ours, and the reference runner R,
 * @rivetkit/engine-runner 2.2.1) on each engine (the dev engine, and the real Rivet Engine 2.3.19). A scenario
 * only uses the RunnerConfig fields and public methods both runners share, and sends what the real engine
 * requires (`?namespace=default`, `crash_policy` on every create). Where the engines legitimately differ, the
 * scenario asserts each engine's behaviour by name; where R and ours differ, each runner's, with the reason.
 *
 * Engines are shared between scenarios with the same engine options (a real engine costs ~3 s to start and
 * stop), each scenario on its own runner name; a scenario that restarts its engine gets one of its own, and a
 * failed scenario's engine is not handed on.
 *
 * Files: tests/e2e/our-runner-scenarios.test.ts (ours × dev), tests/conformance/reference-runner-on-dev-engine
 * .test.ts (R × dev), tests/rivet-engine/runner-ours.test.ts and runner-reference.test.ts (× the real engine).
 */
import { readFileSync } from "node:fs";
import type * as protocol from "@rivetkit/engine-runner-protocol";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { FatalCloseError, RunnerLostError } from "../../src/core/index.ts";
import { RawRunner, running } from "../engine/raw-runner.ts";
import {
	declareRunnerConfig,
	type EngineActor,
	type EngineKind,
	type EngineUnderTest,
	type EngineUnderTestOptions,
	isDestroyed,
	isRunning,
	isSleeping,
	startEngineUnderTest,
} from "../helpers/engines.ts";
import { memoryLogger } from "../helpers/memory-logger.ts";
import { Recorder } from "../helpers/recorder.ts";
import { TcpRelay } from "../helpers/tcp-relay.ts";
import type { RunnerDifference } from "../rivet-engine/differential.ts";

export interface ScenarioRunner {
	start(): Promise<void>;
	shutdown(immediate: boolean): Promise<unknown>;
	readonly runnerId?: string | undefined;
	sleepActor(actorId: string, generation?: number): void;
	stopActor(actorId: string, generation?: number): unknown;
	destroyActor(actorId: string, generation?: number): void;
	setAlarm(actorId: string, alarmTs: number | null, generation?: number): void;
	kvGet(actorId: string, keys: Uint8Array[]): Promise<(Uint8Array | null)[]>;
	kvPut(actorId: string, entries: [Uint8Array, Uint8Array][]): Promise<void>;
	kvListAll(
		actorId: string,
		options?: { reverse?: boolean; limit?: number },
	): Promise<[Uint8Array, Uint8Array][]>;
	kvListRange(
		actorId: string,
		start: Uint8Array,
		end: Uint8Array,
		exclusive?: boolean,
		options?: { reverse?: boolean; limit?: number },
	): Promise<[Uint8Array, Uint8Array][]>;
	kvListPrefix(
		actorId: string,
		prefix: Uint8Array,
	): Promise<[Uint8Array, Uint8Array][]>;
	kvDelete(actorId: string, keys: Uint8Array[]): Promise<void>;
	kvDeleteRange(
		actorId: string,
		start: Uint8Array,
		end: Uint8Array,
	): Promise<void>;
	kvDrop(actorId: string): Promise<void>;
}

// biome-ignore lint/suspicious/noExplicitAny: each runner types its own config; scenarios pass the shared fields.
export type RunnerClass = new (config: any) => ScenarioRunner;

/** `"ours"`: src/core's Runner; `"reference"`: R. */
export type RunnerKind = "ours" | "reference";

/** Our runner's extras the scenarios look at; R has none of them. */
interface OurRunnerExtras {
	readonly state: string;
	readonly actors: ReadonlyMap<string, unknown>;
	hasActor(actorId: string, generation?: number): boolean;
	getProtocolMetadata(): { runnerLostThreshold: bigint } | undefined;
	readonly closed: Promise<{
		reason: string;
		mode: string;
		error?: unknown;
		actorsAbandoned?: number;
	}>;
}
const ours = (runner: ScenarioRunner) => runner as unknown as OurRunnerExtras;

/** What a runner's callbacks reported, with a way to await a condition on it. */
export class RunnerRecorder extends Recorder {
	readonly started: {
		actorId: string;
		generation: number;
		input: Uint8Array | null;
	}[] = [];
	readonly stopped: { actorId: string; generation: number }[] = [];
	readonly disconnects: { code: number; reason: string }[] = [];
	connects = 0;
}

export interface ScenarioContext {
	engine: EngineUnderTest;
	runnerKind: RunnerKind;
	/** This scenario's runner name (unique on a shared engine); actors are created for it. */
	runnerName: string;
	/** A runner on the engine (auto-shutdown off, shut down after the test), not started. */
	newRunner(overrides?: Record<string, unknown>): {
		runner: ScenarioRunner;
		events: RunnerRecorder;
	};
	/** {@link newRunner}, started, once its first connection is up. */
	startRunner(
		overrides?: Record<string, unknown>,
	): Promise<{ runner: ScenarioRunner; events: RunnerRecorder }>;
	/** A hand-driven runner socket on the engine (closed after the test), with the engine's token if any. */
	rawSocket(options: { query?: string; key?: string }): RawRunner;
	/** A TCP relay to the engine (closed after the test): dial `relay.url` to be partitioned or observed. */
	relay(): Promise<{ relay: TcpRelay; url: string }>;
	/** `POST /actors?namespace=default` of a `counter` for {@link runnerName}, `crash_policy` "destroy" unless given. */
	createActor(body?: Record<string, unknown>): Promise<EngineActor>;
	/** Registers a cleanup that runs after the test (before the runners and the engine are closed). */
	defer(cleanup: () => unknown): void;
}

export interface RunnerScenario {
	name: string;
	/** Options of the engine this scenario runs on (scenarios with equal options share one). */
	engineOptions?:
		| EngineUnderTestOptions
		| ((kind: EngineKind) => EngineUnderTestOptions);
	/** The scenario restarts its engine: it gets a fresh one of its own. */
	ownEngine?: boolean;
	/** Runners that do not run this scenario, each with the reason (shown in the skipped test's name). */
	notFor?: Partial<Record<RunnerKind, string>>;
	/** Engines this scenario does not run on, each with the reason. */
	notOn?: Partial<Record<EngineKind, string>>;
	/** Per-test timeout (default 45 s). */
	timeoutMs?: number;
	run(ctx: ScenarioContext): Promise<void>;
}

export const RUNNER_NAME = "scenario-runner";
const SCENARIO_TIMEOUT_MS = 45_000;
/**
 * Bound of a wait on something the engine does (a connect, a start): generous because the real engine on a
 * loaded 2-core CI machine took >10 s for a first connect; only a failing test waits this long.
 */
const ENGINE_STEP_MS = 30_000;
/**
 * True on the dev engine where it differs from the real one; `row` is the row of docs/engine.md's table
 * (rest-differential.test.ts checks that every row named here is there).
 */
function devEngineDiffers(kind: EngineKind, _row: RunnerDifference): boolean {
	return kind === "dev";
}

/**
 * Polls (bounded) until `check` holds: for a state both engines reach, the real one later (`row` of
 * docs/engine.md's table), so a scenario that waits for it asserts the same on both.
 */
async function untilEngineShows(
	_row: RunnerDifference,
	check: () => Promise<boolean>,
): Promise<void> {
	const deadline = Date.now() + ENGINE_STEP_MS;
	while (!(await check()) && Date.now() < deadline)
		await new Promise((resolve) => setTimeout(resolve, 100));
}

/**
 * The lost threshold of the scenarios that wait for it. The real engine measures it from the runner's last
 * pong and pings every 3 s, so it must be above that; the dev engine measures it from the close.
 */
const lostThresholdMs = (kind: EngineKind): number =>
	devEngineDiffers(kind, "D18") ? 1_000 : 4_000;
const lostThresholdEngine = (kind: EngineKind): EngineUnderTestOptions => ({
	runnerLostThresholdMs: lostThresholdMs(kind),
});
const TOKEN = "s3cret";

/** The RunnerConfig both runners accept; `platform` and `reconnect` are ignored by the reference runner. */
export function runnerConfig(
	engine: { url: string; token?: string | undefined },
	events: RunnerRecorder,
	overrides: Record<string, unknown> = {},
) {
	return {
		version: 1,
		endpoint: engine.url,
		...(engine.token === undefined ? {} : { token: engine.token }),
		namespace: "default",
		totalSlots: 10,
		runnerName: RUNNER_NAME,
		prepopulateActorNames: { counter: { metadata: { kind: "scenario" } } },
		metadata: { scenario: true },
		noAutoShutdown: true,
		platform: { name: "node", WebSocket },
		onConnected: () => events.record(() => events.connects++),
		onDisconnected: (code: number, reason: string) =>
			events.record(() => events.disconnects.push({ code, reason })),
		onShutdown: () => {},
		fetch: async () => new Response("no tunnel yet", { status: 501 }),
		websocket: async () => {},
		hibernatableWebSocket: { canHibernate: () => false },
		onActorStart: async (
			actorId: string,
			generation: number,
			config: { input: Uint8Array | null },
		) => {
			events.record(() =>
				events.started.push({ actorId, generation, input: config.input }),
			);
		},
		onActorStop: async (actorId: string, generation: number) => {
			events.record(() => events.stopped.push({ actorId, generation }));
		},
		...overrides,
	};
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (value: Uint8Array | null | undefined): string | null =>
	value === null || value === undefined
		? null
		: new TextDecoder().decode(value);
const keysOf = (entries: [Uint8Array, Uint8Array][]): string[] =>
	entries.map(([key]) => text(key) as string);
/** `group.code` of an engine close reason `group.code#rayId`. */
const refusal = (reason: string | undefined): string | undefined =>
	reason?.split("#")[0];

/** Creates a counter and resolves once the runner started it and the engine reports it running. */
async function startedActor(
	ctx: ScenarioContext,
	events: RunnerRecorder,
	body: Record<string, unknown> = {},
): Promise<EngineActor> {
	const actor = await ctx.createActor(body);
	await events.until(
		`start of ${actor.actor_id}`,
		() => events.started.some((s) => s.actorId === actor.actor_id),
		ENGINE_STEP_MS,
	);
	return ctx.engine.untilActor(actor.actor_id, isRunning, ENGINE_STEP_MS);
}

const startsOf = (events: RunnerRecorder, actorId: string) =>
	events.started.filter((s) => s.actorId === actorId).map((s) => s.generation);

async function listRunners(
	ctx: ScenarioContext,
	query = "",
): Promise<
	{
		runner_id: string;
		name: string;
		drain_ts: number | null;
		stop_ts: number | null;
	}[]
> {
	const response = await ctx.engine.api(
		`/runners?namespace=default&name=${ctx.runnerName}${query}`,
	);
	expect(response.status).toBe(200);
	return ((await response.json()) as { runners: never[] }).runners;
}

/**
 * Asserts how a runner that the engine refused at connect ends. Both engines close the socket with the refusal
 * as the reason and the runner never sees `onConnected`. Ours then stops for good with a fatal report after one
 * attempt; R has no notion of a fatal close and keeps dialling with backoff (README: what we chose not to copy).
 */
async function expectRefused(
	ctx: ScenarioContext,
	runner: ScenarioRunner,
	events: RunnerRecorder,
	expected: string,
): Promise<void> {
	await runner.start();
	await events.until(
		"refusal",
		() => events.disconnects.length > 0,
		ENGINE_STEP_MS,
	);
	expect(events.connects).toBe(0);
	expect(refusal(events.disconnects[0]?.reason)).toBe(expected);
	if (ctx.runnerKind === "ours") {
		const report = await ours(runner).closed;
		expect(report.reason).toBe(`fatal:${expected}`);
		expect(report.error).toBeInstanceOf(FatalCloseError);
		expect((report.error as FatalCloseError).refusal).toBe(expected);
		expect(ours(runner).state).toBe("stopped");
		expect(events.disconnects).toHaveLength(1);
	} else {
		// R dials again (1 s backoff): a second refusal, still never connected.
		await events.until(
			"R's second attempt",
			() => events.disconnects.length > 1,
			ENGINE_STEP_MS,
		);
		expect(refusal(events.disconnects[1]?.reason)).toBe(expected);
		expect(events.connects).toBe(0);
	}
}

/** A `ws` WebSocket that records every URL it dials, after `rewrite`. */
function dialRecorder(rewrite: (url: string) => string) {
	const dialled: string[] = [];
	class RecordingWebSocket extends WebSocket {
		constructor(url: string, protocols?: string | string[]) {
			const target = rewrite(url);
			dialled.push(target);
			super(target, protocols);
		}
	}
	return { dialled, WebSocket: RecordingWebSocket };
}

/**
 * A raw runner socket hosting one actor: connected and initialised under the scenario's runner name, the actor
 * created for that name, its start command received and answered with "running".
 */
async function rawHostedActor(
	ctx: ScenarioContext,
): Promise<{ socket: RawRunner; actorId: string }> {
	const socket = ctx.rawSocket({ key: `${ctx.runnerName}-raw` });
	await socket.opened;
	socket.init(ctx.runnerName);
	await socket.next("ToClientInit", () => true, ENGINE_STEP_MS);
	const { actor_id: actorId } = await ctx.createActor();
	await socket.next(
		"ToClientCommands",
		(commands) =>
			commands.some(
				(c) =>
					c.checkpoint.actorId === actorId &&
					c.inner.tag === "CommandStartActor",
			),
		ENGINE_STEP_MS,
	);
	socket.event(actorId, 0, 0, running);
	await ctx.engine.untilActor(actorId, isRunning, ENGINE_STEP_MS);
	return { socket, actorId };
}

/**
 * The engine's answer to a put over a KV limit. The real engine 2.3.19 validates a put inside its storage
 * transaction and answers every refused put with the transaction's error, "transaction failed"; the dev engine
 * answers with the validation message (the one in the real engine's source), which says what to fix.
 */
const enginePutRefusal = (kind: EngineKind, message: string): string =>
	devEngineDiffers(kind, "D15") ? message : "transaction failed";

const kvBuf = (length: number, fill = 1): ArrayBuffer =>
	new Uint8Array(length).fill(fill).buffer;

export const runnerScenarios: RunnerScenario[] = [
	{
		name: "handshake: connects, gets a runner id, the engine lists the runner and its actor names",
		async run(ctx) {
			const { runner } = await ctx.startRunner();
			expect(runner.runnerId).toEqual(expect.any(String));
			// The real engine lists a runner shortly after its ToClientInit (~0.1 s), the dev engine at once.
			await untilEngineShows(
				"D17",
				async () => (await listRunners(ctx)).length > 0,
			);
			expect(await listRunners(ctx)).toEqual([
				expect.objectContaining({
					runner_id: runner.runnerId,
					name: ctx.runnerName,
					drain_ts: null,
					stop_ts: null,
				}),
			]);
			// The runner's connect made a runner config for its name (the real engine: asynchronously).
			const hasConfig = async () =>
				(
					await (
						await ctx.engine.api("/runner-configs?namespace=default")
					).text()
				).includes(`"${ctx.runnerName}"`);
			await untilEngineShows("D16", hasConfig);
			expect(await hasConfig()).toBe(true);
			const names = (await (
				await ctx.engine.api("/actors/names?namespace=default")
			).json()) as { names: Record<string, unknown> };
			expect(names.names.counter).toEqual({ metadata: { kind: "scenario" } });
		},
	},
	{
		name: "refusal: a runner without the engine's admin token is refused with guard.missing_header (ours stops after one attempt; R retries)",
		engineOptions: { token: TOKEN },
		async run(ctx) {
			const { runner, events } = ctx.newRunner({ token: undefined });
			await expectRefused(ctx, runner, events, "guard.missing_header");
		},
	},
	{
		name: "refusal: a wrong admin token is refused with api.forbidden (ours stops after one attempt; R retries)",
		engineOptions: { token: TOKEN },
		async run(ctx) {
			const { runner, events } = ctx.newRunner({ token: "guessed" });
			await expectRefused(ctx, runner, events, "api.forbidden");
		},
	},
	{
		name: "handshake with the right admin token: connects and can host an actor",
		engineOptions: { token: TOKEN },
		async run(ctx) {
			const { events } = await ctx.startRunner();
			await startedActor(ctx, events);
		},
	},
	{
		name: "refusal: an unknown namespace is refused with namespace.not_found (ours stops after one attempt; R retries)",
		async run(ctx) {
			const { runner, events } = ctx.newRunner({ namespace: "nowhere" });
			await expectRefused(ctx, runner, events, "namespace.not_found");
		},
	},
	{
		name: "protocol version: v8 is refused with 1011 ws.invalid_packet before any ToClientInit (ours stops after one attempt); v6 is still served",
		async run(ctx) {
			const newer = ctx.rawSocket({
				query: `protocol_version=8&namespace=default&runner_key=${ctx.runnerName}-v8`,
			});
			await newer.opened;
			newer.init(ctx.runnerName);
			const closed = await newer.closed;
			expect(closed.code).toBe(1011);
			expect(refusal(closed.reason)).toBe("ws.invalid_packet");
			expect(newer.received).toEqual([]);

			// Both engines still serve v6 (the dev engine because the real one does): a v7 init reads as v6.
			const older = ctx.rawSocket({
				query: `protocol_version=6&namespace=default&runner_key=${ctx.runnerName}-v6`,
			});
			await older.opened;
			older.init(ctx.runnerName);
			expect(
				(await older.next("ToClientInit", () => true, ENGINE_STEP_MS)).runnerId,
			).toEqual(expect.any(String));

			// R builds its URL and WebSocket itself (no hook to dial another version): this half is ours only.
			if (ctx.runnerKind === "ours") {
				const dial = dialRecorder((url) =>
					url.replace("protocol_version=7", "protocol_version=8"),
				);
				const { runner, events } = ctx.newRunner({
					platform: { name: "node", WebSocket: dial.WebSocket },
				});
				await expectRefused(ctx, runner, events, "ws.invalid_packet");
				expect(dial.dialled).toHaveLength(1);
				expect(dial.dialled[0]).toContain("protocol_version=8");
			}
		},
	},
	{
		name: "actor create and placement: started with its input at generation 0, listed running",
		async run(ctx) {
			const { events } = await ctx.startRunner();
			const input = Buffer.from("hello").toString("base64");
			const first = await startedActor(ctx, events, { key: "a", input });
			const second = await startedActor(ctx, events, { key: "b" });
			expect(startsOf(events, first.actor_id)).toEqual([0]);
			expect(
				text(events.started.find((s) => s.actorId === first.actor_id)?.input),
			).toBe("hello");
			const listed = (await (
				await ctx.engine.api("/actors?namespace=default&name=counter")
			).json()) as { actors: EngineActor[] };
			const ownActors = listed.actors.filter(
				(a) => a.runner_name_selector === ctx.runnerName,
			);
			expect(ownActors.map((a) => a.actor_id).sort()).toEqual(
				[first.actor_id, second.actor_id].sort(),
			);
			expect(ownActors.every((a) => isRunning(a) && a.start_ts !== null)).toBe(
				true,
			);
		},
	},
	{
		name: "destroying an actor over the API stops it on the runner",
		async run(ctx) {
			const { events } = await ctx.startRunner();
			const actor = await startedActor(ctx, events);
			expect(
				(
					await ctx.engine.api(`/actors/${actor.actor_id}?namespace=default`, {
						method: "DELETE",
					})
				).status,
			).toBe(200);
			await events.until("stop", () =>
				events.stopped.some((s) => s.actorId === actor.actor_id),
			);
			await ctx.engine.untilActor(actor.actor_id, isDestroyed);
		},
	},
	{
		name: "crash policies: an actor whose onActorStart throws is destroyed (destroy) or put to sleep (sleep)",
		notFor: {
			reference:
				"R reports the crash but rethrows the onActorStart error as an unhandled rejection, which fails the run",
		},
		async run(ctx) {
			const { events } = await ctx.startRunner({
				onActorStart: async (actorId: string, generation: number) => {
					events.record(() =>
						events.started.push({ actorId, generation, input: null }),
					);
					throw new Error("actor failed to start");
				},
			});
			const destroyed = await ctx.createActor({ crash_policy: "destroy" });
			const slept = await ctx.createActor({ crash_policy: "sleep" });
			await ctx.engine.untilActor(destroyed.actor_id, isDestroyed);
			await ctx.engine.untilActor(slept.actor_id, isSleeping);
			expect(startsOf(events, destroyed.actor_id)).toEqual([0]);
			expect(startsOf(events, slept.actor_id)).toEqual([0]);
		},
	},
	{
		name: "crash policy restart: an actor whose first start throws is started again as generation 1",
		notFor: {
			reference:
				"R reports the crash but rethrows the onActorStart error as an unhandled rejection, which fails the run",
		},
		async run(ctx) {
			const { events } = await ctx.startRunner({
				onActorStart: async (actorId: string, generation: number) => {
					events.record(() =>
						events.started.push({ actorId, generation, input: null }),
					);
					if (generation === 0) throw new Error("first start fails");
				},
			});
			const actor = await ctx.createActor({ crash_policy: "restart" });
			await events.until("restart as generation 1", () =>
				startsOf(events, actor.actor_id).includes(1),
			);
			await ctx.engine.untilActor(actor.actor_id, isRunning);
			expect(startsOf(events, actor.actor_id)).toEqual([0, 1]);
		},
	},
	{
		name: "stopActor: the runner stops the actor with an error stop, so the crash policy (sleep) applies",
		async run(ctx) {
			const { runner, events } = await ctx.startRunner();
			const actor = await startedActor(ctx, events, { crash_policy: "sleep" });
			await runner.stopActor(actor.actor_id);
			await events.until("stop", () =>
				events.stopped.some((s) => s.actorId === actor.actor_id),
			);
			await ctx.engine.untilActor(actor.actor_id, isSleeping);
		},
	},
	{
		name: "destroyActor from the runner: the engine destroys the actor even with crash policy sleep",
		async run(ctx) {
			const { runner, events } = await ctx.startRunner();
			const actor = await startedActor(ctx, events, { crash_policy: "sleep" });
			runner.destroyActor(actor.actor_id);
			await events.until("stop", () =>
				events.stopped.some((s) => s.actorId === actor.actor_id),
			);
			await ctx.engine.untilActor(actor.actor_id, isDestroyed);
		},
	},
	{
		name: "sleepActor + alarm: the actor sleeps, wakes on its alarm as generation 1 with its KV intact",
		async run(ctx) {
			const { runner, events } = await ctx.startRunner();
			const actor = await startedActor(ctx, events, { crash_policy: "sleep" });
			await runner.kvPut(actor.actor_id, [[bytes("count"), bytes("41")]]);
			runner.setAlarm(actor.actor_id, Date.now() + 1_000);
			runner.sleepActor(actor.actor_id);
			await events.until("stop before sleep", () =>
				events.stopped.some((s) => s.actorId === actor.actor_id),
			);
			await ctx.engine.untilActor(actor.actor_id, isSleeping);
			await events.until("wake by alarm", () =>
				startsOf(events, actor.actor_id).includes(1),
			);
			await ctx.engine.untilActor(actor.actor_id, isRunning);
			expect(
				(await runner.kvGet(actor.actor_id, [bytes("count")])).map(text),
			).toEqual(["41"]);
		},
	},
	{
		name: "an alarm cleared before it fires does not wake the sleeping actor",
		async run(ctx) {
			const { runner, events } = await ctx.startRunner();
			const woken = await startedActor(ctx, events, { crash_policy: "sleep" });
			const cleared = await startedActor(ctx, events, {
				crash_policy: "sleep",
			});
			runner.setAlarm(cleared.actor_id, Date.now() + 500);
			runner.setAlarm(cleared.actor_id, null);
			runner.sleepActor(cleared.actor_id);
			// The control actor's later alarm waking proves the engine had time to fire the cleared one.
			runner.setAlarm(woken.actor_id, Date.now() + 1_000);
			runner.sleepActor(woken.actor_id);
			await events.until("control wakes", () =>
				startsOf(events, woken.actor_id).includes(1),
			);
			expect(startsOf(events, cleared.actor_id)).toEqual([0]);
			expect(
				isSleeping((await ctx.engine.actor(cleared.actor_id)) as EngineActor),
			).toBe(true);
		},
	},
	{
		name: "KV round trips: put, get, list all/range/prefix, delete, deleteRange, drop",
		async run(ctx) {
			const { runner, events } = await ctx.startRunner();
			const { actor_id: id } = await startedActor(ctx, events);
			await runner.kvPut(
				id,
				["a", "b", "c", "d", "pre/1", "pre/2", "q"].map((k) => [
					bytes(k),
					bytes(`v-${k}`),
				]),
			);
			expect(
				(
					await runner.kvGet(id, [bytes("b"), bytes("missing"), bytes("a")])
				).map(text),
			).toEqual(["v-b", null, "v-a"]);
			expect(keysOf(await runner.kvListAll(id))).toEqual([
				"a",
				"b",
				"c",
				"d",
				"pre/1",
				"pre/2",
				"q",
			]);
			expect(
				keysOf(await runner.kvListAll(id, { reverse: true, limit: 2 })),
			).toEqual(["q", "pre/2"]);
			expect(
				keysOf(await runner.kvListRange(id, bytes("b"), bytes("d"))),
			).toEqual(["b", "c", "d"]);
			expect(
				keysOf(await runner.kvListRange(id, bytes("b"), bytes("d"), true)),
			).toEqual(["b", "c"]);
			const prefixed = await runner.kvListPrefix(id, bytes("pre/"));
			expect(prefixed.map(([k, v]) => [text(k), text(v)])).toEqual([
				["pre/1", "v-pre/1"],
				["pre/2", "v-pre/2"],
			]);
			await runner.kvDelete(id, [bytes("a")]);
			await runner.kvDeleteRange(id, bytes("b"), bytes("d"));
			expect(keysOf(await runner.kvListAll(id))).toEqual([
				"d",
				"pre/1",
				"pre/2",
				"q",
			]);
			await runner.kvPut(id, [[bytes("d"), bytes("replaced")]]);
			expect((await runner.kvGet(id, [bytes("d")])).map(text)).toEqual([
				"replaced",
			]);
			await runner.kvDrop(id);
			expect(await runner.kvListAll(id)).toEqual([]);
		},
	},
	{
		name: "KV over the limits: ours refuses before sending, with its own messages; R sends and reports the engine's error; nothing is written",
		async run(ctx) {
			const { runner, events } = await ctx.startRunner();
			const { actor_id: id } = await startedActor(ctx, events);
			const failure = async (operation: Promise<unknown>) => {
				try {
					await operation;
					return "resolved";
				} catch (error) {
					return (error as Error).message;
				}
			};
			const got = {
				get129Keys: await failure(
					runner.kvGet(
						id,
						Array.from({ length: 129 }, (_, i) => bytes(`k${i}`)),
					),
				),
				putLongKey: await failure(
					runner.kvPut(id, [[new Uint8Array(2047), bytes("v")]]),
				),
				putLargeValue: await failure(
					runner.kvPut(id, [[bytes("big"), new Uint8Array(128 * 1024 + 1)]]),
				),
				putLargePayload: await failure(
					runner.kvPut(
						id,
						Array.from({ length: 8 }, (_, i): [Uint8Array, Uint8Array] => [
							bytes(`k${i}`),
							new Uint8Array(122 * 1024),
						]),
					),
				),
			};
			// Ours checks the engine's limits before sending (a request the engine would refuse costs no round trip,
			// and the message says what to fix, also where the real engine only says "transaction failed"). R sends
			// every request and rejects with the engine's message.
			expect(got).toEqual(
				ctx.runnerKind === "ours"
					? {
							get129Keys: "A KV request may name at most 128 keys; got 129.",
							putLongKey: expect.stringMatching(
								/^A KV key may be at most 204[68] bytes; got 2047\.$/,
							),
							putLargeValue:
								"A KV value may be at most 128 KiB; got 131073 bytes.",
							putLargePayload: expect.stringMatching(
								/^A KV put may carry at most 976 KiB of keys and values; got \d+ bytes\.$/,
							),
						}
					: {
							get129Keys: "a maximum of 128 keys is allowed",
							putLongKey: enginePutRefusal(
								ctx.engine.kind,
								"key is too long (max 2048 bytes)",
							),
							putLargeValue: enginePutRefusal(
								ctx.engine.kind,
								"value is too large (max 128 KiB)",
							),
							putLargePayload: enginePutRefusal(
								ctx.engine.kind,
								"total payload is too large (max 976 KiB)",
							),
						},
			);
			expect(await runner.kvListAll(id)).toEqual([]);
		},
	},
	{
		name: "KV limits on the engine: over-limit requests from a raw socket get the engine's own error strings and write nothing",
		notFor: {
			reference:
				"no runner involved (a raw socket speaks to the engine); it runs once, in the list for our runner",
		},
		async run(ctx) {
			const { socket, actorId } = await rawHostedActor(ctx);
			let requestId = 0;
			/** The error string of an answer, or its tag if it was not an error. */
			const answer = async (data: protocol.KvRequestData) => {
				const response = await socket.kv(actorId, requestId++, data);
				return response.tag === "KvErrorResponse"
					? response.val.message
					: response.tag;
			};
			const keys = (n: number) =>
				Array.from({ length: n }, (_, i) => kvBuf(1, i));
			const put = (k: ArrayBuffer[], v: ArrayBuffer[]) =>
				answer({ tag: "KvPutRequest", val: { keys: k, values: v } });
			const list = (query: protocol.KvListQuery) =>
				answer({
					tag: "KvListRequest",
					val: { query, reverse: null, limit: null },
				});
			const answers = {
				get129Keys: await answer({
					tag: "KvGetRequest",
					val: { keys: keys(129) },
				}),
				deleteLongKey: await answer({
					tag: "KvDeleteRequest",
					val: { keys: [kvBuf(2047)] },
				}),
				putWithoutValues: await put([kvBuf(1)], []),
				put129Entries: await put(keys(129), keys(129)),
				putLargeValue: await put([kvBuf(1)], [kvBuf(128 * 1024 + 1)]),
				putLongKey: await put([kvBuf(2047)], [kvBuf(1)]),
				putLargePayload: await put(
					Array.from({ length: 8 }, (_, i) => kvBuf(1, i + 10)),
					Array.from({ length: 8 }, () => kvBuf(122 * 1024)),
				),
				listLongPrefix: await list({
					tag: "KvListPrefixQuery",
					val: { key: kvBuf(2047) },
				}),
				listLongRangeStart: await list({
					tag: "KvListRangeQuery",
					val: { start: kvBuf(2047), end: kvBuf(1), exclusive: false },
				}),
			};
			const refusedPut = (message: string) =>
				enginePutRefusal(ctx.engine.kind, message);
			expect(answers).toEqual({
				get129Keys: "a maximum of 128 keys is allowed",
				deleteLongKey: "key is too long (max 2048 bytes)",
				putWithoutValues: refusedPut("Keys list length != values list length"),
				put129Entries: refusedPut(
					"A maximum of 128 key-value entries is allowed",
				),
				putLargeValue: refusedPut("value is too large (max 128 KiB)"),
				putLongKey: refusedPut("key is too long (max 2048 bytes)"),
				putLargePayload: refusedPut("total payload is too large (max 976 KiB)"),
				listLongPrefix: "prefix key is too long (max 2048 bytes)",
				listLongRangeStart: "start key is too long (max 2048 bytes)",
			});
			const all = await socket.kv(actorId, requestId++, {
				tag: "KvListRequest",
				val: {
					query: { tag: "KvListAllQuery", val: null },
					reverse: null,
					limit: null,
				},
			});
			expect(all.tag === "KvListResponse" && all.val.keys).toEqual([]);
		},
	},
	{
		name: "drain with shutdown(false): the engine stops every actor, each follows its crash policy, the runner finishes promptly",
		async run(ctx) {
			const { runner, events } = await ctx.startRunner();
			const doomed = await startedActor(ctx, events);
			const sleeper = await startedActor(ctx, events, {
				crash_policy: "sleep",
			});
			const begun = Date.now();
			await runner.shutdown(false);
			expect(Date.now() - begun).toBeLessThan(5_000);
			expect(events.stopped.map((s) => s.actorId).sort()).toEqual(
				[doomed.actor_id, sleeper.actor_id].sort(),
			);
			// Stopping while going away is not a graceful exit: each actor follows its crash policy (spec §4.4).
			await ctx.engine.untilActor(doomed.actor_id, isDestroyed);
			await ctx.engine.untilActor(sleeper.actor_id, isSleeping);
			const runners = await listRunners(ctx, "&include_stopped=true");
			expect(runners).toHaveLength(1);
			expect(runners[0]?.drain_ts).not.toBeNull();
		},
	},
	{
		name: "immediate shutdown(true): the runner closes at once, its actors are lost after the threshold and follow their crash policy",
		engineOptions: lostThresholdEngine,
		async run(ctx) {
			const { runner, events } = await ctx.startRunner();
			const sleeper = await startedActor(ctx, events, {
				crash_policy: "sleep",
			});
			const begun = Date.now();
			await runner.shutdown(true);
			expect(Date.now() - begun).toBeLessThan(1_000);
			await ctx.engine.untilActor(sleeper.actor_id, isSleeping);
		},
	},
	{
		name: "eviction: a second socket with the runner's runner_key takes its runner id; the runner stops and does not come back (ours stops its actors locally; R leaves them running in the process)",
		// The no-comeback window below is one engine ping: the dev engine's is shortened, the real one's is 3 s.
		engineOptions: (kind) =>
			kind === "dev" ? { dev: { pingIntervalMs: 100 } } : {},
		async run(ctx) {
			const { relay, url } = await ctx.relay();
			const { runner, events } = await ctx.startRunner({ endpoint: url });
			const runnerId = runner.runnerId;
			const actor = await startedActor(ctx, events);
			const runnerKey = relay.lastRunnerKey;
			expect(runnerKey).toEqual(expect.any(String));

			const usurper = ctx.rawSocket({ key: runnerKey as string });
			await usurper.opened;
			usurper.init(ctx.runnerName);
			// Same (namespace, name, runner_key): the engine hands the usurper the runner's id.
			expect((await usurper.next("ToClientInit")).runnerId).toBe(runnerId);
			await events.until("eviction", () => events.disconnects.length > 0);
			const evictedAt = Date.now();
			expect(events.disconnects[0]).toEqual({
				code: 1000,
				reason: expect.stringMatching(/^ws\.eviction#/),
			});
			// Both runners shut down for good on eviction. Ours stops its actors here (nobody is told: they belong
			// to the usurper's socket now) and reports why; R's shutdown(true) leaves them running in the process.
			if (ctx.runnerKind === "ours") {
				const report = await ours(runner).closed;
				expect(report).toMatchObject({
					reason: "evicted",
					mode: "immediate",
					actorsAbandoned: 1,
				});
				expect(report.error).toBeUndefined();
				expect(ours(runner).state).toBe("stopped");
				expect(events.stopped).toEqual([
					{ actorId: actor.actor_id, generation: 0 },
				]);
			} else {
				expect(events.stopped).toEqual([]);
			}
			// Wait for an engine ping sent well after the eviction: a runner that came back would have evicted
			// the usurper by then.
			await usurper.next(
				"ToClientPing",
				(ping) => Number(ping.ts) > evictedAt + 100,
				10_000,
			);
			expect(usurper.ws.readyState).toBe(usurper.ws.OPEN);
			expect(events.connects).toBe(1);
			expect(events.disconnects).toHaveLength(1);
			expect(
				relay.requested.filter((t) => t.startsWith("/runners/connect")),
			).toHaveLength(1);
			expect((await listRunners(ctx)).map((r) => r.runner_id)).toEqual([
				runnerId,
			]);
			// Eviction is not a loss: the actor stays allocated to the runner id.
			expect(
				isRunning((await ctx.engine.actor(actor.actor_id)) as EngineActor),
			).toBe(true);
		},
	},
	{
		name: "lost threshold: partitioned past it, the runner stops its actors, the engine applies their crash policies, the runner comes back with a new id and the rescheduled actor",
		engineOptions: lostThresholdEngine,
		async run(ctx) {
			const { relay, url } = await ctx.relay();
			const { runner, events } = await ctx.startRunner({ endpoint: url });
			const firstRunnerId = runner.runnerId;
			// Both engines tell the runner their threshold in ToClientInit.
			if (ctx.runnerKind === "ours")
				expect(ours(runner).getProtocolMetadata()?.runnerLostThreshold).toBe(
					BigInt(lostThresholdMs(ctx.engine.kind)),
				);
			const restarted = await startedActor(ctx, events, {
				key: "restart",
				crash_policy: "restart",
			});
			const sleeper = await startedActor(ctx, events, {
				key: "sleep",
				crash_policy: "sleep",
			});
			const doomed = await startedActor(ctx, events, {
				key: "destroy",
				crash_policy: "destroy",
			});

			relay.cut("both");
			// Made while disconnected: queued until the connection is back, or the actor is given up.
			const queuedRead = runner.kvGet(restarted.actor_id, [bytes("k")]).then(
				(values) => ({ values }),
				(error: Error) => ({ error }),
			);
			await events.until(
				"local stops",
				() => events.stopped.length === 3,
				15_000,
			);
			// Both give the queued request up when they give up the actors: ours with RunnerLostError, which says
			// why; R with "Runner shut down", although it is not shutting down (it reconnects below).
			const queued = await queuedRead;
			if (ctx.runnerKind === "ours")
				expect(queued).toEqual({ error: expect.any(RunnerLostError) });
			else
				expect(queued).toEqual({
					error: expect.objectContaining({ message: "Runner shut down" }),
				});
			expect(events.stopped.map((s) => s.actorId).sort()).toEqual(
				[restarted.actor_id, sleeper.actor_id, doomed.actor_id].sort(),
			);
			if (ctx.runnerKind === "ours") {
				expect(ours(runner).actors.size).toBe(0);
				expect(ours(runner).state).toBe("reconnecting");
			}
			const lost = { runner_connection_lost: { runner_id: firstRunnerId } };
			await ctx.engine.untilActor(sleeper.actor_id, isSleeping, 15_000);
			await ctx.engine.untilActor(doomed.actor_id, isDestroyed, 15_000);
			expect((await ctx.engine.actor(sleeper.actor_id))?.error).toEqual(lost);
			expect((await ctx.engine.actor(doomed.actor_id))?.error).toEqual(lost);

			relay.heal();
			// R's backoff after a few failed dials is seconds long (1 s × 2^n).
			await events.until("reconnection", () => events.connects === 2, 30_000);
			expect(runner.runnerId).toEqual(expect.any(String));
			expect(runner.runnerId).not.toBe(firstRunnerId);
			// Only the rescheduled actor comes back, as the next generation, on the new runner id.
			await events.until(
				"restart of the rescheduled actor",
				() => startsOf(events, restarted.actor_id).includes(1),
				ENGINE_STEP_MS,
			);
			await ctx.engine.untilActor(restarted.actor_id, isRunning);
			expect(startsOf(events, sleeper.actor_id)).toEqual([0]);
			expect(startsOf(events, doomed.actor_id)).toEqual([0]);
			if (ctx.runnerKind === "ours")
				expect(ours(runner).hasActor(restarted.actor_id, 1)).toBe(true);
			const runners = await listRunners(ctx, "&include_stopped=true");
			const byId = new Map(runners.map((r) => [r.runner_id, r]));
			expect(byId.get(firstRunnerId as string)?.stop_ts).not.toBeNull();
			expect(byId.get(runner.runnerId as string)?.stop_ts).toBeNull();
		},
	},
	{
		name: "engine SIGTERM + restart: the runner reconnects under the same id, KV intact, events flow again; ours starts nothing twice (R starts the replayed actor again)",
		ownEngine: true,
		async run(ctx) {
			const { runner, events } = await ctx.startRunner();
			const runnerId = runner.runnerId;
			const actor = await startedActor(ctx, events, { crash_policy: "sleep" });
			await runner.kvPut(actor.actor_id, [[bytes("k"), bytes("before")]]);

			await ctx.engine.restart("SIGTERM");
			await events.until("disconnect", () => events.disconnects.length > 0);
			expect(refusal(events.disconnects[0]?.reason)).toBe("ws.going_away");
			await events.until("reconnection", () => events.connects === 2, 20_000);
			expect(runner.runnerId).toBe(runnerId);
			expect(
				(await runner.kvGet(actor.actor_id, [bytes("k")])).map(text),
			).toEqual(["before"]);
			runner.sleepActor(actor.actor_id);
			await ctx.engine.untilActor(actor.actor_id, isSleeping, 20_000);
			// The engine replays unacked commands after the reconnect. Ours de-duplicates by (actor, generation,
			// index); R acks commands only every 5 min and does not de-duplicate, so it starts the actor again.
			expect(startsOf(events, actor.actor_id)).toEqual(
				ctx.runnerKind === "ours" ? [0] : [0, 0],
			);
		},
	},
	{
		// The real engine's workflows stall ~30 s after a SIGKILL until its worker failover (toolchain §11): each
		// wait on the engine here is bounded at 60 s. Once per runner: the stall dominates the whole file.
		name: "engine SIGKILL + restart (real engine: workflows stall ~30 s until worker failover): the runner reconnects under the same id, KV intact, a sleep goes through",
		notOn: {
			dev: "the dev engine runs in-process, so SIGKILL is the SIGTERM scenario (close + restart on the same SQLite file)",
		},
		ownEngine: true,
		timeoutMs: 120_000,
		async run(ctx) {
			// The bound of each wait after the kill covers the real engine's stall (the dev engine has none).
			const afterKillMs = devEngineDiffers(ctx.engine.kind, "D19")
				? ENGINE_STEP_MS
				: 60_000;
			const { runner, events } = await ctx.startRunner();
			const runnerId = runner.runnerId;
			const actor = await startedActor(ctx, events, { crash_policy: "sleep" });
			await runner.kvPut(actor.actor_id, [[bytes("k"), bytes("before")]]);

			await ctx.engine.restart("SIGKILL");
			await events.until("disconnect", () => events.disconnects.length > 0);
			await events.until(
				"reconnection",
				() => events.connects >= 2,
				afterKillMs,
			);
			expect(runner.runnerId).toBe(runnerId);
			expect(
				(await runner.kvGet(actor.actor_id, [bytes("k")])).map(text),
			).toEqual(["before"]);
			runner.sleepActor(actor.actor_id);
			await ctx.engine.untilActor(actor.actor_id, isSleeping, afterKillMs);
		},
	},
];

/** Lines of the runner log and the engine log printed when a scenario fails. */
const DIAGNOSTIC_LINES = 60;

function tail(lines: string[]): string {
	return lines.slice(-DIAGNOSTIC_LINES).join("\n");
}

/**
 * Registers every scenario as a test for one Runner class on one engine kind. Scenarios that do not apply are
 * registered as skipped tests whose names carry the reason.
 */
export function describeRunnerScenarios(
	label: string,
	RunnerClass: RunnerClass,
	engineKind: EngineKind,
	runnerKind: RunnerKind,
	scenarios: RunnerScenario[] = runnerScenarios,
): void {
	describe(label, () => {
		/** Engines shared by scenarios with equal options, by the options' JSON. */
		const shared = new Map<string, Promise<EngineUnderTest>>();
		let cleanups: (() => unknown)[];
		let runners: ScenarioRunner[];
		let engineCloses: (() => Promise<void>)[];

		beforeEach(() => {
			cleanups = [];
			runners = [];
			engineCloses = [];
		});

		afterEach(async () => {
			for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
			await Promise.all(runners.map((runner) => runner.shutdown(true)));
			for (const close of engineCloses.splice(0)) await close();
		});

		afterAll(async () => {
			const engines = await Promise.allSettled(shared.values());
			shared.clear();
			for (const engine of engines)
				if (engine.status === "fulfilled") await engine.value.close();
		});

		scenarios.forEach((scenario, index) => {
			const excluded =
				scenario.notOn?.[engineKind] ?? scenario.notFor?.[runnerKind];
			if (excluded !== undefined) {
				it.skip(`${scenario.name} — not here: ${excluded}`, () => {});
				return;
			}
			it(
				scenario.name,
				async () => {
					const options =
						typeof scenario.engineOptions === "function"
							? scenario.engineOptions(engineKind)
							: (scenario.engineOptions ?? {});
					const key = JSON.stringify(options);
					let engine: EngineUnderTest;
					if (scenario.ownEngine) {
						engine = await startEngineUnderTest(engineKind, options);
						engineCloses.push(() => engine.close());
					} else {
						let starting = shared.get(key);
						if (starting === undefined) {
							starting = startEngineUnderTest(engineKind, options);
							shared.set(key, starting);
						}
						engine = await starting;
					}
					const runnerLog: string[] = [];
					try {
						await scenario.run(
							scenarioContext(engine, `${RUNNER_NAME}-${index}`, runnerLog),
						);
					} catch (error) {
						// A failed scenario may leave the engine in a state the next one should not inherit.
						if (!scenario.ownEngine && shared.get(key) !== undefined) {
							shared.delete(key);
							engineCloses.push(() => engine.close());
						}
						const engineLog =
							engine.logPath === undefined
								? []
								: readFileSync(engine.logPath, "utf8").trimEnd().split("\n");
						console.error(
							`${label} › ${scenario.name} failed.\n--- our runner's log (last ${DIAGNOSTIC_LINES} lines) ---\n${tail(runnerLog)}\n--- engine log (last ${DIAGNOSTIC_LINES} lines) ---\n${tail(engineLog)}`,
						);
						throw error;
					}
				},
				scenario.timeoutMs ?? SCENARIO_TIMEOUT_MS,
			);
		});

		function scenarioContext(
			engine: EngineUnderTest,
			runnerName: string,
			runnerLog: string[],
		): ScenarioContext {
			const ctx: ScenarioContext = {
				engine,
				runnerKind,
				runnerName,
				defer: (cleanup) => cleanups.push(cleanup),
				newRunner(overrides) {
					const events = new RunnerRecorder();
					const runner = new RunnerClass(
						runnerConfig(engine, events, {
							runnerName,
							// Ours only (R ignores both): retries soon, so a wrong reconnect shows within the test; a log
							// printed if the scenario fails.
							reconnect: {
								baseDelayMs: 10,
								maxDelayMs: 500,
								soonDelayMs: 10,
							},
							...(runnerKind === "ours"
								? { logger: memoryLogger(runnerLog) }
								: {}),
							...overrides,
						}),
					);
					runners.push(runner);
					return { runner, events };
				},
				async startRunner(overrides) {
					const started = ctx.newRunner(overrides);
					await started.runner.start();
					await started.events.until(
						"connection",
						() => started.events.connects > 0,
						ENGINE_STEP_MS,
					);
					return started;
				},
				rawSocket({ query, key }) {
					const socket = new RawRunner(engine.url, {
						...(query === undefined ? {} : { query }),
						...(key === undefined ? {} : { key }),
						protocols:
							engine.token === undefined
								? ["rivet"]
								: ["rivet", `rivet_token.${engine.token}`],
					});
					cleanups.push(() => socket.close());
					return socket;
				},
				async relay() {
					const relay = new TcpRelay(engine.url);
					const url = await relay.listen();
					cleanups.push(() => relay.close());
					return { relay, url };
				},
				createActor: (body = {}) => createActor(engine, runnerName, body),
			};
			return ctx;
		}
	});
}

/** Runner names whose runner config was declared, per real engine. */
const declaredRunnerConfigs = new WeakMap<EngineUnderTest, Set<string>>();

/**
 * Real engine: declares the runner config for `runnerName` once per engine (tests/helpers/engines.ts). A runner's
 * connect makes the engine create one, but under load that was not done 30 s later; the handshake scenario checks
 * the connect-made one.
 */
async function declareRunnerConfigOnce(
	engine: EngineUnderTest,
	runnerName: string,
): Promise<void> {
	const declared = declaredRunnerConfigs.get(engine) ?? new Set<string>();
	declaredRunnerConfigs.set(engine, declared);
	if (declared.has(runnerName)) return;
	await declareRunnerConfig(engine, runnerName, ENGINE_STEP_MS);
	declared.add(runnerName);
}

async function createActor(
	engine: EngineUnderTest,
	runnerName: string,
	body: Record<string, unknown>,
): Promise<EngineActor> {
	if (!devEngineDiffers(engine.kind, "D16"))
		await declareRunnerConfigOnce(engine, runnerName);
	const response = await engine.api("/actors?namespace=default", {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({
			name: "counter",
			runner_name_selector: runnerName,
			crash_policy: "destroy",
			...body,
		}),
	});
	const answer = await response.text();
	if (response.status !== 200)
		throw new Error(`POST /actors: ${response.status} ${answer}`);
	return (JSON.parse(answer) as { actor: EngineActor }).actor;
}
