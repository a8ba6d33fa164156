/**
 * The engine end of the runner socket for the runner-side fuzz: a bare WebSocket server that answers like guard
 * (subprotocol `rivet`), decodes what the runner sends and keeps only counters and live waits, never a history
 * (the runner's heap is measured in this process, so the fake engine must not grow).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as protocol from "@rivetkit/engine-runner-protocol";
import { type WebSocket, WebSocketServer } from "ws";

export interface CloseInfo {
	code: number;
	reason: string;
}

export class FuzzConnection {
	readonly index: number;
	readonly ws: WebSocket;
	readonly init: Promise<protocol.ToServerInit>;
	readonly closed: Promise<CloseInfo>;
	closeInfo: CloseInfo | undefined;
	/** What the runner sent, by tag. */
	readonly counts = new Map<string, number>();
	/** KV request ids the runner sent and nobody answered yet. */
	readonly kvPending: number[] = [];
	/** Sizes of frames the codec could not decode (our runner never sends one). */
	readonly undecodable: number[] = [];
	/** Called with every decoded frame (probes wait on it). */
	readonly listeners = new Set<(message: protocol.ToServer) => void>();
	readonly #pongWaiters = new Map<bigint, () => void>();

	constructor(index: number, ws: WebSocket) {
		this.index = index;
		this.ws = ws;
		let resolveInit!: (init: protocol.ToServerInit) => void;
		this.init = new Promise((resolve) => {
			resolveInit = resolve;
		});
		this.closed = new Promise((resolve) => {
			ws.on("close", (code: number, reason: Buffer) => {
				this.closeInfo = { code, reason: reason.toString("utf8") };
				resolve(this.closeInfo);
			});
		});
		ws.on("error", () => {
			// The close event follows and carries what the fuzz looks at.
		});
		ws.on("message", (data: Buffer, isBinary: boolean) => {
			if (!isBinary) {
				this.#count("text");
				return;
			}
			let message: protocol.ToServer;
			try {
				message = protocol.decodeToServer(
					new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
				);
			} catch {
				this.undecodable.push(data.byteLength);
				return;
			}
			this.#count(message.tag);
			for (const listener of this.listeners) listener(message);
			switch (message.tag) {
				case "ToServerInit":
					resolveInit(message.val);
					return;
				case "ToServerPong": {
					const waiter = this.#pongWaiters.get(message.val.ts);
					if (waiter) {
						this.#pongWaiters.delete(message.val.ts);
						waiter();
					}
					return;
				}
				case "ToServerKvRequest":
					this.kvPending.push(message.val.requestId);
					return;
			}
		});
	}

	#count(tag: string): void {
		this.counts.set(tag, (this.counts.get(tag) ?? 0) + 1);
	}

	get isOpen(): boolean {
		return this.ws.readyState === 1;
	}

	send(bytes: Uint8Array): void {
		if (this.isOpen) this.ws.send(bytes);
	}

	/** Resolves when the pong for `ts` arrives, or with "closed" if the socket closes first. */
	pong(ts: bigint): Promise<"pong" | "closed"> {
		if (!this.isOpen) return Promise.resolve("closed");
		return new Promise((resolve) => {
			this.#pongWaiters.set(ts, () => resolve("pong"));
			void this.closed.then(() => {
				this.#pongWaiters.delete(ts);
				resolve("closed");
			});
		});
	}

	close(code = 1000, reason = ""): void {
		if (this.ws.readyState <= 1) this.ws.close(code, reason);
	}
}

export class FuzzEngine {
	readonly #server: Server;
	readonly #wss: WebSocketServer;
	readonly connections: FuzzConnection[] = [];
	#count = 0;
	#waiters: Array<(c: FuzzConnection) => void> = [];
	port = 0;

	constructor() {
		this.#wss = new WebSocketServer({
			noServer: true,
			perMessageDeflate: false,
			maxPayload: 64 * 1024 * 1024,
			handleProtocols: () => "rivet",
		});
		this.#server = createServer((_req, res) => {
			res.writeHead(200);
			res.end("pegboard-runner WebSocket endpoint");
		});
		this.#server.on("upgrade", (req, socket, head) => {
			this.#wss.handleUpgrade(req, socket, head, (ws) => {
				const connection = new FuzzConnection(this.#count++, ws);
				// Only the live one is kept: a closed connection is dropped at once.
				this.connections.push(connection);
				void connection.closed.then(() => {
					const i = this.connections.indexOf(connection);
					if (i >= 0) this.connections.splice(i, 1);
				});
				const waiters = this.#waiters;
				this.#waiters = [];
				for (const resolve of waiters) resolve(connection);
			});
		});
	}

	get url(): string {
		return `http://127.0.0.1:${this.port}`;
	}

	get accepted(): number {
		return this.#count;
	}

	async listen(): Promise<void> {
		await new Promise<void>((resolve) =>
			this.#server.listen(0, "127.0.0.1", resolve),
		);
		this.port = (this.#server.address() as AddressInfo).port;
	}

	/** The first live connection accepted after the one numbered `index`, or undefined after `timeoutMs`. */
	connectionAfter(
		index: number,
		timeoutMs: number,
	): Promise<FuzzConnection | undefined> {
		const live = this.connections.find((c) => c.index > index);
		if (live) return Promise.resolve(live);
		return new Promise((resolve) => {
			const timer = setTimeout(() => {
				this.#waiters = this.#waiters.filter((w) => w !== waiter);
				resolve(undefined);
			}, timeoutMs);
			const waiter = (c: FuzzConnection) => {
				clearTimeout(timer);
				resolve(c);
			};
			this.#waiters.push(waiter);
		});
	}

	async close(): Promise<void> {
		for (const client of this.#wss.clients) client.terminate();
		await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
		await new Promise<void>((resolve) => {
			this.#server.close(() => resolve());
			this.#server.closeAllConnections();
		});
	}
}

export const pingFrame = (ts: bigint): Uint8Array =>
	protocol.encodeToClient({ tag: "ToClientPing", val: { ts } });

export const initFrame = (runnerId: string): Uint8Array =>
	protocol.encodeToClient({
		tag: "ToClientInit",
		val: {
			runnerId,
			metadata: {
				runnerLostThreshold: 60_000n,
				actorStopThreshold: 1_800_000n,
				serverlessDrainGracePeriod: null,
			},
		},
	});
