/**
 * The actor app every benchmarked runner serves (the floor mirrors it inline): lifecycle callbacks that do
 * nothing, an HTTP echo, and a WebSocket that either echoes ("/echo") or counts ("/count/<n>": one "done" text
 * message after n messages, to time one-way traffic). Written against the subset of the WebSocket API that both
 * the reference runner's adapter and our WHATWG socket offer.
 */

interface ActorSocket {
	addEventListener(
		type: "message",
		listener: (event: { data: unknown }) => void,
	): void;
	send(data: string | ArrayBuffer | ArrayBufferView): void;
	binaryType: string;
}

/** n of a "/count/<n>" path; undefined for any other path (echo). */
export function parseCountPath(path: string): number | undefined {
	const match = /^\/count\/(\d+)$/.exec(path);
	return match ? Number(match[1]) : undefined;
}

export const benchActorApp = {
	onActorStart: async () => {},
	onActorStop: async () => {},
	fetch: async (
		_runner: unknown,
		_actorId: string,
		_gatewayId: ArrayBuffer,
		_requestId: ArrayBuffer,
		request: Request,
	): Promise<Response> => new Response(await request.arrayBuffer()),
	websocket: async (
		_runner: unknown,
		_actorId: string,
		ws: ActorSocket,
		_gatewayId: ArrayBuffer,
		_requestId: ArrayBuffer,
		_request: Request,
		path: string,
	): Promise<void> => {
		try {
			ws.binaryType = "arraybuffer";
		} catch {
			// The reference runner's adapter only accepts what it already delivers; it hands out Buffers.
		}
		const target = parseCountPath(path);
		if (target === undefined) {
			ws.addEventListener("message", (event) =>
				ws.send(event.data as ArrayBuffer),
			);
			return;
		}
		let received = 0;
		ws.addEventListener("message", () => {
			if (++received === target) ws.send("done");
		});
	},
	hibernatableWebSocket: { canHibernate: () => false },
};
