/**
 * Per-request state is keyed by gatewayId + requestId (4 + 4 bytes). A JS number holds 53 bits, so the gateway
 * id is mapped to a small ordinal (there are few gateways) and the key is `ordinal * 2^32 + requestId`: exact,
 * cheap to compute, and no string is built per message.
 */
export class RequestKeys {
	readonly #gatewayOrdinals = new Map<number, number>();

	key(gatewayId: ArrayBuffer, requestId: ArrayBuffer): number {
		const gateway = u32(gatewayId);
		let ordinal = this.#gatewayOrdinals.get(gateway);
		if (ordinal === undefined) {
			ordinal = this.#gatewayOrdinals.size;
			this.#gatewayOrdinals.set(gateway, ordinal);
		}
		return ordinal * 0x1_0000_0000 + u32(requestId);
	}
}

function u32(id: ArrayBuffer): number {
	const bytes = new Uint8Array(id, 0, Math.min(4, id.byteLength));
	return (
		((bytes[0] ?? 0) |
			((bytes[1] ?? 0) << 8) |
			((bytes[2] ?? 0) << 16) |
			((bytes[3] ?? 0) << 24)) >>>
		0
	);
}

/** Lowercase hex of an id, for logs. */
export function idHex(id: ArrayBuffer): string {
	let out = "";
	for (const byte of new Uint8Array(id))
		out += byte.toString(16).padStart(2, "0");
	return out;
}
