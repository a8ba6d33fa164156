/**
 * Child-process entry (see real-engine-measure.ts): one runner of one kind, connected to a real Rivet Engine, in
 * a process of its own as in a deployment (the engine is another process too). argv: kind name, endpoint, runner
 * name. Tells the parent over IPC when it is connected ("ready") and each time an actor starts ("started"); a
 * "stop" message shuts it down and ends the process.
 */
import { benchActorApp } from "./bench-actor-app.ts";
import { loadRunnerKinds } from "./bench-runners.ts";

export type RealEngineRunnerMessage =
	| { type: "ready" }
	| { type: "started"; count: number }
	| { type: "error"; message: string };

const send = (message: RealEngineRunnerMessage) => process.send?.(message);
const [kindName, endpoint, runnerName] = process.argv.slice(2);

async function main(): Promise<void> {
	if (!process.send)
		throw new Error(
			"real-engine-runner runs as a child process with an IPC channel",
		);
	if (!kindName || !endpoint || !runnerName)
		throw new Error("usage: real-engine-runner <kind> <endpoint> <runnerName>");
	const { kinds, skipped } = await loadRunnerKinds();
	const kind = kinds.find((k) => k.name === kindName);
	if (!kind)
		throw new Error(
			`no runner kind ${kindName} (${skipped.map((s) => `${s.name}: ${s.reason}`).join("; ")})`,
		);
	let started = 0;
	// Counted here and reported in batches per turn: one IPC message per start would cost more than the start.
	let reportQueued = false;
	benchActorApp.onActorStart = async () => {
		started++;
		if (reportQueued) return;
		reportQueued = true;
		setImmediate(() => {
			reportQueued = false;
			send({ type: "started", count: started });
		});
	};
	const runner = kind.create(endpoint, runnerName);
	await runner.start();
	process.on("message", (message: { type?: string }) => {
		if (message?.type !== "stop") return;
		runner.stop().finally(() => process.exit(0));
	});
	send({ type: "ready" });
}

main().catch((error: unknown) => {
	send({
		type: "error",
		message: error instanceof Error ? error.message : String(error),
	});
	setImmediate(() => process.exit(1));
});
