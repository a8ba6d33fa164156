/**
 * Cloudflare end to end: the example worker under a real `wrangler dev` (workerd) against the dev engine. The
 * whole wrangler process group is SIGKILLed (as an eviction or a crashed host would end it: no hook runs), then
 * wrangler starts again on the same persisted state: the Durable Object's alarm heartbeat brings its runner back
 * without any request, and the engine reschedules the actor onto it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { type RunningEngine, startEngine } from "../../src/engine/index.ts";
import { isRunning, watchActors } from "../engine/actor-watch.ts";
import { type ChildExit, killAll, spawnRuntime } from "./child-process.ts";
import { createActorWhenRunnerConfigured } from "./engine-api.ts";
import { type EngineTap, startEngineTap } from "./engine-tap.ts";
import { REPO } from "./runtimes.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
	await killAll();
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function freePort(): Promise<number> {
	const server = createServer();
	await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
	const { port } = server.address() as { port: number };
	await new Promise((r) => server.close(r));
	return port;
}

function startWrangler(
	endpoint: string,
	persistTo: string,
	port: number,
	inspectorPort: number,
) {
	const child = spawnRuntime(
		join(REPO, "node_modules/.bin/wrangler"),
		[
			"dev",
			"--ip",
			"127.0.0.1",
			"--port",
			String(port),
			"--inspector-port",
			String(inspectorPort),
			"--show-interactive-dev-session=false",
			"--persist-to",
			persistTo,
			"--var",
			`EDGERUNNER_ENDPOINT:${endpoint}`,
			"--var",
			"EDGERUNNER_HEARTBEAT_MS:1000",
		],
		{ WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
		REPO,
		{ detached: true },
	);
	return child;
}

/** Resolves once wrangler prints "Ready on"; rejects with its output if it exits first. */
function ready(
	child: ReturnType<typeof startWrangler>,
	timeoutMs = 30_000,
): Promise<void> {
	return new Promise((resolve, reject) => {
		const timer = setTimeout(
			() =>
				reject(
					new Error(`wrangler not ready in ${timeoutMs} ms: ${child.output()}`),
				),
			timeoutMs,
		);
		const check = (): void => {
			if (child.output().includes("Ready on")) {
				clearTimeout(timer);
				resolve();
			}
		};
		child.process.stdout?.on("data", check);
		child.process.stderr?.on("data", check);
		void child.exited.then((exit: ChildExit) => {
			clearTimeout(timer);
			reject(
				new Error(`wrangler exited ${JSON.stringify(exit)}: ${child.output()}`),
			);
		});
	});
}

it("wrangler dev SIGKILLed and restarted: the alarm reconnects the runner and the engine reschedules the actor", async () => {
	const watch = watchActors();
	const engine: RunningEngine = await startEngine({
		port: 0,
		runnerLostThresholdMs: 1000,
		onActorChange: watch.onActorChange,
	});
	cleanups.push(() => engine.close());
	const tap: EngineTap = await startEngineTap(engine.url);
	cleanups.push(() => tap.close());
	const persistTo = mkdtempSync(join(tmpdir(), "edgerunner-wrangler-"));
	cleanups.push(() => rmSync(persistTo, { recursive: true, force: true }));
	const port = await freePort();
	const inspectorPort = await freePort();

	const first = startWrangler(tap.url, persistTo, port, inspectorPort);
	await ready(first);
	const woke = await fetch(`http://127.0.0.1:${port}/runner`);
	expect(woke.status).toBe(200);
	await tap.until(
		"the first runner's init",
		(e) => e.kind === "frame" && e.tag === "ToServerInit" && e.connection === 1,
		15_000,
	);
	// The engine creates the runner config as it answers the init the tap forwarded: retried until it exists.
	const { actor_id: actorId } = await createActorWhenRunnerConfigured(
		engine.url,
		"counter-cloudflare",
		"restart",
	);
	const running = await watch.until(actorId, isRunning);

	// No hook runs: the whole process group (wrangler, esbuild, workerd) dies at once.
	process.kill(-first.pid, "SIGKILL");
	await first.exited;
	await tap.until(
		"the runner socket to drop",
		(e) => e.kind === "close" && e.connection === 1,
	);

	const second = startWrangler(tap.url, persistTo, port, inspectorPort);
	await ready(second);
	// No request: only the persisted alarm can bring the runner back.
	await tap.until(
		"a new runner's init after the restart",
		(e) => e.kind === "frame" && e.tag === "ToServerInit" && e.connection > 1,
		20_000,
	);
	const rescheduled = await watch.until(
		actorId,
		// start_ts stays at the first start (as on the real engine); a new start sets connectable_ts again.
		(a) => isRunning(a) && a.connectable_ts !== running.connectable_ts,
		15_000,
	);
	expect(rescheduled.connectable_ts).not.toBeNull();
	const count = await fetch(`${engine.url}/gateway/${actorId}/count`);
	expect(count.status).toBe(200);
	process.kill(-second.pid, "SIGTERM");
	await second.exited;
}, 90_000);
