/** @jsxImportSource hono/jsx */
import { readFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Duplex } from "node:stream";
import { Hono } from "hono";
import type { ActorLifecycle } from "../actor-lifecycle.ts";
import { EngineError } from "../errors.ts";
import type { ActorTarget } from "../gateway/addressing.ts";
import { DEFAULT_NAMESPACE, type ResolvedEngineOptions } from "../options.ts";
import type { RunnerRegistry } from "../runner-registry.ts";
import type { CrashPolicy, EngineStorage } from "../storage/types.ts";
import {
	inspectorEnabled,
	requestToken,
	sameOrigin,
	TOKEN_COOKIE,
	tokenAccepted,
} from "./access.ts";
import { INSPECTOR_SCRIPT } from "./browser-script.ts";
import type { EngineObserver } from "./engine-observer.ts";
import { InspectorFeed } from "./feed.ts";
import { ActorPage, HomePage, TokenPage } from "./pages.tsx";
import { takeActorDetail, takeSnapshot } from "./snapshot.ts";

export interface InspectorContext {
	options: ResolvedEngineOptions;
	storage: EngineStorage;
	runners: RunnerRegistry;
	actors: ActorLifecycle;
	observer: EngineObserver;
	/** The gateway: a request to an actor, as a client would send it. */
	gatewayFetch: (request: Request, target: ActorTarget) => Promise<Response>;
}

export interface Inspector {
	/** Whether `/ui/…` exists on this engine (loopback, or a token is set). */
	enabled: boolean;
	fetch(request: Request): Response | Promise<Response>;
	/** `/ui/feed` upgrades. */
	upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
	close(): void;
}

/** The request action returns at most this much of the actor's answer. */
const MAX_SHOWN_RESPONSE_CHARS = 16 * 1024;
const CRASH_POLICIES: readonly CrashPolicy[] = ["restart", "sleep", "destroy"];

/** partysocket's browser build (ESM, no imports beyond its own files): a dependency, resolved where it is installed. */
function partysocketFile(name: "index.js" | "ws.js"): string {
	const cjsEntry = createRequire(import.meta.url).resolve("partysocket");
	return readFileSync(join(dirname(cjsEntry), name), "utf8");
}

export function isInspectorPath(pathname: string): boolean {
	return pathname === "/ui" || pathname.startsWith("/ui/");
}

/** The inspector: `/ui/` pages, `/ui/api/*` actions, `/ui/feed` live snapshots. See docs/inspector.md. */
export function createInspector(ctx: InspectorContext): Inspector {
	const { options, actors, observer } = ctx;
	const enabled = inspectorEnabled(options.host, options.token);
	const sources = {
		storage: ctx.storage,
		runners: ctx.runners,
		actors,
		observer,
	};
	const feed = new InspectorFeed(sources);
	observer.onChange = () => feed.changed();
	const assets = new Map<string, string>();
	const asset = (name: "index.js" | "ws.js") => {
		let text = assets.get(name);
		if (text === undefined) {
			text = partysocketFile(name);
			assets.set(name, text);
		}
		return text;
	};

	const app = new Hono({ strict: false }).basePath("/ui");
	app.onError((error, c) => {
		if (error instanceof EngineError)
			return c.json(error.toJSON(), error.status as 400);
		const message = error instanceof Error ? error.message : String(error);
		options.log(`inspector error: ${message}`);
		return c.json({ group: "core", code: "internal_error", message }, 500);
	});

	app.use("*", async (c, next) => {
		if (!enabled) return c.text("Not Found", 404);
		const fromQuery = c.req.query("token");
		if (fromQuery !== undefined && c.req.method === "GET") {
			if (!tokenAccepted(options.token, fromQuery))
				return c.html(<TokenPage />, 403);
			// The token leaves the URL (history, logs) and stays in an HttpOnly cookie for the page and its feed.
			c.header(
				"set-cookie",
				`${TOKEN_COOKIE}=${encodeURIComponent(fromQuery)}; Path=/ui; HttpOnly; SameSite=Strict`,
			);
			return c.redirect(c.req.path, 303);
		}
		const given = requestToken(
			c.req.header("cookie"),
			c.req.header("authorization"),
		);
		if (!tokenAccepted(options.token, given)) {
			return c.req.path.startsWith("/ui/api/")
				? c.json(
						{
							group: "api",
							code: "unauthorized",
							message: "open /ui/?token=<token> first",
						},
						401,
					)
				: c.html(<TokenPage />, 401);
		}
		// Actions change state: only the inspector's own page may send them (a JSON body forces a CORS preflight).
		if (
			c.req.method !== "GET" &&
			c.req.header("content-type")?.startsWith("application/json") !== true
		)
			return c.json(
				{ group: "api", code: "bad_request", message: "send JSON" },
				415,
			);
		await next();
	});

	app.get("/", (c) => {
		const snapshot = takeSnapshot(sources);
		const connected = snapshot.runners.find((r) => r.connected);
		return c.html(
			<HomePage
				snapshot={snapshot}
				defaultRunnerName={connected?.name ?? "default"}
			/>,
		);
	});
	app.get("/actors/:id", (c) => {
		const actorId = c.req.param("id");
		return c.html(
			<ActorPage
				actorId={actorId}
				detail={takeActorDetail(sources, actorId)}
			/>,
		);
	});
	app.get("/assets/inspector.js", (c) =>
		c.body(INSPECTOR_SCRIPT, 200, { "content-type": "text/javascript" }),
	);
	app.get("/assets/partysocket/:file{index\\.js|ws\\.js}", (c) =>
		c.body(asset(c.req.param("file") as "index.js" | "ws.js"), 200, {
			"content-type": "text/javascript",
		}),
	);
	app.get("/api/snapshot", (c) => c.json(takeSnapshot(sources)));
	app.get("/api/actors/:id", (c) =>
		c.json(takeActorDetail(sources, c.req.param("id"))),
	);

	app.post("/api/actors", async (c) => {
		const body = await readObject(c.req.raw);
		const name = body.name;
		const runnerNameSelector = body.runnerNameSelector;
		const key = body.key ?? null;
		const crashPolicy = body.crashPolicy ?? "restart";
		if (typeof name !== "string" || name === "")
			throw badRequest("`name` must be a non-empty string");
		if (typeof runnerNameSelector !== "string" || runnerNameSelector === "")
			throw badRequest("`runnerNameSelector` must be a non-empty string");
		if (key !== null && (typeof key !== "string" || key === ""))
			throw badRequest("`key` must be a non-empty string or null");
		if (!CRASH_POLICIES.includes(crashPolicy as CrashPolicy))
			throw badRequest("`crashPolicy` must be restart, sleep or destroy");
		const actor = actors.create({
			namespace: DEFAULT_NAMESPACE,
			name,
			key,
			input: null,
			runnerNameSelector,
			crashPolicy: crashPolicy as CrashPolicy,
		});
		return c.json({ actor: { actorId: actor.actorId } });
	});
	app.post("/api/actors/:id/sleep", (c) => {
		actors.sleep(c.req.param("id"));
		return c.json({});
	});
	app.delete("/api/actors/:id", (c) => {
		actors.destroy(c.req.param("id"));
		return c.json({});
	});
	app.post("/api/actors/:id/request", async (c) => {
		const actorId = c.req.param("id");
		const body = await readObject(c.req.raw);
		const method = typeof body.method === "string" ? body.method : "GET";
		const path = typeof body.path === "string" ? body.path : "/";
		if (!/^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)$/.test(method))
			throw badRequest("`method` must be an HTTP method");
		if (!path.startsWith("/")) throw badRequest("`path` must start with /");
		const sendsBody = method !== "GET" && method !== "HEAD";
		const response = await ctx.gatewayFetch(
			new Request(`http://engine${path}`, {
				method,
				body:
					sendsBody && typeof body.body === "string" ? body.body : undefined,
			}),
			{ actorId, path },
		);
		const text = await response.text();
		return c.json({
			status: response.status,
			body: text.slice(0, MAX_SHOWN_RESPONSE_CHARS),
		});
	});

	return {
		enabled,
		fetch: (request) => app.fetch(request),
		upgrade(request, socket, head) {
			const given = requestToken(
				request.headers.cookie,
				request.headers.authorization,
			);
			if (
				!enabled ||
				!sameOrigin(request) ||
				!tokenAccepted(options.token, given)
			) {
				socket.end(
					`HTTP/1.1 ${enabled ? "401 Unauthorized" : "404 Not Found"}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
				);
				return;
			}
			feed.upgrade(request, socket, head);
		},
		close: () => feed.close(),
	};
}

function badRequest(message: string): EngineError {
	return new EngineError("api", "bad_request", message, 400);
}

async function readObject(request: Request): Promise<Record<string, unknown>> {
	let value: unknown;
	try {
		value = await request.json();
	} catch {
		throw badRequest("the body must be JSON");
	}
	if (typeof value !== "object" || value === null || Array.isArray(value))
		throw badRequest("the body must be a JSON object");
	return value as Record<string, unknown>;
}
