/**
 * Hibernatable WebSockets, what only the dev engine can be asked: its gateway's hibernation buffer garbage
 * collection (the ack timeout is a dev engine setting). The scenarios across an actor sleep run for both runners on
 * both engines from tests/e2e/tunnel-scenarios.ts.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { Runner } from "../../src/core/index.ts";
import {
	HibernationLog,
	type HibernationRunner,
	hibernatingActor,
	type TunnelRunnerClass,
	useTunnelContext,
} from "./tunnel-scenarios.ts";

describe("hibernation buffer GC", () => {
	const log = new HibernationLog();
	const ctx = useTunnelContext(
		Runner as unknown as TunnelRunnerClass,
		hibernatingActor(log),
		{
			gateway: { hibernationAckTimeoutMs: 100, hibernationGcIntervalMs: 25 },
		},
	);
	beforeEach(() => {
		log.persisted.clear();
		log.runner = ctx().runner as HibernationRunner;
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
