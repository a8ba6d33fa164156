/**
 * One runner socket as seen by the scripted engine: records and decodes every frame once, lets a
 * test await frames/events, and sends engine messages built with the official codec.
 */
import * as protocol from "@rivetkit/engine-runner-protocol";
import { WebSocket } from "ws";
import {
	type StartActorOptions,
	startActorCommand,
	stopActorCommand,
} from "./engine-commands.ts";
import { FrameTally } from "./frame-tally.ts";
import {
	createPendingWait,
	DEFAULT_WAIT_TIMEOUT_MS,
	type PendingWait,
} from "./pending-waits.ts";

export type ToServerTag = protocol.ToServer["tag"];

export interface WaitOptions {
	timeoutMs?: number;
}

export interface NextOptions extends WaitOptions {
	/** Only a message for which this returns true is taken (and consumed). */
	where?: (msg: protocol.ToServer) => boolean;
}

export interface WaitForEventsOptions extends WaitOptions {
	/** Count only events with sequence number ≥ since (see `eventCount`); default 0. */
	since?: number;
}

export interface ConnectionDefaults {
	runnerId: string;
	runnerLostThreshold: number;
	autoInit: boolean;
	pingIntervalMs: number | undefined;
	recordHistory: boolean;
}

interface NextWaiter {
	tag: ToServerTag | undefined;
	where: ((msg: protocol.ToServer) => boolean) | undefined;
	wait: PendingWait<protocol.ToServer>;
}

interface EventCounter {
	filter: (event: protocol.EventWrapper) => boolean;
	remaining: number;
	wait: PendingWait<void>;
}

interface ConditionWaiter {
	predicate: (received: protocol.ToServer[]) => boolean;
	wait: PendingWait<void>;
}

export class ScriptedConnection {
	readonly index: number;
	readonly url: URL;
	readonly protocols: string[];
	/** Every decoded frame, in order (empty when the engine was started with recordHistory: false). */
	readonly received: protocol.ToServer[] = [];
	readonly rawFrames: { binary: boolean; bytes: Uint8Array }[] = [];
	/** Binary frames the codec could not decode (they are not in `received`). */
	readonly decodeErrors: { frameNumber: number; error: unknown }[] = [];
	readonly closed: Promise<{ code: number; reason: string }>;

	readonly #ws: WebSocket;
	readonly #defaults: ConnectionDefaults;
	readonly #events: protocol.EventWrapper[] = [];
	#eventCount = 0;
	#frameCount = 0;
	#initReceived = false;
	#pingTimer: ReturnType<typeof setInterval> | undefined;
	#closeInfo: { code: number; reason: string } | undefined;
	// next() bookkeeping: a message is consumed at most once. Every message before #cursor is
	// consumed; every message of tag T before #tagCursor[T] is consumed.
	readonly #consumed: boolean[] = [];
	#cursor = 0;
	readonly #tagCursor = new Map<string, number>();
	readonly #tally = new FrameTally();
	readonly #nextWaiters: NextWaiter[] = [];
	readonly #eventCounters = new Set<EventCounter>();
	readonly #conditions = new Set<ConditionWaiter>();

	constructor(
		index: number,
		ws: WebSocket,
		url: URL,
		protocols: string[],
		defaults: ConnectionDefaults,
	) {
		this.index = index;
		this.#ws = ws;
		this.url = url;
		this.protocols = protocols;
		this.#defaults = defaults;
		this.closed = new Promise((resolve) => {
			ws.on("close", (code: number, reason: Buffer) => {
				this.#closeInfo = { code, reason: reason.toString("utf8") };
				this.#onClosed();
				resolve(this.#closeInfo);
			});
		});
		ws.on("error", () => {
			// The close event follows; the error itself carries nothing a test needs.
		});
		ws.on("message", (data: Buffer, isBinary: boolean) =>
			this.#onFrame(data, isBinary),
		);
	}

	get isOpen(): boolean {
		return this.#ws.readyState === WebSocket.OPEN;
	}

	/** Total events received so far (also counted when history is not recorded). */
	get eventCount(): number {
		return this.#eventCount;
	}

	/** All events received so far, flattened from ToServerEvents frames. A live array: do not mutate. */
	events(): protocol.EventWrapper[] {
		return this.#events;
	}

	next<T extends ToServerTag = ToServerTag>(
		tag?: T,
		opts: NextOptions = {},
	): Promise<Extract<protocol.ToServer, { tag: T }>> {
		const found = this.#takeRecorded(tag, opts.where);
		if (found)
			return Promise.resolve(found as Extract<protocol.ToServer, { tag: T }>);
		const what = `next ${tag ?? "message"}${opts.where ? " matching predicate" : ""}`;
		if (this.#closeInfo)
			return Promise.reject(new Error(this.#closedMessage(what)));
		const { wait, promise } = createPendingWait<protocol.ToServer>(
			what,
			opts.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS,
			(w) => this.#timeoutMessage(w.describe, opts.timeoutMs),
			(w) => {
				const i = this.#nextWaiters.findIndex((n) => n.wait === w);
				if (i >= 0) this.#nextWaiters.splice(i, 1);
			},
		);
		this.#nextWaiters.push({ tag, where: opts.where, wait });
		return promise as Promise<Extract<protocol.ToServer, { tag: T }>>;
	}

	/** Resolves when `predicate(received)` is true; re-checked on every frame, so keep it cheap. */
	waitUntil(
		predicate: (received: protocol.ToServer[]) => boolean,
		opts: WaitOptions = {},
	): Promise<void> {
		if (predicate(this.received)) return Promise.resolve();
		const what = "waitUntil predicate";
		if (this.#closeInfo)
			return Promise.reject(new Error(this.#closedMessage(what)));
		const { wait, promise } = createPendingWait<void>(
			what,
			opts.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS,
			(w) => this.#timeoutMessage(w.describe, opts.timeoutMs),
			() => this.#conditions.delete(waiter),
		);
		const waiter: ConditionWaiter = { predicate, wait };
		this.#conditions.add(waiter);
		return promise;
	}

	/**
	 * Resolves once `count` events matching `filter` have arrived with sequence number ≥ `since`.
	 * O(1) per event: meant for floods (the benchmark pushes 20k actors through it).
	 */
	waitForEvents(
		count: number,
		filter: (event: protocol.EventWrapper) => boolean = () => true,
		opts: WaitForEventsOptions = {},
	): Promise<void> {
		const since = opts.since ?? 0;
		let seen = 0;
		if (since < this.#eventCount) {
			if (!this.#defaults.recordHistory) {
				throw new Error(
					"waitForEvents: past events are not recorded (recordHistory: false); pass since: conn.eventCount",
				);
			}
			for (let i = since; i < this.#events.length; i++) {
				if (filter(this.#events[i] as protocol.EventWrapper)) seen++;
			}
		}
		if (seen >= count) return Promise.resolve();
		const what = `${count} events${opts.since ? ` since #${since}` : ""}`;
		if (this.#closeInfo)
			return Promise.reject(
				new Error(this.#closedMessage(`${what} (had ${seen})`)),
			);
		const counter: EventCounter = {
			filter,
			remaining: count - seen,
			wait: undefined as never,
		};
		const { wait, promise } = createPendingWait<void>(
			what,
			opts.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS,
			(w) =>
				this.#timeoutMessage(
					`${w.describe} (${count - counter.remaining} matched)`,
					opts.timeoutMs,
				),
			() => this.#eventCounters.delete(counter),
		);
		counter.wait = wait;
		this.#eventCounters.add(counter);
		return promise;
	}

	send(msg: protocol.ToClient): void {
		this.sendRaw(protocol.encodeToClient(msg));
	}

	sendRaw(data: Uint8Array | string): void {
		if (!this.isOpen) {
			throw new Error(
				`scripted engine: connection #${this.index} is not open (readyState ${this.#ws.readyState}); cannot send`,
			);
		}
		this.#ws.send(data);
	}

	init(opts: { runnerId?: string; runnerLostThreshold?: number } = {}): void {
		this.send({
			tag: "ToClientInit",
			val: {
				runnerId: opts.runnerId ?? this.#defaults.runnerId,
				metadata: {
					runnerLostThreshold: BigInt(
						opts.runnerLostThreshold ?? this.#defaults.runnerLostThreshold,
					),
					actorStopThreshold: 1_800_000n,
					serverlessDrainGracePeriod: null,
				},
			},
		});
	}

	startActor(actorId: string, opts: StartActorOptions = {}): void {
		this.commands([startActorCommand(actorId, opts)]);
	}

	stopActor(
		actorId: string,
		opts: { generation?: number; index?: bigint } = {},
	): void {
		this.commands([stopActorCommand(actorId, opts)]);
	}

	commands(list: protocol.CommandWrapper[]): void {
		this.send({ tag: "ToClientCommands", val: list });
	}

	ackEvents(checkpoints: protocol.ActorCheckpoint[]): void {
		this.send({
			tag: "ToClientAckEvents",
			val: { lastEventCheckpoints: checkpoints },
		});
	}

	ping(ts: bigint = BigInt(Date.now())): void {
		this.send({ tag: "ToClientPing", val: { ts } });
	}

	kvRespond(requestId: number, data: protocol.KvResponseData): void {
		this.send({ tag: "ToClientKvResponse", val: { requestId, data } });
	}

	/** Close from the engine side; resolves once the socket is closed. */
	async close(code = 1000, reason = ""): Promise<void> {
		if (
			this.#ws.readyState === WebSocket.OPEN ||
			this.#ws.readyState === WebSocket.CONNECTING
		) {
			this.#ws.close(code, reason);
		}
		await this.closed;
	}

	/** Drop the TCP connection without a close frame (the runner sees 1006). */
	terminate(): void {
		this.#ws.terminate();
	}

	#onFrame(data: Buffer, isBinary: boolean): void {
		this.#recordFrame(data, isBinary);
		for (const condition of this.#conditions) {
			try {
				if (condition.predicate(this.received)) condition.wait.resolve();
			} catch (error) {
				condition.wait.fail(`waitUntil predicate threw: ${String(error)}`);
			}
		}
	}

	#recordFrame(data: Buffer, isBinary: boolean): void {
		const frameNumber = this.#frameCount++;
		const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
		const record = this.#defaults.recordHistory;
		if (record) this.rawFrames.push({ binary: isBinary, bytes });
		if (!isBinary) return;
		let msg: protocol.ToServer;
		try {
			msg = protocol.decodeToServer(bytes);
		} catch (error) {
			this.decodeErrors.push({ frameNumber, error });
			return;
		}
		this.#tally.count(msg.tag);
		let consumed = false;
		for (const waiter of this.#nextWaiters) {
			if (
				(waiter.tag === undefined || waiter.tag === msg.tag) &&
				(!waiter.where || waiter.where(msg))
			) {
				consumed = true;
				waiter.wait.resolve(msg); // removes itself from #nextWaiters
				break;
			}
		}
		if (record) {
			this.received.push(msg);
			this.#consumed.push(consumed);
		}
		if (msg.tag === "ToServerEvents") this.#onEvents(msg.val, record);
		if (msg.tag === "ToServerInit" && !this.#initReceived) this.#onInit();
	}

	#onEvents(events: readonly protocol.EventWrapper[], record: boolean): void {
		this.#eventCount += events.length;
		for (const event of events) {
			if (record) this.#events.push(event);
			for (const counter of this.#eventCounters) {
				if (counter.filter(event) && --counter.remaining <= 0)
					counter.wait.resolve();
			}
		}
	}

	#onInit(): void {
		this.#initReceived = true;
		if (this.#defaults.autoInit && this.isOpen) this.init();
		const interval = this.#defaults.pingIntervalMs;
		if (interval !== undefined && interval > 0) {
			this.#pingTimer = setInterval(() => {
				if (this.isOpen) this.ping();
			}, interval);
		}
	}

	#onClosed(): void {
		clearInterval(this.#pingTimer);
		const pending = [
			...this.#nextWaiters.map((n) => n.wait),
			...[...this.#eventCounters].map((c) => c.wait),
			...[...this.#conditions].map((c) => c.wait),
		];
		for (const wait of pending) wait.fail(this.#closedMessage(wait.describe));
	}

	#takeRecorded(
		tag: ToServerTag | undefined,
		where: ((msg: protocol.ToServer) => boolean) | undefined,
	): protocol.ToServer | undefined {
		while (this.#cursor < this.#consumed.length && this.#consumed[this.#cursor])
			this.#cursor++;
		const start =
			tag === undefined
				? this.#cursor
				: Math.max(this.#cursor, this.#tagCursor.get(tag) ?? 0);
		for (let i = start; i < this.received.length; i++) {
			const msg = this.received[i] as protocol.ToServer;
			if (this.#consumed[i]) continue;
			if (tag !== undefined && msg.tag !== tag) continue;
			if (where && !where(msg)) continue;
			this.#consumed[i] = true;
			if (tag !== undefined && !where) this.#tagCursor.set(tag, i + 1);
			return msg;
		}
		if (tag !== undefined && !where)
			this.#tagCursor.set(tag, this.received.length);
		return undefined;
	}

	#summary(): string {
		const parts = [
			this.#tally.describe(this.#frameCount),
			`${this.#eventCount} events`,
		];
		if (this.decodeErrors.length)
			parts.push(`${this.decodeErrors.length} undecodable frames`);
		return parts.join("; ");
	}

	#timeoutMessage(what: string, timeoutMs: number | undefined): string {
		return `scripted engine: timed out after ${timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS} ms on connection #${this.index} waiting for ${what}; ${this.#summary()}`;
	}

	#closedMessage(what: string): string {
		const info = this.#closeInfo;
		return `scripted engine: connection #${this.index} closed (${info?.code} "${info?.reason}") while waiting for ${what}; ${this.#summary()}`;
	}
}
