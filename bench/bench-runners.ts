/**
 * The runners a benchmark compares, behind one small interface: the reference runner R
 * (`@rivetkit/engine-runner`) and ours (src/core, bundled separately by bench/run.mjs). Both get the
 * same R-shaped config with no-op async actor callbacks.
 */
import { WebSocket } from "ws";
import { createReferenceRunner } from "../tests/helpers/reference-runner.ts";

export interface BenchRunner {
	/** Starts the runner and resolves after its first handshake (onConnected). */
	start(): Promise<void>;
	/** Immediate shutdown. */
	stop(): Promise<void>;
}

export interface RunnerKind {
	/** "reference" or "ours" */
	readonly name: string;
	create(endpoint: string): BenchRunner;
}

export interface RunnerKinds {
	kinds: RunnerKind[];
	skipped: { name: string; reason: string }[];
}

const CONNECT_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;

const referenceKind: RunnerKind = {
	name: "reference",
	create(endpoint) {
		const handle = createReferenceRunner({
			endpoint,
			runnerName: "bench",
			onActorStart: async () => {},
			onActorStop: async () => {},
		});
		return {
			async start() {
				const connected = handle.waitFor("connected", CONNECT_TIMEOUT_MS);
				await handle.runner.start();
				await connected;
			},
			stop: () =>
				withTimeout(handle.stop(), STOP_TIMEOUT_MS, "reference shutdown"),
		};
	},
};

/** What we need of our Runner: R's constructor config shape, `start()` and R's `shutdown(immediate)`. */
interface OurRunnerInstance {
	start(): Promise<void> | void;
	shutdown(immediate: boolean): Promise<unknown>;
}
type OurRunnerClass = new (
	config: Record<string, unknown>,
) => OurRunnerInstance;

function ourKind(Runner: OurRunnerClass): RunnerKind {
	return {
		name: "ours",
		create(endpoint) {
			let onConnected: () => void = () => {};
			const connected = new Promise<void>((resolve) => {
				onConnected = resolve;
			});
			const runner = new Runner({
				version: 1,
				endpoint,
				namespace: "default",
				runnerName: "bench",
				totalSlots: 100_000,
				prepopulateActorNames: {},
				noAutoShutdown: true,
				// Node 20 has no global WebSocket: hand the core `ws` through the platform seam.
				platform: { name: "node", WebSocket },
				onConnected: () => onConnected(),
				onDisconnected: () => {},
				onShutdown: () => {},
				fetch: async () => new Response("not implemented", { status: 501 }),
				websocket: async () => {},
				hibernatableWebSocket: { canHibernate: () => false },
				onActorStart: async () => {},
				onActorStop: async () => {},
			});
			return {
				async start() {
					await runner.start();
					await withTimeout(connected, CONNECT_TIMEOUT_MS, "ours onConnected");
				},
				async stop() {
					await withTimeout(
						runner.shutdown(true),
						STOP_TIMEOUT_MS,
						"ours shutdown",
					);
				},
			};
		},
	};
}

/** R always; ours when bench/run.mjs could build src/core and it exports `Runner`. */
export async function loadRunnerKinds(): Promise<RunnerKinds> {
	const kinds: RunnerKind[] = [referenceKind];
	const skipped: { name: string; reason: string }[] = [];
	const coreUrl = process.env.EDGERUNNER_BENCH_CORE;
	if (!coreUrl) {
		skipped.push({
			name: "ours",
			reason:
				process.env.EDGERUNNER_BENCH_CORE_SKIP ??
				"no core bundle (run through `node bench/run.mjs <name>`)",
		});
		return { kinds, skipped };
	}
	try {
		const core = (await import(coreUrl)) as { Runner?: unknown };
		if (typeof core.Runner === "function")
			kinds.push(ourKind(core.Runner as OurRunnerClass));
		else
			skipped.push({
				name: "ours",
				reason: "src/core/index.ts does not export Runner yet",
			});
	} catch (error) {
		skipped.push({
			name: "ours",
			reason: `src/core failed to load: ${String(error)}`,
		});
	}
	return { kinds, skipped };
}

function withTimeout<T>(
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
