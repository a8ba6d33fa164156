/**
 * What `npm run bench` measures in each mode: full (the published figures), quick (a sanity run) and smoke (a
 * handful of iterations, what CI runs to prove the scripts still work).
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
	"engine",
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

/**
 * The real Rivet Engine's configuration in the "engine" scenario: as installed ("default"), or with what
 * docs/deploy.md advises ("tuned": guard's `tcp_nodelay`). `gateway-v3` (the engine's newer gateway,
 * `features.guard_gateway_v3`) can be measured on its own with `--engine-setups gateway-v3`.
 */
export const ENGINE_SETUPS = ["default", "tuned", "gateway-v3"] as const;
export type EngineSetup = (typeof ENGINE_SETUPS)[number];

/** The "engine" scenario: ours and R, each in a child process, through a real engine's gateway. */
export interface RealEngineCase {
	setups: EngineSetup[];
	/** Rounds of this scenario (each a fresh engine per runner and setup): at most the suite's rounds. */
	rounds: number;
	/** Seconds of HTTP traffic per concurrency level (1 and 64, 1 KB). */
	httpSeconds: number;
	/** WebSocket messages (64 B, echoed, 64 in flight) per measurement. */
	webSocketMessages: number;
	/** Actors created through the API per measurement. */
	actorStarts: number;
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
	engine: RealEngineCase;
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
		engine: {
			setups: ["default", "tuned"],
			rounds: 2,
			httpSeconds: 3,
			webSocketMessages: 1000,
			actorStarts: 10,
		},
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
		engine: {
			setups: ["default", "tuned"],
			rounds: 1,
			httpSeconds: 2,
			webSocketMessages: 1000,
			actorStarts: 10,
		},
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
		engine: {
			setups: ["default"],
			rounds: 1,
			httpSeconds: 0.5,
			webSocketMessages: 100,
			actorStarts: 2,
		},
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
	const setupsArg = value("--engine-setups");
	if (setupsArg !== undefined) {
		const setups = setupsArg.split(",");
		for (const setup of setups)
			if (!(ENGINE_SETUPS as readonly string[]).includes(setup))
				throw new Error(
					`--engine-setups: unknown setup "${setup}" (known: ${ENGINE_SETUPS.join(", ")})`,
				);
		mode = {
			...mode,
			engine: { ...mode.engine, setups: setups as EngineSetup[] },
		};
	}
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
