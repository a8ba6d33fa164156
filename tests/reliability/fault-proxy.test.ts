/**
 * The fault proxy (reliability/fault-proxy.ts) between a WebSocket client and a WebSocket echo server: each fault
 * kind is observable from the ends, and a seed always draws the same schedule.
 */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type RawData, WebSocket, WebSocketServer } from "ws";
import {
	FAULT_KINDS,
	FaultProxy,
	FrameTracker,
	faultSchedule,
} from "../../reliability/fault-proxy.ts";
import { createPrng } from "../../reliability/prng.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An echo server whose received messages and server-side closes are recorded. */
async function echoServer() {
	const server = new WebSocketServer({ port: 0, host: "127.0.0.1" });
	await once(server, "listening");
	const received: string[] = [];
	const serverCloses: number[] = [];
	server.on("connection", (socket) => {
		socket.on("message", (data: RawData) => {
			received.push(data.toString());
			socket.send(data);
		});
		socket.on("close", (code) => serverCloses.push(code));
		socket.on("error", () => {});
	});
	cleanups.push(
		() =>
			new Promise<void>((resolve) => {
				for (const client of server.clients) client.terminate();
				server.close(() => resolve());
			}),
	);
	const { port } = server.address() as AddressInfo;
	return { url: `http://127.0.0.1:${port}`, received, serverCloses };
}

async function proxied() {
	const server = await echoServer();
	const proxy = new FaultProxy(server.url, { seed: 3 });
	const url = await proxy.listen();
	cleanups.push(() => proxy.close());
	return { ...server, proxy, wsUrl: url.replace("http", "ws") };
}

/** A client whose messages (with arrival times) and close can be awaited. */
async function client(url: string) {
	const ws = new WebSocket(url);
	ws.on("error", () => {});
	const messages: { text: string; at: number }[] = [];
	ws.on("message", (data: RawData) =>
		messages.push({ text: data.toString(), at: Date.now() }),
	);
	const closed = new Promise<number>((resolve) =>
		ws.once("close", (code) => resolve(code)),
	);
	cleanups.push(() => ws.terminate());
	await once(ws, "open");
	const until = async (count: number, withinMs = 5000) => {
		const deadline = Date.now() + withinMs;
		while (messages.length < count) {
			if (Date.now() > deadline)
				throw new Error(`${messages.length} of ${count} messages`);
			await once(ws, "message", { signal: AbortSignal.timeout(withinMs) });
		}
	};
	return { ws, messages, closed, until };
}

/** Resolves after `ms` with `"timeout"`, or earlier with what `promise` resolves to. */
const within = <T>(promise: Promise<T>, ms: number) =>
	Promise.race([
		promise,
		new Promise<"timeout">((resolve) =>
			setTimeout(() => resolve("timeout"), ms),
		),
	]);

describe("the fault schedule", () => {
	const options = { durationMs: 60_000, engineSilenceTimeoutMs: 2000 };

	it("is the same for the same seed and differs for another", () => {
		const a = faultSchedule(createPrng(42), options);
		const b = faultSchedule(createPrng(42), options);
		const c = faultSchedule(createPrng(43), options);
		expect(a).toEqual(b);
		expect(a).not.toEqual(c);
		expect(a.length).toBeGreaterThan(10);
	});

	it("draws every kind, one at a time, with stalls and half-open windows past the silence watchdog", () => {
		const schedule = faultSchedule(createPrng(7), {
			...options,
			durationMs: 600_000,
		});
		expect(new Set(schedule.map((f) => f.kind))).toEqual(new Set(FAULT_KINDS));
		for (let i = 1; i < schedule.length; i++) {
			const before = schedule[i - 1];
			const fault = schedule[i];
			if (!before || !fault) continue;
			expect(fault.atMs).toBeGreaterThan(before.atMs + before.durationMs);
		}
		expect(
			schedule.some((f) => f.kind === "stall" && f.durationMs > 2000),
		).toBe(true);
		expect(
			schedule.some((f) => f.kind === "halfOpen" && f.durationMs > 2000),
		).toBe(true);
	});
});

describe("the frame tracker", () => {
	// A masked client frame: 2 bytes + 4 of mask + 10 of payload, after the upgrade request.
	const head = Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "latin1");
	const frame = Buffer.concat([
		Buffer.from([0x82, 0x80 | 10, 1, 2, 3, 4]),
		Buffer.alloc(10),
	]);

	it("finds the cut offset inside the first frame after the head, in one chunk or byte by byte", () => {
		for (const cutAfter of [1, 2, 5, 6, 9, 15]) {
			const whole = Buffer.concat([head, frame, frame]);
			expect(new FrameTracker().feed(whole, cutAfter)).toBe(
				head.length + cutAfter,
			);
			const tracker = new FrameTracker();
			let found = -1;
			for (let i = 0; i < whole.length && found < 0; i++) {
				// The offset is within the chunk: 1 means "after this byte".
				const offset = tracker.feed(whole.subarray(i, i + 1), cutAfter);
				if (offset >= 0) found = i + offset;
			}
			expect(found).toBe(head.length + cutAfter);
		}
	});

	it("does not cut a frame no longer than the cut point, and counts frames", () => {
		const tracker = new FrameTracker();
		expect(tracker.feed(Buffer.concat([head, frame, frame]), 16)).toBe(-1);
		expect(tracker.frames).toBe(2);
	});
});

describe("the fault proxy", () => {
	it("passes traffic untouched when no fault is in force", async () => {
		const { wsUrl, received } = await proxied();
		const c = await client(wsUrl);
		c.ws.send("a");
		c.ws.send("b");
		await c.until(2);
		expect(c.messages.map((m) => m.text)).toEqual(["a", "b"]);
		expect(received).toEqual(["a", "b"]);
	});

	it("cut: both sides see the connection drop, and a new connection passes", async () => {
		const { wsUrl, proxy, serverCloses } = await proxied();
		const c = await client(wsUrl);
		proxy.cut();
		expect(await c.closed).toBe(1006);
		const again = await client(wsUrl);
		again.ws.send("x");
		await again.until(1);
		expect(serverCloses).toEqual([1006]);
		expect(proxy.stats.injected.cut).toBe(1);
	});

	it("cutMidFrame: the frame is cut after k bytes, so the server never gets the message", async () => {
		const { wsUrl, proxy, received, serverCloses } = await proxied();
		const c = await client(wsUrl);
		c.ws.send("before");
		await c.until(1);
		proxy.cutMidFrame("toEngine", 9);
		c.ws.send("x".repeat(100));
		expect(await c.closed).toBe(1006);
		await expect.poll(() => serverCloses).toEqual([1006]);
		expect(received).toEqual(["before"]);
		expect(proxy.stats.midFrameCuts).toBe(1);
	});

	it("stall: a direction's bytes are held for the stall, then delivered in order", async () => {
		const { wsUrl, proxy, received } = await proxied();
		const c = await client(wsUrl);
		const stalledAt = Date.now();
		proxy.stall("toRunner", 400);
		c.ws.send("1");
		c.ws.send("2");
		await expect.poll(() => received).toEqual(["1", "2"]); // the other direction flows
		expect(c.messages).toEqual([]);
		await c.until(2);
		expect(c.messages.map((m) => m.text)).toEqual(["1", "2"]);
		expect((c.messages[0]?.at ?? 0) - stalledAt).toBeGreaterThanOrEqual(390);
	});

	it("halfOpen: nothing passes, and the server's side stays open after the client gives up, until the window ends", async () => {
		const { wsUrl, proxy, received, serverCloses } = await proxied();
		const c = await client(wsUrl);
		proxy.halfOpen(600);
		c.ws.send("lost");
		c.ws.terminate();
		await c.closed;
		expect(await within(new Promise(() => {}), 300)).toBe("timeout");
		expect(received).toEqual([]);
		expect(serverCloses).toEqual([]); // half-open: the server still thinks it is connected
		await expect.poll(() => serverCloses, { timeout: 2000 }).toEqual([1006]);
	});

	it("latency: a round trip takes at least twice the added latency", async () => {
		const { wsUrl, proxy } = await proxied();
		const c = await client(wsUrl);
		proxy.latency(150, 0, 5000);
		const sentAt = Date.now();
		c.ws.send("ping");
		await c.until(1);
		expect((c.messages[0]?.at ?? 0) - sentAt).toBeGreaterThanOrEqual(290);
	});

	it("bandwidth: 8 KB at 16 KB/s takes at least half a second each way", async () => {
		const { wsUrl, proxy } = await proxied();
		const c = await client(wsUrl);
		proxy.bandwidth(16_000, 10_000);
		const sentAt = Date.now();
		c.ws.send("y".repeat(8000));
		await c.until(1);
		expect((c.messages[0]?.at ?? 0) - sentAt).toBeGreaterThanOrEqual(950);
	});

	it("refuse: new connections are reset for the window, open ones are left alone, then they pass again", async () => {
		const { wsUrl, proxy } = await proxied();
		const open = await client(wsUrl);
		proxy.refuse(500);
		await expect(client(wsUrl)).rejects.toThrow();
		open.ws.send("still");
		await open.until(1);
		await expect
			.poll(
				async () => {
					try {
						(await client(wsUrl)).ws.close();
						return true;
					} catch {
						return false;
					}
				},
				{ timeout: 3000, interval: 100 },
			)
			.toBe(true);
		expect(proxy.stats.refused).toBeGreaterThanOrEqual(1);
	});

	it("run: plays a schedule at its times and heals at the end", async () => {
		const { wsUrl, proxy } = await proxied();
		const c = await client(wsUrl);
		const started = Date.now();
		await proxy.run([
			{ atMs: 50, kind: "latency", durationMs: 200, latencyMs: 50 },
			{ atMs: 300, kind: "cut", durationMs: 0 },
		]);
		expect(Date.now() - started).toBeGreaterThanOrEqual(300);
		expect(await c.closed).toBe(1006);
		expect(proxy.stats.injected.latency).toBe(1);
		expect(proxy.stats.injected.cut).toBe(1);
		const after = await client(wsUrl);
		const sentAt = Date.now();
		after.ws.send("healed");
		await after.until(1);
		expect((after.messages[0]?.at ?? 0) - sentAt).toBeLessThan(100);
	});
});
