/**
 * HTTP tunnel: one running actor; the engine sends `requests` ToClientRequestStart (POST /echo with a body of
 * `bodyBytes`) keeping `concurrency` in flight, and times each until its ToServerResponseStart arrives (which must
 * be a 200 echoing the body). Throughput is requests over the time from the first send to the last response.
 */
import { performance } from "node:perf_hooks";
import type { RunnerKind } from "./bench-runners.ts";
import {
	closeBenchSession,
	openBenchSession,
	startActors,
} from "./bench-session.ts";
import {
	RequestFrameTemplate,
	readResponseStartSummary,
	requestIdNumber,
} from "./tunnel-frames.ts";

export interface HttpWorkload {
	requests: number;
	concurrency: number;
	bodyBytes: number;
}

export interface HttpSample {
	requestsPerSec: number;
	/** Per-request latency, ms, in send order. */
	latenciesMs: Float64Array;
}

export async function measureHttp(
	kind: RunnerKind,
	work: HttpWorkload,
	timeoutMs: number,
): Promise<HttpSample> {
	const body = new Uint8Array(work.bodyBytes).fill(0x61).buffer as ArrayBuffer;
	const first = new RequestFrameTemplate(body);
	const slots = Array.from(
		{ length: Math.min(work.concurrency, work.requests) },
		(_, i) => (i === 0 ? first : new RequestFrameTemplate(body, first)),
	);
	const session = await openBenchSession(kind);
	const { conn } = session;
	try {
		await startActors(conn, ["http-actor"], timeoutMs);
		const sentAt = new Float64Array(work.requests);
		const latencies = new Float64Array(work.requests);
		const slotOf = new Int32Array(work.requests);
		let next = 0;
		let done = 0;
		const send = (slot: number) => {
			const id = next++;
			const template = slots[slot] as RequestFrameTemplate;
			template.setRequestId(id);
			slotOf[id] = slot;
			sentAt[id] = performance.now();
			conn.sendRaw(template.frame);
		};
		let t0 = 0;
		const finished = new Promise<number>((resolve, reject) => {
			const stop = (error?: Error, at?: number) => {
				clearTimeout(timer);
				unsubscribeRaw();
				unsubscribe();
				if (error) reject(error);
				else resolve(at as number);
			};
			const timer = setTimeout(
				() =>
					stop(
						new Error(`http: ${done}/${work.requests} after ${timeoutMs} ms`),
					),
				timeoutMs,
			);
			// Responses are read without decoding them whole (see readResponseStartSummary).
			const unsubscribeRaw = conn.onRawFrame((frame, at) => {
				const response = readResponseStartSummary(frame);
				if (!response) return false;
				const id = response.requestId;
				if (response.status !== 200 || response.bodyBytes !== work.bodyBytes) {
					stop(
						new Error(
							`http: request ${id} got status ${response.status} with ${response.bodyBytes} body bytes`,
						),
					);
					return true;
				}
				latencies[id] = at - (sentAt[id] as number);
				if (++done === work.requests) stop(undefined, at);
				else if (next < work.requests) send(slotOf[id] as number);
				return true;
			});
			// Any other tunnel message (an abort, …) is a failed request.
			const unsubscribe = conn.onMessage((message) => {
				if (message.tag !== "ToServerTunnelMessage") return;
				const { messageId, messageKind } = message.val;
				stop(
					new Error(
						`http: request ${requestIdNumber(messageId.requestId)} got ${messageKind.tag}`,
					),
				);
			});
		});
		t0 = performance.now();
		for (let slot = 0; slot < slots.length; slot++) send(slot);
		const end = await finished;
		return {
			requestsPerSec: (work.requests * 1000) / (end - t0),
			latenciesMs: latencies,
		};
	} finally {
		await closeBenchSession(session);
	}
}
