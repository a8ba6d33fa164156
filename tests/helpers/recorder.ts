/** Something a test records into (callbacks, events), with a bounded wait for a condition on what it holds. */
export class Recorder {
	readonly #waiters = new Set<() => void>();

	/** Applies `change`, then re-checks every pending {@link until}. */
	record(change: () => void): void {
		change();
		for (const check of [...this.#waiters]) check();
	}

	/** Resolves once `predicate` holds (checked now and after each record); rejects after `timeoutMs`. */
	until(
		what: string,
		predicate: () => boolean,
		timeoutMs = 10_000,
	): Promise<void> {
		return new Promise((resolve, reject) => {
			const check = () => {
				if (!predicate()) return;
				this.#waiters.delete(check);
				clearTimeout(timer);
				resolve();
			};
			const timer = setTimeout(() => {
				this.#waiters.delete(check);
				reject(new Error(`timed out waiting for ${what}`));
			}, timeoutMs);
			this.#waiters.add(check);
			check();
		});
	}
}
