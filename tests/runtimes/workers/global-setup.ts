/**
 * Runs in Node before the workerd tests: a dev engine on 127.0.0.1:0 for the Durable Object runner to dial. A
 * short lost threshold lets the engine reschedule actors of a reset object within a second.
 */
import type { TestProject } from "vitest/node";
import { startEngine } from "../../../src/engine/index.ts";

declare module "vitest" {
	export interface ProvidedContext {
		engineUrl: string;
	}
}

export const RUNNER_LOST_THRESHOLD_MS = 1000;

export default async function setup(project: TestProject) {
	const engine = await startEngine({
		port: 0,
		runnerLostThresholdMs: RUNNER_LOST_THRESHOLD_MS,
	});
	project.provide("engineUrl", engine.url);
	return () => engine.close();
}
