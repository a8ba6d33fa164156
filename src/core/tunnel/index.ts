/**
 * Placeholder tunnel until client traffic lands (issue #4): answers every request with a retryable abort and
 * refuses every WebSocket, so the gateway never waits on us.
 */
import type * as protocol from "@rivetkit/engine-runner-protocol";
import type { Logger } from "../log.ts";
import type { TunnelPort } from "./port.ts";

export interface TunnelDeps {
	log: Logger;
	/** Sends a tunnel message now; false if the engine socket is not ready. */
	send(message: protocol.ToServerTunnelMessage): boolean;
}

export function createTunnel(deps: TunnelDeps): TunnelPort {
	const reply = (
		messageId: protocol.MessageId,
		kind: protocol.ToServerTunnelMessageKind,
	) =>
		deps.send({
			messageId: { ...messageId, messageIndex: 0 },
			messageKind: kind,
		});
	return {
		handle(message) {
			const kind = message.messageKind;
			if (kind.tag === "ToClientRequestStart")
				reply(message.messageId, { tag: "ToServerResponseAbort", val: null });
			else if (kind.tag === "ToClientWebSocketOpen") {
				reply(message.messageId, {
					tag: "ToServerWebSocketClose",
					val: { code: 1011, reason: "tunnel not available", hibernate: false },
				});
			}
			deps.log.debug({ kind: kind.tag }, "tunnel message refused: no tunnel");
		},
		flush() {},
		closeActor() {},
		shutdown() {},
		sendHibernatableWebSocketMessageAck() {},
		async restoreHibernatingRequests() {},
	};
}
