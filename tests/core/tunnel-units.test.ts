/**
 * Pure parts of the runner's tunnel: u16 message indexes, the HTTP response encoding (20 MiB edge, repeated
 * headers), and the outbound buffer.
 */
import { describe, expect, it } from "vitest";
import { buildRequest, encodeResponse } from "../../src/core/tunnel/http.ts";
import { MAX_TUNNEL_PAYLOAD_BYTES } from "../../src/core/tunnel/limits.ts";
import {
	classifyIndex,
	isNewerIndex,
	nextIndex,
} from "../../src/core/tunnel/message-index.ts";
import { OutboundTunnel } from "../../src/core/tunnel/outbound.ts";
import { RequestKeys } from "../../src/core/tunnel/request-key.ts";

describe("message indexes (u16, wrapping)", () => {
	it("next wraps 65535 → 0", () => {
		expect(nextIndex(0)).toBe(1);
		expect(nextIndex(65534)).toBe(65535);
		expect(nextIndex(65535)).toBe(0);
	});

	it("newer-than is the gateway's half-range comparison, across the wrap", () => {
		expect(isNewerIndex(1, 0)).toBe(true);
		expect(isNewerIndex(0, 65535)).toBe(true);
		expect(isNewerIndex(5, 65530)).toBe(true);
		expect(isNewerIndex(65535, 0)).toBe(false);
		expect(isNewerIndex(7, 7)).toBe(false);
		expect(isNewerIndex(32766, 0)).toBe(true);
		expect(isNewerIndex(32767, 0)).toBe(false);
	});

	it("classifies next, duplicates (old or repeated) and gaps", () => {
		expect(classifyIndex(1, 0)).toBe("next");
		expect(classifyIndex(0, 65535)).toBe("next");
		expect(classifyIndex(5, 5)).toBe("duplicate");
		expect(classifyIndex(3, 5)).toBe("duplicate");
		expect(classifyIndex(65535, 2)).toBe("duplicate");
		expect(classifyIndex(7, 5)).toBe("gap");
		expect(classifyIndex(1, 65535)).toBe("gap");
	});
});

describe("request keys", () => {
	const id = (...bytes: number[]) => new Uint8Array(bytes).buffer;

	it("are exact numbers: same ids same key, any byte different → different key", () => {
		const keys = new RequestKeys();
		const a = keys.key(id(1, 2, 3, 4), id(255, 255, 255, 255));
		expect(keys.key(id(1, 2, 3, 4), id(255, 255, 255, 255))).toBe(a);
		expect(keys.key(id(1, 2, 3, 5), id(255, 255, 255, 255))).not.toBe(a);
		expect(keys.key(id(1, 2, 3, 4), id(255, 255, 255, 254))).not.toBe(a);
		expect(Number.isSafeInteger(keys.key(id(9, 9, 9, 9), id(1, 1, 1, 1)))).toBe(
			true,
		);
	});
});

describe("HTTP encoding", () => {
	it("a body of exactly 20 MiB passes, one byte more is refused", async () => {
		const exact = await encodeResponse(
			new Response(new Uint8Array(MAX_TUNNEL_PAYLOAD_BYTES)),
		);
		expect(exact).not.toBe("too_large");
		expect(exact !== "too_large" && exact.body?.byteLength).toBe(
			MAX_TUNNEL_PAYLOAD_BYTES,
		);
		expect(
			await encodeResponse(
				new Response(new Uint8Array(MAX_TUNNEL_PAYLOAD_BYTES + 1)),
			),
		).toBe("too_large");
	});

	it("a declared content-length over 20 MiB is refused without reading the body", async () => {
		let pulled = 0;
		const body = new ReadableStream<Uint8Array>({
			pull(controller) {
				pulled++;
				controller.enqueue(new Uint8Array(1024));
			},
		});
		const response = new Response(body, {
			headers: { "content-length": String(MAX_TUNNEL_PAYLOAD_BYTES + 1) },
		});
		expect(await encodeResponse(response)).toBe("too_large");
		expect(pulled).toBeLessThan(3);
	});

	it("a streamed body with no length is cancelled as soon as it passes 20 MiB, not buffered to the end", async () => {
		const chunk = 1024 * 1024;
		let pulled = 0;
		let cancelled = false;
		const body = new ReadableStream<Uint8Array>({
			pull(controller) {
				pulled++;
				controller.enqueue(new Uint8Array(chunk));
			},
			cancel() {
				cancelled = true;
			},
		});
		expect(await encodeResponse(new Response(body))).toBe("too_large");
		expect(cancelled).toBe(true);
		expect(pulled * chunk).toBeLessThanOrEqual(
			MAX_TUNNEL_PAYLOAD_BYTES + 2 * chunk,
		);
	});

	it("a body stream of something other than bytes is an error (the handler failed), as with Response.arrayBuffer()", async () => {
		let cancelled: unknown;
		const body = new ReadableStream({
			start(controller) {
				controller.enqueue("text is not a chunk");
			},
			cancel(reason) {
				cancelled = reason;
			},
		});
		await expect(encodeResponse(new Response(body))).rejects.toBeInstanceOf(
			TypeError,
		);
		expect(cancelled).toBeInstanceOf(TypeError);
	});

	it("joins chunks in order; a single chunk spanning its buffer is passed on as is", async () => {
		const parts = ["ab", "cd", "e"].map((t) => new TextEncoder().encode(t));
		const body = new ReadableStream<Uint8Array>({
			start(controller) {
				for (const part of parts) controller.enqueue(part);
				controller.close();
			},
		});
		const joined = await encodeResponse(new Response(body));
		if (joined === "too_large") throw new Error("unexpected");
		expect(new TextDecoder().decode(joined.body ?? undefined)).toBe("abcde");
		expect(joined.headers.get("content-length")).toBe("5");
		const offset = new Uint8Array(new TextEncoder().encode("xhello").buffer, 1);
		const view = await encodeResponse(
			new Response(
				new ReadableStream({
					start(controller) {
						controller.enqueue(offset);
						controller.close();
					},
				}),
			),
		);
		if (view === "too_large") throw new Error("unexpected");
		expect(view.body?.byteLength).toBe(5);
		expect(new TextDecoder().decode(view.body ?? undefined)).toBe("hello");
	});

	it("joins repeated headers with ', ' and keeps only the last Set-Cookie", async () => {
		const headers = new Headers();
		headers.append("x-multi", "one");
		headers.append("x-multi", "two");
		headers.append("set-cookie", "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT");
		headers.append("set-cookie", "b=2");
		const encoded = await encodeResponse(new Response("x", { headers }));
		if (encoded === "too_large") throw new Error("unexpected");
		expect(encoded.headers.get("x-multi")).toBe("one, two");
		expect(encoded.headers.get("set-cookie")).toBe("b=2");
		expect(encoded.headers.get("content-length")).toBe("1");
	});

	it("builds a Request with a body only for methods that allow one", async () => {
		const body = new Uint8Array([1, 2, 3]).buffer;
		const start = (method: string) => ({
			actorId: "a",
			method,
			path: "/p?q=1",
			headers: new Map([["x-a", "b"]]),
			body,
			stream: false,
		});
		const get = buildRequest(start("GET"));
		expect(get.body).toBeNull();
		expect(new URL(get.url).pathname + new URL(get.url).search).toBe("/p?q=1");
		expect(get.headers.get("x-a")).toBe("b");
		const post = buildRequest(start("POST"));
		expect(new Uint8Array(await post.arrayBuffer())).toEqual(
			new Uint8Array([1, 2, 3]),
		);
	});
});

describe("outbound buffer", () => {
	const message = (n: number) => ({
		messageId: {
			gatewayId: new ArrayBuffer(4),
			requestId: new ArrayBuffer(4),
			messageIndex: n,
		},
		messageKind: { tag: "ToServerResponseAbort" as const, val: null },
	});

	it("keeps messages while the socket is not ready and flushes them in order", () => {
		let ready = false;
		const sent: number[] = [];
		const outbound = new OutboundTunnel((m) => {
			if (!ready) return false;
			sent.push(m.messageId.messageIndex);
			return true;
		});
		outbound.send(message(1));
		outbound.send(message(2));
		expect(sent).toEqual([]);
		ready = true;
		// Queued behind the buffer until the flush, so order holds.
		outbound.send(message(3));
		expect(sent).toEqual([]);
		outbound.flush();
		expect(sent).toEqual([1, 2, 3]);
		outbound.send(message(4));
		expect(sent).toEqual([1, 2, 3, 4]);
		expect(outbound.buffered).toBe(0);
	});
});
