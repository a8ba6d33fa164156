/**
 * `ws` adapted to the runner's uplink, which sends and receives thousands of small frames a second:
 *
 * - **Writes are batched per event-loop turn.** `ws` writes every frame as it is sent: one `write` system call
 *   per frame, which on a busy loop costs more than building the responses. The socket is corked at the first
 *   send of a turn and uncorked in `setImmediate` (after the turn's I/O callbacks and microtasks): the same
 *   frames, in the same order, in one `writev`. A lone frame on an idle loop waits only for the end of the turn.
 * - **Binary frames arrive as `Buffer`s.** Asked for `binaryType = "arraybuffer"`, the socket keeps ws's
 *   `"nodebuffer"`: a view of the bytes as received instead of a copy into a new `ArrayBuffer` per frame. The
 *   uplink reads any `ArrayBufferView` and copies what it keeps.
 */
import type { Socket } from "node:net";
import type { WebSocket as WsWebSocket } from "ws";

type WsConstructor = typeof WsWebSocket;

export function wsForUplink(Base: WsConstructor): WsConstructor {
	class UplinkWebSocket extends Base {
		#corked = false;

		override send(...args: unknown[]): void {
			if (!this.#corked) this.#cork();
			(super.send as (...a: unknown[]) => void)(...args);
		}

		#cork(): void {
			// `_socket` is ws's (long-stable, undocumented) handle on the TCP socket; without one, send as ws does.
			const socket = (this as unknown as { _socket?: Socket })._socket;
			if (!socket || this.readyState !== Base.OPEN) return;
			socket.cork();
			this.#corked = true;
			setImmediate(() => {
				this.#corked = false;
				socket.uncork();
			});
		}
	}
	const binaryType = Object.getOwnPropertyDescriptor(
		Base.prototype,
		"binaryType",
	);
	if (binaryType?.get && binaryType.set) {
		const { get, set } = binaryType;
		Object.defineProperty(UplinkWebSocket.prototype, "binaryType", {
			configurable: true,
			get,
			set(this: WsWebSocket, type: string) {
				set.call(this, type === "arraybuffer" ? "nodebuffer" : type);
			},
		});
	}
	return UplinkWebSocket;
}
