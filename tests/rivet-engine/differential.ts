/**
 * Differential testing of two engines' HTTP APIs: the same request goes to both, and the answers are compared after
 * normalizing what differs between any two runs of one engine: ids (named by first appearance), timestamps, cursors
 * made of timestamps, URLs with ports. Messages are compared as text.
 */

/** One observed answer, normalized: what the comparison looks at. */
export interface Observation {
	status: number;
	/** `x-rivet-error`, `allow`, and the media type of `content-type`. */
	headers: Record<string, string>;
	body: unknown;
}

/** One difference between the two engines' observations of a step. */
export interface Difference {
	step: string;
	/** `status`, `headers.x-rivet-error`, or a JSON path into the body (`body.actor.error`). */
	path: string;
	real: unknown;
	dev: unknown;
}

const ID = /^[0-9a-z]{30}$/;
const COMPARED_HEADERS = [
	"x-rivet-error",
	"allow",
	// CORS, which browser clients depend on.
	"access-control-allow-origin",
	"access-control-allow-credentials",
	"access-control-allow-methods",
	"access-control-allow-headers",
	"access-control-expose-headers",
	"access-control-max-age",
	"vary",
];

/** Reads a response into an Observation; ids are named in order of first appearance (`<id1>`, …) per engine. */
export async function observe(
	response: Response,
	ids: Map<string, string>,
): Promise<Observation> {
	const headers: Record<string, string> = {};
	for (const name of COMPARED_HEADERS) {
		const value = response.headers.get(name);
		if (value !== null) headers[name] = value;
	}
	const type = response.headers.get("content-type");
	if (type) headers["content-type"] = type.split(";")[0]?.trim() ?? type;
	const text = await response.text();
	let body: unknown = text;
	if (headers["content-type"] === "application/json" && text.length > 0) {
		try {
			body = JSON.parse(text);
		} catch {
			body = text;
		}
	}
	return { status: response.status, headers, body: normalize(body, ids, "") };
}

/** A value a scripted step observed (runner frames, facts), normalized like a response body. */
export function observeValue(
	value: unknown,
	ids: Map<string, string>,
): Observation {
	return { status: 0, headers: {}, body: normalize(value, ids, "") };
}

function normalize(
	value: unknown,
	ids: Map<string, string>,
	key: string,
): unknown {
	if (typeof value === "string") {
		if (ID.test(value)) return idName(value, ids);
		if (/^http:\/\/127\.0\.0\.1:\d+\/?$/.test(value)) return "<url>";
		if (/^127\.0\.0\.1:\d+$/.test(value)) return "<host>";
		if (key === "cursor" && /^\d+$/.test(value)) return "<ts>";
		// Ids inside text (`already in use for actor '…'`) are named like the others.
		return value.replace(/\b[0-9a-z]{30}\b/g, (id) => idName(id, ids));
	}
	if (typeof value === "number" && (key.endsWith("_ts") || key === "update_ts"))
		return "<ts>";
	if (Array.isArray(value)) return value.map((v) => normalize(v, ids, key));
	if (typeof value === "object" && value !== null) {
		const out: Record<string, unknown> = {};
		for (const [k, v] of Object.entries(value)) {
			const name = ID.test(k) ? (normalize(k, ids, "") as string) : k;
			out[name] = normalize(v, ids, k);
		}
		return out;
	}
	return value;
}

function idName(id: string, ids: Map<string, string>): string {
	let name = ids.get(id);
	if (!name) {
		name = `<id${ids.size + 1}>`;
		ids.set(id, name);
	}
	return name;
}

/** Every difference between two observations of one step (status, compared headers, body leaves). */
export function differences(
	step: string,
	real: Observation,
	dev: Observation,
): Difference[] {
	const found: Difference[] = [];
	if (real.status !== dev.status)
		found.push({ step, path: "status", real: real.status, dev: dev.status });
	for (const name of new Set([
		...Object.keys(real.headers),
		...Object.keys(dev.headers),
	])) {
		if (real.headers[name] !== dev.headers[name])
			found.push({
				step,
				path: `headers.${name}`,
				real: real.headers[name],
				dev: dev.headers[name],
			});
	}
	compareJson(step, "body", real.body, dev.body, found);
	return found;
}

function compareJson(
	step: string,
	path: string,
	real: unknown,
	dev: unknown,
	found: Difference[],
): void {
	const isObject = (v: unknown) =>
		typeof v === "object" && v !== null && !Array.isArray(v);
	if (isObject(real) && isObject(dev)) {
		const a = real as Record<string, unknown>;
		const b = dev as Record<string, unknown>;
		for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
			compareJson(step, `${path}.${key}`, a[key], b[key], found);
		}
		return;
	}
	if (Array.isArray(real) && Array.isArray(dev) && real.length === dev.length) {
		real.forEach((item, i) => {
			compareJson(step, `${path}[${i}]`, item, dev[i], found);
		});
		return;
	}
	if (JSON.stringify(real) !== JSON.stringify(dev))
		found.push({ step, path, real, dev });
}

/** A difference the dev engine keeps on purpose: `doc` is its row id in docs/engine.md. */
export interface AllowedDifference {
	doc: string;
	step: RegExp;
	path: RegExp;
	/** Only when this holds for the two values (e.g. the same text but for serde's position suffix). */
	when?: (real: unknown, dev: unknown) => boolean;
	/** Timing-dependent on the real engine: may not show in a given run. */
	sometimes?: true;
}

export function isAllowed(
	difference: Difference,
	allowed: readonly AllowedDifference[],
): AllowedDifference | undefined {
	return allowed.find(
		(a) =>
			a.step.test(difference.step) &&
			a.path.test(difference.path) &&
			(a.when === undefined || a.when(difference.real, difference.dev)),
	);
}

/**
 * Gateway differences the tunnel scenarios (tests/e2e/tunnel-scenarios.ts) assert per engine, each through
 * `devEngineDiffers(kind, row)` and each a row of docs/engine.md's table (rest-differential.test.ts checks both):
 * what the dev engine keeps on purpose where the real engine 2.3.19's gateway behaves worse.
 */
export const GATEWAY_DIFFERENCES = ["D11", "D12", "D13", "D14"] as const;
export type GatewayDifference = (typeof GATEWAY_DIFFERENCES)[number];

/**
 * Differences the runner scenarios (tests/conformance/runner-scenarios.ts) branch on per engine, each named there
 * (`devEngineDiffers(kind, row)`, or `untilEngineShows(row, …)` where both engines get to the same state, the
 * real one later) and each a row of docs/engine.md's table (rest-differential.test.ts checks both).
 */
export const RUNNER_DIFFERENCES = ["D15", "D16", "D17", "D18", "D19"] as const;
export type RunnerDifference = (typeof RUNNER_DIFFERENCES)[number];
