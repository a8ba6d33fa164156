/**
 * The same runner kinds, each hosted in a worker thread of its own (runner-thread.ts) that lives for the whole
 * suite, so its JIT warm-up carries over between measurements as it does in-process. Used for the tunnel
 * scenarios, where the engine side sends and times thousands of frames a second: sharing one event loop with the
 * runner would put the engine's work and pauses into every runner's figures.
 */
import { Worker } from "node:worker_threads";
import type { BenchRunner, RunnerKind } from "./bench-runners.ts";

export type RunnerCommand =
	| { id: number; op: "start"; runner: number; endpoint: string }
	| { id: number; op: "stop" | "drain"; runner: number };

export type RunnerReply =
	| { id: number; ok: true }
	| { id: number; ok: false; error: string };

type Pending = (reply: RunnerReply) => void;
/** Omit over each member of a union (a plain Omit would merge the members). */
type UnionOmit<T, K extends PropertyKey> = T extends unknown
	? Omit<T, K>
	: never;

class RunnerThread {
	readonly #worker: Worker;
	readonly #pending = new Map<number, Pending>();
	readonly ready: Promise<void>;
	#nextId = 1;

	constructor(name: string) {
		this.#worker = new Worker(new URL("./runner-thread.mjs", import.meta.url), {
			workerData: { name },
		});
		this.ready = new Promise((resolve, reject) => {
			// The thread's first message (id 0) says it loaded; an error event rejects every pending reply, this one too.
			this.#pending.set(0, (reply) =>
				reply.ok ? resolve() : reject(new Error(reply.error)),
			);
		});
		this.#worker.on("message", (reply: RunnerReply) => {
			const pending = this.#pending.get(reply.id);
			this.#pending.delete(reply.id);
			pending?.(reply);
		});
		this.#worker.on("error", (error) => {
			for (const pending of this.#pending.values())
				pending({ id: -1, ok: false, error: String(error) });
			this.#pending.clear();
		});
	}

	async send(command: UnionOmit<RunnerCommand, "id">): Promise<void> {
		await this.ready;
		const id = this.#nextId++;
		const reply = await new Promise<RunnerReply>((resolve) => {
			this.#pending.set(id, resolve);
			this.#worker.postMessage({ ...command, id });
		});
		if (!reply.ok) throw new Error(reply.error);
	}

	terminate(): Promise<number> {
		return this.#worker.terminate();
	}
}

export interface ThreadedKinds {
	kinds: RunnerKind[];
	/** Ends every thread (after the suite). */
	close(): Promise<void>;
}

/** One thread per kind, started on first use. */
export function threadedKinds(kinds: RunnerKind[]): ThreadedKinds {
	const threads = new Map<string, RunnerThread>();
	let nextRunner = 1;
	const threadOf = (name: string) => {
		let thread = threads.get(name);
		if (!thread) {
			thread = new RunnerThread(name);
			threads.set(name, thread);
		}
		return thread;
	};
	return {
		kinds: kinds.map((kind) => ({
			name: kind.name,
			create(endpoint: string): BenchRunner {
				const thread = threadOf(kind.name);
				const runner = nextRunner++;
				return {
					start: () => thread.send({ op: "start", runner, endpoint }),
					stop: () => thread.send({ op: "stop", runner }),
					drain: () => thread.send({ op: "drain", runner }),
				};
			},
		})),
		async close() {
			await Promise.all([...threads.values()].map((t) => t.terminate()));
			threads.clear();
		},
	};
}
