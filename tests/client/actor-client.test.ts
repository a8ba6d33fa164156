/**
 * `edgerunner/client` against both engines (the dev engine and the real Rivet Engine 2.3.19), one test body for
 * both: get-or-create and create, a request through the gateway, the gateway's refusal as a typed RivetError, and
 * a socket that comes back by itself across actor sleep (its reconnect wakes the actor, on both engines), a runner
 * restart, a gateway that cannot route yet (no runner) and an engine restart; sends made while down are delivered
 * after, past the bound they throw; a socket to a destroyed actor ends. A fresh engine for each test.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import {
	ActorClient,
	type ActorHandle,
	type ActorSocket,
	RivetError,
	SendBufferFullError,
} from "../../src/client/index.ts";
import { Runner } from "../../src/core/index.ts";
import { ActorLog, baseConfig, RUNNER_NAME } from "../e2e/tunnel-scenarios.ts";
import {
	declareRunnerConfig,
	ENGINE_KINDS,
	type EngineKind,
	type EngineUnderTest,
	isRunning,
	isSleeping,
	startEngineUnderTest,
	untilRunnerListed,
} from "../helpers/engines.ts";

/**
 * A runner that is gone is declared lost after this long. The real engine measures it from the runner's last pong
 * and pings every ~3 s: below that it evicts a live runner (`ws.eviction`) once it has been quiet for the threshold.
 */
const LOST_THRESHOLD_MS: Record<EngineKind, number> = {
	dev: 2000,
	rivet: 5000,
};

/** Resolves with the next message on `socket`. */
function nextMessage(socket: ActorSocket): Promise<string> {
	return new Promise((resolve) =>
		socket.addEventListener("message", (event) => resolve(String(event.data)), {
			once: true,
		}),
	);
}

/** Resolves at the socket's `n`-th open (counting from when this is called). */
function opens(socket: ActorSocket, n = 1): Promise<void> {
	let seen = 0;
	return new Promise((resolve) => {
		const onOpen = () => {
			if (++seen < n) return;
			socket.removeEventListener("open", onOpen);
			resolve();
		};
		socket.addEventListener("open", onOpen);
	});
}

/** Echo round trip: what the actor echoes back proves the path is whole. */
async function echo(socket: ActorSocket, text: string): Promise<string> {
	const reply = nextMessage(socket);
	socket.send(text);
	return reply;
}

/** The bound the tests give sockets, small enough to reach. */
const SEND_BUFFER = { messages: 3 };

/** Resolves with the socket's next `n` messages, in the order they came. */
function nextMessages(socket: ActorSocket, n: number): Promise<string[]> {
	const received: string[] = [];
	return new Promise((resolve) => {
		const onMessage = (event: MessageEvent) => {
			received.push(String(event.data));
			if (received.length < n) return;
			socket.removeEventListener("message", onMessage);
			resolve(received);
		};
		socket.addEventListener("message", onMessage);
	});
}

/** Resolves at the socket's next close. */
function nextClose(socket: ActorSocket): Promise<void> {
	return new Promise((resolve) =>
		socket.addEventListener("close", () => resolve(), { once: true }),
	);
}

/**
 * Sends `text` after each open until the actor echoes it (at most `attempts` opens): a socket the gateway
 * accepted may still fail before the actor takes it (guard.websocket_open_timeout), losing what was written.
 */
async function echoOnceBack(
	socket: ActorSocket,
	text: string,
	attempts = 5,
): Promise<number> {
	for (let attempt = 1; attempt <= attempts; attempt++) {
		if (socket.readyState !== socket.OPEN) await opens(socket);
		const outcome = await Promise.race([
			echo(socket, text).then((reply) => ({ reply })),
			nextClose(socket).then(() => undefined),
		]);
		if (outcome) {
			expect(outcome.reply).toBe(text);
			return attempt;
		}
	}
	throw new Error(`no echo of ${text} within ${attempts} opens`);
}

for (const kind of ENGINE_KINDS) {
	describe(`edgerunner/client on the ${kind} engine`, () => {
		let engine: EngineUnderTest;
		let runner: Runner | undefined;
		let client: ActorClient;
		let actorLog = new ActorLog();
		const sockets: ActorSocket[] = [];
		/** The actors the runner stopped (sleep, stop), recorded into `actorLog`. */
		let stops: string[] = [];
		const startsOf = (actorId: string) =>
			actorLog.started.filter((id) => id === actorId).length;
		/** Starts a runner and resolves once the engine has it (actors created after this find capacity). */
		const startRunner = async () => {
			let connected = () => {};
			const ready = new Promise<void>((resolve) => {
				connected = resolve;
			});
			actorLog = new ActorLog();
			stops = [];
			runner = new Runner({
				...baseConfig(engine, actorLog),
				onConnected: () => connected(),
				onActorStop: async (actorId: string) => {
					actorLog.record(() => stops.push(actorId));
				},
			} as unknown as ConstructorParameters<typeof Runner>[0]);
			await runner.start();
			await ready;
			const runnerId = runner.runnerId;
			await untilRunnerListed(engine, (r) => r.runner_id === runnerId);
			return runner;
		};
		/** Drains the runner: the engine stops its actors and allocates nothing more to it. */
		const stopRunner = async () => {
			await runner?.shutdown(false);
			runner = undefined;
		};

		beforeEach(async () => {
			engine = await startEngineUnderTest(kind, {
				// A runner that is gone is declared lost quickly: its actors move to the next runner.
				runnerLostThresholdMs: LOST_THRESHOLD_MS[kind],
			});
			client = new ActorClient({ endpoint: engine.url, WebSocket });
			if (engine.kind === "rivet")
				await declareRunnerConfig(engine, RUNNER_NAME);
			await startRunner();
		}, 60_000);
		afterEach(async () => {
			for (const socket of sockets.splice(0)) socket.close();
			await runner?.shutdown(true);
			runner = undefined;
			await engine?.close();
		}, 30_000);

		const running = async (handle: ActorHandle) => {
			await engine.untilActor(handle.id, isRunning, 15_000);
			return handle;
		};
		const newEchoActor = (crashPolicy: "sleep" | "restart") =>
			client.create({
				name: "echo",
				runnerNameSelector: RUNNER_NAME,
				crashPolicy,
			});
		const connect = (handle: ActorHandle) => {
			const socket = handle.connect("/ws", {
				reconnectDelays: { baseMs: 100, maxMs: 1000 },
				sendBuffer: SEND_BUFFER,
			});
			sockets.push(socket);
			return socket;
		};

		it("get-or-create finds the same actor by key, create makes another, actor(id) reaches it; fetch goes through the gateway; refusals are RivetErrors with the engine's group.code", async () => {
			const request = {
				name: "echo",
				key: `k-${kind}`,
				runnerNameSelector: RUNNER_NAME,
				crashPolicy: "sleep" as const,
			};
			const first = await client.getOrCreate(request);
			const again = await client.getOrCreate(request);
			expect(again.id).toBe(first.id);
			const other = await client.create({ ...request, key: `k2-${kind}` });
			expect(other.id).not.toBe(first.id);

			const tooLong = await client
				.getOrCreate({ ...request, key: "x".repeat(2000) })
				.catch((error) => error);
			expect(tooLong).toBeInstanceOf(RivetError);
			expect((tooLong as RivetError).id).toBe("actor.key_too_large");
			expect((tooLong as RivetError).status).toBe(400);

			await running(first);
			const byId = client.actor(first.id);
			const response = await byId.fetch("/echo?x=1", {
				method: "POST",
				body: "hi",
			});
			expect(response.status).toBe(200);
			expect(response.headers.get("x-actor")).toBe(first.id);
			expect(response.headers.get("x-path")).toBe("/echo?x=1");
			expect(await response.text()).toBe("hi");

			const destroyed = await engine.api(
				`/actors/${other.id}?namespace=default`,
				{ method: "DELETE" },
			);
			expect(destroyed.ok).toBe(true);
			const refusal = await other.fetch("/").catch((error) => error);
			expect(refusal).toBeInstanceOf(RivetError);
			expect((refusal as RivetError).id).toBe("actor.not_found");
			expect((refusal as RivetError).status).toBe(404);
		}, 30_000);

		it("a socket comes back by itself after the actor sleeps: its reconnect wakes the actor, sends made while down arrive after, in order; a new socket wakes a sleeping actor too", async () => {
			const handle = await running(await newEchoActor("sleep"));
			const socket = connect(handle);
			await opens(socket);
			expect(await echo(socket, "one")).toBe("one");
			const kept = nextMessages(socket, 3);
			let sleepClose: { code: number; reason: string } | undefined;
			let sentNow: boolean[] = [];
			// In the close listener the socket is down (its reconnect waits for a timer): the sends are kept.
			socket.addEventListener(
				"close",
				(event) => {
					sleepClose = { code: event.code, reason: event.reason };
					sentNow = ["a", "b", "c"].map((text) => socket.send(text));
				},
				{ once: true },
			);
			runner?.sleepActor(handle.id);
			expect(await kept).toEqual(["a", "b", "c"]);
			expect(sentNow).toEqual([false, false, false]);
			expect(sleepClose?.code).toBe(1000);
			expect(sleepClose?.reason).toMatch(/^actor\.stopped/);
			expect(socket.ending).toBeUndefined();
			expect(startsOf(handle.id)).toBe(2);

			// A socket opened to an actor that is asleep (the engine says so, the runner has stopped it) wakes it.
			socket.close();
			runner?.sleepActor(handle.id);
			await engine.untilActor(handle.id, isSleeping);
			await actorLog.until(
				"the actor stopped twice",
				() => stops.filter((id) => id === handle.id).length === 2,
			);
			const fresh = connect(handle);
			await opens(fresh);
			expect(await echo(fresh, "woken")).toBe("woken");
			expect(startsOf(handle.id)).toBe(3);
		}, 30_000);

		it("a socket to a destroyed actor ends (actor.not_found), and later sends throw", async () => {
			const handle = await running(await newEchoActor("sleep"));
			const destroyed = await engine.api(
				`/actors/${handle.id}?namespace=default`,
				{ method: "DELETE" },
			);
			expect(destroyed.ok).toBe(true);
			const socket = connect(handle);
			const ending = await socket.ended;
			expect(ending.code).toBe(1011);
			expect(ending.reason).toMatch(/^actor\.not_found/);
			expect(ending.why).toBe("gateway error actor.not_found: it would repeat");
			expect(() => socket.send("too late")).toThrow(/has ended/);
		}, 30_000);

		it("a socket comes back by itself after a runner restart; sends made while down are delivered after, past the bound they throw", async () => {
			const handle = await running(await newEchoActor("restart"));
			const socket = connect(handle);
			await opens(socket);
			const replies: string[] = [];
			const allReplies = new Promise<void>((resolve) =>
				socket.addEventListener("message", (event) => {
					replies.push(String(event.data));
					if (replies.length === 3) resolve();
				}),
			);
			let refusal: unknown;
			// In the close listener the socket is down (its reconnect waits for a timer): sends are kept up to the
			// bound, and the next one is refused loudly.
			socket.addEventListener(
				"close",
				() => {
					for (const text of ["a", "b", "c"]) socket.send(text);
					try {
						socket.send("d");
					} catch (error) {
						refusal = error;
					}
				},
				{ once: true },
			);
			await stopRunner();
			await startRunner();
			await allReplies;
			expect(refusal).toBeInstanceOf(SendBufferFullError);
			expect(replies).toEqual(["a", "b", "c"]);
			expect(await echo(socket, "after restart")).toBe("after restart");
		}, 45_000);

		it("a socket to an actor that no runner can host yet comes back by itself once a runner comes", async () => {
			await stopRunner();
			// The engine knows the runner name, but no runner is connected: the gateway cannot route to the actor.
			const handle = await newEchoActor("restart");
			const socket = connect(handle);
			await Promise.race([opens(socket), nextClose(socket)]);
			await startRunner();
			expect(await echoOnceBack(socket, "reached", 10)).toBeGreaterThan(0);
		}, 60_000);

		it("a socket comes back by itself after an engine restart", async () => {
			const handle = await running(await newEchoActor("restart"));
			const socket = connect(handle);
			await opens(socket);
			expect(await echo(socket, "before")).toBe("before");
			await engine.restart("SIGTERM");
			expect(
				await echoOnceBack(socket, "after engine restart"),
			).toBeGreaterThan(0);
		}, 90_000);
	});
}
