/**
 * Child-process entry of the load runs (load-runner-process.ts forks it with --expose-gc): one runner, ours or the
 * reference runner R, serving the load app (load-app.ts) in a process of its own, as in a deployment.
 *
 * Ours is set up as `edgerunner/node`'s `startRunner` sets it up (the Node platform, `installTermination`), with
 * the process exit left to this entry so the shutdown report reaches the parent first: SIGTERM drains within
 * `drainBudgetMs`, then this process sends the report and exits with the exit code the termination chose (143).
 * R installs its own SIGTERM handler (its `noAutoShutdown` left false): it drains (`shutdown(false)`) and calls
 * `onShutdown`, but does not end the process; this entry reports and exits then.
 *
 * argv[2]: JSON of ChildOptions. IPC in: `{ type: "memory" }`, `{ type: "stop" }`. IPC out: ChildMessage.
 */
import { Runner as ReferenceRunner } from "@rivetkit/engine-runner";
import type { ShutdownReport } from "../src/core/lifecycle.ts";
import { Runner } from "../src/core/runner.ts";
import { installTermination } from "../src/core/termination.ts";
import { nodePlatform } from "../src/runtimes/node.ts";
import { type AppCounts, loadApp } from "./load-app.ts";

export interface ChildOptions {
	kind: "ours" | "reference";
	endpoint: string;
	runnerName: string;
	token?: string;
	/** Held requests wait for their actor's stop (true), or are answered at once (a replacement runner). */
	holds: boolean;
	/** Ours: the drain budget after SIGTERM (TerminationOptions.drainTimeoutMs). */
	drainBudgetMs: number;
}

export interface ChildMemory {
	heapUsed: number;
	rss: number;
	external: number;
	arrayBuffers: number;
}

export type ChildMessage =
	| { type: "ready"; pid: number }
	| { type: "counts"; counts: AppCounts }
	| { type: "memory"; memory: ChildMemory; counts: AppCounts }
	| {
			type: "terminated";
			/** Ours: the termination's shutdown report; R has none. */
			report: ShutdownReport | null;
			exitCode: number;
			counts: AppCounts;
			answeredIds: number[];
	  }
	| { type: "error"; message: string };

const send = (message: ChildMessage): Promise<void> =>
	new Promise((resolve) => {
		if (!process.send) return resolve();
		process.send(message, undefined, {}, () => resolve());
	});

async function main(): Promise<void> {
	if (!process.send)
		throw new Error("load-child-runner runs as a child with an IPC channel");
	const options = JSON.parse(process.argv[2] ?? "{}") as ChildOptions;
	// Counts go to the parent at most once per turn: one IPC message per event would cost more than the event.
	let queued = false;
	const app = loadApp({
		holds: options.holds,
		onChange: () => {
			if (queued) return;
			queued = true;
			setImmediate(() => {
				queued = false;
				void send({ type: "counts", counts: { ...app.counts } });
			});
		},
	});
	let connected = () => {};
	const connectedOnce = new Promise<void>((resolve) => {
		connected = resolve;
	});
	const common = {
		version: 1,
		endpoint: options.endpoint,
		...(options.token === undefined ? {} : { token: options.token }),
		namespace: "default",
		runnerName: options.runnerName,
		totalSlots: 100_000,
		prepopulateActorNames: {},
		onConnected: () => connected(),
		onDisconnected: () => {},
		onActorStart: () => app.onActorStart(),
		onActorStop: (actorId: string) => app.onActorStop(actorId),
		fetch: app.fetch,
		websocket: (runner: unknown, actorId: string, ws: unknown) =>
			app.websocket(runner, actorId, ws as Parameters<typeof app.websocket>[2]),
		hibernatableWebSocket: app.hibernatableWebSocket,
	};
	const terminated = async (report: ShutdownReport | null, code: number) => {
		await send({
			type: "terminated",
			report,
			exitCode: code,
			counts: { ...app.counts },
			answeredIds: app.answeredIds,
		});
		process.exit(code);
	};

	let stopNow: () => Promise<unknown>;
	if (options.kind === "ours") {
		const platform = await nodePlatform();
		const runner = new Runner({
			...common,
			platform,
		} as ConstructorParameters<typeof Runner>[0]);
		const termination = installTermination(runner, platform, {
			drainTimeoutMs: options.drainBudgetMs,
			exit: false,
		});
		void termination.terminated.then(({ report, exitCode }) =>
			terminated(report, exitCode),
		);
		await runner.start();
		stopNow = () => runner.shutdown(true);
	} else {
		let runner: ReferenceRunner | undefined;
		runner = new ReferenceRunner({
			...common,
			// R's own SIGTERM handler stays installed (noAutoShutdown false): its behaviour is what is measured.
			onShutdown: () => {
				// Only a signal-triggered shutdown reports here; "stop" exits by itself.
				if (runner) void terminated(null, 0);
			},
		} as unknown as ConstructorParameters<typeof ReferenceRunner>[0]);
		await runner.start();
		stopNow = async () => {
			const stopping = runner;
			runner = undefined;
			await stopping?.shutdown(true);
		};
	}
	await connectedOnce;
	process.on("message", (message: { type?: string }) => {
		if (message?.type === "memory") {
			const gc = (globalThis as { gc?: () => void }).gc;
			if (!gc) {
				void send({ type: "error", message: "memory needs --expose-gc" });
				return;
			}
			// Pending callbacks settle first, then two full collections (the first may only queue finalizers).
			setImmediate(() => {
				gc();
				gc();
				const { heapUsed, rss, external, arrayBuffers } = process.memoryUsage();
				void send({
					type: "memory",
					memory: { heapUsed, rss, external, arrayBuffers },
					counts: { ...app.counts },
				});
			});
		} else if (message?.type === "stop") {
			void stopNow().finally(() => process.exit(0));
		}
	});
	await send({ type: "ready", pid: process.pid });
}

main().catch(async (error: unknown) => {
	await send({
		type: "error",
		message: error instanceof Error ? error.message : String(error),
	});
	process.exit(1);
});
