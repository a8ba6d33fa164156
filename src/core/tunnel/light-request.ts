/**
 * The `Request` an actor's `fetch` receives, without the cost of one until it is needed.
 *
 * A WHATWG `Request` with a body costs more than the rest of the tunnel's per-request work together (a body
 * `ReadableStream`, an `AbortSignal`, header validation; ≈ 16 µs on Node 20, and ≈ 7 µs more to read the body
 * back). Most handlers only read the method, URL, headers and the whole body. So the handler gets a light object
 * that is `instanceof Request` and answers those itself; the first use of any other member (`body`, `signal`,
 * `clone()`, `formData()`, passing it to `new Request()` or `fetch()`, …) builds the real `Request` once, with the
 * same method, URL, headers and body state, and every member delegates to it from then on.
 *
 * Whether a light object can stand in for a `Request` on this runtime is checked once (`new Request(light)` must
 * see its method, URL, headers and body); where it cannot (Node ≥ 22, workerd), real ones are built, as before.
 */

/** Methods the fetch spec uppercases, and the uppercase ones it keeps: any other takes the real constructor. */
const NORMALIZED_METHODS = new Map(
	["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH"].flatMap((m) => [
		[m, m],
		...(m === "PATCH" ? [] : [[m.toLowerCase(), m] as [string, string]]),
	]),
);

/** Methods whose requests may not carry a body (`new Request` throws otherwise). */
const NO_BODY_METHODS = new Set(["GET", "HEAD"]);

const realRequest = Symbol("edgerunner.realRequest");

const bodyUsedError = () =>
	new TypeError("Body is unusable: Body has already been read");

class LightRequest {
	readonly #method: string;
	readonly #rawUrl: string;
	#url: string | undefined;
	readonly #headers: Headers;
	/** null: no body (GET/HEAD or empty), which, as in `Request`, can be read any number of times. */
	readonly #body: ArrayBuffer | null;
	#bodyUsed = false;
	#real: Request | undefined;

	constructor(
		method: string,
		url: string,
		headers: Headers,
		body: ArrayBuffer | null,
	) {
		this.#method = method;
		this.#rawUrl = url;
		this.#headers = headers;
		this.#body = body;
	}

	get method(): string {
		return this.#method;
	}

	get url(): string {
		if (this.#real) return this.#real.url;
		this.#url ??= new URL(this.#rawUrl).href;
		return this.#url;
	}

	get headers(): Headers {
		return this.#real ? this.#real.headers : this.#headers;
	}

	get bodyUsed(): boolean {
		return this.#real ? this.#real.bodyUsed : this.#bodyUsed;
	}

	arrayBuffer(): Promise<ArrayBuffer> {
		if (this.#real) return this.#real.arrayBuffer();
		return this.#take();
	}

	bytes(): Promise<Uint8Array> {
		if (this.#real) return this.#real.bytes();
		return this.#take().then((buffer) => new Uint8Array(buffer));
	}

	text(): Promise<string> {
		if (this.#real) return this.#real.text();
		// TextDecoder's defaults are the spec's "UTF-8 decode": replacement characters, BOM stripped.
		return this.#take().then((buffer) => new TextDecoder().decode(buffer));
	}

	json(): Promise<unknown> {
		if (this.#real) return this.#real.json();
		return this.text().then((text) => JSON.parse(text));
	}

	/** Hands the body over once, without a copy: it was decoded from the frame and nobody else holds it. */
	#take(): Promise<ArrayBuffer> {
		if (this.#body === null) return Promise.resolve(new ArrayBuffer(0));
		if (this.#bodyUsed) return Promise.reject(bodyUsedError());
		this.#bodyUsed = true;
		return Promise.resolve(this.#body);
	}

	[realRequest](): Request {
		if (this.#real) return this.#real;
		const used = this.#bodyUsed;
		const real = new Request(this.#rawUrl, {
			method: this.#method,
			headers: this.#headers,
			// A body already handed over stays used: an empty one, read below.
			body: used ? new ArrayBuffer(0) : this.#body,
		});
		if (used) real.arrayBuffer().catch(() => {});
		this.#real = real;
		return real;
	}
}

/** Every other member of `Request.prototype` (and the internal keys a runtime reads from an instance) delegates. */
function delegateTheRest(): void {
	const proto = LightRequest.prototype as unknown as Record<
		PropertyKey,
		unknown
	>;
	const own = new Set(Reflect.ownKeys(proto));
	if (typeof Request.prototype.bytes !== "function") {
		delete proto.bytes;
		own.delete("bytes");
	}
	const real = (self: unknown) => (self as LightRequest)[realRequest]();
	for (const key of Reflect.ownKeys(Request.prototype)) {
		if (own.has(key) || key === "constructor") continue;
		const desc = Object.getOwnPropertyDescriptor(Request.prototype, key);
		if (!desc) continue;
		if (desc.get || desc.set) {
			const { get, set } = desc;
			Object.defineProperty(proto, key, {
				configurable: true,
				get:
					get &&
					function (this: unknown) {
						return get.call(real(this));
					},
				set:
					set &&
					function (this: unknown, value: unknown) {
						set.call(real(this), value);
					},
			});
		} else if (typeof desc.value === "function") {
			const method = desc.value as (...args: unknown[]) => unknown;
			Object.defineProperty(proto, key, {
				configurable: true,
				writable: true,
				value: function (this: unknown, ...args: unknown[]) {
					return method.apply(real(this), args);
				},
			});
		}
	}
	// Internal state some runtimes keep on the instance under symbols (undici: state, headers, signal, …).
	const sample = new Request("http://actor/", { method: "POST", body: "x" });
	for (const key of Reflect.ownKeys(sample)) {
		if (own.has(key)) continue;
		Object.defineProperty(proto, key, {
			configurable: true,
			get(this: unknown) {
				return (real(this) as unknown as Record<PropertyKey, unknown>)[key];
			},
		});
	}
	Object.setPrototypeOf(proto, Request.prototype);
}

let lightWorks: boolean | undefined;

/** Whether this runtime's `Request` accepts a light request where a `Request` goes (checked once). */
function lightRequestsWork(): boolean {
	if (lightWorks !== undefined) return lightWorks;
	try {
		delegateTheRest();
		const light = new LightRequest(
			"POST",
			"http://actor/probe?q=1",
			new Headers([["x-probe", "1"]]),
			new Uint8Array([1]).buffer as ArrayBuffer,
		);
		const copy = new Request(light as unknown as Request);
		lightWorks =
			light instanceof Request &&
			copy.method === "POST" &&
			copy.url === "http://actor/probe?q=1" &&
			copy.headers.get("x-probe") === "1" &&
			copy.body !== null;
	} catch {
		lightWorks = false;
	}
	return lightWorks;
}

/**
 * The `Request` for a tunnelled HTTP request: light where the runtime allows it and the method is one the spec
 * keeps as is or uppercases; otherwise a real `Request` (which also raises the errors the spec prescribes).
 */
export function tunnelRequest(
	method: string,
	path: string,
	headers: ReadonlyMap<string, string>,
	body: ArrayBuffer | null,
): Request {
	const normalized = NORMALIZED_METHODS.get(method);
	const url = `http://actor${path}`;
	const sendBody =
		body !== null &&
		body.byteLength > 0 &&
		!NO_BODY_METHODS.has(normalized ?? method.toUpperCase())
			? body
			: null;
	if (normalized !== undefined && path.startsWith("/") && lightRequestsWork())
		return new LightRequest(
			normalized,
			url,
			new Headers(headers as unknown as HeadersInit),
			sendBody,
		) as unknown as Request;
	return new Request(url, {
		method,
		headers: headers as unknown as HeadersInit,
		body: sendBody,
	});
}
