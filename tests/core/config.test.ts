import { pino } from "pino";
import { describe, expect, test } from "vitest";
import {
	ConfigError,
	Runner,
	type RunnerConfig,
} from "../../src/core/index.ts";
import { fakePlatform } from "./fake-socket.ts";

const valid = (): RunnerConfig => ({
	version: 1,
	endpoint: "http://127.0.0.1:6420",
	namespace: "default",
	runnerName: "r",
	totalSlots: 1,
	platform: fakePlatform().platform,
});

function configError(config: unknown): ConfigError {
	try {
		new Runner(config as RunnerConfig);
	} catch (err) {
		expect(err).toBeInstanceOf(ConfigError);
		return err as ConfigError;
	}
	throw new Error("the constructor accepted a bad config");
}

describe("config validation", () => {
	test("a valid config constructs without touching the network", () => {
		const { platform, sockets } = fakePlatform();
		const runner = new Runner({ ...valid(), platform });
		expect(runner.state).toBe("idle");
		expect(sockets).toHaveLength(0);
	});

	test.each([
		["endpoint", { endpoint: undefined }],
		["endpoint", { endpoint: "" }],
		["endpoint", { endpoint: "not a url" }],
		["endpoint", { endpoint: "ftp://x" }],
		["namespace", { namespace: "" }],
		["runnerName", { runnerName: undefined }],
		["totalSlots", { totalSlots: 0 }],
		["totalSlots", { totalSlots: -3 }],
		["totalSlots", { totalSlots: 1.5 }],
		["version", { version: -1 }],
		["token", { token: "has space" }],
		["token", { token: "comma,separated" }],
		["token", { token: "" }],
		["drainTimeoutMs", { drainTimeoutMs: 0 }],
		["metadata", { metadata: { n: 1n } }],
	])("bad %s is a typed error naming the field", (field, patch) => {
		const err = configError({ ...valid(), ...patch });
		expect(err.code).toBe("config_invalid");
		expect(err.field).toBe(field);
		expect(err.message).toContain(field);
	});

	test.each([
		["endpoint", { endpoint: [] }, /empty list/],
		[
			"endpoint[1]",
			{ endpoint: ["http://a:1", 7] },
			/non-empty URL string, got number/,
		],
		["endpoint[0]", { endpoint: ["", "http://a:1"] }, /got an empty string/],
		[
			"endpoint[1]",
			{ endpoint: ["http://a:1", "not a url"] },
			/not a valid URL/,
		],
		[
			"endpoint[2]",
			{ endpoint: ["http://a:1", "http://b:1", "ftp://c"] },
			/http\(s\):\/\/ or ws\(s\):\/\//,
		],
		[
			"endpoint[1]",
			{ endpoint: ["http://a:1", "ws://a:1/"] },
			/same engine as endpoint\[0\]/,
		],
		["endpoint", { endpoint: { url: "http://a:1" } }, /got object/],
		["pegboardEndpoint", { pegboardEndpoint: [] }, /empty list/],
		[
			"pegboardEndpoint[1]",
			{ pegboardEndpoint: ["ws://a:1", "ws://a:1"] },
			/same engine as pegboardEndpoint\[0\]/,
		],
	])(
		"an endpoint list with a bad %s is a typed error naming the entry",
		(field, patch, message) => {
			const err = configError({ ...valid(), ...patch });
			expect(err.code).toBe("config_invalid");
			expect(err.field).toBe(field);
			expect(err.message).toContain(`\`${field}\``);
			expect(err.message).toMatch(message);
		},
	);

	test("an endpoint list is accepted; the runner starts on its first entry", () => {
		const runner = new Runner({
			...valid(),
			endpoint: ["http://a:1", "https://b:2/base/"],
		});
		expect(runner.endpoint).toBe("http://a:1");
		expect(runner.pegboardUrl).toMatch(/^ws:\/\/a:1\/runners\/connect\?/);
	});

	test("no platform and no global WebSocket: a typed error that says what to pass", () => {
		const saved = (globalThis as { WebSocket?: unknown }).WebSocket;
		(globalThis as { WebSocket?: unknown }).WebSocket = undefined;
		try {
			const { platform: _, ...rest } = valid();
			const err = configError(rest);
			expect(err.field).toBe("platform");
			expect(err.message).toMatch(/ws/);
		} finally {
			(globalThis as { WebSocket?: unknown }).WebSocket = saved;
		}
	});

	test("the global WebSocket is used when no platform is given", async () => {
		const { platform, sockets } = fakePlatform();
		const saved = (globalThis as { WebSocket?: unknown }).WebSocket;
		(globalThis as { WebSocket?: unknown }).WebSocket = platform.WebSocket;
		try {
			const { platform: _, ...rest } = valid();
			const runner = new Runner(rest);
			await runner.start();
			expect(sockets).toHaveLength(1);
			void runner.shutdown(true);
		} finally {
			(globalThis as { WebSocket?: unknown }).WebSocket = saved;
		}
	});

	test("the connect URL follows the spec: ws(s) scheme, trailing slash stripped, pegboardEndpoint wins", () => {
		const make = (patch: Partial<RunnerConfig>) =>
			new Runner({ ...valid(), ...patch }).pegboardUrl;
		expect(make({ endpoint: "https://engine.example/" })).toMatch(
			/^wss:\/\/engine\.example\/runners\/connect\?/,
		);
		expect(make({ endpoint: "http://h:1/base/" })).toMatch(
			/^ws:\/\/h:1\/base\/runners\/connect\?protocol_version=7&/,
		);
		expect(make({ pegboardEndpoint: "ws://other:2" })).toMatch(
			/^ws:\/\/other:2\/runners\/connect/,
		);
	});

	test("pino satisfies the logger interface", () => {
		const lines: string[] = [];
		const logger = pino(
			{ level: "debug" },
			{ write: (line: string) => lines.push(line) },
		);
		const runner = new Runner({ ...valid(), logger });
		void runner.shutdown(true);
		expect(lines.join("")).toContain("shutting down");
	});

	test("the token never appears in logs", async () => {
		const lines: string[] = [];
		const log = (obj: object, msg?: string) =>
			lines.push(JSON.stringify(obj) + (msg ?? ""));
		const { platform, sockets } = fakePlatform();
		const runner = new Runner({
			...valid(),
			platform,
			token: "super-secret-token",
			logger: { trace: log, debug: log, info: log, warn: log, error: log },
		});
		await runner.start();
		sockets[0]?.open();
		sockets[0]?.closed(1011, "api.forbidden#x");
		await runner.closed;
		expect(lines.length).toBeGreaterThan(3);
		expect(lines.join("\n")).not.toContain("super-secret-token");
	});
});
