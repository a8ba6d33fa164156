import type { RunnerRegistry } from "./runner-registry.ts";

/** One datacenter's entry of a runner config, as `GET /runner-configs` prints it (only `normal` configs). */
export interface RunnerConfigEntry {
	normal: {
		drain_on_version_upgrade: boolean;
		actor_eviction_delay: number;
		actor_eviction_period: number;
		actor_eviction_rate: number;
	};
	metadata?: Record<string, unknown>;
	protocol_version: null;
}

/**
 * Runner configs per (namespace, runner name), as the real engine keeps them: an actor can only be created for a
 * name that has one (`actor.no_runner_config_configured`). A runner's connect creates a `normal` config for its
 * name when there is none (with `drain_on_version_upgrade: false`, as the real engine's auto-created one); `PUT
 * /runner-configs/{name}` sets one. Held in memory; names of runners in storage get theirs back after a restart.
 */
export class RunnerConfigs {
	readonly #configs = new Map<string, RunnerConfigEntry>();
	/** Runners whose connect has already been turned into a config (a deleted config is not brought back by them). */
	readonly #seenRunners = new Set<string>();
	readonly #runners: RunnerRegistry;

	constructor(runners: RunnerRegistry) {
		this.#runners = runners;
	}

	/** Adds the auto-created config of every runner that connected since the last look. */
	#sync(): void {
		for (const runner of this.#runners.list()) {
			if (this.#seenRunners.has(runner.runnerId)) continue;
			this.#seenRunners.add(runner.runnerId);
			const id = configId(runner.namespace, runner.name);
			if (!this.#configs.has(id)) this.#configs.set(id, normalConfig(false));
		}
	}

	has(namespace: string, name: string): boolean {
		this.#sync();
		return this.#configs.has(configId(namespace, name));
	}

	/** Sorted by runner name. */
	list(namespace: string): [string, RunnerConfigEntry][] {
		this.#sync();
		const prefix = `${namespace}\u0000`;
		return [...this.#configs.entries()]
			.filter(([id]) => id.startsWith(prefix))
			.map(([id, entry]): [string, RunnerConfigEntry] => [
				id.slice(prefix.length),
				entry,
			])
			.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
	}

	/** Sets the config; true when it changed (the real engine's `endpoint_config_changed` for normal configs). */
	upsert(namespace: string, name: string, entry: RunnerConfigEntry): boolean {
		this.#sync();
		this.#configs.set(configId(namespace, name), entry);
		return true;
	}

	delete(namespace: string, name: string): void {
		this.#sync();
		this.#configs.delete(configId(namespace, name));
	}
}

export function normalConfig(
	drainOnVersionUpgrade: boolean,
	metadata?: Record<string, unknown>,
): RunnerConfigEntry {
	return {
		normal: {
			drain_on_version_upgrade: drainOnVersionUpgrade,
			actor_eviction_delay: 0,
			actor_eviction_period: 0,
			actor_eviction_rate: 1.0,
		},
		...(metadata === undefined ? {} : { metadata }),
		protocol_version: null,
	};
}

function configId(namespace: string, name: string): string {
	return `${namespace}\u0000${name}`;
}
