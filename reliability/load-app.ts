/**
 * The actor app the load runs serve, in the runner's child process (load-child-runner.ts), the same for ours and
 * for the reference runner R. It counts what the runner's side saw, so the parent can compare it with what the
 * clients saw:
 *
 * - `/echo`: echoes the body (the probe and the sustained load).
 * - `/hold?after=<ms>|never`: a long poll. The handler holds the request until its actor is told to stop, then
 *   answers `after` ms later (or never): every such request is in flight when a drain begins, whatever the timing.
 *   A runner started with `holds: false` (the one that replaces a drained one) answers it at once.
 * - `onActorStop` waits for the actor's held requests to be answered, as a graceful app does; an actor with a
 *   `never` request therefore does not stop within any drain budget.
 * - WebSockets (any path): echo; opens and closes are counted.
 *
 * Requests carry `x-load-id`; responses carry `x-load-pid` (which process answered) and the id back.
 */

/** The longest a held request waits for its actor's stop, so no handler outlives a run that went wrong. */
const HOLD_CAP_MS = 120_000;

export interface AppCounts {
	started: number;
	stopped: number;
	received: number;
	/** Requests whose handler returned a response. */
	answered: number;
	socketsOpened: number;
	socketsClosed: number;
}

interface ActorSocket {
	addEventListener(
		type: "message" | "close",
		listener: (event: { data?: unknown }) => void,
	): void;
	send(data: string | ArrayBuffer | ArrayBufferView): void;
	binaryType: string;
}

export interface LoadApp {
	counts: AppCounts;
	/** `x-load-id`s of the held requests this process answered, in answer order. */
	answeredIds: number[];
	onActorStart(): Promise<void>;
	onActorStop(actorId: string): Promise<void>;
	fetch(
		runner: unknown,
		actorId: string,
		gatewayId: ArrayBuffer,
		requestId: ArrayBuffer,
		request: Request,
	): Promise<Response>;
	websocket(runner: unknown, actorId: string, ws: ActorSocket): Promise<void>;
	hibernatableWebSocket: { canHibernate: () => boolean };
}

/** `onChange` is called (at most once per turn, by the caller's choice) after any count changes. */
export function loadApp(options: {
	holds: boolean;
	onChange: () => void;
}): LoadApp {
	const counts: AppCounts = {
		started: 0,
		stopped: 0,
		received: 0,
		answered: 0,
		socketsOpened: 0,
		socketsClosed: 0,
	};
	const answeredIds: number[] = [];
	/** Per actor: resolves when its stop began; and its held requests still running. */
	const stopping = new Map<string, { promise: Promise<void>; fire(): void }>();
	const held = new Map<string, Set<Promise<unknown>>>();
	const stopSignal = (actorId: string) => {
		let signal = stopping.get(actorId);
		if (!signal) {
			let fire = () => {};
			const promise = new Promise<void>((resolve) => {
				fire = resolve;
			});
			signal = { promise, fire };
			stopping.set(actorId, signal);
		}
		return signal;
	};
	const changed = options.onChange;

	const hold = async (actorId: string, after: string): Promise<void> => {
		let cap: ReturnType<typeof setTimeout> | undefined;
		await Promise.race([
			stopSignal(actorId).promise,
			new Promise((resolve) => {
				cap = setTimeout(resolve, HOLD_CAP_MS);
			}),
		]);
		clearTimeout(cap);
		const ms = after === "never" ? HOLD_CAP_MS : Number(after) || 0;
		await new Promise((resolve) => setTimeout(resolve, ms));
	};

	return {
		counts,
		answeredIds,
		async onActorStart() {
			counts.started++;
			changed();
		},
		async onActorStop(actorId) {
			stopSignal(actorId).fire();
			const running = held.get(actorId);
			if (running) await Promise.allSettled(running);
			stopping.delete(actorId);
			held.delete(actorId);
			counts.stopped++;
			changed();
		},
		async fetch(_runner, actorId, _gatewayId, _requestId, request) {
			counts.received++;
			changed();
			const url = new URL(request.url);
			const id = request.headers.get("x-load-id") ?? "";
			const headers = { "x-load-pid": String(process.pid), "x-load-id": id };
			if (url.pathname !== "/hold") {
				const body = await request.arrayBuffer();
				counts.answered++;
				changed();
				return new Response(body, { headers });
			}
			if (options.holds) {
				const work = hold(actorId, url.searchParams.get("after") ?? "0");
				let set = held.get(actorId);
				if (!set) {
					set = new Set();
					held.set(actorId, set);
				}
				set.add(work);
				try {
					await work;
				} finally {
					set.delete(work);
				}
			}
			counts.answered++;
			answeredIds.push(Number(id));
			changed();
			return new Response(id, { headers });
		},
		async websocket(_runner, _actorId, ws) {
			counts.socketsOpened++;
			changed();
			try {
				ws.binaryType = "arraybuffer";
			} catch {
				// R's adapter only accepts what it already delivers.
			}
			ws.addEventListener("message", (event) =>
				ws.send(event.data as ArrayBuffer),
			);
			ws.addEventListener("close", () => {
				counts.socketsClosed++;
				changed();
			});
		},
		hibernatableWebSocket: { canHibernate: () => false },
	};
}
