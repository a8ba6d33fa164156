/**
 * A fake WHATWG WebSocket for unit tests: the test plays the engine, synchronously.
 */
import * as protocol from "@rivetkit/engine-runner-protocol";
import type { Platform } from "../../src/core/index.ts";

export class FakeSocket extends EventTarget {
	readyState = 0;
	binaryType: BinaryType = "blob";
	readonly sent: protocol.ToServer[] = [];
	readonly closeCalls: { code?: number; reason?: string }[] = [];
	readonly url: string;
	readonly protocols: string[];

	constructor(url: string, protocols?: string | string[]) {
		super();
		this.url = url;
		this.protocols =
			protocols === undefined
				? []
				: Array.isArray(protocols)
					? protocols
					: [protocols];
	}

	send(data: Uint8Array): void {
		if (this.readyState !== 1)
			throw new Error("send on a socket that is not open");
		this.sent.push(protocol.decodeToServer(data));
	}

	close(code?: number, reason?: string): void {
		this.closeCalls.push({ code, reason });
		if (this.readyState >= 2) return;
		this.readyState = 2;
	}

	// The engine's side:

	open(): void {
		this.readyState = 1;
		this.dispatchEvent(new Event("open"));
	}

	receive(message: protocol.ToClient): void {
		const bytes = protocol.encodeToClient(message);
		this.receiveRaw(
			bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
		);
	}

	receiveRaw(data: unknown): void {
		this.dispatchEvent(new MessageEvent("message", { data }));
	}

	/** The close event (after our close(), or the engine closing, or a drop with 1006). */
	closed(code = 1006, reason = ""): void {
		this.readyState = 3;
		this.dispatchEvent(
			Object.assign(new Event("close"), {
				code,
				reason,
				wasClean: code !== 1006,
			}),
		);
	}

	/** Completes the close handshake the runner started. */
	finishClose(): void {
		const last = this.closeCalls.at(-1);
		this.closed(last?.code ?? 1005, last?.reason ?? "");
	}

	tags(): string[] {
		return this.sent.map((m) => m.tag);
	}

	events(): protocol.EventWrapper[] {
		return this.sent.flatMap((m) => (m.tag === "ToServerEvents" ? m.val : []));
	}

	// Engine helpers

	init(runnerId = "runner-1", runnerLostThreshold = 15_000n): void {
		this.receive({
			tag: "ToClientInit",
			val: {
				runnerId,
				metadata: {
					runnerLostThreshold,
					actorStopThreshold: 1_800_000n,
					serverlessDrainGracePeriod: null,
				},
			},
		});
	}

	startActor(actorId: string, generation = 0, index = 0n): void {
		this.commands([startCommand(actorId, generation, index)]);
	}

	stopActor(actorId: string, generation = 0, index = 1n): void {
		this.commands([
			{
				checkpoint: { actorId, generation, index },
				inner: { tag: "CommandStopActor", val: null },
			},
		]);
	}

	commands(list: protocol.CommandWrapper[]): void {
		this.receive({ tag: "ToClientCommands", val: list });
	}
}

export function startCommand(
	actorId: string,
	generation = 0,
	index = 0n,
): protocol.CommandWrapper {
	return {
		checkpoint: { actorId, generation, index },
		inner: {
			tag: "CommandStartActor",
			val: {
				config: { name: "counter", key: null, createTs: 1n, input: null },
				hibernatingRequests: [],
			},
		},
	};
}

/** A platform whose sockets are FakeSockets, recorded in order. */
export function fakePlatform(): { platform: Platform; sockets: FakeSocket[] } {
	const sockets: FakeSocket[] = [];
	class Ctor extends FakeSocket {
		constructor(url: string, protocols?: string | string[]) {
			super(url, protocols);
			sockets.push(this);
		}
	}
	return {
		platform: {
			name: "fake",
			WebSocket: Ctor as unknown as Platform["WebSocket"],
		},
		sockets,
	};
}

/** Lets queued microtasks (event flushes, promise callbacks) run. */
export async function settle(rounds = 5): Promise<void> {
	for (let i = 0; i < rounds; i++) await Promise.resolve();
}
