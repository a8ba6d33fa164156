import { randomUUID } from "node:crypto";

const BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz";
const ID_LENGTH = 30;
/** The real engine's default datacenter label. */
const DATACENTER_LABEL = 1;

/**
 * A Rivet Id as the real engine prints it (rivet-util-id v1): the 19 bytes `[0x01][uuid v4][u16 BE dc label]` read
 * as one little-endian number, written in base36 least-significant digit first: 30 lowercase characters whose
 * first digits carry the version and whose last ones the label (`…l00` for label 1). Runners treat it as opaque.
 */
export function newRivetId(): string {
	const uuid = Buffer.from(randomUUID().replaceAll("-", ""), "hex");
	return encodeRivetId(
		Buffer.concat([
			Buffer.from([0x01]),
			uuid,
			Buffer.from([DATACENTER_LABEL >> 8, DATACENTER_LABEL & 0xff]),
		]),
	);
}

function encodeRivetId(bytes: Uint8Array): string {
	let value = 0n;
	for (let i = bytes.length - 1; i >= 0; i--)
		value = (value << 8n) | BigInt(bytes[i] as number);
	let out = "";
	for (let i = 0; i < ID_LENGTH; i++) {
		out += BASE36[Number(value % 36n)];
		value /= 36n;
	}
	return out;
}

export function isRivetId(text: string): boolean {
	return rivetIdProblem(text) === null;
}

/** Why `text` is not a Rivet Id, in the real engine's words (`Id::from_str`), or null if it is one. */
export function rivetIdProblem(text: string): string | null {
	if (text.length < 4)
		return "invalid input length: expected at least 4 characters";
	const lower = text.toLowerCase();
	for (const c of lower)
		if (!BASE36.includes(c)) return `invalid base36 character: '${c}'`;
	const digit = (i: number) => BASE36.indexOf(lower[i] as string);
	const version =
		(digit(3) * 46_656 + digit(2) * 1_296 + digit(1) * 36 + digit(0)) % 256;
	if (version !== 1) return `unsupported ID version: ${version}`;
	if (text.length !== ID_LENGTH)
		return `invalid input length: expected ${ID_LENGTH}, got ${text.length}`;
	let value = 0n;
	for (let i = ID_LENGTH - 1; i >= 0; i--)
		value = value * 36n + BigInt(digit(i));
	if (value >> 152n !== 0n) return "byte conversion overflow/underflow";
	return null;
}

/** The id of the dev engine's one namespace (`default`): fixed, so it survives restarts. */
export const DEFAULT_NAMESPACE_ID = "lnzqpcqza2tnzsiruegro54yqeal00";

/** Ray ids only correlate logs; the real engine mints them as Rivet Ids too. */
export function newRayId(): string {
	return newRivetId();
}
