/**
 * The inspector (/ui/) in headless Chromium against a dev engine with a token and our runner: live lists, the
 * actions, an actor's page (history and KV), the token cookie, and no console errors. Writes docs/inspector.png.
 */
import { fileURLToPath } from "node:url";
import type { Browser, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { Runner } from "../../src/core/index.ts";
import type { WebSocketConstructor } from "../../src/core/platform.ts";
import { type RunningEngine, startEngine } from "../../src/engine/index.ts";
import { inspectorEnabled } from "../../src/engine/inspector/access.ts";
import {
	ACTOR_HISTORY_CAPACITY,
	CONNECTION_LOG_CAPACITY,
	EngineObserver,
	TRACKED_ACTORS_CAPACITY,
} from "../../src/engine/inspector/engine-observer.ts";
import { chromiumInstalled, launchChromium } from "../helpers/chromium.ts";

const TOKEN = "inspector-test-token";
const RUNNER_NAME = "inspector-demo";
const SCREENSHOT = fileURLToPath(
	new URL("../../docs/inspector.png", import.meta.url),
);
const text = (s: string) => new TextEncoder().encode(s);

async function createActor(
	engine: RunningEngine,
	name: string,
	key: string,
): Promise<string> {
	const response = await fetch(`${engine.url}/actors?namespace=default`, {
		method: "POST",
		headers: {
			"content-type": "application/json",
			authorization: `Bearer ${TOKEN}`,
		},
		body: JSON.stringify({
			name,
			key,
			runner_name_selector: RUNNER_NAME,
			crash_policy: "sleep",
		}),
	});
	expect(response.status).toBe(200);
	return ((await response.json()) as { actor: { actor_id: string } }).actor
		.actor_id;
}

// biome-ignore lint/performance/useDomNodeTextContent: Playwright's Locator.innerText, not the DOM property.
const shown = (locator: Locator) => locator.innerText();

function runnerOptions(engine: RunningEngine, name: string) {
	return {
		endpoint: engine.url,
		token: TOKEN,
		namespace: "default",
		runnerName: name,
		version: 1,
		totalSlots: 8,
		// `ws` is the browser WebSocket as far as the runner is concerned.
		platform: {
			name: "node",
			WebSocket: WebSocket as unknown as WebSocketConstructor,
		},
	};
}

const row = (page: Page, actorId: string) =>
	page.locator(`#actors tr[data-actor-id="${actorId}"]`);

describe("inspector access", () => {
	it("is off on a non-loopback host without a token, on with one", () => {
		expect(inspectorEnabled("0.0.0.0", undefined)).toBe(false);
		expect(inspectorEnabled("192.168.1.4", undefined)).toBe(false);
		expect(inspectorEnabled("0.0.0.0", "t")).toBe(true);
		expect(inspectorEnabled("127.0.0.1", undefined)).toBe(true);
		expect(inspectorEnabled("::1", undefined)).toBe(true);
	});

	it("keeps every history bounded", () => {
		const observer = new EngineObserver();
		const runner = { runnerId: "r", name: "n", key: "k" };
		for (let i = 0; i < CONNECTION_LOG_CAPACITY + 10; i++)
			observer.runnerClosed(runner, 1000, `close ${i}`);
		const log = observer.connections.list();
		expect(log).toHaveLength(CONNECTION_LOG_CAPACITY);
		expect(log.at(-1)?.reason).toBe(`close ${CONNECTION_LOG_CAPACITY + 9}`);
		const event = (actorId: string, index: number) => ({
			checkpoint: { actorId, generation: 0, index: BigInt(index) },
			inner: {
				tag: "EventActorSetAlarm" as const,
				val: { alarmTs: null },
			},
		});
		for (let i = 0; i < ACTOR_HISTORY_CAPACITY + 10; i++)
			observer.events([event("a", i)]);
		expect(observer.history("a")).toHaveLength(ACTOR_HISTORY_CAPACITY);
		expect(observer.history("a")[0]?.index).toBe(10);
		for (let i = 0; i < TRACKED_ACTORS_CAPACITY; i++)
			observer.events([event(`other-${i}`, 0)]);
		// "a" was the least recently touched actor: its history made room for the newest.
		expect(observer.history("a")).toEqual([]);
		expect(
			observer.history(`other-${TRACKED_ACTORS_CAPACITY - 1}`),
		).toHaveLength(1);
	});
});

describe.skipIf(!chromiumInstalled)(
	"inspector in Chromium (skipped when Debian chromium is not installed)",
	() => {
		let engine: RunningEngine;
		let runner: Runner;
		let browser: Browser;

		beforeAll(async () => {
			engine = await startEngine({
				port: 0,
				token: TOKEN,
				pingIntervalMs: 100,
			});
			runner = new Runner({
				...runnerOptions(engine, RUNNER_NAME),
				async onActorStart(actorId) {
					await runner.kvPut(actorId, [
						[text("greeting"), text("hello")],
						[text("blob"), new Uint8Array([0xff, 0xfe, 0x00])],
					]);
				},
				async onActorStop() {},
				async fetch(_runner, actorId, _gateway, _request, request) {
					const path = new URL(request.url).pathname;
					return new Response(
						`hello from ${actorId.slice(0, 8)}: ${request.method} ${path}`,
					);
				},
			});
			await runner.start();
			browser = await launchChromium();
		}, 30_000);

		afterAll(async () => {
			await browser?.close();
			await runner?.shutdown(true);
			await engine?.close();
		});

		it("refuses the page and the feed without the token", async () => {
			const page = await fetch(`${engine.url}/ui/`);
			expect(page.status).toBe(401);
			const wrong = await fetch(`${engine.url}/ui/?token=wrong`);
			expect(wrong.status).toBe(403);
			const feed = new WebSocket(`${engine.url.replace("http", "ws")}/ui/feed`);
			const status = await new Promise<number>((resolve) => {
				feed.once("unexpected-response", (_req, res) =>
					resolve(res.statusCode ?? 0),
				);
				feed.once("open", () => resolve(101));
			});
			feed.on("error", () => {});
			feed.terminate();
			expect(status).toBe(401);
		});

		it("shows runners, actors, KV and history live; create, sleep, destroy and request work", async () => {
			const first = await createActor(engine, "counter", "first");
			const page = await browser.newPage({
				viewport: { width: 1360, height: 900 },
			});
			const consoleErrors: string[] = [];
			page.on("console", (message) => {
				if (message.type() === "error") consoleErrors.push(message.text());
			});
			page.on("pageerror", (error) => consoleErrors.push(error.message));

			// The token once in the URL, then a cookie: the page lands on /ui/ without it.
			await page.goto(`${engine.url}/ui/?token=${TOKEN}`);
			expect(new URL(page.url()).search).toBe("");
			let documentLoads = 0;
			page.on("load", () => documentLoads++);
			await page.locator("#feed-status[data-status=live]").waitFor();

			const runnerRow = page.locator("#runners tr[data-runner-id]");
			await expect
				.poll(() => shown(runnerRow.first()), { timeout: 10_000 })
				.toMatch(/inspector-demo[\s\S]*connected[\s\S]*\d+ ms/);
			await row(page, first)
				.and(page.locator("[data-state=running]"))
				.waitFor();

			// A new actor shows up without a reload (the feed).
			const second = await createActor(engine, "counter", "second");
			await row(page, second)
				.and(page.locator("[data-state=running]"))
				.waitFor();

			// Create from the page.
			await page.fill("#create-form input[name=name]", "chat-room");
			await page.fill("#create-form input[name=key]", "lobby");
			await page.click("#create-form button[type=submit]");
			await expect
				.poll(() => shown(page.locator("#action-output")))
				.toMatch(/^created /);
			const made = (await shown(page.locator("#action-output"))).slice(
				"created ".length,
			);
			await row(page, made).and(page.locator("[data-state=running]")).waitFor();

			// A request through the gateway.
			await row(page, first).locator("button[data-action=request]").click();
			await expect
				.poll(() => shown(page.locator("#action-output")))
				.toContain(`→ 200\nhello from ${first.slice(0, 8)}: GET /`);

			// Sleep and destroy.
			await row(page, second).locator("button[data-action=sleep]").click();
			await row(page, second)
				.and(page.locator("[data-state=sleeping]"))
				.waitFor();
			await row(page, first).locator("button[data-action=destroy]").click();
			await row(page, first)
				.and(page.locator("[data-state=destroyed]"))
				.waitFor();

			// Filter by state.
			await page.selectOption("#filter-state", "sleeping");
			await expect
				.poll(() => page.locator("#actors tr[data-actor-id]").count())
				.toBe(1);
			await page.selectOption("#filter-state", "");

			// A runner that comes and goes: its connect and its close (code, reason) are logged, live.
			let connected!: () => void;
			const passingConnected = new Promise<void>((resolve) => {
				connected = resolve;
			});
			const passing = new Runner({
				...runnerOptions(engine, "passing-runner"),
				onConnected: () => connected(),
				async onActorStart() {},
				async onActorStop() {},
			});
			await passing.start();
			await passingConnected;
			await passing.shutdown(false);
			await expect
				.poll(() => shown(page.locator("#connections")))
				.toMatch(
					/closed\s+passing-runner\s+\S+\s+1000\s+pegboard\.runner_shutdown/,
				);
			const connections = await shown(page.locator("#connections"));
			expect(connections).toMatch(/connected\s+passing-runner/);
			expect(connections).toContain(`connected\t${RUNNER_NAME}`);
			expect(documentLoads).toBe(0);
			await page.screenshot({ path: SCREENSHOT, fullPage: true });

			// The slept actor's page: its history (with the stop code) and its KV.
			await page.goto(`${engine.url}/ui/actors/${second}`);
			await page.locator("#feed-status[data-status=live]").waitFor();
			const history = page.locator("#history");
			await expect.poll(() => shown(history)).toMatch(/stopped\s+Ok/);
			expect(await shown(history)).toMatch(/command[\s\S]*start/);
			expect(await shown(history)).toContain("running");
			const kv = await shown(page.locator("#kv"));
			expect(kv).toContain("greeting");
			expect(kv).toContain("hello");
			expect(kv).toMatch(/blob[\s\S]*\/\/4A\s*base64/);

			await page.close();
			expect(consoleErrors).toEqual([]);
		}, 45_000);
	},
);
