#!/usr/bin/env node
/**
 * `edgerunner`: `edgerunner engine [--port 6420] [--host 127.0.0.1] [--data ./.edgerunner|memory] [--token t]`
 * runs the dev engine; with no subcommand it also runs a Node runner hosting the example counter actor.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { WebSocket } from "ws";
import { Runner } from "./core/index.ts";
import {
	type RunningEngine,
	SqliteUnavailableError,
	startEngine,
} from "./engine/index.ts";

const USAGE = `usage:
  edgerunner                 dev engine + a Node runner hosting the example counter actor
  edgerunner engine          the dev engine alone
options:
  --port <n>     port (default 6420; 0 = any free port)
  --host <h>     interface to bind (default 127.0.0.1)
  --data <dir>   keep state in <dir>/engine.sqlite (default ./.edgerunner); "memory" keeps nothing
  --token <t>    require this token from runners and API clients
  --help`;

const DEMO_RUNNER = "edgerunner-demo";

interface CounterActors {
	onActorStart(actorId: string): Promise<void>;
	onActorStop(actorId: string): Promise<void>;
	fetch(...args: unknown[]): Promise<Response>;
	websocket(...args: unknown[]): Promise<void>;
	stopAll(): void;
}

async function main(argv: string[]): Promise<void> {
	const { values, positionals } = parseArgs({
		args: argv,
		allowPositionals: true,
		options: {
			port: { type: "string", default: "6420" },
			host: { type: "string", default: "127.0.0.1" },
			data: { type: "string" },
			token: { type: "string" },
			help: { type: "boolean", default: false },
		},
	});
	const command = positionals[0] ?? "demo";
	if (values.help || !["demo", "engine"].includes(command)) {
		console.log(USAGE);
		process.exitCode = values.help ? 0 : 2;
		return;
	}
	const port = Number(values.port);
	if (!Number.isInteger(port) || port < 0 || port > 65535)
		throw new Error(`--port must be 0–65535, got ${values.port}`);

	const engine = await startEngineFromFlags(
		port,
		values.host,
		values.data,
		values.token,
	);
	const cleanups: (() => Promise<void>)[] = [];
	let stopping = false;
	const stop = async (signal: string) => {
		if (stopping) {
			console.log(`${signal} again: exiting now`);
			process.exit(1);
		}
		stopping = true;
		console.log(`\n${signal}: shutting down…`);
		for (const cleanup of cleanups.reverse()) await cleanup();
		await engine.close();
		console.log("stopped cleanly");
		process.exit(0);
	};
	process.on("SIGINT", () => void stop("SIGINT"));
	process.on("SIGTERM", () => void stop("SIGTERM"));

	if (command === "engine") {
		console.log(`runners connect to ${engine.url} (namespace "default")`);
		return;
	}
	await runDemo(engine, values.token, cleanups);
}

async function startEngineFromFlags(
	port: number,
	host: string,
	data: string | undefined,
	token: string | undefined,
): Promise<RunningEngine> {
	const dir = resolve(data ?? ".edgerunner");
	const common = {
		port,
		host,
		token,
		log: (line: string) => console.log(`[engine] ${line}`),
	};
	let engine: RunningEngine;
	if (data === "memory") {
		engine = await startEngine({ ...common, storage: "memory" });
	} else {
		mkdirSync(dir, { recursive: true });
		try {
			engine = await startEngine({
				...common,
				storage: { path: join(dir, "engine.sqlite") },
			});
		} catch (error) {
			// Only the implicit default may fall back; an explicit --data must be honoured or refused.
			if (!(error instanceof SqliteUnavailableError) || data !== undefined)
				throw error;
			console.log(
				`note: ${error.message}\nnote: falling back to in-memory state`,
			);
			engine = await startEngine({ ...common, storage: "memory" });
		}
	}
	const where =
		engine.storage === "sqlite"
			? join(dir, "engine.sqlite")
			: "memory (nothing is kept)";
	console.log(
		`edgerunner dev engine listening on ${engine.url} — state: ${where}`,
	);
	return engine;
}

async function runDemo(
	engine: RunningEngine,
	token: string | undefined,
	cleanups: (() => Promise<void>)[],
) {
	const { counterActors } = (await import(
		new URL("../examples/counter/counter.mjs", import.meta.url).href
	)) as {
		counterActors: (getRunner: () => Runner) => CounterActors;
	};
	let runner: Runner | undefined;
	const counter = counterActors(() => runner as Runner);
	let connected: () => void = () => {};
	const firstConnection = new Promise<void>((resolveConnected) => {
		connected = resolveConnected;
	});
	runner = new Runner({
		version: 1,
		endpoint: engine.url,
		token,
		namespace: "default",
		totalSlots: 10,
		runnerName: DEMO_RUNNER,
		prepopulateActorNames: { counter: { metadata: { example: "counter" } } },
		noAutoShutdown: true,
		platform: { name: "node", WebSocket },
		onConnected: () => connected(),
		onDisconnected: () => {},
		onShutdown: () => {},
		fetch: (...args: unknown[]) => counter.fetch(...args),
		websocket: (...args: unknown[]) => counter.websocket(...args),
		hibernatableWebSocket: { canHibernate: () => false },
		onActorStart: (actorId: string) => counter.onActorStart(actorId),
		onActorStop: (actorId: string) => counter.onActorStop(actorId),
	} as unknown as ConstructorParameters<typeof Runner>[0]);
	const demoRunner = runner;
	cleanups.push(async () => {
		// Drain: the engine stops the counter (crash policy restart keeps it for the next run), then the runner closes.
		await Promise.race([
			demoRunner.shutdown(false),
			new Promise((r) => setTimeout(r, 10_000).unref()),
		]);
		counter.stopAll();
	});
	await runner.start();
	await firstConnection;

	const headers: Record<string, string> = {
		"content-type": "application/json",
	};
	if (token) headers.authorization = `Bearer ${token}`;
	const existing = (await (
		await fetch(
			`${engine.url}/actors?namespace=default&name=counter&key=demo`,
			{ headers },
		)
	).json()) as { actors: { actor_id: string }[] };
	let actorId = existing.actors[0]?.actor_id;
	if (!actorId) {
		const created = await fetch(`${engine.url}/actors?namespace=default`, {
			method: "POST",
			headers,
			body: JSON.stringify({
				name: "counter",
				key: "demo",
				runner_name_selector: DEMO_RUNNER,
				crash_policy: "restart",
			}),
		});
		if (!created.ok)
			throw new Error(
				`could not create the counter actor: ${created.status} ${await created.text()}`,
			);
		actorId = ((await created.json()) as { actor: { actor_id: string } }).actor
			.actor_id;
	}
	const auth = token ? ` -H "Authorization: Bearer ${token}"` : "";
	const gateway = `${engine.url}/gateway/${actorId}`;
	const wsGateway = gateway.replace(/^http/, "ws");
	console.log(`
A Node runner ("${DEMO_RUNNER}") hosts the counter actor ${actorId}.
Every start adds 1 to its KV-backed count. Reach it through the gateway:

  curl ${gateway}/count
  curl -X POST ${gateway}/increment
  curl -X POST -H "x-rivet-target: actor" -H "x-rivet-actor: ${actorId}" ${engine.url}/request/increment
  node -e "const ws = new (require('ws'))('${wsGateway}/ws'); ws.on('message', (m) => console.log(String(m)))"

(the WebSocket prints every change; run it from this directory, where the ws package resolves). The engine API:

  curl${auth} ${engine.url}/actors/${actorId}        # the actor, as the engine API shows it
  curl${auth} ${engine.url}/actors/${actorId}/kv     # its KV: "count"
  curl${auth} "${engine.url}/runners?namespace=default"

Ctrl-C drains the runner and stops the engine; run again and the count carries on.`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
	console.error(
		`edgerunner: ${error instanceof Error ? error.message : String(error)}`,
	);
	process.exit(1);
});
