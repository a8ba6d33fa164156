/**
 * The termination logic every adapter shares (DESIGN §4, §6): the first platform termination event drains within
 * its budget, a second one escalates to immediate, and once the runner has stopped the process exits with
 * 128 + the signal number where the platform can exit. Adapters only translate their platform's hooks into
 * `Platform.onTerminate` events.
 */
import type { ShutdownReport } from "./lifecycle.ts";
import type { Platform, TerminateEvent } from "./platform.ts";
import type { Runner } from "./runner.ts";

/** What an adapter's `startRunner` accepts besides the runner config. */
export interface TerminationOptions {
	/** Install the platform's termination hooks. Default true; R's `noAutoShutdown: true` means false. */
	signals?: boolean;
	/**
	 * Longest drain after the first termination event, ms; after it the shutdown escalates to immediate. The
	 * effective budget is the smallest of this, the event's own budget and the config's `drainTimeoutMs`.
	 */
	drainTimeoutMs?: number;
	/** Exit the process after a termination-triggered shutdown. Default true; `false` leaves the process running. */
	exit?: boolean;
}

/** POSIX signal numbers of the signals adapters listen for: the exit code is 128 + n. */
const SIGNAL_NUMBERS: Readonly<Record<string, number>> = {
	SIGHUP: 1,
	SIGINT: 2,
	SIGQUIT: 3,
	SIGTERM: 15,
};

/** The exit code after a shutdown triggered by `name`: 128 + the signal number (143 for SIGTERM), else 0. */
export function exitCodeFor(name: string): number {
	const n = SIGNAL_NUMBERS[name];
	return n === undefined ? 0 : 128 + n;
}

/** The shutdown report's reason for a termination event: `"signal:SIGTERM"`, `"signal:preShutdown"`, … */
export function terminationReason(name: string): string {
	return `signal:${name}`;
}

export interface Termination {
	/** Removes the hooks (the runner keeps running). Idempotent. */
	dispose(): void;
	/** Resolves with the report and the exit code once a termination event has shut the runner down. */
	readonly terminated: Promise<{ report: ShutdownReport; exitCode: number }>;
}

/**
 * Connects the platform's termination hooks to `runner.shutdown`. Returns a no-op termination when the platform
 * has no hooks or they are disabled. Hooks are removed once the runner has stopped, however it stopped.
 */
export function installTermination(
	runner: Runner,
	platform: Platform,
	options: TerminationOptions = {},
): Termination {
	let resolveTerminated!: (value: {
		report: ShutdownReport;
		exitCode: number;
	}) => void;
	const terminated = new Promise<{ report: ShutdownReport; exitCode: number }>(
		(resolve) => {
			resolveTerminated = resolve;
		},
	);
	const enabled =
		options.signals !== false && runner.config.noAutoShutdown !== true;
	if (!enabled || !platform.onTerminate) {
		return { dispose: () => {}, terminated };
	}
	let first: TerminateEvent | undefined;
	let budgetTimer: ReturnType<typeof setTimeout> | undefined;
	let unsubscribe: (() => void) | undefined;
	const dispose = (): void => {
		clearTimeout(budgetTimer);
		budgetTimer = undefined;
		unsubscribe?.();
		unsubscribe = undefined;
	};

	const onTerminate = (event: TerminateEvent): void => {
		if (first) {
			// A second event while draining: stop waiting for actors.
			void runner.shutdown({
				mode: "immediate",
				reason: terminationReason(first.name),
			});
			return;
		}
		first = event;
		const budget = Math.min(
			event.budgetMs ?? Number.POSITIVE_INFINITY,
			options.drainTimeoutMs ?? Number.POSITIVE_INFINITY,
		);
		const reason = terminationReason(event.name);
		if (Number.isFinite(budget)) {
			budgetTimer = setTimeout(() => {
				void runner.shutdown({ mode: "immediate", reason });
			}, budget);
		}
		void runner.shutdown({ mode: "drain", reason }).then((report) => {
			dispose();
			const exitCode = exitCodeFor(event.name);
			resolveTerminated({ report, exitCode });
			if (options.exit !== false) platform.exit?.(exitCode);
		});
	};
	unsubscribe = platform.onTerminate(onTerminate);
	// However the runner ends (evicted, fatal, user), the hooks go with it.
	void runner.closed.then(() => {
		if (!first) dispose();
	});
	return { dispose, terminated };
}
