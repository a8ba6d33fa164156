import type { Hono } from "hono";
import { invalidRequest, readJsonBody, readQuery } from "./api-request.ts";
import { EngineError } from "./errors.ts";
import type { ApiRouteContext } from "./http-api.ts";
import { DEFAULT_NAMESPACE_ID } from "./ids.ts";
import { DEFAULT_NAMESPACE } from "./options.ts";
import { normalConfig } from "./runner-configs.ts";
import type { RunnerRecord } from "./storage/types.ts";

/** The dev engine has one namespace, `default`; any other is the real engine's `400 namespace.not_found`. */
export function requireNamespace(value: string): string {
	if (value !== DEFAULT_NAMESPACE)
		throw new EngineError(
			"namespace",
			"not_found",
			"The namespace does not exist.",
			400,
		);
	return value;
}

/** The real engine's `Runner` JSON, plus `connected` (dev extra: whether a socket is attached right now). */
export function runnerJson(
	runner: RunnerRecord,
	usedSlots: number,
	connected: boolean,
) {
	return {
		runner_id: runner.runnerId,
		namespace_id: DEFAULT_NAMESPACE_ID,
		datacenter: "default",
		name: runner.name,
		key: runner.key,
		version: runner.version,
		total_slots: runner.totalSlots,
		remaining_slots: Math.max(0, runner.totalSlots - usedSlots),
		create_ts: runner.createTs,
		drain_ts: runner.drainTs,
		stop_ts: runner.stopTs,
		last_ping_ts:
			runner.lastPingTs ?? runner.lastConnectedTs ?? runner.createTs,
		last_connected_ts: runner.lastConnectedTs,
		// The dev engine does not measure round trips.
		last_rtt: 0,
		metadata: runner.metadata === null ? null : parseJson(runner.metadata),
		connected,
	};
}

function parseJson(text: string): unknown {
	try {
		return JSON.parse(text);
	} catch {
		return null;
	}
}

const RUNNERS_QUERY = {
	namespace: "string",
	name: "string?",
	runner_ids: "string?",
	runner_id: "string[]",
	include_stopped: "bool?",
	limit: "count?",
	cursor: "string?",
} as const;
const RUNNER_NAMES_QUERY = {
	namespace: "string",
	limit: "count?",
	cursor: "string?",
} as const;
const RUNNER_CONFIGS_QUERY = {
	namespace: "string",
	limit: "count?",
	cursor: "string?",
	variant: "string?",
	runner_names: "string?",
	runner_name: "string[]",
} as const;
const NAMESPACES_QUERY = {
	limit: "count?",
	cursor: "string?",
	name: "string?",
	namespace_ids: "string?",
	namespace_id: "string[]",
} as const;
const DEFAULT_LIST_LIMIT = 100;
/** When the dev engine's `default` namespace "was created": fixed, so listings are stable across restarts. */
const NAMESPACE_CREATE_TS = 0;

/** `/runners`, `/runners/names`, `/runner-configs`, `/namespaces`, `/datacenters`, `/metadata`. */
export function addClusterRoutes(app: Hono, ctx: ApiRouteContext): void {
	const { runners, actors, runnerConfigs } = ctx;

	app.get("/runners", (c) => {
		const query = readQuery(c.req.url, RUNNERS_QUERY);
		requireNamespace(query.namespace);
		const ids = [
			...query.runner_id,
			...(query.runner_ids ?? "").split(",").filter(Boolean),
		];
		const before =
			query.cursor === null ? Number.POSITIVE_INFINITY : Number(query.cursor);
		const all = actors.list();
		const listed = runners
			.list()
			.filter((r) => r.namespace === query.namespace)
			.filter((r) => query.name === null || r.name === query.name)
			.filter((r) => ids.length === 0 || ids.includes(r.runnerId))
			.filter((r) => query.include_stopped || r.stopTs === null)
			.filter((r) => r.createTs < before)
			.sort((a, b) => b.createTs - a.createTs)
			.slice(0, query.limit ?? DEFAULT_LIST_LIMIT);
		const last = listed.at(-1);
		return c.json({
			runners: listed.map((r) =>
				runnerJson(
					r,
					all.filter((a) => a.runnerId === r.runnerId).length,
					runners.link(r.runnerId) !== undefined,
				),
			),
			pagination: { cursor: last ? String(last.createTs) : null },
		});
	});

	app.get("/runners/names", (c) => {
		const query = readQuery(c.req.url, RUNNER_NAMES_QUERY);
		requireNamespace(query.namespace);
		const names = [
			...new Set(
				runners
					.list()
					.filter((r) => r.namespace === query.namespace)
					.map((r) => r.name),
			),
		]
			.sort()
			.filter((n) => query.cursor === null || n > query.cursor)
			.slice(0, query.limit ?? DEFAULT_LIST_LIMIT);
		return c.json({ names, pagination: { cursor: names.at(-1) ?? null } });
	});

	app.get("/runner-configs", (c) => {
		const query = readQuery(c.req.url, RUNNER_CONFIGS_QUERY);
		requireNamespace(query.namespace);
		const only = [
			...query.runner_name,
			...(query.runner_names ?? "").split(",").filter(Boolean),
		];
		const configs: Record<string, unknown> = {};
		for (const [name, entry] of runnerConfigs.list(query.namespace)) {
			if (only.length > 0 && !only.includes(name)) continue;
			if (query.variant !== null && query.variant !== "normal") continue;
			configs[name] = { datacenters: { default: entry } };
		}
		return c.json({ runner_configs: configs, pagination: { cursor: null } });
	});

	app.put("/runner-configs/:name", async (c) => {
		const { namespace } = readQuery(c.req.url, { namespace: "string" });
		const body = await readJsonBody(c.req.raw, { datacenters: "json?" });
		requireNamespace(namespace);
		const datacenters = body.datacenters;
		if (
			typeof datacenters !== "object" ||
			datacenters === null ||
			Array.isArray(datacenters)
		)
			throw invalidRequest(
				"Failed to deserialize the JSON body into the target type: missing field `datacenters`",
			);
		const entries = Object.entries(datacenters as Record<string, unknown>);
		if (entries.length === 0) return c.json({ endpoint_config_changed: false });
		let changed = false;
		for (const [datacenter, raw] of entries) {
			if (datacenter !== "default")
				throw new EngineError(
					"datacenter",
					"not_found",
					"The provided datacenter does not exist.",
				);
			const config = (raw ?? {}) as Record<string, unknown>;
			if (config.serverless !== undefined)
				throw invalidRequest(
					"the dev engine has no serverless runner configs: use `normal`",
				);
			const metadata = config.metadata;
			changed = runnerConfigs.upsert(
				namespace,
				c.req.param("name"),
				normalConfig(
					config.drain_on_version_upgrade !== false,
					typeof metadata === "object" && metadata !== null
						? (metadata as Record<string, unknown>)
						: undefined,
				),
			);
		}
		return c.json({ endpoint_config_changed: changed });
	});

	app.delete("/runner-configs/:name", (c) => {
		const { namespace } = readQuery(c.req.url, { namespace: "string" });
		requireNamespace(namespace);
		runnerConfigs.delete(namespace, c.req.param("name"));
		return c.json({});
	});

	app.get("/namespaces", (c) => {
		const query = readQuery(c.req.url, NAMESPACES_QUERY);
		const ids = [
			...query.namespace_id,
			...(query.namespace_ids ?? "").split(",").filter(Boolean),
		];
		const matches =
			(query.name === null || query.name === DEFAULT_NAMESPACE) &&
			(ids.length === 0 || ids.includes(DEFAULT_NAMESPACE_ID));
		const namespaces = matches
			? [
					{
						namespace_id: DEFAULT_NAMESPACE_ID,
						name: DEFAULT_NAMESPACE,
						display_name: "Default",
						create_ts: NAMESPACE_CREATE_TS,
					},
				]
			: [];
		// As the real engine: a lookup by name has no cursor; a listing's cursor is the last create_ts.
		const cursor =
			query.name === null && namespaces.length > 0
				? String(NAMESPACE_CREATE_TS)
				: null;
		return c.json({ namespaces, pagination: { cursor } });
	});

	app.post("/namespaces", () => {
		throw invalidRequest(
			"the dev engine has one namespace, `default`; it cannot create others",
		);
	});

	app.get("/datacenters", (c) => {
		const url = new URL(c.req.url);
		return c.json({
			datacenters: [{ label: 1, name: "default", url: `${url.origin}/` }],
			pagination: { cursor: null },
		});
	});

	app.get("/metadata", (c) =>
		c.json({ runtime: "edgerunner-dev-engine", version: ENGINE_VERSION }),
	);
}

/** The real engine version whose API the dev engine follows (its `/metadata` `version`). */
const ENGINE_VERSION = "2.3.19";
