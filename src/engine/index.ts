/**
 * The embedded dev engine: the engine side of the Rivet runner protocol v7, its actor HTTP API and durable state.
 * See docs/engine.md.
 */
export type { ActorJson } from "./actor-json.ts";
export { type RunningEngine, startEngine } from "./engine.ts";
export { EngineError } from "./errors.ts";
export { KV_LIMITS } from "./kv.ts";
export type { EngineOptions } from "./options.ts";
export type { StorageOption } from "./storage/open.ts";
export { EngineStorageError } from "./storage/sqlite.ts";
export { SqliteUnavailableError } from "./storage/sqlite-driver.ts";
