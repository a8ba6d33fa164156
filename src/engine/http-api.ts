import { Hono } from "hono";
import type { ActorLifecycle } from "./actor-lifecycle.ts";
import { addActorRoutes } from "./api-actors.ts";
import { addClusterRoutes } from "./api-cluster.ts";
import { tokenError } from "./connection.ts";
import { addApiCors, apiNotFoundCors } from "./cors.ts";
import { EngineError } from "./errors.ts";
import type { ResolvedEngineOptions } from "./options.ts";
import { RunnerConfigs } from "./runner-configs.ts";
import type { RunnerRegistry } from "./runner-registry.ts";
import type { EngineStorage } from "./storage/types.ts";

export { runnerJson } from "./api-cluster.ts";

export interface HttpApiContext {
	options: ResolvedEngineOptions;
	storage: EngineStorage;
	runners: RunnerRegistry;
	actors: ActorLifecycle;
}

/** What the routes share: the engine's parts plus the runner configs. */
export interface ApiRouteContext extends HttpApiContext {
	runnerConfigs: RunnerConfigs;
}

/**
 * Paths the real engine routes, with the methods each takes: any other method is `405` with `allow` and no body,
 * as axum answers. GET routes take HEAD too.
 */
export const ROUTE_METHODS: [RegExp, string][] = [
	[/^\/actors\/?$/, "GET,HEAD,POST,PUT"],
	[/^\/actors\/names\/?$/, "GET,HEAD"],
	[/^\/actors\/[^/]+\/?$/, "DELETE"],
	[/^\/actors\/[^/]+\/sleep\/?$/, "POST"],
	[/^\/actors\/[^/]+\/reschedule\/?$/, "POST"],
	[/^\/actors\/[^/]+\/kv\/keys\/[^/]+\/?$/, "GET,HEAD"],
	[/^\/runners\/?$/, "GET,HEAD"],
	[/^\/runners\/names\/?$/, "GET,HEAD"],
	[/^\/runner-configs\/?$/, "GET,HEAD"],
	[/^\/runner-configs\/[^/]+\/?$/, "PUT,DELETE"],
	[/^\/namespaces\/?$/, "GET,HEAD,POST"],
	[/^\/datacenters\/?$/, "GET,HEAD"],
	[/^\/metadata\/?$/, "GET,HEAD"],
	[/^\/health\/?$/, "GET,HEAD"],
];

/**
 * The real engine's public HTTP API (api-public, as guard serves it), with its validation and error shapes, plus
 * the dev extras listed in docs/engine.md (`GET /actors/{id}/kv`, a runner's `connected`).
 */
export function createHttpApi(ctx: HttpApiContext): Hono {
	const { options } = ctx;
	const routes: ApiRouteContext = {
		...ctx,
		runnerConfigs: new RunnerConfigs(ctx.runners),
	};
	const app = new Hono();
	app.use("*", async (c, next) => {
		await next();
		// Guard serves these two itself, without the API's CORS layer.
		if (c.req.path !== "/health" && c.req.path !== "/runners/connect")
			addApiCors(c.req.raw, c.res);
	});

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
				message: "An internal error occurred",
			},
			500,
		);
	});
	app.notFound((c) => {
		const path = c.req.path;
		const allowed = ROUTE_METHODS.find(([pattern]) => pattern.test(path))?.[1];
		if (allowed)
			// axum answers OPTIONS on a route itself, with what it allows.
			return c.body(null, c.req.method === "OPTIONS" ? 200 : 405, {
				allow: allowed,
			});
		// Guard answers requests that name a target it cannot route; api-public answers the rest.
		if (c.req.header("x-rivet-target") !== undefined) {
			const host = (c.req.header("host") ?? "").replace(/:\d+$/, "");
			return c.json(
				{
					group: "guard",
					code: "no_route",
					message: `No route found for hostname ${host}, path ${path}.`,
					metadata: { host, path },
				},
				404,
				{ "x-rivet-error": "guard.no_route" },
			);
		}
		return c.json(
			{
				group: "api",
				code: "not_found",
				message: "The requested resource was not found",
			},
			404,
			apiNotFoundCors,
		);
	});

	app.get("/health", (c) =>
		c.json({ runtime: "edgerunner-dev-engine", status: "ok" }),
	);

	app.use("*", async (c, next) => {
		const header = c.req.header("authorization");
		const given = header?.startsWith("Bearer ")
			? header.slice("Bearer ".length)
			: (c.req.header("x-rivet-token") ?? undefined);
		const problem = tokenError(options.token, given);
		// As the real engine answers (403 both ways, the reason in the message and the metadata).
		if (problem !== null) {
			const reason =
				problem === "missing" ? "Token not provided" : "Invalid token";
			throw new EngineError(
				"api",
				"forbidden",
				`Access denied: ${reason}`,
				403,
				{
					reason,
				},
			);
		}
		await next();
	});

	app.get("/runners/connect", (c) =>
		c.text("pegboard-runner WebSocket endpoint"),
	);

	addActorRoutes(app, routes);
	addClusterRoutes(app, routes);
	return app;
}
