/**
 * The lost threshold, end to end: our runner reaches the dev engine through a loopback TCP relay that the test
 * cuts (a network partition both sides see as an abrupt close) for longer than `runnerLostThresholdMs`.
 * The engine declares the runner lost and applies each actor's crash policy; our runner stops its actors
 * locally; after the partition heals, the engine gives the runner a new id and restarts what it rescheduled.
 */
import {
	createServer,
	connect as dial,
	type Server,
	type Socket,
} from "node:net";
import { expect, it } from "vitest";
import { RunnerLostError } from "../../src/core/index.ts";
import {
	type ActorJson,
	type RunningEngine,
	startEngine,
} from "../../src/engine/index.ts";
import {
	isDestroyed,
	isRunning,
	isSleeping,
	watchActors,
} from "../engine/actor-watch.ts";
import {
	connectedRunner,
	createCounter,
	deferCleanups,
} from "./engine-fixtures.ts";

const LOST_THRESHOLD_MS = 300;

/**
 * A TCP relay to the engine that can drop every connection and refuse new ones until healed. `cut("runner")`
 * drops only the runner's side and leaves the engine's side open and silent, as a NAT or load balancer that
 * forgets a flow does: the engine then notices only when pongs stop coming.
 */
class Partition {
	readonly #server: Server;
	readonly #clients = new Set<Socket>();
	readonly #upstreams = new Set<Socket>();
	#cut: "none" | "both" | "runner" = "none";

	constructor(targetPort: number) {
		this.#server = createServer((client) => {
			this.#track(this.#clients, client);
			if (this.#cut !== "none") {
				client.destroy();
				return;
			}
			const upstream = dial(targetPort, "127.0.0.1");
			this.#track(this.#upstreams, upstream);
			client.pipe(upstream, { end: false });
			upstream.pipe(client, { end: false });
			client.on("close", () => {
				if (this.#cut !== "runner") upstream.destroy();
			});
			upstream.on("close", () => client.destroy());
		});
	}

	#track(sockets: Set<Socket>, socket: Socket): void {
		sockets.add(socket);
		socket.on("error", () => {}); // the peer sees the drop; nothing to report here
		socket.on("close", () => sockets.delete(socket));
	}

	async listen(): Promise<string> {
		await new Promise<void>((resolve) =>
			this.#server.listen(0, "127.0.0.1", resolve),
		);
		const address = this.#server.address();
		if (address === null || typeof address === "string")
			throw new Error("relay has no TCP address");
		return `http://127.0.0.1:${address.port}`;
	}

	cut(side: "both" | "runner" = "both"): void {
		this.#cut = side;
		for (const socket of this.#clients) socket.destroy();
		if (side === "both") for (const socket of this.#upstreams) socket.destroy();
	}

	heal(): void {
		this.#cut = "none";
	}

	async close(): Promise<void> {
		this.cut("both");
		await new Promise<void>((resolve) => this.#server.close(() => resolve()));
	}
}

const defer = deferCleanups();

/** The dev engine with a short lost threshold, and our runner connected to it through a {@link Partition}. */
async function runnerBehindPartition(watch: ReturnType<typeof watchActors>) {
	const engine: RunningEngine = await startEngine({
		port: 0,
		onActorChange: watch.onActorChange,
		runnerLostThresholdMs: LOST_THRESHOLD_MS,
	});
	defer(() => engine.close());
	const partition = new Partition(engine.port);
	const relayUrl = await partition.listen();
	defer(() => partition.close());
	const { runner, events } = await connectedRunner(engine, defer, {
		maxReconnectDelayMs: 40,
		endpoint: relayUrl,
	});
	return { engine, partition, runner, events };
}

it("past the lost threshold: actors stopped locally, crash policy applied, new runner id on reconnect", async () => {
	const watch = watchActors();
	const { engine, partition, runner, events } =
		await runnerBehindPartition(watch);
	const firstRunnerId = runner.runnerId;
	expect(runner.getProtocolMetadata()?.runnerLostThreshold).toBe(
		BigInt(LOST_THRESHOLD_MS),
	);

	const create = async (key: string, crashPolicy: string) => {
		const actor = await createCounter(engine, { key, crashPolicy });
		await watch.until(actor.actor_id, isRunning);
		return actor.actor_id;
	};
	const restarted = await create("restart", "restart");
	const sleeper = await create("sleep", "sleep");
	const destroyed = await create("destroy", "destroy");
	expect(events.started.map((s) => s.generation)).toEqual([0, 0, 0]);

	partition.cut();
	// Made while disconnected: queued, then failed when the runner gives up on its actors.
	const queuedRead = runner.kvGet(restarted, [new TextEncoder().encode("k")]);
	await expect(queuedRead).rejects.toBeInstanceOf(RunnerLostError);

	// Our side: the lost timer stopped every actor here.
	await events.until("local stops", () => events.stopped.length === 3);
	expect(events.stopped.map((s) => s.actorId).sort()).toEqual(
		[restarted, sleeper, destroyed].sort(),
	);
	expect(runner.actors.size).toBe(0);
	expect(runner.state).toBe("reconnecting");
	// The engine's side: the runner is lost, each actor follows its crash policy.
	const lost = (a: ActorJson) => a.error === "lost: runner connection lost";
	await watch.until(
		restarted,
		(a) => lost(a) && a.reschedule_ts !== null && a.connectable_ts === null,
	);
	await watch.until(sleeper, (a) => lost(a) && isSleeping(a));
	await watch.until(destroyed, (a) => lost(a) && isDestroyed(a));

	partition.heal();
	await events.until("reconnection", () => events.connects === 2);
	expect(runner.runnerId).toEqual(expect.any(String));
	expect(runner.runnerId).not.toBe(firstRunnerId);
	// Only the rescheduled actor comes back, as the next generation, on the new runner id.
	await events.until("restart of the rescheduled actor", () =>
		events.started.some((s) => s.actorId === restarted && s.generation === 1),
	);
	await watch.until(restarted, isRunning);
	expect(events.started.filter((s) => s.generation === 1)).toEqual([
		expect.objectContaining({ actorId: restarted, generation: 1 }),
	]);
	expect(runner.hasActor(restarted, 1)).toBe(true);
	expect(runner.hasActor(sleeper)).toBe(false);

	const listed = (await (
		await fetch(`${engine.url}/runners?namespace=default&include_stopped=true`)
	).json()) as {
		runners: {
			runner_id: string;
			stop_ts: number | null;
			connected: boolean;
		}[];
	};
	const byId = new Map(listed.runners.map((r) => [r.runner_id, r]));
	expect(byId.get(firstRunnerId as string)).toMatchObject({ connected: false });
	expect(byId.get(firstRunnerId as string)?.stop_ts).not.toBeNull();
	expect(byId.get(runner.runnerId as string)).toMatchObject({
		connected: true,
		stop_ts: null,
	});
});

// The runner's lost timer runs from when IT saw the close, the engine's from when the engine saw it, which after
// a half-open cut is only its ping timeout (15 s) later. In between the runner has stopped its actors locally yet
// reconnects to the same runner id. R tells no one, and the engine keeps the actor "running" there with nobody
// hosting it; we report each lost actor Stopped(Error) on that reconnect, so the engine applies the crash policy.
it("after a half-open cut past the lost threshold, the runner back under its old id reports its lost actors and the engine reschedules them", async () => {
	const watch = watchActors();
	const { engine, partition, runner, events } =
		await runnerBehindPartition(watch);
	const firstRunnerId = runner.runnerId;
	const { actor_id: actorId } = await createCounter(engine, {
		crashPolicy: "restart",
	});
	await watch.until(actorId, isRunning);

	partition.cut("runner");
	await events.until("local stop", () => events.stopped.length === 1);
	partition.heal();
	await events.until("reconnection", () => events.connects === 2);
	expect(runner.runnerId).toBe(firstRunnerId); // the engine never noticed: same identity
	// The crash policy (restart) brings the actor back here as the next generation.
	await events.until("restart", () =>
		events.started.some((s) => s.actorId === actorId && s.generation === 1),
	);
	const actor = await watch.until(actorId, isRunning);
	expect(actor.destroy_ts).toBeNull();
	expect(runner.hasActor(actorId, 1)).toBe(true);
});
