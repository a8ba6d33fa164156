import { actorErrorText } from "../actor-json.ts";
import type { ActorLifecycle } from "../actor-lifecycle.ts";
import type { RunnerRegistry } from "../runner-registry.ts";
import type { EngineStorage } from "../storage/types.ts";
import type {
	ActorHistoryEntry,
	ConnectionLogEntry,
	EngineObserver,
} from "./engine-observer.ts";

/** What the inspector shows, as plain JSON: the page renders it on the server and the feed sends it. */
export interface InspectorRunner {
	runnerId: string;
	name: string;
	key: string;
	usedSlots: number;
	totalSlots: number;
	connected: boolean;
	draining: boolean;
	stopped: boolean;
	lastPingTs: number | null;
	rttMs: number | null;
}

export interface InspectorActor {
	actorId: string;
	name: string;
	key: string | null;
	state: string;
	generation: number;
	crashPolicy: string;
	runnerId: string | null;
	createTs: number;
	startTs: number | null;
	sleepTs: number | null;
	destroyTs: number | null;
	error: string | null;
}

export interface InspectorKvEntry {
	key: string;
	/** `text` when the bytes are UTF-8, else `base64`. */
	keyEncoding: "text" | "base64";
	value: string;
	valueEncoding: "text" | "base64";
	updateTs: number;
}

export interface InspectorSnapshot {
	runners: InspectorRunner[];
	actors: InspectorActor[];
	connections: ConnectionLogEntry[];
}

export interface InspectorActorDetail {
	actor: InspectorActor | null;
	history: ActorHistoryEntry[];
	kv: InspectorKvEntry[];
	kvTruncated: boolean;
}

export interface SnapshotSources {
	storage: EngineStorage;
	runners: RunnerRegistry;
	actors: ActorLifecycle;
	observer: EngineObserver;
}

/** Bounds of one snapshot: newest first, so a busy engine's page stays small. */
export const MAX_LISTED_ACTORS = 500;
export const MAX_LISTED_RUNNERS = 200;
export const MAX_LISTED_KV_ENTRIES = 500;

export function takeSnapshot(sources: SnapshotSources): InspectorSnapshot {
	const { runners, actors, observer } = sources;
	const allActors = actors.list();
	const slotsUsed = new Map<string, number>();
	for (const actor of allActors) {
		if (actor.runnerId !== null)
			slotsUsed.set(actor.runnerId, (slotsUsed.get(actor.runnerId) ?? 0) + 1);
	}
	const runnerRows = runners
		.list()
		.sort(
			(a, b) =>
				Number(a.stopTs !== null) - Number(b.stopTs !== null) ||
				b.createTs - a.createTs,
		)
		.slice(0, MAX_LISTED_RUNNERS)
		.map(
			(r): InspectorRunner => ({
				runnerId: r.runnerId,
				name: r.name,
				key: r.key,
				usedSlots: slotsUsed.get(r.runnerId) ?? 0,
				totalSlots: r.totalSlots,
				connected: runners.link(r.runnerId) !== undefined,
				draining: r.drainTs !== null && r.stopTs === null,
				stopped: r.stopTs !== null,
				lastPingTs: observer.liveness(r.runnerId)?.lastPongTs ?? r.lastPingTs,
				rttMs: observer.liveness(r.runnerId)?.rttMs ?? null,
			}),
		);
	return {
		runners: runnerRows,
		actors: allActors
			.sort((a, b) => b.createTs - a.createTs)
			.slice(0, MAX_LISTED_ACTORS)
			.map(actorRow),
		connections: observer.connections.list().reverse(),
	};
}

export function takeActorDetail(
	sources: SnapshotSources,
	actorId: string,
): InspectorActorDetail {
	const record = sources.actors.get(actorId);
	const entries = record
		? sources.storage.kvList(
				actorId,
				{ kind: "all" },
				false,
				MAX_LISTED_KV_ENTRIES + 1,
			)
		: [];
	return {
		actor: record ? actorRow(record) : null,
		history: sources.observer.history(actorId).reverse(),
		kv: entries.slice(0, MAX_LISTED_KV_ENTRIES).map((entry) => {
			const key = displayBytes(entry.key);
			const value = displayBytes(entry.value);
			return {
				key: key.text,
				keyEncoding: key.encoding,
				value: value.text,
				valueEncoding: value.encoding,
				updateTs: entry.updateTs,
			};
		}),
		kvTruncated: entries.length > MAX_LISTED_KV_ENTRIES,
	};
}

function actorRow(
	a: NonNullable<ReturnType<ActorLifecycle["get"]>>,
): InspectorActor {
	return {
		actorId: a.actorId,
		name: a.name,
		key: a.key,
		state: a.status,
		generation: a.generation,
		crashPolicy: a.crashPolicy,
		runnerId: a.runnerId,
		createTs: a.createTs,
		startTs: a.startTs,
		sleepTs: a.sleepTs,
		destroyTs: a.destroyTs,
		error: actorErrorText(a.error),
	};
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function displayBytes(bytes: Uint8Array): {
	text: string;
	encoding: "text" | "base64";
} {
	try {
		return { text: strictUtf8.decode(bytes), encoding: "text" };
	} catch {
		return { text: Buffer.from(bytes).toString("base64"), encoding: "base64" };
	}
}
