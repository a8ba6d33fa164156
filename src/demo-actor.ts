/**
 * The CLI demo's actor through the engine API, the same calls on the dev engine and the real Rivet Engine: its
 * runner config declared up front, then the counter actor of an earlier run (kept state), else a new one.
 */

export const DEMO_RUNNER = "edgerunner-demo";

/** After a runner first connects, the real engine refuses actors until its runner config exists (0.5–4 s). */
const CREATE_ACTOR_WITHIN_MS = 15_000;
const CREATE_ACTOR_RETRY_MS = 100;

/**
 * Declares the demo runner's config before its first connect, as docs/deploy.md advises: the real engine creates
 * one on that connect but asynchronously (seconds under load). A just-started engine may answer 5xx for a moment.
 */
export async function declareRunnerConfig(
	url: string,
	headers: Record<string, string>,
): Promise<void> {
	const deadline = Date.now() + CREATE_ACTOR_WITHIN_MS;
	for (;;) {
		const response = await fetch(
			`${url}/runner-configs/${DEMO_RUNNER}?namespace=default`,
			{
				method: "PUT",
				headers,
				body: JSON.stringify({ datacenters: { default: { normal: {} } } }),
			},
		);
		if (response.ok) return;
		const body = await response.text();
		if (response.status < 500 || Date.now() >= deadline)
			throw new Error(
				`could not declare the runner config: ${response.status} ${body}`,
			);
		await new Promise((r) => setTimeout(r, CREATE_ACTOR_RETRY_MS));
	}
}

/** The counter actor of an earlier run (kept state), else a new one. */
export async function counterActorId(
	url: string,
	headers: Record<string, string>,
): Promise<string> {
	const listed = await fetch(
		`${url}/actors?namespace=default&name=counter&key=demo`,
		{ headers },
	);
	if (!listed.ok)
		throw new Error(
			`could not list actors: ${listed.status} ${await listed.text()}`,
		);
	const existing = ((await listed.json()) as { actors: { actor_id: string }[] })
		.actors[0]?.actor_id;
	if (existing) return existing;
	const deadline = Date.now() + CREATE_ACTOR_WITHIN_MS;
	for (;;) {
		const created = await fetch(`${url}/actors?namespace=default`, {
			method: "POST",
			headers,
			body: JSON.stringify({
				name: "counter",
				key: "demo",
				runner_name_selector: DEMO_RUNNER,
				crash_policy: "restart",
			}),
		});
		const body = await created.text();
		if (created.ok)
			return (JSON.parse(body) as { actor: { actor_id: string } }).actor
				.actor_id;
		// The one refusal that goes away by itself: the runner config the engine creates on our first connect.
		const waitingForRunnerConfig =
			created.status === 400 && body.includes("no_runner_config_configured");
		if (!waitingForRunnerConfig || Date.now() >= deadline)
			throw new Error(
				`could not create the counter actor: ${created.status} ${body}`,
			);
		await new Promise((r) => setTimeout(r, CREATE_ACTOR_RETRY_MS));
	}
}
