/** What a connection has received, in brief, for error messages: counts per tag and the last tags. */

const RECENT_TAGS_KEPT = 12;

export class FrameTally {
	readonly #counts = new Map<string, number>();
	readonly #recent: string[] = [];

	count(tag: string): void {
		this.#counts.set(tag, (this.#counts.get(tag) ?? 0) + 1);
		this.#recent.push(tag);
		if (this.#recent.length > RECENT_TAGS_KEPT) this.#recent.shift();
	}

	/** e.g. "received 3 frames (ToServerInit×1, ToServerEvents×2); last tags [ToServerInit, …]" */
	describe(frameCount: number): string {
		const counts = [...this.#counts]
			.map(([tag, n]) => `${tag}×${n}`)
			.join(", ");
		return `received ${frameCount} frames (${counts || "none decoded"}); last tags [${this.#recent.join(", ")}]`;
	}
}
