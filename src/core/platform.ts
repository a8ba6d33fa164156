/**
 * The Platform seam (DESIGN §6): everything platform-specific that the core needs, passed in by adapters.
 */

/** A WHATWG WebSocket constructor (Node 20: `ws`; Node ≥ 22, Deno, Bun, workerd: the global one). */
export interface WebSocketConstructor {
	new (url: string, protocols?: string | string[]): WebSocket;
}

/** A platform termination event: the signal or hook name and, when the platform has one, its budget in ms. */
export interface TerminateEvent {
	name: string;
	budgetMs?: number;
}

export interface Platform {
	/** For logs and shutdown reports: "node", "deno", "bun", "cloudflare", … */
	name: string;
	WebSocket: WebSocketConstructor;
	/** Subscribes to the platform's termination hooks; returns an unsubscribe function. Absent where there are none. */
	onTerminate?(listener: (event: TerminateEvent) => void): () => void;
	/** Ends the process, where the platform can (never in workerd). */
	exit?(code: number): void;
}

/** The platform used when the config has none: the global WebSocket, if this runtime has one. */
export function globalPlatform(): Platform | undefined {
	const ws = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
	return ws ? { name: "global", WebSocket: ws } : undefined;
}
