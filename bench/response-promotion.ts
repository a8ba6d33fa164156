/**
 * `node bench/run.mjs response-promotion`: how much a handler's `new Response(body)` costs the old generation on
 * this Node, independent of any runner. It builds 200 000 responses with 64 in flight, the way a runner serves
 * concurrency 64, reads each body to the end, and sums what V8 reports (`--trace-gc-nvp`) as promoted by
 * scavenges, with the number of full (mark-compact) collections. Compared with the same loop building a
 * response without a body and with plain objects of a similar size.
 *
 * Why: the HTTP tunnel's p99 at concurrency 64 is set by full collections (see bench/notes.md). On Node 20 a web
 * stream survives the young generation, so every response body a handler builds is promoted whether the runner
 * reads it with `arrayBuffer()` or a reader, and old-space collections recur at a rate the runner cannot change.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const COUNT = 200_000;
const IN_FLIGHT = 64;
const KINDS = [
	"plain-object",
	"response-no-body",
	"response-1kb-read",
] as const;
type Kind = (typeof KINDS)[number];

const body = new Uint8Array(1024).fill(0x61).buffer;

async function one(kind: Kind): Promise<unknown> {
	switch (kind) {
		case "plain-object":
			return { body: body.slice(0), headers: new Map([["a", "b"]]) };
		case "response-no-body":
			return new Response(null, { status: 204 });
		case "response-1kb-read":
			return new Response(body.slice(0)).arrayBuffer();
	}
}

async function child(kind: Kind): Promise<void> {
	let done = 0;
	const worker = async () => {
		while (done < COUNT) {
			await one(kind);
			done++;
		}
	};
	await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

function measure(kind: Kind): { promotedBytes: number; fullGcs: number } {
	const run = spawnSync(
		process.execPath,
		["--trace-gc-nvp", fileURLToPath(import.meta.url), "--child", kind],
		{ encoding: "utf8", maxBuffer: 256 * 1024 * 1024 },
	);
	if (run.status !== 0) throw new Error(`${kind}: ${run.stderr}`);
	let promotedBytes = 0;
	let fullGcs = 0;
	for (const line of run.stdout.split("\n")) {
		if (/ gc=s /.test(line))
			promotedBytes += Number(/ promoted=(\d+)/.exec(line)?.[1] ?? 0);
		else if (/ gc=mc /.test(line)) fullGcs++;
	}
	return { promotedBytes, fullGcs };
}

const childIndex = process.argv.indexOf("--child");
if (childIndex >= 0) await child(process.argv[childIndex + 1] as Kind);
else {
	console.log(
		`Node ${process.version}: ${COUNT.toLocaleString("en-US")} iterations, ${IN_FLIGHT} in flight`,
	);
	for (const kind of KINDS) {
		const { promotedBytes, fullGcs } = measure(kind);
		console.log(
			`  ${kind.padEnd(18)} promoted ${(promotedBytes / COUNT).toFixed(0).padStart(5)} B per iteration, ${fullGcs} full collections`,
		);
	}
}
