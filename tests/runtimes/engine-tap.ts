/**
 * A recording relay between a runner and the dev engine: the runner dials the tap, the tap dials the engine and
 * forwards every frame both ways, and notes what the engine saw from the runner (decoded ToServer tags, actor
 * stop codes) and how the runner closed the socket. Tests await these observations instead of sleeping.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as protocol from "@rivetkit/engine-runner-protocol";
import { WebSocket, WebSocketServer } from "ws";

/** One thing the engine saw from the runner: a frame tag, an actor stop (`Stopped:Ok`), or the runner's close. */
export type TapEntry =
	| { kind: "frame"; tag: string; connection: number }
	| { kind: "stopped"; code: string; actorId: string; connection: number }
	| { kind: "close"; code: number; reason: string; connection: number };

export interface EngineTap {
	/** The endpoint to give the runner. */
	url: string;
	readonly entries: readonly TapEntry[];
	/** How many runner sockets have been accepted. */
	readonly connections: number;
	/** Resolves with the first entry (from now or already seen) that matches; rejects after `timeoutMs`. */
	until(
		describe: string,
		match: (entry: TapEntry) => boolean,
		timeoutMs?: number,
	): Promise<TapEntry>;
	/** From now on, frames from the engine are no longer passed to the runner (the engine goes quiet). */
	holdEngineFrames(): void;
	close(): Promise<void>;
}

function describeFrame(
	message: protocol.ToServer,
	connection: number,
): TapEntry[] {
	const entries: TapEntry[] = [{ kind: "frame", tag: message.tag, connection }];
	if (message.tag === "ToServerEvents") {
		for (const wrapper of message.val) {
			const event = wrapper.inner;
			if (
				event.tag === "EventActorStateUpdate" &&
				event.val.state.tag === "ActorStateStopped"
			) {
				entries.push({
					kind: "stopped",
					code: protocol.StopCode[event.val.state.val.code] ?? "?",
					actorId: wrapper.checkpoint.actorId,
					connection,
				});
			}
		}
	}
	return entries;
}

/** What a drain is judged by: every stop and close, and of the frames only `ToServerStopping`. */
export function drainView(entries: readonly TapEntry[]): TapEntry[] {
	return entries.filter(
		(e) => e.kind !== "frame" || e.tag === "ToServerStopping",
	);
}

/** The actors the runner reported stopped, in the order it reported them. */
export function actorsInStopOrder(entries: readonly TapEntry[]): string[] {
	return entries.flatMap((e) => (e.kind === "stopped" ? [e.actorId] : []));
}

/** The {@link drainView} of a clean drain of these actors (in this stop order) on the first connection. */
export function cleanDrainOf(...actorIds: string[]): TapEntry[] {
	return [
		{ kind: "frame", tag: "ToServerStopping", connection: 1 },
		...actorIds.map(
			(actorId): TapEntry => ({
				kind: "stopped",
				code: "Ok",
				actorId,
				connection: 1,
			}),
		),
		{
			kind: "close",
			code: 1000,
			reason: "pegboard.runner_shutdown",
			connection: 1,
		},
	];
}

/** Close codes an endpoint may put in a close frame (1005 and 1006 only describe an abnormal end). */
function sendable(code: number): boolean {
	return (
		(code >= 1000 &&
			code <= 1014 &&
			code !== 1004 &&
			code !== 1005 &&
			code !== 1006) ||
		(code >= 3000 && code < 5000)
	);
}

export async function startEngineTap(engineUrl: string): Promise<EngineTap> {
	const entries: TapEntry[] = [];
	const waiters = new Set<() => void>();
	const record = (entry: TapEntry): void => {
		entries.push(entry);
		for (const check of [...waiters]) check();
	};
	let connections = 0;
	let holding = false;
	const upstreamBase = engineUrl.replace(/^http/, "ws");
	const sockets = new Set<WebSocket>();
	const wss = new WebSocketServer({
		noServer: true,
		handleProtocols: (offered) => (offered.has("rivet") ? "rivet" : false),
	});
	const server: Server = createServer((_req, res) => {
		res.writeHead(404).end();
	});
	server.on("upgrade", (request, socket, head) => {
		wss.handleUpgrade(request, socket, head, (runnerSide) => {
			const connection = ++connections;
			const protocols = String(request.headers["sec-websocket-protocol"] ?? "")
				.split(",")
				.map((p) => p.trim())
				.filter(Boolean);
			const engineSide = new WebSocket(
				`${upstreamBase}${request.url ?? "/"}`,
				protocols,
			);
			sockets.add(runnerSide);
			sockets.add(engineSide);
			const pending: Buffer[] = [];
			engineSide.on("open", () => {
				for (const frame of pending.splice(0)) engineSide.send(frame);
			});
			runnerSide.on("message", (data: Buffer) => {
				try {
					for (const entry of describeFrame(
						protocol.decodeToServer(new Uint8Array(data)),
						connection,
					))
						record(entry);
				} catch {
					record({ kind: "frame", tag: "undecodable", connection });
				}
				if (engineSide.readyState === WebSocket.OPEN) engineSide.send(data);
				else pending.push(data);
			});
			engineSide.on("message", (data: Buffer) => {
				if (holding) return;
				if (runnerSide.readyState === WebSocket.OPEN) runnerSide.send(data);
			});
			runnerSide.on("close", (code, reason) => {
				sockets.delete(runnerSide);
				record({ kind: "close", code, reason: reason.toString(), connection });
				// Pass the close on as the runner sent it; an abnormal end (1005/1006) ends the other side abruptly too.
				if (engineSide.readyState === WebSocket.OPEN && sendable(code))
					engineSide.close(code, reason);
				else engineSide.terminate();
			});
			engineSide.on("close", (code, reason) => {
				sockets.delete(engineSide);
				if (runnerSide.readyState === WebSocket.OPEN && sendable(code))
					runnerSide.close(code, reason);
				else runnerSide.terminate();
			});
			runnerSide.on("error", () => {});
			engineSide.on("error", () => runnerSide.terminate());
		});
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const { port } = server.address() as AddressInfo;
	return {
		url: `http://127.0.0.1:${port}`,
		entries,
		get connections() {
			return connections;
		},
		until(describe, match, timeoutMs = 10_000) {
			return new Promise((resolve, reject) => {
				const check = (): void => {
					const found = entries.find(match);
					if (!found) return;
					waiters.delete(check);
					clearTimeout(timer);
					resolve(found);
				};
				const timer = setTimeout(() => {
					waiters.delete(check);
					reject(
						new Error(
							`engine tap: ${describe} not seen within ${timeoutMs} ms; saw ${JSON.stringify(entries.slice(-15))}`,
						),
					);
				}, timeoutMs);
				waiters.add(check);
				check();
			});
		},
		holdEngineFrames() {
			holding = true;
		},
		async close() {
			for (const socket of sockets) socket.terminate();
			wss.close();
			await new Promise<void>((resolve) => {
				server.close(() => resolve());
				server.closeAllConnections();
			});
		},
	};
}
