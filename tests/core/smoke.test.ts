import { expect, test } from "vitest";
import { placeholder } from "../../src/core/index.ts";

test("placeholder", () => {
	expect(placeholder).toBe(1);
});
