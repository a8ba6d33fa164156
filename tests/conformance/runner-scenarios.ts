/**
 * Runner scenarios against the dev engine, parameterised by the Runner class so the same list runs with the
 * reference runner (@rivetkit/engine-runner) and with ours. A scenario only uses the RunnerConfig fields and
 * public methods both runners share.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import {
	type ActorJson,
	type RunningEngine,
	startEngine,
} from "../../src/engine/index.ts";
import {
	isDestroyed,
	isRunning,
	isSleeping,
	watchActors,
} from "../engine/actor-watch.ts";
import { Recorder } from "../helpers/recorder.ts";

export interface ScenarioRunner {
	start(): Promise<void>;
	shutdown(immediate: boolean): Promise<unknown>;
	sleepActor(actorId: string, generation?: number): void;
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
	engine: RunningEngine;
	watch: ReturnType<typeof watchActors>;
	/** Starts a runner on the engine (auto-shutdown off) and waits for its first connection. */
	startRunner(
		overrides?: Record<string, unknown>,
	): Promise<{ runner: ScenarioRunner; events: RunnerRecorder }>;
	api(path: string, init?: RequestInit): Promise<Response>;
	createActor(body: Record<string, unknown>): Promise<ActorJson>;
}

export interface RunnerScenario {
	name: string;
	run(ctx: ScenarioContext): Promise<void>;
}

export const RUNNER_NAME = "scenario-runner";

/** The RunnerConfig both runners accept; `platform` is ignored by the reference runner. */
export function runnerConfig(
	engine: RunningEngine,
	events: RunnerRecorder,
	overrides: Record<string, unknown> = {},
) {
	return {
		version: 1,
		endpoint: engine.url,
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

async function startedActor(
	ctx: ScenarioContext,
	events: RunnerRecorder,
	body: Record<string, unknown> = {},
) {
	const actor = await ctx.createActor({
		name: "counter",
		runner_name_selector: RUNNER_NAME,
		...body,
	});
	await events.until(`start of ${actor.actor_id}`, () =>
		events.started.some((s) => s.actorId === actor.actor_id),
	);
	await ctx.watch.until(actor.actor_id, isRunning);
	return actor;
}

export const runnerScenarios: RunnerScenario[] = [
	{
		name: "starts actors created over the API and reports them running",
		async run(ctx) {
			const { events } = await ctx.startRunner();
			const input = Buffer.from("hello").toString("base64");
			const first = await startedActor(ctx, events, { key: "a", input });
			const second = await startedActor(ctx, events, { key: "b" });
			expect(
				events.started.find((s) => s.actorId === first.actor_id)?.generation,
			).toBe(0);
			expect(
				text(events.started.find((s) => s.actorId === first.actor_id)?.input),
			).toBe("hello");
			const listed = (await (
				await ctx.api("/actors?namespace=default&name=counter")
			).json()) as { actors: ActorJson[] };
			expect(listed.actors.map((a) => a.actor_id).sort()).toEqual(
				[first.actor_id, second.actor_id].sort(),
			);
			expect(
				listed.actors.every(
					(a) => a.connectable_ts !== null && a.start_ts !== null,
				),
			).toBe(true);
			const names = (await (
				await ctx.api("/actors/names?namespace=default")
			).json()) as { names: object };
			expect(names.names).toEqual({
				counter: { metadata: { kind: "scenario" } },
			});
		},
	},
	{
		name: "destroying an actor over the API stops it on the runner",
		async run(ctx) {
			const { events } = await ctx.startRunner();
			const actor = await startedActor(ctx, events);
			expect(
				(
					await ctx.api(`/actors/${actor.actor_id}?namespace=default`, {
						method: "DELETE",
					})
				).status,
			).toBe(200);
			await events.until("stop", () =>
				events.stopped.some((s) => s.actorId === actor.actor_id),
			);
			await ctx.watch.until(actor.actor_id, isDestroyed);
		},
	},
	{
		name: "an actor put to sleep wakes on its alarm with a new generation and its KV intact",
		async run(ctx) {
			const { runner, events } = await ctx.startRunner();
			const actor = await startedActor(ctx, events, { crash_policy: "sleep" });
			await runner.kvPut(actor.actor_id, [[bytes("count"), bytes("41")]]);
			runner.setAlarm(actor.actor_id, Date.now() + 400);
			runner.sleepActor(actor.actor_id);
			await events.until("stop before sleep", () =>
				events.stopped.some((s) => s.actorId === actor.actor_id),
			);
			await ctx.watch.until(actor.actor_id, isSleeping);
			await events.until("wake by alarm", () =>
				events.started.some(
					(s) => s.actorId === actor.actor_id && s.generation === 1,
				),
			);
			await ctx.watch.until(actor.actor_id, isRunning);
			expect(
				(await runner.kvGet(actor.actor_id, [bytes("count")])).map(text),
			).toEqual(["41"]);
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
		name: "KV over the limits is refused and writes nothing (engine strings: tests/engine/kv.test.ts)",
		async run(ctx) {
			const { runner, events } = await ctx.startRunner();
			const { actor_id: id } = await startedActor(ctx, events);
			await expect(
				runner.kvGet(
					id,
					Array.from({ length: 129 }, (_, i) => bytes(`k${i}`)),
				),
			).rejects.toThrow(/128/);
			await expect(
				runner.kvPut(id, [[new Uint8Array(2047), bytes("v")]]),
			).rejects.toThrow(/204[68]|too long/i);
			await expect(
				runner.kvPut(id, [[bytes("big"), new Uint8Array(128 * 1024 + 1)]]),
			).rejects.toThrow(/128 KiB|too large/i);
			const eightBig = Array.from(
				{ length: 8 },
				(_, i): [Uint8Array, Uint8Array] => [
					bytes(`k${i}`),
					new Uint8Array(128 * 1024),
				],
			);
			await expect(runner.kvPut(id, eightBig)).rejects.toThrow(
				/976 KiB|too large/i,
			);
			expect(await runner.kvListAll(id)).toEqual([]);
		},
	},
	{
		name: "drain with shutdown(false): the engine stops every actor and the runner finishes promptly",
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
			await ctx.watch.until(doomed.actor_id, isDestroyed);
			await ctx.watch.until(sleeper.actor_id, isSleeping);
			const runners = (await (
				await ctx.api("/runners?namespace=default&include_stopped=true")
			).json()) as {
				runners: { drain_ts: number | null; stop_ts: number | null }[];
			};
			expect(runners.runners).toHaveLength(1);
			expect(runners.runners[0]?.drain_ts).not.toBeNull();
		},
	},
];

/** Registers every scenario as a test for one Runner class, each on a fresh engine. */
export function describeRunnerScenarios(
	label: string,
	RunnerClass: RunnerClass,
): void {
	describe(label, () => {
		let engine: RunningEngine;
		let watch: ReturnType<typeof watchActors>;
		let runners: ScenarioRunner[];
		let ctx: ScenarioContext;

		beforeEach(async () => {
			watch = watchActors();
			runners = [];
			engine = await startEngine({
				port: 0,
				onActorChange: watch.onActorChange,
				drainWindowMs: 3_000,
			});
			const api = (path: string, init?: RequestInit) =>
				fetch(`${engine.url}${path}`, init);
			ctx = {
				engine,
				watch,
				api,
				async startRunner(overrides) {
					const events = new RunnerRecorder();
					const runner = new RunnerClass(
						runnerConfig(engine, events, overrides),
					);
					runners.push(runner);
					await runner.start();
					await events.until("connection", () => events.connects > 0);
					return { runner, events };
				},
				async createActor(body) {
					const response = await api("/actors?namespace=default", {
						method: "POST",
						headers: { "content-type": "application/json" },
						body: JSON.stringify(body),
					});
					if (response.status !== 200)
						throw new Error(
							`POST /actors: ${response.status} ${await response.text()}`,
						);
					return (
						(await response.json()) as {
							actor: Awaited<ReturnType<ScenarioContext["createActor"]>>;
						}
					).actor;
				},
			};
		});

		afterEach(async () => {
			await Promise.all(runners.map((runner) => runner.shutdown(true)));
			await engine.close();
		});

		for (const scenario of runnerScenarios)
			it(scenario.name, () => scenario.run(ctx));
	});
}
