/**
 * The KV methods of R's `Runner` (`kvGet`, `kvList*`, `kvPut`, …): byte arrays in, byte arrays out, mapped onto
 * the protocol's requests and answers. Transport, limits and failure semantics live in `kv.ts`.
 */
import type * as protocol from "@rivetkit/engine-runner-protocol";
import type { KvClient } from "./kv.ts";

export interface KvListOptions {
	reverse?: boolean;
	limit?: number;
}

type Entries = [Uint8Array, Uint8Array][];

/** A copy of exactly the view's bytes (the codec wants an `ArrayBuffer`). */
const bytes = (view: Uint8Array): ArrayBuffer =>
	view.buffer.slice(
		view.byteOffset,
		view.byteOffset + view.byteLength,
	) as ArrayBuffer;

function hex(key: ArrayBuffer | Uint8Array): string {
	const view = key instanceof Uint8Array ? key : new Uint8Array(key);
	let out = "";
	for (const byte of view) out += byte.toString(16).padStart(2, "0");
	return out;
}

export class KvApi {
	readonly #kv: KvClient;

	constructor(kv: KvClient) {
		this.#kv = kv;
	}

	/** Values in the order of `keys`; `null` where the engine has none. */
	async get(
		actorId: string,
		keys: Uint8Array[],
	): Promise<(Uint8Array | null)[]> {
		const response = await this.#kv.request(
			actorId,
			{ tag: "KvGetRequest", val: { keys: keys.map(bytes) } },
			"KvGetResponse",
		);
		const found = new Map<string, Uint8Array>();
		response.keys.forEach((key, i) => {
			const value = response.values[i];
			if (value) found.set(hex(key), new Uint8Array(value));
		});
		return keys.map((key) => found.get(hex(key)) ?? null);
	}

	listAll(actorId: string, options?: KvListOptions): Promise<Entries> {
		return this.#list(actorId, { tag: "KvListAllQuery", val: null }, options);
	}

	listRange(
		actorId: string,
		start: Uint8Array,
		end: Uint8Array,
		exclusive = false,
		options?: KvListOptions,
	): Promise<Entries> {
		const val = { start: bytes(start), end: bytes(end), exclusive };
		return this.#list(actorId, { tag: "KvListRangeQuery", val }, options);
	}

	listPrefix(
		actorId: string,
		prefix: Uint8Array,
		options?: KvListOptions,
	): Promise<Entries> {
		return this.#list(
			actorId,
			{ tag: "KvListPrefixQuery", val: { key: bytes(prefix) } },
			options,
		);
	}

	async #list(
		actorId: string,
		query: protocol.KvListQuery,
		options?: KvListOptions,
	): Promise<Entries> {
		const val = {
			query,
			reverse: options?.reverse ?? null,
			limit: options?.limit === undefined ? null : BigInt(options.limit),
		};
		const response = await this.#kv.request(
			actorId,
			{ tag: "KvListRequest", val },
			"KvListResponse",
		);
		const entries: Entries = [];
		response.keys.forEach((key, i) => {
			const value = response.values[i];
			if (value) entries.push([new Uint8Array(key), new Uint8Array(value)]);
		});
		return entries;
	}

	async put(actorId: string, entries: Entries): Promise<void> {
		const val = {
			keys: entries.map(([key]) => bytes(key)),
			values: entries.map(([, value]) => bytes(value)),
		};
		await this.#kv.request(
			actorId,
			{ tag: "KvPutRequest", val },
			"KvPutResponse",
		);
	}

	async delete(actorId: string, keys: Uint8Array[]): Promise<void> {
		await this.#kv.request(
			actorId,
			{ tag: "KvDeleteRequest", val: { keys: keys.map(bytes) } },
			"KvDeleteResponse",
		);
	}

	async deleteRange(
		actorId: string,
		start: Uint8Array,
		end: Uint8Array,
	): Promise<void> {
		const val = { start: bytes(start), end: bytes(end) };
		await this.#kv.request(
			actorId,
			{ tag: "KvDeleteRangeRequest", val },
			"KvDeleteResponse",
		);
	}

	async drop(actorId: string): Promise<void> {
		await this.#kv.request(
			actorId,
			{ tag: "KvDropRequest", val: null },
			"KvDropResponse",
		);
	}
}
