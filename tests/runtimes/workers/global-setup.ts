/**
 * Runs in Node before the workerd tests: a dev engine on 127.0.0.1:0 for the Durable Object runner to dial (a
 * short lost threshold lets it reschedule actors of a reset object within a second), and a real Rivet Engine for
 * the tests that run the object against it. A missing engine binary skips those tests (the reason in their names);
 * an engine that is installed but does not start fails them with its error. Teardown stops both engines.
 */
import type { TestProject } from "vitest/node";
import { startEngine } from "../../../src/engine/index.ts";
import { RivetEngineNotInstalledError } from "../../../src/rivet-engine-process.ts";
import {
	type RivetEngine,
	startRivetEngine,
} from "../../helpers/rivet-engine.ts";

declare module "vitest" {
	export interface ProvidedContext {
		engineUrl: string;
		/** The real Rivet Engine's URL, or "" when it is not running. */
		rivetEngineUrl: string;
		/** Why the real Rivet Engine's tests are skipped (its binary is missing), or "". */
		rivetEngineNotInstalled: string;
		/** Why the installed real Rivet Engine did not start (its tests fail with it), or "". */
		rivetEngineStartError: string;
	}
}

export const RUNNER_LOST_THRESHOLD_MS = 1000;

export default async function setup(project: TestProject) {
	const engine = await startEngine({
		port: 0,
		runnerLostThresholdMs: RUNNER_LOST_THRESHOLD_MS,
	});
	project.provide("engineUrl", engine.url);
	let rivet: RivetEngine | undefined;
	let notInstalled = "";
	let startError = "";
	try {
		rivet = await startRivetEngine();
	} catch (error) {
		if (error instanceof RivetEngineNotInstalledError)
			notInstalled = error.message;
		else startError = (error as Error).message;
	}
	project.provide("rivetEngineUrl", rivet?.url ?? "");
	project.provide("rivetEngineNotInstalled", notInstalled);
	project.provide("rivetEngineStartError", startError);
	return async () => {
		await Promise.all([rivet?.close(), engine.close()]);
	};
}
