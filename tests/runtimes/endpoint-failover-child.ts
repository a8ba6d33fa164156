/**
 * Run on Deno and Bun by endpoint-failover-runtimes.test.ts (bundled by esbuild): the failover runner with the
 * runtime's own WebSocket, endpoints from FAILOVER_ENDPOINTS (a JSON list), one JSON line per event. It sets no
 * timer of its own, so the process exits by itself once the runner has stopped: an exit shows nothing is left
 * that could dial an endpoint again.
 */
import type { WebSocketConstructor } from "../../src/core/index.ts";
import { startFailoverRunner } from "./endpoint-failover-runner.ts";

function env(name: string): string {
	const g = globalThis as {
		Deno?: { env: { get(name: string): string | undefined } };
		process?: { env: Record<string, string | undefined> };
	};
	const value = g.Deno ? g.Deno.env.get(name) : g.process?.env[name];
	if (!value) throw new Error(`${name} is not set`);
	return value;
}

const endpoints = JSON.parse(env("FAILOVER_ENDPOINTS")) as string[];
const WebSocket = (globalThis as { WebSocket?: WebSocketConstructor })
	.WebSocket;
if (!WebSocket) throw new Error("this runtime has no global WebSocket");
startFailoverRunner(endpoints, WebSocket, (event) =>
	console.log(JSON.stringify(event)),
);
