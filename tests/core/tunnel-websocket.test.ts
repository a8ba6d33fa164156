/** The actor-side WebSocket: WHATWG close-code and reason rules, states, binaryType, listener isolation. */
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/log.ts";
import {
	ActorWebSocket,
	type WebSocketLink,
} from "../../src/core/tunnel/websocket.ts";

function socket() {
	const sent: { data: ArrayBuffer; binary: boolean }[] = [];
	const closes: { code: number | null; reason: string | null }[] = [];
	const errors: object[] = [];
	const sendWaiters: Array<() => void> = [];
	/** Resolves once `count` messages went to the link. */
	const sentCount = (count: number) =>
		new Promise<void>((resolve) => {
			const check = () => {
				if (sent.length >= count) resolve();
				else sendWaiters.push(check);
			};
			check();
		});
	const link: WebSocketLink = {
		send: (data, binary) => {
			sent.push({ data, binary });
			for (const check of sendWaiters.splice(0)) check();
		},
		close: (code, reason) => closes.push({ code, reason }),
	};
	const log = { ...silentLogger, error: (obj: object) => errors.push(obj) };
	const ws = new ActorWebSocket(
		"ws://actor/",
		"",
		new ArrayBuffer(4),
		link,
		log,
	);
	return { ws, sent, closes, errors, sentCount };
}

function domError(fn: () => void): string | undefined {
	try {
		fn();
	} catch (err) {
		return err instanceof DOMException
			? err.name
			: `not a DOMException: ${err}`;
	}
	return undefined;
}

describe("ActorWebSocket", () => {
	it("close codes: 1000 and 3000–4999 only, else InvalidAccessError", () => {
		for (const code of [999, 1001, 1005, 1006, 1011, 2999, 5000]) {
			const { ws, closes } = socket();
			ws._open();
			expect(domError(() => ws.close(code))).toBe("InvalidAccessError");
			expect(closes).toEqual([]);
			expect(ws.readyState).toBe(ws.OPEN);
		}
		for (const code of [1000, 3000, 4999]) {
			const { ws, closes } = socket();
			ws._open();
			ws.close(code, "ok");
			expect(closes).toEqual([{ code, reason: "ok" }]);
			expect(ws.readyState).toBe(ws.CLOSED);
		}
	});

	it("close reason: 123 UTF-8 bytes allowed, 124 is a SyntaxError", () => {
		const { ws } = socket();
		ws._open();
		expect(domError(() => ws.close(1000, "é".repeat(62)))).toBe("SyntaxError");
		ws.close(1000, `${"é".repeat(61)}x`);
		expect(ws.readyState).toBe(3);
	});

	it("close without a code sends none and the close event says 1005", () => {
		const { ws, closes } = socket();
		ws._open();
		const events: number[] = [];
		ws.addEventListener("close", (e) => events.push((e as CloseEvent).code));
		ws.close();
		ws.close(); // a second close is a no-op
		expect(closes).toEqual([{ code: null, reason: null }]);
		expect(events).toEqual([1005]);
	});

	it("send throws InvalidStateError while connecting and is dropped once closed", () => {
		const { ws, sent } = socket();
		expect(domError(() => ws.send("x"))).toBe("InvalidStateError");
		ws._open();
		ws.send("hé");
		ws.send(new Uint8Array([1, 2, 3]).subarray(1));
		ws.close(1000);
		ws.send("late");
		expect(sent.map((s) => [new Uint8Array(s.data), s.binary])).toEqual([
			[new TextEncoder().encode("hé"), false],
			[new Uint8Array([2, 3]), true],
		]);
	});

	it("Blob sends keep their order with the sends after them", async () => {
		const { ws, sent, sentCount } = socket();
		ws._open();
		ws.send(new Blob([new Uint8Array([1])]));
		ws.send("after");
		// The Blob is read asynchronously; the text send waits behind it.
		expect(sent).toHaveLength(0);
		await sentCount(2);
		expect(sent.map((s) => s.binary)).toEqual([true, false]);
	});

	it("delivers binary as ArrayBuffer by default and as Blob on request; text as string", async () => {
		const { ws } = socket();
		const got: unknown[] = [];
		ws.onmessage = (e) => got.push((e as MessageEvent).data);
		ws._open();
		ws._message(new Uint8Array([7]).buffer, true, 1);
		ws.binaryType = "blob";
		ws._message(new Uint8Array([8]).buffer, true, 2);
		ws.binaryType = "nodebuffer" as BinaryType; // ignored, as WebIDL enums are
		ws._message(new TextEncoder().encode("hi").buffer, false, 3);
		expect(got[0]).toBeInstanceOf(ArrayBuffer);
		expect(got[1]).toBeInstanceOf(Blob);
		expect(new Uint8Array(await (got[1] as Blob).arrayBuffer())).toEqual(
			new Uint8Array([8]),
		);
		expect(got[2]).toBe("hi");
		expect(ws.binaryType).toBe("blob");
	});

	it("a listener that throws is logged, and later listeners still run", () => {
		const { ws, errors } = socket();
		const seen: string[] = [];
		ws.addEventListener("open", () => {
			throw new Error("boom");
		});
		ws.addEventListener("open", () => seen.push("second"));
		ws.onopen = () => seen.push("handler");
		ws._open();
		expect(seen).toEqual(["second", "handler"]);
		expect(errors).toHaveLength(1);
	});

	it("removeEventListener and on* replacement detach listeners", () => {
		const { ws } = socket();
		const seen: string[] = [];
		const listener = () => seen.push("listener");
		ws.addEventListener("open", listener);
		ws.removeEventListener("open", listener);
		ws.onopen = () => seen.push("old");
		ws.onopen = () => seen.push("new");
		ws._open();
		expect(seen).toEqual(["new"]);
	});
});
