/**
 * The example's Durable Object runner inside workerd against the real Rivet Engine (started by global-setup.ts):
 * first use connects, actors created over the engine's API answer gateway requests, and `preShutdown()` drains
 * through the one shutdown path: the engine shows each actor stopped per its crash policy and the runner drained.
 */

import { abortAllDurableObjects, runInDurableObject } from "cloudflare:test";
import { env, type RunnerStub } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RunnerObjectEnv } from "../../../src/runtimes/cloudflare.ts";
import {
	actorJson,
	CRASH_POLICIES,
	type CrashPolicy,
	createActorWhenRunnerConfigured,
	pollEngine,
	runnerJson,
	STOPPED_BY_DRAIN,
} from "../engine-api.ts";

const RIVET = env.RIVET_ENGINE_URL;
const RUNNER_NAME = "counter-workerd-rivet";

const stubs: RunnerStub[] = [];
afterEach(async () => {
	for (const stub of stubs.splice(0))
		await runInDurableObject(stub, (instance) =>
			instance.runner?.shutdown(true),
		);
	await abortAllDurableObjects();
});

/**
 * A fresh runner object whose env points at the real engine: set on the instance before anything wakes its
 * runner (the worker-wide bindings point every other test at the dev engine).
 */
async function objectOnRivet(name: string): Promise<RunnerStub> {
	const stub = env.RUNNER.get(env.RUNNER.idFromName(name));
	stubs.push(stub);
	await runInDurableObject(stub, (instance) => {
		const object = instance as unknown as { env: RunnerObjectEnv };
		object.env = {
			...object.env,
			EDGERUNNER_ENDPOINT: RIVET,
			EDGERUNNER_RUNNER_NAME: RUNNER_NAME,
		};
	});
	return stub;
}

const title = env.RIVET_ENGINE_NOT_INSTALLED
	? `the Durable Object runner on the real Rivet Engine (skipped: ${env.RIVET_ENGINE_NOT_INSTALLED})`
	: "the Durable Object runner on the real Rivet Engine";

describe.skipIf(env.RIVET_ENGINE_NOT_INSTALLED !== "")(title, () => {
	beforeAll(() => {
		// Installed but not started: a failure, not a skip.
		if (env.RIVET_ENGINE_START_ERROR)
			throw new Error(
				`the Rivet Engine did not start: ${env.RIVET_ENGINE_START_ERROR}`,
			);
	});

	it("connects on first use, its sleep, restart and destroy actors answer through the gateway; preShutdown() drains: each actor stopped per its crash policy, the runner drained", async () => {
		const stub = await objectOnRivet("rivet-1");
		await stub.fetch("http://do/");
		const ready = await pollEngine(
			"the object's runner ready",
			() => runInDurableObject(stub, (instance) => instance.status()),
			(s) => s.state === "ready" && s.runnerId !== null,
		);
		const runnerId = ready.runnerId as string;
		const listed = await pollEngine(
			"the runner listed",
			() => runnerJson(RIVET, runnerId),
			(r) => r.drain_ts === null,
		);
		expect(listed.name).toBe(RUNNER_NAME);

		const actors = new Map<string, CrashPolicy>();
		for (const crashPolicy of CRASH_POLICIES) {
			const { actor_id } = await createActorWhenRunnerConfigured(
				RIVET,
				RUNNER_NAME,
				crashPolicy,
			);
			actors.set(actor_id, crashPolicy);
		}
		for (const actorId of actors.keys()) {
			await pollEngine(
				"the actor connectable",
				() => actorJson(RIVET, actorId),
				(a) => a.connectable_ts !== null,
			);
			// The counter adds 1 when the actor starts, and 1 per increment.
			const answered = await fetch(`${RIVET}/gateway/${actorId}/increment`, {
				method: "POST",
			});
			expect(answered.status).toBe(200);
			expect(await answered.json()).toEqual({ count: 2 });
		}

		const report = await runInDurableObject(stub, async (instance) => {
			await instance.preShutdown();
			return instance.runner?.closed;
		});
		expect(report).toMatchObject({
			reason: "signal:preShutdown",
			mode: "drain",
			actorsStopped: 3,
			actorsAbandoned: 0,
		});
		for (const [actorId, crashPolicy] of actors)
			await pollEngine(
				`${crashPolicy} actor ${actorId} stopped per its crash policy`,
				() => actorJson(RIVET, actorId),
				STOPPED_BY_DRAIN[crashPolicy],
			);
		const drained = await pollEngine(
			"the runner drained with its slots free",
			() => runnerJson(RIVET, runnerId),
			(r) => r.drain_ts !== null && r.remaining_slots === r.total_slots,
		);
		expect(drained.drain_ts).toBeGreaterThan(0);
		expect(
			(await runInDurableObject(stub, (instance) => instance.status())).state,
		).toBe("stopped");
	});
});
