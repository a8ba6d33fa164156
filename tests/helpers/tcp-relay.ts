/**
 * A loopback TCP relay in front of an engine, for runner tests that need a network partition or the exact URL a
 * runner dialled (its `runner_key` is private in the reference runner). `cut("both")` drops every connection and
 * refuses new ones until `heal()`; `cut("runner")` drops only the runner's side and leaves the engine's side open
 * and silent, as a NAT that forgets a flow does (the engine then notices only when pongs stop coming).
 */
import {
	createServer,
	connect as dial,
	type Server,
	type Socket,
} from "node:net";

export class TcpRelay {
	readonly #server: Server;
	readonly #clients = new Set<Socket>();
	readonly #upstreams = new Set<Socket>();
	#cut: "none" | "both" | "runner" = "none";
	/** The request target of every HTTP request line seen (e.g. `/runners/connect?…&runner_key=…`), in order. */
	readonly requested: string[] = [];

	constructor(targetUrl: string) {
		const target = new URL(targetUrl);
		this.#server = createServer((client) => {
			this.#track(this.#clients, client);
			if (this.#cut !== "none") {
				client.destroy();
				return;
			}
			const upstream = dial(Number(target.port), target.hostname);
			this.#track(this.#upstreams, upstream);
			client.once("data", (chunk: Buffer) => {
				const line = /^[A-Z]+ (\S+) HTTP/.exec(chunk.toString("latin1"));
				if (line?.[1]) this.requested.push(line[1]);
			});
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

	/** Starts listening on a free loopback port; resolves with the relay's `http://` URL. */
	async listen(): Promise<string> {
		await new Promise<void>((resolve) =>
			this.#server.listen(0, "127.0.0.1", resolve),
		);
		const address = this.#server.address();
		if (address === null || typeof address === "string")
			throw new Error("relay has no TCP address");
		return `http://127.0.0.1:${address.port}`;
	}

	/** The `runner_key` of the last `/runners/connect` seen, if any. */
	get lastRunnerKey(): string | undefined {
		const connect = this.requested.findLast((target) =>
			target.startsWith("/runners/connect"),
		);
		if (connect === undefined) return undefined;
		return (
			new URL(connect, "http://relay").searchParams.get("runner_key") ??
			undefined
		);
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
