/**
 * The API's answers with a token configured, on the dev engine and the real Rivet Engine 2.3.19: missing, wrong
 * and right bearer tokens get the same status and body on both (the REST differential runs without a token).
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import {
	ENGINE_KINDS,
	type EngineKind,
	type EngineUnderTest,
	startEngineUnderTest,
} from "../helpers/engines.ts";

const TOKEN = "s3cret-token";
const CASES: [string, Record<string, string>][] = [
	["missing", {}],
	["wrong", { authorization: "Bearer nope" }],
	["right", { authorization: `Bearer ${TOKEN}` }],
];

const engines = new Map<EngineKind, EngineUnderTest>();
beforeAll(async () => {
	for (const kind of ENGINE_KINDS)
		engines.set(kind, await startEngineUnderTest(kind, { token: TOKEN }));
}, 60_000);
afterAll(async () => {
	for (const engine of engines.values()) await engine.close();
});

async function answers(engine: EngineUnderTest) {
	const seen: Record<string, { status: number; body: unknown }> = {};
	for (const [name, headers] of CASES) {
		// Not engine.api(): it would add the right token.
		const response = await fetch(
			`${engine.url}/actors?namespace=default&name=auth-probe`,
			{ headers },
		);
		seen[name] = { status: response.status, body: await response.json() };
	}
	return seen;
}

it("a missing, a wrong and the right API token get the same answers from the dev engine and the Rivet Engine", async () => {
	const dev = await answers(engines.get("dev") as EngineUnderTest);
	const rivet = await answers(engines.get("rivet") as EngineUnderTest);
	expect(dev).toEqual(rivet);
	expect(rivet.missing).toEqual({
		status: 403,
		body: {
			group: "api",
			code: "forbidden",
			message: "Access denied: Token not provided",
			metadata: { reason: "Token not provided" },
		},
	});
	expect(rivet.right?.status).toBe(200);
}, 30_000);
