/**
 * `npm run load [-- --quick] [--minutes M] [--engines dev,rivet] [--runners ours,reference]
 * [--only actors,sockets,http,sigterm] [--sockets N]`: the load report of issue 12 §3. Runs the scenarios of load-scenarios.ts
 * on the dev engine and the real Rivet Engine, for our runner and the reference runner R, writes
 * reliability/results/load.json and re-renders RELIABILITY.md. A report, not a timed test: it exits non-zero
 * only when an exactness check of ours fails (a request lost or hung, a socket or actor miscounted, a drain
 * report not exact); R's failed checks are findings.
 */
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import type { LatencyPercentiles } from "../bench/latency-percentiles.ts";
import type { EngineKind } from "../tests/helpers/engines.ts";
import { rivetEngineBinary } from "../tests/helpers/rivet-engine.ts";
import { formatTally } from "./load-clients.ts";
import {
	type ActorsResult,
	actorsOnOneRunner,
	type Check,
	clientWebSockets,
	type RunnerKindName,
	type SigtermOptions,
	type SigtermResult,
	type SocketsResult,
	type SustainedResult,
	sigtermInFlight,
	sustainedHttp,
} from "./load-scenarios.ts";
import { writeReliability } from "./report.ts";
import { type ReliabilityResults, writeResults } from "./results.ts";

type Scenario = "actors" | "sockets" | "http" | "sigterm";
const SCENARIOS: Scenario[] = ["actors", "sockets", "http", "sigterm"];

interface Sizes {
	actors: Record<EngineKind, number>;
	sockets: Record<EngineKind, number>;
	socketActors: number;
	httpSeconds: Record<EngineKind, number>;
	/** R's sustained HTTP: a third of ours' (the run's time budget), at least 10 s. */
	referenceHttpSeconds: number;
	httpConcurrency: number;
	windowSeconds: number;
	sigterm: Record<EngineKind, SigtermOptions>;
}

function sizes(quick: boolean, minutes: number): Sizes {
	const seconds = Math.round(minutes * 60);
	const sigterm = (actors: number, requests: number): SigtermOptions => ({
		requests,
		actors,
		stuckActors: Math.max(1, Math.round(actors / 20)),
		drainBudgetMs: 5000,
		exitBoundMs: 60_000,
		requestBoundMs: 90_000,
		timeoutMs: 60_000,
	});
	return quick
		? {
				actors: { dev: 2000, rivet: 40 },
				sockets: { dev: 200, rivet: 100 },
				socketActors: 10,
				httpSeconds: { dev: seconds, rivet: seconds },
				referenceHttpSeconds: Math.max(10, Math.round(seconds / 3)),
				httpConcurrency: 16,
				windowSeconds: 10,
				sigterm: { dev: sigterm(20, 200), rivet: sigterm(10, 200) },
			}
		: {
				// The real engine creates ≈ 7.6 actors/s through its API on this machine: 10 000 would take 22 min.
				actors: { dev: 10_000, rivet: 200 },
				sockets: { dev: 1000, rivet: 250 },
				socketActors: 10,
				httpSeconds: { dev: seconds, rivet: seconds },
				referenceHttpSeconds: Math.max(10, Math.round(seconds / 3)),
				httpConcurrency: 16,
				windowSeconds: 10,
				// 1 000 at once through the Rivet Engine: it answered 786 of them 504 pegboard.route_subscribe_timeout.
				sigterm: { dev: sigterm(100, 1000), rivet: sigterm(20, 200) },
			};
}

function listArg(args: string[], name: string, all: string[]): string[] {
	const i = args.indexOf(name);
	if (i < 0) return all;
	const list = (args[i + 1] ?? "").split(",").filter(Boolean);
	const unknown = list.filter((item) => !all.includes(item));
	if (unknown.length)
		throw new Error(
			`${name}: unknown ${unknown.join(", ")} (${all.join(", ")})`,
		);
	return list;
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(2)} KiB`;
const ms = (value: number) =>
	Number.isFinite(value)
		? value >= 10_000
			? `${(value / 1000).toFixed(1)} s`
			: `${Math.round(value)} ms`
		: "—";
const fixed = (value: number | undefined, digits = 1) =>
	value === undefined || !Number.isFinite(value) ? "—" : value.toFixed(digits);
const ratio = (r: number | undefined, ours: number | undefined) =>
	r === undefined || ours === undefined || ours <= 0
		? "—"
		: `${(r / ours).toFixed(2)}×`;
const engineName = (engine: EngineKind) =>
	engine === "dev" ? "dev engine" : "Rivet Engine 2.3.19";
const runnerName = (runner: RunnerKindName) =>
	runner === "ours" ? "ours" : "R (engine-runner 2.2.1)";
const percentiles = (p: LatencyPercentiles | null) =>
	p
		? `${fixed(p.p50, 2)} / ${fixed(p.p90, 2)} / ${fixed(p.p99, 2)} / ${fixed(p.max, 1)}`
		: "—";

interface Run {
	actors: ActorsResult[];
	sockets: SocketsResult[];
	http: SustainedResult[];
	sigterm: SigtermResult[];
	/** A scenario that could not run: what and why. */
	errors: string[];
	skipped: string[];
}

function actorsTable(results: ActorsResult[]): string {
	const rows = results.map(
		(r) =>
			`| ${engineName(r.engine)} | ${runnerName(r.runner)} | ${r.started} of ${r.requested} | ${formatTally(r.createFailures)} | ${ms(r.allStartedMs)} | ${kb(r.heapPerActorBytes)} | ${kb(r.rssPerActorBytes)} |`,
	);
	return [
		"| engine | runner | actors started | creates failed | first create → last start | heap per actor | RSS per actor |",
		"| --- | --- | ---: | --- | ---: | ---: | ---: |",
		...rows,
	].join("\n");
}

function socketsTable(results: SocketsResult[]): string {
	const rows = results.map(
		(r) =>
			`| ${engineName(r.engine)} | ${runnerName(r.runner)} | ${r.opened} of ${r.requested} | ${formatTally(r.failures)} | ${ms(r.openMs)} | ${kb(r.heapPerSocketBytes)} | ${kb(r.rssPerSocketBytes)} | ${r.runnerOpened} / ${r.runnerClosed} |`,
	);
	return [
		"| engine | runner | sockets open at once (each echoed) | failed | time to open all | heap per socket | RSS per socket | seen / closed at the actors |",
		"| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |",
		...rows,
	].join("\n");
}

function httpTables(results: SustainedResult[]): string {
	const summary = [
		"| engine | runner | duration | in flight | requests answered | req/s | p50 / p90 / p99 / max (ms) | p99 first → last window (ms) | failed | runner heap start → end |",
		"| --- | --- | ---: | ---: | ---: | ---: | --- | --- | --- | --- |",
		...results.map(
			(r) =>
				`| ${engineName(r.engine)} | ${runnerName(r.runner)} | ${r.seconds} s | ${r.concurrency} | ${r.total.answered} of ${r.total.requests} | ${fixed(r.total.perSec, 0)} | ${percentiles(r.overall)} | ${fixed(r.windows[0]?.percentiles?.p99, 1)} → ${fixed(r.windows.at(-1)?.percentiles?.p99, 1)} | ${formatTally(r.failures)} | ${(r.heapStartBytes / 2 ** 20).toFixed(1)} → ${(r.heapEndBytes / 2 ** 20).toFixed(1)} MiB |`,
		),
	].join("\n");
	const perWindow = results.map((r) => {
		const width = r.windows[1]?.fromS ?? r.seconds;
		return [
			`Per ${width} s window, ${runnerName(r.runner)} through the ${engineName(r.engine)} (ms):`,
			"",
			"| window | answered | p50 | p90 | p99 | max | failed |",
			"| --- | ---: | ---: | ---: | ---: | ---: | --- |",
			...r.windows.map(
				(w) =>
					`| ${w.fromS}–${Math.min(w.fromS + width, r.seconds)} s | ${w.answered} | ${fixed(w.percentiles?.p50, 2)} | ${fixed(w.percentiles?.p90, 2)} | ${fixed(w.percentiles?.p99, 2)} | ${fixed(w.percentiles?.max, 1)} | ${formatTally(w.failures)} |`,
			),
		].join("\n");
	});
	return [summary, ...perWindow].join("\n\n");
}

function sigtermTable(results: SigtermResult[]): string {
	const rows = results.map((r) => {
		const report = r.terminated?.report;
		const reportText = report
			? `${report.reason}, ${report.mode}, ${report.actorsStopped} stopped, ${report.actorsAbandoned} abandoned, ${report.durationMs} ms`
			: r.runner === "reference"
				? "none (R has no shutdown report)"
				: "none received";
		const early = Object.values(r.endedBeforeSigterm).reduce(
			(a, b) => a + b,
			0,
		);
		const inFlight = `${r.options.requests - early} of ${r.options.requests} to ${r.options.actors} actors (${r.options.stuckActors} stuck)${early ? `; ended before SIGTERM: ${formatTally(r.endedBeforeSigterm)}` : ""}`;
		return `| ${engineName(r.engine)} | ${runnerName(r.runner)} | ${inFlight} | ${formatTally(r.outcomes)} | ${r.lostResponses} | ${r.exitedInTime ? ms(r.drainMs) : `killed after ${ms(r.drainMs)}`} | ${reportText} | ${ms(r.recoverMs)} | ${ms(r.sigtermToRecoveredMs)} | ${ms(r.slowestMs)} |`;
	});
	return [
		"| engine | runner | in flight at SIGTERM | outcomes at the clients | responses the drained runner's app produced that never reached their client | SIGTERM → exit (time to drain) | the runner's drain report | time to recover (replacement spawned → every actor answers) | SIGTERM → recovered | slowest request |",
		"| --- | --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: |",
		...rows,
	].join("\n");
}

function referenceText(run: Run): string {
	const lines: string[] = [];
	const pair = <T extends { engine: EngineKind; runner: RunnerKindName }>(
		list: T[],
	) =>
		(["dev", "rivet"] as EngineKind[])
			.map((engine) => ({
				engine,
				ours: list.find((r) => r.engine === engine && r.runner === "ours"),
				reference: list.find(
					(r) => r.engine === engine && r.runner === "reference",
				),
			}))
			.filter((p) => p.ours && p.reference) as {
			engine: EngineKind;
			ours: T;
			reference: T;
		}[];
	for (const { engine, ours, reference } of pair(run.actors))
		lines.push(
			`${reference.started} actors on one runner through the ${engineName(engine)}: R holds ${kb(reference.heapPerActorBytes)} of heap per actor, ${ratio(reference.heapPerActorBytes, ours.heapPerActorBytes)} ours (RSS ${ratio(reference.rssPerActorBytes, ours.rssPerActorBytes)}); all started ${ratio(reference.allStartedMs, ours.allStartedMs)} ours' time.`,
		);
	for (const { engine, ours, reference } of pair(run.sockets))
		lines.push(
			`${reference.opened} client WebSockets through the ${engineName(engine)}: R holds ${kb(reference.heapPerSocketBytes)} of heap per socket, ${ratio(reference.heapPerSocketBytes, ours.heapPerSocketBytes)} ours (RSS ${ratio(reference.rssPerSocketBytes, ours.rssPerSocketBytes)}).`,
		);
	for (const { engine, ours, reference } of pair(run.http))
		lines.push(
			`Sustained HTTP through the ${engineName(engine)} (R ${reference.seconds} s, ours ${ours.seconds} s): R's p50 ${ratio(reference.overall?.p50, ours.overall?.p50)} ours, p99 ${ratio(reference.overall?.p99, ours.overall?.p99)}, req/s ${ratio(reference.total.perSec, ours.total.perSec)}.`,
		);
	for (const r of run.sigterm.filter((s) => s.runner === "reference")) {
		const failed = r.checks.filter((c) => !c.held);
		lines.push(
			`SIGTERM under ${r.options.requests} in-flight requests through the ${engineName(r.engine)}: R drains on its own SIGTERM handler (\`shutdown(false)\`) with no drain budget of its own (it waits up to 120 s for its actors), and does not end the process (\`exit\` false): the harness ends it after \`onShutdown\`. Time to drain ${r.exitedInTime ? ms(r.drainMs) : `over ${ms(r.drainMs)} (killed)`}; outcomes ${formatTally(r.outcomes)}. ${failed.length ? `Checks that did not hold for R: ${failed.map((c) => c.what).join("; ")}.` : "Every check held for R too."}`,
		);
	}
	for (const check of [...run.actors, ...run.sockets, ...run.http].flatMap(
		(r) => (r.runner === "reference" ? r.checks.filter((c) => !c.held) : []),
	))
		lines.push(`Did not hold for R: ${check.what}.`);
	if (lines.length === 0)
		return "R was not measured in this run (`--runners` left it out).";
	return lines.map((line) => `- ${line}`).join("\n");
}

async function main(): Promise<void> {
	const args = process.argv.slice(2);
	const quick = args.includes("--quick");
	const minutesAt = args.indexOf("--minutes");
	const minutes =
		minutesAt >= 0 ? Number(args[minutesAt + 1]) : quick ? 0.25 : 3;
	if (!Number.isFinite(minutes) || minutes <= 0)
		throw new Error("--minutes takes a positive number");
	let engines = listArg(args, "--engines", ["dev", "rivet"]) as EngineKind[];
	const runners = listArg(args, "--runners", [
		"ours",
		"reference",
	]) as RunnerKindName[];
	const only = listArg(args, "--only", SCENARIOS) as Scenario[];
	const size = sizes(quick, minutes);
	const socketsAt = args.indexOf("--sockets");
	if (socketsAt >= 0) {
		const n = Number(args[socketsAt + 1]);
		if (!Number.isInteger(n) || n <= 0)
			throw new Error("--sockets takes a positive integer");
		size.sockets = { dev: n, rivet: n };
	}
	const run: Run = {
		actors: [],
		sockets: [],
		http: [],
		sigterm: [],
		errors: [],
		skipped: [],
	};
	try {
		rivetEngineBinary();
	} catch (error) {
		if (engines.includes("rivet"))
			run.skipped.push(`the Rivet Engine: ${String(error)}`);
		engines = engines.filter((e) => e !== "rivet");
	}
	const loadAtStart = loadavg();
	const began = performance.now();
	const attempt = async <T>(what: string, fn: () => Promise<T>) => {
		const t = performance.now();
		console.log(`load: ${what} …`);
		try {
			const result = await fn();
			console.log(`load: ${what} done in ${ms(performance.now() - t)}`);
			return result;
		} catch (error) {
			const message = error instanceof Error ? error.message : String(error);
			console.log(`load: ${what} could not run: ${message}`);
			run.errors.push(`${what}: ${message}`);
			return undefined;
		}
	};
	const push = <T>(list: T[], value: T | undefined) => {
		if (value !== undefined) list.push(value);
	};
	for (const engine of engines) {
		for (const runner of runners) {
			const label = `${runnerName(runner)} on the ${engineName(engine)}`;
			if (only.includes("actors"))
				push(
					run.actors,
					await attempt(`${size.actors[engine]} actors, ${label}`, () =>
						actorsOnOneRunner(engine, runner, size.actors[engine], 300_000),
					),
				);
			if (only.includes("sockets"))
				push(
					run.sockets,
					await attempt(`${size.sockets[engine]} sockets, ${label}`, () =>
						clientWebSockets(
							engine,
							runner,
							size.sockets[engine],
							size.socketActors,
							60_000,
						),
					),
				);
			if (only.includes("http")) {
				const seconds =
					runner === "ours"
						? size.httpSeconds[engine]
						: size.referenceHttpSeconds;
				push(
					run.http,
					await attempt(`${seconds} s of HTTP, ${label}`, () =>
						sustainedHttp(
							engine,
							runner,
							seconds,
							size.httpConcurrency,
							size.windowSeconds,
							60_000,
						),
					),
				);
			}
			if (only.includes("sigterm")) {
				// With stuck actors (the budget runs out) everywhere; a clean drain too on the dev engine.
				const variants = [size.sigterm[engine]];
				if (engine === "dev")
					variants.push({ ...size.sigterm[engine], stuckActors: 0 });
				for (const options of variants)
					push(
						run.sigterm,
						await attempt(
							`SIGTERM under ${options.requests} requests (${options.stuckActors} stuck actors), ${label}`,
							() => sigtermInFlight(engine, runner, options),
						),
					);
			}
		}
	}
	const loadAtEnd = loadavg();
	const checks: Check[] = [
		...run.actors,
		...run.sockets,
		...run.http,
		...run.sigterm,
	].flatMap((r) => r.checks);
	// On the real engine, a check that fails for both runners in the same run is the engine's: a finding, not ours.
	const failsForR = (c: Check) =>
		checks.some(
			(r) =>
				r.runner === "reference" &&
				r.key === c.key &&
				r.engine === c.engine &&
				!r.held,
		);
	const engineFindings = checks.filter(
		(c) =>
			c.runner === "ours" && !c.held && c.engine === "rivet" && failsForR(c),
	);
	const oursFailed = checks.filter(
		(c) => c.runner === "ours" && !c.held && !engineFindings.includes(c),
	);
	const command = `npm run load${args.length ? ` -- ${args.join(" ")}` : ""}`;
	const held = checks
		.filter((c) => c.runner === "ours")
		.map(
			(c) =>
				`${c.held ? "held" : engineFindings.includes(c) ? "**did not hold, with R too (the engine's, not counted as ours)**" : "**did not hold**"}: ${c.what}`,
		);
	const sigtermDev = size.sigterm.dev;
	const results: ReliabilityResults = {
		kind: "load",
		generatedAt: new Date().toISOString(),
		command,
		bounded: quick,
		seeds: [],
		tried: [
			`Each scenario on a fresh engine (the embedded dev engine, and the real Rivet Engine 2.3.19 as a child process), with the runner in a child process of its own (reliability/load-child-runner.ts; ours set up as \`edgerunner/node\`'s \`startRunner\` does) and the clients in the parent: ${engines.map(engineName).join(" and ")}; runners ${runners.map(runnerName).join(" and ")}.`,
			`Many actors on one runner: ${size.actors.dev} through the dev engine, ${size.actors.rivet} through the Rivet Engine (it creates ≈ 7.6 actors/s through its API on this machine, so 10 000 would take ≈ 22 min), created through the API (${32} / 2 creates in flight); memory is the runner process's heap and RSS after two forced collections, before and after, divided by the actors started.`,
			`${size.sockets.dev} client WebSockets open at once through the dev engine's gateway (${size.sockets.rivet} through the Rivet Engine's: at 1 000 it took 47–150 s to open them on this machine, failed 7 (ours) and 323 (R) with 1011 or a 30 s open timeout, and passed on only part of the clients' closes within 60 s, with either runner) to ${size.socketActors} actors, opened 100 at a time, each echoing one message; memory per socket as above; then all closed, and the actors must see every close.`,
			`Sustained HTTP: POST 1 KiB to an echo through the gateway, ${size.httpConcurrency} in flight over keep-alive connections, ${size.httpSeconds.dev} s through each engine for ours and ${size.referenceHttpSeconds} s for R (a third, for the run's time budget); latency percentiles per ${size.windowSeconds} s window (\`--minutes\` sets ours' duration).`,
			`SIGTERM under in-flight requests: ${sigtermDev.requests} long-poll requests to ${sigtermDev.actors} actors (${size.sigterm.rivet.requests} to ${size.sigterm.rivet.actors} on the Rivet Engine) are all in the runner's handlers when it gets SIGTERM. Each handler answers 0–500 ms after its actor is told to stop, and the app's \`onActorStop\` waits for its requests, except on ${sigtermDev.stuckActors} "stuck" actors (${size.sigterm.rivet.stuckActors} on the Rivet Engine) whose requests never answer, so they cannot stop within ours' ${sigtermDev.drainBudgetMs / 1000} s drain budget; on the dev engine also with no stuck actor (a drain that completes). A replacement runner is started as soon as the process exits; the actors (crash policy \`restart\`) come back on it and the stuck actors' requests are retried there by the gateway. Compared: each client's outcome, which process answered, the ids the drained runner's app answered, and its shutdown report.`,
			`Machine: 2 cores shared with 4 other engineers running tests; load average ${loadAtStart.map((l) => l.toFixed(2)).join(" / ")} (1 / 5 / 15 min) at the start, ${loadAtEnd.map((l) => l.toFixed(2)).join(" / ")} at the end; the run took ${ms(performance.now() - began)}. Absolute figures are noisy; ratios measured in the same run less so.`,
			...run.skipped.map((s) => `Skipped: ${s}.`),
		],
		held,
		failed: [
			...oursFailed.map((c) => c.what),
			...run.errors.map((e) => `could not run: ${e}`),
		],
		figures: [
			run.actors.length
				? `#### Many actors on one runner\n\n${actorsTable(run.actors)}`
				: "",
			run.sockets.length
				? `#### Client WebSockets through the gateway\n\n${socketsTable(run.sockets)}`
				: "",
			run.http.length
				? `#### Sustained HTTP, latency over time\n\n${httpTables(run.http)}`
				: "",
			run.sigterm.length
				? `#### SIGTERM under in-flight requests\n\n${sigtermTable(run.sigterm)}\n\n"2xx from the drained runner": answered by the runner that got SIGTERM, during its drain; "2xx from its replacement": retried by the gateway and answered by the next runner. Time to recover counts from the replacement's spawn (Node start, connect, actors allocated and started) to every actor answering through the gateway.`
				: "",
		]
			.filter(Boolean)
			.join("\n\n"),
		reference: referenceText(run),
	};
	const file = writeResults(process.cwd(), results);
	writeReliability(process.cwd());
	console.log(`wrote ${file} and RELIABILITY.md`);
	for (const line of results.failed) console.log(`FAILED: ${line}`);
	if (oursFailed.length > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
	console.error(error);
	process.exitCode = 2;
});
