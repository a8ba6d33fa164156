/**
 * Headless Debian Chromium driven by playwright-core (no browser download). `.ci/run` installs `chromium` with
 * apt when it is missing; `CHROMIUM_PATH` overrides the binary.
 */
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Whether the browser tier can run here (the binary exists). */
export const chromiumInstalled = existsSync(CHROMIUM_PATH);

/** Launches headless Chromium; close it with `browser.close()`. */
export function launchChromium(): Promise<Browser> {
	return chromium.launch({
		executablePath: CHROMIUM_PATH,
		args: [
			"--no-sandbox",
			"--disable-gpu",
			"--disable-quic",
			"--no-first-run",
			"--disable-background-networking",
			"--disable-component-update",
			"--disable-sync",
		],
	});
}
