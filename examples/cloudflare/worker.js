// The counter actor in a Cloudflare Durable Object (`npx wrangler dev` at the repository root), plus the
// engine-started ("serverless") endpoint on GET /start.
//   GET /runner  wakes the runner object (it also restarts itself from its alarm heartbeat)
//   GET /start   the serverless endpoint the engine calls (one runner per request)
import {
	createServerlessApp,
	RunnerDurableObject,
} from "edgerunner/cloudflare";
import { counterActors } from "../counter/counter.mjs";

/** The runner object: the counter's callbacks; endpoint, namespace, runner name and slots come from [vars]. */
export class CounterRunner extends RunnerDurableObject {
	#counter = counterActors(() => {
		if (!this.runner) throw new Error("runner not started yet");
		return this.runner;
	});

	runnerConfig() {
		return { version: 1, ...this.#counter };
	}
}

/** @type {import("hono").Hono | undefined} */
let serverless;

export default {
	/**
	 * @param {Request} request
	 * @param {{ RUNNER: { idFromName(name: string): unknown; get(id: unknown): { fetch(request: Request): Promise<Response> } } }} env
	 */
	async fetch(request, env) {
		const url = new URL(request.url);
		if (url.pathname === "/start" || url.pathname === "/health") {
			// Built on first use, not at module scope.
			serverless ??= createServerlessApp({
				platform: { name: "cloudflare", WebSocket },
				config: (_start, runner) => ({
					version: 1,
					...counterActors(() => runner),
				}),
			});
			return serverless.fetch(request);
		}
		if (url.pathname === "/runner") {
			return env.RUNNER.get(env.RUNNER.idFromName("main")).fetch(request);
		}
		return new Response("edgerunner counter: GET /runner, GET /start\n", {
			status: 404,
		});
	},
};
