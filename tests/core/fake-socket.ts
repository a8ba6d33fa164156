/**
 * A fake WHATWG WebSocket for unit tests: the test plays the engine, synchronously.
 */
import * as protocol from "@rivetkit/engine-runner-protocol";
import { vi } from "vitest";
import {
	type Platform,
	Runner,
	type RunnerConfig,
} from "../../src/core/index.ts";

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

	/** How many messages of this tag the runner sent. */
	sentCount(tag: protocol.ToServer["tag"]): number {
		return this.sent.filter((m) => m.tag === tag).length;
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

/** A Runner on a {@link fakePlatform}, not started; `latest()` is the socket it opened last. */
export function fakeRunner(overrides: Partial<RunnerConfig> = {}): {
	runner: Runner;
	sockets: FakeSocket[];
	latest: () => FakeSocket;
} {
	const { platform, sockets } = fakePlatform();
	const runner = new Runner({
		version: 1,
		endpoint: "http://127.0.0.1:6420",
		namespace: "default",
		runnerName: "test",
		totalSlots: 10,
		platform,
		...overrides,
	});
	const latest = (): FakeSocket => {
		const socket = sockets.at(-1);
		if (!socket) throw new Error("no socket");
		return socket;
	};
	return { runner, sockets, latest };
}

/** A {@link fakeRunner}, started, its socket opened and answered with `ToClientInit`. */
export async function connectedRunner(
	overrides: Partial<RunnerConfig> = {},
): Promise<ReturnType<typeof fakeRunner>> {
	const fake = fakeRunner(overrides);
	await fake.runner.start();
	fake.latest().open();
	fake.latest().init();
	return fake;
}

/**
 * The socket drops (1006); with fake timers, the runner redials after a 10 ms backoff and the new socket is
 * opened and answered with `ToClientInit` as `runnerId`.
 */
export async function dropAndReconnect(
	latest: () => FakeSocket,
	runnerId = "runner-1",
): Promise<void> {
	latest().closed(1006, "");
	await vi.advanceTimersByTimeAsync(10);
	latest().open();
	latest().init(runnerId);
}

/** Lets queued microtasks (event flushes, promise callbacks) run. */
export async function settle(rounds = 5): Promise<void> {
	for (let i = 0; i < rounds; i++) await Promise.resolve();
}
