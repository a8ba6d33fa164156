import { afterEach, describe, expect, it } from "vitest";
import { type RivetEngine, startRivetEngine } from "../helpers/rivet-engine.ts";

describe("the real Rivet Engine test helper", () => {
	let engine: RivetEngine | undefined;
	afterEach(() => engine?.close());

	it("starts 2.3.19 on free loopback ports (never 6420) and keeps its state across a restart", async () => {
		engine = await startRivetEngine();
		expect(new URL(engine.url).port).not.toBe("6420");
		const metadata = (await (await fetch(`${engine.url}/metadata`)).json()) as {
			version: string;
		};
		expect(metadata.version).toBe("2.3.19");
		const created = await fetch(`${engine.url}/namespaces`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ name: "kept", display_name: "Kept" }),
		});
		expect(created.status).toBe(200);
		await engine.restart();
		const listed = (await (await fetch(`${engine.url}/namespaces`)).json()) as {
			namespaces: { name: string }[];
		};
		expect(listed.namespaces.map((n) => n.name)).toContain("kept");
		await engine.stop();
		await expect(fetch(`${engine.url}/metadata`)).rejects.toThrow();
	});
});
