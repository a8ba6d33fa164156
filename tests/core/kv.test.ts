import type * as protocol from "@rivetkit/engine-runner-protocol";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { KvLimitError, type Runner } from "../../src/core/index.ts";
import { connectedRunner, dropAndReconnect } from "./fake-socket.ts";

const u8 = (...bytes: number[]) => new Uint8Array(bytes);
type KvRequest = Extract<
	protocol.ToServer,
	{ tag: "ToServerKvRequest" }
>["val"];

async function connected(kvTimeoutMs = 30_000) {
	const {
		runner,
		sockets,
		latest: socket,
	} = await connectedRunner({
		totalSlots: 1,
		kvTimeoutMs,
		reconnect: { baseDelayMs: 10 },
	});
	const requests = (): KvRequest[] =>
		socket().sent.flatMap((m) =>
			m.tag === "ToServerKvRequest" ? [m.val] : [],
		);
	const respond = (requestId: number, data: protocol.KvResponseData) =>
		socket().receive({ tag: "ToClientKvResponse", val: { requestId, data } });
	return { runner, socket, sockets, requests, respond };
}

beforeEach(() => {
	vi.useFakeTimers();
});
afterEach(() => {
	vi.useRealTimers();
});

describe("KV limits are checked before sending", () => {
	test.each([
		[
			"129 keys",
			(r: Runner) =>
				r.kvGet(
					"a",
					Array.from({ length: 129 }, (_, i) => u8(i)),
				),
		],
		["a 2047-byte key", (r: Runner) => r.kvGet("a", [new Uint8Array(2047)])],
		[
			"a 128 KiB + 1 value",
			(r: Runner) => r.kvPut("a", [[u8(1), new Uint8Array(128 * 1024 + 1)]]),
		],
		[
			"a put payload over 976 KiB",
			(r: Runner) =>
				r.kvPut(
					"a",
					Array.from({ length: 8 }, (_, i): [Uint8Array, Uint8Array] => [
						u8(i),
						new Uint8Array(128 * 1024),
					]),
				),
		],
		[
			"a 2047-byte prefix",
			(r: Runner) => r.kvListPrefix("a", new Uint8Array(2047)),
		],
		[
			"129 deletes",
			(r: Runner) =>
				r.kvDelete(
					"a",
					Array.from({ length: 129 }, (_, i) => u8(i)),
				),
		],
	])("%s rejects with KvLimitError and sends nothing", async (_, call) => {
		const { runner, requests } = await connected();
		await expect(call(runner)).rejects.toBeInstanceOf(KvLimitError);
		expect(requests()).toEqual([]);
	});

	test("limits at the edge pass: 128 keys, 2046-byte key, 128 KiB value", async () => {
		const { runner, requests } = await connected();
		void runner.kvGet(
			"a",
			Array.from({ length: 128 }, (_, i) => u8(i)),
		);
		void runner.kvGet("a", [new Uint8Array(2046)]);
		void runner.kvPut("a", [[u8(1), new Uint8Array(128 * 1024)]]);
		expect(requests()).toHaveLength(3);
		void runner.shutdown(true).catch(() => {});
	});
});

describe("KV across connections", () => {
	test("round trip: results map back to request order, missing keys are null", async () => {
		const { runner, requests, respond } = await connected();
		const get = runner.kvGet("a", [u8(1), u8(2), u8(3)]);
		const req = requests()[0] as KvRequest;
		respond(req.requestId, {
			tag: "KvGetResponse",
			val: {
				keys: [u8(3).buffer, u8(1).buffer],
				values: [u8(30).buffer, u8(10).buffer],
				metadata: [],
			},
		});
		expect(await get).toEqual([u8(10), null, u8(30)]);
	});

	test("an engine error rejects with KvRemoteError carrying the engine's message", async () => {
		const { runner, requests, respond } = await connected();
		const put = runner.kvPut("a", [[u8(1), u8(2)]]);
		respond((requests()[0] as KvRequest).requestId, {
			tag: "KvErrorResponse",
			val: { message: "actor does not exist" },
		});
		await expect(put).rejects.toMatchObject({
			code: "kv_remote",
			message: expect.stringContaining("actor does not exist"),
		});
	});

	test("requests made while disconnected are queued and sent after init", async () => {
		const { runner, socket, requests, respond } = await connected();
		socket().closed(1006, "");
		const list = runner.kvListAll("a", { limit: 5, reverse: true });
		await vi.advanceTimersByTimeAsync(10);
		socket().open();
		expect(requests()).toEqual([]);
		socket().init();
		const req = requests()[0] as KvRequest;
		expect(req.data).toMatchObject({
			tag: "KvListRequest",
			val: { limit: 5n, reverse: true },
		});
		respond(req.requestId, {
			tag: "KvListResponse",
			val: { keys: [u8(1).buffer], values: [u8(9).buffer], metadata: [] },
		});
		expect(await list).toEqual([[u8(1), u8(9)]]);
	});

	test("a lost connection: reads are re-sent on the next one, writes fail at once with an unknown outcome", async () => {
		const { runner, socket, requests, respond } = await connected();
		const read = runner.kvGet("a", [u8(1)]);
		const write = runner
			.kvPut("a", [[u8(1), u8(2)]])
			.catch((err: unknown) => err);
		const del = runner.kvDelete("a", [u8(1)]).catch((err: unknown) => err);
		socket().closed(1006, "");
		expect(await write).toMatchObject({ code: "kv_unknown_outcome" });
		expect(await del).toMatchObject({ code: "kv_unknown_outcome" });
		await dropAndReconnect(socket);
		const again = requests();
		expect(again.map((r) => r.data.tag)).toEqual(["KvGetRequest"]);
		respond((again[0] as KvRequest).requestId, {
			tag: "KvGetResponse",
			val: { keys: [u8(1).buffer], values: [u8(7).buffer], metadata: [] },
		});
		expect(await read).toEqual([u8(7)]);
	});

	test("an unanswered request times out with a typed error, and its late answer is ignored", async () => {
		const { runner, requests, respond } = await connected(1000);
		const get = runner.kvGet("a", [u8(1)]).catch((err: unknown) => err);
		await vi.advanceTimersByTimeAsync(1000);
		expect(await get).toMatchObject({ code: "kv_timeout" });
		respond((requests()[0] as KvRequest).requestId, {
			tag: "KvDropResponse",
			val: null,
		});
	});

	test("every operation encodes as the spec says", async () => {
		const { runner, requests } = await connected();
		void runner.kvListRange("a", u8(1), u8(5), true);
		void runner.kvListPrefix("a", u8(7));
		void runner.kvDeleteRange("a", u8(1), u8(2));
		void runner.kvDrop("a");
		expect(requests().map((r) => r.data.tag)).toEqual([
			"KvListRequest",
			"KvListRequest",
			"KvDeleteRangeRequest",
			"KvDropRequest",
		]);
		expect(requests()[0]?.data).toMatchObject({
			val: {
				query: { tag: "KvListRangeQuery", val: { exclusive: true } },
				reverse: null,
				limit: null,
			},
		});
		void runner.shutdown(true).catch(() => {});
	});
});
