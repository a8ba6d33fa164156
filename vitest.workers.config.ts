/**
 * The workerd project: the Cloudflare example worker (wrangler.toml) inside @cloudflare/vitest-pool-workers,
 * dialling a dev engine (and, in some tests, the real Rivet Engine) that tests/runtimes/workers/global-setup.ts starts.
 */
import { resolve } from "node:path";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig({
	plugins: [
		cloudflareTest(({ inject }) => ({
			main: "./examples/cloudflare/worker.js",
			wrangler: { configPath: "./wrangler.toml" },
			miniflare: {
				bindings: {
					EDGERUNNER_ENDPOINT: inject("engineUrl"),
					// The real Rivet Engine for the tests that point an object at it: its URL, or why it is not running.
					RIVET_ENGINE_URL: inject("rivetEngineUrl"),
					RIVET_ENGINE_NOT_INSTALLED: inject("rivetEngineNotInstalled"),
					RIVET_ENGINE_START_ERROR: inject("rivetEngineStartError"),
					// Tests fire the heartbeat themselves with runDurableObjectAlarm.
					EDGERUNNER_HEARTBEAT_MS: "600000",
					EDGERUNNER_RUNNER_NAME: "counter-workerd",
				},
			},
		})),
	],
	resolve: {
		alias: {
			"edgerunner/cloudflare": resolve(
				import.meta.dirname,
				"src/runtimes/cloudflare.ts",
			),
		},
	},
	test: {
		name: "workers",
		include: ["tests/runtimes/workers/**/*.test.ts"],
		globalSetup: ["tests/runtimes/workers/global-setup.ts"],
		testTimeout: 20_000,
		hookTimeout: 20_000,
	},
});
