import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { type WebSocket, WebSocketServer } from "ws";
import {
	type SnapshotSources,
	takeActorDetail,
	takeSnapshot,
} from "./snapshot.ts";

/** Changes arriving within this window go out as one snapshot: a burst of events costs one message per client. */
export const FEED_COALESCE_MS = 50;
/** A client that does not read (its buffer grows past this) is dropped; partysocket reconnects it. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const MAX_CLIENTS = 64;

/** What the page sends: which actor's page it shows (history + KV come with every snapshot). */
type ClientMessage = { type: "watch"; actorId: string | null };

/**
 * The live feed of `/ui/feed`: every client gets a full snapshot when it connects and after every change
 * (coalesced). Snapshots are bounded (see snapshot.ts), so a message is small whatever the history.
 */
export class InspectorFeed {
	readonly #sources: SnapshotSources;
	readonly #wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
	readonly #watching = new Map<WebSocket, string | null>();
	#timer: ReturnType<typeof setTimeout> | undefined;
	#closed = false;

	constructor(sources: SnapshotSources) {
		this.#sources = sources;
	}

	/** An accepted upgrade (auth already checked). */
	upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
		this.#wss.handleUpgrade(request, socket, head, (ws) => {
			if (this.#closed || this.#watching.size >= MAX_CLIENTS) {
				ws.close(1013, "inspector.too_many_clients");
				return;
			}
			this.#watching.set(ws, null);
			ws.on("close", () => this.#watching.delete(ws));
			ws.on("error", () => {});
			ws.on("message", (data) => {
				const message = parseClientMessage(String(data));
				if (!message) {
					ws.close(1003, "inspector.bad_message");
					return;
				}
				this.#watching.set(ws, message.actorId);
				this.#send(ws, message.actorId, takeSnapshot(this.#sources));
			});
			this.#send(ws, null, takeSnapshot(this.#sources));
		});
	}

	/** Something changed: schedule one snapshot for every client. */
	changed(): void {
		if (this.#closed || this.#timer !== undefined || this.#watching.size === 0)
			return;
		this.#timer = setTimeout(() => {
			this.#timer = undefined;
			const snapshot = takeSnapshot(this.#sources);
			for (const [ws, actorId] of this.#watching)
				this.#send(ws, actorId, snapshot);
		}, FEED_COALESCE_MS);
	}

	close(): void {
		this.#closed = true;
		clearTimeout(this.#timer);
		for (const ws of this.#watching.keys()) ws.terminate();
		this.#watching.clear();
		this.#wss.close();
	}

	#send(
		ws: WebSocket,
		actorId: string | null,
		snapshot: ReturnType<typeof takeSnapshot>,
	): void {
		if (ws.readyState !== ws.OPEN) return;
		if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
			ws.terminate();
			return;
		}
		const detail =
			actorId === null ? null : takeActorDetail(this.#sources, actorId);
		ws.send(JSON.stringify({ type: "snapshot", ...snapshot, detail }));
	}
}

function parseClientMessage(text: string): ClientMessage | null {
	try {
		const value = JSON.parse(text) as Partial<ClientMessage>;
		if (
			value.type === "watch" &&
			(value.actorId === null ||
				(typeof value.actorId === "string" && value.actorId.length < 200))
		)
			return { type: "watch", actorId: value.actorId };
	} catch {
		// Falls through to the refusal.
	}
	return null;
}
