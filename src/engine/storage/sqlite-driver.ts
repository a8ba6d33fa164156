/**
 * The SQLite driver, chosen at runtime so that no native addon is ever mandatory (DESIGN §7):
 * `node:sqlite` where Node has it (22.5+), else the optional `better-sqlite3`.
 */
export interface SqliteStatement {
	run(...params: unknown[]): unknown;
	get(...params: unknown[]): Record<string, unknown> | undefined;
	all(...params: unknown[]): Record<string, unknown>[];
}

export interface SqliteDatabase {
	exec(sql: string): void;
	prepare(sql: string): SqliteStatement;
	close(): void;
}

export interface SqliteDriver {
	name: "node:sqlite" | "better-sqlite3";
	open(path: string): SqliteDatabase;
}

export class SqliteUnavailableError extends Error {
	readonly code = "sqlite_unavailable";
	constructor() {
		super(
			"SQLite storage needs node:sqlite (Node 22.5+) or the optional package better-sqlite3 (npm install better-sqlite3); " +
				'neither is available. Use storage "memory" (CLI: --data memory) or install one of them.',
		);
		this.name = "SqliteUnavailableError";
	}
}

// Specifiers in variables keep TypeScript and bundlers from resolving modules that may not exist.
const NODE_SQLITE = "node:sqlite";
const BETTER_SQLITE3 = "better-sqlite3";

type DatabaseConstructor = new (path: string) => SqliteDatabase;

export async function loadSqliteDriver(): Promise<SqliteDriver> {
	try {
		const mod = (await import(NODE_SQLITE)) as {
			DatabaseSync: DatabaseConstructor;
		};
		return { name: "node:sqlite", open: (path) => new mod.DatabaseSync(path) };
	} catch {
		// Not built into this Node version (or behind a flag): try the optional addon.
	}
	try {
		const mod = (await import(BETTER_SQLITE3)) as {
			default: DatabaseConstructor;
		};
		return { name: "better-sqlite3", open: (path) => new mod.default(path) };
	} catch {
		throw new SqliteUnavailableError();
	}
}
