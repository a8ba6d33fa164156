/**
 * The counter's page (examples/counter, `GET /page` through the gateway) in headless Chromium: it shows the live
 * count over a socket made with edgerunner/client (served by the actor as `/client.js`), the button increments it,
 * and after a runner restart the page comes back by itself: the count is shown again (the restart added 1) and
 * the button works again. No console errors.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error plain ESM example without type declarations
import { counterActors } from "../../examples/counter/counter.mjs";
import type { Runner } from "../../src/core/index.ts";
import { type RunningEngine, startEngine } from "../../src/engine/index.ts";
import { isRunning, watchActors } from "../engine/actor-watch.ts";
import { chromiumInstalled, launchChromium } from "../helpers/chromium.ts";
import { counterRunner } from "../helpers/counter-runner.ts";

const RUNNER_NAME = "counter-page";

describe.skipIf(!chromiumInstalled)(
	"the counter page in Chromium (skipped: no Chromium at CHROMIUM_PATH or /usr/bin/chromium)",
	() => {
		let engine: RunningEngine;
		let browser: Browser;
		let runner: Runner | undefined;
		const counter: { stopAll(): void } = counterActors(() => runner);
		const watch = watchActors();

		/** A runner hosting counter actors; resolves once the engine has it. */
		async function startRunner(): Promise<Runner> {
			const next = counterRunner(engine.url, RUNNER_NAME, counter as object);
			runner = next.runner;
			await next.start();
			return runner;
		}

		beforeAll(async () => {
			engine = await startEngine({
				port: 0,
				storage: "memory",
				onActorChange: watch.onActorChange,
			});
			await startRunner();
			browser = await launchChromium();
		}, 60_000);

		afterAll(async () => {
			await browser?.close();
			await runner?.shutdown(true);
			counter.stopAll();
			await engine?.close();
		}, 30_000);

		/** The count the page shows, once it shows `expected` (Playwright polls, bounded by its timeout). */
		async function shows(page: Page, expected: number): Promise<void> {
			await page
				.locator(`#count[data-count="${expected}"]`)
				.waitFor({ timeout: 15_000 });
		}

		it("shows the live count, increments it, and comes back by itself after a runner restart", async () => {
			const created = await fetch(`${engine.url}/actors?namespace=default`, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: JSON.stringify({
					name: "counter",
					key: "page",
					runner_name_selector: RUNNER_NAME,
					crash_policy: "restart",
				}),
			});
			expect(created.status).toBe(200);
			const { actor } = (await created.json()) as {
				actor: { actor_id: string };
			};
			const id = actor.actor_id;
			await watch.until(id, isRunning);

			const page = await browser.newPage();
			const problems: string[] = [];
			page.on("console", (message) => {
				if (message.type() === "error")
					problems.push(`console: ${message.text()}`);
			});
			page.on("pageerror", (error) => problems.push(`page: ${error.message}`));

			const response = await page.goto(`${engine.url}/gateway/${id}/page`);
			expect(response?.status()).toBe(200);
			expect(await page.locator("#actor").textContent()).toBe(id);
			// Every start adds 1: the first start makes it 1.
			await shows(page, 1);
			await page.locator('#status[data-state="open"]').waitFor();

			await page.click("#increment");
			await shows(page, 2);
			await page.click("#increment");
			await shows(page, 3);

			// Drain the runner (the engine stops the actor, the gateway drops the page's socket), then a new runner
			// takes the actor (its start adds 1). The page reconnects by itself.
			await runner?.shutdown(false);
			await page.locator('#status[data-state="reconnecting"]').waitFor();
			await startRunner();
			await shows(page, 4);
			await page.locator('#status[data-state="open"]').waitFor();

			await page.click("#increment");
			await shows(page, 5);
			expect(await page.locator("#error").textContent()).toBe("");
			expect(problems).toEqual([]);
			await page.close();
		}, 60_000);
	},
);
