/**
 * A Node child process (`process.execPath` + args) with its stdout and stderr collected and awaitable: wait for
 * a line it prints, interrupt it and time the exit. Every wait is on the child's output or exit; WAIT_MS only
 * bounds a child that hangs.
 */
import { type ChildProcess, spawn } from "node:child_process";

const WAIT_MS = 10_000;

export class NodeChild {
	readonly child: ChildProcess;
	stdout = "";
	stderr = "";
	readonly exited: Promise<{ code: number | null; signal: string | null }>;
	readonly #label: string;
	readonly #waiters = new Set<() => void>();

	/** `label` names the child in error messages. */
	constructor(args: string[], cwd: string, label: string) {
		this.#label = label;
		this.child = spawn(process.execPath, args, {
			cwd,
			stdio: ["ignore", "pipe", "pipe"],
		});
		this.child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
			this.stdout += chunk;
			this.#notify();
		});
		this.child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
			this.stderr += chunk;
			this.#notify();
		});
		this.exited = new Promise((resolve) => {
			this.child.once("exit", (code, signal) => {
				resolve({ code, signal });
				this.#notify();
			});
		});
	}

	#notify(): void {
		for (const check of [...this.#waiters]) check();
	}

	/** Resolves with the first match of `pattern` in stdout; rejects if the child exits or WAIT_MS passes first. */
	output(pattern: RegExp): Promise<RegExpMatchArray> {
		return new Promise((resolve, reject) => {
			const check = () => {
				const match = this.stdout.match(pattern);
				if (match) {
					done();
					resolve(match);
				} else if (this.child.exitCode !== null || this.child.signalCode) {
					done();
					reject(new Error(this.#explain(`exited before printing ${pattern}`)));
				}
			};
			const timer = setTimeout(() => {
				done();
				reject(new Error(this.#explain(`did not print ${pattern}`)));
			}, WAIT_MS);
			const done = () => {
				clearTimeout(timer);
				this.#waiters.delete(check);
			};
			this.#waiters.add(check);
			check();
		});
	}

	/** Sends SIGINT and resolves with the exit and how long it took; rejects after WAIT_MS. */
	async interrupt(): Promise<{ code: number | null; ms: number }> {
		const began = Date.now();
		this.child.kill("SIGINT");
		let timer: ReturnType<typeof setTimeout> | undefined;
		const hung = new Promise<never>((_, reject) => {
			timer = setTimeout(
				() => reject(new Error(this.#explain("did not exit after SIGINT"))),
				WAIT_MS,
			);
		});
		try {
			const { code } = await Promise.race([this.exited, hung]);
			return { code, ms: Date.now() - began };
		} finally {
			clearTimeout(timer);
		}
	}

	#explain(what: string): string {
		return `${this.#label} ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`;
	}

	async kill(): Promise<void> {
		if (this.child.exitCode !== null || this.child.signalCode) return;
		this.child.kill("SIGKILL");
		await this.exited;
	}
}
