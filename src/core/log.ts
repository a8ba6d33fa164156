/**
 * The logger interface: pino satisfies it (`log.info({ fields }, "message")`). Quiet by default.
 */
export interface Logger {
	trace?(obj: object, msg?: string): void;
	debug(obj: object, msg?: string): void;
	info(obj: object, msg?: string): void;
	warn(obj: object, msg?: string): void;
	error(obj: object, msg?: string): void;
	child?(bindings: object): Logger;
}

const noop = () => {};

/** A logger that drops everything: the default. */
export const silentLogger: Logger = {
	trace: noop,
	debug: noop,
	info: noop,
	warn: noop,
	error: noop,
};

/** Turns an unknown thrown value into loggable fields without leaking huge objects. */
export function errorFields(err: unknown): { error: string; code?: string } {
	if (err instanceof Error) {
		const code = (err as { code?: unknown }).code;
		return typeof code === "string"
			? { error: `${err.name}: ${err.message}`, code }
			: { error: `${err.name}: ${err.message}` };
	}
	return { error: String(err) };
}
