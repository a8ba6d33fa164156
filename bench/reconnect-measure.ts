/**
 * Reconnect latency: the engine closes the runner socket the way it does when it goes away (1011
 * "ws.going_away#…", spec §6.1) and times, on its own clock, until the runner's next ToServerInit arrives.
 * Several reconnects per session; each sample is one close → init.
 */
import { performance } from "node:perf_hooks";
import type { RunnerKind } from "./bench-runners.ts";
import { closeBenchSession, openBenchSession } from "./bench-session.ts";

export async function measureReconnects(
	kind: RunnerKind,
	count: number,
	timeoutMs: number,
): Promise<number[]> {
	const session = await openBenchSession(kind);
	const samples: number[] = [];
	try {
		let conn = session.conn;
		for (let i = 0; i < count; i++) {
			const next = session.engine.nextConnection(timeoutMs);
			const t0 = performance.now();
			conn.close(1011, "ws.going_away#bench");
			conn = await next;
			samples.push((await conn.init) - t0);
		}
		return samples;
	} finally {
		await closeBenchSession(session);
	}
}
