/**
 * The light `Request` handed to an actor's `fetch` (src/core/tunnel/light-request.ts): it must be
 * indistinguishable from a real `Request` built from the same parts, whatever the handler does with it.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { tunnelRequest } from "../../src/core/tunnel/light-request.ts";

const bytes = (text: string) => new TextEncoder().encode(text).buffer;

function both(
	method: string,
	path: string,
	headers: [string, string][],
	body: string | null,
): { light: Request; real: Request } {
	const light = tunnelRequest(
		method,
		path,
		new Map(headers),
		body === null ? null : (bytes(body) as ArrayBuffer),
	);
	const real = new Request(`http://actor${path}`, {
		method,
		headers,
		body:
			body === null || ["GET", "HEAD"].includes(method.toUpperCase())
				? null
				: body,
	});
	return { light, real };
}

const isLight = (request: Request) =>
	Object.getPrototypeOf(request) !== Request.prototype;

describe("light request", () => {
	it("is a Request on this runtime (Node 20), and answers like the real one built from the same parts", async () => {
		const { light, real } = both(
			"post",
			"/a/../b/c d?x=1&y=%41",
			[
				["content-type", "application/json"],
				["x-multi", "1, 2"],
			],
			'{"n":1}',
		);
		expect(isLight(light)).toBe(true);
		expect(light).toBeInstanceOf(Request);
		expect(Object.prototype.toString.call(light)).toBe("[object Request]");
		for (const key of Reflect.ownKeys(Request.prototype)) {
			if (key === "constructor" || typeof key === "symbol") continue;
			const value = (real as unknown as Record<string, unknown>)[key];
			if (typeof value === "function" || typeof value === "object") continue;
			expect(
				(light as unknown as Record<string, unknown>)[key],
				String(key),
			).toBe(value);
		}
		expect([...light.headers]).toEqual([...real.headers]);
		expect(await light.json()).toEqual(await real.json());
		expect(light.bodyUsed).toBe(true);
	});

	it("hands the body over once: a second read rejects with the TypeError a Request raises", async () => {
		const { light, real } = both("PUT", "/", [], "hello");
		expect(light.bodyUsed).toBe(false);
		expect(await light.text()).toBe("hello");
		expect(light.bodyUsed).toBe(true);
		await real.text();
		await expect(real.arrayBuffer()).rejects.toBeInstanceOf(TypeError);
		await expect(light.arrayBuffer()).rejects.toBeInstanceOf(TypeError);
		await expect(light.text()).rejects.toBeInstanceOf(TypeError);
	});

	it("reads bytes, text and JSON like a Request (BOM stripped, bad JSON rejects)", async () => {
		const { light } = both("POST", "/", [], "\uFEFFé");
		expect(await light.text()).toBe("é");
		const bad = both("POST", "/", [], "{nope").light;
		await expect(bad.json()).rejects.toBeInstanceOf(SyntaxError);
		const raw = both("POST", "/", [], "ab").light;
		expect([...(await raw.bytes())]).toEqual([97, 98]);
	});

	it("GET and HEAD carry no body, can be read any number of times, and never become used", async () => {
		for (const method of ["GET", "head"]) {
			const { light, real } = both(method, "/", [], "ignored");
			expect((await light.arrayBuffer()).byteLength).toBe(0);
			expect((await light.text()).length).toBe(0);
			expect(light.bodyUsed).toBe(false);
			expect(light.method).toBe(method.toUpperCase());
			expect(light.body).toBe(real.body);
			expect(light.body).toBeNull();
		}
	});

	it("builds the real Request on first use of anything else, with the same parts and body state", async () => {
		const fresh = both("POST", "/s", [["x-a", "1"]], "stream me").light;
		expect(fresh.signal).toBeInstanceOf(AbortSignal);
		expect(fresh.signal.aborted).toBe(false);
		expect(await new Response(fresh.body).text()).toBe("stream me");
		expect(fresh.bodyUsed).toBe(true);

		const used = both("POST", "/s", [], "taken").light;
		await used.arrayBuffer();
		// The real Request built after the body was handed over is used too.
		expect(used.body).not.toBeNull();
		expect(used.bodyUsed).toBe(true);
		await expect(used.text()).rejects.toBeInstanceOf(TypeError);
		expect(() => used.clone()).toThrow(TypeError);

		const cloned = both("POST", "/c", [], "twice").light;
		const copy = cloned.clone();
		expect(await copy.text()).toBe("twice");
		expect(await cloned.text()).toBe("twice");

		const form = both(
			"POST",
			"/f",
			[["content-type", "application/x-www-form-urlencoded"]],
			"a=1&b=two",
		).light;
		expect((await form.formData()).get("b")).toBe("two");
	});

	it("stands in for a Request in new Request() and fetch() (forwarding to another server)", async () => {
		const { light } = both("PATCH", "/fwd?q=1", [["x-fwd", "yes"]], "payload");
		const copy = new Request(light, { headers: { "x-extra": "1" } });
		expect(copy.method).toBe("PATCH");
		expect(copy.url).toBe("http://actor/fwd?q=1");
		expect(copy.headers.get("x-extra")).toBe("1");
		expect(await copy.text()).toBe("payload");

		const server = createServer((req, res) => {
			let body = "";
			req.on("data", (chunk) => {
				body += chunk;
			});
			req.on("end", () =>
				res.end(`${req.method} ${req.url} ${req.headers["x-fwd"]} ${body}`),
			);
		});
		await new Promise<void>((resolve) =>
			server.listen(0, "127.0.0.1", resolve),
		);
		try {
			const { port } = server.address() as AddressInfo;
			const incoming = both(
				"POST",
				"/up?z=2",
				[["x-fwd", "yes"]],
				"hello upstream",
			).light;
			const target = new URL(incoming.url);
			const forwarded = await fetch(
				new Request(
					`http://127.0.0.1:${port}${target.pathname}${target.search}`,
					incoming,
				),
			);
			expect(await forwarded.text()).toBe("POST /up?z=2 yes hello upstream");
		} finally {
			server.close();
		}
	});

	it("serves a Hono app: routing, headers, JSON and form bodies", async () => {
		const app = new Hono()
			.post("/json/:id", async (c) =>
				c.json({
					id: c.req.param("id"),
					q: c.req.query("q"),
					h: c.req.header("x-h"),
					body: await c.req.json(),
				}),
			)
			.post("/form", async (c) => c.json(await c.req.parseBody()));
		const json = await app.fetch(
			both(
				"POST",
				"/json/7?q=x",
				[
					["x-h", "v"],
					["content-type", "application/json"],
				],
				'{"a":[1]}',
			).light,
		);
		expect(await json.json()).toEqual({
			id: "7",
			q: "x",
			h: "v",
			body: { a: [1] },
		});
		const form = await app.fetch(
			both(
				"POST",
				"/form",
				[["content-type", "application/x-www-form-urlencoded"]],
				"k=v",
			).light,
		);
		expect(await form.json()).toEqual({ k: "v" });
	});

	it("methods the spec does not simply uppercase take the real constructor, with its errors", () => {
		const patch = tunnelRequest("patch", "/", new Map(), null);
		expect(isLight(patch)).toBe(false);
		expect(patch.method).toBe("patch");
		expect(isLight(tunnelRequest("PROPFIND", "/", new Map(), null))).toBe(
			false,
		);
		expect(() => tunnelRequest("CONNECT", "/", new Map(), null)).toThrow(
			TypeError,
		);
		expect(() => tunnelRequest("bad method", "/", new Map(), null)).toThrow(
			TypeError,
		);
	});

	it("bad header names fail at construction, as with a Request", () => {
		expect(() =>
			tunnelRequest("GET", "/", new Map([["bad name", "x"]]), null),
		).toThrow(TypeError);
	});
});
