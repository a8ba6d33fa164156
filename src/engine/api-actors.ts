import type { Hono } from "hono";
import { actorJson } from "./actor-json.ts";
import type { CreateActorInput } from "./actor-record.ts";
import { requireNamespace } from "./api-cluster.ts";
import { invalidRequest, readJsonBody, readQuery } from "./api-request.ts";
import { EngineError } from "./errors.ts";
import type { ApiRouteContext } from "./http-api.ts";
import { rivetIdProblem } from "./ids.ts";
import type { ActorRecord, CrashPolicy } from "./storage/types.ts";

const NAMESPACE_QUERY = { namespace: "string" } as const;
const CREATE_BODY = {
	datacenter: "string?",
	name: "string",
	key: "string?",
	input: "string?",
	runner_name_selector: "string",
	crash_policy: "crash_policy",
} as const;
const GET_OR_CREATE_BODY = { ...CREATE_BODY, key: "string" } as const;
const LIST_QUERY = {
	namespace: "string",
	name: "string?",
	key: "string?",
	actor_ids: "string?",
	actor_id: "string[]",
	include_destroyed: "bool?",
	limit: "count?",
	cursor: "string?",
} as const;
const NAMES_QUERY = {
	namespace: "string",
	limit: "count?",
	cursor: "string?",
} as const;
/** The real engine's `MAX_ACTOR_KEY_SIZE` (bytes). */
const MAX_ACTOR_KEY_BYTES = 1024;
const MAX_LISTED_ACTOR_IDS = 32;
const DEFAULT_LIST_LIMIT = 100;

const invalidInput = (message: string) =>
	new EngineError("validation", "invalid_input", message, 400, { message });

/** A path id as the real engine parses it: a malformed one is `400 api.bad_request` "Invalid URL: …". */
function pathActorId(id: string): string {
	const problem = rivetIdProblem(id);
	if (problem !== null) throw invalidRequest(`Invalid URL: ${problem}`);
	return id;
}

function createInput(
	namespace: string,
	body: {
		name: string;
		key: string | null;
		input: string | null;
		runner_name_selector: string;
		crash_policy: CrashPolicy;
	},
	ctx: ApiRouteContext,
): CreateActorInput {
	if (body.input !== null && !/^[A-Za-z0-9+/]*={0,2}$/.test(body.input))
		throw invalidRequest("`input` must be base64");
	if (!ctx.runnerConfigs.has(namespace, body.runner_name_selector)) {
		throw new EngineError(
			"actor",
			"no_runner_config_configured",
			`No runner config with name '${body.runner_name_selector}' are available in any datacenter for the namespace '${namespace}'. Validate a provider is listed that matches the requested pool name.`,
			400,
			{ namespace, pool_name: body.runner_name_selector },
		);
	}
	return {
		namespace,
		name: body.name,
		key: body.key,
		input: body.input,
		runnerNameSelector: body.runner_name_selector,
		crashPolicy: body.crash_policy,
	};
}

function actorInNamespace(
	ctx: ApiRouteContext,
	id: string,
	namespace: string,
): ActorRecord {
	const actor = ctx.actors.get(id);
	if (!actor || actor.namespace !== namespace)
		throw new EngineError(
			"actor",
			"not_found",
			"The actor does not exist or was destroyed.",
			404,
		);
	return actor;
}

/**
 * Newest first, as the real engine's list; the cursor is the last actor's `create_ts`. `actors` is in creation
 * order, which breaks ties within one millisecond.
 */
function page(actors: ActorRecord[], limit: number, cursor: string | null) {
	const before = cursor === null ? Number.POSITIVE_INFINITY : Number(cursor);
	const listed = actors
		.filter((a) => a.createTs < before)
		.reverse()
		.sort((a, b) => b.createTs - a.createTs)
		.slice(0, limit);
	const last = listed.at(-1);
	return {
		actors: listed.map(actorJson),
		pagination: { cursor: last ? String(last.createTs) : null },
	};
}

/** Describes bytes as text when they are UTF-8, else null; base64 always. */
function describeBytes(bytes: Uint8Array): {
	text: string | null;
	base64: string;
} {
	let text: string | null;
	try {
		text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
	} catch {
		text = null;
	}
	return { text, base64: Buffer.from(bytes).toString("base64") };
}

/** `/actors…`: create, get-or-create, list, names, delete, sleep, reschedule, one KV key; `GET /actors/{id}/kv` (dev extra). */
export function addActorRoutes(app: Hono, ctx: ApiRouteContext): void {
	const { actors, storage } = ctx;

	app.post("/actors", async (c) => {
		const { namespace } = readQuery(c.req.url, NAMESPACE_QUERY);
		requireNamespace(namespace);
		const body = await readJsonBody(c.req.raw, CREATE_BODY);
		const actor = actors.create(createInput(namespace, body, ctx));
		return c.json({ actor: actorJson(actor) });
	});

	// Get-or-create: the live actor with (name, key), else a new one (`created` says which).
	app.put("/actors", async (c) => {
		const { namespace } = readQuery(c.req.url, NAMESPACE_QUERY);
		const body = await readJsonBody(c.req.raw, GET_OR_CREATE_BODY);
		// The real engine's order: namespace, runner config, then the key.
		requireNamespace(namespace);
		const input = createInput(namespace, body, ctx);
		if (body.key === "")
			throw new EngineError("actor", "empty_key", "Key label cannot be empty.");
		if (new TextEncoder().encode(body.key).length > MAX_ACTOR_KEY_BYTES) {
			const preview = utf8Prefix(body.key, MAX_ACTOR_KEY_BYTES);
			throw new EngineError(
				"actor",
				"key_too_large",
				`Key label too large (max ${MAX_ACTOR_KEY_BYTES} bytes): ${preview}`,
				400,
				{ max_size: MAX_ACTOR_KEY_BYTES, key_preview: preview },
			);
		}
		const { actor, created } = actors.getOrCreate(input);
		return c.json({ actor: actorJson(actor), created });
	});

	app.get("/actors", (c) => {
		const query = readQuery(c.req.url, LIST_QUERY);
		const ids = [
			...query.actor_id,
			...(query.actor_ids ?? "")
				.split(",")
				.map((s) => s.trim())
				.filter((s) => rivetIdProblem(s) === null),
		];
		if (ids.length > 0 && (query.name !== null || query.key !== null))
			throw invalidInput(
				"Cannot provide both actor_id and (name + key). Use either actor_id or (name + key).",
			);
		if (query.key !== null && query.name === null)
			throw invalidInput("Name is required when key is provided.");
		const limit = query.limit ?? DEFAULT_LIST_LIMIT;
		if (ids.length > 0) {
			if (ids.length > MAX_LISTED_ACTOR_IDS)
				throw new EngineError(
					"validation",
					"too_many_actor_ids",
					`Too many actor IDs provided. Maximum is ${MAX_LISTED_ACTOR_IDS}, got ${ids.length}`,
					400,
					{ max: MAX_LISTED_ACTOR_IDS, count: ids.length },
				);
			requireNamespace(query.namespace);
			const found = actors
				.list()
				.filter((a) => ids.includes(a.actorId))
				.filter((a) => a.namespace === query.namespace)
				.filter((a) => query.include_destroyed || a.status !== "destroyed");
			return c.json(page(found, limit, query.cursor));
		}
		if (query.name === null)
			throw invalidInput("Name is required when not using actor_ids.");
		requireNamespace(query.namespace);
		const includeDestroyed = query.include_destroyed ?? false;
		const found = actors
			.list()
			.filter((a) => a.namespace === query.namespace && a.name === query.name)
			.filter((a) => query.key === null || a.key === query.key)
			.filter((a) => includeDestroyed || a.status !== "destroyed");
		return c.json(page(found, limit, query.cursor));
	});

	app.get("/actors/names", (c) => {
		const query = readQuery(c.req.url, NAMES_QUERY);
		requireNamespace(query.namespace);
		const all = storage
			.listActorNames(query.namespace)
			.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
			.filter((n) => query.cursor === null || n.name > query.cursor)
			.slice(0, query.limit ?? DEFAULT_LIST_LIMIT);
		const names: Record<string, { metadata: unknown }> = {};
		for (const { name, metadata } of all)
			names[name] = { metadata: parseJsonObject(metadata) };
		return c.json({
			names,
			pagination: { cursor: all.at(-1)?.name ?? null },
		});
	});

	app.delete("/actors/:id", (c) => {
		const id = pathActorId(c.req.param("id"));
		const { namespace } = readQuery(c.req.url, NAMESPACE_QUERY);
		requireNamespace(namespace);
		const actor = actorInNamespace(ctx, id, namespace);
		// As the real engine: deleting an actor already destroyed succeeds.
		if (actor.status !== "destroyed") actors.destroy(actor.actorId);
		return c.json({});
	});

	// Validated as on the real engine 2.3.19, and, as there, without effect on an actor of a runner: it signals the
	// actor workflow of envoys (protocol v8), which a runner's actor does not have. A runner's actor sleeps by its
	// own sleep intent.
	for (const action of ["sleep", "reschedule"])
		app.post(`/actors/:id/${action}`, async (c) => {
			const id = pathActorId(c.req.param("id"));
			const { namespace } = readQuery(c.req.url, NAMESPACE_QUERY);
			await readJsonBody(c.req.raw, {});
			requireNamespace(namespace);
			actorInNamespace(ctx, id, namespace);
			return c.json({});
		});

	app.get("/actors/:id/kv/keys/:key", (c) => {
		const id = pathActorId(c.req.param("id"));
		const { namespace } = readQuery(c.req.url, NAMESPACE_QUERY);
		requireNamespace(namespace);
		const actor = actorInNamespace(ctx, id, namespace);
		const encoded = decodeURIComponent(c.req.param("key"));
		// Padded standard base64, as the real engine decodes it (it answers a 500 for anything else; we say why).
		if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded) || encoded.length % 4 !== 0)
			throw invalidRequest("the KV key must be padded standard base64");
		const [entry] = storage.kvGet(actor.actorId, [
			new Uint8Array(Buffer.from(encoded, "base64")),
		]);
		if (!entry)
			throw new EngineError(
				"actor",
				"kv_key_not_found",
				"The KV key does not exist for this actor.",
			);
		return c.json({
			value: Buffer.from(entry.value).toString("base64"),
			update_ts: entry.updateTs,
		});
	});

	app.get("/actors/:id/kv", (c) => {
		const actor = actors.get(pathActorId(c.req.param("id")));
		if (!actor)
			throw new EngineError(
				"actor",
				"not_found",
				"The actor does not exist or was destroyed.",
				404,
			);
		const entries = storage
			.kvList(actor.actorId, { kind: "all" }, false, 16384)
			.map((entry) => {
				const key = describeBytes(entry.key);
				const value = describeBytes(entry.value);
				return {
					key: key.text,
					key_base64: key.base64,
					value: value.text,
					value_base64: value.base64,
					update_ts: entry.updateTs,
				};
			});
		return c.json({ actor_id: actor.actorId, entries });
	});
}

function parseJsonObject(text: string): unknown {
	try {
		const value = JSON.parse(text) as unknown;
		return typeof value === "object" && value !== null ? value : {};
	} catch {
		return {};
	}
}

/** The longest prefix of `text` within `maxBytes` of UTF-8 (the real engine's `safe_slice`). */
function utf8Prefix(text: string, maxBytes: number): string {
	let out = "";
	let bytes = 0;
	for (const char of text) {
		bytes += new TextEncoder().encode(char).length;
		if (bytes > maxBytes) break;
		out += char;
	}
	return out;
}
