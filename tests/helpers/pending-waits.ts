/**
 * Bounded waits for the scripted engine: each wait has a description (for the error message), a
 * deadline, and is settled exactly once, by success, timeout or cancellation.
 */

export const DEFAULT_WAIT_TIMEOUT_MS = 5000;

export interface PendingWait<T> {
	readonly describe: string;
	/** Resolves the wait and clears its deadline. No effect once settled. */
	resolve(value: T): void;
	/** Rejects with `Error(message)` and clears its deadline. No effect once settled. */
	fail(message: string): void;
	readonly settled: boolean;
}

/**
 * Creates a wait whose promise rejects after `timeoutMs` with a message built by `onTimeout` at
 * that moment (so it can list what was received so far).
 */
export function createPendingWait<T>(
	describe: string,
	timeoutMs: number,
	onTimeout: (wait: PendingWait<T>) => string,
	onSettle: (wait: PendingWait<T>) => void,
): { wait: PendingWait<T>; promise: Promise<T> } {
	let settled = false;
	let resolvePromise!: (value: T) => void;
	let rejectPromise!: (error: Error) => void;
	const promise = new Promise<T>((res, rej) => {
		resolvePromise = res;
		rejectPromise = rej;
	});
	const wait: PendingWait<T> = {
		describe,
		get settled() {
			return settled;
		},
		resolve(value) {
			if (settled) return;
			settled = true;
			clearTimeout(timer);
			onSettle(wait);
			resolvePromise(value);
		},
		fail(message) {
			if (settled) return;
			settled = true;
			clearTimeout(timer);
			onSettle(wait);
			rejectPromise(new Error(message));
		},
	};
	const timer = setTimeout(() => wait.fail(onTimeout(wait)), timeoutMs);
	return { wait, promise };
}
