import type * as protocol from "@rivetkit/engine-runner-protocol";
import { describe, expect, it } from "vitest";
import { runKvRequest } from "../../src/engine/kv.ts";
import { MemoryStorage } from "../../src/engine/storage/memory.ts";

const buf = (length: number, fill = 1): ArrayBuffer =>
	new Uint8Array(length).fill(fill).buffer;
const error = (message: string) => ({
	tag: "KvErrorResponse",
	val: { message },
});

function put(
	keys: ArrayBuffer[],
	values: ArrayBuffer[],
): protocol.KvRequestData {
	return { tag: "KvPutRequest", val: { keys, values } };
}

describe("KV limits and error strings (spec §7.1)", () => {
	it("get and delete take at most 128 keys of at most 2046 bytes", () => {
		const storage = new MemoryStorage();
		const keys = (n: number) => Array.from({ length: n }, (_, i) => buf(1, i));
		expect(
			runKvRequest(storage, "a", {
				tag: "KvGetRequest",
				val: { keys: keys(128) },
			}).tag,
		).toBe("KvGetResponse");
		expect(
			runKvRequest(storage, "a", {
				tag: "KvGetRequest",
				val: { keys: keys(129) },
			}),
		).toEqual(error("a maximum of 128 keys is allowed"));
		expect(
			runKvRequest(storage, "a", {
				tag: "KvDeleteRequest",
				val: { keys: [buf(2047)] },
			}),
		).toEqual(error("key is too long (max 2048 bytes)"));
		expect(
			runKvRequest(storage, "a", {
				tag: "KvGetRequest",
				val: { keys: [buf(2046)] },
			}).tag,
		).toBe("KvGetResponse");
	});

	it("put checks lengths, entry count, payload, key and value sizes, and writes nothing on failure", () => {
		const storage = new MemoryStorage();
		expect(runKvRequest(storage, "a", put([buf(1)], []))).toEqual(
			error("Keys list length != values list length"),
		);
		const many = Array.from({ length: 129 }, (_, i) => buf(1, i));
		expect(runKvRequest(storage, "a", put(many, many))).toEqual(
			error("A maximum of 128 key-value entries is allowed"),
		);
		expect(
			runKvRequest(storage, "a", put([buf(1)], [buf(128 * 1024 + 1)])),
		).toEqual(error("value is too large (max 128 KiB)"));
		expect(
			runKvRequest(storage, "a", put([buf(1)], [buf(128 * 1024)])).tag,
		).toBe("KvPutResponse");
		expect(runKvRequest(storage, "a", put([buf(2047)], [buf(1)]))).toEqual(
			error("key is too long (max 2048 bytes)"),
		);
		// 7 × 128 KiB values + 7 × (1+2) key bytes = 917 525 bytes ≤ 976 KiB; one more byte of value per entry is fine too.
		const keys8 = Array.from({ length: 8 }, (_, i) => buf(1, i + 10));
		const values8 = Array.from({ length: 8 }, () => buf(122 * 1024));
		expect(runKvRequest(storage, "a", put(keys8, values8))).toEqual(
			error("total payload is too large (max 976 KiB)"),
		);
		expect(storage.kvList("a", { kind: "all" }, false, 100)).toHaveLength(1);
	});

	it("list validates query keys and applies the default limit; deleteRange answers KvDeleteResponse", () => {
		const storage = new MemoryStorage();
		const list = (query: protocol.KvListQuery): protocol.KvRequestData => ({
			tag: "KvListRequest",
			val: { query, reverse: null, limit: null },
		});
		expect(
			runKvRequest(
				storage,
				"a",
				list({ tag: "KvListPrefixQuery", val: { key: buf(2047) } }),
			),
		).toEqual(error("prefix key is too long (max 2048 bytes)"));
		expect(
			runKvRequest(
				storage,
				"a",
				list({
					tag: "KvListRangeQuery",
					val: { start: buf(2047), end: buf(1), exclusive: false },
				}),
			),
		).toEqual(error("start key is too long (max 2048 bytes)"));
		expect(
			runKvRequest(storage, "a", {
				tag: "KvDeleteRangeRequest",
				val: { start: buf(1, 5), end: buf(1, 1) },
			}),
		).toEqual({
			tag: "KvDeleteResponse",
			val: null,
		});
		const keys = Array.from({ length: 3 }, (_, i) => buf(1, i));
		runKvRequest(storage, "a", put(keys, keys), 99);
		const listed = runKvRequest(
			storage,
			"a",
			list({ tag: "KvListAllQuery", val: null }),
		);
		expect(
			listed.tag === "KvListResponse" &&
				listed.val.metadata.map((m) => m.updateTs),
		).toEqual([99n, 99n, 99n]);
	});
});
