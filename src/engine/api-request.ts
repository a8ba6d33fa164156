import { EngineError } from "./errors.ts";

/**
 * Request parsing with the real engine's rules (serde + `deny_unknown_fields` in rivet-api-types): required fields
 * are required, unknown fields and query parameters are refused, and every refusal is `400 api.bad_request`
 * "Request is invalid: {reason}" with `metadata.reason`.
 */
export function invalidRequest(reason: string): EngineError {
	return new EngineError(
		"api",
		"bad_request",
		`Request is invalid: ${reason}`,
		400,
		{ reason },
	);
}

/** How one field is read: a string (required or not), a crash policy, an optional bool or count, a repeated string. */
export type FieldKind =
	| "string"
	| "string?"
	| "crash_policy"
	| "bool?"
	| "count?"
	| "string[]"
	| "json?";
export type FieldSchema = Readonly<Record<string, FieldKind>>;

type Parsed<S extends FieldSchema> = {
	[K in keyof S]: S[K] extends "string?"
		? string | null
		: S[K] extends "crash_policy"
			? "restart" | "sleep" | "destroy"
			: S[K] extends "bool?"
				? boolean | null
				: S[K] extends "count?"
					? number | null
					: S[K] extends "string[]"
						? string[]
						: S[K] extends "json?"
							? unknown
							: string;
};

const CRASH_POLICIES = ["restart", "sleep", "destroy"] as const;
const BODY = "Failed to deserialize the JSON body into the target type";
const QUERY = "Failed to deserialize query string";

function expectedOneOf(schema: FieldSchema): string {
	const fields = Object.keys(schema).map((f) => `\`${f}\``);
	if (fields.length === 0) return "there are no fields";
	if (fields.length === 1) return `expected ${fields[0]}`;
	return `expected one of ${fields.join(", ")}`;
}

function describe(value: unknown): string {
	if (value === null) return "null";
	if (Array.isArray(value)) return "sequence";
	if (typeof value === "object") return "map";
	if (typeof value === "number") return `integer \`${value}\``;
	if (typeof value === "boolean") return `boolean \`${value}\``;
	return `string "${String(value)}"`;
}

function readFields<S extends FieldSchema>(
	source: Record<string, unknown>,
	schema: S,
	context: string,
): Parsed<S> {
	for (const field of Object.keys(source)) {
		if (!Object.hasOwn(schema, field))
			throw invalidRequest(
				`${context}: ${field}: unknown field \`${field}\`, ${expectedOneOf(schema)}`,
			);
	}
	const out: Record<string, unknown> = {};
	for (const [field, kind] of Object.entries(schema)) {
		const value = source[field];
		if (kind === "string[]") {
			out[field] = value === undefined ? [] : [value].flat().map(String);
			continue;
		}
		if (
			(kind === "string?" ||
				kind === "bool?" ||
				kind === "count?" ||
				kind === "json?") &&
			(value === undefined || value === null)
		) {
			out[field] = kind === "json?" ? undefined : null;
			continue;
		}
		if (kind === "json?") {
			out[field] = value;
			continue;
		}
		if (kind === "bool?") {
			if (value !== "true" && value !== "false" && typeof value !== "boolean")
				throw invalidRequest(
					`${context}: ${field}: provided string was not \`true\` or \`false\``,
				);
			out[field] = value === true || value === "true";
			continue;
		}
		if (kind === "count?") {
			const text = String(value);
			if (!/^[0-9]+$/.test(text))
				throw invalidRequest(
					`${context}: ${field}: invalid digit found in string`,
				);
			out[field] = Number(text);
			continue;
		}
		if (value === undefined)
			throw invalidRequest(`${context}: missing field \`${field}\``);
		if (kind === "crash_policy") {
			if (typeof value !== "string")
				throw invalidRequest(
					`${context}: ${field}: invalid type: ${describe(value)}, expected a string`,
				);
			if (!CRASH_POLICIES.includes(value as "sleep"))
				throw invalidRequest(
					`${context}: ${field}: unknown variant \`${value}\`, expected one of \`restart\`, \`sleep\`, \`destroy\``,
				);
		} else if (typeof value !== "string") {
			throw invalidRequest(
				`${context}: ${field}: invalid type: ${describe(value)}, expected a string`,
			);
		}
		out[field] = value;
	}
	return out as Parsed<S>;
}

/** A JSON object body read against `schema`. */
export async function readJsonBody<S extends FieldSchema>(
	request: Request,
	schema: S,
): Promise<Parsed<S>> {
	const type = request.headers.get("content-type") ?? "";
	if (!/^application\/(.+\+)?json\b/i.test(type))
		throw invalidRequest(
			"Expected request with `Content-Type: application/json`",
		);
	const text = await request.text();
	let body: unknown;
	try {
		body = JSON.parse(text);
	} catch (error) {
		throw invalidRequest(
			`Failed to parse the request body as JSON: ${(error as Error).message}`,
		);
	}
	if (typeof body !== "object" || body === null || Array.isArray(body))
		throw invalidRequest(
			`${BODY}: invalid type: ${describe(body)}, expected a map`,
		);
	return readFields(body as Record<string, unknown>, schema, BODY);
}

/** The query string read against `schema` (every value is a string). */
export function readQuery<S extends FieldSchema>(
	url: string,
	schema: S,
): Parsed<S> {
	const params: Record<string, unknown> = {};
	for (const [name, value] of new URL(url).searchParams) {
		// A repeated parameter (`actor_id=a&actor_id=b`) collects; others keep the last value.
		if (schema[name] === "string[]")
			params[name] = [...((params[name] as string[] | undefined) ?? []), value];
		else params[name] = value;
	}
	return readFields(params, schema, QUERY);
}
