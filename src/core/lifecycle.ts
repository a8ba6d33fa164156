/**
 * The runner's state machine and the one shutdown path (DESIGN §4).
 *
 *   idle → connecting → ready ⇄ reconnecting → draining → closing → stopped
 *
 * Every way a runner ends goes through `shutdown(mode, reason)`. The first call sets the state before anything
 * else, so every close seen after it is "ours"; later calls join it and may escalate drain → immediate, never the
 * reverse. Every timer lives in one `TimerSet`, cleared in one place (`#finish`). Waiting is event-driven.
 */
import type * as protocol from "@rivetkit/engine-runner-protocol";
import type { ActorTable } from "./actors.ts";
import { ReconnectBackoff, type ReconnectUrgency } from "./backoff.ts";
import { classifyClose } from "./close-policy.ts";
import type { ResolvedConfig } from "./config.ts";
import { type Endpoint, EndpointRotation } from "./endpoints.ts";
import {
	EdgerunnerError,
	FatalCloseError,
	RunnerLostError,
	RunnerShutdownError,
} from "./errors.ts";
import type { KvClient } from "./kv.ts";
import { errorFields } from "./log.ts";
import type { TimerSet } from "./timers.ts";
import type { TunnelPort } from "./tunnel/port.ts";
import { type Connection, Uplink } from "./uplink.ts";

export type RunnerState =
	| "idle"
	| "connecting"
	| "ready"
	| "reconnecting"
	| "draining"
	| "closing"
	| "stopped";
export type ShutdownMode = "drain" | "immediate";

/** How a runner ended; `shutdown()` and `runner.closed` resolve with it. */
export interface ShutdownReport {
	/** `"user"`, `"signal:SIGTERM"`, `"evicted"`, `"fatal:api.forbidden"`, … */
	reason: string;
	/** The mode the shutdown finished in (a drain escalated to immediate reports `"immediate"`). */
	mode: ShutdownMode;
	/** Actors that stopped with `StopCode.Ok` during the shutdown. */
	actorsStopped: number;
	/** Actors still running when the socket closed: stopped locally, the engine was not told. */
	actorsAbandoned: number;
	durationMs: number;
	/** Set when the runner ended because of an error (a fatal refusal by the engine). */
	error?: EdgerunnerError;
}

/** The parts the lifecycle drives on connect, loss and shutdown. */
export interface LifecycleParts {
	actors: ActorTable;
	kv: KvClient;
	tunnel: TunnelPort;
	/** Every frame other than init and ping, in arrival order. */
	route(message: protocol.ToClient): void;
}

const RUNNER_SHUTDOWN_REASON = "pegboard.runner_shutdown";
/** Native WebSocket clients may only send 1000 or 3000–4999: our own "abandon this socket" code. */
const CLOSE_RETIRED = 4000;
const CLOSE_WAIT_MS = 5000;

interface Shutdown {
	mode: ShutdownMode;
	reason: string;
	error: EdgerunnerError | undefined;
	startedAt: number;
	stoppedBefore: number;
	report: Promise<ShutdownReport>;
	resolve: (report: ShutdownReport) => void;
}

export class Lifecycle {
	readonly #config: ResolvedConfig;
	readonly #parts: LifecycleParts;
	/** Every timer of the runner; cleared in one place, `#finish`. */
	readonly timers: TimerSet;
	readonly uplink: Uplink;
	readonly #backoff: ReconnectBackoff;
	readonly #endpoints: EndpointRotation;
	#state: RunnerState = "idle";
	#shutdown: Shutdown | undefined;
	#runnerId: string | undefined;
	#metadata: protocol.ProtocolMetadata | undefined;
	readonly closed: Promise<ShutdownReport>;
	#resolveClosed!: (report: ShutdownReport) => void;

	constructor(config: ResolvedConfig, timers: TimerSet, parts: LifecycleParts) {
		this.#config = config;
		this.timers = timers;
		this.#parts = parts;
		this.#endpoints = new EndpointRotation(config.endpoints);
		this.#backoff = new ReconnectBackoff(
			config.raw.reconnect,
			Math.random,
			this.#endpoints.size,
		);
		this.closed = new Promise((resolve) => {
			this.#resolveClosed = resolve;
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
	}

	get state(): RunnerState {
		return this.#state;
	}

	get runnerId(): string | undefined {
		return this.#runnerId;
	}

	/** The endpoint the runner is connected or connecting to, or will dial next. */
	get endpoint(): Endpoint {
		return this.#endpoints.current;
	}

	get protocolMetadata(): protocol.ProtocolMetadata | undefined {
		return this.#metadata;
	}

	get isDraining(): boolean {
		return this.#shutdown?.mode === "drain";
	}

	start(): void {
		if (this.#state !== "idle")
			throw new EdgerunnerError(
				"runner_already_started",
				`Runner.start() called in state "${this.#state}"; a runner starts once: create a new Runner instead.`,
			);
		this.#state = "connecting";
		this.#connect();
	}

	#connect(): void {
		if (this.#shutdown) return;
		const { endpoint, index, url } = this.#endpoints.current;
		this.#config.log.info(
			{ endpoint, index, of: this.#endpoints.size, url },
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
		this.timers.clear("lost");
		this.#backoff.ready(Date.now());
		this.#endpoints.accepted();
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
		if (this.#state === "connecting" || this.#state === "reconnecting")
			this.#state = "ready";
		const events = actors.takeUnacked();
		if (events.length > 0)
			this.uplink.send({ tag: "ToServerEvents", val: events });
		kv.flush();
		tunnel.flush();
		this.#config.log.info(
			{
				runnerId: init.runnerId,
				endpoint: this.#endpoints.current.endpoint,
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
			shuttingDown: this.#shutdown !== undefined,
			initialized: conn.initialized,
			othersMayAccept: this.#endpoints.othersMayAccept,
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
		const { endpoint } = this.#endpoints.current;
		switch (decision.action) {
			case "shutdown":
				this.#config.log.info(
					{ code, reason },
					"engine socket closed during shutdown",
				);
				this.#finish();
				return;
			case "evicted":
				this.#config.log.warn(
					{ code, reason, endpoint },
					"evicted by the engine: shutting down, not reconnecting to any endpoint",
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
				this.#endpoints.refused();
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
		this.uplink.retire(CLOSE_RETIRED, reason);
		this.#callUser("onDisconnected", () =>
			this.#config.raw.onDisconnected?.(CLOSE_RETIRED, reason),
		);
		if (this.#shutdown) this.#finish();
		else this.#disconnected("backoff");
	}

	#disconnected(urgency: ReconnectUrgency): void {
		this.#state = "reconnecting";
		this.#parts.kv.connectionLost();
		this.#armLostTimer();
		const next = this.#endpoints.advance();
		const delay = this.#backoff.next(urgency, Date.now());
		this.#config.log.info(
			{ delayMs: delay, attempt: this.#backoff.attempt, next: next.endpoint },
			"reconnect scheduled",
		);
		this.timers.set("reconnect", delay, () => this.#connect());
	}

	#armLostTimer(): void {
		const threshold = Number(this.#metadata?.runnerLostThreshold ?? 0);
		if (threshold <= 0 || this.timers.has("lost")) return;
		this.timers.set("lost", threshold, () => this.#onLost(threshold));
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

	/**
	 * The one shutdown path. Idempotent: a later call joins the running shutdown and may escalate it to
	 * immediate. Resolves with the report once the runner has stopped.
	 */
	shutdown(
		mode: ShutdownMode,
		reason: string,
		error?: EdgerunnerError,
	): Promise<ShutdownReport> {
		const running = this.#shutdown;
		if (running) {
			if (mode === "immediate" && running.mode === "drain") {
				running.mode = "immediate";
				this.#config.log.warn(
					{ reason: running.reason },
					"shutdown escalated to immediate",
				);
				if (this.#state === "draining") this.#closeSocket();
			}
			return running.report;
		}
		let resolve!: (report: ShutdownReport) => void;
		const report = new Promise<ShutdownReport>((r) => {
			resolve = r;
		});
		const canDrain = mode === "drain" && this.uplink.ready;
		const shutdown: Shutdown = {
			mode: canDrain ? "drain" : "immediate",
			reason,
			error,
			startedAt: Date.now(),
			stoppedBefore: this.#parts.actors.stoppedCleanly,
			report,
			resolve,
		};
		this.#shutdown = shutdown; // first, so every close from here on is "ours"
		this.timers.clear("reconnect");
		this.timers.clear("lost");
		this.#config.log.info(
			{ reason, mode: shutdown.mode, actors: this.#parts.actors.size },
			"shutting down",
		);
		if (this.#state === "idle") {
			this.#finish();
			return report;
		}
		if (!canDrain) {
			this.#closeSocket();
			return report;
		}
		this.#state = "draining";
		this.uplink.send({ tag: "ToServerStopping", val: null });
		this.timers.set("drain", this.#config.drainTimeoutMs, () => {
			this.#config.log.warn(
				{ remaining: this.#parts.actors.size },
				"drain budget exhausted: closing anyway",
			);
			this.#closeSocket();
		});
		void this.#parts.actors.whenEmpty().then(() => {
			if (this.#state === "draining") this.#closeSocket();
		});
		return report;
	}

	/** Closes the engine socket (CONNECTING sockets included) and waits for its close event, bounded. */
	#closeSocket(): void {
		if (this.#state === "closing" || this.#state === "stopped") return;
		this.#state = "closing";
		this.timers.clear("drain");
		this.#parts.actors.flush(); // Stopped events before the close frame
		if (!this.uplink.current) {
			this.#finish();
			return;
		}
		this.uplink.close(1000, RUNNER_SHUTDOWN_REASON);
		this.timers.set("closeWait", CLOSE_WAIT_MS, () => {
			this.#config.log.warn(
				{},
				"no close event from the engine socket: finishing shutdown",
			);
			this.uplink.retire(1000, RUNNER_SHUTDOWN_REASON);
			this.#finish();
		});
	}

	#finish(): void {
		const shutdown = this.#shutdown;
		if (!shutdown || this.#state === "stopped") return;
		this.#state = "stopped";
		this.timers.close();
		this.uplink.retire(1000, RUNNER_SHUTDOWN_REASON);
		const { actors, kv, tunnel } = this.#parts;
		const { count: abandoned } = actors.stopAllLocally("forget");
		const error = new RunnerShutdownError("request");
		kv.failAll(new RunnerShutdownError("KV request"), true);
		tunnel.shutdown(error);
		const report: ShutdownReport = {
			reason: shutdown.reason,
			mode: shutdown.mode,
			actorsStopped: actors.stoppedCleanly - shutdown.stoppedBefore,
			actorsAbandoned: abandoned,
			durationMs: Date.now() - shutdown.startedAt,
		};
		if (shutdown.error) report.error = shutdown.error;
		this.#config.log.info(
			{ ...report, error: report.error?.message },
			"runner stopped",
		);
		shutdown.resolve(report);
		this.#resolveClosed(report);
		this.#callUser("onShutdown", () => this.#config.raw.onShutdown?.());
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
