/**
 * `edgerunner/cloudflare`: a runner hosted in a Durable Object, and the serverless endpoint for Workers.
 *
 * Workers have no signals and no process: an idle object is evicted and a code update resets it, with no hook
 * (the beta `preShutdown()` is called only for some of these). So the object starts its runner on first use,
 * keeps an alarm heartbeat that restarts it after an eviction or reset, and drains through the one shutdown path
 * when the runtime does call `preShutdown()`. The outbound socket is workerd's `new WebSocket(url, protocols)`.
 */
import type { RunnerConfig } from "../core/config.ts";
import type {
	Platform,
	TerminateEvent,
	WebSocketConstructor,
} from "../core/platform.ts";
import { Runner } from "../core/runner.ts";
import { installTermination } from "../core/termination.ts";

export {
	createServerlessApp,
	REQUEST_ENDED,
	type ServerlessAppOptions,
	type ServerlessStart,
} from "./serverless.ts";

/** Env bindings the runner object reads (wrangler `[vars]`/secrets). */
export interface RunnerObjectEnv {
	/** Engine URL, e.g. `http://127.0.0.1:6420` or `https://api.rivet.dev`. */
	EDGERUNNER_ENDPOINT: string;
	/** Default `"default"`. */
	EDGERUNNER_NAMESPACE?: string;
	EDGERUNNER_TOKEN?: string;
	/** Runner name actors select. */
	EDGERUNNER_RUNNER_NAME: string;
	/** Default 100. */
	EDGERUNNER_TOTAL_SLOTS?: string;
	/** Alarm heartbeat, ms. Default 30000 (as the Agents SDK's keepAlive). */
	EDGERUNNER_HEARTBEAT_MS?: string;
	/** Drain budget inside `preShutdown()`, ms. Default 10000 (in-flight HTTP gets up to 30 s at shutdown). */
	EDGERUNNER_PRESHUTDOWN_BUDGET_MS?: string;
}

/** The slice of `DurableObjectState` used here (typed locally so the package needs no workers types). */
export interface RunnerObjectState {
	storage: {
		getAlarm(): Promise<number | null>;
		setAlarm(scheduledTime: number | Date): Promise<void>;
	};
	waitUntil(promise: Promise<unknown>): void;
}

/** The termination event `preShutdown()` emits. */
export const PRE_SHUTDOWN = "preShutdown";

const DEFAULT_HEARTBEAT_MS = 30_000;
const DEFAULT_PRE_SHUTDOWN_BUDGET_MS = 10_000;

function positive(value: string | undefined, fallback: number): number {
	const n = Number(value);
	return value !== undefined && Number.isFinite(n) && n > 0 ? n : fallback;
}

/** What `GET` on the object answers: the runner as this instance sees it. */
export interface RunnerObjectStatus {
	state: string;
	runnerId: string | null;
	runnerKey: string | null;
	/** How many runners this instance has created (a restart after an eviction adds one). */
	starts: number;
}

/**
 * A Durable Object that hosts a runner. Subclass it, return your actor callbacks from `runnerConfig()`, bind it
 * in wrangler config, and send it any request (or let its alarm fire) to start it.
 */
export class RunnerDurableObject<
	Env extends RunnerObjectEnv = RunnerObjectEnv,
> {
	protected readonly ctx: RunnerObjectState;
	protected readonly env: Env;
	#runner: Runner | undefined;
	#starts = 0;
	readonly #terminateListeners = new Set<(event: TerminateEvent) => void>();

	constructor(ctx: RunnerObjectState, env: Env) {
		this.ctx = ctx;
		this.env = env;
	}

	/** Actor callbacks and any other config; the connection fields come from env. Override in a subclass. */
	protected runnerConfig(): Omit<
		RunnerConfig,
		"endpoint" | "namespace" | "runnerName" | "totalSlots" | "token"
	> {
		return { version: 1 };
	}

	/** The current runner, if one was started. */
	get runner(): Runner | undefined {
		return this.#runner;
	}

	/** Starts a runner unless one is running (a stopped one, e.g. after the engine evicted it, is replaced). */
	async ensureRunner(): Promise<Runner> {
		const current = this.#runner;
		if (current && current.state !== "stopped") return current;
		const platform: Platform = {
			name: "cloudflare",
			WebSocket: (globalThis as unknown as { WebSocket: WebSocketConstructor })
				.WebSocket,
			onTerminate: (listener) => {
				this.#terminateListeners.add(listener);
				return () => this.#terminateListeners.delete(listener);
			},
		};
		const runner = new Runner({
			...this.runnerConfig(),
			endpoint: this.env.EDGERUNNER_ENDPOINT,
			namespace: this.env.EDGERUNNER_NAMESPACE ?? "default",
			runnerName: this.env.EDGERUNNER_RUNNER_NAME,
			totalSlots: positive(this.env.EDGERUNNER_TOTAL_SLOTS, 100),
			token: this.env.EDGERUNNER_TOKEN || undefined,
			platform,
		});
		installTermination(runner, platform, { exit: false });
		this.#runner = runner;
		this.#starts++;
		await runner.start();
		await this.#armHeartbeat();
		return runner;
	}

	async #armHeartbeat(): Promise<void> {
		if ((await this.ctx.storage.getAlarm()) !== null) return;
		await this.ctx.storage.setAlarm(
			Date.now() +
				positive(this.env.EDGERUNNER_HEARTBEAT_MS, DEFAULT_HEARTBEAT_MS),
		);
	}

	status(): RunnerObjectStatus {
		const runner = this.#runner;
		return {
			state: runner?.state ?? "idle",
			runnerId: runner?.runnerId ?? null,
			runnerKey: runner?.runnerKey ?? null,
			starts: this.#starts,
		};
	}

	/** Any request starts the runner (first use) and answers with its status as JSON. */
	async fetch(_request: Request): Promise<Response> {
		await this.ensureRunner();
		return Response.json(this.status());
	}

	/** The heartbeat: restarts the runner if it is gone (eviction, reset, engine dropped it), then re-arms. */
	async alarm(): Promise<void> {
		await this.ensureRunner();
		await this.ctx.storage.setAlarm(
			Date.now() +
				positive(this.env.EDGERUNNER_HEARTBEAT_MS, DEFAULT_HEARTBEAT_MS),
		);
	}

	/**
	 * The runtime's beta pre-shutdown hook (best effort, not called for runtime updates): drain within the budget
	 * through the one shutdown path. Resolves once the runner has stopped.
	 */
	async preShutdown(): Promise<void> {
		const runner = this.#runner;
		if (!runner || runner.state === "stopped") return;
		const budgetMs = positive(
			this.env.EDGERUNNER_PRESHUTDOWN_BUDGET_MS,
			DEFAULT_PRE_SHUTDOWN_BUDGET_MS,
		);
		for (const listener of [...this.#terminateListeners])
			listener({ name: PRE_SHUTDOWN, budgetMs });
		await runner.closed;
	}
}
