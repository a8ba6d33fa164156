/**
 * `Runner`, the public facade: validates the config, wires the parts (uplink, lifecycle, actor table, KV,
 * tunnel) and exposes the methods of `@rivetkit/engine-runner` 2.2.1 with the same names and meaning.
 */
import * as protocol from "@rivetkit/engine-runner-protocol";
import type { ActorEntry, ActorInfo } from "./actor-entry.ts";
import { ActorTable } from "./actors.ts";
import {
	type ActorConfig,
	PROTOCOL_VERSION,
	type ResolvedConfig,
	type RunnerConfig,
	resolveConfig,
} from "./config.ts";
import { ActorNotFoundError } from "./errors.ts";
import { KvClient } from "./kv.ts";
import { KvApi, type KvListOptions } from "./kv-api.ts";
import {
	Lifecycle,
	type RunnerState,
	type ShutdownMode,
	type ShutdownReport,
} from "./lifecycle.ts";
import { TimerSet } from "./timers.ts";
import { createTunnel } from "./tunnel/index.ts";
import type {
	HibernatingWebSocketMetadata,
	TunnelPort,
} from "./tunnel/port.ts";

/** `shutdown(true)` is immediate, `shutdown(false)` drains (as in R); or say it with an object. */
export type ShutdownRequest = boolean | { mode: ShutdownMode; reason?: string };

export class Runner {
	readonly #resolved: ResolvedConfig;
	readonly #lifecycle: Lifecycle;
	readonly #actors: ActorTable;
	readonly #kv: KvClient;
	readonly #kvApi: KvApi;
	readonly #tunnel: TunnelPort;
	/** Random per instance; the same across reconnects (spec §2.1). */
	readonly runnerKey: string = crypto.randomUUID();

	constructor(config: RunnerConfig) {
		const resolved = resolveConfig(config, this.runnerKey);
		this.#resolved = resolved;
		const log = resolved.log;
		const timers = new TimerSet();
		// The parts reach the socket through the lifecycle, which is built last: `send` is late-bound.
		let lifecycle: Lifecycle | undefined;
		const send = (message: protocol.ToServer): boolean =>
			lifecycle?.uplink.send(message) ?? false;
		this.#tunnel = createTunnel({
			log,
			send: (val) => send({ tag: "ToServerTunnelMessage", val }),
			actor: (actorId) => this.#actors.get(actorId),
			runner: () => this,
			config,
		});
		this.#actors = new ActorTable({
			log,
			onActorStart: (id, generation, actorConfig) => {
				const actor = this.#actors.get(id, generation);
				if (actor) this.#tunnel.actorStarting(actor);
				return (
					config.onActorStart?.(id, generation, actorConfig) ??
					Promise.resolve()
				);
			},
			onActorStop: (id, generation) =>
				config.onActorStop?.(id, generation) ?? Promise.resolve(),
			closeTunnel: (actor, cause) => this.#tunnel.closeActor(actor, cause),
			sendEvents: (events) => send({ tag: "ToServerEvents", val: events }),
			isDraining: () => lifecycle?.isDraining ?? false,
			now: Date.now,
		});
		const readyConnection = (): number | undefined =>
			lifecycle?.uplink.ready ? lifecycle.uplink.current?.id : undefined;
		this.#kv = new KvClient(
			{ send, connectionId: readyConnection },
			timers,
			resolved.kvTimeoutMs,
			log,
		);
		this.#kvApi = new KvApi(this.#kv);
		lifecycle = new Lifecycle(resolved, timers, {
			actors: this.#actors,
			kv: this.#kv,
			tunnel: this.#tunnel,
			route: (message) => this.#route(message),
		});
		this.#lifecycle = lifecycle;
	}

	/** Every frame other than init and ping, in arrival order. */
	#route(message: protocol.ToClient): void {
		switch (message.tag) {
			case "ToClientCommands": {
				const checkpoints = this.#actors.handleCommands(message.val);
				if (checkpoints.length > 0) {
					this.#lifecycle.uplink.send({
						tag: "ToServerAckCommands",
						val: { lastCommandCheckpoints: checkpoints },
					});
				}
				return;
			}
			case "ToClientAckEvents":
				this.#actors.handleAck(message.val.lastEventCheckpoints);
				return;
			case "ToClientKvResponse":
				this.#kv.handleResponse(message.val);
				return;
			case "ToClientTunnelMessage":
				this.#tunnel.handle(message.val);
				return;
			default:
				this.#resolved.log.warn(
					{ tag: message.tag },
					"unexpected frame ignored",
				);
		}
	}

	/** The config as given. */
	get config(): RunnerConfig {
		return this.#resolved.raw;
	}

	/** The lifecycle state: idle, connecting, ready, reconnecting, draining, closing, stopped. */
	get state(): RunnerState {
		return this.#lifecycle.state;
	}

	/** The id the engine gave this runner at the last handshake. */
	get runnerId(): string | undefined {
		return this.#lifecycle.runnerId;
	}

	/** Resolves with the shutdown report once the runner has stopped, however it ended. */
	get closed(): Promise<ShutdownReport> {
		return this.#lifecycle.closed;
	}

	/** The current runner socket URL (as R's `pegboardUrl`): the one connected, connecting or dialled next. */
	get pegboardUrl(): string {
		return this.#lifecycle.endpoint.url;
	}

	/** The current engine endpoint as configured (an entry of `endpoint` or `pegboardEndpoint`). */
	get endpoint(): string {
		return this.#lifecycle.endpoint.endpoint;
	}

	getProtocolMetadata(): protocol.ProtocolMetadata | undefined {
		return this.#lifecycle.protocolMetadata;
	}

	/** Opens the engine socket. Returns once connecting has begun (as R); `onConnected` fires on each handshake. */
	async start(): Promise<void> {
		this.#lifecycle.start();
	}

	/**
	 * The one shutdown path. `shutdown(false)` or `{ mode: "drain" }`: tell the engine we are stopping, stop each
	 * actor as its StopActor arrives, close when none is left (or the drain budget runs out). `shutdown(true)` or
	 * `{ mode: "immediate" }`: close now. Later calls join the running shutdown; immediate escalates a drain.
	 * `exit` (R's second argument) ends the process afterwards where the platform can.
	 */
	async shutdown(
		request: ShutdownRequest = false,
		exit = false,
	): Promise<ShutdownReport> {
		const mode: ShutdownMode =
			typeof request === "boolean"
				? request
					? "immediate"
					: "drain"
				: request.mode;
		const reason = (typeof request === "object" && request.reason) || "user";
		const report = await this.#lifecycle.shutdown(mode, reason);
		if (exit) this.#resolved.platform.exit?.(0);
		return report;
	}

	// Actors

	get actors(): ReadonlyMap<string, ActorInfo> {
		return this.#actors.live;
	}

	getActor(actorId: string, generation?: number): ActorInfo | undefined {
		return this.#actors.get(actorId, generation);
	}

	hasActor(actorId: string, generation?: number): boolean {
		return this.#actors.get(actorId, generation) !== undefined;
	}

	/** Resolves with the actor once `onActorStart` has finished, or undefined if it is not here or failed. */
	async getAndWaitForActor(
		actorId: string,
		generation?: number,
	): Promise<ActorInfo | undefined> {
		const actor = this.#actors.get(actorId, generation);
		if (!actor) return undefined;
		return (await actor.whenStarted()) ? actor : undefined;
	}

	#actor(actorId: string, generation?: number): ActorEntry | undefined {
		const actor = this.#actors.get(actorId, generation);
		if (!actor)
			this.#resolved.log.warn({ actorId, generation }, "actor not found");
		return actor;
	}

	/** Asks the engine to put the actor to sleep (it answers with StopActor). */
	sleepActor(actorId: string, generation?: number): void {
		const actor = this.#actor(actorId, generation);
		if (actor) this.#actors.intent(actor, "sleep");
	}

	/** Asks the engine to stop the actor; it stops with StopCode.Error, so the crash policy applies (as R). */
	async stopActor(actorId: string, generation?: number): Promise<void> {
		const actor = this.#actor(actorId, generation);
		if (!actor) return;
		actor.stopWithoutDestroy = true;
		this.#actors.intent(actor, "stop");
	}

	/** Asks the engine to stop and destroy the actor (it stops with StopCode.Ok). */
	destroyActor(actorId: string, generation?: number): void {
		const actor = this.#actor(actorId, generation);
		if (!actor) return;
		actor.stopWithoutDestroy = false;
		this.#actors.intent(actor, "stop");
	}

	/** Stops the actor here now (onActorStop, then Stopped to the engine), without waiting for a command. */
	async forceStopActor(actorId: string, generation?: number): Promise<void> {
		const actor = this.#actor(actorId, generation);
		if (actor) await this.#actors.stop(actor);
	}

	/** Sets (or with `null`, clears) the actor's alarm: the engine wakes it at `alarmTs` (ms) if it sleeps. */
	setAlarm(actorId: string, alarmTs: number | null, generation?: number): void {
		const actor = this.#actor(actorId, generation);
		if (actor) this.#actors.setAlarm(actor, alarmTs);
	}

	clearAlarm(actorId: string, generation?: number): void {
		this.setAlarm(actorId, null, generation);
	}

	// KV (see kv-api.ts for the shapes, kv.ts for what happens across reconnects)

	kvGet(actorId: string, keys: Uint8Array[]): Promise<(Uint8Array | null)[]> {
		return this.#kvApi.get(actorId, keys);
	}

	kvListAll(
		actorId: string,
		options?: KvListOptions,
	): Promise<[Uint8Array, Uint8Array][]> {
		return this.#kvApi.listAll(actorId, options);
	}

	kvListRange(
		actorId: string,
		start: Uint8Array,
		end: Uint8Array,
		exclusive?: boolean,
		options?: KvListOptions,
	): Promise<[Uint8Array, Uint8Array][]> {
		return this.#kvApi.listRange(actorId, start, end, exclusive, options);
	}

	kvListPrefix(
		actorId: string,
		prefix: Uint8Array,
		options?: KvListOptions,
	): Promise<[Uint8Array, Uint8Array][]> {
		return this.#kvApi.listPrefix(actorId, prefix, options);
	}

	kvPut(actorId: string, entries: [Uint8Array, Uint8Array][]): Promise<void> {
		return this.#kvApi.put(actorId, entries);
	}

	kvDelete(actorId: string, keys: Uint8Array[]): Promise<void> {
		return this.#kvApi.delete(actorId, keys);
	}

	kvDeleteRange(
		actorId: string,
		start: Uint8Array,
		end: Uint8Array,
	): Promise<void> {
		return this.#kvApi.deleteRange(actorId, start, end);
	}

	kvDrop(actorId: string): Promise<void> {
		return this.#kvApi.drop(actorId);
	}

	// Tunnel

	sendHibernatableWebSocketMessageAck(
		gatewayId: ArrayBuffer,
		requestId: ArrayBuffer,
		index: number,
	): void {
		this.#tunnel.sendHibernatableWebSocketMessageAck(
			gatewayId,
			requestId,
			index,
		);
	}

	/** Call at the end of `onActorStart` with the hibernatable WebSockets you persisted for the actor. */
	async restoreHibernatingRequests(
		actorId: string,
		metaEntries: HibernatingWebSocketMetadata[],
	): Promise<void> {
		if (!this.#actors.get(actorId)) throw new ActorNotFoundError(actorId);
		await this.#tunnel.restoreHibernatingRequests(actorId, metaEntries);
	}

	/** For engine-started (serverless) runners: base64 of `[u16 LE version][ToServerlessServer init]`. */
	getServerlessInitPacket(): string | undefined {
		const runnerId = this.runnerId;
		if (!runnerId) return undefined;
		const body = protocol.encodeToServerlessServer({
			tag: "ToServerlessServerInit",
			val: { runnerId, runnerProtocolVersion: PROTOCOL_VERSION },
		});
		const packet = new Uint8Array(body.byteLength + 2);
		new DataView(packet.buffer).setUint16(0, PROTOCOL_VERSION, true);
		packet.set(body, 2);
		let binary = "";
		for (const byte of packet) binary += String.fromCharCode(byte);
		return btoa(binary);
	}
}

export type { ActorConfig, ActorInfo };
