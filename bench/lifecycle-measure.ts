/**
 * One lifecycle measurement: a fresh scripted engine and a fresh runner; N StartActor commands in one
 * ToClientCommands frame, timed until N ActorStateRunning events have arrived; then N StopActor in
 * one frame, timed until N Stopped events. The engine keeps no history (recordHistory: false), so
 * its memory does not count as the runner's.
 */
import { performance } from "node:perf_hooks";
import * as protocol from "@rivetkit/engine-runner-protocol";
import {
	isActorStateEvent,
	type ScriptedConnection,
	type ScriptedEngine,
	startActorCommand,
	startScriptedEngine,
	stopActorCommand,
} from "../tests/helpers/scripted-engine.ts";
import type { BenchRunner, RunnerKind } from "./bench-runners.ts";

export interface LifecycleSample {
	/** ms from sending the start batch to the N-th Running event; null on timeout. */
	startMs: number | null;
	/** ms from sending the stop batch to the N-th Stopped event; null on timeout (or start timeout). */
	stopMs: number | null;
}

interface Session {
	engine: ScriptedEngine;
	runner: BenchRunner;
	conn: ScriptedConnection;
}

async function openSession(kind: RunnerKind): Promise<Session> {
	const engine = await startScriptedEngine({ recordHistory: false });
	const runner = kind.create(engine.url);
	try {
		const accepted = engine.nextConnection({ timeoutMs: 10_000 });
		await runner.start();
		return { engine, runner, conn: await accepted };
	} catch (error) {
		await closeSession({ engine, runner });
		throw error;
	}
}

async function closeSession(
	session: Pick<Session, "engine" | "runner">,
): Promise<void> {
	try {
		await session.runner.stop();
	} catch (error) {
		console.warn(`  (runner stop failed: ${String(error)})`);
	}
	await session.engine.close();
}

function commandsFrame(list: protocol.CommandWrapper[]): Uint8Array {
	return protocol.encodeToClient({ tag: "ToClientCommands", val: list });
}

/** Sends a pre-encoded batch and times until `n` matching events arrive (null on timeout). */
async function timeBatch(
	conn: ScriptedConnection,
	frame: Uint8Array,
	n: number,
	filter: (event: protocol.EventWrapper) => boolean,
	timeoutMs: number,
): Promise<number | null> {
	const done = conn.waitForEvents(n, filter, {
		since: conn.eventCount,
		timeoutMs,
	});
	const t0 = performance.now();
	conn.sendRaw(frame);
	try {
		await done;
		return performance.now() - t0;
	} catch (error) {
		if (/timed out/.test(String(error))) return null;
		throw error;
	}
}

export async function measureLifecycle(
	kind: RunnerKind,
	n: number,
	timeoutMs: number,
	label: string,
): Promise<LifecycleSample> {
	const ids = Array.from({ length: n }, (_, i) => `${label}-${i}`);
	// Encoded before the clock starts: the engine's encoding cost is not the runner's.
	const startFrame = commandsFrame(
		ids.map((id) => startActorCommand(id, { name: "bench" })),
	);
	const stopFrame = commandsFrame(ids.map((id) => stopActorCommand(id)));
	const session = await openSession(kind);
	try {
		const startMs = await timeBatch(
			session.conn,
			startFrame,
			n,
			isActorStateEvent("ActorStateRunning"),
			timeoutMs,
		);
		if (startMs === null) return { startMs, stopMs: null };
		const stopMs = await timeBatch(
			session.conn,
			stopFrame,
			n,
			isActorStateEvent("ActorStateStopped"),
			timeoutMs,
		);
		return { startMs, stopMs };
	} finally {
		await closeSession(session);
	}
}

function forceGc(): void {
	const gc = (globalThis as { gc?: () => void }).gc;
	if (!gc) throw new Error("heap measurement needs node --expose-gc");
	gc();
	gc();
}

/** Lets pending callbacks (onActorStart promises, socket writes) finish before a heap snapshot. */
async function settle(): Promise<void> {
	for (let i = 0; i < 3; i++)
		await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Bytes of heap per idle running actor: forced GC, heapUsed, start N actors and wait until all
 * are Running, forced GC, heapUsed; (after − before) / N. null if the start timed out.
 */
export async function measureHeapPerActor(
	kind: RunnerKind,
	n: number,
	timeoutMs: number,
	label: string,
): Promise<number | null> {
	const ids = Array.from({ length: n }, (_, i) => `${label}-${i}`);
	const startFrame = commandsFrame(
		ids.map((id) => startActorCommand(id, { name: "bench" })),
	);
	const session = await openSession(kind);
	try {
		await settle();
		forceGc();
		const before = process.memoryUsage().heapUsed;
		const startMs = await timeBatch(
			session.conn,
			startFrame,
			n,
			isActorStateEvent("ActorStateRunning"),
			timeoutMs,
		);
		if (startMs === null) return null;
		await settle();
		forceGc();
		const after = process.memoryUsage().heapUsed;
		return (after - before) / n;
	} finally {
		await closeSession(session);
	}
}
