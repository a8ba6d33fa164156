/**
 * The counter page's `/client.js` (examples/counter/client-module.generated.mjs) is edgerunner/client as it is in
 * src/client now: rebuilding it gives the same module. When this fails, run
 * `node examples/counter/build-client-module.mjs`.
 */
import { expect, it } from "vitest";
// @ts-expect-error plain ESM example without type declarations
import { buildClientModule } from "../../examples/counter/build-client-module.mjs";
// @ts-expect-error plain ESM example without type declarations
import { CLIENT_MODULE } from "../../examples/counter/client-module.generated.mjs";

it("the counter page's client module is built from the current src/client (and partysocket), exporting ActorClient", async () => {
	const fresh: string = await buildClientModule();
	expect(CLIENT_MODULE).toBe(fresh);
	expect(CLIENT_MODULE).toMatch(/export \{[^}]*\bActorClient\b/);
});
