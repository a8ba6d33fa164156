/**
 * Reconnect scheduling: while the runner is disconnected, which endpoint it dials next and when, and how long it
 * may stay away before the engine counts it as lost.
 *
 * Each lost socket moves to the next endpoint (round robin, endpoints.ts) and dials it after a backoff delay
 * (backoff.ts). A handshake starts the backoff's stable-uptime window and clears the endpoints' refusals. The lost
 * timer runs from the first disconnect until a handshake: past the engine's `runnerLostThreshold` the engine has
 * given our actors away, and the lifecycle stops them here too.
 */
import { ReconnectBackoff, type ReconnectUrgency } from "./backoff.ts";
import type { ResolvedConfig } from "./config.ts";
import { type Endpoint, EndpointRotation } from "./endpoints.ts";
import type { Logger } from "./log.ts";
import type { TimerSet } from "./timers.ts";

export interface ReconnectActions {
	/** Opens a socket to the current endpoint. */
	dial(): void;
	/** Disconnected for `thresholdMs`: the engine has given our actors away. */
	lost(thresholdMs: number): void;
}

export class ReconnectScheduler {
	readonly #log: Logger;
	readonly #timers: TimerSet;
	readonly #actions: ReconnectActions;
	readonly #endpoints: EndpointRotation;
	readonly #backoff: ReconnectBackoff;

	constructor(
		config: ResolvedConfig,
		timers: TimerSet,
		actions: ReconnectActions,
	) {
		this.#log = config.log;
		this.#timers = timers;
		this.#actions = actions;
		this.#endpoints = new EndpointRotation(config.endpoints);
		// One backoff round per pass over the list: N endpoints that are all down are not dialled in a tight loop.
		this.#backoff = new ReconnectBackoff(
			config.raw.reconnect,
			Math.random,
			this.#endpoints.size,
		);
	}

	/** The endpoint the runner is connected or connecting to, or will dial next. */
	get endpoint(): Endpoint {
		return this.#endpoints.current;
	}

	get endpointCount(): number {
		return this.#endpoints.size;
	}

	/** Has another endpoint not refused the runner since the last handshake? Then a refusal is not fatal yet. */
	get othersMayAccept(): boolean {
		return this.#endpoints.othersMayAccept;
	}

	/** The current endpoint refused the runner (auth, namespace, protocol). */
	refused(): void {
		this.#endpoints.refused();
	}

	/** The handshake completed at `now`: the runner is not lost, and earlier refusals no longer count. */
	connected(now: number): void {
		this.#timers.clear("lost");
		this.#backoff.ready(now);
		this.#endpoints.accepted();
	}

	/**
	 * The socket is gone: starts the lost timer (if the engine gave a threshold and it is not running yet), moves
	 * to the next endpoint and dials it after the backoff delay.
	 */
	schedule(urgency: ReconnectUrgency, lostThresholdMs: number): void {
		this.#armLostTimer(lostThresholdMs);
		const next = this.#endpoints.advance();
		const delay = this.#backoff.next(urgency, Date.now());
		this.#log.info(
			{ delayMs: delay, attempt: this.#backoff.attempt, next: next.endpoint },
			"reconnect scheduled",
		);
		this.#timers.set("reconnect", delay, () => this.#actions.dial());
	}

	/** The runner is shutting down: no redial, and nothing left to be lost. */
	cancel(): void {
		this.#timers.clear("reconnect");
		this.#timers.clear("lost");
	}

	#armLostTimer(thresholdMs: number): void {
		// Running already: the runner has been away since an earlier disconnect, the clock keeps counting from it.
		if (thresholdMs <= 0 || this.#timers.has("lost")) return;
		this.#timers.set("lost", thresholdMs, () =>
			this.#actions.lost(thresholdMs),
		);
	}
}
