/**
 * Named timers with one owner: the lifecycle creates one `TimerSet`, lends it to the parts that need timers, and
 * clears every timer in one place on shutdown.
 */
export class TimerSet {
	readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
	#closed = false;

	/** (Re)arms the timer `name`; a closed set arms nothing. */
	set(name: string, ms: number, fn: () => void): void {
		if (this.#closed) return;
		this.clear(name);
		const handle = setTimeout(() => {
			this.#timers.delete(name);
			fn();
		}, ms);
		this.#timers.set(name, handle);
	}

	has(name: string): boolean {
		return this.#timers.has(name);
	}

	clear(name: string): void {
		const handle = this.#timers.get(name);
		if (handle === undefined) return;
		clearTimeout(handle);
		this.#timers.delete(name);
	}

	/** Clears every timer and refuses new ones. */
	close(): void {
		this.#closed = true;
		for (const handle of this.#timers.values()) clearTimeout(handle);
		this.#timers.clear();
	}

	get size(): number {
		return this.#timers.size;
	}
}
