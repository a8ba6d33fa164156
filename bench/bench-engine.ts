/**
 * The engine side for the tunnel, drain and reconnect benchmarks: the official codec over `ws` on 127.0.0.1, with
 * a per-frame listener (the scripted engine in tests/helpers offers awaitable waits, which would lose frames that
 * arrive in one burst when history is off). It answers ToServerInit with ToClientInit and pings every 3 s like the
 * real engine; everything else is up to the benchmark. Keeps no history, so its memory is not the runner's.
 */
import type { EventEmitter } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import * as protocol from "@rivetkit/engine-runner-protocol";
import { type RawData, type WebSocket, WebSocketServer } from "ws";

const ENGINE_PING_INTERVAL_MS = 3000;
const MAX_PAYLOAD_BYTES = 32 * 1024 * 1024;

export type ToServerListener = (message: protocol.ToServer, at: number) => void;
/** Sees the undecoded frame first; returns true if it took the frame (then nothing decodes it). */
export type RawFrameListener = (frame: Uint8Array, at: number) => boolean;

export interface CloseInfo {
	code: number;
	reason: string;
	/** performance.now() when the engine saw the close. */
	at: number;
}

export class BenchConnection {
	/** performance.now() when the runner's ToServerInit arrived (resolves on the first one). */
	readonly init: Promise<number>;
	readonly closed: Promise<CloseInfo>;
	/**
	 * performance.now() when the runner's close frame arrived. The socket's "close" event comes later: after the
	 * closing handshake and the TCP teardown, which in this one-process setup also waits for whatever the runner
	 * does after sending its close frame. ws has no public event for the frame, so this listens on its receiver
	 * (ws 8 internals) and falls back to the "close" event.
	 */
	readonly closeFrame: Promise<number>;
	readonly #ws: WebSocket;
	readonly #listeners = new Set<ToServerListener>();
	readonly #rawListeners = new Set<RawFrameListener>();
	readonly #ping: ReturnType<typeof setInterval>;

	constructor(ws: WebSocket) {
		this.#ws = ws;
		let initSeen: (at: number) => void = () => {};
		this.init = new Promise((resolve) => {
			initSeen = resolve;
		});
		this.closed = new Promise((resolve) => {
			ws.on("close", (code: number, reason: Buffer) => {
				clearInterval(this.#ping);
				resolve({
					code,
					reason: reason.toString("utf8"),
					at: performance.now(),
				});
			});
		});
		const receiver = (ws as unknown as { _receiver?: EventEmitter })._receiver;
		this.closeFrame = new Promise((resolve) => {
			receiver?.once("conclude", () => resolve(performance.now()));
			void this.closed.then((info) => resolve(info.at));
		});
		ws.on("error", () => {
			// The close event follows and is what the benchmarks await.
		});
		ws.on("message", (data: RawData) => {
			const at = performance.now();
			const buffer = data as Buffer;
			const frame = new Uint8Array(
				buffer.buffer,
				buffer.byteOffset,
				buffer.byteLength,
			);
			for (const listener of this.#rawListeners)
				if (listener(frame, at)) return;
			const message = protocol.decodeToServer(frame);
			if (message.tag === "ToServerInit") {
				this.send(initMessage());
				initSeen(at);
			}
			for (const listener of this.#listeners) listener(message, at);
		});
		this.#ping = setInterval(() => {
			this.send({ tag: "ToClientPing", val: { ts: BigInt(Date.now()) } });
		}, ENGINE_PING_INTERVAL_MS);
	}

	/** Calls `listener` for every decoded frame until the returned function is called. */
	onMessage(listener: ToServerListener): () => void {
		this.#listeners.add(listener);
		return () => this.#listeners.delete(listener);
	}

	/** Calls `listener` for every frame, before decoding, until the returned function is called. */
	onRawFrame(listener: RawFrameListener): () => void {
		this.#rawListeners.add(listener);
		return () => this.#rawListeners.delete(listener);
	}

	get isOpen(): boolean {
		return this.#ws.readyState === this.#ws.OPEN;
	}

	send(message: protocol.ToClient): void {
		this.sendRaw(protocol.encodeToClient(message));
	}

	sendRaw(frame: Uint8Array): void {
		if (this.isOpen) this.#ws.send(frame);
	}

	close(code: number, reason: string): void {
		this.#ws.close(code, reason);
	}
}

function initMessage(): protocol.ToClient {
	return {
		tag: "ToClientInit",
		val: {
			runnerId: "bench-runner",
			metadata: {
				runnerLostThreshold: 15_000n,
				actorStopThreshold: 1_800_000n,
				serverlessDrainGracePeriod: null,
			},
		},
	};
}

export interface BenchEngine {
	/** "http://127.0.0.1:<port>", the runner's endpoint. */
	readonly url: string;
	/** The next connection accepted after the call. */
	nextConnection(timeoutMs?: number): Promise<BenchConnection>;
	close(): Promise<void>;
}

export async function startBenchEngine(): Promise<BenchEngine> {
	const wss = new WebSocketServer({
		noServer: true,
		perMessageDeflate: false,
		maxPayload: MAX_PAYLOAD_BYTES,
		handleProtocols: () => "rivet",
	});
	const connections: BenchConnection[] = [];
	const waiters: ((connection: BenchConnection) => void)[] = [];
	const server: Server = createServer((_req, res) => res.end());
	server.on("upgrade", (req, socket, head) => {
		wss.handleUpgrade(req, socket, head, (ws) => {
			const connection = new BenchConnection(ws);
			connections.push(connection);
			for (const resolve of waiters.splice(0)) resolve(connection);
		});
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const port = (server.address() as AddressInfo).port;
	return {
		url: `http://127.0.0.1:${port}`,
		nextConnection(timeoutMs = 10_000) {
			return new Promise((resolve, reject) => {
				const timer = setTimeout(() => {
					const i = waiters.indexOf(accept);
					if (i >= 0) waiters.splice(i, 1);
					reject(
						new Error(`bench engine: no connection within ${timeoutMs} ms`),
					);
				}, timeoutMs);
				const accept = (connection: BenchConnection) => {
					clearTimeout(timer);
					resolve(connection);
				};
				waiters.push(accept);
			});
		},
		async close() {
			for (const client of wss.clients) client.terminate();
			await Promise.all(connections.map((c) => c.closed));
			await new Promise<void>((resolve) => wss.close(() => resolve()));
			await new Promise<void>((resolve) => {
				server.close(() => resolve());
				server.closeAllConnections();
			});
		},
	};
}
