/**
 * Dev engine bugs the fuzz run found, one test each (each fails without its fix).
 */
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { type RunningEngine, startEngine } from "../../src/engine/index.ts";
import { RawRunner } from "../engine/raw-runner.ts";

let engine: RunningEngine | undefined;
afterEach(async () => {
	await engine?.close();
	engine = undefined;
});

describe("WebSocket gateway addressing", () => {
	it("a malformed rivet_actor.<id> subprotocol is refused 404, not an uncaught URIError in the upgrade handler", async () => {
		engine = await startEngine({ port: 0 });
		for (const id of ["%ff", "%", "%e0%a4%a"]) {
			const ws = new WebSocket(`${engine.url.replace("http", "ws")}/ws`, [
				"rivet",
				"rivet_target.actor",
				`rivet_actor.${id}`,
			]);
			ws.on("error", () => {});
			const status = await new Promise<number>((resolve) => {
				ws.on("unexpected-response", (_req, res) => {
					resolve(res.statusCode ?? 0);
					ws.terminate();
				});
				ws.on("open", () => resolve(101));
			});
			expect(status, id).toBe(404);
		}
		expect((await fetch(`${engine.url}/health`)).status).toBe(200);
	});
});

describe("runner socket", () => {
	it("an alarm time past what a Date can hold (any i64 is valid) is recorded, not a 1011 core.internal_error close", async () => {
		engine = await startEngine({ port: 0 });
		const runner = new RawRunner(engine.url, { key: "alarm" });
		try {
			await runner.opened;
			runner.init();
			await runner.next("ToClientInit");
			runner.event("0".repeat(30), 0, 0, {
				tag: "EventActorSetAlarm",
				val: { alarmTs: 2n ** 62n },
			});
			// The socket still serves: a KV request after it is answered.
			expect(
				await runner.kv("0".repeat(30), 1, { tag: "KvDropRequest", val: null }),
			).toEqual({
				tag: "KvErrorResponse",
				val: { message: "actor does not exist" },
			});
		} finally {
			await runner.close();
		}
	});
});

describe("HTTP", () => {
	it("a request Node's parser refuses (an extension method) is answered 400 with the API's error shape", async () => {
		engine = await startEngine({ port: 0 });
		const { port } = engine;
		const answer = await new Promise<string>((resolve) => {
			const socket = connect(port, "127.0.0.1");
			let got = "";
			socket.on("data", (d) => {
				got += d.toString();
			});
			socket.on("close", () => resolve(got));
			socket.write("FOO /actors HTTP/1.1\r\nHost: x\r\n\r\n");
		});
		expect(answer.split("\r\n")[0]).toBe("HTTP/1.1 400 Bad Request");
		const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
		expect(body).toMatchObject({ group: "api", code: "bad_request" });
	});
});

describe("event acks", () => {
	it("an event index near i64 max is acked with exactly that index (it was rounded past i64 max: a 1011 core.internal_error close)", async () => {
		engine = await startEngine({ port: 0 });
		const runner = new RawRunner(engine.url, { key: "big-index" });
		try {
			await runner.opened;
			runner.init("big-index", 1);
			await runner.next("ToClientInit");
			const created = await fetch(`${engine.url}/actors?namespace=default`, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: JSON.stringify({
					name: "big",
					runner_name_selector: "big-index",
					crash_policy: "destroy",
				}),
			});
			expect(created.status).toBe(200);
			const [start] = await runner.next("ToClientCommands");
			const actorId = start?.checkpoint.actorId as string;
			const index = 2n ** 63n - 1n;
			runner.send({
				tag: "ToServerEvents",
				val: [
					{
						checkpoint: { actorId, generation: 0, index },
						inner: {
							tag: "EventActorStateUpdate",
							val: { state: { tag: "ActorStateRunning", val: null } },
						},
					},
				],
			});
			const ack = await runner.next("ToClientAckEvents");
			expect(ack.lastEventCheckpoints).toEqual([
				{ actorId, generation: 0, index },
			]);
		} finally {
			await runner.close();
		}
	});
});
