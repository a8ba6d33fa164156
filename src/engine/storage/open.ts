import { MemoryStorage } from "./memory.ts";
import { SqliteStorage } from "./sqlite.ts";
import { loadSqliteDriver } from "./sqlite-driver.ts";
import type { EngineStorage } from "./types.ts";

/** `"memory"` (default) or `{ path }` of a SQLite file, created if missing. */
export type StorageOption = "memory" | { path: string };

export async function openStorage(
	option: StorageOption = "memory",
): Promise<EngineStorage> {
	if (option === "memory") return new MemoryStorage();
	const driver = await loadSqliteDriver();
	return new SqliteStorage(driver, option.path);
}
