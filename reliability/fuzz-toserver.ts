/**
 * `ToServer` frames for the dev-engine-side fuzz: structure-aware (KV requests valid and over the limits, for
 * allocated, unknown and malformed actor ids; events and command acks with random checkpoints; pongs; repeated
 * inits; tunnel messages for unknown requests; oversized tunnel payloads) and byte-level mutations.
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
} from "./fuzz-values.ts";
import type { Prng } from "./prng.ts";

/**
 * - `kv`: a KV request: the engine must answer it (a KV response with the same request id, an error typed by its
 *   message);
 * - `log`: undecodable: the engine ignores it and logs it;
 * - `close`: the engine must close the socket with this reason prefix;
 * - `any`: handled or ignored without a crash, a hang or an internal error.
 */
export type EngineExpectation =
	| { kind: "kv"; requestId: number }
	| { kind: "log" }
	| { kind: "close"; code: number; reason: string }
	| { kind: "any" };

export interface EngineFrame {
	generator: string;
	/** A string is sent as a text frame. */
	data: Uint8Array | string;
	expect: EngineExpectation;
}

const encode = (message: protocol.ToServer) => protocol.encodeToServer(message);

function randomKvRequest(p: Prng): protocol.KvRequestData {
	const keys = (max = 4) =>
		Array.from({ length: p.chance(0.05) ? 129 : p.int(0, max) }, () =>
			p.chance(0.03) ? new ArrayBuffer(2100) : randomBuffer(p, 24),
		);
	switch (p.int(0, 5)) {
		case 0:
			return { tag: "KvGetRequest", val: { keys: keys() } };
		case 1: {
			const q = p.int(0, 2);
			return {
				tag: "KvListRequest",
				val: {
					query:
						q === 0
							? { tag: "KvListAllQuery", val: null }
							: q === 1
								? {
										tag: "KvListRangeQuery",
										val: {
											start: randomBuffer(p, 8),
											end: randomBuffer(p, 8),
											exclusive: p.chance(0.5),
										},
									}
								: {
										tag: "KvListPrefixQuery",
										val: { key: randomBuffer(p, 8) },
									},
					reverse: p.chance(0.3) ? null : p.chance(0.5),
					limit: p.chance(0.5) ? null : BigInt.asUintN(64, randomI64(p)),
				},
			};
		}
		case 2: {
			const k = keys();
			const n = p.chance(0.9) ? k.length : p.int(0, 5);
			return {
				tag: "KvPutRequest",
				val: {
					keys: k,
					values: Array.from({ length: n }, () =>
						p.chance(0.02) ? new ArrayBuffer(129 * 1024) : randomBuffer(p, 64),
					),
				},
			};
		}
		case 3:
			return { tag: "KvDeleteRequest", val: { keys: keys() } };
		case 4:
			return {
				tag: "KvDeleteRangeRequest",
				val: { start: randomBuffer(p, 8), end: randomBuffer(p, 8) },
			};
		default:
			return { tag: "KvDropRequest", val: null };
	}
}

function randomEvent(p: Prng): protocol.Event {
	switch (p.int(0, 4)) {
		case 0:
			return {
				tag: "EventActorStateUpdate",
				val: { state: { tag: "ActorStateRunning", val: null } },
			};
		case 1:
			return {
				tag: "EventActorStateUpdate",
				val: {
					state: {
						tag: "ActorStateStopped",
						val: {
							code: p.chance(0.5)
								? protocol.StopCode.Ok
								: protocol.StopCode.Error,
							message: p.chance(0.5) ? null : randomString(p),
						},
					},
				},
			};
		case 2:
			return {
				tag: "EventActorIntent",
				val: { intent: { tag: "ActorIntentSleep", val: null } },
			};
		case 3:
			return {
				tag: "EventActorIntent",
				val: { intent: { tag: "ActorIntentStop", val: null } },
			};
		default:
			return {
				tag: "EventActorSetAlarm",
				val: { alarmTs: p.chance(0.3) ? null : randomI64(p) },
			};
	}
}

function randomTunnelKind(p: Prng): protocol.ToServerTunnelMessageKind {
	switch (p.int(0, 6)) {
		case 0:
			return {
				tag: "ToServerResponseStart",
				val: {
					status: randomU16(p),
					headers: new Map([[randomString(p, 10), randomString(p, 20)]]),
					body: p.chance(0.5) ? null : randomBuffer(p, 128),
					stream: p.chance(0.2),
				},
			};
		case 1:
			return {
				tag: "ToServerResponseChunk",
				val: { body: randomBuffer(p), finish: p.chance(0.5) },
			};
		case 2:
			return { tag: "ToServerResponseAbort", val: null };
		case 3:
			return {
				tag: "ToServerWebSocketOpen",
				val: { canHibernate: p.chance(0.5) },
			};
		case 4:
			return {
				tag: "ToServerWebSocketMessage",
				val: { data: randomBuffer(p, 64), binary: p.chance(0.5) },
			};
		case 5:
			return {
				tag: "ToServerWebSocketMessageAck",
				val: { index: randomU16(p) },
			};
		default:
			return {
				tag: "ToServerWebSocketClose",
				val: {
					code: p.chance(0.3) ? null : randomU16(p),
					reason: p.chance(0.3) ? null : randomString(p),
					hibernate: p.chance(0.3),
				},
			};
	}
}

/** Any `ToServer` other than init, with random values. */
export function randomToServer(
	p: Prng,
	actorIds: readonly string[],
	nextKvId: () => number,
): protocol.ToServer {
	const actorId = () =>
		actorIds.length > 0 && p.chance(0.6)
			? p.pick(actorIds)
			: p.chance(0.5)
				? "0".repeat(30)
				: randomString(p, 32);
	const checkpoint = () => ({
		actorId: actorId(),
		generation: p.chance(0.5) ? p.int(0, 3) : randomU32(p),
		index: p.chance(0.5) ? BigInt(p.int(0, 1000)) : randomI64(p),
	});
	switch (p.int(0, 5)) {
		case 0:
			return {
				tag: "ToServerEvents",
				val: Array.from({ length: p.int(0, 4) }, () => ({
					checkpoint: checkpoint(),
					inner: randomEvent(p),
				})),
			};
		case 1:
			return {
				tag: "ToServerAckCommands",
				val: {
					lastCommandCheckpoints: Array.from(
						{ length: p.int(0, 3) },
						checkpoint,
					),
				},
			};
		case 2:
			return { tag: "ToServerPong", val: { ts: randomI64(p) } };
		case 3:
			return {
				tag: "ToServerKvRequest",
				val: {
					actorId: actorId(),
					requestId: nextKvId(),
					data: randomKvRequest(p),
				},
			};
		case 4:
			return {
				tag: "ToServerTunnelMessage",
				val: {
					messageId: {
						gatewayId: id4(p),
						requestId: id4(p),
						messageIndex: randomU16(p),
					},
					messageKind: randomTunnelKind(p),
				},
			};
		default:
			return {
				tag: "ToServerInit",
				val: {
					name: randomString(p),
					version: randomU32(p),
					totalSlots: randomU32(p),
					prepopulateActorNames: p.chance(0.5)
						? null
						: new Map([[randomString(p), { metadata: randomString(p) }]]),
					metadata: p.chance(0.5) ? null : randomString(p),
				},
			};
	}
}

/** The next frame for an initialised runner socket. */
export function nextToServer(
	p: Prng,
	actorIds: readonly string[],
	nextKvId: () => number,
	options: { oversizedRate: number },
): EngineFrame {
	if (p.chance(options.oversizedRate)) {
		return p.chance(0.5)
			? {
					generator: "oversized-tunnel-payload",
					data: encode({
						tag: "ToServerTunnelMessage",
						val: {
							messageId: {
								gatewayId: id4(p),
								requestId: id4(p),
								messageIndex: 0,
							},
							messageKind: {
								tag: "ToServerWebSocketMessage",
								val: {
									data: new ArrayBuffer(20 * 1024 * 1024 + 1),
									binary: true,
								},
							},
						},
					}),
					expect: { kind: "close", code: 1011, reason: "ws.invalid_packet" },
				}
			: {
					generator: "oversized-message",
					data: new Uint8Array(23 * 1024 * 1024),
					expect: { kind: "close", code: 1009, reason: "" },
				};
	}
	const roll = p.int(0, 99);
	if (roll < 30) {
		const actorId =
			actorIds.length > 0 && p.chance(0.7)
				? p.pick(actorIds)
				: p.chance(0.5)
					? "1".repeat(30)
					: randomString(p, 32);
		const requestId = nextKvId();
		return {
			generator: "kv-request",
			data: encode({
				tag: "ToServerKvRequest",
				val: { actorId, requestId, data: randomKvRequest(p) },
			}),
			expect: { kind: "kv", requestId },
		};
	}
	if (roll < 45) {
		const kind = p.pick(MUTATIONS);
		let source = randomToServer(p, actorIds, nextKvId);
		// A mutated Stopping would drain the runner; keep mutations to other messages.
		if (source.tag === "ToServerInit")
			source = { tag: "ToServerPong", val: { ts: 1n } };
		const data = mutate(p, encode(source), kind);
		try {
			const decoded = protocol.decodeToServer(data);
			if (decoded.tag === "ToServerKvRequest")
				return {
					generator: `mutation-${kind}`,
					data,
					expect: { kind: "kv", requestId: decoded.val.requestId },
				};
			if (decoded.tag === "ToServerStopping")
				return {
					generator: `mutation-${kind}`,
					data: encode({ tag: "ToServerPong", val: { ts: 3n } }),
					expect: { kind: "any" },
				};
			return { generator: `mutation-${kind}`, data, expect: { kind: "any" } };
		} catch {
			return { generator: `mutation-${kind}`, data, expect: { kind: "log" } };
		}
	}
	if (roll < 47)
		return {
			generator: "text-frame",
			data: randomString(p, 64),
			expect: { kind: "any" },
		};
	if (roll < 48)
		return {
			generator: "stopping",
			data: encode({ tag: "ToServerStopping", val: null }),
			// The drain ends in an eviction once the runner's actors have stopped (the engine's drain window).
			expect: { kind: "close", code: 1000, reason: "ws.eviction" },
		};
	const message = randomToServer(p, actorIds, nextKvId);
	return {
		generator: `random-${message.tag}`,
		data: encode(message),
		expect:
			message.tag === "ToServerKvRequest"
				? { kind: "kv", requestId: message.val.requestId }
				: { kind: "any" },
	};
}

/** A first frame (or a connect URL) that the engine must refuse with a documented close. */
export interface BadConnect {
	generator: string;
	query: string;
	first: Uint8Array | string | undefined;
	code: number;
	reason: string;
}

export function badConnect(p: Prng, key: string): BadConnect {
	const ok = `protocol_version=7&namespace=default&runner_key=${key}`;
	const init = encode({
		tag: "ToServerInit",
		val: {
			name: "bad",
			version: 1,
			totalSlots: 1,
			prepopulateActorNames: null,
			metadata: null,
		},
	});
	switch (p.int(0, 7)) {
		case 0:
			return {
				generator: "first-frame-text",
				query: ok,
				first: randomString(p),
				code: 1011,
				reason: "ws.invalid_initial_packet",
			};
		case 1:
			return {
				generator: "first-frame-not-init",
				query: ok,
				first: encode({ tag: "ToServerPong", val: { ts: randomI64(p) } }),
				code: 1011,
				reason: "ws.invalid_initial_packet",
			};
		case 2: {
			let bytes = mutate(p, init, p.pick(MUTATIONS));
			try {
				protocol.decodeToServer(bytes);
				bytes = new Uint8Array([0xff]);
			} catch {}
			return {
				generator: "first-frame-undecodable",
				query: ok,
				first: bytes,
				code: 1011,
				reason: "ws.invalid_packet",
			};
		}
		case 3:
			return {
				generator: "protocol-version-unserved",
				query: `protocol_version=${p.pick([0, 1, 3, 5, 8, 65535])}&namespace=default&runner_key=${key}`,
				first: init,
				code: 1011,
				reason: "ws.invalid_packet",
			};
		case 4:
			return {
				generator: "query-invalid",
				query: p.pick([
					"",
					"namespace=default",
					`protocol_version=x&namespace=default&runner_key=${key}`,
					`protocol_version=99999999&namespace=default&runner_key=${key}`,
					`protocol_version=7&runner_key=${key}`,
				]),
				first: undefined,
				code: 1011,
				reason: "ws.invalid_url",
			};
		case 5:
			return {
				generator: "namespace-unknown",
				query: `protocol_version=7&namespace=${encodeURIComponent(randomString(p, 10) || "x")}z&runner_key=${key}`,
				first: undefined,
				code: 1011,
				reason: "namespace.not_found",
			};
		case 6:
			return {
				generator: "query-undecodable",
				query: `protocol_version=7&namespace=%ff%fe&runner_key=%c0`,
				first: undefined,
				code: 1011,
				reason: "namespace.not_found",
			};
		default:
			return {
				generator: "init-timeout",
				query: ok,
				first: undefined,
				code: 1011,
				reason: "ws.timed_out_waiting_for_init",
			};
	}
}

export function initFrameFor(name: string): Uint8Array {
	return encode({
		tag: "ToServerInit",
		val: {
			name,
			version: 1,
			totalSlots: 1000,
			prepopulateActorNames: null,
			metadata: null,
		},
	});
}
