// The counter actor on Node ≥ 20: `node examples/node/main.mjs` (after `npm run build`; from an install of
// edgerunner, just `node main.mjs`). Prints one JSON line per runner event; SIGTERM/SIGINT drain, then exit.
import { startRunner } from "edgerunner/node";
import { counterActors } from "../counter/counter.mjs";

const env = process.env;
/** @type {import("edgerunner").Runner | undefined} */
let runner;
const counter = counterActors(() => {
	if (!runner) throw new Error("runner not started yet");
	return runner;
});
const print = (event, fields = {}) =>
	console.log(JSON.stringify({ event, runtime: "node", ...fields }));

runner = await startRunner(
	{
		version: 1,
		endpoint: env.RIVET_ENDPOINT ?? "http://127.0.0.1:6420",
		token: env.RIVET_TOKEN,
		namespace: env.RIVET_NAMESPACE ?? "default",
		runnerName: env.RIVET_RUNNER_NAME ?? "counter",
		totalSlots: Number(env.RIVET_TOTAL_SLOTS ?? 100),
		...counter,
		onActorStart: async (actorId, generation, config) => {
			await counter.onActorStart(actorId, generation, config);
			print("actor-started", { actorId });
		},
		onConnected: () => print("connected", { runnerId: runner?.runnerId }),
	},
	{ drainTimeoutMs: Number(env.EDGERUNNER_DRAIN_TIMEOUT_MS ?? 30_000) },
);
print("started", { pid: process.pid });
runner.closed.then((report) => {
	counter.stopAll();
	print("stopped", { report });
});
