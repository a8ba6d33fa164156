/**
 * The differential: the reference runner (@rivetkit/engine-runner 2.2.1) against our dev engine.
 * The same scenarios run with our runner in tests/e2e once src/core exports one.
 */
import { Runner as ReferenceRunner } from "@rivetkit/engine-runner";
import { afterEach, beforeEach, describe, it } from "vitest";
import { type RunningEngine, startEngine } from "../../src/engine/index.ts";
import { watchActors } from "../engine/actor-watch.ts";
import {
	type RunnerClass,
	RunnerRecorder,
	runnerConfig,
	runnerScenarios,
	type ScenarioContext,
	type ScenarioRunner,
} from "./runner-scenarios.ts";

export function describeRunnerScenarios(
	label: string,
	RunnerClass: RunnerClass,
): void {
	describe(label, () => {
		let engine: RunningEngine;
		let watch: ReturnType<typeof watchActors>;
		let runners: ScenarioRunner[];
		let ctx: ScenarioContext;

		beforeEach(async () => {
			watch = watchActors();
			runners = [];
			engine = await startEngine({
				port: 0,
				onActorChange: watch.onActorChange,
				drainWindowMs: 3_000,
			});
			const api = (path: string, init?: RequestInit) =>
				fetch(`${engine.url}${path}`, init);
			ctx = {
				engine,
				watch,
				api,
				async startRunner(overrides) {
					const events = new RunnerRecorder();
					const runner = new RunnerClass(
						runnerConfig(engine, events, overrides),
					);
					runners.push(runner);
					await runner.start();
					await events.until("connection", () => events.connects > 0);
					return { runner, events };
				},
				async createActor(body) {
					const response = await api("/actors?namespace=default", {
						method: "POST",
						headers: { "content-type": "application/json" },
						body: JSON.stringify(body),
					});
					if (response.status !== 200)
						throw new Error(
							`POST /actors: ${response.status} ${await response.text()}`,
						);
					return (
						(await response.json()) as {
							actor: Awaited<ReturnType<ScenarioContext["createActor"]>>;
						}
					).actor;
				},
			};
		});

		afterEach(async () => {
			await Promise.all(runners.map((runner) => runner.shutdown(true)));
			await engine.close();
		});

		for (const scenario of runnerScenarios)
			it(scenario.name, () => scenario.run(ctx));
	});
}

describeRunnerScenarios(
	"reference runner on the dev engine",
	ReferenceRunner as unknown as RunnerClass,
);
