/**
 * The close table, one test per row, end to end through partysocket: a local `ws` server closes the client's
 * first connection in the row's way, and the test sees either a second connection (reconnect) or the socket end.
 * Plus the reconnect delays (full jitter) and the send buffer's bound.
 */
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import {
	ActorSocket,
	decideOnClose,
	fullJitterDelay,
	SendBufferFullError,
	SocketEndedError,
} from "../../src/client/index.ts";

const servers: WebSocketServer[] = [];
const sockets: ActorSocket[] = [];

afterEach(async () => {
	for (const socket of sockets.splice(0)) socket.close();
	for (const server of servers.splice(0))
		await new Promise((resolve) => server.close(resolve));
});

/** A server that hands each new connection to `onConnection`, and counts them. */
async function server(onConnection: (ws: WebSocket, index: number) => void) {
	const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
	servers.push(wss);
	await new Promise((resolve) => wss.once("listening", resolve));
	let count = 0;
	const waiters: { n: number; resolve: () => void }[] = [];
	wss.on("connection", (ws) => {
		count++;
		onConnection(ws, count);
		for (const w of waiters.filter((w) => count >= w.n)) w.resolve();
	});
	const address = wss.address();
	const port = typeof address === "object" && address ? address.port : 0;
	return {
		url: `ws://127.0.0.1:${port}/`,
		/** Resolves once `n` connections have arrived. */
		connections: (n: number) =>
			new Promise<void>((resolve) => {
				if (count >= n) resolve();
				else waiters.push({ n, resolve });
			}),
		count: () => count,
	};
}

function socket(url: string, options = {}): ActorSocket {
	const s = new ActorSocket(url, ["rivet"], {
		WebSocket,
		reconnectDelays: { baseMs: 10, maxMs: 50 },
		...options,
	});
	sockets.push(s);
	return s;
}

/** The first connection is closed by `closeFirst`; later ones stay open. */
async function firstCloseThen(closeFirst: (ws: WebSocket) => void) {
	const srv = await server((ws, index) => {
		if (index === 1) closeFirst(ws);
	});
	const client = socket(srv.url);
	const outcome = await Promise.race([
		srv.connections(2).then(() => "reconnected" as const),
		client.ended.then(() => "ended" as const),
	]);
	return { outcome, client };
}

describe("the close table (one row each, through partysocket)", () => {
	it("1000 with an empty reason → reconnect", async () => {
		const { outcome } = await firstCloseThen((ws) => ws.close(1000));
		expect(outcome).toBe("reconnected");
	});
	it("a refused connection (partysocket's synthetic 1000) → reconnect", async () => {
		// Nothing listens yet on the port: attempts fail until the server appears.
		const probe = await server(() => {});
		const url = probe.url;
		await new Promise((resolve) => servers.pop()?.close(resolve));
		const client = socket(url);
		const opened = new Promise((resolve) =>
			client.addEventListener("open", resolve),
		);
		await new Promise((resolve) => setTimeout(resolve, 100)); // let attempts fail against the closed port
		const port = Number(new URL(url).port);
		const wss = new WebSocketServer({ host: "127.0.0.1", port });
		servers.push(wss);
		await opened;
		expect(client.retryCount).toBeGreaterThan(0);
		expect(client.ending).toBeUndefined();
	});
	it("1000 with a gateway reason (actor.stopped) → reconnect", async () => {
		const { outcome } = await firstCloseThen((ws) =>
			ws.close(1000, "actor.stopped"),
		);
		expect(outcome).toBe("reconnected");
	});
	it("1000 with the actor's own reason → end", async () => {
		const { outcome, client } = await firstCloseThen((ws) =>
			ws.close(1000, "goodbye"),
		);
		expect(outcome).toBe("ended");
		expect(client.ending?.code).toBe(1000);
		expect(() => client.send("x")).toThrow(SocketEndedError);
	});
	it("1001 going away → reconnect", async () => {
		const { outcome } = await firstCloseThen((ws) =>
			ws.close(1001, "ws.going_away"),
		);
		expect(outcome).toBe("reconnected");
	});
	it("1005 (no close code) → reconnect", async () => {
		const { outcome } = await firstCloseThen((ws) => ws.close());
		expect(outcome).toBe("reconnected");
	});
	it("1006 (connection dropped, no close frame) → reconnect", async () => {
		const { outcome } = await firstCloseThen((ws) => ws.terminate());
		expect(outcome).toBe("reconnected");
	});
	it("1011 with a transient gateway error (guard.websocket_open_timeout) → reconnect", async () => {
		const { outcome } = await firstCloseThen((ws) =>
			ws.close(1011, "guard.websocket_open_timeout#ray"),
		);
		expect(outcome).toBe("reconnected");
	});
	it("1012–1014 (restart, try later, bad gateway) → reconnect", async () => {
		const { outcome } = await firstCloseThen((ws) => ws.close(1013, ""));
		expect(outcome).toBe("reconnected");
	});
	it("a gateway error saying the actor is gone (actor.not_found, actor.destroyed) → end", async () => {
		const { outcome, client } = await firstCloseThen((ws) =>
			ws.close(1011, "actor.not_found#0123"),
		);
		expect(outcome).toBe("ended");
		expect(client.ending?.why).toContain("actor.not_found");
		expect(decideOnClose(1011, "actor.destroyed#x").action).toBe("end");
	});
	it("a gateway error about credentials (auth.*, api.unauthorized, api.forbidden) → end", async () => {
		const { outcome } = await firstCloseThen((ws) =>
			ws.close(1011, "api.unauthorized#r"),
		);
		expect(outcome).toBe("ended");
		expect(decideOnClose(1011, "auth.invalid_token").action).toBe("end");
	});
	it("1002–1010 (protocol, data, policy, size) → end", async () => {
		const { outcome } = await firstCloseThen((ws) => ws.close(1008, "policy"));
		expect(outcome).toBe("ended");
	});
	it("3008 (timeout) → reconnect", async () => {
		const { outcome } = await firstCloseThen((ws) => ws.close(3008, ""));
		expect(outcome).toBe("reconnected");
	});
	it("3000–4999 (an application's close code) → end", async () => {
		const { outcome, client } = await firstCloseThen((ws) =>
			ws.close(4001, "kicked"),
		);
		expect(outcome).toBe("ended");
		expect(client.ending).toMatchObject({ code: 4001, reason: "kicked" });
	});
	it("close() by the application → end, and later sends throw", async () => {
		const srv = await server(() => {});
		const client = socket(srv.url);
		await new Promise((resolve) => client.addEventListener("open", resolve));
		client.close();
		const ending = await client.ended;
		expect(ending.why).toBe("closed by the application");
		expect(() => client.send("late")).toThrow(SocketEndedError);
		expect(srv.count()).toBe(1);
	});
});

describe("reconnect delays", () => {
	it("full jitter: uniform in [0, min(max, base·2^(n-1))]", () => {
		expect(fullJitterDelay(1, { baseMs: 100, maxMs: 1000 }, () => 0)).toBe(0);
		expect(
			fullJitterDelay(1, { baseMs: 100, maxMs: 1000 }, () => 0.999999),
		).toBe(99);
		expect(fullJitterDelay(4, { baseMs: 100, maxMs: 1000 }, () => 0.5)).toBe(
			400,
		);
		expect(fullJitterDelay(20, { baseMs: 100, maxMs: 1000 }, () => 0.5)).toBe(
			500,
		);
		// Many clients dropped together spread out (no storm): 1000 draws over [0, 500) are far from equal.
		const draws = Array.from({ length: 1000 }, () =>
			fullJitterDelay(1, { baseMs: 500 }),
		);
		expect(new Set(draws).size).toBeGreaterThan(200);
		expect(Math.max(...draws)).toBeLessThan(500);
	});
});

describe("the send buffer while down", () => {
	it("keeps sends up to the bound, throws SendBufferFullError past it, and delivers the kept ones after the open listeners' own sends", async () => {
		const received: string[] = [];
		const srv = await server((ws) =>
			ws.on("message", (data) => received.push(String(data))),
		);
		const client = socket(srv.url, { sendBuffer: { messages: 3, bytes: 10 } });
		expect(client.send("a")).toBe(false); // still connecting: kept
		expect(client.send("bb")).toBe(false);
		expect(() => client.send("c".repeat(8))).toThrow(SendBufferFullError); // 11 bytes > 10
		expect(client.send("ccc")).toBe(false);
		const full = (() => {
			try {
				client.send("d");
			} catch (error) {
				return error;
			}
		})();
		expect(full).toBeInstanceOf(SendBufferFullError);
		expect((full as SendBufferFullError).buffered).toEqual({
			messages: 3,
			bytes: 6,
		});
		client.addEventListener("open", () => client.send("hello"));
		await srv.connections(1);
		await expect.poll(() => received.length).toBe(4);
		expect(received).toEqual(["hello", "a", "bb", "ccc"]);
		expect(client.buffered).toEqual({ messages: 0, bytes: 0 });
	});
	it("an ending drops what was kept and says how much", async () => {
		const srv = await server((ws) => ws.close(4000, "no"));
		const client = socket(srv.url);
		client.send("kept");
		const ending = await client.ended;
		// The first open flushed "kept" before the server's close arrived, or the close came first: either way
		// nothing is silently lost — it was sent, or counted in `unsent`.
		expect(ending.code).toBe(4000);
		expect(ending.unsent).toBeLessThanOrEqual(1);
		expect(srv.count()).toBe(1);
	});
});
