/**
 * A runner on the fake platform whose callbacks are recorded in order as strings in `calls` (connected,
 * disconnected:code:reason, shutdown, start:id, stop:id); `socket(i)` is the i-th socket it opened.
 */
import type { RunnerConfig } from "../../src/core/index.ts";
import { type FakeSocket, fakeRunner } from "./fake-socket.ts";

export function recordingRunner(overrides: Partial<RunnerConfig> = {}) {
	const calls: string[] = [];
	const { runner, sockets } = fakeRunner({
		onConnected: () => calls.push("connected"),
		onDisconnected: (code, reason) =>
			calls.push(`disconnected:${code}:${reason}`),
		onShutdown: () => calls.push("shutdown"),
		onActorStart: async (id) => {
			calls.push(`start:${id}`);
		},
		onActorStop: async (id) => {
			calls.push(`stop:${id}`);
		},
		reconnect: { baseDelayMs: 1000, maxDelayMs: 30_000, soonDelayMs: 500 },
		...overrides,
	});
	const socket = (i: number): FakeSocket => {
		const s = sockets[i];
		if (!s) throw new Error(`no socket #${i}; ${sockets.length} opened`);
		return s;
	};
	return { runner, sockets, socket, calls };
}

/** A {@link recordingRunner}, started, its first socket opened and answered with `ToClientInit`. */
export async function connectedRecordingRunner(
	overrides: Partial<RunnerConfig> = {},
) {
	const ctx = recordingRunner(overrides);
	await ctx.runner.start();
	ctx.socket(0).open();
	ctx.socket(0).init();
	return ctx;
}
