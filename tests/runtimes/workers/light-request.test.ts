/**
 * The request a `fetch` handler gets, inside workerd (see tests/portability/fixtures/light-request-check.ts):
 * workerd's `new Request(request)` refuses a stand-in, so real requests are built here, and they behave as one.
 */
import { expect, it } from "vitest";
import { checkLightRequest } from "../../portability/fixtures/light-request-check.ts";

it("workerd: the request behaves as a Request (a real one: workerd's Request does not take a stand-in)", async () => {
	expect(await checkLightRequest()).toEqual({ light: false });
});
