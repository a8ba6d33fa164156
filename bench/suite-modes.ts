/**
 * What `npm run bench` measures in each mode: full (the published figures), quick (< 2 min, a sanity run) and
 * smoke (a handful of iterations, < 20 s, what CI runs to prove the scripts still work).
 */

export type ModeName = "full" | "quick" | "smoke";

export const SCENARIOS = [
	"lifecycle",
	"heap",
	"http",
	"websocket",
	"drain",
	"reconnect",
	"bundle",
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface HttpCase {
	concurrency: number;
	bodyBytes: number;
	requests: number;
}

export interface WebSocketCase {
	mode: "oneway" | "echo";
	bytes: number;
	messages: number;
}

export interface Mode {
	name: ModeName;
	rounds: number;
	/** Warm-up before the measured rounds (discarded). */
	warmup: boolean;
	lifecycleSizes: number[];
	heapActors: number;
	http: HttpCase[];
	websocket: WebSocketCase[];
	drainActors: number;
	/** Reconnects per runner per round. */
	reconnects: number;
	/** Cap on one measurement, ms (a slower one is reported as a timeout). */
	timeoutMs: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

function httpCases(small: number, large: number): HttpCase[] {
	return [1, 64].flatMap((concurrency) => [
		{ concurrency, bodyBytes: KiB, requests: small },
		{ concurrency, bodyBytes: MiB, requests: large },
	]);
}

function webSocketCases(small: number, large: number): WebSocketCase[] {
	return (["oneway", "echo"] as const).flatMap((mode) => [
		{ mode, bytes: 64, messages: small },
		{ mode, bytes: 64 * KiB, messages: large },
	]);
}

export const MODES: Record<ModeName, Mode> = {
	full: {
		name: "full",
		rounds: 5,
		warmup: true,
		lifecycleSizes: [100, 1000, 10_000, 20_000],
		heapActors: 10_000,
		http: httpCases(20_000, 200),
		websocket: webSocketCases(20_000, 1000),
		drainActors: 1000,
		reconnects: 3,
		timeoutMs: 120_000,
	},
	quick: {
		name: "quick",
		rounds: 3,
		warmup: true,
		lifecycleSizes: [100, 1000, 10_000],
		heapActors: 10_000,
		http: httpCases(2000, 30),
		websocket: webSocketCases(5000, 200),
		drainActors: 1000,
		reconnects: 1,
		timeoutMs: 60_000,
	},
	smoke: {
		name: "smoke",
		rounds: 1,
		warmup: false,
		lifecycleSizes: [50],
		heapActors: 50,
		http: httpCases(50, 3),
		websocket: webSocketCases(50, 5),
		drainActors: 10,
		reconnects: 1,
		timeoutMs: 20_000,
	},
};

export interface SuiteArgs {
	mode: Mode;
	only: Set<ScenarioName>;
	/** Where results.json, BENCHMARKS.md and the charts go; undefined = the repo (full mode, all scenarios). */
	outDir: string | undefined;
	/** Only these runners (e.g. `--runners ours` under `node --cpu-prof`); undefined = all. */
	runners: string[] | undefined;
}

export function parseSuiteArgs(argv: string[]): SuiteArgs {
	let mode = argv.includes("--smoke")
		? MODES.smoke
		: argv.includes("--quick")
			? MODES.quick
			: MODES.full;
	const value = (flag: string) => {
		const i = argv.indexOf(flag);
		return i >= 0 ? argv[i + 1] : undefined;
	};
	// Narrows the HTTP cases to one body size (for profiling one workload).
	const httpBytes = value("--http-bytes");
	if (httpBytes !== undefined)
		mode = {
			...mode,
			http: mode.http.filter((c) => c.bodyBytes === Number(httpBytes)),
		};
	const onlyArg = value("--only");
	const only = new Set<ScenarioName>();
	for (const name of onlyArg?.split(",") ?? SCENARIOS) {
		if (!(SCENARIOS as readonly string[]).includes(name))
			throw new Error(
				`--only: unknown scenario "${name}" (known: ${SCENARIOS.join(", ")})`,
			);
		only.add(name as ScenarioName);
	}
	return {
		mode,
		only,
		outDir: value("--out-dir"),
		runners: value("--runners")?.split(","),
	};
}
