/**
 * Tunnel benchmark (issue 4): a minimal scripted engine drives one actor on each runner with HTTP
 * `ToClientRequestStart`s, C in flight, until N responses arrived (req/s, p50/p99 latency), then a WebSocket
 * messages/s run (one socket, W messages engine → runner, each echoed back by the actor).
 *
 * The engine and its load generator run in a worker thread, so the main thread measures the runner alone
 * (the same for both runners).
 *
 *   node bench/run.mjs tunnel [--requests 20000] [--concurrency 64] [--messages 50000]
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
	isMainThread,
	parentPort,
	Worker,
	workerData,
} from "node:worker_threads";
import { Runner as ReferenceRunner } from "@rivetkit/engine-runner";
import * as protocol from "@rivetkit/engine-runner-protocol";
import { WebSocket, WebSocketServer } from "ws";

const arg = (name: string, fallback: number): number => {
	const i = process.argv.indexOf(`--${name}`);
	return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const REQUESTS = arg("requests", 20_000);
const CONCURRENCY = arg("concurrency", 64);
const MESSAGES = arg("messages", 50_000);
const WS_WINDOW = 256;
const ACTOR = "bench-actor";
const GATEWAY = new Uint8Array([1, 2, 3, 4]).buffer;

interface Engine {
	url: string;
	/** Resolves with a send function once the runner is connected and the actor runs. */
	ready: Promise<(message: protocol.ToClient) => void>;
	onTunnel: (message: protocol.ToServerTunnelMessage) => void;
	close(): Promise<void>;
}

async function startEngine(): Promise<Engine> {
	const server = createServer();
	const wss = new WebSocketServer({
		server,
		handleProtocols: () => "rivet",
		maxPayload: 64 * 1024 * 1024,
	});
	let resolveReady!: (send: (message: protocol.ToClient) => void) => void;
	const engine: Engine = {
		url: "",
		ready: new Promise((resolve) => {
			resolveReady = resolve;
		}),
		onTunnel: () => {},
		close: async () => {
			for (const client of wss.clients) client.terminate();
			await new Promise<void>((resolve) => wss.close(() => resolve()));
			await new Promise<void>((resolve) => server.close(() => resolve()));
		},
	};
	wss.on("connection", (ws) => {
		const send = (message: protocol.ToClient) =>
			ws.send(protocol.encodeToClient(message));
		ws.on("message", (data: Buffer) => {
			const message = protocol.decodeToServer(new Uint8Array(data));
			if (message.tag === "ToServerInit") {
				send({
					tag: "ToClientInit",
					val: {
						runnerId: "bench-runner",
						metadata: {
							runnerLostThreshold: 15_000n,
							actorStopThreshold: 1_800_000n,
							serverlessDrainGracePeriod: null,
						},
					},
				});
				send({
					tag: "ToClientCommands",
					val: [
						{
							checkpoint: { actorId: ACTOR, generation: 0, index: 0n },
							inner: {
								tag: "CommandStartActor",
								val: {
									config: {
										name: "bench",
										key: null,
										createTs: BigInt(Date.now()),
										input: null,
									},
									hibernatingRequests: [],
								},
							},
						},
					],
				});
			} else if (message.tag === "ToServerEvents") {
				if (
					message.val.some(
						(e) =>
							e.inner.tag === "EventActorStateUpdate" &&
							e.inner.val.state.tag === "ActorStateRunning",
					)
				)
					// Running is sent before onActorStart finishes; both runners wait for it per request.
					resolveReady(send);
			} else if (message.tag === "ToServerTunnelMessage")
				engine.onTunnel(message.val);
		});
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	engine.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	return engine;
}

const u32 = (n: number) => {
	const b = new ArrayBuffer(4);
	new DataView(b).setUint32(0, n, true);
	return b;
};
const u32Of = (b: ArrayBuffer) => new DataView(b).getUint32(0, true);

async function httpRun(send: (m: protocol.ToClient) => void, engine: Engine) {
	const sentAt = new Float64Array(REQUESTS);
	const latencies = new Float64Array(REQUESTS);
	let sent = 0;
	let done = 0;
	const started = performance.now();
	const headers = new Map([["accept", "*/*"]]);
	const sendOne = () => {
		const id = sent++;
		sentAt[id] = performance.now();
		send({
			tag: "ToClientTunnelMessage",
			val: {
				messageId: { gatewayId: GATEWAY, requestId: u32(id), messageIndex: 0 },
				messageKind: {
					tag: "ToClientRequestStart",
					val: {
						actorId: ACTOR,
						method: "GET",
						path: "/ping",
						headers,
						body: null,
						stream: false,
					},
				},
			},
		});
	};
	await new Promise<void>((resolve) => {
		engine.onTunnel = (message) => {
			if (message.messageKind.tag !== "ToServerResponseStart") return;
			const id = u32Of(message.messageId.requestId);
			latencies[done++] = performance.now() - (sentAt[id] ?? 0);
			if (done === REQUESTS) resolve();
			else if (sent < REQUESTS) sendOne();
		};
		for (let i = 0; i < CONCURRENCY && sent < REQUESTS; i++) sendOne();
	});
	const seconds = (performance.now() - started) / 1000;
	latencies.sort();
	const pct = (p: number) =>
		latencies[Math.min(REQUESTS - 1, Math.floor(REQUESTS * p))] ?? 0;
	return {
		reqPerSec: Math.round(REQUESTS / seconds),
		p50Ms: +pct(0.5).toFixed(2),
		p99Ms: +pct(0.99).toFixed(2),
	};
}

async function wsRun(send: (m: protocol.ToClient) => void, engine: Engine) {
	const requestId = u32(0xffff_fff0);
	const tunnel = (
		index: number,
		messageKind: protocol.ToClientTunnelMessageKind,
	) =>
		send({
			tag: "ToClientTunnelMessage",
			val: {
				messageId: { gatewayId: GATEWAY, requestId, messageIndex: index },
				messageKind,
			},
		});
	await new Promise<void>((resolve) => {
		engine.onTunnel = (m) => {
			if (m.messageKind.tag === "ToServerWebSocketOpen") resolve();
		};
		tunnel(0, {
			tag: "ToClientWebSocketOpen",
			val: { actorId: ACTOR, path: "/ws", headers: new Map() },
		});
	});
	const payload = new TextEncoder().encode("x".repeat(64)).buffer;
	let sent = 0;
	let echoed = 0;
	const started = performance.now();
	const sendOne = () => {
		sent++;
		tunnel(sent & 0xffff, {
			tag: "ToClientWebSocketMessage",
			val: { data: payload, binary: true },
		});
	};
	await new Promise<void>((resolve) => {
		engine.onTunnel = (m) => {
			if (m.messageKind.tag !== "ToServerWebSocketMessage") return;
			echoed++;
			if (echoed === MESSAGES) resolve();
			else if (sent < MESSAGES) sendOne();
		};
		for (let i = 0; i < WS_WINDOW; i++) sendOne();
	});
	const seconds = (performance.now() - started) / 1000;
	return { msgPerSec: Math.round(MESSAGES / seconds) };
}

/** Both runners take an R-shaped config. */
type AnyRunner = new (
	config: Record<string, unknown>,
) => {
	start(): Promise<void> | void;
	shutdown(immediate: boolean): Promise<unknown>;
};

interface RunResult {
	reqPerSec: number;
	p50Ms: number;
	p99Ms: number;
	msgPerSec: number;
}

/** Worker side: the engine and the load. Posts its URL, then the results. */
async function engineWorker(): Promise<void> {
	const engine = await startEngine();
	parentPort?.postMessage({ url: engine.url });
	const send = await engine.ready;
	await httpRun(send, engine); // warm-up, both sides
	const http = await httpRun(send, engine);
	const ws = await wsRun(send, engine);
	parentPort?.postMessage({ result: { ...http, ...ws } });
	await engine.close();
}

async function measure(name: string, RunnerClass: AnyRunner) {
	const worker = new Worker(new URL(import.meta.url), {
		workerData: { engine: true },
		argv: process.argv.slice(2),
	});
	const url = await new Promise<string>((resolve) =>
		worker.once("message", (m: { url: string }) => resolve(m.url)),
	);
	const result = new Promise<RunResult>((resolve) =>
		worker.on("message", (m: { result?: RunResult }) => {
			if (m.result) resolve(m.result);
		}),
	);
	const runner = new RunnerClass({
		version: 1,
		endpoint: url,
		namespace: "default",
		runnerName: "bench",
		totalSlots: 10,
		prepopulateActorNames: {},
		noAutoShutdown: true,
		platform: { name: "node", WebSocket },
		onConnected: () => {},
		onDisconnected: () => {},
		onShutdown: () => {},
		fetch: async () => new Response("pong"),
		websocket: async (
			_runner: unknown,
			_actorId: string,
			ws: {
				addEventListener(
					type: string,
					listener: (event: { data: unknown }) => void,
				): void;
				send(data: unknown): void;
			},
		) => {
			ws.addEventListener("message", (event) => ws.send(event.data));
		},
		hibernatableWebSocket: { canHibernate: () => false },
		onActorStart: async () => {},
		onActorStop: async () => {},
	});
	await runner.start();
	const measured = await result;
	await runner.shutdown(true);
	await worker.terminate();
	return { name, ...measured };
}

if (!isMainThread && (workerData as { engine?: boolean })?.engine) {
	await engineWorker();
} else {
	const coreUrl = process.env.EDGERUNNER_BENCH_CORE;
	const only = process.argv[process.argv.indexOf("--only") + 1];
	const results: Array<RunResult & { name: string }> = [];
	if (!process.argv.includes("--only") || only === "reference")
		results.push(
			await measure("reference", ReferenceRunner as unknown as AnyRunner),
		);
	if (coreUrl && (!process.argv.includes("--only") || only === "ours")) {
		const core = (await import(coreUrl)) as { Runner: AnyRunner };
		results.push(await measure("ours", core.Runner));
	}
	console.log(
		`HTTP: ${REQUESTS} requests, ${CONCURRENCY} in flight; WebSocket: ${MESSAGES} echoes, ${WS_WINDOW} in flight`,
	);
	console.table(results);
	const [reference, ours] = results;
	if (reference && ours) {
		console.log(
			`ours/reference: req/s ×${(ours.reqPerSec / reference.reqPerSec).toFixed(2)}, p99 ×${(ours.p99Ms / reference.p99Ms).toFixed(2)}, ws msg/s ×${(ours.msgPerSec / reference.msgPerSec).toFixed(2)}`,
		);
	}
	process.exit(0);
}
