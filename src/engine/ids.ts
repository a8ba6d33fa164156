import { randomBytes, randomUUID } from "node:crypto";

const BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz";
const ID_LENGTH = 30;
/** The real engine's default datacenter label. */
const DATACENTER_LABEL = 1;

/**
 * A Rivet Id as the real engine prints it: `[0x01][uuid v4][u16 BE dc label]` in base36,
 * least-significant digit first, 30 lowercase characters. Runners treat it as opaque.
 */
export function newRivetId(): string {
	const uuid = Buffer.from(randomUUID().replaceAll("-", ""), "hex");
	const bytes = Buffer.concat([
		Buffer.from([0x01]),
		uuid,
		Buffer.from([DATACENTER_LABEL >> 8, DATACENTER_LABEL & 0xff]),
	]);
	let value = BigInt(`0x${bytes.toString("hex")}`);
	let out = "";
	for (let i = 0; i < ID_LENGTH; i++) {
		out += BASE36[Number(value % 36n)];
		value /= 36n;
	}
	return out;
}

export function isRivetId(text: string): boolean {
	return text.length === ID_LENGTH && /^[0-9a-z]+$/.test(text);
}

/** Ray ids only correlate logs; they share the id alphabet. */
export function newRayId(): string {
	const bytes = randomBytes(ID_LENGTH);
	let out = "";
	for (const byte of bytes) out += BASE36[byte % 36];
	return out;
}
