/**
 * One client WebSocket proxied to an actor (spec §8.3–§8.4): wait for the actor to be Ready, `WebSocketOpen` at
 * index 0 and wait ≤15 s for the runner's open, then messages both ways (gateway → runner indexes 1, 2, … wrapping),
 * close both ways. Hibernatable sockets keep every unacked message; when the actor stops (or the runner closes
 * with `hibernate: true`) the client stays connected, its next message wakes the actor and the unacked messages
 * are republished with their original indexes; a socket that hibernates with unacked messages wakes the actor at
 * once to redeliver them. Non-hibernatable sockets close `1000 actor.stopped`.
 *
 * A client that closes while its socket hibernates wakes the actor, which hears the close once it has restored
 * the socket (as guard does).
 */
import type * as protocol from "@rivetkit/engine-runner-protocol";
import type { RawData, WebSocket } from "ws";
import { closeFrameFor } from "../errors.ts";
import type { ActorRecord } from "../storage/types.ts";
import type { ActorTarget } from "./addressing.ts";
import type { Gateway } from "./gateway.ts";
import { GatewayError } from "./gateway-error.ts";
import { HibernationBuffer } from "./hibernation-buffer.ts";

type State =
	| "waiting"
	| "opening"
	| "open"
	| "hibernating"
	| "resuming"
	| "closed";

export class ProxiedWebSocket {
	readonly #gateway: Gateway;
	readonly #client: WebSocket;
	readonly #target: ActorTarget;
	readonly #headers: Map<string, string>;
	#state: State = "waiting";
	#requestId: number | undefined;
	#runnerId: string | undefined;
	#generation = -1;
	#canHibernate = false;
	/** The last gateway → runner index used (the open is 0). */
	#index = 0;
	#early: { data: Buffer; binary: boolean }[] = [];
	#buffer: HibernationBuffer | undefined;
	#unsubscribe: (() => void) | undefined;
	/** The client closed while the actor slept: told to the actor once it is back. */
	#pendingClientClose: { code: number; reason: string } | undefined;
	#openTimer: ReturnType<typeof setTimeout> | undefined;

	constructor(
		gateway: Gateway,
		client: WebSocket,
		target: ActorTarget,
		headers: Map<string, string>,
	) {
		this.#gateway = gateway;
		this.#client = client;
		this.#target = target;
		this.#headers = headers;
	}

	get actorId(): string {
		return this.#target.actorId;
	}

	get requestId(): number | undefined {
		return this.#requestId;
	}

	get hibernating(): boolean {
		return this.#state === "hibernating" || this.#state === "resuming";
	}

	start(): void {
		this.#client.on("message", (data, isBinary) =>
			this.#fromClient(data, isBinary),
		);
		this.#client.on("close", (code, reason) =>
			this.#clientClosed(code, reason.toString()),
		);
		this.#client.on("error", () => {}); // a close event follows
		this.#unsubscribe = this.#gateway.watch.subscribe(this.actorId, (record) =>
			this.#actorChanged(record),
		);
		void this.#connect();
	}

	/**
	 * Waits for the actor to be Ready and binds to it. False when it did not get ready (the client is closed with
	 * the error) or the socket left `waitingIn` meanwhile.
	 */
	async #bindWhenReady(waitingIn: State): Promise<boolean> {
		let actor: ActorRecord;
		try {
			actor = await this.#gateway.readyAndLinked(
				this.actorId,
				this.#gateway.options.actorReadyTimeoutMs,
			);
		} catch (error) {
			this.#closeWithError(error);
			return false;
		}
		if (this.#state !== waitingIn) return false;
		this.#bind(actor);
		return true;
	}

	async #connect(): Promise<void> {
		if (!(await this.#bindWhenReady("waiting"))) return;
		this.#state = "opening";
		this.#requestId = this.#gateway.open({
			onMessage: (kind) => this.#fromRunner(kind),
			onGatewayClose: () => {
				const frame = closeFrameFor("ws", "going_away");
				this.#close(frame.code, frame.reason);
			},
		});
		this.#openTimer = setTimeout(() => {
			const frame = closeFrameFor("guard", "websocket_open_timeout");
			this.#close(frame.code, frame.reason);
		}, this.#gateway.options.webSocketOpenTimeoutMs);
		this.#toRunner(0, {
			tag: "ToClientWebSocketOpen",
			val: {
				actorId: this.actorId,
				path: this.#target.path,
				headers: this.#headers,
			},
		});
	}

	#bind(actor: ActorRecord): void {
		this.#runnerId = actor.runnerId ?? undefined;
		this.#generation = actor.generation;
	}

	#toRunner(index: number, kind: protocol.ToClientTunnelMessageKind): void {
		if (this.#runnerId === undefined || this.#requestId === undefined) return;
		this.#gateway.sendToRunner(this.#runnerId, this.#requestId, index, kind);
	}

	#fromClient(data: RawData, binary: boolean): void {
		const bytes = Array.isArray(data)
			? Buffer.concat(data)
			: Buffer.isBuffer(data)
				? data
				: Buffer.from(data);
		switch (this.#state) {
			case "waiting":
			case "opening":
				this.#early.push({ data: bytes, binary });
				return;
			case "open":
			case "resuming":
				this.#forward(bytes, binary);
				return;
			case "hibernating":
				this.#forward(bytes, binary);
				void this.#resume();
				return;
			case "closed":
				return;
		}
	}

	/** Gives the message the next index, keeps it if hibernatable, and sends it unless the actor sleeps. */
	#forward(data: Buffer, binary: boolean): void {
		const index = (this.#index + 1) & 0xffff;
		this.#index = index;
		if (
			this.#buffer &&
			!this.#buffer.push({ index, data, binary, sentAt: Date.now() })
		) {
			const frame = closeFrameFor("guard", "websocket_pending_limit_reached");
			this.#close(frame.code, frame.reason);
			return;
		}
		if (this.#state === "open") this.#sendMessage(index, data, binary);
	}

	#sendMessage(index: number, data: Buffer, binary: boolean): void {
		this.#toRunner(index, {
			tag: "ToClientWebSocketMessage",
			val: {
				data: data.buffer.slice(
					data.byteOffset,
					data.byteOffset + data.byteLength,
				) as ArrayBuffer,
				binary,
			},
		});
	}

	#fromRunner(kind: protocol.ToServerTunnelMessageKind): void {
		switch (kind.tag) {
			case "ToServerWebSocketOpen": {
				if (this.#state !== "opening") return;
				clearTimeout(this.#openTimer);
				this.#canHibernate = kind.val.canHibernate;
				if (this.#canHibernate) {
					this.#buffer = new HibernationBuffer();
					this.#gateway.track(this);
				}
				this.#state = "open";
				const early = this.#early;
				this.#early = [];
				for (const { data, binary } of early) this.#forward(data, binary);
				return;
			}
			case "ToServerWebSocketMessage":
				// A restored socket may speak before the gateway has seen its actor run again: pass it on.
				if (this.#state !== "opening" && this.#state !== "closed")
					this.#client.send(Buffer.from(kind.val.data), {
						binary: kind.val.binary,
					});
				return;
			case "ToServerWebSocketMessageAck":
				this.#buffer?.ack(kind.val.index);
				return;
			case "ToServerWebSocketClose": {
				if (this.#state === "opening") {
					const frame = closeFrameFor("guard", "websocket_closed_before_open");
					this.#close(frame.code, frame.reason);
				} else if (kind.val.hibernate && this.#canHibernate) this.#hibernate();
				else if (kind.val.code === null) this.#close(1000, "ws.closed");
				else this.#close(kind.val.code, kind.val.reason ?? "");
				return;
			}
			default:
				return; // HTTP kinds on a WebSocket: dropped, as the real gateway does
		}
	}

	#actorChanged(record: ActorRecord | undefined): void {
		if (this.#state === "closed") return;
		if (!record || record.status === "destroyed") {
			this.#close(1000, "actor.stopped");
			return;
		}
		if (this.#state === "hibernating") {
			// Woken by something else (alarm, HTTP): the actor restored this socket, so it is live again.
			if (record.status === "running" && record.runnerId !== null)
				void this.#resume();
			return;
		}
		if (this.#state !== "open" && this.#state !== "opening") return;
		if (
			record.runnerId === this.#runnerId &&
			record.generation === this.#generation
		)
			return;
		// The generation we talk to has stopped.
		if (this.#state === "open" && this.#canHibernate) this.#hibernate();
		else this.#close(1000, "actor.stopped");
	}

	#hibernate(): void {
		this.#state = "hibernating";
		this.#runnerId = undefined;
		// Messages the actor never acked are still owed to it: wake it now to redeliver them, as guard does
		// ("exiting hibernating due to pending messages").
		if ((this.#buffer?.size ?? 0) > 0) void this.#resume();
	}

	/** A client message arrived while the actor sleeps: wake it, then republish what it has not acked. */
	async #resume(): Promise<void> {
		if (this.#state !== "hibernating") return;
		this.#state = "resuming";
		if (!(await this.#bindWhenReady("resuming"))) return;
		this.#state = "open";
		// No new open after hibernation (spec §8.4): the runner restores the socket from its StartActor.
		for (const message of this.#buffer?.unacked() ?? [])
			this.#sendMessage(message.index, message.data, message.binary);
		const close = this.#pendingClientClose;
		if (close) this.#clientClosed(close.code, close.reason);
	}

	#clientClosed(code: number, reason: string): void {
		if (this.#state === "hibernating" || this.#state === "resuming") {
			this.#pendingClientClose = { code, reason };
			void this.#resume();
			return;
		}
		if (this.#state === "open" || this.#state === "opening") {
			this.#index = (this.#index + 1) & 0xffff;
			this.#toRunner(this.#index, {
				tag: "ToClientWebSocketClose",
				val: { code: code === 1005 ? null : code, reason: reason || null },
			});
		}
		this.#state = "closed";
		this.#cleanup();
	}

	/** GC (spec §8.4): the runner has not acked a message for too long. */
	collect(now: number, ackTimeoutMs: number): void {
		const oldest = this.#buffer?.oldestSentAt();
		if (oldest !== undefined && now - oldest > ackTimeoutMs) {
			const frame = closeFrameFor("guard", "websocket_garbage_collected");
			this.#close(frame.code, frame.reason);
		}
	}

	#closeWithError(error: unknown): void {
		const frame =
			error instanceof GatewayError
				? closeFrameFor(error.group, error.code)
				: closeFrameFor("core", "internal_error");
		this.#close(frame.code, frame.reason);
	}

	/** Closes the client socket (if still open) and forgets everything. */
	#close(code: number, reason: string): void {
		if (this.#state === "closed") return;
		this.#state = "closed";
		this.#cleanup();
		closeClient(this.#client, code, reason);
	}

	#cleanup(): void {
		clearTimeout(this.#openTimer);
		this.#unsubscribe?.();
		this.#unsubscribe = undefined;
		if (this.#requestId !== undefined) this.#gateway.release(this.#requestId);
		this.#gateway.untrack(this);
		this.#early = [];
	}
}

/** `ws` throws on codes a peer may not send and on reasons over 123 bytes: map them to what can be sent. */
function closeClient(client: WebSocket, code: number, reason: string): void {
	if (client.readyState >= 2) return;
	if (code === 1006) {
		client.terminate();
		return;
	}
	const sendable =
		(code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005) ||
		(code >= 3000 && code <= 4999);
	let text = reason;
	while (Buffer.byteLength(text) > 123) text = text.slice(0, -1);
	client.close(sendable ? code : 1011, text);
}
