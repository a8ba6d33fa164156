import { defineConfig } from "vitest/config";

export default defineConfig({
	test: {
		projects: [
			{
				test: {
					name: "node",
					include: ["tests/**/*.test.ts"],
					exclude: ["tests/runtimes/workers/**"],
					environment: "node",
					testTimeout: 20_000,
					hookTimeout: 20_000,
					globalSetup: ["tests/runtimes/global-setup.ts"],
				},
			},
			"./vitest.workers.config.ts",
		],
	},
});
