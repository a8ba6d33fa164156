/**
 * `edgerunner/client`: actors through the gateway, from browsers, Node 20+ (pass `ws`), Deno, Bun and workerd.
 * Web standards and partysocket only; it imports neither the runner core nor the engine.
 */
export {
	ActorClient,
	type ActorClientOptions,
	ActorHandle,
	type ActorInfo,
	type ConnectOptions,
	type CrashPolicy,
	type CreateActorRequest,
} from "./actor-client.ts";
export {
	ActorSocket,
	type ActorSocketOptions,
	DEFAULT_SEND_BUFFER,
	type SendBufferLimit,
	type SocketMessage,
} from "./actor-socket.ts";
export { fullJitterDelay, type ReconnectDelays } from "./backoff.ts";
export {
	type CloseDecision,
	decideOnClose,
	endpointUnreachable,
} from "./close-table.ts";
export {
	ClientConfigError,
	RivetError,
	SendBufferFullError,
	SocketEndedError,
	type SocketEnding,
} from "./errors.ts";
