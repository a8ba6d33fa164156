/**
 * A loopback TCP proxy between a runner and an engine that injects network faults: cut both sides, cut in the
 * middle of a WebSocket frame, stall one direction or both (held data is delivered when the stall ends, as TCP
 * would), a half-open link (the current connection turns into a black hole and the engine's side stays open and
 * silent), latency with jitter, a bandwidth limit, and refused reconnects. `faultSchedule(prng, …)` draws a list of
 * faults from a seed and `run(schedule)` plays it, so a run's faults replay from its seed.
 *
 * Bytes travel through a {@link Lane} per direction: a queue of chunks, each released at a time computed from the
 * latency, jitter and bandwidth in force when it arrived (never before the chunk ahead of it, so order holds).
 * Closes travel in the same queue, so a stalled direction also holds back its FIN.
 */
import {
	createServer,
	connect as dial,
	type Server,
	type Socket,
} from "node:net";
import { createPrng, type Prng } from "./prng.ts";

/** `toEngine`: bytes the runner sends; `toRunner`: bytes the engine sends. */
export type Direction = "toEngine" | "toRunner";
export type Directions = Direction | "both";

export const FAULT_KINDS = [
	"cut",
	"cutMidFrame",
	"stall",
	"halfOpen",
	"latency",
	"bandwidth",
	"refuse",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** One scheduled fault: `kind` starts `atMs` after `run()` began and lasts `durationMs` (0 for a cut). */
export interface Fault {
	atMs: number;
	kind: FaultKind;
	durationMs: number;
	direction?: Directions;
	/** cutMidFrame: bytes of the frame let through before the cut. */
	bytes?: number;
	latencyMs?: number;
	jitterMs?: number;
	bytesPerSecond?: number;
}

export interface FaultProxyStats {
	/** Faults applied, by kind. */
	injected: Record<FaultKind, number>;
	accepted: number;
	refused: number;
	/** Connections cut by `cut`, `cutMidFrame` or the end of a half-open window. */
	cuts: number;
	/** Mid-frame cuts that happened (an armed cut waits for a frame long enough). */
	midFrameCuts: number;
	bytesToEngine: number;
	bytesToRunner: number;
}

type QueueItem =
	| { kind: "data"; data: Buffer; at: number }
	| { kind: "close"; at: number }
	| { kind: "cut"; at: number };

/**
 * Finds WebSocket frame boundaries in one direction of a connection: the HTTP upgrade head first (up to the blank
 * line), then frames (RFC 6455 §5.2: 2 bytes, 2 or 8 bytes of extended length, 4 bytes of mask when masked).
 */
export class FrameTracker {
	#inHead = true;
	#headTail = "";
	#header: number[] = [];
	/** Bytes of the current frame still to come after its header; 0 at a boundary. */
	#payloadLeft = 0;
	/** Bytes of the current frame seen so far (header included). */
	#frameSeen = 0;
	#frameTotal = 0;
	frames = 0;

	/**
	 * Feeds `data`; returns the offset in `data` at which `cutAfter` bytes of a frame whose total length exceeds
	 * `cutAfter` have passed, or -1 when no frame reached that point in this chunk.
	 */
	feed(data: Buffer, cutAfter?: number): number {
		let i = 0;
		while (i < data.length) {
			if (this.#inHead) {
				const text = this.#headTail + data.toString("latin1", i);
				const end = text.indexOf("\r\n\r\n");
				if (end === -1) {
					this.#headTail = text.slice(-3);
					return -1;
				}
				i += end + 4 - this.#headTail.length;
				this.#inHead = false;
				this.#headTail = "";
				continue;
			}
			if (this.#payloadLeft === 0 && this.#frameTotal === 0) {
				// reading a header
				this.#header.push(data[i] as number);
				i++;
				const need = headerLength(this.#header);
				const complete = need !== undefined && this.#header.length >= need;
				const frameLonger = !complete || payloadLength(this.#header) > 0;
				// The cut falls inside the header (or right after it, with a payload to come).
				if (
					cutAfter !== undefined &&
					this.#header.length === cutAfter &&
					frameLonger
				)
					return i;
				if (!complete) continue;
				const payload = payloadLength(this.#header);
				this.#frameTotal = need + payload;
				this.#frameSeen = need;
				this.#payloadLeft = payload;
				this.#header = [];
				this.frames++;
				if (payload === 0) this.#frameTotal = 0;
				continue;
			}
			const take = Math.min(this.#payloadLeft, data.length - i);
			if (
				cutAfter !== undefined &&
				this.#frameTotal > cutAfter &&
				this.#frameSeen < cutAfter &&
				this.#frameSeen + take >= cutAfter
			)
				return i + (cutAfter - this.#frameSeen);
			this.#payloadLeft -= take;
			this.#frameSeen += take;
			i += take;
			if (this.#payloadLeft === 0) this.#frameTotal = 0;
		}
		return -1;
	}
}

function headerLength(header: number[]): number | undefined {
	if (header.length < 2) return undefined;
	const second = header[1] as number;
	const len7 = second & 0x7f;
	const masked = (second & 0x80) !== 0;
	return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
}

function payloadLength(header: number[]): number {
	const len7 = (header[1] as number) & 0x7f;
	if (len7 < 126) return len7;
	if (len7 === 126) return ((header[2] as number) << 8) | (header[3] as number);
	let n = 0;
	for (let k = 2; k < 10; k++) n = n * 256 + (header[k] as number);
	return n;
}

/** What shapes a lane's traffic right now (set by the proxy's current faults). */
interface Shaping {
	latencyMs: number;
	jitterMs: number;
	bytesPerSecond: number;
	stalled: boolean;
}

interface LaneHooks {
	shaping: () => Shaping;
	random: () => number;
	onDeliver: (bytes: number) => void;
	onClose: () => void;
	onCut: () => void;
}

/** One direction of one proxied connection. */
class Lane {
	readonly tracker = new FrameTracker();
	#queue: QueueItem[] = [];
	#lastAt = 0;
	#timer: NodeJS.Timeout | undefined;
	#queuedBytes = 0;
	/** An armed mid-frame cut: after this many bytes of the next frame long enough. */
	cutAfter: number | undefined;

	readonly from: Socket;
	readonly to: Socket;
	readonly #hooks: LaneHooks;

	constructor(from: Socket, to: Socket, hooks: LaneHooks) {
		this.from = from;
		this.to = to;
		this.#hooks = hooks;
	}

	#releaseAt(bytes: number): number {
		const shaping = this.#hooks.shaping();
		const now = Date.now();
		const delay = shaping.latencyMs + this.#hooks.random() * shaping.jitterMs;
		const transmit =
			shaping.bytesPerSecond > 0 ? (bytes * 1000) / shaping.bytesPerSecond : 0;
		const at = Math.max(this.#lastAt, now + delay) + transmit;
		this.#lastAt = at;
		return at;
	}

	push(data: Buffer): void {
		const cutAt =
			this.cutAfter === undefined
				? this.tracker.feed(data)
				: this.tracker.feed(data, this.cutAfter);
		if (cutAt >= 0) {
			this.cutAfter = undefined;
			const head = data.subarray(0, cutAt);
			if (head.length > 0)
				this.#enqueue({
					kind: "data",
					data: head,
					at: this.#releaseAt(head.length),
				});
			this.#enqueue({ kind: "cut", at: this.#releaseAt(0) });
			return;
		}
		this.#enqueue({ kind: "data", data, at: this.#releaseAt(data.length) });
	}

	pushClose(): void {
		this.#enqueue({ kind: "close", at: this.#releaseAt(0) });
	}

	#enqueue(item: QueueItem): void {
		this.#queue.push(item);
		if (item.kind === "data") {
			this.#queuedBytes += item.data.length;
			// Backpressure: a stalled or slow lane stops reading its source instead of buffering without bound.
			if (this.#queuedBytes > 4 * 1024 * 1024) this.from.pause();
		}
		this.pump();
	}

	pump(): void {
		if (this.#timer) {
			clearTimeout(this.#timer);
			this.#timer = undefined;
		}
		if (this.#hooks.shaping().stalled) return;
		const now = Date.now();
		while (this.#queue.length > 0) {
			const item = this.#queue[0] as QueueItem;
			if (item.at > now) {
				this.#timer = setTimeout(() => this.pump(), item.at - now);
				return;
			}
			this.#queue.shift();
			if (item.kind === "data") {
				this.#queuedBytes -= item.data.length;
				if (!this.to.destroyed) this.to.write(item.data);
				this.#hooks.onDeliver(item.data.length);
				if (this.#queuedBytes <= 1024 * 1024 && this.from.isPaused())
					this.from.resume();
			} else if (item.kind === "close") this.#hooks.onClose();
			else this.#hooks.onCut();
		}
		// A stall ended: release times computed before it are in the past now; later chunks start afresh.
		this.#lastAt = Math.min(this.#lastAt, now);
	}

	/** Drops everything queued (a half-open link loses what was in flight). */
	discard(): void {
		this.#queue = [];
		this.#queuedBytes = 0;
		if (this.#timer) clearTimeout(this.#timer);
		this.#timer = undefined;
	}

	dispose(): void {
		this.discard();
	}
}

interface Pair {
	client: Socket;
	upstream: Socket;
	toEngine: Lane;
	toRunner: Lane;
	/** A black hole: bytes are dropped both ways and a close on one side is not passed on. */
	halfOpen: boolean;
}

export interface FaultProxyOptions {
	/** Seed of the jitter draws (the schedule has its own PRNG). Default 1. */
	seed?: number;
	/** Called with each fault as it is applied (for the run's event log). */
	onFault?: (fault: Fault) => void;
}

export class FaultProxy {
	readonly #server: Server;
	readonly #pairs = new Set<Pair>();
	readonly #target: URL;
	readonly #random: Prng;
	readonly #onFault: ((fault: Fault) => void) | undefined;
	#refuseUntil = 0;
	#stalled: Record<Direction, boolean> = { toEngine: false, toRunner: false };
	#latencyMs = 0;
	#jitterMs = 0;
	#bytesPerSecond = 0;
	#pendingMidFrame: { direction: Direction; bytes: number } | undefined;
	#timers = new Set<NodeJS.Timeout>();
	#closed = false;
	readonly stats: FaultProxyStats = {
		injected: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<
			FaultKind,
			number
		>,
		accepted: 0,
		refused: 0,
		cuts: 0,
		midFrameCuts: 0,
		bytesToEngine: 0,
		bytesToRunner: 0,
	};

	constructor(targetUrl: string, options: FaultProxyOptions = {}) {
		this.#target = new URL(targetUrl);
		this.#random = createPrng(options.seed ?? 1);
		this.#onFault = options.onFault;
		this.#server = createServer((client) => this.#accept(client));
	}

	/** Listens on a free loopback port; resolves with the proxy's `http://` URL. */
	async listen(): Promise<string> {
		await new Promise<void>((resolve) =>
			this.#server.listen(0, "127.0.0.1", resolve),
		);
		const address = this.#server.address();
		if (address === null || typeof address === "string")
			throw new Error("fault proxy has no TCP address");
		return `http://127.0.0.1:${address.port}`;
	}

	/** Connections open now (each a runner socket to the engine). */
	get connections(): number {
		return this.#pairs.size;
	}

	#accept(client: Socket): void {
		client.on("error", () => {});
		client.setNoDelay(true);
		if (this.#closed || Date.now() < this.#refuseUntil) {
			this.stats.refused++;
			client.resetAndDestroy();
			return;
		}
		this.stats.accepted++;
		const upstream = dial(Number(this.#target.port), this.#target.hostname);
		upstream.on("error", () => {});
		upstream.setNoDelay(true);
		const shaping = (direction: Direction) => (): Shaping => ({
			latencyMs: this.#latencyMs,
			jitterMs: this.#jitterMs,
			bytesPerSecond: this.#bytesPerSecond,
			stalled: this.#stalled[direction],
		});
		const jitter = () => this.#random.next();
		const pair: Pair = {
			client,
			upstream,
			halfOpen: false,
			toEngine: new Lane(client, upstream, {
				shaping: shaping("toEngine"),
				random: jitter,
				onDeliver: (n) => {
					this.stats.bytesToEngine += n;
				},
				onClose: () => upstream.destroy(),
				onCut: () => this.#cutPair(pair, true),
			}),
			toRunner: new Lane(upstream, client, {
				shaping: shaping("toRunner"),
				random: jitter,
				onDeliver: (n) => {
					this.stats.bytesToRunner += n;
				},
				onClose: () => client.destroy(),
				onCut: () => this.#cutPair(pair, true),
			}),
		};
		if (this.#pendingMidFrame) {
			pair[this.#pendingMidFrame.direction].cutAfter =
				this.#pendingMidFrame.bytes;
		}
		this.#pairs.add(pair);
		client.on("data", (data: Buffer) => {
			if (!pair.halfOpen) pair.toEngine.push(data);
		});
		upstream.on("data", (data: Buffer) => {
			if (!pair.halfOpen) pair.toRunner.push(data);
		});
		client.on("close", () => {
			if (!pair.halfOpen) pair.toEngine.pushClose();
			this.#forgetIfGone(pair);
		});
		upstream.on("close", () => {
			if (!pair.halfOpen) pair.toRunner.pushClose();
			this.#forgetIfGone(pair);
		});
	}

	#forgetIfGone(pair: Pair): void {
		if (pair.client.destroyed && pair.upstream.destroyed) {
			pair.toEngine.dispose();
			pair.toRunner.dispose();
			this.#pairs.delete(pair);
		}
	}

	#cutPair(pair: Pair, midFrame = false): void {
		if (pair.client.destroyed && pair.upstream.destroyed) return;
		this.stats.cuts++;
		if (midFrame) {
			this.stats.midFrameCuts++;
			this.#pendingMidFrame = undefined;
			for (const other of this.#pairs) {
				other.toEngine.cutAfter = undefined;
				other.toRunner.cutAfter = undefined;
			}
		}
		pair.toEngine.discard();
		pair.toRunner.discard();
		pair.client.destroy();
		pair.upstream.destroy();
		this.#forgetIfGone(pair);
	}

	#later(ms: number, action: () => void): void {
		const timer = setTimeout(() => {
			this.#timers.delete(timer);
			action();
		}, ms);
		this.#timers.add(timer);
	}

	#count(fault: Fault): void {
		this.stats.injected[fault.kind]++;
		this.#onFault?.(fault);
	}

	/** Drops every connection at once, both sides. */
	cut(): void {
		this.#count({ atMs: 0, kind: "cut", durationMs: 0 });
		for (const pair of [...this.#pairs]) this.#cutPair(pair);
	}

	/**
	 * Arms a cut in the middle of the next WebSocket frame in `direction` longer than `bytes`: its first `bytes`
	 * bytes reach the other side, then both sides are dropped. Applies to the current and later connections until it
	 * fires once.
	 */
	cutMidFrame(direction: Direction, bytes: number): void {
		this.#count({
			atMs: 0,
			kind: "cutMidFrame",
			durationMs: 0,
			direction,
			bytes,
		});
		this.#pendingMidFrame = { direction, bytes };
		for (const pair of this.#pairs) pair[direction].cutAfter = bytes;
	}

	/** Holds every byte (and close) in `direction` for `ms`, then lets it through in order. */
	stall(direction: Directions, ms: number): void {
		this.#count({ atMs: 0, kind: "stall", durationMs: ms, direction });
		const directions: Direction[] =
			direction === "both" ? ["toEngine", "toRunner"] : [direction];
		for (const d of directions) this.#stalled[d] = true;
		this.#later(ms, () => {
			for (const d of directions) this.#stalled[d] = false;
			this.#pumpAll();
		});
	}

	/**
	 * The connections open now become black holes for `ms`: nothing passes either way and a side's close is not
	 * passed on (the engine's side stays open and silent when the runner gives up, as after a NAT forgets a flow).
	 * New connections pass. When the window ends, what is left of them is dropped.
	 */
	halfOpen(ms: number): void {
		this.#count({ atMs: 0, kind: "halfOpen", durationMs: ms });
		const victims = [...this.#pairs];
		for (const pair of victims) {
			pair.halfOpen = true;
			pair.toEngine.discard();
			pair.toRunner.discard();
		}
		this.#later(ms, () => {
			for (const pair of victims) this.#cutPair(pair);
		});
	}

	/** Adds `latencyMs` plus up to `jitterMs` to every chunk both ways for `ms`. */
	latency(latencyMs: number, jitterMs: number, ms: number): void {
		this.#count({
			atMs: 0,
			kind: "latency",
			durationMs: ms,
			latencyMs,
			jitterMs,
		});
		this.#latencyMs = latencyMs;
		this.#jitterMs = jitterMs;
		this.#later(ms, () => {
			this.#latencyMs = 0;
			this.#jitterMs = 0;
		});
	}

	/** Limits each direction of each connection to `bytesPerSecond` for `ms`. */
	bandwidth(bytesPerSecond: number, ms: number): void {
		this.#count({ atMs: 0, kind: "bandwidth", durationMs: ms, bytesPerSecond });
		this.#bytesPerSecond = bytesPerSecond;
		this.#later(ms, () => {
			this.#bytesPerSecond = 0;
		});
	}

	/** Resets every new connection for `ms` (connections open now are left alone). */
	refuse(ms: number): void {
		this.#count({ atMs: 0, kind: "refuse", durationMs: ms });
		this.#refuseUntil = Date.now() + ms;
	}

	/** Applies one fault now. */
	apply(fault: Fault): void {
		switch (fault.kind) {
			case "cut":
				this.cut();
				return;
			case "cutMidFrame":
				this.cutMidFrame(
					fault.direction === "toRunner" ? "toRunner" : "toEngine",
					fault.bytes ?? 1,
				);
				return;
			case "stall":
				this.stall(fault.direction ?? "both", fault.durationMs);
				return;
			case "halfOpen":
				this.halfOpen(fault.durationMs);
				return;
			case "latency":
				this.latency(
					fault.latencyMs ?? 0,
					fault.jitterMs ?? 0,
					fault.durationMs,
				);
				return;
			case "bandwidth":
				this.bandwidth(fault.bytesPerSecond ?? 0, fault.durationMs);
				return;
			case "refuse":
				this.refuse(fault.durationMs);
				return;
		}
	}

	/**
	 * Plays `schedule` (each fault at its `atMs` after now); resolves once the last fault has ended and the proxy is
	 * healed, or at once when `signal` aborts (then healed too).
	 */
	run(schedule: readonly Fault[], signal?: AbortSignal): Promise<void> {
		const end = Math.max(0, ...schedule.map((f) => f.atMs + f.durationMs));
		return new Promise((resolve) => {
			const timers: NodeJS.Timeout[] = [];
			const finish = () => {
				for (const timer of timers) clearTimeout(timer);
				signal?.removeEventListener("abort", finish);
				this.heal();
				resolve();
			};
			if (signal?.aborted) return finish();
			signal?.addEventListener("abort", finish);
			for (const fault of schedule)
				timers.push(setTimeout(() => this.apply(fault), fault.atMs));
			timers.push(setTimeout(finish, end + 1));
		});
	}

	/** Ends every fault in force: no stall, latency, bandwidth limit, refusal or armed cut. */
	heal(): void {
		for (const timer of this.#timers) clearTimeout(timer);
		this.#timers.clear();
		this.#refuseUntil = 0;
		this.#stalled = { toEngine: false, toRunner: false };
		this.#latencyMs = 0;
		this.#jitterMs = 0;
		this.#bytesPerSecond = 0;
		this.#pendingMidFrame = undefined;
		for (const pair of [...this.#pairs]) {
			pair.toEngine.cutAfter = undefined;
			pair.toRunner.cutAfter = undefined;
			if (pair.halfOpen) this.#cutPair(pair);
		}
		this.#pumpAll();
	}

	#pumpAll(): void {
		for (const pair of this.#pairs) {
			pair.toEngine.pump();
			pair.toRunner.pump();
		}
	}

	async close(): Promise<void> {
		this.#closed = true;
		this.heal();
		for (const pair of [...this.#pairs]) this.#cutPair(pair);
		this.stats.cuts = Math.max(0, this.stats.cuts);
		await new Promise<void>((resolve) => this.#server.close(() => resolve()));
	}
}

export interface ScheduleOptions {
	/** Faults start within [0, durationMs); the last one may end a little after. */
	durationMs: number;
	/** The runner's engine-silence watchdog: some stalls and half-open windows last longer than it. */
	engineSilenceTimeoutMs: number;
	/** Kinds to draw from. Default: all. */
	kinds?: readonly FaultKind[];
	/** Quiet time between faults, ms. Default [200, 1500]. */
	gapMs?: [number, number];
}

/**
 * A fault schedule drawn from `prng`: one fault at a time, each followed by a quiet gap. The same seed gives the
 * same schedule.
 */
export function faultSchedule(prng: Prng, options: ScheduleOptions): Fault[] {
	const kinds = options.kinds ?? FAULT_KINDS;
	const [gapMin, gapMax] = options.gapMs ?? [200, 1500];
	const silence = options.engineSilenceTimeoutMs;
	const faults: Fault[] = [];
	let at = prng.int(gapMin, gapMax);
	while (at < options.durationMs) {
		const kind = prng.pick(kinds);
		const longerThanSilence = prng.chance(0.3);
		let fault: Fault;
		switch (kind) {
			case "cut":
				fault = { atMs: at, kind, durationMs: 0 };
				break;
			case "cutMidFrame":
				fault = {
					atMs: at,
					kind,
					durationMs: 0,
					direction: prng.pick(["toEngine", "toRunner"] as const),
					bytes: prng.int(1, 12),
				};
				break;
			case "stall":
				fault = {
					atMs: at,
					kind,
					durationMs: longerThanSilence
						? prng.int(silence + 200, silence * 2)
						: prng.int(100, Math.max(150, Math.floor(silence / 2))),
					direction: prng.pick(["toEngine", "toRunner", "both"] as const),
				};
				break;
			case "halfOpen":
				fault = {
					atMs: at,
					kind,
					durationMs: longerThanSilence
						? prng.int(silence + 200, silence * 2)
						: prng.int(200, Math.max(250, Math.floor(silence / 2))),
				};
				break;
			case "latency":
				fault = {
					atMs: at,
					kind,
					durationMs: prng.int(500, 3000),
					latencyMs: prng.int(5, 200),
					jitterMs: prng.int(0, 100),
				};
				break;
			case "bandwidth":
				fault = {
					atMs: at,
					kind,
					durationMs: prng.int(500, 3000),
					bytesPerSecond: prng.int(2_000, 64_000),
				};
				break;
			case "refuse":
				fault = { atMs: at, kind, durationMs: prng.int(200, 3000) };
				break;
		}
		faults.push(fault);
		at += fault.durationMs + prng.int(gapMin, gapMax);
	}
	return faults;
}
