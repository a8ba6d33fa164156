/**
 * Runner → gateway tunnel messages. Sent at once when the engine socket is ready; otherwise kept, in order, and
 * sent after the next `ToClientInit` (spec §8.5: the gateway is addressed by gatewayId, not by connection, so
 * they still arrive). Once something is buffered, later messages queue behind it to keep the order.
 */
import type * as protocol from "@rivetkit/engine-runner-protocol";

export class OutboundTunnel {
	readonly #send: (message: protocol.ToServerTunnelMessage) => boolean;
	#buffer: protocol.ToServerTunnelMessage[] = [];

	constructor(send: (message: protocol.ToServerTunnelMessage) => boolean) {
		this.#send = send;
	}

	get buffered(): number {
		return this.#buffer.length;
	}

	send(message: protocol.ToServerTunnelMessage): void {
		if (this.#buffer.length > 0 || !this.#send(message))
			this.#buffer.push(message);
	}

	/** Sends what was buffered, in order; stops at the first message the socket refuses. */
	flush(): void {
		const buffer = this.#buffer;
		let sent = 0;
		while (sent < buffer.length) {
			const message = buffer[sent];
			if (message === undefined || !this.#send(message)) break;
			sent++;
		}
		this.#buffer = sent === buffer.length ? [] : buffer.slice(sent);
	}

	clear(): void {
		this.#buffer = [];
	}
}
