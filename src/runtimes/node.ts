/**
 * `edgerunner/node`: the runner on Node ≥ 20. Node 20 has no global WebSocket, so it uses `ws`; Node ≥ 22 uses the
 * built-in one. Termination: SIGTERM, SIGINT, SIGHUP (see `process-signals.ts` and `core/termination.ts`).
 */
import type { RunnerConfig } from "../core/config.ts";
import type { Platform, WebSocketConstructor } from "../core/platform.ts";
import type { Runner } from "../core/runner.ts";
import type { TerminationOptions } from "../core/termination.ts";
import { processPlatform } from "./process-signals.ts";
import { startWithTermination } from "./start-runner.ts";
import { wsForUplink } from "./ws-for-uplink.ts";

export type { TerminationOptions as StartRunnerOptions } from "../core/termination.ts";

const NATIVE_WEBSOCKET_SINCE_MAJOR = 22;

/**
 * The WebSocket constructor for this Node: the global one from Node 22, else `ws` (loaded only then), with the
 * writes batched per event-loop turn and binary frames as received (`ws-for-uplink.ts`).
 */
export async function nodeWebSocket(): Promise<WebSocketConstructor> {
	const major = Number(process.versions.node.split(".")[0]);
	const native = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
	if (native && major >= NATIVE_WEBSOCKET_SINCE_MAJOR) return native;
	const { WebSocket } = await import("ws");
	return wsForUplink(WebSocket) as unknown as WebSocketConstructor;
}

/** The Node platform: its WebSocket, its termination signals, `process.exit`. */
export async function nodePlatform(): Promise<Platform> {
	return processPlatform("node", await nodeWebSocket());
}

/**
 * Creates the runner on the Node platform, starts it and installs the termination hooks: the first SIGTERM,
 * SIGINT or SIGHUP drains (within `options.drainTimeoutMs`), a second one stops at once, and the process then
 * exits with 128 + the signal number (143, 130, 129) unless `options.exit` is false.
 */
export async function startRunner(
	config: RunnerConfig,
	options: TerminationOptions = {},
): Promise<Runner> {
	return startWithTermination(
		config,
		config.platform ?? (await nodePlatform()),
		options,
	);
}
