/**
 * The one shutdown path (DESIGN §4). Every way a runner ends (user, signal, eviction, fatal refusal) is a
 * `request(mode, reason)`. The first request records the shutdown before anything else, so every close seen
 * after it is "ours"; later requests join it and may escalate drain → immediate, never the reverse.
 *
 *   drain:      send `ToServerStopping`; close once no actor is left or the drain budget runs out
 *   immediate:  close the socket now (a CONNECTING one included)
 *
 * Either way `finish` ends it, once: every timer cleared, actors still running abandoned, pending KV and tunnel
 * work failed, the report resolved. Waiting is event-driven, never polling.
 */
import type { ActorTable } from "./actors.ts";
import type { ResolvedConfig } from "./config.ts";
import { type EdgerunnerError, RunnerShutdownError } from "./errors.ts";
import type { KvClient } from "./kv.ts";
import type { TimerSet } from "./timers.ts";
import type { TunnelPort } from "./tunnel/port.ts";
import type { Uplink } from "./uplink.ts";

export type ShutdownMode = "drain" | "immediate";

/** The runner states that belong to a shutdown: from the first request on, the runner is in one of them. */
export type ShutdownPhase = "draining" | "closing" | "stopped";

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
	/** Their ids, so an app can find what the engine will reschedule or report lost. */
	abandonedActorIds: string[];
	/**
	 * Set when the socket closed during a drain before the runner closed it: the engine's close (e.g. `ws.eviction`
	 * when its drain window ran out before it sent every `StopActor`, docs/deploy.md engine fault 1), or 1006 when
	 * the connection dropped.
	 */
	closedBy?: { code: number; reason: string };
	durationMs: number;
	/** Set when the runner ended because of an error (a fatal refusal by the engine). */
	error?: EdgerunnerError;
}

/** What a shutdown closes, stops and fails; the lifecycle lends it its parts. */
export interface ShutdownParts {
	config: ResolvedConfig;
	timers: TimerSet;
	uplink: Uplink;
	actors: ActorTable;
	kv: KvClient;
	tunnel: TunnelPort;
	/** Was the runner never started? Then there is no socket to close: it stops at once. */
	neverStarted(): boolean;
	/** A runner shutting down never redials: stops the reconnect and lost timers. */
	cancelReconnect(): void;
	/** Called once, after the report has resolved (the user's `onShutdown`). */
	onStopped(): void;
}

/** The reason of our own close frame (spec §6.1); the engine never sends it. */
const RUNNER_SHUTDOWN_REASON = "pegboard.runner_shutdown";
/** How long to wait for the close event of our own close before finishing anyway. */
const CLOSE_WAIT_MS = 5000;

interface RunningShutdown {
	mode: ShutdownMode;
	reason: string;
	error: EdgerunnerError | undefined;
	startedAt: number;
	/** `actors.stoppedCleanly` when the shutdown began: the report counts only the actors it stopped. */
	stoppedBefore: number;
	report: Promise<ShutdownReport>;
	resolve: (report: ShutdownReport) => void;
}

export class ShutdownPath {
	readonly #parts: ShutdownParts;
	#running: RunningShutdown | undefined;
	#phase: ShutdownPhase | undefined;
	/** Actors stopped by `abandonRemaining` before the socket went. */
	readonly #abandoned: string[] = [];
	/** Resolves with the report when the runner has stopped, whoever asked for the shutdown. */
	readonly closed: Promise<ShutdownReport>;
	#resolveClosed!: (report: ShutdownReport) => void;

	constructor(parts: ShutdownParts) {
		this.#parts = parts;
		this.closed = new Promise((resolve) => {
			this.#resolveClosed = resolve;
		});
	}

	/** Has a shutdown been requested? From then on every close of the socket is part of it. */
	get begun(): boolean {
		return this.#running !== undefined;
	}

	/** The runner's state once a shutdown has begun; undefined before. */
	get phase(): ShutdownPhase | undefined {
		return this.#phase;
	}

	/** A drain was requested and not escalated (it stays true while the drained socket closes). */
	get isDraining(): boolean {
		return this.#running?.mode === "drain";
	}

	/**
	 * Idempotent: a later request joins the running shutdown and may escalate it to immediate. Resolves with the
	 * report once the runner has stopped.
	 */
	request(
		mode: ShutdownMode,
		reason: string,
		error?: EdgerunnerError,
	): Promise<ShutdownReport> {
		const { config, timers, uplink, actors } = this.#parts;
		const running = this.#running;
		if (running) {
			if (mode === "immediate" && running.mode === "drain") {
				running.mode = "immediate";
				config.log.warn(
					{ reason: running.reason },
					"shutdown escalated to immediate",
				);
				if (this.#phase === "draining") this.#closeSocket();
			}
			return running.report;
		}
		let resolve!: (report: ShutdownReport) => void;
		const report = new Promise<ShutdownReport>((r) => {
			resolve = r;
		});
		// Draining needs a socket that completed the handshake: the engine must hear ToServerStopping.
		const canDrain = mode === "drain" && uplink.ready;
		const shutdown: RunningShutdown = {
			mode: canDrain ? "drain" : "immediate",
			reason,
			error,
			startedAt: Date.now(),
			stoppedBefore: actors.stoppedCleanly,
			report,
			resolve,
		};
		this.#running = shutdown; // first, so every close from here on is "ours"
		this.#parts.cancelReconnect();
		config.log.info(
			{ reason, mode: shutdown.mode, actors: actors.size },
			"shutting down",
		);
		if (this.#parts.neverStarted()) {
			this.finish();
			return report;
		}
		if (!canDrain) {
			this.#closeSocket();
			return report;
		}
		this.#phase = "draining";
		uplink.send({ tag: "ToServerStopping", val: null });
		timers.set("drain", config.drainTimeoutMs, () => {
			config.log.warn(
				{ remaining: actors.size },
				"drain budget exhausted: closing anyway",
			);
			this.#closeSocket();
		});
		void actors.whenEmpty().then(() => {
			if (this.#phase === "draining") this.#closeSocket();
		});
		return report;
	}

	/**
	 * Actors still running when the socket is about to close or be dropped (immediate, the drain budget ran out, the
	 * engine went silent) get Stopped(Error), sent while the socket may still carry it: the engine then applies
	 * their crash policy at once, where otherwise it waits to declare the runner lost (or, seen on the Rivet Engine
	 * under `npm run faults`, leaves them stuck).
	 */
	abandonRemaining(): void {
		const { actors } = this.#parts;
		if (actors.size > 0)
			this.#abandoned.push(...actors.stopAllLocally("shutdown").actorIds);
		actors.flush(); // Stopped events before the close frame
	}

	/** Closes the engine socket (CONNECTING sockets included) and waits for its close event, bounded. */
	#closeSocket(): void {
		if (this.#phase === "closing" || this.#phase === "stopped") return;
		this.#phase = "closing";
		const { config, timers, uplink } = this.#parts;
		timers.clear("drain");
		this.abandonRemaining();
		if (!uplink.current) {
			this.finish();
			return;
		}
		uplink.close(1000, RUNNER_SHUTDOWN_REASON);
		timers.set("closeWait", CLOSE_WAIT_MS, () => {
			config.log.warn({}, "no close event: finishing shutdown");
			uplink.retire(1000, RUNNER_SHUTDOWN_REASON);
			this.finish();
		});
	}

	/**
	 * Ends the running shutdown (the socket closed, or there was none); does nothing before a request or twice.
	 * `engineClose` is the close the engine sent, if the socket closed before our own close.
	 */
	finish(engineClose?: { code: number; reason: string }): void {
		const shutdown = this.#running;
		if (!shutdown || this.#phase === "stopped") return;
		const closedBy = this.#phase === "draining" ? engineClose : undefined;
		this.#phase = "stopped";
		const { config, timers, uplink, actors, kv, tunnel } = this.#parts;
		timers.close();
		uplink.retire(1000, RUNNER_SHUTDOWN_REASON);
		const actorIds = [
			...this.#abandoned,
			...actors.stopAllLocally("forget").actorIds,
		];
		const abandoned = actorIds.length;
		const error = new RunnerShutdownError("request");
		kv.failAll(new RunnerShutdownError("KV request"), true);
		tunnel.shutdown(error);
		const report: ShutdownReport = {
			reason: shutdown.reason,
			mode: shutdown.mode,
			actorsStopped: actors.stoppedCleanly - shutdown.stoppedBefore,
			actorsAbandoned: abandoned,
			abandonedActorIds: actorIds,
			durationMs: Date.now() - shutdown.startedAt,
		};
		if (closedBy) report.closedBy = closedBy;
		if (shutdown.error) report.error = shutdown.error;
		if (closedBy && abandoned > 0) {
			config.log.warn(
				{ ...closedBy, abandoned: actorIds },
				"engine closed the socket mid-drain",
			);
		}
		config.log.info(
			{ ...report, error: report.error?.message },
			"runner stopped",
		);
		shutdown.resolve(report);
		this.#resolveClosed(report);
		this.#parts.onStopped();
	}
}
