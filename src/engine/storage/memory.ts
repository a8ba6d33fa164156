import {
	type ActorRecord,
	compareBytes,
	type EngineStorage,
	type KvEntry,
	type KvListQuery,
	type RunnerRecord,
	type StoredCommand,
	startsWith,
} from "./types.ts";

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

/** State in plain maps; gone when the process ends. Records are copied in and out so callers can't alias them. */
export class MemoryStorage implements EngineStorage {
	readonly kind = "memory";
	readonly #actors = new Map<string, ActorRecord>();
	readonly #runners = new Map<string, RunnerRecord>();
	readonly #actorNames = new Map<string, Map<string, string>>();
	readonly #commands: StoredCommand[] = [];
	readonly #kv = new Map<string, Map<string, KvEntry>>();

	putActor(actor: ActorRecord): void {
		this.#actors.set(actor.actorId, { ...actor });
	}
	getActor(actorId: string): ActorRecord | undefined {
		const actor = this.#actors.get(actorId);
		return actor && { ...actor };
	}
	listActors(): ActorRecord[] {
		return [...this.#actors.values()].map((actor) => ({ ...actor }));
	}

	putRunner(runner: RunnerRecord): void {
		this.#runners.set(runner.runnerId, { ...runner });
	}
	getRunner(runnerId: string): RunnerRecord | undefined {
		const runner = this.#runners.get(runnerId);
		return runner && { ...runner };
	}
	listRunners(): RunnerRecord[] {
		return [...this.#runners.values()].map((runner) => ({ ...runner }));
	}

	putActorName(namespace: string, name: string, metadata: string): void {
		let names = this.#actorNames.get(namespace);
		if (!names) {
			names = new Map();
			this.#actorNames.set(namespace, names);
		}
		names.set(name, metadata);
	}
	listActorNames(namespace: string): { name: string; metadata: string }[] {
		const names = this.#actorNames.get(namespace) ?? new Map<string, string>();
		return [...names]
			.map(([name, metadata]) => ({ name, metadata }))
			.sort((a, b) => (a.name < b.name ? -1 : 1));
	}

	appendCommand(command: StoredCommand): void {
		const sameSlot = (c: StoredCommand) =>
			c.runnerId === command.runnerId &&
			c.actorId === command.actorId &&
			c.generation === command.generation &&
			c.index === command.index;
		const existing = this.#commands.findIndex(sameSlot);
		const copy = { ...command, data: command.data.slice() };
		if (existing >= 0) this.#commands[existing] = copy;
		else this.#commands.push(copy);
	}
	ackCommands(
		runnerId: string,
		actorId: string,
		generation: number,
		index: number,
	): void {
		this.#removeCommands(
			(c) =>
				c.runnerId === runnerId &&
				c.actorId === actorId &&
				c.generation === generation &&
				c.index <= index,
		);
	}
	listCommands(runnerId: string): StoredCommand[] {
		return this.#commands
			.filter((c) => c.runnerId === runnerId)
			.map((c) => ({ ...c, data: c.data.slice() }))
			.sort((a, b) =>
				a.actorId !== b.actorId
					? a.actorId < b.actorId
						? -1
						: 1
					: a.generation !== b.generation
						? a.generation - b.generation
						: a.index - b.index,
			);
	}
	deleteRunnerCommands(runnerId: string): void {
		this.#removeCommands((c) => c.runnerId === runnerId);
	}
	#removeCommands(match: (c: StoredCommand) => boolean): void {
		for (let i = this.#commands.length - 1; i >= 0; i--) {
			if (match(this.#commands[i] as StoredCommand))
				this.#commands.splice(i, 1);
		}
	}

	#actorKv(actorId: string): Map<string, KvEntry> {
		let kv = this.#kv.get(actorId);
		if (!kv) {
			kv = new Map();
			this.#kv.set(actorId, kv);
		}
		return kv;
	}
	kvGet(actorId: string, keys: Uint8Array[]): KvEntry[] {
		const kv = this.#kv.get(actorId);
		if (!kv) return [];
		const found: KvEntry[] = [];
		for (const key of keys) {
			const entry = kv.get(hex(key));
			if (entry) found.push(copyEntry(entry));
		}
		return found;
	}
	kvList(
		actorId: string,
		query: KvListQuery,
		reverse: boolean,
		limit: number,
	): KvEntry[] {
		const kv = this.#kv.get(actorId);
		if (!kv) return [];
		const matches = [...kv.values()].filter((entry) =>
			matchesQuery(entry.key, query),
		);
		matches.sort((a, b) => compareBytes(a.key, b.key));
		if (reverse) matches.reverse();
		return matches.slice(0, limit).map(copyEntry);
	}
	kvPut(
		actorId: string,
		entries: { key: Uint8Array; value: Uint8Array }[],
		updateTs: number,
	): void {
		const kv = this.#actorKv(actorId);
		for (const { key, value } of entries)
			kv.set(hex(key), { key: key.slice(), value: value.slice(), updateTs });
	}
	kvDelete(actorId: string, keys: Uint8Array[]): void {
		const kv = this.#kv.get(actorId);
		for (const key of keys) kv?.delete(hex(key));
	}
	kvDeleteRange(actorId: string, start: Uint8Array, end: Uint8Array): void {
		const kv = this.#kv.get(actorId);
		if (!kv) return;
		for (const [id, entry] of kv) {
			if (
				compareBytes(entry.key, start) >= 0 &&
				compareBytes(entry.key, end) < 0
			)
				kv.delete(id);
		}
	}
	kvDrop(actorId: string): void {
		this.#kv.delete(actorId);
	}
	kvSize(actorId: string): number {
		let size = 0;
		for (const entry of this.#kv.get(actorId)?.values() ?? [])
			size += entry.key.length + entry.value.length;
		return size;
	}

	/** Memory has nothing to roll back; callers validate before they write. */
	transaction<T>(fn: () => T): T {
		return fn();
	}
	close(): void {}
}

function copyEntry(entry: KvEntry): KvEntry {
	return {
		key: entry.key.slice(),
		value: entry.value.slice(),
		updateTs: entry.updateTs,
	};
}

export function matchesQuery(key: Uint8Array, query: KvListQuery): boolean {
	switch (query.kind) {
		case "all":
			return true;
		case "prefix":
			return startsWith(key, query.prefix);
		case "range": {
			if (compareBytes(key, query.start) < 0) return false;
			const vsEnd = compareBytes(key, query.end);
			return query.exclusive ? vsEnd < 0 : vsEnd <= 0;
		}
	}
}
