import * as protocol from "@rivetkit/engine-runner-protocol";
import type { RunnerRegistry } from "./runner-registry.ts";
import type { ActorRecord, EngineStorage } from "./storage/types.ts";

/**
 * The per-(runner, actor, generation) command log (spec §4.3): every command is stored with its actor before it
 * is sent, replayed after a reconnect until the runner acks it.
 */
export class ActorCommandLog {
	readonly #storage: EngineStorage;
	readonly #runners: RunnerRegistry;
	readonly #save: (actor: ActorRecord) => void;

	constructor(
		storage: EngineStorage,
		runners: RunnerRegistry,
		save: (actor: ActorRecord) => void,
	) {
		this.#storage = storage;
		this.#runners = runners;
		this.#save = save;
	}

	/** Persist the command with the actor in one transaction, then send it if the runner is connected. */
	issue(actor: ActorRecord, command: protocol.Command): void {
		const runnerId = actor.runnerId;
		if (runnerId === null) return;
		const index = actor.nextCommandIdx++;
		this.#storage.transaction(() => {
			this.#save(actor);
			this.#storage.appendCommand({
				runnerId,
				actorId: actor.actorId,
				generation: actor.generation,
				index,
				data: protocol.encodeActorCommandKeyData(
					command as protocol.ActorCommandKeyData,
				),
			});
		});
		this.sendUnlogged(runnerId, {
			checkpoint: {
				actorId: actor.actorId,
				generation: actor.generation,
				index: BigInt(index),
			},
			inner: command,
		});
	}

	/** Send without storing: for a generation the engine already gave up on. */
	sendUnlogged(runnerId: string, command: protocol.CommandWrapper): void {
		this.#runners.link(runnerId)?.send({
			tag: "ToClientCommands",
			val: [command],
		});
	}

	/** Unacked commands of a runner, for replay right after `ToClientInit`. */
	replay(runnerId: string): protocol.CommandWrapper[] {
		return this.#storage.listCommands(runnerId).map((command) => ({
			checkpoint: {
				actorId: command.actorId,
				generation: command.generation,
				index: BigInt(command.index),
			},
			inner: protocol.decodeActorCommandKeyData(
				command.data,
			) as protocol.Command,
		}));
	}

	ack(runnerId: string, ack: protocol.ToServerAckCommands): void {
		this.#storage.transaction(() => {
			for (const checkpoint of ack.lastCommandCheckpoints) {
				this.#storage.ackCommands(
					runnerId,
					checkpoint.actorId,
					checkpoint.generation,
					Number(checkpoint.index),
				);
			}
		});
	}
}
