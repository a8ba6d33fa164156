import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { EngineStorageError, startEngine } from "../../src/engine/index.ts";
import { MemoryStorage } from "../../src/engine/storage/memory.ts";
import { SqliteStorage } from "../../src/engine/storage/sqlite.ts";
import { loadSqliteDriver } from "../../src/engine/storage/sqlite-driver.ts";
import type {
	ActorRecord,
	EngineStorage,
} from "../../src/engine/storage/types.ts";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (value: Uint8Array): string => new TextDecoder().decode(value);

const dirs: string[] = [];
function tempDir(): string {
	const dir = mkdtempSync(join(tmpdir(), "edgerunner-engine-"));
	dirs.push(dir);
	return dir;
}
afterEach(() => {
	for (const dir of dirs.splice(0))
		rmSync(dir, { recursive: true, force: true });
});

function actor(
	actorId: string,
	overrides: Partial<ActorRecord> = {},
): ActorRecord {
	return {
		actorId,
		namespace: "default",
		name: "counter",
		key: null,
		input: null,
		runnerNameSelector: "r",
		crashPolicy: "destroy",
		createTs: 1,
		status: "pending",
		generation: 0,
		runnerId: null,
		nextCommandIdx: 0,
		lastEventIdx: -1,
		lastEventAckIdx: -1,
		sleepIntent: false,
		stopIntent: false,
		goingAway: false,
		destroyRequested: false,
		alarmTs: null,
		pendingAllocationTs: 1,
		startTs: null,
		connectableTs: null,
		sleepTs: null,
		rescheduleTs: null,
		destroyTs: null,
		error: null,
		...overrides,
	};
}

const implementations: [string, () => Promise<EngineStorage>][] = [
	["memory", async () => new MemoryStorage()],
	[
		"sqlite",
		async () =>
			new SqliteStorage(
				await loadSqliteDriver(),
				join(tempDir(), "engine.sqlite"),
			),
	],
];

describe.each(implementations)("%s storage", (_kind, open) => {
	let storage: EngineStorage;
	afterEach(() => storage?.close());

	it("stores and replaces actors and runners", async () => {
		storage = await open();
		storage.putActor(actor("a1"));
		storage.putActor(actor("a1", { status: "running", generation: 2 }));
		storage.putActor(actor("a2"));
		expect(storage.getActor("a1")).toMatchObject({
			status: "running",
			generation: 2,
		});
		expect(storage.listActors().map((a) => a.actorId)).toEqual(["a1", "a2"]);
		expect(storage.getActor("nope")).toBeUndefined();
		storage.putRunner({
			runnerId: "r1",
			namespace: "default",
			name: "n",
			key: "k",
			version: 1,
			totalSlots: 3,
			metadata: null,
			createTs: 1,
			lastConnectedTs: null,
			lastPingTs: null,
			drainTs: null,
			stopTs: null,
		});
		expect(storage.getRunner("r1")?.totalSlots).toBe(3);
	});

	it("keeps commands ordered by (actor, generation, index) and forgets acked ones inclusively", async () => {
		storage = await open();
		const data = new Uint8Array([1, 2, 3]);
		for (const [actorId, generation, index] of [
			["b", 0, 1],
			["a", 1, 0],
			["b", 0, 0],
			["a", 0, 0],
			["b", 0, 2],
		] as const) {
			storage.appendCommand({
				runnerId: "r",
				actorId,
				generation,
				index,
				data,
			});
		}
		storage.appendCommand({
			runnerId: "other",
			actorId: "a",
			generation: 0,
			index: 0,
			data,
		});
		const order = (runnerId: string) =>
			storage
				.listCommands(runnerId)
				.map((c) => `${c.actorId}/${c.generation}/${c.index}`);
		expect(order("r")).toEqual(["a/0/0", "a/1/0", "b/0/0", "b/0/1", "b/0/2"]);
		expect([...(storage.listCommands("r")[0]?.data ?? [])]).toEqual([1, 2, 3]);
		storage.ackCommands("r", "b", 0, 1);
		expect(order("r")).toEqual(["a/0/0", "a/1/0", "b/0/2"]);
		storage.deleteRunnerCommands("r");
		expect(order("r")).toEqual([]);
		expect(order("other")).toEqual(["a/0/0"]);
	});

	it("implements KV get/list/put/delete/deleteRange/drop in byte order", async () => {
		storage = await open();
		const keys = [
			new Uint8Array([0xff]),
			bytes("b"),
			bytes("a"),
			bytes("ab"),
			new Uint8Array([0x61, 0xff]),
			bytes("c"),
		];
		storage.kvPut(
			"x",
			keys.map((key, i) => ({ key, value: bytes(`v${i}`) })),
			42,
		);
		storage.kvPut("y", [{ key: bytes("a"), value: bytes("other actor") }], 1);
		const listed = (
			q: Parameters<EngineStorage["kvList"]>[1],
			reverse = false,
			limit = 100,
		) => storage.kvList("x", q, reverse, limit).map((e) => [...e.key]);
		expect(listed({ kind: "all" })).toEqual([
			[0x61],
			[0x61, 0x62],
			[0x61, 0xff],
			[0x62],
			[0x63],
			[0xff],
		]);
		expect(listed({ kind: "all" }, true, 2)).toEqual([[0xff], [0x63]]);
		expect(listed({ kind: "prefix", prefix: bytes("a") })).toEqual([
			[0x61],
			[0x61, 0x62],
			[0x61, 0xff],
		]);
		expect(listed({ kind: "prefix", prefix: new Uint8Array([0xff]) })).toEqual([
			[0xff],
		]);
		expect(
			listed({
				kind: "range",
				start: bytes("ab"),
				end: bytes("c"),
				exclusive: false,
			}),
		).toEqual([[0x61, 0x62], [0x61, 0xff], [0x62], [0x63]]);
		expect(
			listed({
				kind: "range",
				start: bytes("ab"),
				end: bytes("c"),
				exclusive: true,
			}),
		).toHaveLength(3);
		const got = storage.kvGet("x", [bytes("c"), bytes("zz"), bytes("a")]);
		expect(got.map((e) => text(e.value))).toEqual(["v5", "v2"]);
		expect(got[0]?.updateTs).toBe(42);
		expect(storage.kvSize("x")).toBe(1 + 1 + 1 + 2 + 2 + 1 + 6 * 2);
		storage.kvDelete("x", [bytes("a")]);
		storage.kvDeleteRange("x", bytes("ab"), bytes("c"));
		expect(listed({ kind: "all" })).toEqual([[0x63], [0xff]]);
		storage.kvDrop("x");
		expect(listed({ kind: "all" })).toEqual([]);
		expect(storage.kvList("y", { kind: "all" }, false, 10)).toHaveLength(1);
	});

	it("stores actor names per namespace", async () => {
		storage = await open();
		storage.putActorName("default", "b", "{}");
		storage.putActorName("default", "a", '{"x":1}');
		storage.putActorName("default", "a", '{"x":2}');
		expect(storage.listActorNames("default")).toEqual([
			{ name: "a", metadata: '{"x":2}' },
			{ name: "b", metadata: "{}" },
		]);
		expect(storage.listActorNames("other")).toEqual([]);
	});
});

describe("sqlite file", () => {
	it("survives reopening: actors, KV and unacked commands", async () => {
		const path = join(tempDir(), "engine.sqlite");
		const driver = await loadSqliteDriver();
		const first = new SqliteStorage(driver, path);
		first.putActor(actor("a1", { status: "running" }));
		first.kvPut("a1", [{ key: bytes("k"), value: bytes("v") }], 7);
		first.appendCommand({
			runnerId: "r",
			actorId: "a1",
			generation: 0,
			index: 0,
			data: new Uint8Array([9]),
		});
		first.close();
		const second = new SqliteStorage(driver, path);
		try {
			expect(second.getActor("a1")?.status).toBe("running");
			expect(
				second.kvGet("a1", [bytes("k")]).map((e) => text(e.value)),
			).toEqual(["v"]);
			expect(second.listCommands("r")).toHaveLength(1);
		} finally {
			second.close();
		}
	});

	it("rolls back a failed transaction", async () => {
		const storage = new SqliteStorage(
			await loadSqliteDriver(),
			join(tempDir(), "engine.sqlite"),
		);
		try {
			expect(() =>
				storage.transaction(() => {
					storage.putActor(actor("a1"));
					throw new Error("boom");
				}),
			).toThrow("boom");
			expect(storage.getActor("a1")).toBeUndefined();
		} finally {
			storage.close();
		}
	});

	it("refuses a corrupt file with a clear startup error and leaves it untouched", async () => {
		const path = join(tempDir(), "engine.sqlite");
		writeFileSync(
			path,
			"this is not a database, it is a grocery list\n".repeat(200),
		);
		const error = await startEngine({ port: 0, storage: { path } }).catch(
			(e: unknown) => e,
		);
		expect(error).toBeInstanceOf(EngineStorageError);
		expect((error as Error).message).toContain(path);
		expect((error as Error).message).toMatch(/never resets/);
	});

	it("refuses a SQLite file that is not an engine database", async () => {
		const path = join(tempDir(), "other.sqlite");
		const db = (await loadSqliteDriver()).open(path);
		db.exec("CREATE TABLE photos (id INTEGER PRIMARY KEY)");
		db.close();
		await expect(startEngine({ port: 0, storage: { path } })).rejects.toThrow(
			/not an edgerunner engine database/,
		);
	});
});
