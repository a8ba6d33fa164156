/**
 * `edgerunner/bun`: the runner on Bun. Bun has a global WebSocket and Node's `process` signals; termination works
 * as on Node (SIGTERM, SIGINT, SIGHUP; exit 128 + n). Spawn `bun` itself, not through `npx`/`npm run`: those do
 * not forward signals to it.
 */
import type { RunnerConfig } from "../core/config.ts";
import type { Platform, WebSocketConstructor } from "../core/platform.ts";
import type { Runner } from "../core/runner.ts";
import type { TerminationOptions } from "../core/termination.ts";
import { processPlatform } from "./process-signals.ts";
import { startWithTermination } from "./start-runner.ts";

export type { TerminationOptions as StartRunnerOptions } from "../core/termination.ts";

/** The Bun platform: the global WebSocket, the termination signals, `process.exit`. */
export function bunPlatform(): Platform {
	return processPlatform(
		"bun",
		(globalThis as unknown as { WebSocket: WebSocketConstructor }).WebSocket,
	);
}

/**
 * Creates the runner on the Bun platform, starts it and installs the termination hooks: the first SIGTERM,
 * SIGINT or SIGHUP drains (within `options.drainTimeoutMs`), a second one stops at once, and the process then
 * exits with 128 + the signal number unless `options.exit` is false.
 */
export async function startRunner(
	config: RunnerConfig,
	options: TerminationOptions = {},
): Promise<Runner> {
	return startWithTermination(
		config,
		config.platform ?? bunPlatform(),
		options,
	);
}
