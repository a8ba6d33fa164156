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

/** The printed page URL (`page: http://…/gateway/{id}[@token]/page`); throws (showing the output) if none. */
export function printedPageUrl(stdout: string): string {
	const url = /^\s*page: (http:\/\/\S+\/page)$/m.exec(stdout)?.[1];
	if (!url) throw new Error(`no page URL:\n${stdout}`);
	return url;
}

/**
 * The printed page answers with the counter's HTML, and the module it imports (`./client.js`) is JavaScript that
 * exports ActorClient. (tests/browser/counter-page.test.ts runs the page itself in Chromium.)
 */
export async function checkPrintedPage(stdout: string): Promise<void> {
	const url = printedPageUrl(stdout);
	const page = await fetch(url);
	expect(page.status).toBe(200);
	expect(page.headers.get("content-type")).toMatch(/^text\/html/);
	expect(await page.text()).toContain(
		'import { ActorClient } from "./client.js"',
	);
	const module = await fetch(new URL("./client.js", url));
	expect(module.status).toBe(200);
	expect(module.headers.get("content-type")).toMatch(/^text\/javascript/);
	expect(await module.text()).toMatch(/export \{[^}]*\bActorClient\b/);
}

/**
 * Runs the gateway commands: the page, the count, the WebSocket (which must see every change), both increments. Children
 * it starts join `children`, for the caller to kill.
 */
export async function runPrintedGatewayCommands(
	stdout: string,
	children: NodeChild[],
): Promise<void> {
	const count = async (line: string) =>
		((await (await runCurl(line)).json()) as { count: number }).count;

	await checkPrintedPage(stdout);
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
