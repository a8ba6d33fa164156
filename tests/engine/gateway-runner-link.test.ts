/**
 * The gateway after a dev engine restart: the actor's record still names its runner, which has not reconnected yet.
 * A client WebSocket (or request) that arrives first must wait for the runner's socket, not send its open into
 * nothing and sit out the whole WebSocket open timeout (15 s) for `1011 guard.websocket_open_timeout`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { WebSocket } from "ws";
import { type RunningEngine, startEngine } from "../../src/engine/index.ts";
import { RawRunner, running } from "./raw-runner.ts";

const RUNNER = "link-runner";
const POLL_EVERY_MS = 20;
const STATE_WITHIN_MS = 5_000;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Connects a raw runner named RUNNER with key `k` and waits for its init. */
async function connectRunner(engine: RunningEngine): Promise<RawRunner> {
	const runner = new RawRunner(engine.url, { key: "k" });
	cleanups.push(() => runner.close());
	await runner.opened;
	runner.init(RUNNER);
	await runner.next("ToClientInit");
	return runner;
}

/** Polls an engine state until `check` holds, within STATE_WITHIN_MS. */
async function until(what: string, check: () => Promise<boolean>) {
	const deadline = Date.now() + STATE_WITHIN_MS;
	while (!(await check())) {
		if (Date.now() > deadline) throw new Error(`not within bound: ${what}`);
		await new Promise((resolve) => setTimeout(resolve, POLL_EVERY_MS));
	}
}

it("after an engine restart, a client WebSocket and a request that come before the runner wait for it, then go through", async () => {
	const dir = mkdtempSync(join(tmpdir(), "edgerunner-gateway-link-"));
	cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
	const storage = { path: join(dir, "engine.sqlite") };

	const first = await startEngine({ port: 0, storage });
	const runner = await connectRunner(first);
	const created = await fetch(`${first.url}/actors?namespace=default`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({
			name: "a",
			runner_name_selector: RUNNER,
			crash_policy: "sleep",
		}),
	});
	expect(created.status).toBe(200);
	const actorId = ((await created.json()) as { actor: { actor_id: string } })
		.actor.actor_id;
	await runner.next("ToClientCommands", (commands) =>
		commands.some((c) => c.checkpoint.actorId === actorId),
	);
	runner.event(actorId, 0, 0, running);
	const connectable = async (engine: RunningEngine) => {
		const listed = (await (
			await fetch(`${engine.url}/actors?namespace=default&actor_ids=${actorId}`)
		).json()) as { actors: { connectable_ts: number | null }[] };
		return listed.actors[0]?.connectable_ts != null;
	};
	await until("the actor connectable", () => connectable(first));
	await runner.close();
	await first.close();

	const engine = await startEngine({ port: 0, storage });
	cleanups.push(() => engine.close());
	// The actor is still running on its runner, whose socket is not back.
	expect(await connectable(engine)).toBe(true);
	const runners = (await (
		await fetch(`${engine.url}/runners?namespace=default`)
	).json()) as { runners: { connected: boolean }[] };
	expect(runners.runners.map((r) => r.connected)).toEqual([false]);

	const client = new WebSocket(
		`${engine.url.replace("http", "ws")}/gateway/${actorId}/ws`,
		["rivet"],
	);
	cleanups.push(() => client.terminate());
	const closed = new Promise<number>((resolve) =>
		client.once("close", (code) => resolve(code)),
	);
	await new Promise((resolve, reject) => {
		client.once("open", resolve);
		client.once("error", reject);
	});

	// The socket is surely in before the runner (its open was awaited); the request most likely is too.
	const request = fetch(`${engine.url}/gateway/${actorId}/hello`);

	const back = await connectRunner(engine);
	const start = await back.next(
		"ToClientTunnelMessage",
		(m) => m.messageKind.tag === "ToClientRequestStart",
	);
	back.send({
		tag: "ToServerTunnelMessage",
		val: {
			messageId: { ...start.messageId, messageIndex: 0 },
			messageKind: {
				tag: "ToServerResponseStart",
				val: { status: 200, headers: new Map(), body: null, stream: false },
			},
		},
	});
	expect((await request).status).toBe(200);
	// Before the fix the open went to the absent runner and was lost: nothing came here.
	const open = await back.next(
		"ToClientTunnelMessage",
		(m) =>
			m.messageKind.tag === "ToClientWebSocketOpen" &&
			m.messageKind.val.actorId === actorId,
	);
	back.send({
		tag: "ToServerTunnelMessage",
		val: {
			messageId: { ...open.messageId, messageIndex: 0 },
			messageKind: {
				tag: "ToServerWebSocketOpen",
				val: { canHibernate: false },
			},
		},
	});
	client.send("after the restart");
	const message = await back.next(
		"ToClientTunnelMessage",
		(m) => m.messageKind.tag === "ToClientWebSocketMessage",
	);
	expect(
		message.messageKind.tag === "ToClientWebSocketMessage" &&
			Buffer.from(message.messageKind.val.data).toString(),
	).toBe("after the restart");
	expect(client.readyState).toBe(WebSocket.OPEN);
	client.close(1000);
	expect(await closed).toBe(1000);
});
