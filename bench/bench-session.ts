/**
 * One measurement's setup on the bench engine: a fresh engine, a fresh runner connected to it, and helpers to
 * start actors and count frames. Every session is closed by `closeBenchSession`, whatever happened.
 */
import type * as protocol from "@rivetkit/engine-runner-protocol";
import {
	isActorStateEvent,
	startActorCommand,
} from "../tests/helpers/engine-commands.ts";
import {
	type BenchConnection,
	type BenchEngine,
	startBenchEngine,
} from "./bench-engine.ts";
import type { BenchRunner, RunnerKind } from "./bench-runners.ts";

export interface BenchSession {
	engine: BenchEngine;
	runner: BenchRunner;
	conn: BenchConnection;
}

export async function openBenchSession(
	kind: RunnerKind,
): Promise<BenchSession> {
	const engine = await startBenchEngine();
	const runner = kind.create(engine.url);
	try {
		const accepted = engine.nextConnection();
		await runner.start();
		const conn = await accepted;
		await conn.init;
		return { engine, runner, conn };
	} catch (error) {
		await closeBenchSession({ engine, runner });
		throw error;
	}
}

export async function closeBenchSession(
	session: Pick<BenchSession, "engine" | "runner">,
): Promise<void> {
	try {
		await session.runner.stop();
	} catch (error) {
		console.warn(`  (runner stop failed: ${String(error)})`);
	}
	await session.engine.close();
}

/** Resolves when `count` frames for which `matches` is true have arrived; rejects after `timeoutMs`. */
export function countFrames(
	conn: BenchConnection,
	count: number,
	matches: (message: protocol.ToServer) => number,
	timeoutMs: number,
	what: string,
): Promise<number> {
	return new Promise((resolve, reject) => {
		let seen = 0;
		const timer = setTimeout(() => {
			unsubscribe();
			reject(new Error(`${what}: ${seen}/${count} after ${timeoutMs} ms`));
		}, timeoutMs);
		const unsubscribe = conn.onMessage((message, at) => {
			seen += matches(message);
			if (seen < count) return;
			clearTimeout(timer);
			unsubscribe();
			resolve(at);
		});
	});
}

/** How many events in a frame are the given actor state (0 for other frames). */
export function stateEvents(
	state: protocol.ActorState["tag"],
): (message: protocol.ToServer) => number {
	const isState = isActorStateEvent(state);
	return (message) =>
		message.tag === "ToServerEvents" ? message.val.filter(isState).length : 0;
}

/** Starts the actors in one ToClientCommands frame; resolves (with the time) when all are Running. */
export async function startActors(
	conn: BenchConnection,
	actorIds: string[],
	timeoutMs: number,
): Promise<number> {
	const running = countFrames(
		conn,
		actorIds.length,
		stateEvents("ActorStateRunning"),
		timeoutMs,
		"actors running",
	);
	conn.send({
		tag: "ToClientCommands",
		val: actorIds.map((id) => startActorCommand(id, { name: "bench" })),
	});
	return running;
}
