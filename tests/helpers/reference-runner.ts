/**
 * The reference runner (`@rivetkit/engine-runner`, "R") wired to a scripted engine, with its
 * callbacks turned into events a test can await. Used by the harness's own tests and as the
 * baseline in benchmarks.
 */
import { EventEmitter, once } from "node:events";
import { Runner, type RunnerConfig } from "@rivetkit/engine-runner";

export interface ReferenceRunnerOptions {
	endpoint: string;
	namespace?: string;
	runnerName?: string;
	token?: string;
	totalSlots?: number;
	onActorStart?: RunnerConfig["onActorStart"];
	onActorStop?: RunnerConfig["onActorStop"];
}

export interface ReferenceRunnerEvents {
	connected: [];
	disconnected: [code: number, reason: string];
	shutdown: [];
}

export interface ReferenceRunnerHandle {
	readonly runner: Runner;
	/** Emits "connected", "disconnected" (code, reason), "shutdown". */
	readonly events: EventEmitter<ReferenceRunnerEvents>;
	readonly disconnects: { code: number; reason: string }[];
	/** Resolves with the arguments of the next emission of `name`; rejects after `timeoutMs`. */
	waitFor<K extends keyof ReferenceRunnerEvents>(
		name: K,
		timeoutMs?: number,
	): Promise<ReferenceRunnerEvents[K]>;
	/** Immediate shutdown (idempotent; R ignores a second call). */
	stop(): Promise<void>;
}

export function createReferenceRunner(
	opts: ReferenceRunnerOptions,
): ReferenceRunnerHandle {
	const events = new EventEmitter<ReferenceRunnerEvents>();
	const disconnects: { code: number; reason: string }[] = [];
	const runner = new Runner({
		version: 1,
		endpoint: opts.endpoint,
		token: opts.token,
		namespace: opts.namespace ?? "default",
		runnerName: opts.runnerName ?? "test-runner",
		totalSlots: opts.totalSlots ?? 100_000,
		prepopulateActorNames: {},
		// R would otherwise install process-wide SIGTERM/SIGINT handlers.
		noAutoShutdown: true,
		onConnected: () => events.emit("connected"),
		onDisconnected: (code, reason) => {
			disconnects.push({ code, reason });
			events.emit("disconnected", code, reason);
		},
		onShutdown: () => events.emit("shutdown"),
		fetch: async () =>
			new Response("not implemented in tests", { status: 501 }),
		websocket: async () => {},
		hibernatableWebSocket: { canHibernate: () => false },
		onActorStart: opts.onActorStart ?? (async () => {}),
		onActorStop: opts.onActorStop ?? (async () => {}),
	});
	return {
		runner,
		events,
		disconnects,
		waitFor: (name, timeoutMs = 5000) =>
			once(events as EventEmitter, name, {
				signal: AbortSignal.timeout(timeoutMs),
			}).catch((error: unknown) => {
				throw new Error(
					`reference runner: no "${name}" within ${timeoutMs} ms (${String(error)})`,
				);
			}) as never,
		stop: () => runner.shutdown(true),
	};
}
