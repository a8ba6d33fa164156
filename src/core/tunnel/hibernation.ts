/**
 * Hibernatable WebSockets across an actor's sleep (spec §8.4, "Restore on wake"), with R's semantics: StartActor
 * lists the sockets the gateway kept open; the actor restores the ones it persisted at the end of `onActorStart`.
 * Their traffic is held until then; sockets not restored by the time the actor has started are closed
 * `1000 ws.meta_not_found_during_restore`, persisted ones the gateway no longer holds close locally
 * `1000 ws.stale_metadata`.
 */
import type { ActorEntry } from "../actor-entry.ts";
import { EdgerunnerError } from "../errors.ts";
import { errorFields } from "../log.ts";
import type { HibernatingWebSocketMetadata } from "./port.ts";
import type { TunnelRequest } from "./requests.ts";
import {
	closeKind,
	type SessionDeps,
	type WebSocketSessions,
	webSocketRequest,
} from "./websocket-sessions.ts";

export class Hibernation {
	readonly #d: SessionDeps;
	readonly #sessions: WebSocketSessions;
	readonly #restored = new WeakSet<ActorEntry>();

	constructor(deps: SessionDeps, sessions: WebSocketSessions) {
		this.#d = deps;
		this.#sessions = sessions;
	}

	/**
	 * StartActor listed sockets the gateway kept open while the actor slept: hold their traffic until the actor
	 * restores them (`restoreHibernatingRequests`, at the end of `onActorStart`). Any it did not restore by the
	 * time it has started are closed `1000 ws.meta_not_found_during_restore`.
	 */
	actorStarting(actor: ActorEntry): void {
		if (actor.hibernatingRequests.length === 0) return;
		const { requests, keys } = this.#d;
		for (const { gatewayId, requestId } of actor.hibernatingRequests) {
			const key = keys.key(gatewayId, requestId);
			const messageId = { gatewayId, requestId, messageIndex: 0 };
			const request = requests.add(key, actor, messageId, "awaiting-restore");
			request.canHibernate = true;
			request.pending = [];
		}
		void actor.whenStarted().then(() => {
			for (const request of requests.ofActor(actor)) {
				if (request.kind !== "awaiting-restore") continue;
				requests.send(
					request,
					closeKind(1000, "ws.meta_not_found_during_restore"),
				);
				requests.delete(request);
			}
		});
	}

	/** Spec §8.4 "Restore on wake", with R's semantics. */
	async restore(
		actor: ActorEntry,
		entries: readonly HibernatingWebSocketMetadata[],
	): Promise<void> {
		if (this.#restored.has(actor))
			throw new EdgerunnerError(
				"hibernation_already_restored",
				`Actor ${actor.actorId} already restored its hibernating WebSockets; call restoreHibernatingRequests once per start.`,
			);
		this.#restored.add(actor);
		const { requests, keys } = this.#d;
		const persisted = new Map<number, HibernatingWebSocketMetadata>();
		for (const meta of entries)
			persisted.set(keys.key(meta.gatewayId, meta.requestId), meta);
		const work: Promise<void>[] = [];
		const connected = new Set<number>();
		for (const { gatewayId, requestId } of actor.hibernatingRequests) {
			const key = keys.key(gatewayId, requestId);
			connected.add(key);
			const held = requests.get(key);
			const queued = held?.kind === "awaiting-restore" ? held.pending : [];
			const meta = persisted.get(key);
			const messageId = { gatewayId, requestId, messageIndex: 0 };
			if (!meta) {
				if (held?.kind === "awaiting-restore") requests.delete(held);
				this.#d.sendDetached(
					messageId,
					closeKind(1000, "ws.meta_not_found_during_restore"),
				);
				continue;
			}
			const request = requests.add(key, actor, messageId, "websocket");
			request.canHibernate = true;
			request.serverIndex = meta.serverMessageIndex & 0xffff;
			request.clientIndex = meta.clientMessageIndex & 0xffff;
			request.pending = queued ?? [];
			work.push(this.#runRestore(request, meta, false));
		}
		for (const [key, meta] of persisted) {
			if (connected.has(key)) continue;
			// Persisted but the gateway no longer holds it: let the actor's close handler clean up.
			const stale: TunnelRequest = {
				key,
				actor,
				gatewayId: meta.gatewayId,
				requestId: meta.requestId,
				kind: "websocket",
				clientIndex: 0,
				serverIndex: 0,
				canHibernate: true,
				ws: undefined,
				pending: undefined,
				responding: undefined,
			};
			work.push(this.#runRestore(stale, meta, true));
		}
		await Promise.allSettled(work);
	}

	async #runRestore(
		request: TunnelRequest,
		meta: HibernatingWebSocketMetadata,
		stale: boolean,
	): Promise<void> {
		const ws = this.#sessions.socket(request, meta.path, meta.headers, stale);
		ws._markOpen();
		try {
			if (!this.#d.config.websocket) throw new Error("no `websocket` handler");
			await this.#d.config.websocket(
				this.#d.runner(),
				request.actor.actorId,
				ws as unknown as WebSocket,
				request.gatewayId,
				request.requestId,
				webSocketRequest(meta.path, meta.headers),
				meta.path,
				meta.headers,
				true,
				true,
			);
		} catch (err) {
			this.#d.log.error(
				{ actorId: request.actor.actorId, ...errorFields(err) },
				"restoring a hibernated websocket failed",
			);
			ws._close(1011, "ws.restore_error", !stale);
			return;
		}
		if (stale) {
			ws._close(1000, "ws.stale_metadata", false);
			return;
		}
		if (this.#d.requests.isLive(request)) this.#sessions.drainPending(request);
	}
}
