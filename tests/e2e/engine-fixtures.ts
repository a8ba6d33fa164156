/**
 * Shared setup for the end-to-end tests of our runner against the dev engine: cleanups run after each test,
 * our runner started and connected with fast reconnects, a counter actor created over the HTTP API.
 */
import { afterEach } from "vitest";
import { Runner, type RunnerConfig } from "../../src/core/index.ts";
import type { ActorJson, RunningEngine } from "../../src/engine/index.ts";
import {
	RUNNER_NAME,
	RunnerRecorder,
	runnerConfig,
} from "../conformance/runner-scenarios.ts";

export type Defer = (cleanup: () => unknown) => void;

/** Registers an afterEach running what the test deferred, last first (sockets, then runners, then engines). */
export function deferCleanups(): Defer {
	const cleanups: (() => unknown)[] = [];
	afterEach(async () => {
		for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
	});
	return (cleanup) => cleanups.push(cleanup);
}

export interface OurRunnerOptions {
	/** Reconnect backoff ceiling (retries start at 10 ms): a runner that wrongly reconnects dials again this soon. */
	maxReconnectDelayMs: number;
	/** Dial this instead of the engine, e.g. a relay. */
	endpoint?: string;
	overrides?: Partial<RunnerConfig>;
}

/** Our runner on `engine` with the scenario config and fast reconnects, shut down after the test; not started. */
export function ourRunner(
	engine: RunningEngine,
	defer: Defer,
	options: OurRunnerOptions,
): { runner: Runner; events: RunnerRecorder } {
	const events = new RunnerRecorder();
	const runner = new Runner({
		...runnerConfig(engine, events),
		...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
		reconnect: {
			baseDelayMs: 10,
			maxDelayMs: options.maxReconnectDelayMs,
			soonDelayMs: 10,
		},
		...options.overrides,
	} as unknown as RunnerConfig);
	defer(() => runner.shutdown(true));
	return { runner, events };
}

/** {@link ourRunner}, started, once its first connection is up. */
export async function connectedRunner(
	engine: RunningEngine,
	defer: Defer,
	options: OurRunnerOptions,
): Promise<{ runner: Runner; events: RunnerRecorder }> {
	const started = ourRunner(engine, defer, options);
	await started.runner.start();
	await started.events.until("connection", () => started.events.connects === 1);
	return started;
}

/** POST /actors: a `counter` for the scenario runner name, with the given key and crash policy. */
export async function createCounter(
	engine: RunningEngine,
	fields: { key?: string; crashPolicy?: string } = {},
): Promise<ActorJson> {
	const response = await fetch(`${engine.url}/actors?namespace=default`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({
			name: "counter",
			key: fields.key,
			runner_name_selector: RUNNER_NAME,
			crash_policy: fields.crashPolicy ?? "destroy",
		}),
	});
	return ((await response.json()) as { actor: ActorJson }).actor;
}
