/**
 * `ToClient` frames for the runner-side fuzz: structure-aware generation from the protocol's types (commands with
 * actor ids, generations and indexes valid and not, KV responses for known and unknown request ids, tunnel traffic
 * for known and unknown requests with in-order and out-of-order indexes, pings, inits) and byte-level mutations.
 *
 * The generator keeps its own model of what it told the runner (which actors it started, which sockets it
 * opened), never the runner's state, so the frame sequence depends only on the seed: the same seed replays the
 * same frames, and the reference runner can be fed the very same ones.
 */
import * as protocol from "@rivetkit/engine-runner-protocol";
import {
	id4,
	MUTATIONS,
	mutate,
	randomBuffer,
	randomI64,
	randomString,
	randomU16,
	randomU32,
	u32Id,
} from "./fuzz-values.ts";
import type { Prng } from "./prng.ts";

/**
 * What the runner must do with a frame:
 * - `ok`: a valid frame, handled without an error log;
 * - `answer`: a decodable but wrong frame: a log line or a protocol answer (abort, close) while it is handled;
 * - `close`: undecodable: the runner logs a typed `protocol_invalid_frame` error and closes the socket with
 *   `runner.invalid_frame`;
 * - `any`: random or mutated content that still decodes: handled (or refused) without a crash or a hang.
 */
export type Expectation = "ok" | "answer" | "close" | "any";

export interface FuzzFrame {
	generator: string;
	bytes: Uint8Array;
	expect: Expectation;
}

/** The gateway id the model's tunnel traffic uses (random ones come from the random generator). */
const GATEWAY = u32Id(0x0a0b0c0d);
/** Request ids at or above this are never opened by the model: "unknown request". */
const UNKNOWN_REQUEST_BASE = 0x8000_0000;
/** KV request ids at or above this are never issued by the runner in a run. */
const UNKNOWN_KV_BASE = 0x8000_0000;
const ACTOR_POOL = 24;

interface ModelActor {
	id: string;
	generation: number;
	nextIndex: bigint;
	live: boolean;
	/** Commands already sent for this generation (for replays). */
	sent: protocol.CommandWrapper[];
}

interface ModelSocket {
	requestId: number;
	actorId: string;
	hibernatable: boolean;
	lastIndex: number;
}

export class ToClientModel {
	readonly actors: ModelActor[] = [];
	readonly sockets = new Map<number, ModelSocket>();
	#nextRequest = 1;
	#nextUnknown = 0;
	/** KV requests the runner should have made (one per `/kv` HTTP request to a live actor), in order. */
	kvIssued = 0;
	kvAnswered = 0;

	constructor() {
		for (let i = 0; i < ACTOR_POOL; i++)
			this.actors.push({
				id: `fz-actor-${String(i).padStart(2, "0")}`,
				generation: -1,
				nextIndex: 0n,
				live: false,
				sent: [],
			});
	}

	liveActors(): ModelActor[] {
		return this.actors.filter((a) => a.live);
	}

	freshUnknownId(): string {
		return `fz-unknown-${this.#nextUnknown++}`;
	}

	newRequestId(): number {
		const id = this.#nextRequest;
		this.#nextRequest = (this.#nextRequest + 1) % UNKNOWN_REQUEST_BASE || 1;
		return id;
	}

	stopped(actor: ModelActor): void {
		actor.live = false;
		for (const [id, socket] of this.sockets)
			if (socket.actorId === actor.id) this.sockets.delete(id);
	}
}

const encode = (message: protocol.ToClient) => protocol.encodeToClient(message);

const commands = (list: protocol.CommandWrapper[]): protocol.ToClient => ({
	tag: "ToClientCommands",
	val: list,
});

function startCommand(
	p: Prng,
	actorId: string,
	generation: number,
	index: bigint,
): protocol.CommandWrapper {
	return {
		checkpoint: { actorId, generation, index },
		inner: {
			tag: "CommandStartActor",
			val: {
				config: {
					name: p.chance(0.8) ? "fuzz" : randomString(p),
					key: p.chance(0.5) ? null : randomString(p),
					createTs: BigInt(Date.UTC(2026, 0, 1)),
					input: p.chance(0.7) ? null : randomBuffer(p),
				},
				hibernatingRequests: [],
			},
		},
	};
}

const stopCommand = (
	actorId: string,
	generation: number,
	index: bigint,
): protocol.CommandWrapper => ({
	checkpoint: { actorId, generation, index },
	inner: { tag: "CommandStopActor", val: null },
});

function tunnel(
	requestId: number,
	messageIndex: number,
	messageKind: protocol.ToClientTunnelMessageKind,
	gatewayId: ArrayBuffer = GATEWAY,
): protocol.ToClient {
	return {
		tag: "ToClientTunnelMessage",
		val: {
			messageId: { gatewayId, requestId: u32Id(requestId), messageIndex },
			messageKind,
		},
	};
}

function randomHeaders(p: Prng): Map<string, string> {
	const headers = new Map<string, string>();
	const n = p.int(0, 4);
	for (let i = 0; i < n; i++)
		headers.set(
			p.chance(0.7)
				? p.pick(["content-type", "x-a", "cookie"])
				: randomString(p, 12),
			randomString(p, 30),
		);
	return headers;
}

function randomPath(p: Prng, base: string): string {
	if (p.chance(0.7)) return base;
	return p.pick([
		`${base}?${randomString(p, 10)}`,
		`${base}/${randomString(p, 20)}`,
		randomString(p, 30),
		"",
		"//x",
		`${base}#frag`,
	]);
}

/** Any `ToClient`, built from the protocol's types with random values (ids outside the model's). */
export function randomToClient(p: Prng): protocol.ToClient {
	switch (p.int(0, 5)) {
		case 0:
			return {
				tag: "ToClientInit",
				val: {
					runnerId: randomString(p),
					metadata: {
						runnerLostThreshold: randomI64(p),
						actorStopThreshold: randomI64(p),
						serverlessDrainGracePeriod: p.chance(0.5) ? null : randomI64(p),
					},
				},
			};
		case 1: {
			const list: protocol.CommandWrapper[] = [];
			const n = p.int(0, 4);
			for (let i = 0; i < n; i++) {
				const id = `fz-random-${randomString(p, 8)}`;
				list.push(
					p.chance(0.5)
						? startCommand(p, id, randomU32(p), randomI64(p))
						: stopCommand(id, randomU32(p), randomI64(p)),
				);
			}
			return commands(list);
		}
		case 2:
			return {
				tag: "ToClientAckEvents",
				val: {
					lastEventCheckpoints: Array.from({ length: p.int(0, 3) }, () => ({
						actorId: randomString(p),
						generation: randomU32(p),
						index: randomI64(p),
					})),
				},
			};
		case 3:
			return {
				tag: "ToClientKvResponse",
				val: { requestId: randomU32(p), data: randomKvResponse(p) },
			};
		case 4:
			return {
				tag: "ToClientTunnelMessage",
				val: {
					messageId: {
						gatewayId: id4(p),
						requestId: id4(p),
						messageIndex: randomU16(p),
					},
					messageKind: randomTunnelKind(p, randomString(p)),
				},
			};
		default:
			return { tag: "ToClientPing", val: { ts: randomI64(p) } };
	}
}

function randomKvResponse(p: Prng): protocol.KvResponseData {
	const keys = () =>
		Array.from({ length: p.int(0, 3) }, () => randomBuffer(p, 16));
	const metadata = (n: number) =>
		Array.from({ length: n }, () => ({
			version: randomBuffer(p, 8),
			updateTs: randomI64(p),
		}));
	switch (p.int(0, 5)) {
		case 0:
			return { tag: "KvErrorResponse", val: { message: randomString(p) } };
		case 1: {
			const k = keys();
			// Lengths that disagree on purpose, sometimes.
			const n = p.chance(0.8) ? k.length : p.int(0, 4);
			return {
				tag: "KvGetResponse",
				val: {
					keys: k,
					values: Array.from({ length: n }, () => randomBuffer(p)),
					metadata: metadata(n),
				},
			};
		}
		case 2: {
			const k = keys();
			return {
				tag: "KvListResponse",
				val: {
					keys: k,
					values: k.map(() => randomBuffer(p)),
					metadata: metadata(k.length),
				},
			};
		}
		case 3:
			return { tag: "KvPutResponse", val: null };
		case 4:
			return { tag: "KvDeleteResponse", val: null };
		default:
			return { tag: "KvDropResponse", val: null };
	}
}

function randomTunnelKind(
	p: Prng,
	actorId: string,
): protocol.ToClientTunnelMessageKind {
	switch (p.int(0, 5)) {
		case 0:
			return {
				tag: "ToClientRequestStart",
				val: {
					actorId,
					method: p.chance(0.7)
						? p.pick(["GET", "POST", "HEAD", "DELETE"])
						: randomString(p, 10),
					path: randomPath(p, "/echo"),
					headers: randomHeaders(p),
					body: p.chance(0.5) ? null : randomBuffer(p, 256),
					stream: p.chance(0.1),
				},
			};
		case 1:
			return {
				tag: "ToClientRequestChunk",
				val: { body: randomBuffer(p), finish: p.chance(0.5) },
			};
		case 2:
			return { tag: "ToClientRequestAbort", val: null };
		case 3:
			return {
				tag: "ToClientWebSocketOpen",
				val: { actorId, path: randomPath(p, "/ws"), headers: randomHeaders(p) },
			};
		case 4:
			return {
				tag: "ToClientWebSocketMessage",
				val: { data: randomBuffer(p, 128), binary: p.chance(0.5) },
			};
		default:
			return {
				tag: "ToClientWebSocketClose",
				val: {
					code: p.chance(0.3) ? null : randomU16(p),
					reason: p.chance(0.3) ? null : randomString(p),
				},
			};
	}
}

type Generator = (p: Prng, model: ToClientModel) => FuzzFrame;

const frame = (
	generator: string,
	message: protocol.ToClient,
	expect: Expectation,
): FuzzFrame => ({ generator, bytes: encode(message), expect });

function startValid(p: Prng, model: ToClientModel): FuzzFrame {
	const idle = model.actors.filter((a) => !a.live);
	if (idle.length === 0) return stopValid(p, model);
	const actor = p.pick(idle);
	actor.generation += 1;
	actor.nextIndex = 1n;
	actor.live = true;
	const command = startCommand(p, actor.id, actor.generation, 0n);
	actor.sent = [command];
	return frame("command-start", commands([command]), "ok");
}

function stopValid(p: Prng, model: ToClientModel): FuzzFrame {
	const live = model.liveActors();
	if (live.length === 0) return startValid(p, model);
	const actor = p.pick(live);
	const command = stopCommand(actor.id, actor.generation, actor.nextIndex++);
	actor.sent.push(command);
	model.stopped(actor);
	return frame("command-stop", commands([command]), "ok");
}

/** Several starts and stops in one frame, each valid. */
function commandBatch(p: Prng, model: ToClientModel): FuzzFrame {
	const list: protocol.CommandWrapper[] = [];
	const n = p.int(2, 6);
	for (let i = 0; i < n; i++) {
		const one = p.chance(0.5) ? startValid(p, model) : stopValid(p, model);
		const decoded = protocol.decodeToClient(one.bytes);
		if (decoded.tag === "ToClientCommands") list.push(...decoded.val);
	}
	return frame("command-batch", commands(list), "ok");
}

function stopUnknown(_p: Prng, model: ToClientModel): FuzzFrame {
	return frame(
		"command-stop-unknown-actor",
		commands([stopCommand(model.freshUnknownId(), 0, 1n)]),
		"answer",
	);
}

/** A command the runner already had: replayed as the engine does after a reconnect. */
function commandReplay(p: Prng, model: ToClientModel): FuzzFrame {
	const withHistory = model.actors.filter((a) => a.sent.length > 0);
	if (withHistory.length === 0) return stopUnknown(p, model);
	const actor = p.pick(withHistory);
	return frame("command-replay", commands([p.pick(actor.sent)]), "answer");
}

/** A start for an older generation than the live one. */
function startStaleGeneration(p: Prng, model: ToClientModel): FuzzFrame {
	const live = model.liveActors().filter((a) => a.generation > 0);
	if (live.length === 0) return commandReplay(p, model);
	const actor = p.pick(live);
	return frame(
		"command-start-stale-generation",
		commands([startCommand(p, actor.id, p.int(0, actor.generation - 1), 0n)]),
		"answer",
	);
}

/** A start for a newer generation while the old one still runs (the engine moved the actor on). */
function startNewerGeneration(p: Prng, model: ToClientModel): FuzzFrame {
	const live = model.liveActors();
	if (live.length === 0) return startValid(p, model);
	const actor = p.pick(live);
	model.stopped(actor);
	actor.generation += p.int(1, 3);
	actor.nextIndex = 1n;
	actor.live = true;
	const command = startCommand(p, actor.id, actor.generation, 0n);
	actor.sent = [command];
	return frame("command-start-newer-generation", commands([command]), "answer");
}

/** A stop whose index skips ahead (gaps are allowed), then older indexes are duplicates. */
function stopIndexSkip(p: Prng, model: ToClientModel): FuzzFrame {
	const live = model.liveActors();
	if (live.length === 0) return startValid(p, model);
	const actor = p.pick(live);
	actor.nextIndex += BigInt(p.int(2, 1000));
	const command = stopCommand(actor.id, actor.generation, actor.nextIndex++);
	actor.sent.push(command);
	model.stopped(actor);
	return frame("command-stop-index-skip", commands([command]), "ok");
}

function kvUnknown(p: Prng, _model: ToClientModel): FuzzFrame {
	return frame(
		"kv-response-unknown-request",
		{
			tag: "ToClientKvResponse",
			val: {
				requestId: UNKNOWN_KV_BASE + p.int(0, 0x7fffffff),
				data: randomKvResponse(p),
			},
		},
		"answer",
	);
}

/** An answer to a KV request the runner made (ids are sequential from 0); it may have timed out already. */
function kvKnown(p: Prng, model: ToClientModel): FuzzFrame {
	if (model.kvAnswered >= model.kvIssued) return kvUnknown(p, model);
	const requestId = model.kvAnswered++;
	const data: protocol.KvResponseData = p.chance(0.2)
		? { tag: "KvErrorResponse", val: { message: randomString(p) } }
		: p.chance(0.8)
			? { tag: "KvGetResponse", val: { keys: [], values: [], metadata: [] } }
			: randomKvResponse(p);
	return frame(
		"kv-response-known-request",
		{ tag: "ToClientKvResponse", val: { requestId, data } },
		"any",
	);
}

function ackEvents(p: Prng, model: ToClientModel): FuzzFrame {
	const live = model.liveActors();
	if (live.length === 0 || p.chance(0.4))
		return frame(
			"ack-events-unknown-actor",
			{
				tag: "ToClientAckEvents",
				val: {
					lastEventCheckpoints: [
						{ actorId: model.freshUnknownId(), generation: 0, index: 5n },
					],
				},
			},
			"answer",
		);
	const actor = p.pick(live);
	return frame(
		"ack-events",
		{
			tag: "ToClientAckEvents",
			val: {
				lastEventCheckpoints: [
					{
						actorId: actor.id,
						generation: actor.generation,
						index: BigInt(p.int(-1, 3)),
					},
				],
			},
		},
		"ok",
	);
}

function httpRequest(p: Prng, model: ToClientModel): FuzzFrame {
	const live = model.liveActors();
	if (live.length === 0 || p.chance(0.25))
		return frame(
			"tunnel-http-unknown-actor",
			tunnel(model.newRequestId(), 0, {
				tag: "ToClientRequestStart",
				val: {
					actorId: model.freshUnknownId(),
					method: "GET",
					path: "/echo",
					headers: new Map(),
					body: null,
					stream: false,
				},
			}),
			"answer",
		);
	const actor = p.pick(live);
	const kv = p.chance(0.3);
	if (kv) model.kvIssued++;
	const method = p.chance(0.8)
		? p.pick(["GET", "POST", "PUT"])
		: randomString(p, 8);
	return frame(
		"tunnel-http-request",
		tunnel(model.newRequestId(), 0, {
			tag: "ToClientRequestStart",
			val: {
				actorId: actor.id,
				method,
				path: kv ? "/kv" : randomPath(p, "/echo"),
				headers: randomHeaders(p),
				body: method === "POST" || p.chance(0.2) ? randomBuffer(p, 512) : null,
				stream: false,
			},
		}),
		// A /kv request must reach the handler; random methods, paths and headers may be refused by `Request`.
		kv ? "ok" : "any",
	);
}

function wsOpen(p: Prng, model: ToClientModel): FuzzFrame {
	const live = model.liveActors();
	const requestId = model.newRequestId();
	if (live.length === 0 || p.chance(0.2))
		return frame(
			"tunnel-ws-open-unknown-actor",
			tunnel(requestId, 0, {
				tag: "ToClientWebSocketOpen",
				val: {
					actorId: model.freshUnknownId(),
					path: "/ws",
					headers: new Map(),
				},
			}),
			"answer",
		);
	const actor = p.pick(live);
	const hibernatable = p.chance(0.4);
	model.sockets.set(requestId, {
		requestId,
		actorId: actor.id,
		hibernatable,
		lastIndex: 0,
	});
	return frame(
		"tunnel-ws-open",
		tunnel(requestId, 0, {
			tag: "ToClientWebSocketOpen",
			val: {
				actorId: actor.id,
				path: hibernatable ? "/hib" : "/ws",
				headers: new Map(),
			},
		}),
		"ok",
	);
}

function wsMessage(p: Prng, model: ToClientModel): FuzzFrame {
	const sockets = [...model.sockets.values()];
	const message = (): protocol.ToClientTunnelMessageKind => ({
		tag: "ToClientWebSocketMessage",
		val: { data: randomBuffer(p, 64), binary: p.chance(0.5) },
	});
	if (sockets.length === 0 || p.chance(0.15))
		return frame(
			"tunnel-ws-message-unknown-request",
			tunnel(
				UNKNOWN_REQUEST_BASE + p.int(0, 0x7fffffff),
				randomU16(p),
				message(),
			),
			"answer",
		);
	const socket = p.pick(sockets);
	const roll = p.next();
	if (socket.hibernatable && socket.lastIndex > 0 && roll < 0.1) {
		// Hibernatable sockets check indexes: an old one is a duplicate, ignored.
		return frame(
			"tunnel-ws-message-duplicate-index",
			tunnel(socket.requestId, p.int(0, socket.lastIndex), message()),
			"answer",
		);
	}
	if (roll < 0.2) {
		const index = (socket.lastIndex + p.int(2, 100)) & 0xffff;
		if (socket.hibernatable) {
			// A gap closes a hibernatable socket 1008 ws.message_index_skip.
			model.sockets.delete(socket.requestId);
			return frame(
				"tunnel-ws-message-index-gap",
				tunnel(socket.requestId, index, message()),
				"answer",
			);
		}
		socket.lastIndex = index;
		return frame(
			"tunnel-ws-message-out-of-order",
			tunnel(socket.requestId, index, message()),
			"ok",
		);
	}
	socket.lastIndex = (socket.lastIndex + 1) & 0xffff;
	return frame(
		"tunnel-ws-message",
		tunnel(socket.requestId, socket.lastIndex, message()),
		"ok",
	);
}

function wsClose(p: Prng, model: ToClientModel): FuzzFrame {
	const sockets = [...model.sockets.values()];
	const close: protocol.ToClientTunnelMessageKind = {
		tag: "ToClientWebSocketClose",
		val: {
			code: p.chance(0.2) ? null : p.pick([1000, 1001, 1011, 4000, 0, 65535]),
			reason: p.chance(0.3) ? null : randomString(p),
		},
	};
	if (sockets.length === 0 || p.chance(0.3))
		return frame(
			"tunnel-ws-close-unknown-request",
			tunnel(UNKNOWN_REQUEST_BASE + p.int(0, 0x7fffffff), 1, close),
			"answer",
		);
	const socket = p.pick(sockets);
	model.sockets.delete(socket.requestId);
	return frame(
		"tunnel-ws-close",
		tunnel(socket.requestId, (socket.lastIndex + 1) & 0xffff, close),
		"ok",
	);
}

function requestChunkOrAbort(p: Prng, _model: ToClientModel): FuzzFrame {
	const requestId = UNKNOWN_REQUEST_BASE + p.int(0, 0x7fffffff);
	return p.chance(0.5)
		? frame(
				"tunnel-request-chunk",
				tunnel(requestId, 1, {
					tag: "ToClientRequestChunk",
					val: { body: randomBuffer(p), finish: p.chance(0.5) },
				}),
				"answer",
			)
		: frame(
				"tunnel-request-abort-unknown-request",
				tunnel(requestId, 1, { tag: "ToClientRequestAbort", val: null }),
				"answer",
			);
}

function ping(p: Prng, _model: ToClientModel): FuzzFrame {
	return frame(
		"ping",
		{ tag: "ToClientPing", val: { ts: randomI64(p) } },
		"ok",
	);
}

function initAgain(p: Prng, _model: ToClientModel): FuzzFrame {
	return frame(
		"init-again",
		{
			tag: "ToClientInit",
			val: {
				// The same runner id: a second init on a connection is ignored (a new id would drop every actor).
				runnerId: "fuzz-runner",
				metadata: {
					runnerLostThreshold: randomI64(p),
					actorStopThreshold: randomI64(p),
					serverlessDrainGracePeriod: null,
				},
			},
		},
		"answer",
	);
}

function randomStructure(p: Prng, _model: ToClientModel): FuzzFrame {
	let message = randomToClient(p);
	// A random init with a new runner id would (rightly) drop every actor; keep the model's picture true.
	if (message.tag === "ToClientInit")
		message = { tag: "ToClientPing", val: { ts: randomI64(p) } };
	return frame("random-structure", message, "any");
}

/** A valid frame of any kind, then one byte-level mutation of it. */
function mutated(p: Prng, _model: ToClientModel): FuzzFrame {
	const kind = p.pick(MUTATIONS);
	let source = randomToClient(p);
	if (source.tag === "ToClientInit")
		source = { tag: "ToClientPing", val: { ts: 1n } };
	const bytes = mutate(p, encode(source), kind);
	return classify(`mutation-${kind}`, bytes, true);
}

/** A frame far larger than any the engine sends: random bytes, or a valid request with a big body. */
function oversized(p: Prng, model: ToClientModel): FuzzFrame {
	const size = p.int(1, 8) * 1024 * 1024;
	if (p.chance(0.5)) return classify("oversized-random", p.bytes(size), false);
	return frame(
		"oversized-request-body",
		tunnel(model.newRequestId(), 0, {
			tag: "ToClientRequestStart",
			val: {
				actorId: model.freshUnknownId(),
				method: "POST",
				path: "/echo",
				headers: new Map(),
				body: new ArrayBuffer(size),
				stream: false,
			},
		}),
		"answer",
	);
}

/** Decodable mutations are `any` (or, for init, a harmless ping), undecodable ones must close the socket. */
function classify(
	generator: string,
	bytes: Uint8Array,
	avoidInit: boolean,
): FuzzFrame {
	try {
		const decoded = protocol.decodeToClient(bytes);
		if (avoidInit && decoded.tag === "ToClientInit")
			return frame(generator, { tag: "ToClientPing", val: { ts: 2n } }, "any");
		return { generator, bytes, expect: "any" };
	} catch {
		return { generator, bytes, expect: "close" };
	}
}

const GENERATORS: [Generator, number][] = [
	[startValid, 8],
	[stopValid, 6],
	[commandBatch, 2],
	[stopUnknown, 2],
	[commandReplay, 3],
	[startStaleGeneration, 2],
	[startNewerGeneration, 2],
	[stopIndexSkip, 1],
	[kvUnknown, 3],
	[kvKnown, 3],
	[ackEvents, 3],
	[httpRequest, 6],
	[wsOpen, 4],
	[wsMessage, 8],
	[wsClose, 2],
	[requestChunkOrAbort, 2],
	[ping, 2],
	[initAgain, 1],
	[randomStructure, 6],
	[mutated, 14],
];
const TOTAL_WEIGHT = GENERATORS.reduce((sum, [, w]) => sum + w, 0);

export interface GenerateOptions {
	/** Probability of an oversized frame (1–8 MiB); default 1/2000. */
	oversizedRate?: number;
}

/** The next fuzz frame for the runner. */
export function nextToClient(
	p: Prng,
	model: ToClientModel,
	options: GenerateOptions = {},
): FuzzFrame {
	if (p.chance(options.oversizedRate ?? 1 / 2000)) return oversized(p, model);
	let roll = p.next() * TOTAL_WEIGHT;
	for (const [generator, weight] of GENERATORS) {
		roll -= weight;
		if (roll < 0) return generator(p, model);
	}
	return ping(p, model);
}

/** A frame to send before the runner's handshake is answered: any random (decodable) frame. */
export function preInitFrame(p: Prng): FuzzFrame {
	let message = randomToClient(p);
	// The handshake's own init is the harness's; a random one here would give the runner another identity.
	if (message.tag === "ToClientInit")
		message = { tag: "ToClientAckEvents", val: { lastEventCheckpoints: [] } };
	return {
		generator: `before-init-${message.tag}`,
		bytes: encode(message),
		expect: "any",
	};
}
