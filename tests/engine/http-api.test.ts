import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ROUTE_METHODS } from "../../src/engine/http-api.ts";
import { newRivetId } from "../../src/engine/ids.ts";
import { type RunningEngine, startEngine } from "../../src/engine/index.ts";
import { RawRunner, running } from "./raw-runner.ts";

let engine: RunningEngine;
const sockets: RawRunner[] = [];
beforeEach(async () => {
	engine = await startEngine({ port: 0 });
	// As on the real engine, actors need a runner config for their runner name (a runner's connect makes one).
	for (const name of ["r", "nobody-yet"]) {
		const response = await fetch(
			`${engine.url}/runner-configs/${name}?namespace=default`,
			{
				method: "PUT",
				headers: { "content-type": "application/json" },
				body: JSON.stringify({ datacenters: { default: { normal: {} } } }),
			},
		);
		expect(response.status).toBe(200);
	}
});
afterEach(async () => {
	await Promise.all(sockets.splice(0).map((s) => s.close()));
	await engine.close();
});

const api = (path: string, init?: RequestInit) =>
	fetch(`${engine.url}${path}`, init);
const post = (path: string, body: unknown) =>
	api(path, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify(body),
	});

describe("actors API", () => {
	it("POST /actors answers { actor } in the real engine's shape", async () => {
		const response = await post("/actors?namespace=default", {
			name: "counter",
			key: "k1",
			input: Buffer.from("hi").toString("base64"),
			runner_name_selector: "nobody-yet",
			crash_policy: "sleep",
		});
		expect(response.status).toBe(200);
		const { actor } = (await response.json()) as {
			actor: Record<string, unknown>;
		};
		expect(Object.keys(actor).sort()).toEqual(
			[
				"actor_id",
				"connectable_ts",
				"crash_policy",
				"create_ts",
				"datacenter",
				"destroy_ts",
				"error",
				"key",
				"name",
				"namespace_id",
				"pending_allocation_ts",
				"reschedule_ts",
				"runner_name_selector",
				"sleep_ts",
				"start_ts",
			].sort(),
		);
		expect(actor).toMatchObject({
			name: "counter",
			key: "k1",
			runner_name_selector: "nobody-yet",
			crash_policy: "sleep",
			connectable_ts: null,
			destroy_ts: null,
		});
		expect(actor.actor_id).toMatch(/^[0-9a-z]{30}$/);
		// No runner has capacity: a sleep-policy actor sleeps (not queued), with the real engine's `no_capacity`.
		expect(actor.pending_allocation_ts).toBeNull();
		expect(typeof actor.sleep_ts).toBe("number");
		expect(actor.error).toBe("no_capacity");
	});

	it("refuses a duplicate key, bad bodies and bad namespaces with JSON errors", async () => {
		const body = {
			name: "counter",
			key: "dup",
			runner_name_selector: "r",
			crash_policy: "destroy",
		};
		expect((await post("/actors?namespace=default", body)).status).toBe(200);
		const dup = await post("/actors?namespace=default", body);
		expect(dup.status).toBe(400);
		expect(await dup.json()).toMatchObject({
			group: "actor",
			code: "duplicate_key",
		});
		const cases: [string, unknown, number, string][] = [
			[
				"/actors?namespace=default",
				{ runner_name_selector: "r", crash_policy: "destroy" },
				400,
				"api.bad_request",
			],
			[
				"/actors?namespace=default",
				{ name: "x", runner_name_selector: "r", crash_policy: "explode" },
				400,
				"api.bad_request",
			],
			[
				"/actors?namespace=default",
				{
					name: "x",
					runner_name_selector: "r",
					crash_policy: "destroy",
					input: "%%%",
				},
				400,
				"api.bad_request",
			],
			["/actors?namespace=default", [1, 2], 400, "api.bad_request"],
			[
				"/actors?namespace=default",
				{ name: "x", runner_name_selector: "r" },
				400,
				"api.bad_request",
			],
			[
				"/actors?namespace=default",
				{
					name: "x",
					runner_name_selector: "r",
					crash_policy: "destroy",
					extra: 1,
				},
				400,
				"api.bad_request",
			],
			[
				"/actors",
				{ name: "x", runner_name_selector: "r", crash_policy: "destroy" },
				400,
				"api.bad_request",
			],
			[
				"/actors?namespace=nope",
				{ name: "x", runner_name_selector: "r", crash_policy: "destroy" },
				400,
				"namespace.not_found",
			],
		];
		for (const [path, payload, status, id] of cases) {
			const response = await post(path, payload);
			expect(response.status, `${path} ${JSON.stringify(payload)}`).toBe(
				status,
			);
			const error = (await response.json()) as {
				group: string;
				code: string;
				message: string;
			};
			expect(`${error.group}.${error.code}`).toBe(id);
			expect(error.message.length).toBeGreaterThan(0);
		}
		const notJson = await api("/actors?namespace=default", {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: "{nope",
		});
		expect(notJson.status).toBe(400);
	});

	it("PUT /actors gets the live actor with (name, key) or creates one, and says which", async () => {
		const put = (body: unknown) =>
			api("/actors?namespace=default", {
				method: "PUT",
				headers: { "content-type": "application/json" },
				body: JSON.stringify(body),
			});
		const body = {
			name: "room",
			key: "lobby",
			runner_name_selector: "r",
			crash_policy: "sleep",
		};
		const first = await put(body);
		expect(first.status).toBe(200);
		const created = (await first.json()) as {
			actor: { actor_id: string; key: string };
			created: boolean;
		};
		expect(created.created).toBe(true);
		expect(created.actor.key).toBe("lobby");
		const second = (await (await put(body)).json()) as typeof created;
		expect(second).toMatchObject({
			created: false,
			actor: { actor_id: created.actor.actor_id },
		});
		const other = (await (
			await put({ ...body, key: "other" })
		).json()) as typeof created;
		expect(other.created).toBe(true);
		expect(other.actor.actor_id).not.toBe(created.actor.actor_id);
		// POST with the same key is refused and names the holder, as the real engine's duplicate_key.
		const dup = await post("/actors?namespace=default", body);
		expect(await dup.json()).toMatchObject({
			code: "duplicate_key",
			metadata: { existing_actor_id: created.actor.actor_id, key: "lobby" },
		});
		for (const [bad, code] of [
			[{ ...body, key: "" }, "actor.empty_key"],
			[{ ...body, key: "k".repeat(1025) }, "actor.key_too_large"],
			[
				{ name: "room", runner_name_selector: "r", crash_policy: "sleep" },
				"api.bad_request",
			],
			[{ ...body, crash_policy: undefined }, "api.bad_request"],
			[{ ...body, extra: true }, "api.bad_request"],
		] as const) {
			const response = await put(bad);
			expect(response.status, JSON.stringify(bad)).toBe(400);
			const error = (await response.json()) as { group: string; code: string };
			expect(`${error.group}.${error.code}`).toBe(code);
		}
		// Once the holder is destroyed the key is free again: a new actor.
		await api(`/actors/${created.actor.actor_id}?namespace=default`, {
			method: "DELETE",
		});
		const third = (await (await put(body)).json()) as typeof created;
		expect(third.created).toBe(true);
		expect(third.actor.actor_id).not.toBe(created.actor.actor_id);
	});

	it("GET /actors filters by name, key and actor_ids; GET and DELETE /actors/{id}; 404s are JSON", async () => {
		const a = (
			(await (
				await post("/actors?namespace=default", {
					name: "a",
					key: "1",
					runner_name_selector: "r",
					crash_policy: "destroy",
				})
			).json()) as {
				actor: { actor_id: string };
			}
		).actor.actor_id;
		const b = (
			(await (
				await post("/actors?namespace=default", {
					name: "b",
					runner_name_selector: "r",
					crash_policy: "destroy",
				})
			).json()) as {
				actor: { actor_id: string };
			}
		).actor.actor_id;
		const ids = async (path: string) =>
			(
				(await (await api(path)).json()) as { actors: { actor_id: string }[] }
			).actors.map((x) => x.actor_id);
		expect(await ids("/actors?namespace=default&name=a")).toEqual([a]);
		expect(await ids("/actors?namespace=default&name=a&key=1")).toEqual([a]);
		expect(await ids("/actors?namespace=default&name=a&key=2")).toEqual([]);
		// Newest first, as the real engine lists.
		expect(await ids(`/actors?namespace=default&actor_ids=${a},${b}`)).toEqual([
			b,
			a,
		]);
		// As on the real engine, there is no GET /actors/{id}: list by actor_ids instead.
		const single = await api(`/actors/${a}`);
		expect(single.status).toBe(405);
		expect(single.headers.get("allow")).toBe("DELETE");
		expect(
			await (
				await api(`/actors/${a}?namespace=default`, { method: "DELETE" })
			).json(),
		).toEqual({});
		// Pending actors are destroyed at once; a destroyed actor is listed only when asked for.
		expect(await ids("/actors?namespace=default&name=a")).toEqual([]);
		expect(
			await ids("/actors?namespace=default&name=a&include_destroyed=true"),
		).toEqual([a]);
		// Deleting it again succeeds, as on the real engine.
		const again = await api(`/actors/${a}?namespace=default`, {
			method: "DELETE",
		});
		expect(again.status).toBe(200);
		const malformed = await api(`/actors/${"z".repeat(30)}?namespace=default`, {
			method: "DELETE",
		});
		expect(malformed.status).toBe(400);
		expect(await malformed.json()).toMatchObject({
			group: "api",
			code: "bad_request",
		});
		const noRoute = await api("/nothing/here");
		expect(noRoute.status).toBe(404);
		expect(await noRoute.json()).toMatchObject({
			group: "api",
			code: "not_found",
		});
	});

	it("GET /runners and GET /actors/{id}/kv show runners and an actor's KV", async () => {
		const socket = new RawRunner(engine.url, { key: "k" });
		sockets.push(socket);
		await socket.opened;
		socket.init("raw-runner", 4, 3);
		const { runnerId } = await socket.next("ToClientInit");
		const { actor } = (await (
			await post("/actors?namespace=default", {
				name: "c",
				runner_name_selector: "raw-runner",
				crash_policy: "destroy",
			})
		).json()) as { actor: { actor_id: string } };
		await socket.next("ToClientCommands");
		socket.event(actor.actor_id, 0, 0, running);
		await socket.kv(actor.actor_id, 1, {
			tag: "KvPutRequest",
			val: {
				keys: [
					new TextEncoder().encode("count").buffer,
					new Uint8Array([0xff]).buffer,
				],
				values: [
					new TextEncoder().encode("3").buffer,
					new Uint8Array([0xfe]).buffer,
				],
			},
		});
		const runners = (await (
			await api("/runners?namespace=default")
		).json()) as { runners: Record<string, unknown>[] };
		expect(runners.runners).toEqual([
			expect.objectContaining({
				runner_id: runnerId,
				name: "raw-runner",
				key: "k",
				version: 3,
				total_slots: 4,
				remaining_slots: 3,
				connected: true,
				drain_ts: null,
			}),
		]);
		const kv = (await (await api(`/actors/${actor.actor_id}/kv`)).json()) as {
			entries: {
				key: string | null;
				value: string | null;
				key_base64: string;
			}[];
		};
		expect(kv.entries.map((e) => [e.key, e.value, e.key_base64])).toEqual([
			["count", "3", Buffer.from("count").toString("base64")],
			[null, null, "/w=="],
		]);
	});
});

describe("token", () => {
	it("requires the bearer token on the API when configured (403 api.forbidden, missing or wrong, as the real engine)", async () => {
		const guarded = await startEngine({ port: 0, token: "s3cret" });
		try {
			const missing = await fetch(`${guarded.url}/runners?namespace=default`);
			expect(missing.status).toBe(403);
			expect(await missing.json()).toEqual({
				group: "api",
				code: "forbidden",
				message: "Access denied: Token not provided",
				metadata: { reason: "Token not provided" },
			});
			const wrong = await fetch(`${guarded.url}/runners?namespace=default`, {
				headers: { authorization: "Bearer nope" },
			});
			expect(wrong.status).toBe(403);
			expect(await wrong.json()).toMatchObject({
				group: "api",
				code: "forbidden",
			});
			const right = await fetch(`${guarded.url}/runners?namespace=default`, {
				headers: { authorization: "Bearer s3cret" },
			});
			expect(right.status).toBe(200);
			expect((await fetch(`${guarded.url}/health`)).status).toBe(200);
		} finally {
			await guarded.close();
		}
	});
});

describe("docs/engine.md", () => {
	/** `METHOD /path` of every row of the route table, with its placeholders filled in. */
	function documentedRoutes(): { method: string; path: string }[] {
		const docs = readFileSync(
			new URL("../../docs/engine.md", import.meta.url),
			"utf8",
		);
		const section = docs.split("## HTTP API")[1]?.split("\n## ")[0] ?? "";
		const unknownActor = newRivetId();
		return [
			...section.matchAll(/^\| `(GET|POST|PUT|DELETE) (\/[^?` ]*)/gm),
		].map(([, method, template]) => ({
			method: method as string,
			path: (template as string)
				.replace("{id}", unknownActor)
				.replace("{name}", "r")
				.replace("{base64 key}", "eA=="),
		}));
	}

	it("lists every route the code has, and each listed route is one", async () => {
		const routes = documentedRoutes();
		expect(routes.length).toBeGreaterThan(15);
		for (const { method, path } of routes) {
			const response = await api(`${path}?namespace=default`, {
				method,
				headers: { "content-type": "application/json" },
				body: method === "GET" || method === "DELETE" ? undefined : "{}",
			});
			const body = response.headers.get("content-type")?.includes("json")
				? ((await response.json()) as { group?: string })
				: {};
			expect(
				[response.status, body.group],
				`${method} ${path} is routed`,
			).not.toEqual([404, "api"]);
			expect(response.status, `${method} ${path} is routed`).not.toBe(405);
		}
		for (const [pattern, methods] of ROUTE_METHODS)
			for (const method of methods.split(",").filter((m) => m !== "HEAD"))
				expect(
					routes.some((r) => r.method === method && pattern.test(r.path)),
					`docs list ${method} ${pattern}`,
				).toBe(true);
	});
});
