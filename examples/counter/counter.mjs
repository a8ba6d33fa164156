// The example actor: a counter whose value lives in the actor's KV, so it survives sleep, restarts and
// engine restarts (with SQLite). Plain ESM so `node dist/cli.js` can load it without a build step.
// It needs only the runner methods every runner has: kvGet / kvPut.

const COUNT_KEY = new TextEncoder().encode("count");
const TICK_MS = 2000;

/**
 * RunnerConfig callbacks that host counter actors. Each running counter adds 1 every 2 s (so its KV-backed count
 * visibly moves) and answers `GET /` with the count and `POST /increment` by adding 1 (once the tunnel exists).
 * @param {() => { kvGet(id: string, keys: Uint8Array[]): Promise<(Uint8Array | null)[]>; kvPut(id: string, entries: [Uint8Array, Uint8Array][]): Promise<void> }} getRunner
 */
export function counterActors(getRunner) {
	/** @type {Map<string, ReturnType<typeof setInterval>>} */
	const ticks = new Map();

	/** @param {string} actorId */
	async function read(actorId) {
		const [value] = await getRunner().kvGet(actorId, [COUNT_KEY]);
		return value ? Number(new TextDecoder().decode(value)) : 0;
	}

	/** @param {string} actorId */
	async function increment(actorId) {
		const next = (await read(actorId)) + 1;
		await getRunner().kvPut(actorId, [
			[COUNT_KEY, new TextEncoder().encode(String(next))],
		]);
		return next;
	}

	return {
		/** @param {string} actorId */
		async onActorStart(actorId) {
			await increment(actorId);
			ticks.set(
				actorId,
				setInterval(() => {
					// A tick racing a stop may fail once the engine deallocated the actor; the next start catches up.
					increment(actorId).catch(() => {});
				}, TICK_MS),
			);
		},
		/** @param {string} actorId */
		async onActorStop(actorId) {
			clearInterval(ticks.get(actorId));
			ticks.delete(actorId);
		},
		/**
		 * @param {unknown} _runner
		 * @param {string} actorId
		 * @param {unknown} _gatewayId
		 * @param {unknown} _requestId
		 * @param {Request} request
		 */
		async fetch(_runner, actorId, _gatewayId, _requestId, request) {
			const url = new URL(request.url);
			if (request.method === "POST" && url.pathname === "/increment") {
				return Response.json({ count: await increment(actorId) });
			}
			return Response.json({ count: await read(actorId) });
		},
		/** Stops every tick (the runner is shutting down). */
		stopAll() {
			for (const tick of ticks.values()) clearInterval(tick);
			ticks.clear();
		},
	};
}
