/**
 * Drain latency: N actors running; the runner is asked to drain (shutdown(false)); the engine answers its
 * ToServerStopping with N StopActor in one frame (as the engine's runner workflow does) and times, from its own
 * side of the socket, the last Stopped event and the close frame.
 */
import { performance } from "node:perf_hooks";
import * as protocol from "@rivetkit/engine-runner-protocol";
import { stopActorCommand } from "../tests/helpers/engine-commands.ts";
import type { RunnerKind } from "./bench-runners.ts";
import {
	closeBenchSession,
	countFrames,
	openBenchSession,
	startActors,
	stateEvents,
} from "./bench-session.ts";

export interface DrainSample {
	/** ms from the engine receiving the last Stopped event to it receiving the close frame. */
	lastStopToCloseMs: number;
	/** ms from the drain call to the engine receiving the close frame. */
	wholeDrainMs: number;
	/** ms from the drain call to the engine receiving ToServerStopping. */
	stoppingMs: number;
}

export async function measureDrain(
	kind: RunnerKind,
	n: number,
	timeoutMs: number,
	label: string,
): Promise<DrainSample> {
	const ids = Array.from({ length: n }, (_, i) => `${label}-${i}`);
	const stopFrame = protocol.encodeToClient({
		tag: "ToClientCommands",
		val: ids.map((id) => stopActorCommand(id)),
	});
	const session = await openBenchSession(kind);
	const { conn, runner } = session;
	try {
		await startActors(conn, ids, timeoutMs);
		let stoppingAt = Number.NaN;
		const unsubscribe = conn.onMessage((message, at) => {
			if (message.tag !== "ToServerStopping") return;
			stoppingAt = at;
			conn.sendRaw(stopFrame);
		});
		const lastStopped = countFrames(
			conn,
			n,
			stateEvents("ActorStateStopped"),
			timeoutMs,
			"actors stopped during drain",
		);
		const t0 = performance.now();
		const drained = runner.drain();
		const lastStopAt = await lastStopped;
		const closeFrameAt = await conn.closeFrame;
		await drained;
		unsubscribe();
		return {
			lastStopToCloseMs: closeFrameAt - lastStopAt,
			wholeDrainMs: closeFrameAt - t0,
			stoppingMs: stoppingAt - t0,
		};
	} finally {
		await closeBenchSession(session);
	}
}
