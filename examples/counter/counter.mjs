// The example actor: a counter whose value lives in the actor's KV, so it survives sleep, restarts and engine
// restarts (with SQLite). A Hono app serves it through the tunnel: `GET /count`, `POST /increment`, a WebSocket
// `/ws` that pushes every change, and `GET /page`, a page that shows the live count over a socket made with
// edgerunner/client (served as `/client.js`). Plain ESM so `node dist/cli.js` loads it without a build step; it
// needs only what every runner has (`kvGet`/`kvPut`, `fetch`, `websocket`).
import { Hono } from "hono";
import { CLIENT_MODULE } from "./client-module.generated.mjs";
import { COUNTER_PAGE } from "./page.mjs";

const COUNT_KEY = new TextEncoder().encode("count");

/**
 * RunnerConfig callbacks that host counter actors. Every start adds 1, so restarts are visible in the count.
 * @param {() => { kvGet(id: string, keys: Uint8Array[]): Promise<(Uint8Array | null)[]>; kvPut(id: string, entries: [Uint8Array, Uint8Array][]): Promise<void> }} getRunner
 */
export function counterActors(getRunner) {
	/** Open `/ws` sockets per actor, to push every change. @type {Map<string, Set<WebSocket>>} */
	const sockets = new Map();
	/** Per-actor queue, so concurrent increments never lose an update. @type {Map<string, Promise<unknown>>} */
	const queues = new Map();

	/** @param {string} actorId */
	async function read(actorId) {
		const [value] = await getRunner().kvGet(actorId, [COUNT_KEY]);
		return value ? Number(new TextDecoder().decode(value)) : 0;
	}

	/** @param {string} actorId @returns {Promise<number>} */
	function increment(actorId) {
		const next = (queues.get(actorId) ?? Promise.resolve()).then(async () => {
			const count = (await read(actorId)) + 1;
			await getRunner().kvPut(actorId, [
				[COUNT_KEY, new TextEncoder().encode(String(count))],
			]);
			const message = JSON.stringify({ count });
			for (const ws of sockets.get(actorId) ?? []) ws.send(message);
			return count;
		});
		queues.set(
			actorId,
			next.catch(() => {}),
		);
		return next;
	}

	/** @type {Hono<{ Bindings: { actorId: string } }>} */
	const api = new Hono();
	api.get("/", async (c) => c.json({ count: await read(c.env.actorId) }));
	api.get("/count", async (c) => c.json({ count: await read(c.env.actorId) }));
	api.post("/increment", async (c) =>
		c.json({ count: await increment(c.env.actorId) }),
	);
	api.get("/page", (c) => c.html(COUNTER_PAGE));
	api.get("/client.js", (c) =>
		c.body(CLIENT_MODULE, 200, {
			"content-type": "text/javascript; charset=utf-8",
		}),
	);
	// The header addressing (`x-rivet-target: actor`) forwards the whole `/request/…` path.
	const app = new Hono().route("/", api).route("/request", api);

	return {
		/** @param {string} actorId */
		async onActorStart(actorId) {
			await increment(actorId);
		},
		/** @param {string} actorId */
		async onActorStop(actorId) {
			sockets.delete(actorId);
			queues.delete(actorId);
		},
		/**
		 * @param {unknown} _runner
		 * @param {string} actorId
		 * @param {unknown} _gatewayId
		 * @param {unknown} _requestId
		 * @param {Request} request
		 */
		fetch(_runner, actorId, _gatewayId, _requestId, request) {
			return app.fetch(request, { actorId });
		},
		/**
		 * `/ws`: sends the count on open and after every change; the text "increment" increments.
		 * @param {unknown} _runner
		 * @param {string} actorId
		 * @param {WebSocket} ws
		 * @param {unknown} _gatewayId
		 * @param {unknown} _requestId
		 * @param {Request} request
		 */
		async websocket(_runner, actorId, ws, _gatewayId, _requestId, request) {
			const path = new URL(request.url).pathname;
			if (path !== "/ws" && path !== "/request/ws") {
				ws.addEventListener("open", () => ws.close(4004, "no such endpoint"));
				return;
			}
			let open = sockets.get(actorId);
			if (!open) {
				open = new Set();
				sockets.set(actorId, open);
			}
			const set = open;
			ws.addEventListener("open", async () => {
				set.add(ws);
				ws.send(JSON.stringify({ count: await read(actorId) }));
			});
			ws.addEventListener("message", (event) => {
				if (event.data === "increment") increment(actorId).catch(() => {});
			});
			ws.addEventListener("close", () => set.delete(ws));
		},
		/** Forgets every socket (the runner is shutting down). */
		stopAll() {
			sockets.clear();
			queues.clear();
		},
	};
}
