/**
 * Real runtimes, real signals: the Node 20, Node 24, Bun and Deno examples against the dev engine, observed from
 * the engine's side through a recording relay (engine-tap.ts) and from the child's JSON stdout. The SIGTERM drain
 * also runs against the real Rivet Engine (tests/helpers/engines.ts), once per crash policy, with the engine's API
 * view of the actor and the runner checked afterwards.
 */
import { execFileSync } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
	type ActorJson,
	type RunningEngine,
	startEngine,
} from "../../src/engine/index.ts";
import { watchActors } from "../engine/actor-watch.ts";
import {
	ENGINE_KINDS,
	type EngineUnderTest,
	isRunning,
	startEngineUnderTest,
} from "../helpers/engines.ts";
import { exitWithin, killAll, spawnRuntime } from "./child-process.ts";
import {
	CRASH_POLICIES,
	type CrashPolicy,
	createActorWhenRunnerConfigured,
	pollEngine,
	runnerJson,
	STOPPED_BY_DRAIN,
} from "./engine-api.ts";
import {
	actorsInStopOrder,
	cleanDrainOf,
	drainView,
	type EngineTap,
	startEngineTap,
} from "./engine-tap.ts";
import { REPO, runtimeCommand, runtimesUnderTest } from "./runtimes.ts";

const engines: RunningEngine[] = [];
const underTest: EngineUnderTest[] = [];
const taps: EngineTap[] = [];
const servers: Server[] = [];
afterEach(async () => {
	await killAll();
	await Promise.all(taps.splice(0).map((t) => t.close()));
	await Promise.all(engines.splice(0).map((e) => e.close()));
	await Promise.all(underTest.splice(0).map((e) => e.close()));
	await Promise.all(
		servers.splice(0).map((s) => new Promise((r) => s.close(r))),
	);
});

async function engineWithTap() {
	const watch = watchActors();
	const engine = await startEngine({
		port: 0,
		onActorChange: watch.onActorChange,
	});
	engines.push(engine);
	const tap = await startEngineTap(engine.url);
	taps.push(tap);
	return { engine, tap, watch };
}

async function createActor(
	engine: RunningEngine,
	runnerName: string,
): Promise<string> {
	const response = await fetch(`${engine.url}/actors?namespace=default`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({
			name: "counter",
			runner_name_selector: runnerName,
			crash_policy: "destroy",
		}),
	});
	expect(response.status).toBe(200);
	return ((await response.json()) as { actor: ActorJson }).actor.actor_id;
}

function startExample(
	runtime: ReturnType<typeof runtimesUnderTest>[number],
	endpoint: string,
	runnerName: string,
) {
	const [command, args] = runtimeCommand(
		runtime,
		`examples/${runtime.example}/main.mjs`,
	);
	return spawnRuntime(
		command,
		args,
		{
			RIVET_ENDPOINT: endpoint,
			RIVET_RUNNER_NAME: runnerName,
			EDGERUNNER_DRAIN_TIMEOUT_MS: "20000",
		},
		REPO,
	);
}

for (const runtime of runtimesUnderTest()) {
	const title = runtime.unavailable
		? `${runtime.name} (skipped: ${runtime.unavailable})`
		: runtime.name;
	describe.skipIf(runtime.unavailable !== undefined)(title, () => {
		for (const kind of ENGINE_KINDS) {
			it(`[${kind} engine] runs a sleep, a restart and a destroy actor, each answering through the gateway; on SIGTERM the engine sees Stopping, Stopped(Ok) for each, close 1000 pegboard.runner_shutdown; each actor stopped per its crash policy, the runner drained; exit 143`, async () => {
				const engine = await startEngineUnderTest(kind);
				underTest.push(engine);
				const tap = await startEngineTap(engine.url);
				taps.push(tap);
				const runnerName = `sigterm-${runtime.name}`;
				const child = startExample(runtime, tap.url, runnerName);
				const { runnerId } = await child.next("connected");
				const actors = new Map<string, CrashPolicy>();
				for (const crashPolicy of CRASH_POLICIES) {
					const { actor_id } = await createActorWhenRunnerConfigured(
						engine.url,
						runnerName,
						crashPolicy,
					);
					actors.set(actor_id, crashPolicy);
				}
				for (const actorId of actors.keys()) {
					await engine.untilActor(actorId, isRunning);
					// The counter adds 1 when the actor starts, and 1 per increment.
					const answered = await fetch(
						`${engine.url}/gateway/${actorId}/increment`,
						{ method: "POST" },
					);
					expect(answered.status).toBe(200);
					expect(await answered.json()).toEqual({ count: 2 });
				}

				child.signal("SIGTERM");
				const exit = await exitWithin(child, 15_000);
				expect(exit).toEqual({ code: 143, signal: null });

				expect(drainView(tap.entries)).toEqual(
					cleanDrainOf(...actorsInStopOrder(tap.entries)),
				);
				expect(new Set(actorsInStopOrder(tap.entries))).toEqual(
					new Set(actors.keys()),
				);
				const stopped = await child.next("stopped");
				expect(stopped.report).toMatchObject({
					reason: "signal:SIGTERM",
					mode: "drain",
					actorsStopped: 3,
					actorsAbandoned: 0,
				});
				for (const [actorId, crashPolicy] of actors)
					await engine.untilActor(actorId, STOPPED_BY_DRAIN[crashPolicy]);
				const runner = await pollEngine(
					"the runner drained with its slots free",
					() => runnerJson(engine.url, String(runnerId)),
					(r) => r.drain_ts !== null && r.remaining_slots === r.total_slots,
				);
				expect(runner.drain_ts).toBeGreaterThan(0);
			});
		}

		it("on SIGINT drains and exits 130", async () => {
			const { tap } = await engineWithTap();
			const child = startExample(runtime, tap.url, `sigint-${runtime.name}`);
			await child.next("connected");
			child.signal("SIGINT");
			expect(await exitWithin(child, 10_000)).toEqual({
				code: 130,
				signal: null,
			});
			expect((await child.next("stopped")).report).toMatchObject({
				reason: "signal:SIGINT",
			});
			await tap.until(
				"runner close",
				(e) => e.kind === "close" && e.reason === "pegboard.runner_shutdown",
			);
		});

		it("a second signal during a drain stops at once (report immediate, actor abandoned)", async () => {
			const { engine, tap } = await engineWithTap();
			const runnerName = `double-${runtime.name}`;
			const child = startExample(runtime, tap.url, runnerName);
			await child.next("connected");
			await createActor(engine, runnerName);
			await child.next("actor-started");
			// The engine's StopActor never reaches the runner: the drain would wait out its 20 s budget.
			tap.holdEngineFrames();
			child.signal("SIGTERM");
			await tap.until(
				"ToServerStopping",
				(e) => e.kind === "frame" && e.tag === "ToServerStopping",
			);
			const secondAt = Date.now();
			child.signal("SIGTERM");
			expect(await exitWithin(child, 5_000)).toEqual({
				code: 143,
				signal: null,
			});
			expect(Date.now() - secondAt).toBeLessThan(5_000);
			expect((await child.next("stopped")).report).toMatchObject({
				reason: "signal:SIGTERM",
				mode: "immediate",
				actorsAbandoned: 1,
			});
		});

		it("a signal while the engine socket is still CONNECTING exits promptly and never reconnects", async () => {
			// An "engine" that accepts TCP and never answers the upgrade: the runner's socket stays CONNECTING.
			const connections: Socket[] = [];
			let notify: (() => void) | undefined;
			const blackhole = createServer((socket) => {
				connections.push(socket);
				notify?.();
			});
			servers.push(blackhole);
			await new Promise<void>((r) => blackhole.listen(0, "127.0.0.1", r));
			const { port } = blackhole.address() as { port: number };
			const dialled = new Promise<void>((resolve) => {
				notify = resolve;
			});
			const child = startExample(
				runtime,
				`http://127.0.0.1:${port}`,
				`connecting-${runtime.name}`,
			);
			await dialled;
			const signalAt = Date.now();
			child.signal("SIGTERM");
			expect(await exitWithin(child, 5_000)).toEqual({
				code: 143,
				signal: null,
			});
			expect(Date.now() - signalAt).toBeLessThan(3_000);
			expect(connections).toHaveLength(1);
			for (const socket of connections) socket.destroy();
			expect((await child.next("stopped")).report).toMatchObject({
				reason: "signal:SIGTERM",
				mode: "immediate",
			});
		});
	});
}

describe.skipIf(process.platform !== "linux" || process.getuid?.() !== 0)(
	"node20 as PID 1 (unshare --pid; needs root)",
	() => {
		it("as PID 1 in its own PID namespace, SIGTERM still drains and exits 143", async () => {
			const { tap } = await engineWithTap();
			const child = spawnRuntime(
				"unshare",
				[
					"--fork",
					"--pid",
					"--kill-child",
					process.execPath,
					"examples/node/main.mjs",
				],
				{ RIVET_ENDPOINT: tap.url, RIVET_RUNNER_NAME: "pid1" },
				REPO,
			);
			const started = await child.next("started");
			expect(started.pid).toBe(1);
			await child.next("connected");
			// Signal the runner itself (PID 1 inside): unshare waits for it and exits with its status.
			const inner = execFileSync("pgrep", ["-P", String(child.pid)], {
				encoding: "utf8",
			}).trim();
			process.kill(Number(inner), "SIGTERM");
			expect(await exitWithin(child, 10_000)).toEqual({
				code: 143,
				signal: null,
			});
			await tap.until(
				"runner close",
				(e) => e.kind === "close" && e.reason === "pegboard.runner_shutdown",
			);
		});
	},
);
