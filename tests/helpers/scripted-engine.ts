/**
 * A fake Rivet engine for conformance tests: the engine side of the runner protocol v7
 * (runner-protocol.md §2–§7), driven step by step by a test. Built only from the official codec and
 * `ws`; it must never import src/engine or src/core (two independent implementations of the two
 * sides of the protocol keep each other honest).
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import {
	createPendingWait,
	DEFAULT_WAIT_TIMEOUT_MS,
	type PendingWait,
} from "./pending-waits.ts";
import {
	type ConnectionDefaults,
	ScriptedConnection,
} from "./scripted-connection.ts";

export {
	isActorStateEvent,
	startActorCommand,
	stopActorCommand,
} from "./engine-commands.ts";
export {
	type NextOptions,
	ScriptedConnection,
	type ToServerTag,
	type WaitForEventsOptions,
	type WaitOptions,
} from "./scripted-connection.ts";

export interface ScriptedEngineOptions {
	/** Send ToClientInit automatically after the runner's ToServerInit (default true). */
	autoInit?: boolean;
	/** runnerId for auto init (default "runner-1"); a function gets the connection index (0-based). */
	runnerId?: string | ((connectionIndex: number) => string);
	/** ms, default 15000 */
	runnerLostThreshold?: number;
	/** Send ToClientPing every N ms after the runner's init (default off). Pongs are just recorded. */
	pingIntervalMs?: number;
	/**
	 * Keep every frame in `received`/`rawFrames`/`events()` (default true). Benchmarks turn it off so
	 * the engine's memory does not count as the runner's; then only live waits and counters work.
	 */
	recordHistory?: boolean;
}

export interface ScriptedEngine {
	/** "http://127.0.0.1:<port>" (the runner's `endpoint`) */
	readonly url: string;
	readonly port: number;
	/** In accept order. */
	readonly connections: ScriptedConnection[];
	/** Resolves with the next connection accepted after the call (or the i-th overall: { index }). */
	nextConnection(opts?: {
		timeoutMs?: number;
		index?: number;
	}): Promise<ScriptedConnection>;
	/** Stop accepting: new connections are refused at TCP level until restart(). Existing sockets untouched. */
	stopListening(): Promise<void>;
	/** Listen again on the SAME port (simulates an engine restart). */
	restart(): Promise<void>;
	/** Terminate all sockets and close the server. Idempotent. */
	close(): Promise<void>;
}

/** The engine always upgrades and answers with subprotocol "rivet", like guard (spec §2.2). */
const ENGINE_SUBPROTOCOL = "rivet";
/** guard's limit on the runner socket (spec §2.3). */
const MAX_PAYLOAD_BYTES = 32 * 1024 * 1024;

export async function startScriptedEngine(
	opts: ScriptedEngineOptions = {},
): Promise<ScriptedEngine> {
	const engine = new ScriptedEngineServer(opts);
	await engine.listen(0);
	return engine;
}

interface ConnectionWaiter {
	index: number;
	wait: PendingWait<ScriptedConnection>;
}

class ScriptedEngineServer implements ScriptedEngine {
	readonly connections: ScriptedConnection[] = [];
	readonly #opts: ScriptedEngineOptions;
	readonly #wss: WebSocketServer;
	/** Every HTTP server ever started (one per restart); all are closed by close(). */
	readonly #servers: Server[] = [];
	#current: Server | undefined;
	#port = 0;
	#closed = false;
	readonly #connectionWaiters = new Set<ConnectionWaiter>();

	constructor(opts: ScriptedEngineOptions) {
		this.#opts = opts;
		this.#wss = new WebSocketServer({
			noServer: true,
			perMessageDeflate: false,
			maxPayload: MAX_PAYLOAD_BYTES,
			handleProtocols: () => ENGINE_SUBPROTOCOL,
		});
		// ws only calls handleProtocols when the client offered some; guard answers "rivet" always.
		this.#wss.on("headers", (headers: string[]) => {
			if (
				!headers.some((h) =>
					h.toLowerCase().startsWith("sec-websocket-protocol:"),
				)
			) {
				headers.push(`Sec-WebSocket-Protocol: ${ENGINE_SUBPROTOCOL}`);
			}
		});
	}

	get port(): number {
		return this.#port;
	}

	get url(): string {
		return `http://127.0.0.1:${this.#port}`;
	}

	async listen(port: number): Promise<void> {
		const server = createServer((_req, res) => {
			res.writeHead(200, { "content-type": "text/plain" });
			res.end("pegboard-runner WebSocket endpoint");
		});
		server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) =>
			this.#onUpgrade(req, socket, head),
		);
		await new Promise<void>((resolve, reject) => {
			server.once("error", reject);
			server.listen(port, "127.0.0.1", () => {
				server.off("error", reject);
				resolve();
			});
		});
		this.#servers.push(server);
		this.#current = server;
		this.#port = (server.address() as AddressInfo).port;
	}

	nextConnection(
		opts: { timeoutMs?: number; index?: number } = {},
	): Promise<ScriptedConnection> {
		const index = opts.index ?? this.connections.length;
		const existing = this.connections[index];
		if (existing) return Promise.resolve(existing);
		const what = `connection #${index}`;
		if (this.#closed)
			return Promise.reject(
				new Error(`scripted engine is closed; cannot wait for ${what}`),
			);
		const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
		const { wait, promise } = createPendingWait<ScriptedConnection>(
			what,
			timeoutMs,
			() =>
				`scripted engine: timed out after ${timeoutMs} ms waiting for ${what}; ${this.connections.length} connections accepted so far${this.#current ? "" : " (not listening)"}`,
			() => this.#connectionWaiters.delete(waiter),
		);
		const waiter: ConnectionWaiter = { index, wait };
		this.#connectionWaiters.add(waiter);
		return promise;
	}

	async stopListening(): Promise<void> {
		const server = this.#current;
		if (!server) return;
		this.#current = undefined;
		// close() stops the listening socket at once; its callback would wait for upgraded sockets,
		// which we leave open on purpose, so do not await it.
		server.close();
		await new Promise<void>((resolve) => setImmediate(resolve));
	}

	async restart(): Promise<void> {
		if (this.#closed)
			throw new Error("scripted engine is closed; cannot restart");
		if (this.#current) return;
		await this.listen(this.#port);
	}

	async close(): Promise<void> {
		if (this.#closed) return;
		this.#closed = true;
		this.#current = undefined;
		for (const waiter of this.#connectionWaiters) {
			waiter.wait.fail(
				`scripted engine closed while waiting for ${waiter.wait.describe}`,
			);
		}
		for (const client of this.#wss.clients) client.terminate();
		await Promise.all(this.connections.map((c) => c.closed));
		await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
		await Promise.all(
			this.#servers.map(
				(server) =>
					new Promise<void>((resolve) => {
						server.close(() => resolve());
						server.closeAllConnections();
					}),
			),
		);
	}

	#onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
		if (this.#closed) {
			socket.destroy();
			return;
		}
		this.#wss.handleUpgrade(req, socket, head, (ws) => {
			const index = this.connections.length;
			const url = new URL(req.url ?? "/", this.url);
			const offered = req.headers["sec-websocket-protocol"];
			const protocols = offered
				? offered
						.split(",")
						.map((p) => p.trim())
						.filter(Boolean)
				: [];
			const connection = new ScriptedConnection(
				index,
				ws,
				url,
				protocols,
				this.#defaultsFor(index),
			);
			this.connections.push(connection);
			for (const waiter of this.#connectionWaiters) {
				if (waiter.index === index) waiter.wait.resolve(connection);
			}
		});
	}

	#defaultsFor(index: number): ConnectionDefaults {
		const runnerId = this.#opts.runnerId ?? "runner-1";
		return {
			runnerId: typeof runnerId === "function" ? runnerId(index) : runnerId,
			runnerLostThreshold: this.#opts.runnerLostThreshold ?? 15_000,
			autoInit: this.#opts.autoInit ?? true,
			pingIntervalMs: this.#opts.pingIntervalMs,
			recordHistory: this.#opts.recordHistory ?? true,
		};
	}
}
