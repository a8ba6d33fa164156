/**
 * The runner of the endpoint-failover runtime test (endpoint-failover-runtimes.test.ts): a `Runner` given a list
 * of endpoints, reporting each callback as one plain event. Node runs it in the test process; Deno and Bun run
 * it through endpoint-failover-child.ts with their own WebSocket.
 */
import { Runner, type WebSocketConstructor } from "../../src/core/index.ts";

export type FailoverEvent =
	| { event: "started"; runnerKey: string; endpoint: string }
	| { event: "connected"; endpoint: string; runnerId: string | undefined }
	| { event: "disconnected"; endpoint: string; code: number; reason: string }
	| { event: "closed"; reason: string; error: string | undefined };

/** Short delays: the test is about where the runner goes, the delays are covered with fake timers elsewhere. */
export const FAILOVER_RECONNECT = {
	baseDelayMs: 50,
	soonDelayMs: 50,
	maxDelayMs: 400,
};

export function startFailoverRunner(
	endpoints: string[],
	WebSocket: WebSocketConstructor,
	emit: (event: FailoverEvent) => void,
): Runner {
	const runner: Runner = new Runner({
		version: 1,
		endpoint: endpoints,
		namespace: "default",
		runnerName: "failover",
		totalSlots: 10,
		platform: { name: "failover-test", WebSocket },
		reconnect: FAILOVER_RECONNECT,
		onConnected: () =>
			emit({
				event: "connected",
				endpoint: runner.endpoint,
				runnerId: runner.runnerId,
			}),
		onDisconnected: (code, reason) =>
			emit({ event: "disconnected", endpoint: runner.endpoint, code, reason }),
	});
	emit({
		event: "started",
		runnerKey: runner.runnerKey,
		endpoint: runner.endpoint,
	});
	void runner.closed.then((report) =>
		emit({ event: "closed", reason: report.reason, error: report.error?.code }),
	);
	void runner.start();
	return runner;
}
