/**
 * Worker-thread entry (see threaded-runners.ts): hosts the runners of one kind in their own thread, so that the
 * engine side of a benchmark and the runner do not share an event loop, a heap or a garbage collector — as with
 * a real engine, which is another process. Commands come from the main thread; each is answered once.
 */
import { parentPort, workerData } from "node:worker_threads";
import { type BenchRunner, loadRunnerKinds } from "./bench-runners.ts";
import type { RunnerCommand, RunnerReply } from "./threaded-runners.ts";

const port = parentPort;
if (!port) throw new Error("runner-thread.ts runs only as a worker thread");

const { kinds } = await loadRunnerKinds();
const kind = kinds.find(
	(k) => k.name === (workerData as { name: string }).name,
);
const runners = new Map<number, BenchRunner>();

async function run(command: RunnerCommand): Promise<void> {
	if (!kind) throw new Error(`no runner kind ${String(workerData?.name)} here`);
	if (command.op === "start") {
		const runner = kind.create(command.endpoint);
		runners.set(command.runner, runner);
		await runner.start();
		return;
	}
	const runner = runners.get(command.runner);
	if (!runner) throw new Error(`runner ${command.runner} is not running`);
	runners.delete(command.runner);
	await (command.op === "stop" ? runner.stop() : runner.drain());
}

port.on("message", (command: RunnerCommand) => {
	run(command).then(
		() => port.postMessage({ id: command.id, ok: true } satisfies RunnerReply),
		(error: unknown) =>
			port.postMessage({
				id: command.id,
				ok: false,
				error: error instanceof Error ? error.message : String(error),
			} satisfies RunnerReply),
	);
});
port.postMessage({ id: 0, ok: true } satisfies RunnerReply);
