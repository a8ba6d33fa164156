/** The shape of bench/results.json: every figure as median and range over rounds (SampleSummary). */

import type { RunnerName } from "./bench-runners.ts";
import type { BundleSize } from "./bundle-size.ts";
import type { SampleSummary } from "./sample-summary.ts";
import type { EngineSetup, ModeName } from "./suite-modes.ts";

export interface MachineInfo {
	cpu: string;
	cores: number;
	memoryGiB: number;
	platform: string;
	/** os.loadavg() (1, 5, 15 min) when the run started and ended: the machine is shared. */
	loadAverageStart: number[];
	loadAverageEnd: number[];
}

export interface LifecycleFigure {
	runner: RunnerName;
	n: number;
	startsPerSec: SampleSummary;
	stopsPerSec: SampleSummary;
}

export interface HeapFigure {
	runner: RunnerName;
	n: number;
	bytesPerActor: SampleSummary;
}

export interface HttpFigure {
	runner: RunnerName;
	concurrency: number;
	bodyBytes: number;
	requests: number;
	requestsPerSec: SampleSummary;
	p50Ms: SampleSummary;
	p99Ms: SampleSummary;
	/** [percentile, ms] over all requests of all rounds. */
	distribution: [number, number][];
}

export interface WebSocketFigure {
	runner: RunnerName;
	mode: "oneway" | "echo";
	bytes: number;
	messages: number;
	messagesPerSec: SampleSummary;
}

export interface DrainFigure {
	runner: RunnerName;
	n: number;
	lastStopToCloseMs: SampleSummary;
	wholeDrainMs: SampleSummary;
	/** From the drain call to the engine receiving ToServerStopping. */
	stoppingMs: SampleSummary;
}

export interface ReconnectFigure {
	runner: RunnerName;
	/** Every close → init sample of every round. */
	latencyMs: SampleSummary;
	distribution: [number, number][];
}

export interface RealEngineHttpFigure {
	concurrency: number;
	bodyBytes: number;
	seconds: number;
	/** Rates and latencies of the requests answered 200 with the whole echo. */
	requestsPerSec: SampleSummary;
	p50Ms: SampleSummary;
	p99Ms: SampleSummary;
	/** Requests answered over all rounds, and those that failed, by kind ("504", "timeout", …). */
	requests: number;
	failed: number;
	failures: Record<string, number>;
	/** CPU ms per request of the engine process and of the runner's process, less their idle CPU. */
	engineCpuMsPerRequest: SampleSummary;
	runnerCpuMsPerRequest: SampleSummary;
}

export interface RealEngineFigure {
	runner: RunnerName;
	setup: EngineSetup;
	http: RealEngineHttpFigure[];
	webSocketMessages: number;
	webSocketMessagesPerSec: SampleSummary;
	actorStarts: number;
	actorStartsPerSec: SampleSummary;
	/** Creates the API refused or left unanswered (5 s) over all rounds, by kind; the rate counts the others. */
	actorStartsFailed: number;
	actorStartFailures: Record<string, number>;
}

/** The "engine" scenario: through a real Rivet Engine's gateway and API, runner in a child process. */
export interface RealEngineResults {
	/** The engine's `--version` line ("Rivet 2.3.19"). */
	engine: string;
	rounds: number;
	/** Why the scenario did not run (no engine binary, not Linux), or null. */
	skipped: string | null;
	figures: RealEngineFigure[];
}

export interface BenchResults {
	benchmark: string;
	date: string;
	mode: ModeName;
	durationSec: number;
	machine: MachineInfo;
	node: string;
	commit: string | null;
	rounds: number;
	timeoutMs: number;
	skipped: { name: string; reason: string }[];
	errors: string[];
	lifecycle: LifecycleFigure[];
	heap: HeapFigure[];
	http: HttpFigure[];
	websocket: WebSocketFigure[];
	drain: DrainFigure[];
	reconnect: ReconnectFigure[];
	bundle: {
		ours: BundleSize;
		reference: BundleSize;
		targetGzipBytes: number;
	} | null;
	/** Absent from results written before the scenario existed. */
	realEngine?: RealEngineResults | null;
}

/** a ÷ b of two medians, or null when either is missing. */
export function ratio(
	a: number | null | undefined,
	b: number | null | undefined,
): number | null {
	return a == null || b == null || b === 0 ? null : a / b;
}
