/**
 * Dev engine bugs the fuzz run found, one test each (each fails without its fix).
 */
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
