/** A list that keeps only its newest `capacity` entries, so a long-running engine's history stays bounded. */
export class BoundedLog<T> {
	readonly #entries: T[] = [];
	readonly #capacity: number;

	constructor(capacity: number) {
		this.#capacity = capacity;
	}

	push(entry: T): void {
		this.#entries.push(entry);
		if (this.#entries.length > this.#capacity)
			this.#entries.splice(0, this.#entries.length - this.#capacity);
	}

	/** Oldest first. */
	list(): T[] {
		return [...this.#entries];
	}
}
