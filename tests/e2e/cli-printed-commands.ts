/**
 * The demo's printed commands, run exactly as printed: each `curl` line (as fetch) and the `node -e` WebSocket
 * line (as a child process in the repository, where `ws` resolves). Shared by the dev engine and the real engine
 * tests, which print the same gateway commands.
 */
import { expect } from "vitest";
import { REPO_ROOT } from "../helpers/build-dist.ts";
import { NodeChild } from "../helpers/node-child.ts";

/** A printed `curl [-X M] [-H "k: v"]… URL` line (the URL maybe in double quotes), run with fetch. */
export async function runCurl(line: string): Promise<Response> {
	const method = /-X (\w+)/.exec(line)?.[1] ?? "GET";
	const headers: Record<string, string> = {};
	for (const [, header] of line.matchAll(/-H "([^"]+)"/g)) {
		const [name, ...value] = (header as string).split(":");
		headers[(name as string).trim()] = value.join(":").trim();
	}
	const url = /(http:\/\/[^\s"]+)/.exec(line)?.[1] as string;
	return fetch(url, { method, headers });
}

/** The printed curl line containing every needle; throws (showing the output) if there is none. */
export function printedCurl(stdout: string, ...needles: string[]): string {
	const line = stdout
		.split("\n")
		.map((l) => l.trim())
		.find((l) => l.startsWith("curl") && needles.every((n) => l.includes(n)));
	if (!line) throw new Error(`no curl line with ${needles}:\n${stdout}`);
	return line;
}

/**
 * Runs the gateway commands: the count, the WebSocket (which must see every change), both increments. Children
 * it starts join `children`, for the caller to kill.
 */
export async function runPrintedGatewayCommands(
	stdout: string,
	children: NodeChild[],
): Promise<void> {
	const count = async (line: string) =>
		((await (await runCurl(line)).json()) as { count: number }).count;

	const before = await count(printedCurl(stdout, "/gateway/", "/count"));
	expect(before).toBeGreaterThanOrEqual(1); // every start adds 1
	const wsLine = stdout
		.split("\n")
		.map((l) => l.trim())
		.find((l) => l.startsWith("node -e"));
	if (!wsLine) throw new Error(`no WebSocket command:\n${stdout}`);
	const script = /node -e "(.*)"$/.exec(wsLine)?.[1] as string;
	const pushes = new NodeChild(
		["-e", script],
		REPO_ROOT,
		"the WebSocket command",
	);
	children.push(pushes);
	await pushes.output(new RegExp(`"count":${before}\\b`));
	expect(await count(printedCurl(stdout, "/gateway/", "/increment"))).toBe(
		before + 1,
	);
	expect(
		await count(printedCurl(stdout, "x-rivet-target", "/request/increment")),
	).toBe(before + 2);
	await pushes.output(new RegExp(`"count":${before + 2}\\b`));
	expect(pushes.stdout).toContain(`"count":${before + 1}`);
}
