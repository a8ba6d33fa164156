/**
 * `ActorClient` and `ActorHandle`: actors through the engine's HTTP API and gateway, with nothing but `fetch`,
 * `URL` and a WebSocket (browsers, Node 20+ with `ws`, Deno, Bun, workerd). Speaks to the dev engine and the real
 * Rivet Engine alike.
 */

import { ActorSocket, type SendBufferLimit } from "./actor-socket.ts";
import type { ReconnectDelays } from "./backoff.ts";
import { EndpointList } from "./endpoints.ts";
import { ClientConfigError, RivetError } from "./errors.ts";
import { fetchWithFailover } from "./failover.ts";

export type CrashPolicy = "restart" | "sleep" | "destroy";

export interface ActorClientOptions {
	/**
	 * The engine's URL (`http(s)://host:port`): its API and gateway. Or a non-empty list of them (the nodes of a
	 * cluster): requests and sockets go to the current one and move to the next when it cannot be reached.
	 */
	endpoint: string | readonly string[];
	/** Default `"default"`. */
	namespace?: string;
	/** Sent as `Authorization: Bearer` to the API, `x-rivet-token` through the gateway, `rivet_token.<t>` on sockets. */
	token?: string;
	/** A WHATWG WebSocket constructor; default `globalThis.WebSocket` (Node 20 has none: pass `ws`'s). */
	WebSocket?: unknown;
	/** A `fetch`; default `globalThis.fetch`. */
	fetch?: typeof fetch;
	/** With several endpoints: the jittered delay before a request is tried on the next one. Default 500 ms base. */
	retryDelays?: ReconnectDelays;
}

export interface CreateActorRequest {
	/** The actor name (what the runner's `onActorStart` sees). */
	name: string;
	/** The key; `getOrCreate` needs one. */
	key?: string;
	/** Which runners may host it (their `runnerName`). */
	runnerNameSelector: string;
	/** Bytes or text handed to the actor on start (sent base64). */
	input?: Uint8Array | string;
	/** Default `"restart"` (the real engine requires one). */
	crashPolicy?: CrashPolicy;
}

export interface ConnectOptions {
	/** Extra subprotocols offered after `rivet` (and the token). */
	protocols?: string[];
	reconnectDelays?: ReconnectDelays;
	sendBuffer?: SendBufferLimit;
	/** Abandon a connection attempt after this long and retry (ms). Default 10000. */
	connectionTimeoutMs?: number;
}

/** The actor fields both engines return. */
export interface ActorInfo {
	actor_id: string;
	name: string;
	key: string | null;
	namespace_id?: string;
	runner_name_selector?: string;
	crash_policy?: string;
	create_ts?: number;
	destroy_ts?: number | null;
	[field: string]: unknown;
}

function base64(input: Uint8Array | string): string {
	const bytes =
		typeof input === "string" ? new TextEncoder().encode(input) : input;
	let binary = "";
	for (const byte of bytes) binary += String.fromCharCode(byte);
	return btoa(binary);
}

/** The engine's error from a failed response: JSON `{group, code, message}`, else `x-rivet-error`, else the status. */
export async function rivetErrorFrom(
	response: Response,
	request: string,
): Promise<RivetError> {
	const text = await response.text().catch(() => "");
	let body: { group?: unknown; code?: unknown; message?: unknown } = {};
	try {
		const parsed: unknown = JSON.parse(text);
		if (parsed && typeof parsed === "object") body = parsed as typeof body;
	} catch {
		// Not JSON: the header or the status says what we know.
	}
	const [headerGroup, headerCode] = (
		response.headers.get("x-rivet-error") ?? ""
	).split(".");
	const group =
		typeof body.group === "string" ? body.group : (headerGroup ?? "") || "http";
	const code =
		typeof body.code === "string"
			? body.code
			: (headerCode ?? "") || `status_${response.status}`;
	const message =
		typeof body.message === "string"
			? body.message
			: text.slice(0, 200) || response.statusText;
	return new RivetError(group, code, message, response.status, request);
}

export class ActorClient {
	readonly namespace: string;
	readonly #endpoints: EndpointList;
	readonly #retryDelays: ReconnectDelays | undefined;
	readonly #token: string | undefined;
	readonly #WebSocket: unknown;
	readonly #fetch: typeof fetch;

	constructor(options: ActorClientOptions) {
		this.#endpoints = new EndpointList(options.endpoint);
		this.#retryDelays = options.retryDelays;
		this.namespace = options.namespace ?? "default";
		this.#token = options.token;
		this.#WebSocket = options.WebSocket;
		const fetchImpl = options.fetch ?? globalThis.fetch;
		this.#fetch = (input, init) => fetchImpl(input, init);
	}

	/** The current endpoint (without a trailing slash): where the next request or socket attempt goes. */
	get endpoint(): string {
		return this.#endpoints.current;
	}

	/** Every endpoint, in the configured order. */
	get endpoints(): readonly string[] {
		return this.#endpoints.all;
	}

	/** Sends a request to the current endpoint, moving on as `failover.ts` says; `url` builds it for a base. */
	request(url: (base: string) => string, init: RequestInit): Promise<Response> {
		return fetchWithFailover({
			endpoints: this.#endpoints,
			fetch: this.#fetch,
			url,
			init,
			delays: this.#retryDelays,
		});
	}

	/** The current endpoint failed to connect a socket: the client moves to the next (if it was still current). */
	markUnreachable(endpoint: string): void {
		const index = this.#endpoints.all.indexOf(endpoint);
		if (index >= 0) this.#endpoints.failed(index);
	}

	/** The live actor with this name and key, else a new one (`PUT /actors`). */
	async getOrCreate(request: CreateActorRequest): Promise<ActorHandle> {
		if (request.key === undefined || request.key === "")
			throw new ClientConfigError("getOrCreate needs a non-empty key");
		const { actor } = await this.#actorsApi("PUT", request);
		return this.actor(actor.actor_id);
	}

	/** A new actor (`POST /actors`). */
	async create(request: CreateActorRequest): Promise<ActorHandle> {
		const { actor } = await this.#actorsApi("POST", request);
		return this.actor(actor.actor_id);
	}

	/** A handle on an actor by id (no request is made). */
	actor(actorId: string): ActorHandle {
		if (!actorId) throw new ClientConfigError("actorId must be non-empty");
		return new ActorHandle(this, actorId, {
			token: this.#token,
			WebSocket: this.#WebSocket,
		});
	}

	async #actorsApi(
		method: "PUT" | "POST",
		request: CreateActorRequest,
	): Promise<{ actor: ActorInfo; created?: boolean }> {
		if (!request.name) throw new ClientConfigError("name must be non-empty");
		if (!request.runnerNameSelector)
			throw new ClientConfigError("runnerNameSelector must be non-empty");
		const headers = new Headers({ "content-type": "application/json" });
		if (this.#token) headers.set("authorization", `Bearer ${this.#token}`);
		const body: Record<string, unknown> = {
			name: request.name,
			runner_name_selector: request.runnerNameSelector,
			crash_policy: request.crashPolicy ?? "restart",
		};
		if (request.key !== undefined) body.key = request.key;
		if (request.input !== undefined) body.input = base64(request.input);
		const response = await this.request(
			(base) =>
				`${base}/actors?namespace=${encodeURIComponent(this.namespace)}`,
			{ method, headers, body: JSON.stringify(body) },
		);
		if (!response.ok) throw await rivetErrorFrom(response, `${method} /actors`);
		return (await response.json()) as { actor: ActorInfo; created?: boolean };
	}
}

export class ActorHandle {
	readonly client: ActorClient;
	readonly id: string;
	readonly #token: string | undefined;
	readonly #WebSocket: unknown;

	constructor(
		client: ActorClient,
		id: string,
		transport: {
			token: string | undefined;
			WebSocket: unknown;
		},
	) {
		this.client = client;
		this.id = id;
		this.#token = transport.token;
		this.#WebSocket = transport.WebSocket;
	}

	/** `{endpoint}/gateway/{actorId}{path}` on the current endpoint (or on `base`): what the actor sees as `path`. */
	url(path = "/", base = this.client.endpoint): string {
		const rest = path.startsWith("/") ? path : `/${path}`;
		return `${base}/gateway/${encodeURIComponent(this.id)}${rest}`;
	}

	/**
	 * A request to the actor through the gateway. The actor's own responses (any status) come back as they are;
	 * a refusal by the gateway itself (it carries `x-rivet-error`) throws a `RivetError` with its `group.code`.
	 */
	async fetch(path = "/", init: RequestInit = {}): Promise<Response> {
		const headers = new Headers(init.headers);
		if (this.#token && !headers.has("x-rivet-token"))
			headers.set("x-rivet-token", this.#token);
		const response = await this.client.request((base) => this.url(path, base), {
			...init,
			headers,
		});
		if (response.headers.has("x-rivet-error"))
			throw await rivetErrorFrom(
				response,
				`${init.method ?? "GET"} /gateway/${this.id}${path}`,
			);
		return response;
	}

	/**
	 * A reconnecting WebSocket to the actor's `path` through the gateway (subprotocols `rivet`, then
	 * `rivet_token.<token>` when the client has a token). See the close table for when it comes back.
	 */
	connect(path = "/", options: ConnectOptions = {}): ActorSocket {
		const protocols = ["rivet"];
		if (this.#token) protocols.push(`rivet_token.${this.#token}`);
		protocols.push(...(options.protocols ?? []));
		// Asked before each attempt: a reconnect goes to the client's current endpoint.
		let dialled = this.client.endpoint;
		const url = (): string => {
			dialled = this.client.endpoint;
			return this.url(path, dialled).replace(/^http/, "ws");
		};
		return new ActorSocket(url, protocols, {
			WebSocket: this.#WebSocket,
			onUnreachable: () => this.client.markUnreachable(dialled),
			...(options.reconnectDelays
				? { reconnectDelays: options.reconnectDelays }
				: {}),
			...(options.sendBuffer ? { sendBuffer: options.sendBuffer } : {}),
			...(options.connectionTimeoutMs !== undefined
				? { connectionTimeoutMs: options.connectionTimeoutMs }
				: {}),
		});
	}
}
