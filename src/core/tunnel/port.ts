/**
 * The seam between the control plane and the tunnel (client HTTP/WebSocket traffic to actors).
 */
import type * as protocol from "@rivetkit/engine-runner-protocol";
import type { ActorEntry } from "../actor-entry.ts";
import type { EdgerunnerError } from "../errors.ts";

/** What the tunnel offers the rest of the core. */
export interface TunnelPort {
	/** One `ToClientTunnelMessage`, handled in arrival order (user code runs as tracked tasks). */
	handle(message: protocol.ToClientTunnelMessage): void;
	/** After `ToClientInit`: send what was buffered while disconnected. */
	flush(): void;
	/**
	 * The actor stopped (or was lost): end its requests and non-hibernatable WebSockets. On "stopped", responses
	 * whose handler has already returned still go out: the returned promise settles once they are sent.
	 */
	closeActor(
		actor: ActorEntry,
		cause: "stopped" | "lost",
	): Promise<void> | undefined;
	/** An actor is starting (before `onActorStart`): hold traffic for the hibernated sockets it will restore. */
	actorStarting(actor: ActorEntry): void;
	/** The runner is gone: fail everything pending. */
	shutdown(error: EdgerunnerError): void;
	sendHibernatableWebSocketMessageAck(
		gatewayId: ArrayBuffer,
		requestId: ArrayBuffer,
		index: number,
	): void;
	restoreHibernatingRequests(
		actorId: string,
		metaEntries: readonly HibernatingWebSocketMetadata[],
	): Promise<void>;
}

/** What the user persisted about a hibernatable WebSocket (same shape as R's). */
export interface HibernatingWebSocketMetadata {
	gatewayId: ArrayBuffer;
	requestId: ArrayBuffer;
	clientMessageIndex: number;
	serverMessageIndex: number;
	path: string;
	headers: Record<string, string>;
}
