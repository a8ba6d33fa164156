/**
 * `edgerunner cluster up|down` as a user runs them (`node dist/cli.js`): `up` prints each node's URL, Postgres' and
 * NATS' addresses and the data dir, every node answers /health, and `down` from another process stops everything
 * `up` started, leaving no process behind. Also: SIGINT on `up` stops it cleanly, and `down` cleans up after an
 * `up` that was SIGKILLed (its children run in their own process groups and outlive it).
 */
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { CLUSTER_STATE_FILE } from "../../src/rivet-cluster.ts";
import { buildDistIfStale, REPO_ROOT } from "../helpers/build-dist.ts";
import { clusterSkipReason } from "../helpers/cluster.ts";
import { NodeChild } from "../helpers/node-child.ts";

const CLI = join(REPO_ROOT, "dist", "cli.js");
const UP_WITHIN_MS = 60_000;
const skip = clusterSkipReason();

const UP_BANNER =
	/node 1: (http:\/\/127\.0\.0\.1:\d+)[^\n]*\(pid (\d+)[\s\S]*?node 2: (http:\/\/127\.0\.0\.1:\d+)[^\n]*\(pid (\d+)[\s\S]*?PostgreSQL: (postgresql:\/\/\S+)\s+\(pid (\d+)\)\n\s*NATS: (\S+)\s+\(pid (\d+)\)\n\s*data: (\S+)/;

describe.skipIf(skip !== undefined)(
	`edgerunner cluster up|down${skip ? ` — skipped: ${skip}` : ""}`,
	() => {
		beforeAll(() => buildDistIfStale(CLI), 60_000);

		const children: NodeChild[] = [];
		const dirs: string[] = [];
		const pids: number[] = [];
		afterEach(async () => {
			await Promise.all(children.splice(0).map((c) => c.kill()));
			// Whatever a failed test left running: only the pids the cluster printed.
			for (const pid of pids.splice(0))
				if (alive(pid)) process.kill(pid, "SIGKILL");
			for (const dir of dirs.splice(0))
				rmSync(dir, { recursive: true, force: true });
		});

		/** A scratch folder the postgres user can enter (mkdtemp makes 0700 folders). */
		function scratch(): string {
			const dir = mkdtempSync(join(tmpdir(), "edgerunner-cluster-cli-"));
			chmodSync(dir, 0o755);
			dirs.push(dir);
			return dir;
		}

		async function up(cwd: string, data: string) {
			const cli = new NodeChild(
				[CLI, "cluster", "up", "--nodes", "2", "--data", data],
				cwd,
				"edgerunner cluster up",
			);
			children.push(cli);
			const match = await until(
				() => cli.stdout.match(UP_BANNER),
				UP_WITHIN_MS,
				() => `no banner from cluster up:\n${cli.stdout}\n${cli.stderr}`,
			);
			const [
				,
				urlA,
				pidA,
				urlB,
				pidB,
				postgres,
				pgPid,
				nats,
				natsPid,
				dataDir,
			] = match;
			const started = [pidA, pidB, pgPid, natsPid].map(Number);
			pids.push(...started);
			return {
				cli,
				urls: [urlA, urlB] as string[],
				postgres,
				nats,
				dataDir: dataDir as string,
				pids: started,
			};
		}

		it("up prints the nodes, Postgres, NATS and the data dir; each node answers /health; down from another process stops everything", async () => {
			const cwd = scratch();
			const {
				cli,
				urls,
				postgres,
				nats,
				dataDir,
				pids: started,
			} = await up(cwd, "cluster-data");
			expect(dataDir).toBe(join(cwd, "cluster-data"));
			expect(postgres).toMatch(
				/^postgresql:\/\/postgres@127\.0\.0\.1:\d+\/rivet$/,
			);
			expect(nats).toMatch(/^127\.0\.0\.1:\d+$/);
			expect(cli.stdout).toContain(`endpoint: ${JSON.stringify(urls)}`);
			expect(existsSync(join(dataDir, CLUSTER_STATE_FILE))).toBe(true);
			for (const url of urls) {
				const health = await fetch(`${url}/health`);
				expect(health.status).toBe(200);
			}
			expect(started.every(alive)).toBe(true);

			const down = await runToEnd(
				[CLI, "cluster", "down", "--data", "cluster-data"],
				cwd,
			);
			expect(down.code).toBe(0);
			expect(down.stdout).toMatch(/cluster stopped/);
			expect((await cli.exited).code).toBe(0);
			expect(cli.stdout).toContain("cluster stopped cleanly");
			expect(started.filter(alive)).toEqual([]);
			expect(existsSync(join(dataDir, CLUSTER_STATE_FILE))).toBe(false);
			for (const url of urls)
				await expect(fetch(`${url}/health`)).rejects.toThrow();
		}, 120_000);

		it("SIGINT on up stops the cluster cleanly; down after an up that was SIGKILLed stops what it left", async () => {
			const cwd = scratch();
			// The default data dir, ./.edgerunner/cluster, kept across runs: the second up carries on.
			const first = await up(cwd, join(".edgerunner", "cluster"));
			const { code } = await first.cli.interrupt();
			expect(code).toBe(0);
			expect(first.pids.filter(alive)).toEqual([]);

			const second = await up(cwd, join(".edgerunner", "cluster"));
			await second.cli.kill(); // SIGKILL: no cleanup ran
			expect(second.pids.every(alive)).toBe(true);
			const down = await runToEnd([CLI, "cluster", "down"], cwd);
			expect(down.code).toBe(0);
			expect(second.pids.filter(alive)).toEqual([]);
		}, 150_000);
	},
);

function alive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch {
		return false;
	}
}

async function until<T>(
	check: () => T | null | undefined,
	withinMs: number,
	explain: () => string,
): Promise<T> {
	const deadline = Date.now() + withinMs;
	for (;;) {
		const value = check();
		if (value) return value;
		if (Date.now() > deadline) throw new Error(explain());
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}

function runToEnd(
	args: string[],
	cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
	return new Promise((resolve) => {
		const child = spawn(process.execPath, args, { cwd });
		let stdout = "";
		let stderr = "";
		child.stdout.on("data", (chunk) => {
			stdout += chunk;
		});
		child.stderr.on("data", (chunk) => {
			stderr += chunk;
		});
		child.once("close", (code) => resolve({ code, stdout, stderr }));
	});
}
