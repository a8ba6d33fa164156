import type * as protocol from "@rivetkit/engine-runner-protocol";
import type { EngineStorage, KvEntry, KvListQuery } from "./storage/types.ts";

/** The real engine's KV limits (spec §7.1, `actor_kv/mod.rs`). Keys count with 2 bytes of tuple overhead. */
export const KV_LIMITS = {
	maxKeys: 128,
	maxKeySize: 2048,
	maxValueSize: 128 * 1024,
	maxPutPayloadSize: 976 * 1024,
	maxStorageSize: 10 * 1024 * 1024 * 1024,
	defaultListLimit: 16384,
} as const;

/** The crate version string the real engine puts in `KvMetadata.version`; ours names the dev engine. */
const METADATA_VERSION = new TextEncoder().encode("edgerunner-dev-engine");

class KvError extends Error {}

function ensure(condition: boolean, message: string): asserts condition {
	if (!condition) throw new KvError(message);
}

const tupleLength = (key: ArrayBuffer): number => key.byteLength + 2;

function validateKeys(keys: readonly ArrayBuffer[]): void {
	ensure(keys.length <= KV_LIMITS.maxKeys, "a maximum of 128 keys is allowed");
	for (const key of keys)
		ensure(
			tupleLength(key) <= KV_LIMITS.maxKeySize,
			"key is too long (max 2048 bytes)",
		);
}

function validateListQuery(query: protocol.KvListQuery): void {
	if (query.tag === "KvListRangeQuery") {
		ensure(
			tupleLength(query.val.start) <= KV_LIMITS.maxKeySize,
			"start key is too long (max 2048 bytes)",
		);
		ensure(
			tupleLength(query.val.end) <= KV_LIMITS.maxKeySize,
			"end key is too long (max 2048 bytes)",
		);
	} else if (query.tag === "KvListPrefixQuery") {
		ensure(
			tupleLength(query.val.key) <= KV_LIMITS.maxKeySize,
			"prefix key is too long (max 2048 bytes)",
		);
	}
}

function validateEntries(
	keys: readonly ArrayBuffer[],
	values: readonly ArrayBuffer[],
	totalSize: number,
): void {
	ensure(
		keys.length === values.length,
		"Keys list length != values list length",
	);
	ensure(
		keys.length <= KV_LIMITS.maxKeys,
		"A maximum of 128 key-value entries is allowed",
	);
	const payloadSize =
		keys.reduce((sum, key) => sum + tupleLength(key), 0) +
		values.reduce((sum, value) => sum + value.byteLength, 0);
	ensure(
		payloadSize <= KV_LIMITS.maxPutPayloadSize,
		"total payload is too large (max 976 KiB)",
	);
	const remaining = Math.max(0, KV_LIMITS.maxStorageSize - totalSize);
	ensure(
		payloadSize <= remaining,
		`not enough space left in storage (${remaining} bytes remaining, current payload is ${payloadSize} bytes)`,
	);
	for (const key of keys)
		ensure(
			tupleLength(key) <= KV_LIMITS.maxKeySize,
			"key is too long (max 2048 bytes)",
		);
	for (const value of values)
		ensure(
			value.byteLength <= KV_LIMITS.maxValueSize,
			"value is too large (max 128 KiB)",
		);
}

const bytes = (buffer: ArrayBuffer): Uint8Array => new Uint8Array(buffer);
const buffer = (view: Uint8Array): ArrayBuffer =>
	view.buffer.slice(
		view.byteOffset,
		view.byteOffset + view.byteLength,
	) as ArrayBuffer;

function toListResponse(entries: KvEntry[]): protocol.KvListResponse {
	return {
		keys: entries.map((entry) => buffer(entry.key)),
		values: entries.map((entry) => buffer(entry.value)),
		metadata: entries.map((entry) => ({
			version: buffer(METADATA_VERSION),
			updateTs: BigInt(entry.updateTs),
		})),
	};
}

function toQuery(query: protocol.KvListQuery): KvListQuery {
	switch (query.tag) {
		case "KvListAllQuery":
			return { kind: "all" };
		case "KvListRangeQuery":
			return {
				kind: "range",
				start: bytes(query.val.start),
				end: bytes(query.val.end),
				exclusive: query.val.exclusive,
			};
		case "KvListPrefixQuery":
			return { kind: "prefix", prefix: bytes(query.val.key) };
	}
}

/**
 * Runs one KV request for an actor already known to belong to the requesting runner. Validation failures and
 * storage errors become `KvErrorResponse` with the real engine's message; nothing is written on failure.
 */
export function runKvRequest(
	storage: EngineStorage,
	actorId: string,
	data: protocol.KvRequestData,
	now: number = Date.now(),
): protocol.KvResponseData {
	try {
		switch (data.tag) {
			case "KvGetRequest": {
				validateKeys(data.val.keys);
				return {
					tag: "KvGetResponse",
					val: toListResponse(storage.kvGet(actorId, data.val.keys.map(bytes))),
				};
			}
			case "KvListRequest": {
				validateListQuery(data.val.query);
				const limit =
					data.val.limit === null
						? KV_LIMITS.defaultListLimit
						: Number(data.val.limit);
				const entries = storage.kvList(
					actorId,
					toQuery(data.val.query),
					data.val.reverse ?? false,
					limit,
				);
				return { tag: "KvListResponse", val: toListResponse(entries) };
			}
			case "KvPutRequest": {
				validateEntries(
					data.val.keys,
					data.val.values,
					storage.kvSize(actorId),
				);
				const entries = data.val.keys.map((key, i) => ({
					key: bytes(key),
					value: bytes(data.val.values[i] as ArrayBuffer),
				}));
				storage.kvPut(actorId, entries, now);
				return { tag: "KvPutResponse", val: null };
			}
			case "KvDeleteRequest": {
				validateKeys(data.val.keys);
				storage.kvDelete(actorId, data.val.keys.map(bytes));
				return { tag: "KvDeleteResponse", val: null };
			}
			case "KvDeleteRangeRequest": {
				ensure(
					tupleLength(data.val.start) <= KV_LIMITS.maxKeySize,
					"start key is too long (max 2048 bytes)",
				);
				ensure(
					tupleLength(data.val.end) <= KV_LIMITS.maxKeySize,
					"end key is too long (max 2048 bytes)",
				);
				storage.kvDeleteRange(
					actorId,
					bytes(data.val.start),
					bytes(data.val.end),
				);
				// v7 has no KvDeleteRangeResponse: the real engine answers with KvDeleteResponse.
				return { tag: "KvDeleteResponse", val: null };
			}
			case "KvDropRequest": {
				storage.kvDrop(actorId);
				return { tag: "KvDropResponse", val: null };
			}
		}
	} catch (error) {
		const message = error instanceof Error ? error.message : String(error);
		return { tag: "KvErrorResponse", val: { message } };
	}
}
