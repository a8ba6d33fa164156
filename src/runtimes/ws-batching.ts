/**
 * `ws` with the frames sent during one event-loop turn written to the TCP socket together.
 *
 * `ws` writes every frame as it is sent: one `write` system call per frame. A runner answering a burst of
 * tunnelled requests sends one frame per response, so on a busy loop the system calls cost more than building the
 * responses. Corking the socket at the first send of a turn and uncorking it in `setImmediate` (after the turn's
 * I/O callbacks and microtasks) sends the same frames, in the same order, in one `writev`; a lone frame on an idle
 * loop waits only for the end of the current turn.
 */
import type { Socket } from "node:net";
import type { WebSocket as WsWebSocket } from "ws";

type WsConstructor = typeof WsWebSocket;

/** A `ws` WebSocket class whose `send` batches the turn's frames into one socket write. */
export function batchingWebSocket(Base: WsConstructor): WsConstructor {
	class BatchingWebSocket extends Base {
		#corked: Socket | undefined;

		override send(...args: unknown[]): void {
			if (this.#corked === undefined) this.#cork();
			(super.send as (...a: unknown[]) => void)(...args);
		}

		#cork(): void {
			// `_socket` is ws's (long-stable, undocumented) handle on the TCP socket; without one, send as ws does.
			const socket = (this as unknown as { _socket?: Socket })._socket;
			if (!socket || this.readyState !== Base.OPEN) return;
			socket.cork();
			this.#corked = socket;
			setImmediate(() => {
				this.#corked = undefined;
				socket.uncork();
			});
		}
	}
	return BatchingWebSocket;
}
