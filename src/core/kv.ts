/**
 * KV requests: ids, the engine's limits checked before sending, timeouts, and what happens across a reconnect.
 *
 * - Made while disconnected: queued, sent after the next `ToClientInit`.
 * - Sent, then the connection was lost: reads are sent again on the next connection; writes reject at once with
 *   `KvUnknownOutcomeError` (the engine answers only on the socket that asked, and may have applied the write).
 * - Shutdown and runner loss reject everything pending with a typed error.
 */
import type * as protocol from "@rivetkit/engine-runner-protocol";
import {
	type EdgerunnerError,
	KvLimitError,
	KvRemoteError,
	KvTimeoutError,
	KvUnexpectedResponseError,
	KvUnknownOutcomeError,
} from "./errors.ts";
import type { Logger } from "./log.ts";
import type { TimerSet } from "./timers.ts";

/** The engine's limits (spec §7.1). */
export const KV_LIMITS = {
	maxKeys: 128,
	maxKeyBytes: 2046,
	maxValueBytes: 128 * 1024,
	maxPutPayloadBytes: 976 * 1024,
} as const;

type Payload<T extends protocol.KvResponseData["tag"]> = Extract<
	protocol.KvResponseData,
	{ tag: T }
>["val"];

interface Pending {
	id: number;
	actorId: string;
	data: protocol.KvRequestData;
	/** The response kind that answers it (a different one is the engine's error). */
	expect: protocol.KvResponseData["tag"];
	resolve: (value: unknown) => void;
	reject: (error: Error) => void;
	/** The connection it went out on, or undefined while queued. */
	sentOn: number | undefined;
}

export interface KvTransport {
	/** Sends now if the engine socket is ready; false if not. */
	send(message: protocol.ToServer): boolean;
	/** Id of the ready connection, if any. */
	connectionId(): number | undefined;
}

const isRead = (data: protocol.KvRequestData) =>
	data.tag === "KvGetRequest" || data.tag === "KvListRequest";
const opName = (data: protocol.KvRequestData) =>
	data.tag.replace(/^Kv|Request$/g, "").toLowerCase();

export class KvClient {
	readonly #transport: KvTransport;
	readonly #timers: TimerSet;
	readonly #timeoutMs: number;
	readonly #log: Logger;
	readonly #pending = new Map<number, Pending>();
	#nextId = 0;
	#closedWith: EdgerunnerError | undefined;

	constructor(
		transport: KvTransport,
		timers: TimerSet,
		timeoutMs: number,
		log: Logger,
	) {
		this.#transport = transport;
		this.#timers = timers;
		this.#timeoutMs = timeoutMs;
		this.#log = log;
	}

	get pendingCount(): number {
		return this.#pending.size;
	}

	request<T extends protocol.KvResponseData["tag"]>(
		actorId: string,
		data: protocol.KvRequestData,
		expect: T,
	): Promise<Payload<T>> {
		if (this.#closedWith) return Promise.reject(this.#closedWith);
		const limitError = checkLimits(data);
		if (limitError) return Promise.reject(limitError);
		return new Promise((resolve, reject) => {
			const id = this.#nextId;
			this.#nextId = (this.#nextId + 1) >>> 0;
			const entry: Pending = {
				id,
				actorId,
				data,
				expect,
				resolve: resolve as (v: unknown) => void,
				reject,
				sentOn: undefined,
			};
			this.#pending.set(id, entry);
			this.#timers.set(`kv.${id}`, this.#timeoutMs, () => {
				this.#pending.delete(id);
				reject(new KvTimeoutError(opName(data), this.#timeoutMs));
			});
			this.#trySend(entry);
		});
	}

	#trySend(entry: Pending): void {
		const message: protocol.ToServer = {
			tag: "ToServerKvRequest",
			val: { actorId: entry.actorId, requestId: entry.id, data: entry.data },
		};
		const connection = this.#transport.connectionId();
		if (connection !== undefined && this.#transport.send(message))
			entry.sentOn = connection;
	}

	/** After `ToClientInit`: sends everything queued. */
	flush(): void {
		for (const entry of this.#pending.values())
			if (entry.sentOn === undefined) this.#trySend(entry);
	}

	/** The connection was lost: reads go back to the queue, writes fail with an unknown outcome. */
	connectionLost(): void {
		for (const entry of this.#pending.values()) {
			if (entry.sentOn === undefined) continue;
			if (isRead(entry.data)) {
				entry.sentOn = undefined;
				continue;
			}
			this.#settle(entry.id)?.reject(
				new KvUnknownOutcomeError(opName(entry.data)),
			);
		}
	}

	handleResponse(response: protocol.ToClientKvResponse): void {
		const entry = this.#settle(response.requestId);
		if (!entry) {
			this.#log.warn(
				{ requestId: response.requestId },
				"KV response for an unknown request ignored",
			);
			return;
		}
		if (response.data.tag === "KvErrorResponse")
			entry.reject(new KvRemoteError(response.data.val.message));
		else if (response.data.tag !== entry.expect) {
			this.#log.warn(
				{
					requestId: response.requestId,
					expected: entry.expect,
					got: response.data.tag,
				},
				"KV response of the wrong kind",
			);
			entry.reject(
				new KvUnexpectedResponseError(opName(entry.data), response.data.tag),
			);
		} else entry.resolve(response.data.val);
	}

	/** Rejects every pending request (and all future ones, if `final`). */
	failAll(error: EdgerunnerError, final: boolean): void {
		if (final) this.#closedWith = error;
		for (const id of [...this.#pending.keys()]) this.#settle(id)?.reject(error);
	}

	/** Rejects the pending requests of one actor. */
	failActor(actorId: string, error: EdgerunnerError): void {
		for (const entry of [...this.#pending.values()]) {
			if (entry.actorId === actorId) this.#settle(entry.id)?.reject(error);
		}
	}

	#settle(id: number): Pending | undefined {
		const entry = this.#pending.get(id);
		if (!entry) return undefined;
		this.#pending.delete(id);
		this.#timers.clear(`kv.${id}`);
		return entry;
	}
}

function checkKeys(keys: readonly ArrayBuffer[]): KvLimitError | undefined {
	if (keys.length > KV_LIMITS.maxKeys) {
		return new KvLimitError(
			`A KV request may name at most ${KV_LIMITS.maxKeys} keys; got ${keys.length}.`,
		);
	}
	for (const key of keys) {
		if (key.byteLength > KV_LIMITS.maxKeyBytes) {
			return new KvLimitError(
				`A KV key may be at most ${KV_LIMITS.maxKeyBytes} bytes; got ${key.byteLength}.`,
			);
		}
	}
	return undefined;
}

/** The engine's limits, checked before anything is sent. */
export function checkLimits(
	data: protocol.KvRequestData,
): KvLimitError | undefined {
	switch (data.tag) {
		case "KvGetRequest":
		case "KvDeleteRequest":
			return checkKeys(data.val.keys);
		case "KvDeleteRangeRequest":
			return checkKeys([data.val.start, data.val.end]);
		case "KvListRequest": {
			const query = data.val.query;
			if (query.tag === "KvListRangeQuery")
				return checkKeys([query.val.start, query.val.end]);
			if (query.tag === "KvListPrefixQuery") return checkKeys([query.val.key]);
			return undefined;
		}
		case "KvPutRequest": {
			const { keys, values } = data.val;
			if (keys.length !== values.length) {
				return new KvLimitError(
					`KV put needs one value per key; got ${keys.length} keys and ${values.length} values.`,
				);
			}
			const keyError = checkKeys(keys);
			if (keyError) return keyError;
			let payload = 0;
			for (const key of keys) payload += key.byteLength + 2;
			for (const value of values) {
				if (value.byteLength > KV_LIMITS.maxValueBytes) {
					return new KvLimitError(
						`A KV value may be at most 128 KiB; got ${value.byteLength} bytes.`,
					);
				}
				payload += value.byteLength;
			}
			if (payload > KV_LIMITS.maxPutPayloadBytes) {
				return new KvLimitError(
					`A KV put may carry at most 976 KiB of keys and values; got ${payload} bytes.`,
				);
			}
			return undefined;
		}
		case "KvDropRequest":
			return undefined;
	}
}
