/**
 * The floor: the least a runner can do and still speak the protocol. One `ws` socket and the official codec; it
 * decodes each frame and answers at once, in one frame per inbound frame, with the bench actor app's behaviour
 * (bench-actor-app.ts) written inline: no actor callbacks, no event log, no acks, no backoff (it reconnects at
 * once after an engine close). What both runners do on top of this is their own cost.
 */
import * as protocol from "@rivetkit/engine-runner-protocol";
import { type RawData, WebSocket } from "ws";
import { parseCountPath } from "./bench-actor-app.ts";

const DONE = new TextEncoder().encode("done").buffer as ArrayBuffer;

interface FloorSocket {
	/** "/echo" echoes; "/count/<n>" answers "done" after n messages. */
	countTarget: number | undefined;
	received: number;
	nextIndex: number;
}

export class FloorRunner {
	readonly #url: string;
	#ws: WebSocket | undefined;
	#stopped = false;
	#draining = false;
	readonly #actors = new Set<string>();
	readonly #sockets = new Map<string, FloorSocket>();
	#connected: (() => void) | undefined;
	#closed: (() => void) | undefined;

	constructor(endpoint: string) {
		const runnerKey = crypto.randomUUID();
		this.#url = `${endpoint.replace(/^http/, "ws")}/runners/connect?protocol_version=7&namespace=default&runner_key=${runnerKey}`;
	}

	/** Resolves after the first ToClientInit. */
	start(): Promise<void> {
		return new Promise((resolve) => {
			this.#connected = resolve;
			this.#open();
		});
	}

	/** Closes now. */
	async stop(): Promise<void> {
		this.#stopped = true;
		const ws = this.#ws;
		if (!ws || ws.readyState === WebSocket.CLOSED) return;
		const closed = new Promise<void>((resolve) =>
			ws.once("close", () => resolve()),
		);
		ws.close(1000, "pegboard.runner_shutdown");
		await closed;
	}

	/** ToServerStopping, then close as soon as no actor is left. */
	drain(): Promise<void> {
		return new Promise((resolve) => {
			this.#draining = true;
			this.#closed = resolve;
			this.#send({ tag: "ToServerStopping", val: null });
			this.#closeIfDrained();
		});
	}

	#open(): void {
		const ws = new WebSocket(this.#url, ["rivet"], {
			perMessageDeflate: false,
		});
		this.#ws = ws;
		ws.on("open", () =>
			this.#send({
				tag: "ToServerInit",
				val: {
					name: "bench",
					version: 1,
					totalSlots: 100_000,
					prepopulateActorNames: null,
					metadata: null,
				},
			}),
		);
		ws.on("message", (data: RawData) => this.#onFrame(data as Buffer));
		ws.on("error", () => {});
		ws.on("close", () => {
			if (this.#ws !== ws) return;
			if (this.#stopped || this.#draining) this.#closed?.();
			else this.#open();
		});
	}

	#send(message: protocol.ToServer): void {
		this.#ws?.send(protocol.encodeToServer(message) as Uint8Array<ArrayBuffer>);
	}

	#onFrame(buffer: Buffer): void {
		const message = protocol.decodeToClient(
			new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength),
		);
		switch (message.tag) {
			case "ToClientInit":
				this.#connected?.();
				this.#connected = undefined;
				return;
			case "ToClientPing":
				this.#send({ tag: "ToServerPong", val: { ts: message.val.ts } });
				return;
			case "ToClientCommands":
				this.#onCommands(message.val);
				return;
			case "ToClientTunnelMessage":
				this.#onTunnel(message.val);
				return;
			default:
				return;
		}
	}

	#onCommands(commands: readonly protocol.CommandWrapper[]): void {
		const events: protocol.EventWrapper[] = [];
		for (const { checkpoint, inner } of commands) {
			const start = inner.tag === "CommandStartActor";
			if (start) this.#actors.add(checkpoint.actorId);
			else this.#actors.delete(checkpoint.actorId);
			events.push({
				checkpoint: { ...checkpoint, index: start ? 0n : 1n },
				inner: {
					tag: "EventActorStateUpdate",
					val: {
						state: start
							? { tag: "ActorStateRunning", val: null }
							: {
									tag: "ActorStateStopped",
									val: { code: protocol.StopCode.Ok, message: null },
								},
					},
				},
			});
		}
		this.#send({ tag: "ToServerEvents", val: events });
		this.#closeIfDrained();
	}

	#closeIfDrained(): void {
		if (this.#draining && this.#actors.size === 0)
			this.#ws?.close(1000, "pegboard.runner_shutdown");
	}

	#onTunnel({ messageId, messageKind }: protocol.ToClientTunnelMessage): void {
		const key = new Uint32Array(messageId.requestId.slice(0, 4))[0] ?? 0;
		const id = String(key);
		const reply = (kind: protocol.ToServerTunnelMessageKind, index: number) =>
			this.#send({
				tag: "ToServerTunnelMessage",
				val: {
					messageId: { ...messageId, messageIndex: index },
					messageKind: kind,
				},
			});
		switch (messageKind.tag) {
			case "ToClientRequestStart":
				reply(
					{
						tag: "ToServerResponseStart",
						val: {
							status: 200,
							headers: new Map(),
							body: messageKind.val.body,
							stream: false,
						},
					},
					0,
				);
				return;
			case "ToClientWebSocketOpen":
				this.#sockets.set(id, {
					countTarget: parseCountPath(messageKind.val.path),
					received: 0,
					nextIndex: 1,
				});
				reply(
					{ tag: "ToServerWebSocketOpen", val: { canHibernate: false } },
					0,
				);
				return;
			case "ToClientWebSocketMessage": {
				const socket = this.#sockets.get(id);
				if (!socket) return;
				socket.received++;
				if (socket.countTarget === undefined) {
					reply(
						{ tag: "ToServerWebSocketMessage", val: messageKind.val },
						socket.nextIndex++ & 0xffff,
					);
				} else if (socket.received === socket.countTarget) {
					reply(
						{
							tag: "ToServerWebSocketMessage",
							val: { data: DONE, binary: false },
						},
						socket.nextIndex++ & 0xffff,
					);
				}
				return;
			}
			case "ToClientWebSocketClose":
				this.#sockets.delete(id);
				return;
			default:
				return;
		}
	}
}
