/**
 * Reconnect delays with full jitter: attempt n (1-based) waits a uniformly random time in
 * [0, min(max, base * 2^(n-1))], so clients dropped together (a runner or engine restart) spread out instead of
 * coming back as one storm.
 */
export interface ReconnectDelays {
	/** The ceiling of the first retry's delay (ms). Default 500. */
	baseMs?: number;
	/** The ceiling of any retry's delay (ms). Default 15000. */
	maxMs?: number;
}

export const DEFAULT_RECONNECT_BASE_MS = 500;
export const DEFAULT_RECONNECT_MAX_MS = 15_000;

export function fullJitterDelay(
	attempt: number,
	delays: ReconnectDelays = {},
	random: () => number = Math.random,
): number {
	const base = delays.baseMs ?? DEFAULT_RECONNECT_BASE_MS;
	const max = delays.maxMs ?? DEFAULT_RECONNECT_MAX_MS;
	const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
	return Math.floor(random() * ceiling);
}
