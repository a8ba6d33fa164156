/** The engine closes the whole runner socket for a tunnel payload above this (spec §2.3): never send one. */
export const MAX_TUNNEL_PAYLOAD_BYTES = 20 * 1024 * 1024;
