/**
 * The parent's handle on one runner child process (load-child-runner.ts): fork, wait for counts, ask for a memory
 * reading, SIGTERM it and collect what it reported, stop it. `npm run load` finds the child bundled by
 * reliability/run.mjs (RELIABILITY_BUNDLE_DIR); the vitest smoke test, which has no bundle, builds it once here.
 */
import { type ChildProcess, fork } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import type { AppCounts } from "./load-app.ts";
import type {
	ChildMemory,
	ChildMessage,
	ChildOptions,
} from "./load-child-runner.ts";

const CHILD = "load-child-runner";
const READY_WITHIN_MS = 20_000;
const STOP_WITHIN_MS = 10_000;

let bundled: Promise<string> | undefined;

/** The bundled child entry: run.mjs's, else one built now (once per process). */
function childEntry(): Promise<string> {
	const dir = process.env.RELIABILITY_BUNDLE_DIR;
	if (dir && existsSync(join(dir, `${CHILD}.mjs`)))
		return Promise.resolve(join(dir, `${CHILD}.mjs`));
	bundled ??= (async () => {
		const root = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");
		const outfile = join(
			root,
			"node_modules",
			".cache",
			"edgerunner-reliability-test",
			`${CHILD}.mjs`,
		);
		const { build } = await import("esbuild");
		await build({
			bundle: true,
			platform: "node",
			format: "esm",
			target: "node20",
			packages: "external",
			sourcemap: "inline",
			logLevel: "warning",
			entryPoints: [join(root, "reliability", `${CHILD}.ts`)],
			outfile,
		});
		return outfile;
	})();
	return bundled;
}

export type Terminated = Extract<ChildMessage, { type: "terminated" }>;

export class RunnerProcess {
	readonly kind: ChildOptions["kind"];
	readonly #child: ChildProcess;
	readonly exited: Promise<{ code: number | null; signal: string | null }>;
	/** performance.now() of the exit. */
	exitedAt = Number.NaN;
	counts: AppCounts = {
		started: 0,
		stopped: 0,
		received: 0,
		answered: 0,
		socketsOpened: 0,
		socketsClosed: 0,
	};
	terminated: Terminated | undefined;
	readonly #waiters = new Set<() => void>();
	#memoryWaiter: ((memory: ChildMemory) => void) | undefined;
	#error: string | undefined;
	pid = 0;

	private constructor(entry: string, options: ChildOptions) {
		this.kind = options.kind;
		this.#child = fork(entry, [JSON.stringify(options)], {
			execArgv: ["--expose-gc", "--enable-source-maps"],
			stdio: ["ignore", "inherit", "inherit", "ipc"],
		});
		this.exited = new Promise((resolve) => {
			this.#child.once("exit", (code, signal) => {
				this.exitedAt = performance.now();
				resolve({ code, signal });
				this.#notify();
			});
		});
		this.#child.on("message", (message: ChildMessage) => {
			if (message.type === "counts" || message.type === "memory")
				this.counts = message.counts;
			if (message.type === "ready") this.pid = message.pid;
			if (message.type === "terminated") {
				this.terminated = message;
				this.counts = message.counts;
			}
			if (message.type === "error") this.#error = message.message;
			if (message.type === "memory") {
				const waiter = this.#memoryWaiter;
				this.#memoryWaiter = undefined;
				waiter?.(message.memory);
			}
			this.#notify();
		});
	}

	/** Forks the child and resolves once its runner is connected. */
	static async start(options: ChildOptions): Promise<RunnerProcess> {
		const child = new RunnerProcess(await childEntry(), options);
		try {
			await child.until(() => child.pid !== 0, READY_WITHIN_MS, "connected");
		} catch (error) {
			await child.kill();
			throw error;
		}
		return child;
	}

	get alive(): boolean {
		return this.#child.exitCode === null && this.#child.signalCode === null;
	}

	#notify(): void {
		for (const check of [...this.#waiters]) check();
	}

	/** Resolves once `condition` holds (checked on every message); rejects on exit, error or after `timeoutMs`. */
	until(
		condition: () => boolean,
		timeoutMs: number,
		what: string,
	): Promise<void> {
		return new Promise((resolve, reject) => {
			const check = () => {
				if (condition()) {
					done();
					resolve();
				} else if (this.#error !== undefined || !this.alive) {
					done();
					reject(
						new Error(
							`${this.kind} runner: ${this.#error ?? "exited"} before ${what} (counts ${JSON.stringify(this.counts)})`,
						),
					);
				}
			};
			const timer = setTimeout(() => {
				done();
				reject(
					new Error(
						`${this.kind} runner: not ${what} within ${timeoutMs} ms (counts ${JSON.stringify(this.counts)})`,
					),
				);
			}, timeoutMs);
			const done = () => {
				clearTimeout(timer);
				this.#waiters.delete(check);
			};
			this.#waiters.add(check);
			check();
		});
	}

	/** Heap and RSS of the child after two forced collections. */
	memory(timeoutMs = 30_000): Promise<ChildMemory> {
		return new Promise((resolve, reject) => {
			const timer = setTimeout(
				() => reject(new Error(`${this.kind} runner: no memory reading`)),
				timeoutMs,
			);
			this.#memoryWaiter = (memory) => {
				clearTimeout(timer);
				resolve(memory);
			};
			this.#child.send({ type: "memory" });
		});
	}

	sigterm(): void {
		this.#child.kill("SIGTERM");
	}

	/** Immediate shutdown, then the process ends; SIGKILL after a bound. */
	async stop(): Promise<void> {
		if (!this.alive) return;
		this.#child.send({ type: "stop" });
		const timer = setTimeout(() => this.#child.kill("SIGKILL"), STOP_WITHIN_MS);
		await this.exited;
		clearTimeout(timer);
	}

	async kill(): Promise<void> {
		if (!this.alive) return;
		this.#child.kill("SIGKILL");
		await this.exited;
	}
}
