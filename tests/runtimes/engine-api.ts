/**
 * The engine HTTP API as the runtime tests use it, on the dev engine and the real Rivet Engine alike: create an
 * actor (riding out the real engine's runner-config window), read one actor and one runner, and poll them in
 * bounded loops (the real engine offers no event to await from outside). Only `fetch`: workerd imports it too.
 */

export const CRASH_POLICIES = ["sleep", "restart", "destroy"] as const;
export type CrashPolicy = (typeof CRASH_POLICIES)[number];

export interface EngineActorJson {
	actor_id: string;
	crash_policy: CrashPolicy;
	start_ts: number | null;
	pending_allocation_ts: number | null;
	connectable_ts: number | null;
	sleep_ts: number | null;
	destroy_ts: number | null;
	/** e.g. "no_capacity" while a restart waits for a runner. */
	error?: unknown;
}

export interface EngineRunnerJson {
	runner_id: string;
	name: string;
	total_slots: number;
	remaining_slots: number;
	drain_ts: number | null;
	stop_ts: number | null;
}

/** How long the real engine may still refuse a freshly connected runner's name (seen 0–4 s; once > 13 s under load). */
const RUNNER_CONFIG_WITHIN_MS = 15_000;
const POLL_EVERY_MS = 50;

/**
 * `POST /actors` for `runnerName`. A runner's first connect makes the real engine create a runner config for its
 * name, and until that is visible it answers 400 `no_runner_config_configured`: only that refusal is retried,
 * within a bound; anything else fails at once with the engine's answer. (The dev engine never refuses it.)
 */
export async function createActorWhenRunnerConfigured(
	url: string,
	runnerName: string,
	crashPolicy: CrashPolicy,
	name = "counter",
): Promise<EngineActorJson> {
	const deadline = Date.now() + RUNNER_CONFIG_WITHIN_MS;
	for (;;) {
		const response = await fetch(`${url}/actors?namespace=default`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({
				name,
				runner_name_selector: runnerName,
				crash_policy: crashPolicy,
			}),
		});
		const body = await response.text();
		if (response.ok)
			return (JSON.parse(body) as { actor: EngineActorJson }).actor;
		const runnerConfigPending =
			response.status === 400 && body.includes("no_runner_config_configured");
		if (!runnerConfigPending || Date.now() >= deadline)
			throw new Error(
				`the engine refused to create the actor: ${response.status} ${body}`,
			);
		await new Promise((resolve) => setTimeout(resolve, POLL_EVERY_MS * 2));
	}
}

export async function actorJson(
	url: string,
	actorId: string,
): Promise<EngineActorJson | undefined> {
	const response = await fetch(
		`${url}/actors?namespace=default&actor_ids=${actorId}`,
	);
	if (!response.ok)
		throw new Error(`GET /actors: ${response.status} ${await response.text()}`);
	return ((await response.json()) as { actors: EngineActorJson[] }).actors[0];
}

export async function runnerJson(
	url: string,
	runnerId: string,
): Promise<EngineRunnerJson | undefined> {
	const response = await fetch(
		`${url}/runners?namespace=default&include_stopped=true`,
	);
	if (!response.ok)
		throw new Error(
			`GET /runners: ${response.status} ${await response.text()}`,
		);
	return (
		(await response.json()) as { runners: EngineRunnerJson[] }
	).runners.find((r) => r.runner_id === runnerId);
}

/** Re-reads `probe` until `accept` holds, bounded; the error names what was awaited and the last value seen. */
export async function pollEngine<T>(
	describe: string,
	probe: () => Promise<T | undefined>,
	accept: (value: T) => boolean,
	timeoutMs = 10_000,
): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	let last: T | undefined;
	for (;;) {
		last = await probe();
		if (last !== undefined && accept(last)) return last;
		if (Date.now() >= deadline)
			throw new Error(
				`the engine did not show ${describe} within ${timeoutMs} ms; last seen ${JSON.stringify(last)}`,
			);
		await new Promise((resolve) => setTimeout(resolve, POLL_EVERY_MS));
	}
}

/** What the engine shows for an actor whose runner drained it (Stopped Ok), per its crash policy (Rivet 2.3.19). */
export const STOPPED_BY_DRAIN: Record<
	CrashPolicy,
	(actor: EngineActorJson) => boolean
> = {
	sleep: (a) =>
		a.connectable_ts === null && a.sleep_ts !== null && a.destroy_ts === null,
	// Rescheduled at once; with no other runner of that name it waits for capacity.
	restart: (a) =>
		a.connectable_ts === null &&
		a.pending_allocation_ts !== null &&
		a.sleep_ts === null &&
		a.destroy_ts === null,
	destroy: (a) => a.connectable_ts === null && a.destroy_ts !== null,
};
