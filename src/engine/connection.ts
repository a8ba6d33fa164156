import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import * as protocol from "@rivetkit/engine-runner-protocol";
import type { WebSocket } from "ws";
import type { ActorLifecycle } from "./actor-lifecycle.ts";
import { closeFrameFor } from "./errors.ts";
import type { EngineObserver } from "./inspector/engine-observer.ts";
import {
	DEFAULT_NAMESPACE,
	MAX_TUNNEL_PAYLOAD_BYTES,
	PROTOCOL_VERSION,
	type ResolvedEngineOptions,
} from "./options.ts";
import { toServerV6AsV7 } from "./protocol-v6.ts";
import type { RunnerLink, RunnerRegistry } from "./runner-registry.ts";
import type { EngineStorage } from "./storage/types.ts";

export interface ConnectionContext {
	options: ResolvedEngineOptions;
	/** Runs a KV request for an actor already checked to belong to this runner. */
	kv: (
		actorId: string,
		data: protocol.KvRequestData,
	) => protocol.KvResponseData;
	storage: EngineStorage;
	runners: RunnerRegistry;
	actors: ActorLifecycle;
	/** The gateway's side of the tunnel: every `ToServerTunnelMessage`. */
	tunnel?: (message: protocol.ToServerTunnelMessage) => void;
	/** The inspector's history: sockets, commands, events, pongs, KV writes. */
	observer?: EngineObserver;
	/** true once the engine is closing: frames are no longer served (their effects would outlive the storage). */
	closing?: () => boolean;
}

/** The token a WebSocket client offered as subprotocol `rivet_token.<t>` (first one wins, as in guard). */
export function offeredToken(request: IncomingMessage): string | undefined {
	const header = request.headers["sec-websocket-protocol"];
	const offered = (Array.isArray(header) ? header.join(",") : (header ?? ""))
		.split(",")
		.map((p) => p.trim());
	return offered
		.find((p) => p.startsWith("rivet_token."))
		?.slice("rivet_token.".length);
}

/** Constant-time token check; `undefined` means "no token configured". */
export function tokenError(
	expected: string | undefined,
	given: string | undefined,
): "missing" | "wrong" | null {
	if (expected === undefined) return null;
	if (given === undefined) return "missing";
	const a = Buffer.from(expected);
	const b = Buffer.from(given);
	return a.length === b.length && timingSafeEqual(a, b) ? null : "wrong";
}

/** The runner protocol versions `/runners/connect` serves, as the real engine 2.3.19 does. */
const SERVED_PROTOCOL_VERSIONS = [6, PROTOCOL_VERSION];

const asBytes = (data: unknown): Uint8Array =>
	Array.isArray(data)
		? new Uint8Array(Buffer.concat(data as Buffer[]))
		: data instanceof ArrayBuffer
			? new Uint8Array(data)
			: new Uint8Array(data as Buffer);

/**
 * One `/runners/connect` socket, already upgraded with subprotocol `rivet` (spec §2.3): auth, query and namespace
 * checks, the 5 s wait for `ToServerInit`, then the frame loop. Every failure is a close frame, never an HTTP error.
 */
export function serveRunnerSocket(
	ws: WebSocket,
	request: IncomingMessage,
	ctx: ConnectionContext,
): void {
	const { options, runners, actors, storage } = ctx;
	let closed = false;
	let runnerId: string | undefined;
	let lastPongTs = Date.now();
	let pingTimer: ReturnType<typeof setTimeout> | undefined;
	let initTimer: ReturnType<typeof setTimeout> | undefined;

	const closeWith = (group: string, code: string): void => {
		if (closed) return;
		closed = true;
		const frame = closeFrameFor(group, code);
		options.log(`runner socket closed: ${frame.code} ${frame.reason}`);
		ws.close(frame.code, frame.reason);
	};
	const send = (message: protocol.ToClient): void => {
		if (!closed && ws.readyState === ws.OPEN)
			ws.send(protocol.encodeToClient(message));
		if (message.tag === "ToClientCommands") ctx.observer?.commands(message.val);
	};
	const link: RunnerLink = { send, evict: () => closeWith("ws", "eviction") };

	ws.on("close", (code, reason) => {
		closed = true;
		const runner = runnerId === undefined ? undefined : runners.get(runnerId);
		ctx.observer?.runnerClosed(runner, code, reason.toString());
		clearTimeout(initTimer);
		clearTimeout(pingTimer);
		if (runnerId !== undefined) runners.detach(runnerId, link, Date.now());
	});
	ws.on("error", () => {
		// A close event follows; nothing else to do.
	});

	// Auth is checked by guard's routing, before the handler looks at the URL.
	const auth = tokenError(options.token, offeredToken(request));
	if (auth === "missing") {
		closeWith("guard", "missing_header");
		return;
	}
	if (auth === "wrong") {
		closeWith("api", "forbidden");
		return;
	}

	const url = new URL(request.url ?? "/", "http://engine");
	const versionText = url.searchParams.get("protocol_version");
	const namespace = url.searchParams.get("namespace");
	const runnerKey = url.searchParams.get("runner_key");
	if (
		versionText === null ||
		!/^\d{1,5}$/.test(versionText) ||
		Number(versionText) > 65535
	) {
		closeWith("ws", "invalid_url");
		return;
	}
	if (namespace === null || runnerKey === null) {
		closeWith("ws", "invalid_url");
		return;
	}
	if (namespace !== DEFAULT_NAMESPACE) {
		closeWith("namespace", "not_found");
		return;
	}
	const version = Number(versionText);
	const frameBytes = (data: unknown): Uint8Array =>
		version === PROTOCOL_VERSION
			? asBytes(data)
			: toServerV6AsV7(asBytes(data));

	initTimer = setTimeout(
		() => closeWith("ws", "timed_out_waiting_for_init"),
		options.initTimeoutMs,
	);

	const schedulePing = (): void => {
		pingTimer = setTimeout(
			() => {
				const now = Date.now();
				if (now - lastPongTs > options.pingTimeoutMs) {
					closeWith("core", "internal_error");
					return;
				}
				send({ tag: "ToClientPing", val: { ts: BigInt(now) } });
				schedulePing();
			},
			// The real engine adds 0–127 ms of jitter; short test intervals get proportionally less.
			options.pingIntervalMs +
				Math.floor(
					Math.random() * Math.min(128, options.pingIntervalMs / 4 + 1),
				),
		);
	};

	const handleInit = (init: protocol.ToServerInit): void => {
		const now = Date.now();
		const runner = runners.resolve(namespace, runnerKey, init, now);
		runnerId = runner.runnerId;
		storage.transaction(() => {
			for (const [name, actorName] of init.prepopulateActorNames ?? []) {
				storage.putActorName(
					namespace,
					name,
					validJsonOr(actorName.metadata, "{}"),
				);
			}
		});
		send({
			tag: "ToClientInit",
			val: {
				runnerId: runner.runnerId,
				metadata: {
					runnerLostThreshold: BigInt(options.runnerLostThresholdMs),
					actorStopThreshold: BigInt(options.actorStopThresholdMs),
					serverlessDrainGracePeriod: null,
				},
			},
		});
		const missed = actors.replayCommands(runner.runnerId);
		if (missed.length > 0) send({ tag: "ToClientCommands", val: missed });
		runners.attach(runner.runnerId, link);
		options.log(
			`runner ${runner.runnerId} (${runner.name}, key ${runnerKey}) connected`,
		);
		ctx.observer?.runnerConnected(runner);
		lastPongTs = now;
		schedulePing();
		actors.allocatePending(now);
	};

	const handleFrame = (message: protocol.ToServer, id: string): void => {
		switch (message.tag) {
			case "ToServerInit":
				return; // Only the first init of a connection counts.
			case "ToServerEvents": {
				ctx.observer?.events(message.val);
				actors.handleEvents(id, message.val);
				return;
			}
			case "ToServerAckCommands": {
				actors.ackCommands(id, message.val);
				return;
			}
			case "ToServerStopping":
				if (runners.drain(id, Date.now())) actors.onRunnerDraining(id);
				return;
			case "ToServerPong":
				lastPongTs = Date.now();
				runners.pong(id, lastPongTs);
				ctx.observer?.pong(id, message.val.ts, lastPongTs);
				return;
			case "ToServerKvRequest": {
				const { actorId, requestId, data } = message.val;
				const refusal = actors.kvRefusal(actorId, id);
				const response: protocol.KvResponseData = refusal
					? { tag: "KvErrorResponse", val: { message: refusal } }
					: ctx.kv(actorId, data);
				if (!refusal) ctx.observer?.kv(actorId, data);
				send({
					tag: "ToClientKvResponse",
					val: { requestId, data: response },
				});
				return;
			}
			case "ToServerTunnelMessage":
				if (tunnelPayloadBytes(message.val) > MAX_TUNNEL_PAYLOAD_BYTES) {
					closeWith("ws", "invalid_packet");
					return;
				}
				ctx.tunnel?.(message.val);
				return;
		}
	};

	ws.on("message", (data, isBinary) => {
		if (closed || ctx.closing?.()) return;
		if (runnerId === undefined) {
			clearTimeout(initTimer);
			if (!isBinary) {
				closeWith("ws", "invalid_initial_packet");
				return;
			}
			// Version negotiation is decoding the first frame: v7, and v6 (read as v7), decode here.
			if (!SERVED_PROTOCOL_VERSIONS.includes(version)) {
				closeWith("ws", "invalid_packet");
				return;
			}
			let first: protocol.ToServer;
			try {
				first = protocol.decodeToServer(frameBytes(data));
			} catch {
				closeWith("ws", "invalid_packet");
				return;
			}
			if (first.tag !== "ToServerInit") {
				closeWith("ws", "invalid_initial_packet");
				return;
			}
			handleInit(first.val);
			return;
		}
		if (!isBinary) return; // Text frames after init are ignored, as in the real engine.
		let message: protocol.ToServer;
		try {
			message = protocol.decodeToServer(frameBytes(data));
		} catch {
			options.log(`runner ${runnerId}: undecodable frame ignored`);
			return;
		}
		try {
			handleFrame(message, runnerId);
		} catch (error) {
			options.log(
				`runner ${runnerId}: ${error instanceof Error ? error.message : String(error)}`,
			);
			closeWith("core", "internal_error");
		}
	});
}

function validJsonOr(text: string, fallback: string): string {
	try {
		JSON.parse(text);
		return text;
	} catch {
		return fallback;
	}
}

function tunnelPayloadBytes(message: protocol.ToServerTunnelMessage): number {
	const kind = message.messageKind;
	switch (kind.tag) {
		case "ToServerResponseStart":
			return kind.val.body?.byteLength ?? 0;
		case "ToServerResponseChunk":
			return kind.val.body.byteLength;
		case "ToServerWebSocketMessage":
			return kind.val.data.byteLength;
		default:
			return 0;
	}
}
