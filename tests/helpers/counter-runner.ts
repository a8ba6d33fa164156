/** A Node runner hosting the example counter actors (examples/counter/counter.mjs), as several tests start one. */
import { WebSocket } from "ws";
import { Runner } from "../../src/core/index.ts";

/**
 * A runner named `runnerName` on `endpoint` whose callbacks are `counter`'s (from `counterActors`). The caller
 * keeps `runner` where `counterActors` reads it before calling `start()` (an actor may start on it at once), which
 * resolves once the engine has accepted it (`onConnected`).
 */
export function counterRunner(
	endpoint: string,
	runnerName: string,
	counter: object,
): { runner: Runner; start(): Promise<void> } {
	let connected = () => {};
	const ready = new Promise<void>((resolve) => {
		connected = resolve;
	});
	const runner = new Runner({
		version: 1,
		endpoint,
		namespace: "default",
		runnerName,
		totalSlots: 5,
		noAutoShutdown: true,
		platform: {
			name: "node",
			WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
		},
		...counter,
		onConnected: () => connected(),
	});
	return {
		runner,
		async start() {
			await runner.start();
			await ready;
		},
	};
}
