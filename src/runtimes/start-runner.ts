/** What every process runtime's `startRunner` does once it has its platform. */
import type { RunnerConfig } from "../core/config.ts";
import type { Platform } from "../core/platform.ts";
import { Runner } from "../core/runner.ts";
import {
	installTermination,
	type TerminationOptions,
} from "../core/termination.ts";

/** Creates the runner on `platform`, installs the termination hooks, then starts it. */
export async function startWithTermination(
	config: RunnerConfig,
	platform: Platform,
	options: TerminationOptions,
): Promise<Runner> {
	const runner = new Runner({ ...config, platform });
	installTermination(runner, platform, options);
	await runner.start();
	return runner;
}
