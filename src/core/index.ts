/**
 * edgerunner: a runtime-agnostic runner for the Rivet Engine runner protocol v7.
 */
export type { ActorInfo, ActorStatus } from "./actor-entry.ts";
export type { BackoffOptions, ReconnectUrgency } from "./backoff.ts";
export { ReconnectBackoff } from "./backoff.ts";
export type { CloseDecision, CloseInput, CloseReason } from "./close-policy.ts";
export { classifyClose, parseCloseReason } from "./close-policy.ts";
export type { ActorConfig, RunnerConfig } from "./config.ts";
export { PROTOCOL_VERSION } from "./config.ts";
export {
	ActorNotFoundError,
	ConfigError,
	EdgerunnerError,
	FatalCloseError,
	KvLimitError,
	KvRemoteError,
	KvTimeoutError,
	KvUnexpectedResponseError,
	KvUnknownOutcomeError,
	ProtocolError,
	RunnerLostError,
	RunnerShutdownError,
	TunnelMessageTooLargeError,
} from "./errors.ts";
export { KV_LIMITS } from "./kv.ts";
export type { KvListOptions } from "./kv-api.ts";
export type { RunnerState, ShutdownMode, ShutdownReport } from "./lifecycle.ts";
export type { Logger } from "./log.ts";
export type {
	Platform,
	TerminateEvent,
	WebSocketConstructor,
} from "./platform.ts";
export type { ShutdownRequest } from "./runner.ts";
export { Runner } from "./runner.ts";
export type { HibernatingWebSocketMetadata } from "./tunnel/port.ts";
export type {
	ActorCloseEvent,
	ActorMessageEvent,
	ActorWebSocket,
} from "./tunnel/websocket.ts";
