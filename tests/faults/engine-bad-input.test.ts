/**
 * Abuse of the dev engine: each bad input gets the documented close frame or a 4xx JSON error, and the engine
 * keeps serving (every test ends by proving a healthy runner still works).
 */
import * as protocol from "@rivetkit/engine-runner-protocol";
import { afterEach, describe, expect, it } from "vitest";
import {
	type EngineOptions,
	type RunningEngine,
	startEngine,
} from "../../src/engine/index.ts";
import { RawRunner } from "../engine/raw-runner.ts";

let engine: RunningEngine | undefined;
const sockets: RawRunner[] = [];
afterEach(async () => {
	await Promise.all(sockets.splice(0).map((s) => s.close()));
	await engine?.close();
	engine = undefined;
});

async function start(options: EngineOptions = {}): Promise<RunningEngine> {
	engine = await startEngine({ port: 0, ...options });
	return engine;
}

function open(
	e: RunningEngine,
	options: ConstructorParameters<typeof RawRunner>[1] = {},
): RawRunner {
	const socket = new RawRunner(e.url, options);
	sockets.push(socket);
	return socket;
}

/** A deterministic PRNG so a failure can be replayed. */
function randomBytes(seed: number, length: number): Uint8Array {
	let state = seed >>> 0;
	return Uint8Array.from({ length }, () => {
		state = (state * 1664525 + 1013904223) >>> 0;
		return state >>> 24;
	});
}

const initFrame = protocol.encodeToServer({
	tag: "ToServerInit",
	val: {
		name: "healthy",
		version: 1,
		totalSlots: 1,
		prepopulateActorNames: null,
		metadata: null,
	},
});

/** The engine still accepts a runner, schedules an actor on it and answers KV. */
async function expectHealthy(e: RunningEngine): Promise<void> {
	const socket = open(e, { key: `healthy-${Math.random()}` });
	await socket.opened;
	socket.init("healthy", 1);
	await socket.next("ToClientInit");
	const response = await fetch(`${e.url}/actors?namespace=default`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({
			name: "probe",
			runner_name_selector: "healthy",
			crash_policy: "destroy",
		}),
	});
	expect(response.status).toBe(200);
	const [start] = await socket.next("ToClientCommands");
	const actorId = start?.checkpoint.actorId as string;
	expect(
		await socket.kv(actorId, 1, { tag: "KvDropRequest", val: null }),
	).toEqual({ tag: "KvDropResponse", val: null });
}

async function expectClose(
	socket: RawRunner,
	code: number,
	reasonPrefix: string,
): Promise<void> {
	const closed = await socket.closed;
	expect({ code: closed.code, reason: closed.reason.split("#")[0] }).toEqual({
		code,
		reason: reasonPrefix,
	});
	if (code !== 1009) expect(closed.reason).toMatch(/#[0-9a-z]{30}$/);
}

describe("before init", () => {
	it("text, truncated, random and non-init first frames get the documented close frames", async () => {
		const e = await start();
		const text = open(e);
		await text.opened;
		text.ws.send("hello");
		await expectClose(text, 1011, "ws.invalid_initial_packet");

		const truncated = open(e);
		await truncated.opened;
		truncated.ws.send(initFrame.slice(0, initFrame.length - 3));
		await expectClose(truncated, 1011, "ws.invalid_packet");

		const pong = open(e);
		await pong.opened;
		pong.send({ tag: "ToServerPong", val: { ts: 1n } });
		await expectClose(pong, 1011, "ws.invalid_initial_packet");

		for (let seed = 1; seed <= 20; seed++) {
			const random = open(e);
			await random.opened;
			random.ws.send(randomBytes(seed, 1 + (seed % 7) * 13));
			const closed = await random.closed;
			expect(closed.code).toBe(1011);
			expect(closed.reason).toMatch(
				/^ws\.(invalid_packet|invalid_initial_packet)#/,
			);
		}
		await expectHealthy(e);
	});

	it("bad queries, namespaces and protocol versions are refused after the upgrade", async () => {
		const e = await start();
		const cases: [string, number, string][] = [
			["namespace=default&runner_key=k", 1011, "ws.invalid_url"],
			[
				"protocol_version=abc&namespace=default&runner_key=k",
				1011,
				"ws.invalid_url",
			],
			["protocol_version=7&runner_key=k", 1011, "ws.invalid_url"],
			["protocol_version=7&namespace=default", 1011, "ws.invalid_url"],
			[
				"protocol_version=7&namespace=nope&runner_key=k",
				1011,
				"namespace.not_found",
			],
		];
		for (const [query, code, reason] of cases) {
			const socket = open(e, { query });
			await socket.opened;
			expect(socket.ws.protocol).toBe("rivet");
			await expectClose(socket, code, reason);
		}
		// As the real engine 2.3.19: v6 and v7 are served (v4 and v5 too there, see docs/engine.md), others refused.
		for (const version of [0, 3, 8]) {
			const socket = open(e, {
				query: `protocol_version=${version}&namespace=default&runner_key=k`,
			});
			await socket.opened;
			socket.ws.send(initFrame);
			await expectClose(socket, 1011, "ws.invalid_packet");
		}
		await expectHealthy(e);
	});

	it("times out a runner that never sends init", async () => {
		const e = await start({ initTimeoutMs: 100 });
		const silent = open(e);
		await silent.opened;
		await expectClose(silent, 1011, "ws.timed_out_waiting_for_init");
		await expectHealthy(e);
	});

	it("refuses a missing or wrong token, accepts the right one", async () => {
		const e = await start({ token: "right" });
		const missing = open(e);
		await missing.opened;
		await expectClose(missing, 1011, "guard.missing_header");
		const wrong = open(e, { protocols: ["rivet", "rivet_token.wrong"] });
		await wrong.opened;
		await expectClose(wrong, 1011, "api.forbidden");
		const right = open(e, { protocols: ["rivet", "rivet_token.right"] });
		await right.opened;
		right.init();
		await right.next("ToClientInit");
	});
});

describe("after init", () => {
	it("ignores random, truncated and text frames and later inits", async () => {
		const e = await start();
		const socket = open(e, { key: "noisy" });
		await socket.opened;
		socket.init();
		await socket.next("ToClientInit");
		for (let seed = 100; seed < 150; seed++)
			socket.ws.send(randomBytes(seed, 1 + (seed % 11) * 17));
		socket.ws.send(initFrame.slice(0, 5));
		socket.ws.send("text is ignored after init");
		for (let i = 0; i < 20; i++) socket.init();
		// Still served on the same socket: a KV answer for an unknown actor proves the frame loop is alive.
		expect(
			await socket.kv("0".repeat(30), 9, { tag: "KvDropRequest", val: null }),
		).toEqual({
			tag: "KvErrorResponse",
			val: { message: "actor does not exist" },
		});
		expect(
			socket.received.filter((m) => m.tag === "ToClientInit"),
		).toHaveLength(1);
		await expectHealthy(e);
	});

	it("a flood of inits on one key leaves exactly the newest connection, the others evicted", async () => {
		const e = await start();
		const flood = Array.from({ length: 30 }, () =>
			open(e, { key: "contested" }),
		);
		await Promise.all(flood.map((s) => s.opened));
		for (const socket of flood) socket.init();
		await Promise.all(flood.map((s) => s.next("ToClientInit")));
		const ids = new Set(
			flood.map((s) => s.received.find((m) => m.tag === "ToClientInit")?.val),
		);
		expect(
			new Set([...ids].map((init) => (init as protocol.ToClientInit).runnerId))
				.size,
		).toBe(1);
		// Inits race across sockets: whichever the engine handled last survives, every other one is evicted.
		const evictions: { code: number; reason: string }[] = [];
		await new Promise<void>((resolve) => {
			for (const socket of flood) {
				void socket.closed.then((close) => {
					evictions.push(close);
					if (evictions.length === flood.length - 1) resolve();
				});
			}
		});
		expect(
			evictions.every(
				(c) => c.code === 1000 && c.reason.startsWith("ws.eviction#"),
			),
		).toBe(true);
		expect(flood.filter((s) => s.ws.readyState === s.ws.OPEN)).toHaveLength(1);
		await expectHealthy(e);
	});

	it("an oversized message closes with 1009 and an oversized tunnel payload with ws.invalid_packet", async () => {
		const e = await start({ maxMessageBytes: 22 * 1024 * 1024 });
		const big = open(e, { key: "big" });
		await big.opened;
		big.init();
		await big.next("ToClientInit");
		big.ws.send(new Uint8Array(23 * 1024 * 1024));
		await expectClose(big, 1009, ""); // ws closes oversized messages itself, without a reason

		const tunnel = open(e, { key: "tunnel" });
		await tunnel.opened;
		tunnel.init();
		await tunnel.next("ToClientInit");
		tunnel.send({
			tag: "ToServerTunnelMessage",
			val: {
				messageId: {
					gatewayId: new ArrayBuffer(4),
					requestId: new ArrayBuffer(4),
					messageIndex: 0,
				},
				messageKind: {
					tag: "ToServerResponseStart",
					val: {
						status: 200,
						headers: new Map(),
						body: new ArrayBuffer(20 * 1024 * 1024 + 1),
						stream: false,
					},
				},
			},
		});
		await expectClose(tunnel, 1011, "ws.invalid_packet");
		await expectHealthy(e);
	});
});

describe("HTTP API", () => {
	it("unknown actor ids and routes get 4xx JSON errors", async () => {
		const e = await start();
		for (const [method, path, status] of [
			["DELETE", `/actors/${"1".repeat(30)}?namespace=default`, 400],
			["GET", `/actors/${"2".repeat(30)}/kv`, 400],
			["DELETE", "/actors/%00%ff", 400],
			["DELETE", "/actors/short", 400],
			["GET", "/actors?namespace=", 400],
			["GET", "/actors/names?namespace=ghost", 400],
			["PUT", "/actors", 400],
		] as const) {
			const response = await fetch(`${e.url}${path}`, { method });
			expect(response.status, `${method} ${path}`).toBe(status);
			const body = (await response.json()) as {
				group: string;
				code: string;
				message: string;
			};
			expect(typeof body.group).toBe("string");
			expect(typeof body.code).toBe("string");
		}
		await expectHealthy(e);
	});
});
