/**
 * The runner's frame encoder (src/core/frame-encoder.ts): the same bytes as the codec's `encodeToServer`, each
 * frame its own exact-size buffer (never a view of the reused scratch), and a frame larger than the scratch does
 * not leave the grown buffer behind.
 */
import * as protocol from "@rivetkit/engine-runner-protocol";
import { describe, expect, it } from "vitest";
import { FrameEncoder } from "../../src/core/frame-encoder.ts";

function response(bodyBytes: number, fill: number): protocol.ToServer {
	return {
		tag: "ToServerTunnelMessage",
		val: {
			messageId: {
				gatewayId: new Uint8Array([1, 2, 3, 4]).buffer,
				requestId: new Uint8Array([5, 6, 7, 8]).buffer,
				messageIndex: 0,
			},
			messageKind: {
				tag: "ToServerResponseStart",
				val: {
					status: 200,
					headers: new Map([["content-length", String(bodyBytes)]]),
					body: new Uint8Array(bodyBytes).fill(fill).buffer,
					stream: false,
				},
			},
		},
	};
}

describe("frame encoder", () => {
	it("writes what the codec writes, for small frames and frames past the scratch size", () => {
		const encoder = new FrameEncoder();
		const messages: protocol.ToServer[] = [
			{ tag: "ToServerPong", val: { ts: 123n } },
			response(10, 1),
			response(200 * 1024, 2),
			response(3, 3),
			{ tag: "ToServerStopping", val: null },
		];
		for (const message of messages)
			expect(encoder.encode(message)).toEqual(protocol.encodeToServer(message));
	});

	it("a frame handed out is never written again: small frames share a slab in disjoint slices, large ones own their buffer", () => {
		const encoder = new FrameEncoder();
		const frames = Array.from({ length: 2000 }, (_, i) =>
			encoder.encode(response(100 + (i % 50), i & 0xff)),
		);
		const snapshots = frames.map((frame) => frame.slice());
		const large = encoder.encode(response(20_000, 1));
		expect(large.byteOffset).toBe(0);
		expect(large.byteLength).toBe(large.buffer.byteLength);
		for (let i = 0; i < 500; i++) encoder.encode(response(120, 0xee));
		for (const [i, frame] of frames.entries())
			expect(frame).toEqual(snapshots[i]);
		// Shared: many frames per buffer, not one buffer each.
		expect(new Set(frames.map((f) => f.buffer)).size).toBeLessThan(
			frames.length / 50,
		);
		const byBuffer = new Map<ArrayBufferLike, Uint8Array[]>();
		for (const frame of frames)
			byBuffer.set(frame.buffer, [
				...(byBuffer.get(frame.buffer) ?? []),
				frame,
			]);
		for (const slices of byBuffer.values())
			for (let i = 1; i < slices.length; i++) {
				const previous = slices[i - 1] as Uint8Array;
				expect((slices[i] as Uint8Array).byteOffset).toBeGreaterThanOrEqual(
					previous.byteOffset + previous.byteLength,
				);
			}
	});

	it("a frame the codec refuses (over its 32 MiB limit) throws, and the encoder keeps working", () => {
		const encoder = new FrameEncoder();
		expect(() => encoder.encode(response(33 * 1024 * 1024, 1))).toThrow();
		const after = response(5, 9);
		expect(encoder.encode(after)).toEqual(protocol.encodeToServer(after));
	});
});
