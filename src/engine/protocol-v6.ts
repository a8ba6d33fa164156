/**
 * Runner protocol v6, which the real engine still serves on `/runners/connect?protocol_version=6`. v7 only added
 * `KvDeleteRangeRequest` as the fifth `KvRequestData` variant, which moved `KvDropRequest` from tag 4 to 5; every
 * other message, in both directions, is encoded the same. So a v6 frame is read as v7 once that one tag is moved,
 * and v7 frames to a v6 runner need no change.
 */

const TO_SERVER_KV_REQUEST = 5;
const V6_KV_DROP = 4;
const V7_KV_DROP = 5;

/** A v6 `ToServer` frame as the same message in v7 bytes (a copy when it changes, else the same bytes). */
export function toServerV6AsV7(bytes: Uint8Array): Uint8Array {
	if (bytes[0] !== TO_SERVER_KV_REQUEST) return bytes;
	// ToServerKvRequest { actorId: str, requestId: u32, data: KvRequestData }: skip the id and the u32.
	const length = readUvarint(bytes, 1);
	if (length === null) return bytes;
	const tagAt = length.next + length.value + 4;
	if (bytes[tagAt] !== V6_KV_DROP) return bytes;
	const upgraded = bytes.slice();
	upgraded[tagAt] = V7_KV_DROP;
	return upgraded;
}

function readUvarint(
	bytes: Uint8Array,
	offset: number,
): { value: number; next: number } | null {
	let value = 0;
	for (let i = 0; i < 5; i++) {
		const byte = bytes[offset + i];
		if (byte === undefined) return null;
		value += (byte & 0x7f) * 2 ** (7 * i);
		if (byte < 0x80) return { value, next: offset + i + 1 };
	}
	return null;
}
