/**
 * The gateway's copy of every message it sent to a hibernatable WebSocket and the runner has not acked yet
 * (spec §8.4). Acks are cumulative under wrapping-u16 order; after hibernation the rest is republished with the
 * original indexes. Too old (ack timeout) or too big (128 MiB / 65535 messages) → the socket is closed.
 */
export interface BufferedMessage {
	index: number;
	data: Buffer;
	binary: boolean;
	sentAt: number;
}

export const PENDING_LIMIT_BYTES = 128 * 1024 * 1024;
export const PENDING_LIMIT_MESSAGES = 65535;

/** `a` is at or before `b` on the u16 ring (the gateway's `wrapping_lte`). */
export function atOrBefore(a: number, b: number): boolean {
	return a === b || (b - a + 0x1_0000) % 0x1_0000 < 32767;
}

export class HibernationBuffer {
	#messages: BufferedMessage[] = [];
	#head = 0;
	#bytes = 0;

	get size(): number {
		return this.#messages.length - this.#head;
	}

	get bytes(): number {
		return this.#bytes;
	}

	/** False when the limit is reached: the caller closes the socket. */
	push(message: BufferedMessage): boolean {
		this.#messages.push(message);
		this.#bytes += message.data.byteLength;
		return (
			this.size <= PENDING_LIMIT_MESSAGES && this.#bytes <= PENDING_LIMIT_BYTES
		);
	}

	/** Drops every message with index ≤ `index` (wrapping); returns how many were dropped. */
	ack(index: number): number {
		let dropped = 0;
		while (this.#head < this.#messages.length) {
			const first = this.#messages[this.#head] as BufferedMessage;
			if (!atOrBefore(first.index, index)) break;
			this.#bytes -= first.data.byteLength;
			this.#head++;
			dropped++;
		}
		if (this.#head > 1024 && this.#head * 2 > this.#messages.length) {
			this.#messages = this.#messages.slice(this.#head);
			this.#head = 0;
		}
		return dropped;
	}

	/** Send time of the oldest unacked message, if any. */
	oldestSentAt(): number | undefined {
		return this.#messages[this.#head]?.sentAt;
	}

	/** Unacked messages in index order, for the republish after hibernation. */
	unacked(): BufferedMessage[] {
		return this.#messages.slice(this.#head);
	}
}
