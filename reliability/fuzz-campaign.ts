/**
 * The whole fuzz run (issue 12 §2), shared by `npm run fuzz` (reliability/fuzz.ts) and the bounded CI run
 * (tests/reliability/fuzz.test.ts): runner side (ours, then the reference runner fed the same frames), then the
 * dev engine side; the results record RELIABILITY.md is rendered from.
 */

import { type EngineFuzzResult, fuzzEngineSide } from "./fuzz-engine-side.ts";
import { fuzzRunnerSide, type RunnerFuzzResult } from "./fuzz-runner-side.ts";
import type { ReliabilityResults } from "./results.ts";

export interface FuzzSizes {
	/** ToClient frames into our runner. */
	runnerFrames: number;
	/** The same frames (a prefix) into the reference runner; 0 skips it. */
	referenceFrames: number;
	engineFrames: number;
	badConnects: number;
	httpRequests: number;
	gatewayRequests: number;
	gatewaySockets: number;
	/** Probability of an oversized (1–8 MiB, or 20 MiB+ on the engine) frame. */
	oversizedRate: number;
	/** Wait before our runner's final heap figure (past its 60 s memory of stopped actors). */
	settleMs: number;
}

export const FULL_SIZES: FuzzSizes = {
	runnerFrames: 100_000,
	referenceFrames: 100_000,
	engineFrames: 20_000,
	badConnects: 200,
	httpRequests: 4000,
	gatewayRequests: 3000,
	gatewaySockets: 600,
	oversizedRate: 1 / 4000,
	settleMs: 61_000,
};

export const BOUNDED_SIZES: FuzzSizes = {
	runnerFrames: 12_000,
	referenceFrames: 0,
	engineFrames: 2500,
	badConnects: 30,
	httpRequests: 600,
	gatewayRequests: 400,
	gatewaySockets: 80,
	oversizedRate: 0,
	settleMs: 0,
};

export interface FuzzRun {
	ours: RunnerFuzzResult;
	reference: RunnerFuzzResult | undefined;
	engine: EngineFuzzResult;
	/** Every property that broke, with its seed and the input that shows it. */
	failed: string[];
}

export async function runFuzz(
	seed: number,
	sizes: FuzzSizes,
	progress: (line: string) => void = () => {},
): Promise<FuzzRun> {
	const ours = await fuzzRunnerSide("ours", {
		seed,
		frames: sizes.runnerFrames,
		oversizedRate: sizes.oversizedRate,
		settleMs: sizes.settleMs,
		progress,
	});
	let reference: RunnerFuzzResult | undefined;
	if (sizes.referenceFrames > 0) {
		try {
			reference = await fuzzRunnerSide("reference", {
				seed,
				frames: sizes.referenceFrames,
				oversizedRate: sizes.oversizedRate,
				batchTimeoutMs: 5000,
				progress,
			});
		} catch (error) {
			progress(`reference runner: the run itself failed: ${String(error)}`);
		}
	}
	const engine = await fuzzEngineSide({
		seed,
		frames: sizes.engineFrames,
		badConnects: sizes.badConnects,
		httpRequests: sizes.httpRequests,
		gatewayRequests: sizes.gatewayRequests,
		gatewaySockets: sizes.gatewaySockets,
		oversizedRate: sizes.oversizedRate,
		progress,
	});
	const failed: string[] = [];
	for (const [name, ok] of Object.entries(ours.checks))
		if (!ok)
			failed.push(
				`runner side (ours): \`${name}\` did not hold (seed ${seed})`,
			);
	for (const f of ours.failures)
		failed.push(
			`runner side (ours), seed ${f.seed}, frame ${f.frame} (${f.generator}): ${f.problem}; frame \`${f.hex || "-"}\``,
		);
	for (const e of ours.untypedKvErrors)
		failed.push(
			`runner side (ours): a KV request failed with an untyped error: ${e}`,
		);
	for (const u of [...ours.uncaught, ...ours.unhandledRejections])
		failed.push(`runner side (ours): crash: ${u.split("\n")[0]}`);
	for (const [name, ok] of Object.entries(engine.checks))
		if (!ok)
			failed.push(`dev engine side: \`${name}\` did not hold (seed ${seed})`);
	for (const f of engine.failures)
		failed.push(
			`dev engine side (${f.target}), seed ${f.seed}, case ${f.case} (${f.generator}): ${f.problem}; input \`${f.input.slice(0, 300)}\``,
		);
	for (const line of engine.internalErrorLines)
		failed.push(
			`dev engine side: internal error for client input: \`${line}\``,
		);
	for (const u of [...engine.uncaught, ...engine.unhandledRejections])
		failed.push(`dev engine side: crash: ${u.split("\n")[0]}`);
	return { ours, reference, engine, failed: failed.map(printable) };
}

/** Control and bidi-override characters (random close reasons) as `\u{…}`, so the Markdown stays text. */
export function printable(text: string): string {
	let out = "";
	for (const c of text) {
		const code = c.codePointAt(0) ?? 0;
		const unprintable =
			(code < 0x20 && c !== "\n" && c !== "\t") ||
			(code >= 0x7f && code <= 0x9f) ||
			(code >= 0x202a && code <= 0x202e) ||
			(code >= 0x2066 && code <= 0x2069);
		out += unprintable ? `\\u{${code.toString(16)}}` : c;
	}
	return out;
}

const table = (rows: [string, string | number][], head: [string, string]) =>
	[
		`| ${head[0]} | ${head[1]} |`,
		"|---|---:|",
		...rows.map(
			([k, v]) =>
				`| ${printable(k).replace(/\|/g, "\\|").replace(/\n/g, " ")} | ${v} |`,
		),
	].join("\n");

const entries = (
	record: Record<string, number>,
	limit = 40,
): [string, number][] => Object.entries(record).slice(0, limit);

/** The results record for RELIABILITY.md. */
export function fuzzResults(
	run: FuzzRun,
	seed: number,
	command: string,
	bounded: boolean,
): ReliabilityResults {
	const { ours, reference, engine } = run;
	const held = (ok: boolean | undefined) => (ok ? "held" : "**did not hold**");
	const expect = ours.byExpectation;
	return {
		kind: "fuzz",
		generatedAt: new Date().toISOString(),
		command,
		bounded,
		seeds: [seed],
		tried: [
			`Runner side: ${ours.frames} \`ToClient\` frames into a live runner (src/core \`Runner\`, Node \`ws\` platform) through a fake engine socket, ${ours.connections} connections: ${expect.ok ?? 0} valid, ${expect.answer ?? 0} decodable but wrong (must be logged or answered), ${expect.close ?? 0} undecodable (must close \`4000 runner.invalid_frame\` with a typed \`protocol_invalid_frame\` error), ${expect.any ?? 0} random or mutated that still decode; plus ${ours.preInitFrames} frames before the handshake's \`ToClientInit\` and ${ours.afterShutdown?.framesDuringDrain ?? 0} while draining, then frames after the close. Generators: ${Object.entries(
				ours.byGenerator,
			)
				.map(([g, n]) => `${g} ${n}`)
				.join(", ")}.`,
			`Runner side, the reference runner (\`@rivetkit/engine-runner\` 2.2.1): ${reference ? `the first ${reference.frames} of the same frames (same seed)` : "not run"}.`,
			`Dev engine side (src/engine \`startEngine\`): ${engine.counts["runner-socket frames"] ?? 0} \`ToServer\` frames on an initialised runner socket, one at a time with a KV probe after each (${Object.entries(
				engine.byGenerator,
			)
				.filter(([g]) => !g.startsWith("connect-"))
				.map(([g, n]) => `${g} ${n}`)
				.join(
					", ",
				)}); ${engine.counts["bad connects"] ?? 0} refused connects (${Object.entries(
				engine.byGenerator,
			)
				.filter(([g]) => g.startsWith("connect-"))
				.map(([g, n]) => `${g.slice(8)} ${n}`)
				.join(", ")}).`,
			`Dev engine HTTP API: ${engine.counts["HTTP API requests"] ?? 0} requests with odd methods (incl. FOO, TRACE, lowercase), paths (traversal, percent-encoding junk, 3000-char ids), query strings, headers (content types, content encodings, tokens, 12 KB values), bodies (invalid JSON, 200k-deep nesting, 1–4 MB JSON, random bytes), and raw request lines Node's client will not send.`,
			`Dev engine gateway: ${engine.counts["gateway HTTP requests"] ?? 0} HTTP requests to \`/gateway/{id}/…\` (a live echo actor hosted by our runner, unknown and malformed ids, \`@token\` suffixes, header addressing) with odd methods, paths and headers; ${engine.counts["gateway WebSockets"] ?? 0} WebSockets with odd paths and subprotocols (\`rivet_actor.%ff\`, tokens, none), random text and binary frames up to 2 MB, and close codes 1000–4999 with random reasons.`,
		],
		held: [
			`Nothing crashed: ${ours.uncaught.length + engine.uncaught.length} uncaught exceptions, ${ours.unhandledRejections.length + engine.unhandledRejections.length} unhandled rejections — ${held(ours.checks.noCrash && engine.checks.noCrash)}.`,
			`Nothing hung: every batch's ping came back (${ours.hangs} hangs), every frame's handling finished within 1000 ms (max ${ours.frameMs?.max ?? "-"} ms), ${ours.probes} probe actors started, answered HTTP through the tunnel and stopped — ${held(ours.checks.noHang && ours.checks.probesAnswered)}.`,
			`Every undecodable frame closed the socket \`4000 runner.invalid_frame\` with a typed \`protocol_invalid_frame\` error log, every decodable wrong frame produced a log line or a protocol answer, no valid frame logged an error — ${held(ours.failures.length === 0)}.`,
			`Nothing leaked (runner side): heap ${ours.heapStartMb} MB after warm-up, ${ours.heapEndMb} MB at the end after gc (bound +24 MB; the end figure taken after the runner's 60 s memory of stopped actors has passed, in a full run) — ${held(ours.checks.heapBounded)}; every actor stopped (${held(ours.checks.allActorsStopped)}), every \`fetch\` handler finished (${held(ours.checks.allHandlersFinished)}), every non-hibernatable tunnelled WebSocket got its close event (${held(ours.checks.allSocketsClosed)}), every KV failure typed (${
				Object.entries(ours.kvErrors)
					.map(([k, n]) => `${k} ${n}`)
					.join(", ") || "none"
			}) (${held(ours.checks.kvErrorsTyped)}).`,
			`Wrong state: frames before \`ToClientInit\` and during a drain were handled; the drain then ended on its own with \`1000 pegboard.runner_shutdown\` (reason \`${ours.afterShutdown?.reason ?? "-"}\`) — ${held(ours.checks.drainEndsCleanly)}.`,
			`Dev engine: every KV request answered with a KV response (${engine.counts["kv answers"] ?? 0}), every undecodable frame logged, every refused connect closed with its documented reason, never \`1011 core.internal_error\` — ${held(engine.failures.filter((f) => f.target.startsWith("runner")).length === 0 && engine.checks.noInternalError)}.`,
			`Dev engine HTTP API and gateway: no 5xx for client input, every 4xx with the \`{group, code, message}\` shape, every WebSocket opened, refused or closed with a defined code — ${held(engine.failures.filter((f) => !f.target.startsWith("runner")).length === 0)}.`,
			`Dev engine still serves after everything: a new runner connects (${held(engine.checks.runnerConnectsAfter)}), the API answers (${held(engine.checks.apiAnswersAfter)}), the echo actor answers through the gateway (${held(engine.checks.gatewayServesAfter)}); \`close()\` finishes within 2 s (${held(engine.checks.engineClosesWithin2s)}); heap ${engine.heapStartMb} → ${engine.heapEndMb} MB (bound +48 MB) — ${held(engine.checks.heapBounded)}.`,
		],
		failed: run.failed,
		figures: [
			table(
				[
					["runner side: frames", ours.frames],
					[
						"runner side: frames/s (with reconnects after each undecodable frame)",
						ours.framesPerSecond,
					],
					[
						"runner side: handling time per frame p50 / p99 / max (ms)",
						`${ours.frameMs?.p50} / ${ours.frameMs?.p99} / ${ours.frameMs?.max}`,
					],
					[
						"runner side: heap start → end (MB, after gc)",
						`${ours.heapStartMb} → ${ours.heapEndMb}`,
					],
					["runner side: engine connections", ours.connections],
					["runner side: duration (s)", Math.round(ours.durationMs / 100) / 10],
					[
						"dev engine: ToServer frames/s (lock-step with a probe)",
						engine.framesPerSecond,
					],
					[
						"dev engine: heap start → end (MB, after gc)",
						`${engine.heapStartMb} → ${engine.heapEndMb}`,
					],
					[
						"dev engine: duration (s)",
						Math.round(engine.durationMs / 100) / 10,
					],
				],
				["figure", "value"],
			),
			"",
			"Log lines of our runner, by kind (the error kinds it reported):",
			"",
			table(entries(ours.logKinds), ["level: message (code)", "count"]),
			"",
			"How our runner closed its engine socket:",
			"",
			table(entries(ours.closeReasons), ["code reason", "count"]),
			"",
			"Close events the actors' tunnelled WebSockets saw:",
			"",
			table(entries(ours.actorSocketCloses), ["code reason", "count"]),
			"",
			"Dev engine: close reasons on the runner socket, HTTP API statuses, gateway statuses, WebSocket gateway outcomes, error codes:",
			"",
			table(entries(engine.closeReasons), ["runner socket close", "count"]),
			"",
			table(entries(engine.httpStatuses), ["HTTP API status", "count"]),
			"",
			table(entries(engine.gatewayStatuses), ["gateway HTTP status", "count"]),
			"",
			table(entries(engine.wsOutcomes), ["gateway WebSocket outcome", "count"]),
			"",
			table(entries(engine.errorCodes), [
				"error (KV message or HTTP group.code)",
				"count",
			]),
			"",
			table(entries(engine.logKinds), ["dev engine log line", "count"]),
		].join("\n"),
		reference: printable(referenceText(reference, ours)),
	};
}

function referenceText(
	reference: RunnerFuzzResult | undefined,
	ours: RunnerFuzzResult,
): string {
	if (!reference)
		return "The reference runner was not run in this (bounded) run: `npm run fuzz` feeds it the same frames.";
	const closes = Object.entries(reference.closeReasons)
		.map(([k, n]) => `${k || "(none)"} ×${n}`)
		.join(", ");
	return [
		`\`@rivetkit/engine-runner\` 2.2.1 was fed the first ${reference.frames} of the same frames (seed ${reference.seed}), in the same run, through the same fake engine socket. Findings, not failures of this run:`,
		"",
		`- uncaught exceptions: ${reference.crashCounts.uncaught}${reference.uncaught[0] ? ` (first: \`${reference.uncaught[0].split("\n")[0]}\`)` : ""};`,
		`- unhandled promise rejections: ${reference.crashCounts.unhandledRejections}${reference.unhandledRejections[0] ? ` (first: \`${reference.unhandledRejections[0].split("\n")[0]?.slice(0, 200)}\`)` : ""};`,
		`- hangs (a batch's ping not answered within 5 s, or a drain that did not end within 15 s once its actors were stopped): ${reference.hangs}; its drain ended: ${reference.afterShutdown?.reason === "timeout" ? "no (timeout)" : (reference.afterShutdown?.reason ?? "not reached")};`,
		`- engine connections: ${reference.connections} (ours: ${ours.connections} for ${ours.frames} frames: we close on every undecodable frame, \`4000 runner.invalid_frame\`); its socket closes: ${closes || "none"};`,
		`- probe actors answered: ${reference.checks.probesAnswered ? "yes" : "no"}; every actor stopped at the end: ${reference.checks.allActorsStopped ? "yes" : "no"}; heap ${reference.heapStartMb} → ${reference.heapEndMb} MB;`,
		`- frames/s: ${reference.framesPerSecond} (ours: ${ours.framesPerSecond});`,
		`- its log lines by kind (top): ${Object.entries(reference.logKinds)
			.slice(0, 8)
			.map(([k, n]) => `\`${k}\` ×${n}`)
			.join(", ")}.`,
	].join("\n");
}
