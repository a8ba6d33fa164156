/**
 * The engine endpoints a runner may connect to (`endpoint` or `pegboardEndpoint`: one URL or a list, e.g. the
 * nodes of a Rivet Engine cluster) and which one is current. The runner dials the current one; on a failed
 * connect or a close the close policy reconnects on, it moves to the next (round robin). Every endpoint gets the
 * same runner key, so a cluster sees one runner whichever node it reaches.
 *
 * The rotation also remembers which endpoints refused the runner (auth, namespace, protocol) since the last
 * handshake: a refusal is fatal only once every endpoint has refused (close-policy.ts).
 */
import { ConfigError } from "./errors.ts";

export const PROTOCOL_VERSION = 7;

export interface Endpoint {
	/** Position in the configured list (0 for a single endpoint). */
	index: number;
	/** The endpoint as configured, e.g. `http://127.0.0.1:6420`. */
	endpoint: string;
	/** The runner socket URL of spec §2.1 for it. */
	url: string;
}

/** The runner socket URL of spec §2.1; `field` names the config entry in a ConfigError. */
export function connectUrl(
	endpoint: string,
	namespace: string,
	runnerKey: string,
	field = "endpoint",
): string {
	let url: URL;
	try {
		url = new URL(endpoint);
	} catch {
		throw new ConfigError(
			field,
			`is not a valid URL: ${JSON.stringify(endpoint)}.`,
		);
	}
	const scheme = {
		"http:": "ws:",
		"https:": "wss:",
		"ws:": "ws:",
		"wss:": "wss:",
	}[url.protocol];
	if (!scheme)
		throw new ConfigError(
			field,
			`must be http(s):// or ws(s)://, got ${url.protocol}//.`,
		);
	const base = `${scheme}//${url.host}${url.pathname}`.replace(/\/+$/, "");
	const query = `protocol_version=${PROTOCOL_VERSION}&namespace=${encodeURIComponent(namespace)}&runner_key=${encodeURIComponent(runnerKey)}`;
	return `${base}/runners/connect?${query}`;
}

/** Checks the shape of `endpoint`/`pegboardEndpoint`: a non-empty string or a non-empty list of them. */
export function endpointList(value: unknown, field: string): string[] {
	if (typeof value === "string") {
		if (value.length === 0)
			throw new ConfigError(
				field,
				"is required: an engine URL or a non-empty list of them.",
			);
		return [value];
	}
	if (!Array.isArray(value))
		throw new ConfigError(
			field,
			`is required: an engine URL or a non-empty list of them, got ${value === null ? "null" : typeof value}.`,
		);
	if (value.length === 0)
		throw new ConfigError(
			field,
			"is an empty list: give at least one engine URL.",
		);
	return value.map((entry: unknown, index) => {
		if (typeof entry !== "string" || entry.length === 0)
			throw new ConfigError(
				`${field}[${index}]`,
				`must be a non-empty URL string, got ${entry === "" ? "an empty string" : entry === null ? "null" : typeof entry}.`,
			);
		return entry;
	});
}

/** The validated endpoints with their connect URLs; an entry naming the same engine twice is an error. */
export function resolveEndpoints(
	value: unknown,
	field: string,
	namespace: string,
	runnerKey: string,
): Endpoint[] {
	const list = endpointList(value, field);
	const single = typeof value === "string";
	const endpoints: Endpoint[] = [];
	for (const [index, endpoint] of list.entries()) {
		const name = single ? field : `${field}[${index}]`;
		const url = connectUrl(endpoint, namespace, runnerKey, name);
		const twin = endpoints.find((e) => e.url === url);
		if (twin)
			throw new ConfigError(
				name,
				`is the same engine as ${field}[${twin.index}] (${JSON.stringify(twin.endpoint)}): list each endpoint once.`,
			);
		endpoints.push({ index, endpoint, url });
	}
	return endpoints;
}

/** Round robin over the endpoints, with the refusals seen since the last handshake. */
export class EndpointRotation {
	readonly #list: readonly Endpoint[];
	#index = 0;
	readonly #refusedBy = new Set<number>();

	constructor(list: readonly Endpoint[]) {
		if (list.length === 0) throw new RangeError("no endpoints");
		this.#list = list;
	}

	get size(): number {
		return this.#list.length;
	}

	get current(): Endpoint {
		return this.#list[this.#index] as Endpoint;
	}

	/** Moves to the next endpoint (round robin) and returns it. */
	advance(): Endpoint {
		this.#index = (this.#index + 1) % this.#list.length;
		return this.current;
	}

	/** The current endpoint refused the runner (auth, namespace, protocol). */
	refused(): void {
		this.#refusedBy.add(this.#index);
	}

	/** Is there an endpoint other than the current one that has not refused the runner since the last handshake? */
	get othersMayAccept(): boolean {
		return this.#list.some(
			(e) => e.index !== this.#index && !this.#refusedBy.has(e.index),
		);
	}

	/** A handshake completed on the current endpoint: earlier refusals no longer count. */
	accepted(): void {
		this.#refusedBy.clear();
	}
}
