/**
 * The Node adapter's `ws` (src/runtimes/ws-for-uplink.ts): frames sent in one event-loop turn leave in one socket
 * write at the end of the turn, in order, close frame included; binary frames arrive as views of the received
 * bytes even when "arraybuffer" is asked for; nothing else about `ws` changes.
 */
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { wsForUplink } from "../../src/runtimes/ws-for-uplink.ts";

const UplinkWebSocket = wsForUplink(WebSocket);
const servers: WebSocketServer[] = [];

afterEach(async () => {
	for (const server of servers.splice(0))
		await new Promise((resolve) => server.close(resolve));
});

async function echoServer(): Promise<{
	url: string;
	received: string[];
	closed: Promise<{ code: number; reason: string }>;
}> {
	const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
	servers.push(server);
	await new Promise((resolve) => server.once("listening", resolve));
	const received: string[] = [];
	const closed = new Promise<{ code: number; reason: string }>((resolve) =>
		server.once("connection", (socket) => {
			socket.on("message", (data) => received.push(String(data)));
			socket.on("close", (code, reason) =>
				resolve({ code, reason: String(reason) }),
			);
		}),
	);
	const { port } = server.address() as { port: number };
	return { url: `ws://127.0.0.1:${port}`, received, closed };
}

async function openClient(url: string): Promise<WebSocket> {
	const client = new UplinkWebSocket(url);
	await new Promise((resolve, reject) => {
		client.once("open", resolve);
		client.once("error", reject);
	});
	return client;
}

describe("ws for the uplink", () => {
	it("writes a turn's frames together at the end of the turn, in order, the close frame last", async () => {
		const server = await echoServer();
		const client = await openClient(server.url);
		const socket = (client as unknown as { _socket: Socket })._socket;
		let writes = 0;
		const countWrites = () => {
			writes++;
		};
		const original = { write: socket._write, writev: socket._writev };
		socket._write = function (...args) {
			countWrites();
			return original.write.apply(this, args);
		};
		socket._writev = function (...args) {
			countWrites();
			return original.writev?.apply(this, args);
		};
		for (let i = 0; i < 100; i++) client.send(`m${i}`);
		client.close(4000, "done");
		expect(socket.writableCorked).toBe(1);
		expect(writes).toBe(0);
		await new Promise((resolve) => setImmediate(resolve));
		expect(socket.writableCorked).toBe(0);
		expect(writes).toBe(1);
		expect(await server.closed).toEqual({ code: 4000, reason: "done" });
		expect(server.received).toEqual(
			Array.from({ length: 100 }, (_, i) => `m${i}`),
		);
	});

	it("frames sent in different turns are written separately, and send callbacks still run", async () => {
		const server = await echoServer();
		const client = await openClient(server.url);
		const acked: string[] = [];
		client.send("a", () => acked.push("a"));
		await new Promise((resolve) => setImmediate(resolve));
		client.send("b", () => acked.push("b"));
		await new Promise((resolve) => setImmediate(resolve));
		client.close();
		await server.closed;
		expect(server.received).toEqual(["a", "b"]);
		expect(acked).toEqual(["a", "b"]);
	});

	it("sending before the socket is open still fails as in ws", () => {
		const client = new UplinkWebSocket("ws://127.0.0.1:9");
		client.on("error", () => {});
		expect(() => client.send("early")).toThrow(/not open/);
		client.terminate();
	});

	it("asked for ArrayBuffers, delivers binary frames as Uint8Array views of what arrived; text stays text", async () => {
		const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
		servers.push(server);
		await new Promise((resolve) => server.once("listening", resolve));
		server.once("connection", (socket) => {
			socket.send(new Uint8Array([1, 2, 3]));
			socket.send("text");
		});
		const { port } = server.address() as { port: number };
		const client = new UplinkWebSocket(`ws://127.0.0.1:${port}`);
		client.binaryType = "arraybuffer";
		expect(client.binaryType).toBe("nodebuffer");
		const received: unknown[] = [];
		await new Promise<void>((resolve) =>
			client.addEventListener("message", (event) => {
				received.push(event.data);
				if (received.length === 2) resolve();
			}),
		);
		client.close();
		expect(received[0]).toBeInstanceOf(Uint8Array);
		expect([...(received[0] as Uint8Array)]).toEqual([1, 2, 3]);
		expect(received[1]).toBe("text");
		client.binaryType = "fragments";
		expect(client.binaryType).toBe("fragments");
	});
});
