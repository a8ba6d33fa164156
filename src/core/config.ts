/**
 * The runner configuration: every field of `@rivetkit/engine-runner` 2.2.1's `RunnerConfig` with the same meaning,
 * plus edgerunner's own (`platform`, timeouts). Validated once, in the `Runner` constructor.
 */
import type { GatewayId, RequestId } from "@rivetkit/engine-runner-protocol";
import type { BackoffOptions } from "./backoff.ts";
import { type Endpoint, endpointList, resolveEndpoints } from "./endpoints.ts";
import { ConfigError } from "./errors.ts";
import { type Logger, silentLogger } from "./log.ts";
import { globalPlatform, type Platform } from "./platform.ts";
import type { Runner } from "./runner.ts";

/** What an actor was started with (as in R). */
export interface ActorConfig {
	name: string;
	key: string | null;
	createTs: bigint;
	input: Uint8Array | null;
}

export interface RunnerConfig {
	/** A pino-compatible logger. Default: silent. */
	logger?: Logger;
	/** Runner version; the engine prefers the highest. */
	version: number;
	/**
	 * Engine base URL, `http(s)://` or `ws(s)://`; or a non-empty list of them (the nodes of a cluster): the runner
	 * connects to one and moves to the next on a failed connect or a close it reconnects on.
	 */
	endpoint: string | readonly string[];
	/** Engine token; sent as the `rivet_token.<token>` WebSocket subprotocol. */
	token?: string;
	/** Overrides `endpoint` for the runner socket (a URL or a list, as `endpoint`). */
	pegboardEndpoint?: string | readonly string[];
	/** Accepted for compatibility with R; unused (as in R). */
	pegboardRelayEndpoint?: string;
	namespace: string;
	/** Actor slots this runner offers (a positive integer). */
	totalSlots: number;
	runnerName: string;
	prepopulateActorNames?: Record<string, { metadata: Record<string, unknown> }>;
	metadata?: Record<string, unknown>;
	/** After each handshake with the engine (each `ToClientInit`). */
	onConnected?: () => void;
	/** Exactly once for every close of the current engine socket, shutdown included. */
	onDisconnected?: (code: number, reason: string) => void;
	/** After the runner has shut down. */
	onShutdown?: () => void;
	/** Called for each client HTTP request tunnelled to an actor. */
	fetch?: (
		runner: Runner,
		actorId: string,
		gatewayId: GatewayId,
		requestId: RequestId,
		request: Request,
	) => Promise<Response>;
	/** Called for each client WebSocket tunnelled to an actor; add listeners synchronously. */
	websocket?: (
		runner: Runner,
		actorId: string,
		ws: WebSocket,
		gatewayId: GatewayId,
		requestId: RequestId,
		request: Request,
		path: string,
		headers: Record<string, string>,
		isHibernatable: boolean,
		isRestoringHibernatable: boolean,
	) => Promise<void>;
	hibernatableWebSocket?: {
		canHibernate: (
			actorId: string,
			gatewayId: ArrayBuffer,
			requestId: ArrayBuffer,
			request: Request,
		) => boolean;
	};
	onActorStart?: (
		actorId: string,
		generation: number,
		config: ActorConfig,
	) => Promise<void>;
	onActorStop?: (actorId: string, generation: number) => Promise<void>;
	/** R: do not install signal handlers. The core never installs any; adapters read this (same as `signals: false`). */
	noAutoShutdown?: boolean;
	/** Accepted for compatibility with R (a test-only latency injector); edgerunner ignores it. */
	debugLatencyMs?: number;

	// edgerunner's own
	/** The platform seam. Default: the global `WebSocket`, if the runtime has one. */
	platform?: Platform;
	/** Longest graceful drain before the socket is closed anyway, ms. Default 120000. */
	drainTimeoutMs?: number;
	/** Reconnect backoff. */
	reconnect?: BackoffOptions;
	/** Reconnect when the engine sends nothing (it pings every 3 s) for this long, ms. Default 15000. */
	engineSilenceTimeoutMs?: number;
	/** Longest a KV request waits for its answer, ms. Default 30000. */
	kvTimeoutMs?: number;
}

/** The validated config, with defaults applied. */
export interface ResolvedConfig {
	raw: RunnerConfig;
	log: Logger;
	platform: Platform;
	/** The runner socket's endpoints, in the configured order (at least one). */
	endpoints: Endpoint[];
	protocols: string[];
	initFields: {
		name: string;
		version: number;
		totalSlots: number;
		prepopulateActorNames: Map<string, { metadata: string }> | null;
		metadata: string | null;
	};
	drainTimeoutMs: number;
	engineSilenceTimeoutMs: number;
	kvTimeoutMs: number;
}

export { PROTOCOL_VERSION } from "./endpoints.ts";

const U32_MAX = 0xffff_ffff;
// RFC 6455 subprotocols are RFC 2616 tokens: visible ASCII except separators.
const TOKEN_CHARS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function requireString(
	config: RunnerConfig,
	field: "namespace" | "runnerName",
): string {
	const value = config[field];
	if (typeof value !== "string" || value.length === 0) {
		throw new ConfigError(field, "is required and must be a non-empty string.");
	}
	return value;
}

function requireInteger(value: unknown, field: string, min: number): number {
	if (
		typeof value !== "number" ||
		!Number.isInteger(value) ||
		value < min ||
		value > U32_MAX
	) {
		throw new ConfigError(
			field,
			`must be an integer from ${min} to ${U32_MAX}, got ${String(value)}.`,
		);
	}
	return value;
}

function optionalMs(value: unknown, field: string, fallback: number): number {
	if (value === undefined) return fallback;
	if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
		throw new ConfigError(
			field,
			`must be a positive number of milliseconds, got ${String(value)}.`,
		);
	}
	return value;
}

function jsonOf(value: unknown, field: string): string {
	try {
		const json = JSON.stringify(value);
		if (json === undefined) throw new Error("not serialisable");
		return json;
	} catch (err) {
		throw new ConfigError(
			field,
			`must be JSON-serialisable (${(err as Error).message}).`,
		);
	}
}

export function resolveConfig(
	config: RunnerConfig,
	runnerKey: string,
): ResolvedConfig {
	if (config === null || typeof config !== "object")
		throw new ConfigError("config", "must be an object.");
	endpointList(config.endpoint, "endpoint");
	const namespace = requireString(config, "namespace");
	const runnerName = requireString(config, "runnerName");
	const version = requireInteger(config.version, "version", 0);
	const totalSlots = requireInteger(config.totalSlots, "totalSlots", 1);
	const protocols = ["rivet"];
	if (config.token !== undefined) {
		if (typeof config.token !== "string" || !TOKEN_CHARS.test(config.token)) {
			throw new ConfigError(
				"token",
				"must be a non-empty string of RFC 6455 token characters (letters, digits and !#$%&'*+-.^_`|~); it travels as a WebSocket subprotocol.",
			);
		}
		protocols.push(`rivet_token.${config.token}`);
	}
	const platform = config.platform ?? globalPlatform();
	if (!platform) {
		throw new ConfigError(
			"platform",
			'this runtime has no global WebSocket. Pass `platform: { name: "node", WebSocket }` with the `WebSocket` class of the `ws` package, or use `startRunner` from "edgerunner/node".',
		);
	}
	if (typeof platform.WebSocket !== "function") {
		throw new ConfigError(
			"platform.WebSocket",
			"must be a WHATWG WebSocket constructor.",
		);
	}
	const names = config.prepopulateActorNames;
	const prepopulated =
		names === undefined
			? null
			: new Map(
					Object.entries(names).map(([name, entry]) => [
						name,
						{
							metadata: jsonOf(
								entry?.metadata ?? {},
								`prepopulateActorNames.${name}`,
							),
						},
					]),
				);
	return {
		raw: config,
		log: config.logger ?? silentLogger,
		platform,
		endpoints:
			config.pegboardEndpoint === undefined
				? resolveEndpoints(config.endpoint, "endpoint", namespace, runnerKey)
				: resolveEndpoints(
						config.pegboardEndpoint,
						"pegboardEndpoint",
						namespace,
						runnerKey,
					),
		protocols,
		initFields: {
			name: runnerName,
			version,
			totalSlots,
			prepopulateActorNames: prepopulated,
			metadata:
				config.metadata === undefined
					? null
					: jsonOf(config.metadata, "metadata"),
		},
		drainTimeoutMs: optionalMs(
			config.drainTimeoutMs,
			"drainTimeoutMs",
			120_000,
		),
		engineSilenceTimeoutMs: optionalMs(
			config.engineSilenceTimeoutMs,
			"engineSilenceTimeoutMs",
			15_000,
		),
		kvTimeoutMs: optionalMs(config.kvTimeoutMs, "kvTimeoutMs", 30_000),
	};
}
