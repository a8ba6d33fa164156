/**
 * The serverless endpoint on Node: the engine-side start request (GET /start with the spec §10 headers) runs a
 * runner for the lifetime of the request; aborting the request drains it through the one shutdown path.
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import * as protocol from "@rivetkit/engine-runner-protocol";
import { afterEach, expect, it } from "vitest";
import type { Runner } from "../../src/core/index.ts";
import {
	type ActorJson,
	type RunningEngine,
	startEngine,
} from "../../src/engine/index.ts";
import { nodePlatform } from "../../src/runtimes/node.ts";
import { createServerlessApp } from "../../src/runtimes/serverless.ts";
import { isRunning, watchActors } from "../engine/actor-watch.ts";
import {
	cleanDrainOf,
	drainView,
	type EngineTap,
	startEngineTap,
} from "./engine-tap.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

it("GET /start runs a runner and streams its init packet; aborting the request drains it (Stopping, Stopped Ok, close 1000)", async () => {
	const watch = watchActors();
	const engine: RunningEngine = await startEngine({
		port: 0,
		onActorChange: watch.onActorChange,
	});
	cleanups.push(() => engine.close());
	const tap: EngineTap = await startEngineTap(engine.url);
	cleanups.push(() => tap.close());

	const runners: Runner[] = [];
	const started: string[] = [];
	const app = createServerlessApp({
		platform: await nodePlatform(),
		config: () => ({
			version: 1,
			onActorStart: async (actorId) => {
				started.push(actorId);
			},
		}),
		onRunner: (runner) => runners.push(runner),
	});
	const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
	cleanups.push(
		() => new Promise<void>((resolve) => server.close(() => resolve())),
	);
	cleanups.push(async () => {
		await Promise.all(runners.map((r) => r.shutdown(true)));
	});
	await new Promise<void>((resolve) => server.once("listening", resolve));
	const { port } = server.address() as AddressInfo;

	const missing = await fetch(`http://127.0.0.1:${port}/start`);
	expect(missing.status).toBe(400);

	const abort = new AbortController();
	const res = await fetch(`http://127.0.0.1:${port}/start`, {
		headers: {
			"x-rivet-endpoint": tap.url,
			"x-rivet-namespace-name": "default",
			"x-rivet-runner-name": "serverless-node",
			"x-rivet-total-slots": "4",
		},
		signal: abort.signal,
	});
	expect(res.status).toBe(200);
	expect(res.headers.get("content-type")).toBe("text/event-stream");
	const reader = (res.body as ReadableStream<Uint8Array>).getReader();
	let text = "";
	while (!/event: message\ndata: (\S+)\n/.test(text)) {
		const { value, done } = await reader.read();
		if (done) throw new Error(`stream ended early: ${text}`);
		text += new TextDecoder().decode(value);
	}
	const data = /event: message\ndata: (\S+)\n/.exec(text)?.[1] ?? "";
	const packet = Buffer.from(data, "base64");
	expect(packet.readUInt16LE(0)).toBe(7);
	const init = protocol.decodeToServerlessServer(
		new Uint8Array(packet.subarray(2)),
	);
	expect(init.val.runnerId).toBe(runners[0]?.runnerId);

	const created = await fetch(`${engine.url}/actors?namespace=default`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({
			name: "counter",
			runner_name_selector: "serverless-node",
			crash_policy: "destroy",
		}),
	});
	const { actor_id: actorId } = ((await created.json()) as { actor: ActorJson })
		.actor;
	await watch.until(actorId, isRunning);
	expect(started).toEqual([actorId]);

	abort.abort();
	const report = await runners[0]?.closed;
	expect(report).toMatchObject({
		reason: "signal:request-ended",
		mode: "drain",
		actorsStopped: 1,
	});
	expect(drainView(tap.entries)).toEqual(cleanDrainOf(actorId));
});
