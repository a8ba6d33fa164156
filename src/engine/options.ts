import type { ActorJson } from "./actor-json.ts";
import type { GatewayOptions } from "./gateway/gateway-options.ts";
import type { StorageOption } from "./storage/open.ts";

/** Options of {@link startEngine}. Every duration is in milliseconds; the defaults are the real engine's. */
export interface EngineOptions {
	/** TCP port; 0 picks a free one. Default 6420. */
	port?: number;
	/** Interface to bind. Default `127.0.0.1` (never all interfaces unless asked). */
	host?: string;
	/** When set, runners must offer subprotocol `rivet_token.<token>` and HTTP clients `Authorization: Bearer <token>`. */
	token?: string;
	/** `"memory"` (default) or `{ path }` of a SQLite file (WAL), created if missing. */
	storage?: StorageOption;
	/** Sent to runners in `ToClientInit`; a disconnected runner is lost after this long. Default 15000. */
	runnerLostThresholdMs?: number;
	/** Engine → runner `ToClientPing` cadence (plus 0–127 ms jitter). Default 3000. */
	pingIntervalMs?: number;
	/** Close `core.internal_error` when the last pong is older than this. Default 15000. */
	pingTimeoutMs?: number;
	/** After `ToServerStopping`, evict the runner after this long. Default: `runnerLostThresholdMs`. */
	drainWindowMs?: number;
	/** Close `ws.timed_out_waiting_for_init` when no first frame comes within this. Default 5000. */
	initTimeoutMs?: number;
	/** An actor that is not Running this long after its StartActor is lost. Default 30000. */
	actorStartThresholdMs?: number;
	/** An actor asked to stop that has not stopped after this long is lost. Default 1800000 (30 min). */
	actorStopThresholdMs?: number;
	/** Largest WebSocket message accepted from a runner; larger ones close the socket with 1009. Default 32 MiB. */
	maxMessageBytes?: number;
	/** Called with one line per notable engine event (connections, evictions, losses). Default: silent. */
	log?: (line: string) => void;
	/** Called after every stored change of an actor, with its API JSON (`GET /actors/{id}` shape). */
	onActorChange?: (actor: ActorJson) => void;
	/** Gateway timeouts and retries (client traffic to actors); defaults are the real engine's. */
	gateway?: GatewayOptions;
}

export interface ResolvedEngineOptions {
	port: number;
	host: string;
	token: string | undefined;
	storage: StorageOption;
	runnerLostThresholdMs: number;
	pingIntervalMs: number;
	pingTimeoutMs: number;
	drainWindowMs: number;
	initTimeoutMs: number;
	actorStartThresholdMs: number;
	actorStopThresholdMs: number;
	maxMessageBytes: number;
	log: (line: string) => void;
	onActorChange: ((actor: ActorJson) => void) | undefined;
	gateway: GatewayOptions;
}

/** The dev engine has one namespace, as a fresh real engine does. */
export const DEFAULT_NAMESPACE = "default";
export const PROTOCOL_VERSION = 7;
/** Tunnel payloads above this close the runner socket with `ws.invalid_packet` (spec §2.3). */
export const MAX_TUNNEL_PAYLOAD_BYTES = 20 * 1024 * 1024;
/** `ToClientAckEvents` goes out only when the last event index passes the last ack by more than this. */
export const EVENT_ACK_BATCH_SIZE = 250;

export function resolveOptions(
	options: EngineOptions = {},
): ResolvedEngineOptions {
	const lost = options.runnerLostThresholdMs ?? 15_000;
	const resolved: ResolvedEngineOptions = {
		port: options.port ?? 6420,
		host: options.host ?? "127.0.0.1",
		token: options.token,
		storage: options.storage ?? "memory",
		runnerLostThresholdMs: lost,
		pingIntervalMs: options.pingIntervalMs ?? 3_000,
		pingTimeoutMs: options.pingTimeoutMs ?? 15_000,
		drainWindowMs: options.drainWindowMs ?? lost,
		initTimeoutMs: options.initTimeoutMs ?? 5_000,
		actorStartThresholdMs: options.actorStartThresholdMs ?? 30_000,
		actorStopThresholdMs: options.actorStopThresholdMs ?? 1_800_000,
		maxMessageBytes: options.maxMessageBytes ?? 32 * 1024 * 1024,
		log: options.log ?? (() => {}),
		onActorChange: options.onActorChange,
		gateway: options.gateway ?? {},
	};
	for (const [name, value] of Object.entries(resolved)) {
		if (typeof value === "number" && (!Number.isFinite(value) || value < 0)) {
			throw new RangeError(
				`startEngine: ${name} must be a non-negative number, got ${value}`,
			);
		}
	}
	if (resolved.port > 65535)
		throw new RangeError(
			`startEngine: port must be 0–65535, got ${resolved.port}`,
		);
	if (
		resolved.token !== undefined &&
		!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(resolved.token)
	) {
		throw new RangeError(
			"startEngine: token must consist of RFC 6455 token characters (it travels as a subprotocol)",
		);
	}
	return resolved;
}
