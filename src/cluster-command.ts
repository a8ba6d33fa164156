/**
 * `edgerunner cluster up|down [--nodes 2] [--data DIR]`: a Rivet Engine cluster on this machine (src/rivet-cluster.ts)
 * for people to try. `up` runs in the foreground, prints each node's URL, Postgres' and NATS' addresses and the data
 * dir, writes the cluster's pids to a state file there, and stops everything on SIGINT/SIGTERM. `down` (from another
 * shell) reads that file and stops the cluster: through the `up` process if it still runs, else process by process.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
	CLUSTER_STATE_FILE,
	type ClusterState,
	removeClusterState,
	startRivetCluster,
	writeClusterState,
} from "./rivet-cluster.ts";

const USAGE = `usage:
  edgerunner cluster up [--nodes 2] [--data DIR]    a Rivet Engine cluster on this machine, in the foreground
  edgerunner cluster down [--data DIR]              stop the cluster started from DIR (from another shell)
options:
  --nodes <n>   engine nodes (default 2)
  --data <dir>  Postgres' state, each node's config and log, and the state file (default ./.edgerunner/cluster;
                kept, so the next \`up\` carries on; remove it to start fresh)
needs PostgreSQL and nats-server (Debian/Ubuntu: apt-get install postgresql nats-server) and the Rivet Engine
(npm install @rivetkit/engine-cli@2.3.19)`;

const DEFAULT_DATA = join(".edgerunner", "cluster");
/** How long `down` waits for the cluster to stop before it signals its processes itself. */
const DOWN_WITHIN_MS = 30_000;
const POLL_MS = 100;

export async function runClusterCommand(argv: string[]): Promise<void> {
	const { values, positionals } = parseArgs({
		args: argv,
		allowPositionals: true,
		options: {
			nodes: { type: "string", default: "2" },
			data: { type: "string", default: DEFAULT_DATA },
			help: { type: "boolean", default: false },
		},
	});
	const action = positionals[0];
	if (values.help || (action !== "up" && action !== "down")) {
		console.log(USAGE);
		process.exitCode = values.help ? 0 : 2;
		return;
	}
	const dataDir = resolve(values.data);
	if (action === "down") {
		await clusterDown(dataDir);
		return;
	}
	const nodes = Number(values.nodes);
	if (!Number.isInteger(nodes) || nodes < 1 || nodes > 16)
		throw new Error(`--nodes must be 1–16, got ${values.nodes}`);
	await clusterUp(dataDir, nodes);
}

async function clusterUp(dataDir: string, nodes: number): Promise<void> {
	const running = readState(dataDir);
	if (running && isAlive(running.controllerPid))
		throw new Error(
			`a cluster already runs from ${dataDir} (pid ${running.controllerPid}): \`edgerunner cluster down --data ${dataDir}\` stops it`,
		);
	console.log(
		`starting a Rivet Engine cluster of ${nodes} node(s) in ${dataDir}…`,
	);
	const cluster = await startRivetCluster({
		dataDir,
		nodes,
		log: (line) => console.log(`  ${line}`),
	});
	const statePath = writeClusterState(cluster);
	let stopping = false;
	const stop = async (signal: string) => {
		if (stopping) return;
		stopping = true;
		console.log(`\n${signal}: stopping the cluster…`);
		await cluster.stop();
		removeClusterState(dataDir);
		console.log("cluster stopped cleanly");
		process.exit(0);
	};
	process.on("SIGINT", () => void stop("SIGINT"));
	process.on("SIGTERM", () => void stop("SIGTERM"));
	const urls = cluster.nodes.map((node) => node.url);
	console.log(`
Rivet Engine cluster up: ${nodes} node(s), one datacenter, state in Postgres.
${cluster.nodes.map((node) => `  node ${node.index}: ${node.url}   (pid ${node.pid}, log ${node.logPath})`).join("\n")}
  PostgreSQL: ${cluster.postgresUrl}   (pid ${cluster.postgres.pid})
  NATS: ${cluster.natsAddress}   (pid ${cluster.nats.pid})
  data: ${dataDir}   (state file ${statePath})

Every node serves the API, the gateway and /runners/connect. Give a runner every node, so it moves to another
when one goes down: endpoint: ${JSON.stringify(urls)}
Declare a runner name's config before creating actors for it, through any node (a runner's first connect makes
one too, but for a moment actors for it are refused 400 no_runner_config_configured):
  curl -X PUT -H "content-type: application/json" -d '{"datacenters":{"default":{"normal":{}}}}' \
    "${urls[0]}/runner-configs/<runner name>?namespace=default"

Ctrl-C here, or \`edgerunner cluster down --data ${dataDir}\` from another shell, stops everything.`);
}

/** Stops the cluster whose state file is in `dataDir`. */
async function clusterDown(dataDir: string): Promise<void> {
	const state = readState(dataDir);
	if (state === undefined) {
		console.log(
			`no cluster state in ${dataDir} (${CLUSTER_STATE_FILE}): nothing to stop`,
		);
		return;
	}
	const pids = [
		...state.nodes.map((node) => node.pid),
		state.nats.pid,
		state.postgres.pid,
	].filter((pid): pid is number => pid !== undefined);
	if (isAlive(state.controllerPid)) {
		// The `up` process stops everything in order (nodes, NATS, Postgres) and removes the state file.
		process.kill(state.controllerPid, "SIGTERM");
		if (await untilGone([state.controllerPid, ...pids], DOWN_WITHIN_MS)) {
			console.log(`cluster stopped (pid ${state.controllerPid} stopped it)`);
			removeClusterState(dataDir);
			return;
		}
	}
	// No `up` process (it was killed): stop what it left, in the same order, each only if it is still ours.
	await stopProcesses(
		state.nodes
			.map((node) => node.pid)
			.filter((pid): pid is number => pid !== undefined),
		"rivet-engine",
		"SIGTERM",
	);
	await stopProcesses([state.nats.pid], "nats-server", "SIGTERM");
	await stopProcesses([state.postgres.pid], "postgres", "SIGINT");
	removeClusterState(dataDir);
	console.log("cluster stopped");
}

function readState(dataDir: string): ClusterState | undefined {
	const path = join(dataDir, CLUSTER_STATE_FILE);
	if (!existsSync(path)) return undefined;
	return JSON.parse(readFileSync(path, "utf8")) as ClusterState;
}

function isAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === "EPERM";
	}
}

/** Whether `pid` still runs `program` (a pid may have been reused since the state file was written). */
function runs(pid: number, program: string): boolean {
	if (!isAlive(pid)) return false;
	try {
		return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(program);
	} catch {
		return true; // no /proc (not Linux): trust the state file
	}
}

async function untilGone(pids: number[], withinMs: number): Promise<boolean> {
	const deadline = Date.now() + withinMs;
	while (Date.now() < deadline) {
		if (pids.every((pid) => !isAlive(pid))) return true;
		await new Promise((r) => setTimeout(r, POLL_MS));
	}
	return pids.every((pid) => !isAlive(pid));
}

async function stopProcesses(
	pids: number[],
	program: string,
	signal: NodeJS.Signals,
): Promise<void> {
	const ours = pids.filter((pid) => runs(pid, program));
	for (const pid of ours) process.kill(pid, signal);
	if (await untilGone(ours, 10_000)) return;
	for (const pid of ours) if (isAlive(pid)) process.kill(pid, "SIGKILL");
	await untilGone(ours, 5_000);
}
