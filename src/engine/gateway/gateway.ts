/**
 * The engine's gateway (spec §8): clients reach actors over HTTP and WebSocket, the gateway tunnels the traffic
 * to the actor's runner as `ToClientTunnelMessage`s and routes the runner's `ToServerTunnelMessage`s back by
 * request id. One gateway per engine: a random 4-byte gateway id, a random 4-byte id per in-flight request.
 *
 * Messages to a runner that is not connected are dropped, as the real engine does (spec §8.5).
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type * as protocol from "@rivetkit/engine-runner-protocol";
import { WebSocketServer } from "ws";
import { closeFrameFor } from "../errors.ts";
import type { ActorRecord } from "../storage/types.ts";
import { type ActorDirectory, ActorWatch } from "./actor-watch.ts";
import { type ActorTarget, isForeignActorId } from "./addressing.ts";
import { GatewayError } from "./gateway-error.ts";
import {
	type GatewayOptions,
	MAX_REQUEST_BODY_BYTES,
	type ResolvedGatewayOptions,
	resolveGatewayOptions,
} from "./gateway-options.ts";
import { proxyHttp } from "./http-proxy.ts";
import { ProxiedWebSocket } from "./websocket-proxy.ts";

/** What the gateway needs from the engine. */
export interface GatewayDeps {
	actors: ActorDirectory;
	/** The connected socket of a runner, if any. */
	link(
		runnerId: string,
	): { send(message: protocol.ToClient): void } | undefined;
	options?: GatewayOptions;
}

/** An in-flight request: where the runner's messages for its request id go. */
export interface TunnelRoute {
	onMessage(kind: protocol.ToServerTunnelMessageKind): void;
	onGatewayClose(): void;
}

/** Headers a WebSocket upgrade carries that mean nothing past the gateway. */
const UPGRADE_ONLY_HEADERS = new Set([
	"connection",
	"upgrade",
	"sec-websocket-key",
	"sec-websocket-version",
	"sec-websocket-extensions",
]);

/** How often a request for an actor whose runner is not connected checks for it again. */
const RUNNER_LINK_POLL_MS = 50;

export class Gateway {
	readonly options: ResolvedGatewayOptions;
	readonly watch: ActorWatch;
	readonly gatewayId: ArrayBuffer;
	readonly #gatewayU32: number;
	readonly #deps: GatewayDeps;
	readonly #routes = new Map<number, TunnelRoute>();
	/** Hibernatable sockets by actor: listed in StartActor and garbage-collected. */
	readonly #hibernatable = new Map<string, Set<ProxiedWebSocket>>();
	readonly #delays = new Set<() => void>();
	readonly #wss: WebSocketServer;
	readonly #gcTimer: ReturnType<typeof setInterval>;
	#closed = false;

	constructor(deps: GatewayDeps) {
		this.#deps = deps;
		this.options = resolveGatewayOptions(deps.options);
		this.watch = new ActorWatch(deps.actors);
		const id = crypto.getRandomValues(new Uint8Array(4));
		this.gatewayId = id.buffer as ArrayBuffer;
		this.#gatewayU32 = new DataView(this.gatewayId).getUint32(0, true);
		this.#wss = new WebSocketServer({
			noServer: true,
			maxPayload: MAX_REQUEST_BODY_BYTES,
			// Guard answers `rivet` whatever was offered (a client that did not offer it then fails).
			handleProtocols: () => "rivet",
		});
		// Also when none was offered, which `handleProtocols` is not asked about.
		this.#wss.on("headers", (headers) => {
			if (
				!headers.some((h) =>
					h.toLowerCase().startsWith("sec-websocket-protocol:"),
				)
			)
				headers.push("Sec-WebSocket-Protocol: rivet");
		});
		this.#gcTimer = setInterval(() => {
			const now = Date.now();
			for (const sockets of [...this.#hibernatable.values()])
				for (const socket of [...sockets])
					socket.collect(now, this.options.hibernationAckTimeoutMs);
		}, this.options.hibernationGcIntervalMs);
		this.#gcTimer.unref?.();
	}

	/** HTTP to an actor. */
	fetch(request: Request, target: ActorTarget): Promise<Response> {
		return proxyHttp(this, request, target);
	}

	/** A WebSocket upgrade to an actor: accepted at once, then proxied. */
	upgrade(
		request: IncomingMessage,
		socket: Duplex,
		head: Buffer,
		target: ActorTarget,
	): void {
		const headers = new Map<string, string>();
		for (const [name, value] of Object.entries(request.headers)) {
			if (value === undefined || UPGRADE_ONLY_HEADERS.has(name)) continue;
			headers.set(name, Array.isArray(value) ? value.join(", ") : value);
		}
		this.#wss.handleUpgrade(request, socket, head, (client) => {
			if (this.#closed) {
				client.close(1001, "ws.going_away");
				return;
			}
			if (target.byHeaders) {
				// Guard's header addressing is for HTTP; it accepts such an upgrade, then closes it.
				const frame = closeFrameFor("guard", "websocket_not_supported");
				client.close(frame.code, frame.reason);
				return;
			}
			new ProxiedWebSocket(this, client, target, headers).start();
		});
	}

	/** The engine saved a change of this actor. */
	onActorChange(actorId: string): void {
		this.watch.changed(actorId);
	}

	/** StartActor's `hibernatingRequests`: sockets the gateway kept open while the actor slept. */
	hibernatingRequests(actorId: string): protocol.HibernatingRequest[] {
		const out: protocol.HibernatingRequest[] = [];
		for (const socket of this.#hibernatable.get(actorId) ?? []) {
			if (!socket.hibernating || socket.requestId === undefined) continue;
			out.push({
				gatewayId: this.gatewayId,
				requestId: u32Bytes(socket.requestId),
			});
		}
		return out;
	}

	/**
	 * The actor once it is Ready and its runner's socket is attached. After an engine restart an actor's record
	 * still names its runner, which may not have reconnected yet: anything sent to it now would be dropped (a
	 * WebSocket open then waits out its whole open timeout), so wait for the link as for an actor not yet ready.
	 */
	async readyAndLinked(
		actorId: string,
		timeoutMs: number,
	): Promise<ActorRecord> {
		if (isForeignActorId(actorId))
			throw new GatewayError(
				"datacenter",
				"not_found",
				"The provided datacenter does not exist.",
				400,
			);
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const actor = await this.watch.ready(
				actorId,
				Math.max(0, deadline - Date.now()),
			);
			if (actor.runnerId !== null && this.#deps.link(actor.runnerId))
				return actor;
			if (Date.now() >= deadline)
				throw new GatewayError(
					"guard",
					"actor_ready_timeout",
					`Actor ${actorId} was not ready within ${timeoutMs} ms: its runner is not connected`,
					504,
					true,
				);
			// The registry has no attach event for the gateway: poll, bounded by the deadline.
			await this.delay(RUNNER_LINK_POLL_MS);
			if (this.#closed)
				throw new GatewayError(
					"guard",
					"service_unavailable",
					"Engine closing",
					503,
				);
		}
	}

	/** Registers an in-flight request under a fresh random id. */
	open(route: TunnelRoute): number {
		let id: number;
		do id = crypto.getRandomValues(new Uint32Array(1))[0] as number;
		while (this.#routes.has(id));
		this.#routes.set(id, route);
		return id;
	}

	release(requestId: number): void {
		this.#routes.delete(requestId);
	}

	track(socket: ProxiedWebSocket): void {
		let set = this.#hibernatable.get(socket.actorId);
		if (!set) {
			set = new Set();
			this.#hibernatable.set(socket.actorId, set);
		}
		set.add(socket);
	}

	untrack(socket: ProxiedWebSocket): void {
		const set = this.#hibernatable.get(socket.actorId);
		set?.delete(socket);
		if (set?.size === 0) this.#hibernatable.delete(socket.actorId);
	}

	sendToRunner(
		runnerId: string,
		requestId: number,
		messageIndex: number,
		messageKind: protocol.ToClientTunnelMessageKind,
	): void {
		this.#deps.link(runnerId)?.send({
			tag: "ToClientTunnelMessage",
			val: {
				messageId: {
					gatewayId: this.gatewayId,
					requestId: u32Bytes(requestId),
					messageIndex,
				},
				messageKind,
			},
		});
	}

	/** A `ToServerTunnelMessage` from any runner: routed by request id (the real gateway checks nothing else). */
	handleRunnerMessage(message: protocol.ToServerTunnelMessage): void {
		const { gatewayId, requestId } = message.messageId;
		if (
			gatewayId.byteLength !== 4 ||
			requestId.byteLength !== 4 ||
			new DataView(gatewayId).getUint32(0, true) !== this.#gatewayU32
		)
			return;
		this.#routes
			.get(new DataView(requestId).getUint32(0, true))
			?.onMessage(message.messageKind);
	}

	/** A timer the gateway can cancel on close (retry backoff). */
	delay(ms: number): Promise<void> {
		return new Promise((resolve) => {
			const done = (): void => {
				clearTimeout(timer);
				this.#delays.delete(done);
				resolve();
			};
			const timer = setTimeout(done, ms);
			this.#delays.add(done);
		});
	}

	/** Ends every in-flight request and socket, clears every timer. */
	close(): void {
		if (this.#closed) return;
		this.#closed = true;
		clearInterval(this.#gcTimer);
		for (const done of [...this.#delays]) done();
		this.watch.close();
		for (const route of [...this.#routes.values()]) route.onGatewayClose();
		this.#routes.clear();
		for (const client of this.#wss.clients) client.terminate();
		this.#wss.close();
	}
}

function u32Bytes(value: number): ArrayBuffer {
	const buffer = new ArrayBuffer(4);
	new DataView(buffer).setUint32(0, value, true);
	return buffer;
}
