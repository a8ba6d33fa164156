/**
 * WebSocket tunnel: one running actor and one tunnelled socket. "oneway": the engine sends `messages` binary
 * messages of `bytes` to "/count/<n>" and stops the clock at the actor's single "done" reply. "echo": the same
 * messages to "/echo", clock stopped at the last echoed message. All frames are encoded before the clock starts
 * and sent in one burst.
 */
import { performance } from "node:perf_hooks";
import type { RunnerKind } from "./bench-runners.ts";
import {
	closeBenchSession,
	countFrames,
	openBenchSession,
	startActors,
} from "./bench-session.ts";
import { tunnelFrame } from "./tunnel-frames.ts";

export interface WebSocketWorkload {
	mode: "oneway" | "echo";
	messages: number;
	bytes: number;
}

const SOCKET_REQUEST_ID = 7;

const isSocketMessage = (
	message: Parameters<Parameters<typeof countFrames>[2]>[0],
): number =>
	message.tag === "ToServerTunnelMessage" &&
	message.val.messageKind.tag === "ToServerWebSocketMessage"
		? 1
		: 0;

/** Messages per second. */
export async function measureWebSocket(
	kind: RunnerKind,
	work: WebSocketWorkload,
	timeoutMs: number,
): Promise<number> {
	const data = new Uint8Array(work.bytes).fill(0x62).buffer as ArrayBuffer;
	const frames = Array.from({ length: work.messages }, (_, i) =>
		tunnelFrame(SOCKET_REQUEST_ID, (i + 1) & 0xffff, {
			tag: "ToClientWebSocketMessage",
			val: { data, binary: true },
		}),
	);
	const session = await openBenchSession(kind);
	const { conn } = session;
	try {
		await startActors(conn, ["ws-actor"], timeoutMs);
		const opened = countFrames(
			conn,
			1,
			(m) =>
				m.tag === "ToServerTunnelMessage" &&
				m.val.messageKind.tag === "ToServerWebSocketOpen"
					? 1
					: 0,
			timeoutMs,
			"tunnel WebSocket open",
		);
		conn.sendRaw(
			tunnelFrame(SOCKET_REQUEST_ID, 0, {
				tag: "ToClientWebSocketOpen",
				val: {
					actorId: "ws-actor",
					path: work.mode === "echo" ? "/echo" : `/count/${work.messages}`,
					headers: new Map(),
				},
			}),
		);
		await opened;
		const done = countFrames(
			conn,
			work.mode === "echo" ? work.messages : 1,
			isSocketMessage,
			timeoutMs,
			`websocket ${work.mode}`,
		);
		const t0 = performance.now();
		for (const frame of frames) conn.sendRaw(frame);
		const end = await done;
		return (work.messages * 1000) / (end - t0);
	} finally {
		await closeBenchSession(session);
	}
}
