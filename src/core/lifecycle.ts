/**
 * The runner's state machine (DESIGN §4): it dials the engine, does the handshake, routes frames, and decides
 * what every close of the engine socket means (close-policy.ts).
 *
 *   idle → connecting → ready ⇄ reconnecting → draining → closing → stopped
 *
 * It wires two parts that each own a piece of it: `ReconnectScheduler` (reconnect.ts) decides which endpoint to
 * dial next and when, and runs the lost timer; `ShutdownPath` (shutdown.ts) is the one way a runner ends and owns
 * the states from `draining` on. Every timer lives in one `TimerSet`, cleared in one place (`ShutdownPath.finish`).
 */
import type * as protocol from "@rivetkit/engine-runner-protocol";
import type { ActorTable } from "./actors.ts";
import type { ReconnectUrgency } from "./backoff.ts";
import { classifyClose } from "./close-policy.ts";
import type { ResolvedConfig } from "./config.ts";
import type { Endpoint } from "./endpoints.ts";
import { EdgerunnerError, FatalCloseError, RunnerLostError } from "./errors.ts";
import type { KvClient } from "./kv.ts";
import { errorFields } from "./log.ts";
import { ReconnectScheduler } from "./reconnect.ts";
import {
	type ShutdownMode,
	ShutdownPath,
	type ShutdownPhase,
	type ShutdownReport,
} from "./shutdown.ts";
import type { TimerSet } from "./timers.ts";
import type { TunnelPort } from "./tunnel/port.ts";
import { type Connection, Uplink } from "./uplink.ts";

// Re-exported: runner.ts, termination.ts and index.ts import the runner's report from here.
export type { ShutdownMode, ShutdownReport } from "./shutdown.ts";

export type RunnerState =
	| "idle"
	| "connecting"
	| "ready"
	| "reconnecting"
	| "draining"
	| "closing"
	| "stopped";
/** The states before any shutdown; from the first shutdown request on, the state is the shutdown's phase. */
type ConnectionState = Exclude<RunnerState, ShutdownPhase>;

/** The parts the lifecycle drives on connect, loss and shutdown. */
export interface LifecycleParts {
	actors: ActorTable;
	kv: KvClient;
	tunnel: TunnelPort;
	/** Every frame other than init and ping, in arrival order. */
	route(message: protocol.ToClient): void;
}

/** Native WebSocket clients may only send 1000 or 3000–4999: our own "abandon this socket" code. */
const CLOSE_RETIRED = 4000;

export class Lifecycle {
	readonly #config: ResolvedConfig;
	readonly #parts: LifecycleParts;
	/** Every timer of the runner; cleared in one place, `ShutdownPath.finish`. */
	readonly timers: TimerSet;
	readonly uplink: Uplink;
	readonly #reconnect: ReconnectScheduler;
	readonly #shutdownPath: ShutdownPath;
	#connectionState: ConnectionState = "idle";
	#runnerId: string | undefined;
	#metadata: protocol.ProtocolMetadata | undefined;

	constructor(config: ResolvedConfig, timers: TimerSet, parts: LifecycleParts) {
		this.#config = config;
		this.timers = timers;
		this.#parts = parts;
		this.#reconnect = new ReconnectScheduler(config, timers, {
			dial: () => this.#connect(),
			lost: (thresholdMs) => this.#onLost(thresholdMs),
		});
		this.uplink = new Uplink({
			platform: config.platform,
			protocols: config.protocols,
			log: config.log,
			timers: this.timers,
			silenceMs: config.engineSilenceTimeoutMs,
			handlers: {
				onOpen: (conn) => this.#onOpen(conn),
				onMessage: (conn, message) => this.#onMessage(conn, message),
				onInvalidFrame: (conn, error) => {
					config.log.error(
						{ connection: conn.id, code: error.code, error: error.message },
						"invalid frame from the engine",
					);
					this.#abandon(conn, "runner.invalid_frame");
				},
				onClose: (conn, code, reason, current) =>
					this.#onClose(conn, code, reason, current),
				onSilence: (conn) => {
					config.log.warn(
						{ connection: conn.id, silenceMs: config.engineSilenceTimeoutMs },
						"engine silent: reconnecting",
					);
					this.#abandon(conn, "runner.engine_silent");
				},
			},
		});
		this.#shutdownPath = new ShutdownPath({
			config,
			timers,
			uplink: this.uplink,
			actors: parts.actors,
			kv: parts.kv,
			tunnel: parts.tunnel,
			neverStarted: () => this.#connectionState === "idle",
			cancelReconnect: () => this.#reconnect.cancel(),
			onStopped: () =>
				this.#callUser("onShutdown", () => this.#config.raw.onShutdown?.()),
		});
	}

	get state(): RunnerState {
		return this.#shutdownPath.phase ?? this.#connectionState;
	}

	get runnerId(): string | undefined {
		return this.#runnerId;
	}

	/** The endpoint the runner is connected or connecting to, or will dial next. */
	get endpoint(): Endpoint {
		return this.#reconnect.endpoint;
	}

	get protocolMetadata(): protocol.ProtocolMetadata | undefined {
		return this.#metadata;
	}

	get isDraining(): boolean {
		return this.#shutdownPath.isDraining;
	}

	/** Resolves with the report once the runner has stopped. */
	get closed(): Promise<ShutdownReport> {
		return this.#shutdownPath.closed;
	}

	/**
	 * The one shutdown path (shutdown.ts). Idempotent: a later call joins the running shutdown and may escalate it
	 * to immediate. Resolves with the report once the runner has stopped.
	 */
	shutdown(
		mode: ShutdownMode,
		reason: string,
		error?: EdgerunnerError,
	): Promise<ShutdownReport> {
		return this.#shutdownPath.request(mode, reason, error);
	}

	start(): void {
		if (this.state !== "idle")
			throw new EdgerunnerError(
				"runner_already_started",
				`Runner.start() called in state "${this.state}"; a runner starts once: create a new Runner instead.`,
			);
		this.#connectionState = "connecting";
		this.#connect();
	}

	#connect(): void {
		if (this.#shutdownPath.begun) return;
		const { endpoint, index, url } = this.#reconnect.endpoint;
		this.#config.log.info(
			{ endpoint, index, of: this.#reconnect.endpointCount, url },
			"connecting to the engine",
		);
		try {
			this.uplink.connect(url);
		} catch (err) {
			// A constructor that throws (bad URL for this runtime): treat like a failed connection.
			this.#config.log.error(
				errorFields(err),
				"could not open the engine socket",
			);
			this.#disconnected("backoff");
		}
	}

	#onOpen(conn: Connection): void {
		const { initFields } = this.#config;
		this.uplink.sendHandshake({
			tag: "ToServerInit",
			val: {
				name: initFields.name,
				version: initFields.version,
				totalSlots: initFields.totalSlots,
				prepopulateActorNames: initFields.prepopulateActorNames,
				metadata: initFields.metadata,
			},
		});
		this.#config.log.debug(
			{ connection: conn.id },
			"engine socket open, init sent",
		);
	}

	#onMessage(conn: Connection, message: protocol.ToClient): void {
		switch (message.tag) {
			case "ToClientInit":
				this.#onInit(conn, message.val);
				return;
			case "ToClientPing":
				this.uplink.sendHandshake({
					tag: "ToServerPong",
					val: { ts: message.val.ts },
				});
				this.#parts.actors.sweepRetired(
					conn.initialized ? conn.openedAt : undefined,
				);
				return;
			default:
				if (!conn.initialized) {
					// The engine sends ToClientInit first; handled anyway (it is still this engine's command).
					this.#config.log.warn(
						{ connection: conn.id, tag: message.tag },
						"frame before ToClientInit",
					);
				}
				try {
					this.#parts.route(message);
				} catch (err) {
					this.#config.log.error(
						{ tag: message.tag, ...errorFields(err) },
						"handling a frame failed",
					);
				}
		}
	}

	#onInit(conn: Connection, init: protocol.ToClientInit): void {
		if (conn.initialized) {
			this.#config.log.warn(
				{ connection: conn.id },
				"ignoring a second ToClientInit",
			);
			return;
		}
		this.uplink.markInitialized(conn);
		this.#reconnect.connected(Date.now());
		const { actors, kv, tunnel } = this.#parts;
		if (this.#runnerId !== undefined && this.#runnerId !== init.runnerId) {
			// A new identity: the engine no longer counts our actors as ours.
			const { count } = actors.stopAllLocally("forget");
			this.#config.log.warn(
				{ old: this.#runnerId, runnerId: init.runnerId, dropped: count },
				"runner id changed",
			);
		}
		this.#runnerId = init.runnerId;
		this.#metadata = init.metadata;
		// During a shutdown the state stays the shutdown's phase (see `state`).
		this.#connectionState = "ready";
		const events = actors.takeUnacked();
		if (events.length > 0)
			this.uplink.send({ tag: "ToServerEvents", val: events });
		kv.flush();
		tunnel.flush();
		this.#config.log.info(
			{
				runnerId: init.runnerId,
				endpoint: this.#reconnect.endpoint.endpoint,
				resent: events.length,
			},
			"connected to the engine",
		);
		this.#callUser("onConnected", () => this.#config.raw.onConnected?.());
	}

	#onClose(
		conn: Connection,
		code: number,
		reason: string,
		current: boolean,
	): void {
		const decision = classifyClose({
			code,
			reason,
			current,
			shuttingDown: this.#shutdownPath.begun,
			initialized: conn.initialized,
			othersMayAccept: this.#reconnect.othersMayAccept,
		});
		if (decision.action === "ignore") {
			this.#config.log.debug(
				{ connection: conn.id, code, reason },
				"close of a replaced socket ignored",
			);
			return;
		}
		this.#callUser("onDisconnected", () =>
			this.#config.raw.onDisconnected?.(code, reason),
		);
		const { endpoint } = this.#reconnect.endpoint;
		switch (decision.action) {
			case "shutdown":
				this.#config.log.info(
					{ code, reason },
					"engine socket closed during shutdown",
				);
				this.#shutdownPath.finish({ code, reason });
				return;
			case "evicted":
				this.#config.log.warn(
					{ code, reason, endpoint },
					"evicted: shutting down",
				);
				void this.shutdown("immediate", "evicted");
				return;
			case "fatal": {
				const error = new FatalCloseError(decision.cause, code, reason);
				this.#config.log.error(
					{ code: error.code, error: error.message, endpoint },
					"the engine refused the runner",
				);
				void this.shutdown("immediate", `fatal:${decision.cause}`, error);
				return;
			}
			case "refused":
				// Another endpoint has not refused yet: this node's problem until the whole list refuses.
				this.#reconnect.refused();
				this.#config.log.error(
					{ code, reason, endpoint, refusal: decision.cause },
					"an endpoint refused the runner: trying the next",
				);
				this.#disconnected("backoff");
				return;
			case "reconnect":
				this.#config.log.warn(
					{ code, reason, endpoint, urgency: decision.urgency },
					"engine socket closed: reconnecting",
				);
				this.#disconnected(decision.urgency);
		}
	}

	/** We give up on the current socket ourselves (silence, bad frame): close it, count it as a disconnect. */
	#abandon(conn: Connection, reason: string): void {
		if (conn !== this.uplink.current) return;
		// The engine may still read what we send (a one-way stall): tell it which actors stop before dropping it.
		if (this.#shutdownPath.begun) this.#shutdownPath.abandonRemaining();
		this.uplink.retire(CLOSE_RETIRED, reason);
		this.#callUser("onDisconnected", () =>
			this.#config.raw.onDisconnected?.(CLOSE_RETIRED, reason),
		);
		if (this.#shutdownPath.begun) this.#shutdownPath.finish();
		else this.#disconnected("backoff");
	}

	/** The socket is gone outside a shutdown: in-flight KV learns it, the scheduler dials again later. */
	#disconnected(urgency: ReconnectUrgency): void {
		this.#connectionState = "reconnecting";
		this.#parts.kv.connectionLost();
		// No metadata before the first handshake: no threshold, so no lost timer.
		const lostThresholdMs = Number(this.#metadata?.runnerLostThreshold ?? 0);
		this.#reconnect.schedule(urgency, lostThresholdMs);
	}

	/** Disconnected past the engine's threshold: it has given our actors away. Stop them here, once. */
	#onLost(threshold: number): void {
		const { count } = this.#parts.actors.stopAllLocally("lost");
		this.#parts.kv.failAll(new RunnerLostError("KV request"), false);
		this.#config.log.warn(
			{ thresholdMs: threshold, stopped: count },
			"runner lost: actors stopped locally",
		);
	}

	#callUser(name: string, fn: () => void): void {
		try {
			fn();
		} catch (err) {
			this.#config.log.error(
				{ callback: name, ...errorFields(err) },
				"user callback threw",
			);
		}
	}
}
