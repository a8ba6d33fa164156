/**
 * The engine endpoints a client may use (`endpoint`: one URL, or a list such as the nodes of a cluster) and which
 * one is current. Every API call, gateway request and socket of a client goes to the current endpoint; when one
 * finds it unreachable it moves the whole client to the next (round robin), so the others follow at once.
 */
import { ClientConfigError } from "./errors.ts";

function normalized(value: unknown, name: string): string {
	if (typeof value !== "string" || value === "")
		throw new ClientConfigError(
			`${name} must be an absolute http(s) URL, got ${value === "" ? "an empty string" : (JSON.stringify(value) ?? typeof value)}`,
		);
	let url: URL;
	try {
		url = new URL(value);
	} catch {
		throw new ClientConfigError(
			`${name} must be an absolute http(s) URL, got ${JSON.stringify(value)}`,
		);
	}
	if (url.protocol !== "http:" && url.protocol !== "https:")
		throw new ClientConfigError(`${name} must be http(s), got ${url.protocol}`);
	return url.href.replace(/\/+$/, "");
}

/** The endpoints, validated and without trailing slashes; a list names the bad entry (`endpoint[1]`). */
export function parseEndpoints(value: unknown): string[] {
	if (!Array.isArray(value)) return [normalized(value, "endpoint")];
	if (value.length === 0)
		throw new ClientConfigError(
			"endpoint is an empty list: give at least one engine URL",
		);
	const list: string[] = [];
	for (const [index, entry] of value.entries()) {
		const url = normalized(entry, `endpoint[${index}]`);
		const twin = list.indexOf(url);
		if (twin >= 0)
			throw new ClientConfigError(
				`endpoint[${index}] is the same as endpoint[${twin}] (${url}): list each endpoint once`,
			);
		list.push(url);
	}
	return list;
}

export class EndpointList {
	readonly all: readonly string[];
	#index = 0;

	constructor(value: unknown) {
		this.all = parseEndpoints(value);
	}

	get size(): number {
		return this.all.length;
	}

	/** Position of the current endpoint in the list. */
	get index(): number {
		return this.#index;
	}

	get current(): string {
		return this.all[this.#index] as string;
	}

	/**
	 * The endpoint at `index` was found unreachable. If it is still the current one, move to the next; a
	 * failure another request has already moved past does not move the client again.
	 */
	failed(index: number): void {
		if (index === this.#index) this.#index = (index + 1) % this.all.length;
	}
}
