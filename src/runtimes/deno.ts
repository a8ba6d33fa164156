/**
 * `edgerunner/deno`: the runner on Deno (CLI and Deploy). Termination hooks are `Deno.addSignalListener` for
 * SIGTERM, SIGINT (what Deno Deploy sends, with 5 s before SIGKILL) and SIGHUP, and the process ends with
 * `Deno.exit`. Needs `--allow-net` for the engine host (and `--allow-env` if the config reads env).
 */
import type { RunnerConfig } from "../core/config.ts";
import type {
	Platform,
	TerminateEvent,
	WebSocketConstructor,
} from "../core/platform.ts";
import type { Runner } from "../core/runner.ts";
import type { TerminationOptions } from "../core/termination.ts";
import { startWithTermination } from "./start-runner.ts";

export type { TerminationOptions as StartRunnerOptions } from "../core/termination.ts";

type DenoSignal = "SIGTERM" | "SIGINT" | "SIGHUP";

/** The part of the `Deno` global this adapter uses (typed here so the package needs no Deno types). */
interface DenoNamespace {
	addSignalListener(signal: DenoSignal, handler: () => void): void;
	removeSignalListener(signal: DenoSignal, handler: () => void): void;
	exit(code?: number): never;
	build: { os: string };
}

function deno(): DenoNamespace {
	const found = (globalThis as { Deno?: DenoNamespace }).Deno;
	if (!found)
		throw new Error(
			'edgerunner/deno: the Deno global is missing; use "edgerunner/node" or "edgerunner/bun" on other runtimes.',
		);
	return found;
}

/** Windows supports only SIGINT (and SIGBREAK) listeners; elsewhere SIGTERM, SIGINT and SIGHUP. */
function terminationSignals(os: string): DenoSignal[] {
	return os === "windows" ? ["SIGINT"] : ["SIGTERM", "SIGINT", "SIGHUP"];
}

/** The Deno platform: the global WebSocket, `Deno.addSignalListener`, `Deno.exit`. */
export function denoPlatform(): Platform {
	const d = deno();
	return {
		name: "deno",
		WebSocket: (globalThis as unknown as { WebSocket: WebSocketConstructor })
			.WebSocket,
		onTerminate(listener: (event: TerminateEvent) => void): () => void {
			const handlers = terminationSignals(d.build.os).map((signal) => {
				const handler = (): void => listener({ name: signal });
				d.addSignalListener(signal, handler);
				return [signal, handler] as const;
			});
			return () => {
				for (const [signal, handler] of handlers)
					d.removeSignalListener(signal, handler);
			};
		},
		exit: (code) => d.exit(code),
	};
}

/**
 * Creates the runner on the Deno platform, starts it and installs the termination hooks: the first SIGTERM,
 * SIGINT or SIGHUP drains (within `options.drainTimeoutMs`; on Deno Deploy keep it under its 5 s), a second one
 * stops at once, and the process then exits with 128 + the signal number unless `options.exit` is false.
 */
export async function startRunner(
	config: RunnerConfig,
	options: TerminationOptions = {},
): Promise<Runner> {
	return startWithTermination(
		config,
		config.platform ?? denoPlatform(),
		options,
	);
}
