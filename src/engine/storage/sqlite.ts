import type { SqliteDatabase, SqliteDriver } from "./sqlite-driver.ts";
import type {
	ActorRecord,
	EngineStorage,
	KvEntry,
	KvListQuery,
	RunnerRecord,
	StoredCommand,
} from "./types.ts";

const SCHEMA_VERSION = "1";

/** The file could not be used as engine state; the engine refuses to start rather than reset it. */
export class EngineStorageError extends Error {
	readonly code = "storage_unusable";
	readonly path: string;
	constructor(path: string, cause: unknown) {
		const detail = cause instanceof Error ? cause.message : String(cause);
		super(
			`cannot use engine database ${path}: ${detail}. The engine never resets a database: ` +
				"move the file away (or pick another --data directory) to start empty.",
			{ cause },
		);
		this.name = "EngineStorageError";
		this.path = path;
	}
}

const blob = (bytes: Uint8Array): Buffer =>
	Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const bytesOf = (value: unknown): Uint8Array => {
	const view = value as Uint8Array;
	return new Uint8Array(
		view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength),
	);
};

/** Smallest key greater than every key with this prefix, or null when there is none (all 0xff). */
function prefixUpperBound(prefix: Uint8Array): Uint8Array | null {
	const bound = prefix.slice();
	for (let i = bound.length - 1; i >= 0; i--) {
		if ((bound[i] as number) < 0xff) {
			bound[i] = (bound[i] as number) + 1;
			return bound.slice(0, i + 1);
		}
	}
	return null;
}

/** Durable state in one SQLite file in WAL mode. Records are JSON; KV keys are BLOBs (memcmp order). */
export class SqliteStorage implements EngineStorage {
	readonly kind = "sqlite";
	readonly path: string;
	readonly driverName: string;
	readonly #db: SqliteDatabase;
	#depth = 0;

	constructor(driver: SqliteDriver, path: string) {
		this.path = path;
		this.driverName = driver.name;
		let db: SqliteDatabase | undefined;
		try {
			db = driver.open(path);
			db.exec("PRAGMA journal_mode = WAL");
			db.exec("PRAGMA synchronous = NORMAL");
			db.exec("PRAGMA busy_timeout = 5000");
			const check = db.prepare("PRAGMA quick_check").get() as
				| { quick_check?: string }
				| undefined;
			if (check?.quick_check !== "ok")
				throw new Error(`integrity check failed: ${check?.quick_check}`);
			this.#db = db;
			this.#migrate();
		} catch (error) {
			try {
				db?.close();
			} catch {
				// Already unusable; the original error is the one to report.
			}
			throw new EngineStorageError(path, error);
		}
	}

	#migrate(): void {
		const tables = this.#db
			.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
			.all();
		const names = new Set(tables.map((row) => String(row.name)));
		if (names.size > 0) {
			const version = names.has("meta")
				? this.#db.prepare("SELECT value FROM meta WHERE key = 'schema'").get()
						?.value
				: undefined;
			if (version === undefined)
				throw new Error(
					"the file is a SQLite database but not an edgerunner engine database",
				);
			if (version !== SCHEMA_VERSION)
				throw new Error(`unsupported schema version ${String(version)}`);
			return;
		}
		this.#db.exec(`
			CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
			CREATE TABLE actors (actor_id TEXT PRIMARY KEY, record TEXT NOT NULL);
			CREATE TABLE runners (runner_id TEXT PRIMARY KEY, record TEXT NOT NULL);
			CREATE TABLE actor_names (namespace TEXT NOT NULL, name TEXT NOT NULL, metadata TEXT NOT NULL,
				PRIMARY KEY (namespace, name));
			CREATE TABLE commands (runner_id TEXT NOT NULL, actor_id TEXT NOT NULL, generation INTEGER NOT NULL,
				idx INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (runner_id, actor_id, generation, idx));
			CREATE TABLE kv (actor_id TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, update_ts INTEGER NOT NULL,
				PRIMARY KEY (actor_id, key));
		`);
		this.#db
			.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)")
			.run(SCHEMA_VERSION);
	}

	putActor(actor: ActorRecord): void {
		this.#db
			.prepare(
				"INSERT INTO actors (actor_id, record) VALUES (?, ?) ON CONFLICT (actor_id) DO UPDATE SET record = excluded.record",
			)
			.run(actor.actorId, JSON.stringify(actor));
	}
	getActor(actorId: string): ActorRecord | undefined {
		const row = this.#db
			.prepare("SELECT record FROM actors WHERE actor_id = ?")
			.get(actorId);
		return row ? (JSON.parse(String(row.record)) as ActorRecord) : undefined;
	}
	listActors(): ActorRecord[] {
		return this.#db
			.prepare("SELECT record FROM actors ORDER BY rowid")
			.all()
			.map((row) => JSON.parse(String(row.record)) as ActorRecord);
	}

	putRunner(runner: RunnerRecord): void {
		this.#db
			.prepare(
				"INSERT INTO runners (runner_id, record) VALUES (?, ?) ON CONFLICT (runner_id) DO UPDATE SET record = excluded.record",
			)
			.run(runner.runnerId, JSON.stringify(runner));
	}
	getRunner(runnerId: string): RunnerRecord | undefined {
		const row = this.#db
			.prepare("SELECT record FROM runners WHERE runner_id = ?")
			.get(runnerId);
		return row ? (JSON.parse(String(row.record)) as RunnerRecord) : undefined;
	}
	listRunners(): RunnerRecord[] {
		return this.#db
			.prepare("SELECT record FROM runners ORDER BY rowid")
			.all()
			.map((row) => JSON.parse(String(row.record)) as RunnerRecord);
	}

	putActorName(namespace: string, name: string, metadata: string): void {
		this.#db
			.prepare(
				"INSERT INTO actor_names (namespace, name, metadata) VALUES (?, ?, ?) ON CONFLICT (namespace, name) DO UPDATE SET metadata = excluded.metadata",
			)
			.run(namespace, name, metadata);
	}
	listActorNames(namespace: string): { name: string; metadata: string }[] {
		return this.#db
			.prepare(
				"SELECT name, metadata FROM actor_names WHERE namespace = ? ORDER BY name",
			)
			.all(namespace)
			.map((row) => ({
				name: String(row.name),
				metadata: String(row.metadata),
			}));
	}

	appendCommand(command: StoredCommand): void {
		this.#db
			.prepare(
				"INSERT OR REPLACE INTO commands (runner_id, actor_id, generation, idx, data) VALUES (?, ?, ?, ?, ?)",
			)
			.run(
				command.runnerId,
				command.actorId,
				command.generation,
				command.index,
				blob(command.data),
			);
	}
	ackCommands(
		runnerId: string,
		actorId: string,
		generation: number,
		index: number,
	): void {
		this.#db
			.prepare(
				"DELETE FROM commands WHERE runner_id = ? AND actor_id = ? AND generation = ? AND idx <= ?",
			)
			.run(runnerId, actorId, generation, index);
	}
	listCommands(runnerId: string): StoredCommand[] {
		return this.#db
			.prepare(
				"SELECT runner_id, actor_id, generation, idx, data FROM commands WHERE runner_id = ? ORDER BY actor_id, generation, idx",
			)
			.all(runnerId)
			.map((row) => ({
				runnerId: String(row.runner_id),
				actorId: String(row.actor_id),
				generation: Number(row.generation),
				index: Number(row.idx),
				data: bytesOf(row.data),
			}));
	}
	deleteRunnerCommands(runnerId: string): void {
		this.#db.prepare("DELETE FROM commands WHERE runner_id = ?").run(runnerId);
	}

	kvGet(actorId: string, keys: Uint8Array[]): KvEntry[] {
		const statement = this.#db.prepare(
			"SELECT key, value, update_ts FROM kv WHERE actor_id = ? AND key = ?",
		);
		const found: KvEntry[] = [];
		for (const key of keys) {
			const row = statement.get(actorId, blob(key));
			if (row) found.push(toEntry(row));
		}
		return found;
	}
	kvList(
		actorId: string,
		query: KvListQuery,
		reverse: boolean,
		limit: number,
	): KvEntry[] {
		const where = ["actor_id = ?"];
		const params: unknown[] = [actorId];
		if (query.kind === "prefix") {
			where.push("key >= ?");
			params.push(blob(query.prefix));
			const upper = prefixUpperBound(query.prefix);
			if (upper) {
				where.push("key < ?");
				params.push(blob(upper));
			}
		} else if (query.kind === "range") {
			where.push("key >= ?", query.exclusive ? "key < ?" : "key <= ?");
			params.push(blob(query.start), blob(query.end));
		}
		params.push(limit);
		return this.#db
			.prepare(
				`SELECT key, value, update_ts FROM kv WHERE ${where.join(" AND ")} ORDER BY key ${reverse ? "DESC" : "ASC"} LIMIT ?`,
			)
			.all(...params)
			.map(toEntry);
	}
	kvPut(
		actorId: string,
		entries: { key: Uint8Array; value: Uint8Array }[],
		updateTs: number,
	): void {
		const statement = this.#db.prepare(
			"INSERT INTO kv (actor_id, key, value, update_ts) VALUES (?, ?, ?, ?) ON CONFLICT (actor_id, key) DO UPDATE SET value = excluded.value, update_ts = excluded.update_ts",
		);
		this.transaction(() => {
			for (const { key, value } of entries)
				statement.run(actorId, blob(key), blob(value), updateTs);
		});
	}
	kvDelete(actorId: string, keys: Uint8Array[]): void {
		const statement = this.#db.prepare(
			"DELETE FROM kv WHERE actor_id = ? AND key = ?",
		);
		this.transaction(() => {
			for (const key of keys) statement.run(actorId, blob(key));
		});
	}
	kvDeleteRange(actorId: string, start: Uint8Array, end: Uint8Array): void {
		this.#db
			.prepare("DELETE FROM kv WHERE actor_id = ? AND key >= ? AND key < ?")
			.run(actorId, blob(start), blob(end));
	}
	kvDrop(actorId: string): void {
		this.#db.prepare("DELETE FROM kv WHERE actor_id = ?").run(actorId);
	}
	kvSize(actorId: string): number {
		const row = this.#db
			.prepare(
				"SELECT COALESCE(SUM(LENGTH(key) + LENGTH(value)), 0) AS size FROM kv WHERE actor_id = ?",
			)
			.get(actorId);
		return Number(row?.size ?? 0);
	}

	/** Nested calls join the outermost transaction. */
	transaction<T>(fn: () => T): T {
		if (this.#depth > 0) return fn();
		this.#db.exec("BEGIN IMMEDIATE");
		this.#depth++;
		try {
			const result = fn();
			this.#db.exec("COMMIT");
			return result;
		} catch (error) {
			this.#db.exec("ROLLBACK");
			throw error;
		} finally {
			this.#depth--;
		}
	}

	close(): void {
		this.#db.close();
	}
}

function toEntry(row: Record<string, unknown>): KvEntry {
	return {
		key: bytesOf(row.key),
		value: bytesOf(row.value),
		updateTs: Number(row.update_ts),
	};
}
