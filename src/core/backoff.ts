/**
 * Reconnect delays (pure): full-jitter exponential backoff with a cap. The attempt count resets only after a
 * connection stayed up for a stable-uptime window, so a connection that opens and dies at once keeps backing off.
 *
 * With several endpoints (a cluster), the runner moves to the next endpoint on each failure: inside a round of
 * the list that move waits only a short jittered delay (the "soon" ceiling), and each full round of failures
 * backs off exponentially, the round count taking the place of the attempt count. N endpoints that are all down
 * are therefore dialled at most N times per backoff delay, never in a tight loop. With one endpoint every failure
 * ends a round: the plain exponential backoff.
 */

export type ReconnectUrgency = "soon" | "backoff" | "long";

export interface BackoffOptions {
	/** First backoff ceiling (attempt 0), ms. Default 1000. */
	baseDelayMs?: number;
	/** Cap on any delay, ms. Default 30000. */
	maxDelayMs?: number;
	/** Ceiling for a "reconnect soon" delay (engine going away), ms. Default 1000. */
	soonDelayMs?: number;
	/** A connection must stay ready this long before the attempt count resets, ms. Default 10000. */
	stableUptimeMs?: number;
}

export class ReconnectBackoff {
	readonly #base: number;
	readonly #cap: number;
	readonly #soon: number;
	readonly #stable: number;
	readonly #random: () => number;
	readonly #endpoints: number;
	#attempt = 0;
	#readySince: number | undefined;

	constructor(
		options: BackoffOptions = {},
		random: () => number = Math.random,
		endpoints = 1,
	) {
		this.#base = options.baseDelayMs ?? 1000;
		this.#cap = options.maxDelayMs ?? 30_000;
		this.#soon = options.soonDelayMs ?? 1000;
		this.#stable = options.stableUptimeMs ?? 10_000;
		this.#random = random;
		this.#endpoints = Math.max(1, Math.floor(endpoints));
	}

	/** Consecutive failed attempts since the last stable connection. */
	get attempt(): number {
		return this.#attempt;
	}

	/** The connection became ready (handshake complete) at `now`. */
	ready(now: number): void {
		this.#readySince = now;
	}

	/** The connection was lost at `now`: returns the delay before the next attempt. */
	next(urgency: ReconnectUrgency, now: number): number {
		if (
			this.#readySince !== undefined &&
			now - this.#readySince >= this.#stable
		)
			this.#attempt = 0;
		this.#readySince = undefined;
		const attempt = this.#attempt++;
		if (urgency === "soon") return Math.floor(this.#random() * this.#soon);
		// Not the end of a round: the next endpoint has not failed yet, try it soon.
		if ((attempt + 1) % this.#endpoints !== 0)
			return Math.floor(this.#random() * this.#soon);
		const round = Math.floor(attempt / this.#endpoints);
		const ceiling = Math.min(this.#cap, this.#base * 2 ** Math.min(round, 30));
		// "long" (engine overloaded): never less than half the cap.
		if (urgency === "long")
			return Math.floor(this.#cap / 2 + (this.#random() * this.#cap) / 2);
		return Math.floor(this.#random() * ceiling);
	}
}
