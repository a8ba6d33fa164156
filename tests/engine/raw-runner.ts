import * as protocol from "@rivetkit/engine-runner-protocol";
import { WebSocket } from "ws";

export interface RawRunnerOptions {
	query?: string;
	protocols?: string[];
	key?: string;
	name?: string;
}

/**
 * A hand-driven runner socket on the official codec: tests send exact frames and await exact answers.
 * Close it in afterEach/finally.
 */
export class RawRunner {
	readonly ws: WebSocket;
	readonly received: protocol.ToClient[] = [];
	readonly opened: Promise<void>;
	readonly closed: Promise<{ code: number; reason: string }>;
	readonly #waiters = new Set<() => void>();

	constructor(engineUrl: string, options: RawRunnerOptions = {}) {
		const query =
			options.query ??
			`protocol_version=7&namespace=default&runner_key=${encodeURIComponent(options.key ?? "raw-key")}`;
		this.ws = new WebSocket(
			`${engineUrl.replace("http", "ws")}/runners/connect?${query}`,
			options.protocols ?? ["rivet"],
		);
		this.opened = new Promise((resolve, reject) => {
			this.ws.once("open", () => resolve());
			this.ws.once("error", reject);
		});
		this.closed = new Promise((resolve) => {
			this.ws.once("close", (code, reason) => {
				resolve({ code, reason: reason.toString() });
				this.#notify();
			});
		});
		this.ws.on("error", () => {}); // the close event carries what tests look at
		this.ws.on("message", (data, isBinary) => {
			if (!isBinary) return;
			this.received.push(
				protocol.decodeToClient(new Uint8Array(data as Buffer)),
			);
			this.#notify();
		});
	}

	#notify(): void {
		for (const check of [...this.#waiters]) check();
	}

	send(message: protocol.ToServer): void {
		this.ws.send(protocol.encodeToServer(message));
	}

	init(name = "raw-runner", totalSlots = 10, version = 1): void {
		this.send({
			tag: "ToServerInit",
			val: {
				name,
				version,
				totalSlots,
				prepopulateActorNames: null,
				metadata: null,
			},
		});
	}

	/** Resolves with the first received message (from `from` on) that matches. */
	next<T extends protocol.ToClient["tag"]>(
		tag: T,
		match: (
			message: Extract<protocol.ToClient, { tag: T }>["val"],
		) => boolean = () => true,
		timeoutMs = 5_000,
	): Promise<Extract<protocol.ToClient, { tag: T }>["val"]> {
		return new Promise((resolve, reject) => {
			const check = () => {
				const found = this.received.find(
					(m) => m.tag === tag && match(m.val as never),
				);
				if (!found) return;
				this.#waiters.delete(check);
				clearTimeout(timer);
				resolve(found.val as never);
			};
			const timer = setTimeout(() => {
				this.#waiters.delete(check);
				reject(
					new Error(
						`no ${tag} within ${timeoutMs} ms; got ${this.received.map((m) => m.tag).join(",")}`,
					),
				);
			}, timeoutMs);
			this.#waiters.add(check);
			check();
		});
	}

	/** Commands received so far, flattened. */
	commands(): protocol.CommandWrapper[] {
		return this.received.flatMap((m) =>
			m.tag === "ToClientCommands" ? m.val : [],
		);
	}

	async kv(
		actorId: string,
		requestId: number,
		data: protocol.KvRequestData,
	): Promise<protocol.KvResponseData> {
		this.send({ tag: "ToServerKvRequest", val: { actorId, requestId, data } });
		return (
			await this.next("ToClientKvResponse", (r) => r.requestId === requestId)
		).data;
	}

	event(
		actorId: string,
		generation: number,
		index: number,
		inner: protocol.Event,
	): void {
		this.send({
			tag: "ToServerEvents",
			val: [
				{ checkpoint: { actorId, generation, index: BigInt(index) }, inner },
			],
		});
	}

	close(): Promise<{ code: number; reason: string }> {
		if (
			this.ws.readyState === WebSocket.CONNECTING ||
			this.ws.readyState === WebSocket.OPEN
		)
			this.ws.close(1000);
		return this.closed;
	}
}

export const running: protocol.Event = {
	tag: "EventActorStateUpdate",
	val: { state: { tag: "ActorStateRunning", val: null } },
};
export const stopped = (code: protocol.StopCode): protocol.Event => ({
	tag: "EventActorStateUpdate",
	val: { state: { tag: "ActorStateStopped", val: { code, message: null } } },
});
export const sleepIntent: protocol.Event = {
	tag: "EventActorIntent",
	val: { intent: { tag: "ActorIntentSleep", val: null } },
};
