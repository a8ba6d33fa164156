/**
 * The runners a benchmark compares, behind one small interface: the reference runner R (`@rivetkit/engine-runner`),
 * ours (src/core, bundled separately by bench/run.mjs and loaded by URL) and the floor (floor-runner.ts). R and ours
 * get the same R-shaped config and serve the same actor app (bench-actor-app.ts); ours keeps its default reconnect
 * settings (`reconnect.soonDelayMs` 1000: a going-away reconnect waits 0–1000 ms, full jitter).
 */
import { Runner as ReferenceRunner } from "@rivetkit/engine-runner";
import { WebSocket } from "ws";
import { benchActorApp } from "./bench-actor-app.ts";
import { FloorRunner } from "./floor-runner.ts";

export type RunnerName = "ours" | "reference" | "floor";

export interface BenchRunner {
	/** Starts the runner and resolves after its first handshake. */
	start(): Promise<void>;
	/** Immediate shutdown. */
	stop(): Promise<void>;
	/** Graceful shutdown (ToServerStopping, stop actors as the engine commands, close); resolves when closed. */
	drain(): Promise<void>;
}

export interface RunnerKind {
	readonly name: RunnerName;
	/** `runnerName` defaults to "bench" (a real engine routes actors by runner name: one per runner there). */
	create(endpoint: string, runnerName?: string): BenchRunner;
}

export interface RunnerKinds {
	kinds: RunnerKind[];
	skipped: { name: RunnerName; reason: string }[];
}

const CONNECT_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;
const DRAIN_TIMEOUT_MS = 60_000;

/** The config both runners get (R's shape; ours accepts every field of it). */
function commonConfig(
	endpoint: string,
	onConnected: () => void,
	runnerName = "bench",
) {
	return {
		version: 1,
		endpoint,
		namespace: "default",
		runnerName,
		totalSlots: 100_000,
		prepopulateActorNames: {},
		// R would otherwise install process-wide SIGTERM/SIGINT handlers.
		noAutoShutdown: true,
		onConnected,
		onDisconnected: () => {},
		onShutdown: () => {},
		...benchActorApp,
	};
}

interface ShutdownCapable {
	start(): Promise<void> | void;
	shutdown(immediate: boolean): Promise<unknown>;
}

function wrap(
	runner: ShutdownCapable,
	connected: Promise<void>,
	what: string,
): BenchRunner {
	return {
		async start() {
			await runner.start();
			await withTimeout(connected, CONNECT_TIMEOUT_MS, `${what} onConnected`);
		},
		async stop() {
			await withTimeout(
				runner.shutdown(true),
				STOP_TIMEOUT_MS,
				`${what} shutdown`,
			);
		},
		async drain() {
			await withTimeout(
				runner.shutdown(false),
				DRAIN_TIMEOUT_MS,
				`${what} drain`,
			);
		},
	};
}

function connectedSignal(): { promise: Promise<void>; resolve: () => void } {
	let resolve: () => void = () => {};
	const promise = new Promise<void>((r) => {
		resolve = r;
	});
	return { promise, resolve };
}

const referenceKind: RunnerKind = {
	name: "reference",
	create(endpoint, runnerName) {
		const connected = connectedSignal();
		const config = commonConfig(endpoint, connected.resolve, runnerName);
		const runner = new ReferenceRunner(
			config as unknown as ConstructorParameters<typeof ReferenceRunner>[0],
		);
		return wrap(runner, connected.promise, "reference");
	},
};

const floorKind: RunnerKind = {
	name: "floor",
	create(endpoint) {
		const floor = new FloorRunner(endpoint);
		return {
			start: () =>
				withTimeout(floor.start(), CONNECT_TIMEOUT_MS, "floor start"),
			stop: () => floor.stop(),
			drain: () => withTimeout(floor.drain(), DRAIN_TIMEOUT_MS, "floor drain"),
		};
	},
};

type OurRunnerClass = new (config: Record<string, unknown>) => ShutdownCapable;

function ourKind(
	Runner: OurRunnerClass,
	NodeWebSocket: WebSocketConstructor,
): RunnerKind {
	return {
		name: "ours",
		create(endpoint, runnerName) {
			const connected = connectedSignal();
			const runner = new Runner({
				...commonConfig(endpoint, connected.resolve, runnerName),
				// The platform's WebSocket only: signals stay with the benchmark process.
				platform: { name: "node", WebSocket: NodeWebSocket },
			});
			return wrap(runner, connected.promise, "ours");
		},
	};
}

type WebSocketConstructor = new (url: string, protocols?: string[]) => unknown;

/** The Node adapter's WebSocket (edgerunner/node, bundled by bench/run.mjs); plain `ws` without the bundle. */
async function ourNodeWebSocket(): Promise<WebSocketConstructor> {
	const url = process.env.EDGERUNNER_BENCH_NODE;
	if (!url) return WebSocket as unknown as WebSocketConstructor;
	const adapter = (await import(url)) as {
		nodeWebSocket: () => Promise<WebSocketConstructor>;
	};
	return adapter.nodeWebSocket();
}

/** Ours (when bench/run.mjs could build src/core and it exports `Runner`), R, and the floor, in that order. */
export async function loadRunnerKinds(): Promise<RunnerKinds> {
	const kinds: RunnerKind[] = [];
	const skipped: { name: RunnerName; reason: string }[] = [];
	const coreUrl = process.env.EDGERUNNER_BENCH_CORE;
	if (!coreUrl) {
		skipped.push({
			name: "ours",
			reason:
				process.env.EDGERUNNER_BENCH_CORE_SKIP ??
				"no core bundle (run through `node bench/run.mjs <name>`)",
		});
	} else {
		try {
			const core = (await import(coreUrl)) as { Runner?: unknown };
			if (typeof core.Runner === "function")
				kinds.push(
					ourKind(core.Runner as OurRunnerClass, await ourNodeWebSocket()),
				);
			else
				skipped.push({
					name: "ours",
					reason: "src/core/index.ts does not export Runner",
				});
		} catch (error) {
			skipped.push({
				name: "ours",
				reason: `src/core failed to load: ${String(error)}`,
			});
		}
	}
	kinds.push(referenceKind, floorKind);
	return { kinds, skipped };
}

export function withTimeout<T>(
	promise: Promise<T>,
	ms: number,
	what: string,
): Promise<T> {
	let timer: ReturnType<typeof setTimeout> | undefined;
	const deadline = new Promise<never>((_, reject) => {
		timer = setTimeout(
			() => reject(new Error(`${what}: no result within ${ms} ms`)),
			ms,
		);
	});
	return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
