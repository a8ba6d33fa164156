#!/usr/bin/env node
/**
 * `edgerunner [dev]` / `edgerunner engine [--engine dev|rivet] [--port 6420] [--host 127.0.0.1] [--data DIR] [--token t]`
 * runs an engine; with no subcommand it also runs a Node runner hosting the example counter actor. The dev engine
 * is the default; `--engine rivet` runs the real Rivet Engine from `@rivetkit/engine-cli` instead. One demo, two
 * engine starters.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { WebSocket } from "ws";
import { runClusterCommand } from "./cluster-command.ts";
import { Runner } from "./core/index.ts";
import {
	counterActorId,
	DEMO_RUNNER,
	declareRunnerConfig,
} from "./demo-actor.ts";
import { SqliteUnavailableError, startEngine } from "./engine/index.ts";
import {
	RivetEngineNotInstalledError,
	startRivetEngineProcess,
} from "./rivet-engine-process.ts";

const USAGE = `usage:
  edgerunner [dev]           an engine + a Node runner hosting the example counter actor
  edgerunner engine          the engine alone
  edgerunner cluster up|down a Rivet Engine cluster on this machine (edgerunner cluster --help)
options:
  --engine <e>   dev (default): the embedded dev engine; rivet: the real Rivet Engine
                 (needs \`npm install @rivetkit/engine-cli@2.3.19\`, or RIVET_ENGINE_BINARY)
  --port <n>     port (default 6420; 0 = any free port)
  --host <h>     interface to bind (default 127.0.0.1)
  --data <dir>   dev: keep state in <dir>/engine.sqlite (default ./.edgerunner); "memory" keeps nothing
                 rivet: keep the engine's state in <dir> (default a fresh folder under ./.edgerunner/rivet,
                 removed on exit)
  --token <t>    require this token from runners and API clients
  --help`;

const DRAIN_WITHIN_MS = 10_000;

interface CounterActors {
	onActorStart(actorId: string): Promise<void>;
	onActorStop(actorId: string): Promise<void>;
	fetch(...args: unknown[]): Promise<Response>;
	websocket(...args: unknown[]): Promise<void>;
	stopAll(): void;
}

interface Flags {
	port: number;
	host: string;
	data: string | undefined;
	token: string | undefined;
}

/** What the CLI needs from an engine, whichever one runs. */
interface DemoEngine {
	/** The runner endpoint, the HTTP API and the gateway. */
	readonly url: string;
	/** Whether the next run starts from this run's state (the count carries on). */
	readonly keepsState: boolean;
	/** Resolves with a message if the engine ends on its own (never for the in-process dev engine). */
	readonly ended: Promise<string>;
	/** Engine API commands for the banner: the actor, its KV, the runners. */
	apiCommands(actorId: string, auth: string): string[];
	close(): Promise<void>;
}

async function main(argv: string[]): Promise<void> {
	if (argv[0] === "cluster") return runClusterCommand(argv.slice(1));
	const { values, positionals } = parseArgs({
		args: argv,
		allowPositionals: true,
		options: {
			engine: { type: "string", default: "dev" },
			port: { type: "string", default: "6420" },
			host: { type: "string", default: "127.0.0.1" },
			data: { type: "string" },
			token: { type: "string" },
			help: { type: "boolean", default: false },
		},
	});
	// `edgerunner dev` is the demo by its name (the issue's and docs' spelling); no subcommand means the same.
	const command =
		positionals[0] === "dev" ? "demo" : (positionals[0] ?? "demo");
	if (values.help || !["demo", "engine"].includes(command)) {
		console.log(USAGE);
		process.exitCode = values.help ? 0 : 2;
		return;
	}
	const port = Number(values.port);
	if (!Number.isInteger(port) || port < 0 || port > 65535)
		throw new Error(`--port must be 0–65535, got ${values.port}`);
	if (values.engine !== "dev" && values.engine !== "rivet")
		throw new Error(`--engine must be dev or rivet, got ${values.engine}`);
	const flags: Flags = {
		port,
		host: values.host,
		data: values.data,
		token: values.token,
	};

	const engine =
		values.engine === "rivet"
			? await startRivetEngine(flags)
			: await startDevEngine(flags);
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
	void engine.ended.then((why) => {
		if (stopping) return;
		stopping = true;
		console.error(`edgerunner: ${why}`);
		process.exit(1);
	});

	if (command === "engine") {
		console.log(`runners connect to ${engine.url} (namespace "default")`);
		return;
	}
	await runDemo(engine, flags.token, cleanups);
}

async function startDevEngine(flags: Flags): Promise<DemoEngine> {
	const { port, host, data, token } = flags;
	const dir = resolve(data ?? ".edgerunner");
	const common = {
		port,
		host,
		token,
		log: (line: string) => console.log(`[engine] ${line}`),
	};
	let engine: Awaited<ReturnType<typeof startEngine>>;
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
	console.log(
		`inspector: ${engine.url}/ui/${token === undefined ? "" : "?token=<token> (once; a cookie keeps it)"}`,
	);
	const url = engine.url;
	return {
		url,
		keepsState: engine.storage === "sqlite",
		ended: new Promise(() => {}),
		apiCommands: (actorId, auth) => [
			`curl${auth} "${url}/actors?namespace=default&actor_ids=${actorId}"   # the actor, as the engine API shows it`,
			`curl${auth} ${url}/actors/${actorId}/kv     # its KV: "count" (a dev engine extra: every entry, as text)`,
			`curl${auth} "${url}/runners?namespace=default"`,
		],
		close: () => engine.close(),
	};
}

/** The real engine as a child process; its config, HOME and log go to a run folder removed after a clean stop. */
async function startRivetEngine(flags: Flags): Promise<DemoEngine> {
	const { port, host, data, token } = flags;
	const root = resolve(".edgerunner", "rivet");
	mkdirSync(root, { recursive: true });
	const runDir = mkdtempSync(join(root, "run-"));
	const fresh = data === undefined || data === "memory";
	const dataDir = fresh ? join(runDir, "data") : resolve(data);
	let engine: Awaited<ReturnType<typeof startRivetEngineProcess>>;
	try {
		engine = await startRivetEngineProcess({
			port,
			host,
			dataDir,
			runDir,
			token,
		});
	} catch (error) {
		// Nothing ran: nothing to keep. An engine that ran and failed leaves its log for the user.
		if (error instanceof RivetEngineNotInstalledError)
			rmSync(runDir, { recursive: true, force: true });
		throw error;
	}
	const state = fresh
		? `${dataDir} (fresh, removed on exit; --data <dir> keeps it)`
		: dataDir;
	console.log(
		`Rivet Engine ${engine.version} (pid ${engine.pid}) listening on ${engine.url} — state: ${state}`,
	);
	console.log(`engine log: ${engine.logPath}`);
	const url = engine.url;
	let closing = false;
	return {
		url,
		keepsState: !fresh,
		ended: engine.exited.then(({ code, signal }) =>
			closing
				? new Promise<string>(() => {})
				: `the Rivet Engine exited (${code ?? signal}); see ${engine.logPath}`,
		),
		apiCommands: (actorId, auth) => [
			`curl${auth} "${url}/actors?namespace=default&actor_ids=${actorId}"   # the actor, as the engine API shows it`,
			`curl${auth} "${url}/actors/${actorId}/kv/keys/${btoa("count")}?namespace=default"   # its KV "count" (base64 key and value)`,
			`curl${auth} "${url}/runners?namespace=default"`,
		],
		close: async () => {
			closing = true;
			await engine.stop();
			rmSync(runDir, { recursive: true, force: true });
		},
	};
}

async function runDemo(
	engine: DemoEngine,
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
		const report = await Promise.race([
			demoRunner.shutdown(false),
			new Promise<undefined>((r) => {
				setTimeout(() => r(undefined), DRAIN_WITHIN_MS).unref();
			}),
		]);
		console.log(
			report
				? `runner drained: ${report.actorsStopped} actor(s) stopped, ${report.actorsAbandoned} abandoned, in ${Math.round(report.durationMs)} ms`
				: `runner still draining after ${DRAIN_WITHIN_MS} ms: stopping the engine anyway`,
		);
		counter.stopAll();
	});
	const headers: Record<string, string> = {
		"content-type": "application/json",
	};
	if (token) headers.authorization = `Bearer ${token}`;
	await declareRunnerConfig(engine.url, headers);
	await runner.start();
	// A refusal (a wrong token, say) ends the runner before it ever connects: say so instead of waiting forever.
	const refused = runner.closed.then((report) => {
		throw new Error(
			`the runner could not connect: ${report.error?.message ?? report.reason}`,
		);
	});
	await Promise.race([firstConnection, refused]);
	refused.catch(() => {}); // a later shutdown is the normal end

	const actorId = await counterActorId(engine.url, headers);
	printDemo(engine, actorId, token);
}

/** Everything the demo prints once it runs, in one place. */
function printDemo(
	engine: DemoEngine,
	actorId: string,
	token: string | undefined,
): void {
	const auth = token ? ` -H "Authorization: Bearer ${token}"` : "";
	const gateway = `${engine.url}/gateway/${actorId}`;
	const wsGateway = gateway.replace(/^http/, "ws");
	const api = engine.apiCommands(actorId, auth).map((line) => `  ${line}`);
	// A browser cannot send the token as a header: the gateway's path addressing carries it.
	const page = token
		? `${engine.url}/gateway/${actorId}@${encodeURIComponent(token)}/page`
		: `${gateway}/page`;
	const again = engine.keepsState
		? "run again and the count carries on."
		: "this run's state is not kept (--data <dir> keeps it).";
	console.log(`
A Node runner ("${DEMO_RUNNER}") hosts the counter actor ${actorId}.
Every start adds 1 to its KV-backed count. Open its page in a browser (the live count over edgerunner/client,
and a button that increments it; it reconnects by itself when the runner or the engine restarts):

  page: ${page}

Or reach it through the gateway:

  curl ${gateway}/count
  curl -X POST ${gateway}/increment
  curl -X POST -H "x-rivet-target: actor" -H "x-rivet-actor: ${actorId}" ${engine.url}/request/increment
  node -e "const ws = new (require('ws'))('${wsGateway}/ws', 'rivet'); ws.on('message', (m) => console.log(String(m)))"

(the WebSocket prints every change; run it from this directory, where the ws package resolves). The engine API:

${api.join("\n")}

Ctrl-C drains the runner and stops the engine; ${again}`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
	console.error(
		`edgerunner: ${error instanceof Error ? error.message : String(error)}`,
	);
	process.exit(1);
});
