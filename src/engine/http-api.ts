import { Hono } from "hono";
import { actorJson } from "./actor-json.ts";
import type { ActorLifecycle } from "./actor-lifecycle.ts";
import type { CreateActorInput } from "./actor-record.ts";
import { readJsonBody, readQuery } from "./api-request.ts";
import { tokenError } from "./connection.ts";
import { EngineError } from "./errors.ts";
import { isRivetId } from "./ids.ts";
import { DEFAULT_NAMESPACE, type ResolvedEngineOptions } from "./options.ts";
import type { RunnerRegistry } from "./runner-registry.ts";
import type {
	ActorRecord,
	CrashPolicy,
	EngineStorage,
	RunnerRecord,
} from "./storage/types.ts";

export interface HttpApiContext {
	options: ResolvedEngineOptions;
	storage: EngineStorage;
	runners: RunnerRegistry;
	actors: ActorLifecycle;
}

export function runnerJson(
	runner: RunnerRecord,
	usedSlots: number,
	connected: boolean,
) {
	return {
		runner_id: runner.runnerId,
		namespace_id: runner.namespace,
		datacenter: "default",
		name: runner.name,
		key: runner.key,
		version: runner.version,
		total_slots: runner.totalSlots,
		remaining_slots: Math.max(0, runner.totalSlots - usedSlots),
		create_ts: runner.createTs,
		last_connected_ts: runner.lastConnectedTs,
		last_ping_ts: runner.lastPingTs,
		drain_ts: runner.drainTs,
		stop_ts: runner.stopTs,
		metadata:
			runner.metadata === null ? null : parseJsonOr(runner.metadata, null),
		/** Dev engine extra: whether a socket is attached right now. */
		connected,
	};
}

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
/** The real engine's `MAX_ACTOR_KEY_SIZE` (bytes). */
const MAX_ACTOR_KEY_BYTES = 1024;

function createInput(
	namespace: string,
	body: {
		name: string;
		key: string | null;
		input: string | null;
		runner_name_selector: string;
		crash_policy: CrashPolicy;
	},
): CreateActorInput {
	if (body.input !== null && !/^[A-Za-z0-9+/]*={0,2}$/.test(body.input))
		throw badRequest("`input` must be base64");
	return {
		namespace,
		name: body.name,
		key: body.key,
		input: body.input,
		runnerNameSelector: body.runner_name_selector,
		crashPolicy: body.crash_policy,
	};
}

const badRequest = (message: string) =>
	new EngineError("api", "bad_request", message, 400);

function parseJsonOr<T>(text: string, fallback: T): unknown {
	try {
		return JSON.parse(text);
	} catch {
		return fallback;
	}
}

function requireNamespace(value: string | undefined): string {
	if (value === undefined || value === "")
		throw badRequest("query parameter `namespace` is required");
	if (value !== DEFAULT_NAMESPACE) {
		throw new EngineError(
			"namespace",
			"not_found",
			"The namespace does not exist.",
			400,
		);
	}
	return value;
}

function findActor(
	actors: ActorLifecycle,
	id: string,
	namespace?: string,
): ActorRecord {
	if (!isRivetId(id)) throw badRequest(`not a valid actor id: ${id}`);
	const actor = actors.get(id);
	if (!actor || (namespace !== undefined && actor.namespace !== namespace)) {
		throw new EngineError(
			"actor",
			"not_found",
			"The actor does not exist or was destroyed.",
			404,
		);
	}
	return actor;
}

/** Text when the bytes are UTF-8, else null; base64 always. */
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

/** The subset of the real engine's HTTP API a runner user needs, plus two dev extras (`/actors/{id}/kv`, `connected`). */
export function createHttpApi(ctx: HttpApiContext): Hono {
	const { options, storage, runners, actors } = ctx;
	const app = new Hono();

	app.onError((error, c) => {
		if (error instanceof EngineError)
			return c.json(error.toJSON(), error.status as 400);
		options.log(
			`http error: ${error instanceof Error ? error.message : String(error)}`,
		);
		return c.json(
			{
				group: "core",
				code: "internal_error",
				message: "An internal error occurred.",
			},
			500,
		);
	});
	app.notFound((c) =>
		c.json(
			{
				group: "api",
				code: "not_found",
				message: `No route for ${c.req.method} ${c.req.path}`,
			},
			404,
		),
	);

	app.get("/health", (c) =>
		c.json({ status: "ok", runtime: "edgerunner-dev-engine" }),
	);

	app.use("*", async (c, next) => {
		const header = c.req.header("authorization");
		const given = header?.startsWith("Bearer ")
			? header.slice("Bearer ".length)
			: (c.req.header("x-rivet-token") ?? undefined);
		const problem = tokenError(options.token, given);
		if (problem === "missing")
			throw new EngineError(
				"api",
				"unauthorized",
				"Missing `Authorization: Bearer <token>`.",
				401,
			);
		if (problem === "wrong")
			throw new EngineError("api", "forbidden", "The token is not valid.", 403);
		await next();
	});

	app.get("/runners/connect", (c) =>
		c.text("pegboard-runner WebSocket endpoint"),
	);

	app.post("/actors", async (c) => {
		const { namespace } = readQuery(c.req.url, NAMESPACE_QUERY);
		requireNamespace(namespace);
		const body = await readJsonBody(c.req.raw, CREATE_BODY);
		const actor = actors.create(createInput(namespace, body));
		return c.json({ actor: actorJson(actor) });
	});

	// Get-or-create: the live actor with (name, key), else a new one (`created` says which).
	app.put("/actors", async (c) => {
		const { namespace } = readQuery(c.req.url, NAMESPACE_QUERY);
		requireNamespace(namespace);
		const body = await readJsonBody(c.req.raw, GET_OR_CREATE_BODY);
		if (body.key === "")
			throw new EngineError("actor", "empty_key", "Key label cannot be empty.");
		if (new TextEncoder().encode(body.key).length > MAX_ACTOR_KEY_BYTES)
			throw new EngineError(
				"actor",
				"key_too_large",
				`Key is too large (max ${MAX_ACTOR_KEY_BYTES} bytes).`,
				400,
				{ max_size: MAX_ACTOR_KEY_BYTES },
			);
		const { actor, created } = actors.getOrCreate(createInput(namespace, body));
		return c.json({ actor: actorJson(actor), created });
	});

	app.get("/actors", (c) => {
		const namespace = requireNamespace(c.req.query("namespace"));
		const name = c.req.query("name");
		const key = c.req.query("key");
		const ids = c.req.query("actor_ids")?.split(",").filter(Boolean);
		const includeDestroyed =
			c.req.query("include_destroyed") === "true" || ids !== undefined;
		const list = actors
			.list()
			.filter((a) => a.namespace === namespace)
			.filter((a) => name === undefined || a.name === name)
			.filter((a) => key === undefined || a.key === key)
			.filter((a) => ids === undefined || ids.includes(a.actorId))
			.filter((a) => includeDestroyed || a.status !== "destroyed");
		return c.json({
			actors: list.map(actorJson),
			pagination: { cursor: null },
		});
	});

	app.get("/actors/names", (c) => {
		const namespace = requireNamespace(c.req.query("namespace"));
		const names: Record<string, { metadata: unknown }> = {};
		for (const { name, metadata } of storage.listActorNames(namespace))
			names[name] = { metadata: parseJsonOr(metadata, {}) };
		return c.json({ names, pagination: { cursor: null } });
	});

	app.get("/actors/:id", (c) => {
		const namespace = c.req.query("namespace");
		return c.json({
			actor: actorJson(
				findActor(
					actors,
					c.req.param("id"),
					namespace && requireNamespace(namespace),
				),
			),
		});
	});

	app.delete("/actors/:id", (c) => {
		const namespace = c.req.query("namespace");
		const actor = findActor(
			actors,
			c.req.param("id"),
			namespace && requireNamespace(namespace),
		);
		actors.destroy(actor.actorId);
		return c.json({});
	});

	app.get("/actors/:id/kv", (c) => {
		const actor = findActor(actors, c.req.param("id"));
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

	app.get("/runners", (c) => {
		const namespace = requireNamespace(
			c.req.query("namespace") ?? DEFAULT_NAMESPACE,
		);
		const name = c.req.query("name");
		const includeStopped = c.req.query("include_stopped") === "true";
		const all = actors.list();
		const list = runners
			.list()
			.filter(
				(r) =>
					r.namespace === namespace && (name === undefined || r.name === name),
			)
			.filter((r) => includeStopped || r.stopTs === null)
			.map((r) =>
				runnerJson(
					r,
					all.filter((a) => a.runnerId === r.runnerId).length,
					runners.link(r.runnerId) !== undefined,
				),
			);
		return c.json({ runners: list, pagination: { cursor: null } });
	});

	return app;
}
