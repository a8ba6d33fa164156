import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { getRequestListener } from "@hono/node-server";
import { type WebSocket, WebSocketServer } from "ws";
import { ActorLifecycle } from "./actor-lifecycle.ts";
import { serveRunnerSocket } from "./connection.ts";
import { addGatewayCors } from "./cors.ts";
import { closeFrameFor } from "./errors.ts";
import { offeredSubprotocols, resolveTarget } from "./gateway/addressing.ts";
import { Gateway } from "./gateway/gateway.ts";
import { createHttpApi } from "./http-api.ts";
import { EngineObserver } from "./inspector/engine-observer.ts";
import { createInspector, isInspectorPath } from "./inspector/inspector.tsx";
import { runKvRequest } from "./kv.ts";
import { type EngineOptions, resolveOptions } from "./options.ts";
import { RunnerRegistry } from "./runner-registry.ts";
import { openStorage } from "./storage/open.ts";

/** A running dev engine. */
export interface RunningEngine {
	/** `http://host:port`: the runner `endpoint` and the HTTP API base. */
	url: string;
	port: number;
	host: string;
	/** `"memory"` or `"sqlite"`. */
	storage: "memory" | "sqlite";
	/** Closes runner sockets (`1011 ws.going_away`), stops the HTTP server, clears every timer, closes storage. Idempotent. */
	close(): Promise<void>;
}

const RUNNER_CONNECT_PATHS = new Set(["/runners/connect", "/runners/connect/"]);

/**
 * Starts the embedded dev engine: the engine side of the Rivet runner protocol v7 on `/runners/connect`, and the
 * real engine's actor HTTP API, on one port. Rejects if the port is taken or the storage cannot be opened.
 */
export async function startEngine(
	options: EngineOptions = {},
): Promise<RunningEngine> {
	const resolved = resolveOptions(options);
	let gateway: Gateway | undefined;
	const observer = new EngineObserver();
	const notifyUser = resolved.onActorChange;
	resolved.onActorChange = (actor) => {
		gateway?.onActorChange(actor.actor_id);
		observer.onChange(actor.actor_id);
		notifyUser?.(actor);
	};
	const storage = await openStorage(resolved.storage);
	let actors: ActorLifecycle | undefined;
	const runners = new RunnerRegistry(storage, resolved, {
		onGone: (runnerId, reason) => actors?.onRunnerGone(runnerId, reason),
	});
	actors = new ActorLifecycle(storage, resolved, runners);
	const lifecycle = actors;
	const tunnel = new Gateway({
		actors: lifecycle,
		link: (runnerId) => runners.link(runnerId),
		options: resolved.gateway,
	});
	gateway = tunnel;
	lifecycle.hibernatingRequests = (actorId) =>
		tunnel.hibernatingRequests(actorId);
	runners.resume();
	lifecycle.resume();

	const app = createHttpApi({
		options: resolved,
		storage,
		runners,
		actors: lifecycle,
	});
	const inspector = createInspector({
		options: resolved,
		storage,
		runners,
		actors: lifecycle,
		observer,
		gatewayFetch: (request, target) => tunnel.fetch(request, target),
	});
	const server = createServer(
		getRequestListener((request) => {
			const url = new URL(request.url);
			if (isInspectorPath(url.pathname)) return inspector.fetch(request);
			const target = resolveTarget(
				url.pathname + url.search,
				(name) => request.headers.get(name) ?? undefined,
			);
			if (!target) return app.fetch(request);
			return tunnel
				.fetch(request, target)
				.then((response) => addGatewayCors(request, response));
		}),
	);
	// Requests Node's parser refuses (an extension method, a malformed line or header) get the API's error
	// shape too, instead of Node's bare `400` with no body.
	server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
		if (!socket.writable || error.code === "ECONNRESET") {
			socket.destroy();
			return;
		}
		const tooLarge = error.code === "HPE_HEADER_OVERFLOW";
		const body = JSON.stringify({
			group: "api",
			code: "bad_request",
			message: `Request is invalid: ${tooLarge ? "headers too large" : `malformed HTTP request (${error.code ?? "parse error"})`}`,
		});
		socket.end(
			`HTTP/1.1 ${tooLarge ? "431 Request Header Fields Too Large" : "400 Bad Request"}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
		);
	});
	const sockets = new Set<WebSocket>();
	const wss = new WebSocketServer({
		noServer: true,
		maxPayload: resolved.maxMessageBytes,
		// Guard always answers with `rivet`, whatever else was offered (spec §2.1).
		handleProtocols: () => "rivet",
	});
	wss.on("headers", (headers) => {
		if (
			!headers.some((h) =>
				h.toLowerCase().startsWith("sec-websocket-protocol:"),
			)
		) {
			headers.push("Sec-WebSocket-Protocol: rivet");
		}
	});

	// Set when close() begins: a socket upgraded after that would outlive the storage it writes to.
	let closeStarted = false;
	server.on(
		"upgrade",
		(request: IncomingMessage, socket: Duplex, head: Buffer) => {
			if (closeStarted) {
				socket.destroy();
				return;
			}
			const path = (request.url ?? "/").split("?")[0] ?? "/";
			if (path === "/ui/feed") return inspector.upgrade(request, socket, head);
			const target = RUNNER_CONNECT_PATHS.has(path)
				? null
				: resolveTarget(
						request.url ?? "/",
						(name) => request.headers[name]?.toString(),
						offeredSubprotocols(request.headers["sec-websocket-protocol"]),
					);
			if (target) {
				tunnel.upgrade(request, socket, head, target);
				return;
			}
			if (!RUNNER_CONNECT_PATHS.has(path)) {
				socket.end(
					"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
				);
				return;
			}
			wss.handleUpgrade(request, socket, head, (ws) => {
				sockets.add(ws);
				ws.on("close", () => sockets.delete(ws));
				serveRunnerSocket(ws, request, {
					options: resolved,
					storage,
					runners,
					actors: lifecycle,
					kv: (actorId, data) => runKvRequest(storage, actorId, data),
					tunnel: (message) => tunnel.handleRunnerMessage(message),
					observer,
					closing: () => closeStarted,
				});
			});
		},
	);

	try {
		await new Promise<void>((resolve, reject) => {
			server.once("error", reject);
			server.listen(resolved.port, resolved.host, () => {
				server.off("error", reject);
				resolve();
			});
		});
	} catch (error) {
		runners.close();
		lifecycle.close();
		tunnel.close();
		inspector.close();
		storage.close();
		throw error;
	}

	const address = server.address() as AddressInfo;
	const urlHost =
		address.family === "IPv6" ? `[${address.address}]` : address.address;
	let closing: Promise<void> | undefined;

	return {
		url: `http://${urlHost}:${address.port}`,
		port: address.port,
		host: address.address,
		storage: storage.kind,
		close: () => {
			closeStarted = true;
			closing ??= (async () => {
				// Timers first, so nothing fires against a half-closed engine.
				runners.close();
				lifecycle.close();
				tunnel.close();
				inspector.close();
				const socketsClosed = [...sockets].map(
					(ws) =>
						new Promise<void>((resolve) => {
							if (ws.readyState === ws.CLOSED) return resolve();
							ws.once("close", () => resolve());
							const frame = closeFrameFor("ws", "going_away");
							ws.close(frame.code, frame.reason);
							// A peer that never answers the close handshake must not hold close() up.
							// Not unref'd: close() awaits it, and a script whose last await is close() must not exit first.
							setTimeout(() => ws.terminate(), 1000);
						}),
				);
				await Promise.all(socketsClosed);
				wss.close();
				await new Promise<void>((resolve) => {
					server.close(() => resolve());
					server.closeAllConnections();
				});
				storage.close();
			})();
			return closing;
		},
	};
}
