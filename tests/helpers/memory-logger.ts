/** A runner logger that keeps every line in memory, for printing when a test fails. */
export function memoryLogger(lines: string[]) {
	const at =
		(level: string) =>
		(fields: object, message = "") =>
			lines.push(
				`${new Date().toISOString()} ${level} ${message} ${JSON.stringify(fields, (_, v) => (typeof v === "bigint" ? String(v) : v))}`,
			);
	const logger = {
		trace: at("trace"),
		debug: at("debug"),
		info: at("info"),
		warn: at("warn"),
		error: at("error"),
		child: () => logger,
	};
	return logger;
}
