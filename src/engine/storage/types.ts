/** What an actor may do when it stops without being asked to (spec §4.4). */
export type CrashPolicy = "restart" | "sleep" | "destroy";

export type ActorStatus =
	| "pending"
	| "starting"
	| "running"
	| "stopping"
	| "sleeping"
	| "destroyed";

/**
 * The real engine's `ActorError` as its API serializes it (serde, snake_case, externally tagged). A string is also
 * what files written by older dev engines hold.
 */
export type ActorError =
	| "no_capacity"
	| { crashed: { message: string | null } }
	| { runner_no_response: { runner_id: string } }
	| { runner_connection_lost: { runner_id: string } }
	| { runner_draining_timeout: { runner_id: string } }
	| string;

/** Everything the engine knows about one actor; persisted whole on every change. */
export interface ActorRecord {
	actorId: string;
	namespace: string;
	name: string;
	key: string | null;
	/** Base64, as the HTTP API takes it. */
	input: string | null;
	runnerNameSelector: string;
	crashPolicy: CrashPolicy;
	createTs: number;
	status: ActorStatus;
	/** Starts at 0, +1 on every reschedule or wake. */
	generation: number;
	/** The runner it is allocated to, or null when pending, sleeping or destroyed. */
	runnerId: string | null;
	/** Next command index for (runner, actor, generation). */
	nextCommandIdx: number;
	/** Highest event index processed for this generation (−1: none). */
	lastEventIdx: number;
	lastEventAckIdx: number;
	sleepIntent: boolean;
	stopIntent: boolean;
	goingAway: boolean;
	/** Set by DELETE /actors/{id}: destroy on the next stop, whatever the crash policy. */
	destroyRequested: boolean;
	alarmTs: number | null;
	pendingAllocationTs: number | null;
	startTs: number | null;
	connectableTs: number | null;
	sleepTs: number | null;
	rescheduleTs: number | null;
	destroyTs: number | null;
	/** Why the actor is not running as asked (the real engine's `ActorError`); null when nothing is wrong. */
	error: ActorError | null;
}

export interface RunnerRecord {
	runnerId: string;
	namespace: string;
	name: string;
	key: string;
	version: number;
	totalSlots: number;
	/** JSON text sent by the runner at init, or null. */
	metadata: string | null;
	createTs: number;
	lastConnectedTs: number | null;
	lastPingTs: number | null;
	drainTs: number | null;
	stopTs: number | null;
}

export interface StoredCommand {
	runnerId: string;
	actorId: string;
	generation: number;
	index: number;
	/** `encodeActorCommandKeyData` bytes, as the real engine stores them. */
	data: Uint8Array;
}

export interface KvEntry {
	key: Uint8Array;
	value: Uint8Array;
	updateTs: number;
}

export type KvListQuery =
	| { kind: "all" }
	| { kind: "range"; start: Uint8Array; end: Uint8Array; exclusive: boolean }
	| { kind: "prefix"; prefix: Uint8Array };

/**
 * All engine state, behind one small synchronous interface (both SQLite drivers are synchronous).
 * Implementations: memory and SQLite; tests/engine/storage.test.ts runs one suite over both.
 */
export interface EngineStorage {
	readonly kind: "memory" | "sqlite";

	putActor(actor: ActorRecord): void;
	getActor(actorId: string): ActorRecord | undefined;
	listActors(): ActorRecord[];

	putRunner(runner: RunnerRecord): void;
	getRunner(runnerId: string): RunnerRecord | undefined;
	listRunners(): RunnerRecord[];

	putActorName(namespace: string, name: string, metadata: string): void;
	listActorNames(namespace: string): { name: string; metadata: string }[];

	appendCommand(command: StoredCommand): void;
	/** Forget commands of (runner, actor, generation) up to and including `index`. */
	ackCommands(
		runnerId: string,
		actorId: string,
		generation: number,
		index: number,
	): void;
	/** Unacked commands of a runner, ordered by (actorId, generation, index). */
	listCommands(runnerId: string): StoredCommand[];
	deleteRunnerCommands(runnerId: string): void;

	/** Found entries only, in request order. */
	kvGet(actorId: string, keys: Uint8Array[]): KvEntry[];
	/** Byte-lexicographic order; `limit` entries at most. */
	kvList(
		actorId: string,
		query: KvListQuery,
		reverse: boolean,
		limit: number,
	): KvEntry[];
	kvPut(
		actorId: string,
		entries: { key: Uint8Array; value: Uint8Array }[],
		updateTs: number,
	): void;
	kvDelete(actorId: string, keys: Uint8Array[]): void;
	/** Half-open `[start, end)`. */
	kvDeleteRange(actorId: string, start: Uint8Array, end: Uint8Array): void;
	kvDrop(actorId: string): void;
	/** Σ(key + value) bytes, for the storage quota. */
	kvSize(actorId: string): number;

	/** Runs `fn` atomically (SQLite: one transaction). */
	transaction<T>(fn: () => T): T;
	close(): void;
}

/** Byte-lexicographic comparison, the order KV lists use. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
	const length = Math.min(a.length, b.length);
	for (let i = 0; i < length; i++) {
		const diff = (a[i] as number) - (b[i] as number);
		if (diff !== 0) return diff;
	}
	return a.length - b.length;
}

export function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
	if (prefix.length > bytes.length) return false;
	for (let i = 0; i < prefix.length; i++)
		if (bytes[i] !== prefix[i]) return false;
	return true;
}
