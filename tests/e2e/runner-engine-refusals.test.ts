/**
 * Our runner against the dev engine when the engine refuses it: a missing or wrong token, and a protocol version
 * the engine does not speak. Each refusal must end the runner with a fatal report after exactly one attempt.
 */
import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import {
	classifyClose,
	FatalCloseError,
	type Runner,
	type RunnerConfig,
	type WebSocketConstructor,
} from "../../src/core/index.ts";
import { type RunningEngine, startEngine } from "../../src/engine/index.ts";
import type { RunnerRecorder } from "../conformance/runner-scenarios.ts";
import { RawRunner } from "../engine/raw-runner.ts";
import { deferCleanups, ourRunner as fastRunner } from "./engine-fixtures.ts";

const defer = deferCleanups();

async function engineWith(token?: string): Promise<RunningEngine> {
	const engine = await startEngine({ port: 0, token });
	defer(() => engine.close());
	return engine;
}

/** A `ws` WebSocket that records every URL it dials, optionally rewriting it first. */
function dialRecorder(rewrite: (url: string) => string = (url) => url) {
	const dialled: string[] = [];
	class RecordingWebSocket extends WebSocket {
		constructor(url: string, protocols?: string | string[]) {
			const target = rewrite(url);
			dialled.push(target);
			super(target, protocols);
		}
	}
	return {
		dialled,
		WebSocket: RecordingWebSocket as unknown as WebSocketConstructor,
	};
}

function ourRunner(
	engine: RunningEngine,
	overrides: Partial<RunnerConfig> = {},
): { runner: Runner; events: RunnerRecorder } {
	// Fast retries: a runner that wrongly reconnects would dial again well within the test.
	return fastRunner(engine, defer, { maxReconnectDelayMs: 20, overrides });
}

describe("token refused", () => {
	it("no token: report fatal:guard.missing_header after one connection attempt, never connected", async () => {
		const engine = await engineWith("s3cret");
		const dial = dialRecorder();
		const { runner, events } = ourRunner(engine, {
			platform: { name: "node", WebSocket: dial.WebSocket },
		});
		await runner.start();
		const report = await runner.closed;
		expect(report.reason).toBe("fatal:guard.missing_header");
		expect(report.error).toBeInstanceOf(FatalCloseError);
		expect((report.error as FatalCloseError).refusal).toBe(
			"guard.missing_header",
		);
		expect(runner.state).toBe("stopped");
		expect(events.connects).toBe(0);
		expect(events.disconnects).toHaveLength(1);
		expect(events.disconnects[0]?.code).toBe(1011);
		expect(events.disconnects[0]?.reason).toMatch(/^guard\.missing_header#/);
		expect(dial.dialled).toHaveLength(1);
	});

	it("wrong token: report fatal:api.forbidden after one connection attempt", async () => {
		const engine = await engineWith("s3cret");
		const dial = dialRecorder();
		const { runner, events } = ourRunner(engine, {
			token: "guessed",
			platform: { name: "node", WebSocket: dial.WebSocket },
		});
		await runner.start();
		const report = await runner.closed;
		expect(report.reason).toBe("fatal:api.forbidden");
		expect(report.error).toBeInstanceOf(FatalCloseError);
		expect(runner.state).toBe("stopped");
		expect(events.connects).toBe(0);
		expect(events.disconnects.map((d) => d.reason.split("#")[0])).toEqual([
			"api.forbidden",
		]);
		expect(dial.dialled).toHaveLength(1);
	});

	it("right token: connects, gets a runner id and is listed by the engine", async () => {
		const engine = await engineWith("s3cret");
		const { runner, events } = ourRunner(engine, { token: "s3cret" });
		await runner.start();
		await events.until("connection", () => events.connects === 1);
		expect(runner.state).toBe("ready");
		expect(runner.runnerId).toEqual(expect.any(String));
		const listed = await fetch(`${engine.url}/runners?namespace=default`, {
			headers: { authorization: "Bearer s3cret" },
		});
		const body = (await listed.json()) as {
			runners: { runner_id: string; connected: boolean }[];
		};
		expect(body.runners).toEqual([
			expect.objectContaining({ runner_id: runner.runnerId, connected: true }),
		]);
		const report = await runner.shutdown(true);
		expect(report.reason).toBe("user");
		expect(report.error).toBeUndefined();
	});
});

describe("wrong protocol version refused", () => {
	it("a raw socket with protocol_version=6 gets 1011 ws.invalid_packet, which the runner's policy calls fatal at init", async () => {
		const engine = await engineWith();
		const socket = new RawRunner(engine.url, {
			query: "protocol_version=6&namespace=default&runner_key=v6",
		});
		defer(() => socket.close());
		await socket.opened;
		expect(socket.ws.protocol).toBe("rivet");
		socket.init();
		const closed = await socket.closed;
		expect(closed.code).toBe(1011);
		expect(closed.reason).toMatch(/^ws\.invalid_packet#[a-z0-9]+$/);
		expect(socket.received).toEqual([]);
		// Exactly this close, before any ToClientInit, is what the runner treats as a refusal for good.
		expect(
			classifyClose({
				...closed,
				shuttingDown: false,
				current: true,
				initialized: false,
			}),
		).toEqual({ action: "fatal", cause: "ws.invalid_packet" });
	});

	it("our runner dialling protocol_version=6 stops with fatal:ws.invalid_packet after one attempt", async () => {
		const engine = await engineWith();
		const dial = dialRecorder((url) =>
			url.replace("protocol_version=7", "protocol_version=6"),
		);
		const { runner, events } = ourRunner(engine, {
			platform: { name: "node", WebSocket: dial.WebSocket },
		});
		await runner.start();
		const report = await runner.closed;
		expect(dial.dialled).toHaveLength(1);
		expect(dial.dialled[0]).toContain("protocol_version=6");
		expect(report.reason).toBe("fatal:ws.invalid_packet");
		expect(report.error).toBeInstanceOf(FatalCloseError);
		expect(events.connects).toBe(0);
		expect(events.disconnects).toEqual([
			{ code: 1011, reason: expect.stringMatching(/^ws\.invalid_packet#/) },
		]);
	});
});
