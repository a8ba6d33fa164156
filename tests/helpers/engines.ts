/**
 * The engine under test: the embedded dev engine or the real Rivet Engine behind one small interface, so a
 * scenario written once runs on both. State changes are awaited: the dev engine reports every actor change
 * through its `onActorChange` hook; the real engine has no event feed, so its HTTP API is polled in a bounded
 * loop.
 *
 * Option mapping (real engine 2.3.19 config, engine/packages/config/src/config/{auth,pegboard}.rs):
 * - `token` → `auth.admin_token` (runners offer it as subprotocol `rivet_token.<token>`, HTTP as a Bearer token);
 * - `runnerLostThresholdMs` → `pegboard.runner_lost_threshold` (default 15000 on both engines);
 * - `drainWindowMs` → dev engine only; the real engine has no setting for it (its drain is bounded by the
 *   runner lost threshold, which is also the dev engine's default drain window).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
	type ActorJson,
	type EngineOptions,
	type RunningEngine,
	startEngine,
} from "../../src/engine/index.ts";
import { watchActors } from "../engine/actor-watch.ts";
import { startRivetEngine } from "./rivet-engine.ts";

export type EngineKind = "dev" | "rivet";
export const ENGINE_KINDS: readonly EngineKind[] = ["dev", "rivet"];

export interface EngineUnderTestOptions {
	/** Admin token: runners and HTTP clients must present it. */
	token?: string;
	/** A disconnected runner is declared lost (its actors rescheduled) after this long. */
	runnerLostThresholdMs?: number;
	/** Dev engine only: how long a draining runner gets before it is evicted. */
	drainWindowMs?: number;
	/** Dev engine only: further startEngine options (e.g. gateway timeouts); the real engine ignores them. */
	dev?: EngineOptions;
}

/** The fields of the actor JSON both engines return (`GET /actors`), as the dev engine types them. */
export type EngineActor = ActorJson;

export interface EngineUnderTest {
	readonly kind: EngineKind;
	/** The runner `endpoint` and the HTTP API base. Stable across restarts. */
	readonly url: string;
	readonly token: string | undefined;
	/** Real engine: the file its stdout and stderr go to (removed by close()); the dev engine has none. */
	readonly logPath?: string;
	/** `fetch(url + path)`, with `Authorization: Bearer <token>` when the engine has a token. */
	api(path: string, init?: RequestInit): Promise<Response>;
	/** The actor as the API shows it now (destroyed actors included), or undefined if the engine does not know it. */
	actor(actorId: string): Promise<EngineActor | undefined>;
	/** Resolves with the actor once `predicate` holds; rejects with its last seen state after `timeoutMs` (10 s). */
	untilActor(
		actorId: string,
		predicate: (actor: EngineActor) => boolean,
		timeoutMs?: number,
	): Promise<EngineActor>;
	/**
	 * Stops the engine and starts it again on the same state and port. Real engine: the signal is sent to the
	 * process (after SIGKILL its workflows stall ~30 s until worker failover). Dev engine: it runs in this
	 * process, so both signals mean `close()` (runner sockets closed `1011 ws.going_away`) then a new engine on
	 * the same SQLite file.
	 */
	restart(signal: "SIGTERM" | "SIGKILL"): Promise<void>;
	/** Stops the engine and removes its state. Idempotent. */
	close(): Promise<void>;
}

/** Starts a fresh engine of `kind` on free loopback ports with empty state. */
export function startEngineUnderTest(
	kind: EngineKind,
	options: EngineUnderTestOptions = {},
): Promise<EngineUnderTest> {
	return kind === "dev" ? startDevEngine(options) : startRealEngine(options);
}

export const isRunning = (actor: EngineActor): boolean =>
	actor.connectable_ts !== null && actor.destroy_ts === null;
export const isSleeping = (actor: EngineActor): boolean =>
	actor.sleep_ts !== null &&
	actor.connectable_ts === null &&
	actor.destroy_ts === null;
export const isDestroyed = (actor: EngineActor): boolean =>
	actor.destroy_ts !== null;

/**
 * `fetch`, asked once more when a GET failed on a pooled keep-alive socket that a restarted engine had closed
 * (undici reuses it and fails with UND_ERR_SOCKET before the engine saw the request).
 */
async function fetchOnce(url: string, init: RequestInit): Promise<Response> {
	try {
		return await fetch(url, init);
	} catch (error) {
		const code = ((error as Error).cause as { code?: string } | undefined)
			?.code;
		const method = (init.method ?? "GET").toUpperCase();
		if (code !== "UND_ERR_SOCKET" || method !== "GET") throw error;
		return fetch(url, init);
	}
}

function authorized(
	token: string | undefined,
	init: RequestInit = {},
): RequestInit {
	if (token === undefined) return init;
	const headers = new Headers(init.headers);
	headers.set("authorization", `Bearer ${token}`);
	return { ...init, headers };
}

async function startDevEngine(
	options: EngineUnderTestOptions,
): Promise<EngineUnderTest> {
	const dir = mkdtempSync(join(tmpdir(), "dev-engine-"));
	const watch = watchActors();
	const launch = (port: number): Promise<RunningEngine> =>
		startEngine({
			...options.dev,
			port,
			storage: { path: join(dir, "engine.sqlite") },
			onActorChange: watch.onActorChange,
			...(options.token === undefined ? {} : { token: options.token }),
			...(options.runnerLostThresholdMs === undefined
				? {}
				: { runnerLostThresholdMs: options.runnerLostThresholdMs }),
			...(options.drainWindowMs === undefined
				? {}
				: { drainWindowMs: options.drainWindowMs }),
		});
	let engine = await launch(0);
	const port = engine.port;
	const url = engine.url;
	const api = (path: string, init?: RequestInit) =>
		fetchOnce(`${url}${path}`, authorized(options.token, init));
	let closed = false;
	return {
		kind: "dev",
		url,
		token: options.token,
		api,
		async actor(actorId) {
			return watch.get(actorId) ?? (await fetchActor(api, actorId));
		},
		untilActor: (actorId, predicate, timeoutMs) =>
			watch.until(actorId, predicate, timeoutMs),
		async restart() {
			await engine.close();
			engine = await launch(port);
		},
		async close() {
			if (closed) return;
			closed = true;
			await engine.close();
			rmSync(dir, { recursive: true, force: true });
		},
	};
}

/** How often the real engine's API is asked for an actor's state while a test waits on it. */
const REAL_ENGINE_POLL_MS = 100;

async function startRealEngine(
	options: EngineUnderTestOptions,
): Promise<EngineUnderTest> {
	// The helper sets the engine's local runtime bounds (LOCAL_ENGINE_RUNTIME: no CPU load shedding, quick stop).
	const config: Record<string, unknown> = {};
	if (options.token !== undefined) config.auth = { admin_token: options.token };
	if (options.runnerLostThresholdMs !== undefined)
		config.pegboard = {
			runner_lost_threshold: options.runnerLostThresholdMs,
		};
	const engine = await startRivetEngine({ config });
	const api = (path: string, init?: RequestInit) =>
		fetchOnce(`${engine.url}${path}`, authorized(options.token, init));
	await untilNamespaceResolves(api);
	const actor = (actorId: string) => fetchActor(api, actorId);
	return {
		kind: "rivet",
		url: engine.url,
		token: options.token,
		logPath: engine.logPath,
		api,
		actor,
		untilActor: pollActor(actor, "", "the engine is restarting"),
		async restart(signal) {
			if (signal === "SIGKILL") await engine.kill();
			else await engine.stop();
			await engine.restart();
			await untilNamespaceResolves(api);
		},
		close: () => engine.close(),
	};
}

/** Bound of the wait for a started real engine to resolve its `default` namespace. */
const NAMESPACE_WITHIN_MS = 30_000;

/**
 * Resolves once the real engine's API resolves the `default` namespace. Guard answers HTTP before that: a runner
 * that connected to a just-started engine was refused `namespace.not_found` (0.4 s after the engine logged
 * "created default namespace"), and its first runners then stalled (runner config never created, runner not
 * listed). Bounded polling: there is no readiness event to await from outside the process.
 */
/** How long a just-started real engine may refuse a runner config PUT (`namespace.not_found`, or a 500). */
const RUNNER_CONFIG_SETTLES_WITHIN_MS = 10_000;

/**
 * Declares a `normal` runner config for `runnerName`, as a deployment would (docs/deploy.md). The real engine
 * creates one at a runner's first connect but refuses actors for that name (400 `no_runner_config_configured`)
 * for 0.5 s to over 10 s after; a config PUT first is honoured at once. Just after the real engine starts, the PUT
 * itself may be refused 400 `namespace.not_found` or 500 `core.internal_error` for a moment: retried within a bound.
 */
export async function declareRunnerConfig(
	engine: EngineUnderTest,
	runnerName: string,
	withinMs = RUNNER_CONFIG_SETTLES_WITHIN_MS,
): Promise<void> {
	const deadline = Date.now() + withinMs;
	for (;;) {
		const response = await engine.api(
			`/runner-configs/${runnerName}?namespace=default`,
			{
				method: "PUT",
				headers: { "content-type": "application/json" },
				body: JSON.stringify({ datacenters: { default: { normal: {} } } }),
			},
		);
		const text = await response.text();
		if (response.ok) return;
		const settling =
			response.status >= 500 ||
			text.includes('"group":"namespace","code":"not_found"');
		if (!settling || Date.now() > deadline)
			throw new Error(
				`PUT /runner-configs/${runnerName}: ${response.status} ${text}`,
			);
		await new Promise((resolve) => setTimeout(resolve, REAL_ENGINE_POLL_MS));
	}
}

/** A runner as `GET /runners` lists it (the fields tests wait on). */
export interface ListedRunner {
	runner_id: string;
	name: string;
	drain_ts: number | null;
	stop_ts: number | null;
}

/**
 * Resolves once the engine lists a runner that `matches` and takes actors (not draining, not stopped). A runner's
 * `onConnected` may come before the listing, and the real engine puts a sleep-policy actor created in between to
 * sleep (`no_capacity`) instead of waiting.
 */
export async function untilRunnerListed(
	engine: EngineUnderTest,
	matches: (runner: ListedRunner) => boolean,
	withinMs = RUNNER_CONFIG_SETTLES_WITHIN_MS,
): Promise<void> {
	const deadline = Date.now() + withinMs;
	for (;;) {
		const response = await engine.api("/runners?namespace=default");
		if (response.ok) {
			const { runners } = (await response.json()) as {
				runners: ListedRunner[];
			};
			if (
				runners.some(
					(r) => matches(r) && r.drain_ts === null && r.stop_ts === null,
				)
			)
				return;
		}
		if (Date.now() > deadline)
			throw new Error("the engine does not list the runner as taking actors");
		await new Promise((resolve) => setTimeout(resolve, REAL_ENGINE_POLL_MS));
	}
}

async function untilNamespaceResolves(
	api: EngineUnderTest["api"],
): Promise<void> {
	const deadline = Date.now() + NAMESPACE_WITHIN_MS;
	for (;;) {
		let last: string;
		try {
			const response = await api("/actors?namespace=default&name=warm-up");
			if (response.ok) return;
			last = `${response.status} ${await response.text()}`;
		} catch (error) {
			last = String(error);
		}
		if (Date.now() >= deadline)
			throw new Error(
				`the Rivet Engine did not resolve namespace default within ${NAMESPACE_WITHIN_MS} ms: ${last}`,
			);
		await new Promise((resolve) => setTimeout(resolve, REAL_ENGINE_POLL_MS));
	}
}

async function fetchActor(
	api: EngineUnderTest["api"],
	actorId: string,
): Promise<EngineActor | undefined> {
	const response = await api(
		`/actors?namespace=default&actor_ids=${encodeURIComponent(actorId)}`,
	);
	if (!response.ok)
		throw new Error(
			`GET /actors?actor_ids=${actorId}: ${response.status} ${await response.text()}`,
		);
	const { actors } = (await response.json()) as { actors: EngineActor[] };
	return actors.find((a) => a.actor_id === actorId);
}

/**
 * `untilActor` for a real engine, polled through `actor` (bounded by `timeoutMs`); a failing request (the engine
 * `why` is down) is asked again until the deadline. `where` names the node in the error, if any.
 */
export function pollActor(
	actor: (actorId: string) => Promise<EngineActor | undefined>,
	where: string,
	why: string,
): EngineUnderTest["untilActor"] {
	return async (actorId, predicate, timeoutMs = 10_000) => {
		const deadline = Date.now() + timeoutMs;
		let last: EngineActor | undefined;
		for (;;) {
			try {
				last = await actor(actorId);
			} catch {
				// `why`: ask again until the deadline
			}
			if (last && predicate(last)) return last;
			if (Date.now() >= deadline)
				throw new Error(
					`actor ${actorId} did not reach the expected state${where} within ${timeoutMs} ms (polled while ${why}): ${JSON.stringify(last)}`,
				);
			await new Promise((resolve) => setTimeout(resolve, REAL_ENGINE_POLL_MS));
		}
	};
}
