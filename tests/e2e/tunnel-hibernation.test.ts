/**
 * Hibernatable WebSockets end to end with our runner: the actor sleeps while the client stays connected, a client
 * message wakes it, the socket is restored from what the actor persisted, nothing is lost or duplicated, acks
 * drain the gateway's buffer, and unacked messages are redelivered.
 */
import { beforeEach, describe, expect, it } from "vitest";
import {
	type HibernatingWebSocketMetadata,
	Runner,
} from "../../src/core/index.ts";
import { isSleeping } from "../engine/actor-watch.ts";
import {
	type ActorSocket,
	type TunnelContext,
	type TunnelRunnerClass,
	useTunnelContext,
} from "./tunnel-scenarios.ts";

/** What the actor keeps across sleeps (a real actor would keep it in KV). */
const persisted = new Map<string, HibernatingWebSocketMetadata>();
const received: string[] = [];
const acked: number[] = [];
const starts: string[] = [];
const closes: string[] = [];
let closeSeen: () => void = () => {};
const holder: { runner?: Runner } = {};

const hex = (id: ArrayBuffer) => Buffer.from(id).toString("hex");

const hibernatingActor = {
	hibernatableWebSocket: { canHibernate: () => true },
	onActorStart: async (actorId: string) => {
		starts.push(actorId);
		await holder.runner?.restoreHibernatingRequests(actorId, [
			...persisted.values(),
		]);
	},
	websocket: async (
		runner: Runner,
		_actorId: string,
		ws: ActorSocket,
		gatewayId: ArrayBuffer,
		requestId: ArrayBuffer,
		_request: Request,
		path: string,
		headers: Record<string, string>,
		_isHibernatable: boolean,
		isRestoring: boolean,
	) => {
		const key = hex(requestId);
		if (!isRestoring)
			persisted.set(key, {
				gatewayId,
				requestId,
				clientMessageIndex: 0,
				serverMessageIndex: 0,
				path,
				headers,
			});
		ws.addEventListener("message", (event) => {
			const data = event.data as string;
			const index = (event as unknown as { rivetMessageIndex: number })
				.rivetMessageIndex;
			received.push(data);
			if (!data.startsWith("noack:")) {
				const meta = persisted.get(key);
				if (meta) meta.serverMessageIndex = index;
				runner.sendHibernatableWebSocketMessageAck(gatewayId, requestId, index);
				acked.push(index);
			}
			ws.send(`echo:${data}`);
		});
		ws.addEventListener("close", (event) => {
			persisted.delete(key);
			closes.push(`${event.code} ${event.reason}`);
			closeSeen();
		});
		if (isRestoring) ws.send("restored");
	},
};

/** A sleep-policy actor whose hibernatable socket sent `messages` (each echoed), then the actor put to sleep. */
async function socketOfSleepingActor(ctx: TunnelContext, messages: string[]) {
	const id = await ctx.actor({ crash_policy: "sleep" });
	const socket = ctx.client(`/gateway/${id}/hws`);
	await socket.opened;
	for (const message of messages) socket.ws.send(message);
	await socket.received(messages.length);
	ctx.runner.sleepActor(id);
	await ctx.watch.until(id, isSleeping);
	return { id, socket };
}

describe("hibernatable WebSockets through the gateway (our runner)", () => {
	const ctx = useTunnelContext(
		Runner as unknown as TunnelRunnerClass,
		hibernatingActor,
		{ gateway: { hibernationAckTimeoutMs: 5_000 } },
	);
	beforeEach(() => {
		persisted.clear();
		received.length = 0;
		acked.length = 0;
		starts.length = 0;
		closes.length = 0;
		holder.runner = ctx().runner as unknown as Runner;
	});

	it("the actor sleeps, the client stays, a message wakes it: nothing lost or duplicated, acks sent", async () => {
		const { id, socket } = await socketOfSleepingActor(ctx(), ["a", "b"]);
		expect(socket.ws.readyState).toBe(socket.ws.OPEN);
		socket.ws.send("c");
		socket.ws.send("d");
		await socket.received(5);
		expect(starts).toEqual([id, id]);
		expect(received).toEqual(["a", "b", "c", "d"]);
		expect(acked).toEqual([1, 2, 3, 4]);
		expect(socket.messages.map((m) => m.data.toString())).toEqual([
			"echo:a",
			"echo:b",
			"restored",
			"echo:c",
			"echo:d",
		]);
	});

	it("woken by something else (HTTP), the actor restores the socket and can push on it at once", async () => {
		const { engine } = ctx();
		const { id, socket } = await socketOfSleepingActor(ctx(), ["a"]);
		expect((await fetch(`${engine.url}/gateway/${id}/echo`)).status).toBe(200);
		await socket.received(2);
		expect(socket.messages[1]?.data.toString()).toBe("restored");
		socket.ws.send("b");
		await socket.received(3);
		expect(received).toEqual(["a", "b"]);
	});

	it("a client that leaves while the actor sleeps wakes it, and the actor hears the close", async () => {
		const { id, socket } = await socketOfSleepingActor(ctx(), ["a"]);
		const heard = new Promise<void>((resolve) => {
			closeSeen = resolve;
		});
		socket.ws.close(4100, "bye");
		await heard;
		expect(starts).toEqual([id, id]);
		expect(closes).toEqual(["4100 bye"]);
		expect(persisted.size).toBe(0);
	});

	it("a message the actor never acked is redelivered after the wake, acked ones are not", async () => {
		const { socket } = await socketOfSleepingActor(ctx(), ["kept", "noack:x"]);
		socket.ws.send("y");
		await socket.received(5);
		expect(received).toEqual(["kept", "noack:x", "noack:x", "y"]);
	});
});

describe("hibernation buffer GC", () => {
	const ctx = useTunnelContext(
		Runner as unknown as TunnelRunnerClass,
		hibernatingActor,
		{
			gateway: { hibernationAckTimeoutMs: 100, hibernationGcIntervalMs: 25 },
		},
	);
	beforeEach(() => {
		persisted.clear();
		holder.runner = ctx().runner as unknown as Runner;
	});

	it("a message left unacked past the ack timeout closes the socket 1011 guard.websocket_garbage_collected", async () => {
		const { actor, client } = ctx();
		const id = await actor();
		const socket = client(`/gateway/${id}/hws`);
		await socket.opened;
		socket.ws.send("acked");
		socket.ws.send("noack:stale");
		const closed = await socket.closed;
		expect(closed.code).toBe(1011);
		expect(closed.reason).toMatch(/^guard\.websocket_garbage_collected#/);
	});
});
