/**
 * A runtime child process (node, bun, deno) spawned directly from its binary so signals reach it, with its JSON
 * stdout lines as awaitable events and its exit as a promise. `killAll()` in afterEach SIGKILLs whatever is left.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

export interface ChildEvent {
	event: string;
	[field: string]: unknown;
}

export interface ChildExit {
	code: number | null;
	signal: NodeJS.Signals | null;
}

export interface RuntimeChild {
	readonly process: ChildProcess;
	readonly pid: number;
	readonly events: readonly ChildEvent[];
	/** Everything the child wrote to stderr, for failure messages. */
	readonly stderr: () => string;
	/** Everything the child wrote, stdout and stderr. */
	readonly output: () => string;
	/** The first event named `name` (already seen or to come); rejects if the child exits first or on timeout. */
	next(name: string, timeoutMs?: number): Promise<ChildEvent>;
	readonly exited: Promise<ChildExit>;
	signal(signal: NodeJS.Signals): void;
}

const children = new Set<ChildProcess>();
const groups = new Set<ChildProcess>();

export function spawnRuntime(
	command: string,
	args: string[],
	env: Record<string, string>,
	cwd?: string,
	options: { detached?: boolean } = {},
): RuntimeChild {
	const child = spawn(command, args, {
		cwd,
		// A process group of its own, so a test can signal the child and everything it spawned.
		detached: options.detached ?? false,
		env: { ...process.env, ...env, NO_COLOR: "1" },
		stdio: ["ignore", "pipe", "pipe"],
	});
	children.add(child);
	if (options.detached) groups.add(child);
	const events: ChildEvent[] = [];
	const waiters = new Set<() => void>();
	let stderr = "";
	let output = "";
	let exit: ChildExit | undefined;
	child.stderr?.on("data", (chunk: Buffer) => {
		stderr += chunk.toString();
		output += chunk.toString();
	});
	child.stdout?.on("data", (chunk: Buffer) => {
		output += chunk.toString();
	});
	const lines = createInterface({
		input: child.stdout as NodeJS.ReadableStream,
	});
	lines.on("line", (line) => {
		if (!line.startsWith("{")) return;
		try {
			events.push(JSON.parse(line) as ChildEvent);
		} catch {
			return;
		}
		for (const check of [...waiters]) check();
	});
	const exited = new Promise<ChildExit>((resolve) => {
		child.on("exit", (code, signal) => {
			children.delete(child);
			exit = { code, signal };
			resolve(exit);
			for (const check of [...waiters]) check();
		});
	});
	const describe = (): string =>
		`events ${JSON.stringify(events)}; stderr: ${stderr.slice(-2000)}`;
	return {
		process: child,
		pid: child.pid ?? -1,
		events,
		stderr: () => stderr,
		output: () => output,
		exited,
		signal: (signal) => {
			child.kill(signal);
		},
		next(name, timeoutMs = 15_000) {
			return new Promise((resolve, reject) => {
				const check = (): void => {
					const found = events.find((e) => e.event === name);
					if (found) {
						settle();
						resolve(found);
					} else if (exit) {
						settle();
						reject(
							new Error(
								`child exited (${JSON.stringify(exit)}) before "${name}"; ${describe()}`,
							),
						);
					}
				};
				const settle = (): void => {
					waiters.delete(check);
					clearTimeout(timer);
				};
				const timer = setTimeout(() => {
					settle();
					reject(
						new Error(`no "${name}" within ${timeoutMs} ms; ${describe()}`),
					);
				}, timeoutMs);
				waiters.add(check);
				check();
			});
		},
	};
}

/** Resolves with the exit, or rejects if the child is still running after `timeoutMs`. */
export function exitWithin(
	child: RuntimeChild,
	timeoutMs: number,
): Promise<ChildExit> {
	let timer: ReturnType<typeof setTimeout> | undefined;
	const late = new Promise<never>((_, reject) => {
		timer = setTimeout(
			() =>
				reject(
					new Error(
						`child ${child.pid} still running after ${timeoutMs} ms; events ${JSON.stringify(child.events)}; stderr ${child.stderr().slice(-2000)}`,
					),
				),
			timeoutMs,
		);
	});
	return Promise.race([child.exited, late]).finally(() => clearTimeout(timer));
}

/** SIGKILLs every child still running (and every process group a detached child led) and waits for the exits. */
export async function killAll(): Promise<void> {
	for (const child of groups) {
		try {
			if (child.pid) process.kill(-child.pid, "SIGKILL");
		} catch {
			// The group is already gone.
		}
	}
	groups.clear();
	const running = [...children];
	await Promise.all(
		running.map(
			(child) =>
				new Promise<void>((resolve) => {
					if (child.exitCode !== null || child.signalCode !== null)
						return resolve();
					child.once("exit", () => resolve());
					child.kill("SIGKILL");
				}),
		),
	);
}
