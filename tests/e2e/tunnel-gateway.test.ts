/**
 * The dev engine's gateway: addressing and the hibernation buffer (pure), then limits, headers, errors and
 * timeouts end to end with our runner.
 */
import { describe, expect, it } from "vitest";
import { Runner } from "../../src/core/index.ts";
import {
	isForeignActorId,
	resolveTarget,
} from "../../src/engine/gateway/addressing.ts";
import {
	atOrBefore,
	HibernationBuffer,
} from "../../src/engine/gateway/hibernation-buffer.ts";
import { newRivetId } from "../../src/engine/ids.ts";
import {
	type TunnelRunnerClass,
	useTunnelContext,
} from "./tunnel-scenarios.ts";

const OurRunner = Runner as unknown as TunnelRunnerClass;
const noHeaders = () => undefined;

describe("addressing (spec §8.6)", () => {
	it("path form: /gateway/{id}[@token]/rest?query → /rest?query", () => {
		expect(resolveTarget("/gateway/abc/x/y?q=1&r", noHeaders)).toEqual({
			actorId: "abc",
			path: "/x/y?q=1&r",
		});
		expect(resolveTarget("/gateway/abc@tok/x", noHeaders)).toEqual({
			actorId: "abc",
			path: "/x",
		});
		expect(resolveTarget("/gateway/abc", noHeaders)?.path).toBe("/");
		expect(resolveTarget("/gateway/abc?q=1", noHeaders)?.path).toBe("/?q=1");
		expect(resolveTarget("/gateway/", noHeaders)).toBeNull();
	});

	it("header form: only on /request paths (forwarded whole); WebSockets by subprotocol", () => {
		const headers = (name: string) =>
			({ "x-rivet-target": "actor", "x-rivet-actor": "id1" })[name];
		expect(resolveTarget("/request/a?b", headers)).toEqual({
			actorId: "id1",
			path: "/request/a?b",
			byHeaders: true,
		});
		// An upgrade so addressed is marked, for the gateway to refuse; subprotocol addressing wins over headers.
		expect(resolveTarget("/ws", headers, ["rivet"])?.byHeaders).toBe(true);
		expect(
			resolveTarget("/ws", headers, [
				"rivet",
				"rivet_target.actor",
				"rivet_actor.id2",
			]),
		).toEqual({ actorId: "id2", path: "/ws" });
		expect(resolveTarget("/request", headers)?.path).toBe("/request");
		expect(resolveTarget("/requests", headers)).toBeNull();
		expect(resolveTarget("/other", headers)).toBeNull();
		expect(
			resolveTarget("/chat", noHeaders, [
				"rivet",
				"rivet_target.actor",
				"rivet_actor.id%2F2",
			]),
		).toEqual({ actorId: "id/2", path: "/chat" });
		expect(resolveTarget("/chat", noHeaders, ["rivet"])).toBeNull();
	});
});

describe("datacenter labels", () => {
	it("an id is foreign when its label is not the engine's (1); a string that is no id is not", () => {
		const id = newRivetId();
		expect(isForeignActorId(id)).toBe(false);
		expect(isForeignActorId(`${id.slice(0, -3)}m00`)).toBe(true);
		expect(isForeignActorId("0".repeat(30))).toBe(false);
		expect(isForeignActorId("not-an-id")).toBe(false);
	});
});

describe("hibernation buffer (spec §8.4)", () => {
	const message = (index: number, bytes = 10) => ({
		index,
		data: Buffer.alloc(bytes),
		binary: true,
		sentAt: index,
	});

	it("cumulative acks drop everything at or before the index, across the u16 wrap", () => {
		expect(atOrBefore(65535, 0)).toBe(true);
		expect(atOrBefore(0, 65535)).toBe(false);
		const buffer = new HibernationBuffer();
		for (const index of [65534, 65535, 0, 1, 2]) buffer.push(message(index));
		expect(buffer.ack(0)).toBe(3);
		expect(buffer.unacked().map((m) => m.index)).toEqual([1, 2]);
		expect(buffer.ack(0)).toBe(0); // an old ack changes nothing
		expect(buffer.bytes).toBe(20);
		expect(buffer.oldestSentAt()).toBe(1);
		expect(buffer.ack(2)).toBe(2);
		expect(buffer.size).toBe(0);
		expect(buffer.oldestSentAt()).toBeUndefined();
	});

	it("refuses past 65535 pending messages", () => {
		const buffer = new HibernationBuffer();
		let accepted = true;
		for (let i = 1; i <= 65535; i++) accepted &&= buffer.push(message(i, 0));
		expect(accepted).toBe(true);
		expect(buffer.push(message(0, 0))).toBe(false);
	});
});

describe("gateway with our runner", () => {
	const ctx = useTunnelContext(OurRunner);

	it("an unknown actor is 404 actor.not_found, over HTTP and WebSocket", async () => {
		const { engine, client } = ctx();
		const missing = "0".repeat(30);
		const response = await fetch(`${engine.url}/gateway/${missing}/x`);
		expect(response.status).toBe(404);
		expect(response.headers.get("x-rivet-error")).toBe("actor.not_found");
		const socket = client(`/gateway/${missing}/ws`);
		const closed = await socket.closed;
		expect(closed.code).toBe(1011);
		expect(closed.reason).toMatch(/^actor\.not_found#/);
	});
});

describe("gateway timeouts", () => {
	const ctx = useTunnelContext(
		OurRunner,
		{
			fetch: () => new Promise<Response>(() => {}),
			websocket: () => new Promise<void>(() => {}),
		},
		{
			gateway: {
				responseTimeoutMs: 100,
				webSocketOpenTimeoutMs: 100,
				maxAttempts: 1,
			},
		},
	);

	it("no response in time is retryable; with the attempts used up: 502 naming the timeout", async () => {
		const { engine, actor } = ctx();
		const id = await actor();
		const response = await fetch(`${engine.url}/gateway/${id}/`);
		expect(response.status).toBe(502);
		expect(response.headers.get("x-rivet-error")).toBe(
			"guard.retry_attempts_exceeded",
		);
		expect(((await response.json()) as { message: string }).message).toMatch(
			/guard\.gateway_response_start_timeout/,
		);
	});

	it("no WebSocket open in time: the client is closed 1011 guard.websocket_open_timeout", async () => {
		const { actor, client } = ctx();
		const id = await actor();
		const closed = await client(`/gateway/${id}/ws`).closed;
		expect(closed.code).toBe(1011);
		expect(closed.reason).toMatch(/^guard\.websocket_open_timeout#/);
	});
});
