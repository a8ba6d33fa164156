/**
 * Installed as a user installs it: `npm pack` → `npm install <tarball>` into a fresh project outside the
 * repository (reusing the npm cache, `--prefer-offline`), then the entry points on Node 20 and 24, the Bun and
 * Deno examples from that install (Deno from node_modules with an unreachable registry), and the Cloudflare
 * example bundled by `wrangler deploy --dry-run`, and the dev engine's inspector with its assets.
 */
import { execFileSync, spawnSync } from "node:child_process";
import {
	copyFileSync,
	existsSync,
	mkdirSync,
	mkdtempSync,
	rmSync,
	writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type RunningEngine, startEngine } from "../../src/engine/index.ts";
import {
	exitWithin,
	killAll,
	spawnRuntime,
} from "../runtimes/child-process.ts";
import { NODE24 } from "../runtimes/runtimes.ts";
import { npmPack, REPO } from "./pack.ts";

let project = "";
let engine: RunningEngine | undefined;

beforeAll(() => {
	project = mkdtempSync(join(tmpdir(), "edgerunner-consumer-"));
	const packed = npmPack(project);
	writeFileSync(
		join(project, "package.json"),
		JSON.stringify({ name: "consumer", private: true, type: "module" }),
	);
	// better-sqlite3 (the dev engine's optional SQLite driver) would build from source: not what this checks.
	execFileSync(
		"npm",
		[
			"install",
			join(project, packed.filename),
			"--prefer-offline",
			"--omit=optional",
			"--no-audit",
			"--no-fund",
		],
		{ cwd: project, stdio: "pipe", timeout: 120_000 },
	);
	for (const file of [
		"examples/counter/counter.mjs",
		"examples/counter/page.mjs",
		"examples/counter/client-module.generated.mjs",
		"examples/bun/main.mjs",
		"examples/deno/main.mjs",
		"examples/cloudflare/worker.js",
	]) {
		mkdirSync(join(project, file, ".."), { recursive: true });
		copyFileSync(join(REPO, file), join(project, file));
	}
}, 180_000);

afterEach(async () => {
	await killAll();
	await engine?.close();
	engine = undefined;
});

afterAll(() => {
	if (project) rmSync(project, { recursive: true, force: true });
});

const IMPORT_CHECK = `
const core = await import("edgerunner");
const node = await import("edgerunner/node");
const serverless = await import("edgerunner/serverless");
const client = await import("edgerunner/client");
console.log(JSON.stringify({
	Runner: typeof core.Runner,
	startRunner: typeof node.startRunner,
	createServerlessApp: typeof serverless.createServerlessApp,
	ActorClient: typeof client.ActorClient,
	webSocket: (await node.nodeWebSocket()) === globalThis.WebSocket ? "native" : "ws",
}));
`;

const NODES = [
	{ name: "node20", node: process.execPath, websocket: "ws" },
	{ name: "node24", node: NODE24, websocket: "native" },
];
for (const { name, node, websocket } of NODES) {
	const installed = existsSync(node);
	it.skipIf(!installed)(
		`${name}: imports edgerunner, edgerunner/node, edgerunner/serverless and edgerunner/client as ESM; WebSocket is ${websocket}${installed ? "" : " (skipped: tools/node24 not installed)"}`,
		() => {
			const result = spawnSync(
				node,
				["--input-type=module", "-e", IMPORT_CHECK],
				{ cwd: project, encoding: "utf8" },
			);
			expect(result.stderr).toBe("");
			expect(JSON.parse(result.stdout)).toEqual({
				Runner: "function",
				startRunner: "function",
				createServerlessApp: "function",
				ActorClient: "function",
				webSocket: websocket,
			});
		},
	);
}

const INSPECTOR_CHECK = `
const { startEngine } = await import("edgerunner/engine");
const engine = await startEngine({ port: 0, storage: "memory" });
const answers = {};
for (const path of ["/ui/", "/ui/assets/inspector.js", "/ui/assets/partysocket/index.js", "/ui/assets/partysocket/ws.js"]) {
	const response = await fetch(engine.url + path);
	answers[path] = [response.status, response.headers.get("content-type")?.split(";")[0], (await response.text()).length > 100];
}
await engine.close();
console.log(JSON.stringify(answers));
`;

it("the inspector and its assets (its script, partysocket) are served from the install", () => {
	const result = spawnSync(
		process.execPath,
		["--input-type=module", "-e", INSPECTOR_CHECK],
		{ cwd: project, encoding: "utf8", timeout: 30_000 },
	);
	expect(result.stderr).toBe("");
	expect(JSON.parse(result.stdout)).toEqual({
		"/ui/": [200, "text/html", true],
		"/ui/assets/inspector.js": [200, "text/javascript", true],
		"/ui/assets/partysocket/index.js": [200, "text/javascript", true],
		"/ui/assets/partysocket/ws.js": [200, "text/javascript", true],
	});
});

describe.each([
	{
		name: "bun",
		command: join(REPO, "node_modules/.bin/bun"),
		args: ["examples/bun/main.mjs"],
	},
	{
		name: "deno",
		command: join(REPO, "node_modules/.bin/deno"),
		args: [
			"run",
			"--allow-net=127.0.0.1",
			"--allow-env",
			"examples/deno/main.mjs",
		],
	},
])("the $name example from the install", ({ name, command, args }) => {
	it("connects to the dev engine and exits 143 on SIGTERM (no registry reachable)", async () => {
		engine = await startEngine({ port: 0 });
		const child = spawnRuntime(
			command,
			args,
			{
				RIVET_ENDPOINT: engine.url,
				RIVET_RUNNER_NAME: `consumer-${name}`,
				// Any registry fetch would fail: everything must come from node_modules.
				NPM_CONFIG_REGISTRY: "http://127.0.0.1:9/",
				DENO_DIR: join(project, ".deno-cache"),
			},
			project,
		);
		await child.next("connected");
		child.signal("SIGTERM");
		expect(await exitWithin(child, 10_000)).toEqual({
			code: 143,
			signal: null,
		});
	});
});

it("wrangler deploy --dry-run bundles the Cloudflare example from the install", () => {
	writeFileSync(
		join(project, "wrangler.toml"),
		[
			'name = "consumer-counter"',
			'main = "examples/cloudflare/worker.js"',
			'compatibility_date = "2026-04-20"',
			"[[durable_objects.bindings]]",
			'name = "RUNNER"',
			'class_name = "CounterRunner"',
			"[[migrations]]",
			'tag = "v1"',
			'new_sqlite_classes = ["CounterRunner"]',
		].join("\n"),
	);
	const result = spawnSync(
		join(REPO, "node_modules/.bin/wrangler"),
		["deploy", "--dry-run", "--outdir", "out"],
		{
			cwd: project,
			encoding: "utf8",
			env: {
				...process.env,
				WRANGLER_SEND_METRICS: "false",
				CLOUDFLARE_CF_FETCH_ENABLED: "false",
			},
			timeout: 60_000,
		},
	);
	expect(result.status, result.stderr + result.stdout).toBe(0);
	expect(existsSync(join(project, "out/worker.js"))).toBe(true);
});
