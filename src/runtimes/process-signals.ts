/**
 * Termination hooks of runtimes with Node's `process` (Node and Bun): SIGTERM, SIGINT and SIGHUP as
 * `Platform.onTerminate` events, and `process.exit`. Not for Workers: unenv's `process.on` never fires there.
 */
import type {
	Platform,
	TerminateEvent,
	WebSocketConstructor,
} from "../core/platform.ts";

/** The signals a process supervisor sends: Kubernetes/Docker SIGTERM, Ctrl-C SIGINT, a closed terminal SIGHUP. */
export const TERMINATION_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;

/** Subscribes to the termination signals. While subscribed, the signals no longer kill the process by themselves. */
export function onProcessSignals(
	listener: (event: TerminateEvent) => void,
): () => void {
	const handlers = TERMINATION_SIGNALS.map((signal) => {
		const handler = (): void => listener({ name: signal });
		process.on(signal, handler);
		return [signal, handler] as const;
	});
	return () => {
		for (const [signal, handler] of handlers) process.off(signal, handler);
	};
}

/**
 * Ends the process with `code`. Always explicit (never by re-raising the signal): as PID 1 in a container a
 * re-raised SIGTERM has no default action and would be swallowed.
 */
export function exitProcess(code: number): void {
	process.exit(code);
}

/** A platform on Node's `process`: the given WebSocket, the termination signals, `process.exit`. */
export function processPlatform(
	name: string,
	WebSocket: WebSocketConstructor,
): Platform {
	return { name, WebSocket, onTerminate: onProcessSignals, exit: exitProcess };
}
