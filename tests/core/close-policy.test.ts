import { describe, expect, test } from "vitest";
import {
	type CloseInput,
	classifyClose,
	parseCloseReason,
} from "../../src/core/index.ts";

const base: CloseInput = {
	code: 1011,
	reason: "",
	shuttingDown: false,
	current: true,
	initialized: true,
};
const classify = (input: Partial<CloseInput>) =>
	classifyClose({ ...base, ...input });

// One test per row of the table in DESIGN §5 and the README.
describe("close policy table", () => {
	test("any close while we are shutting down is part of shutdown (eviction included)", () => {
		for (const reason of [
			"ws.eviction#r",
			"ws.going_away#r",
			"api.forbidden#r",
			"",
			"pegboard.runner_shutdown",
		]) {
			expect(classify({ code: 1000, reason, shuttingDown: true })).toEqual({
				action: "shutdown",
			});
		}
	});

	test("a close from a socket that is no longer current is ignored, eviction included, even during a shutdown", () => {
		expect(
			classify({
				code: 1000,
				reason: "ws.eviction#r",
				current: false,
				shuttingDown: true,
			}),
		).toEqual({ action: "ignore" });
		expect(
			classify({ code: 1000, reason: "ws.eviction#r", current: false }),
		).toEqual({ action: "ignore" });
		expect(classify({ code: 1006, reason: "", current: false })).toEqual({
			action: "ignore",
		});
	});

	test("ws.eviction shuts down and never reconnects", () => {
		expect(
			classify({
				code: 1000,
				reason: "ws.eviction#t1s80so6h3irenp8ymzltfoittcl00",
			}),
		).toEqual({
			action: "evicted",
		});
		expect(classify({ code: 1000, reason: "ws.eviction" })).toEqual({
			action: "evicted",
		});
	});

	test("ws.going_away, 1001 and 1012 reconnect soon", () => {
		const soon = { action: "reconnect", urgency: "soon" };
		expect(classify({ code: 1011, reason: "ws.going_away#r" })).toEqual(soon);
		expect(classify({ code: 1001, reason: "" })).toEqual(soon);
		expect(classify({ code: 1012, reason: "" })).toEqual(soon);
	});

	test("1013 reconnects with long backoff", () => {
		expect(classify({ code: 1013, reason: "" })).toEqual({
			action: "reconnect",
			urgency: "long",
		});
	});

	test("auth, namespace and URL refusals are fatal; ws.invalid_packet is fatal only at init", () => {
		for (const cause of [
			"api.forbidden",
			"guard.missing_header",
			"namespace.not_found",
			"ws.invalid_url",
		]) {
			expect(classify({ reason: `${cause}#ray` })).toEqual({
				action: "fatal",
				cause,
			});
			expect(classify({ reason: `${cause}#ray`, initialized: false })).toEqual({
				action: "fatal",
				cause,
			});
		}
		expect(
			classify({ reason: "ws.invalid_packet#r", initialized: false }),
		).toEqual({
			action: "fatal",
			cause: "ws.invalid_packet",
		});
		expect(
			classify({ reason: "ws.invalid_packet#r", initialized: true }),
		).toEqual({
			action: "reconnect",
			urgency: "backoff",
		});
	});

	test("several endpoints: a refusal while another endpoint has not refused is 'refused' (try the next); once every endpoint refused, fatal", () => {
		for (const cause of [
			"api.forbidden",
			"guard.missing_header",
			"namespace.not_found",
			"ws.invalid_url",
		]) {
			expect(classify({ reason: `${cause}#r`, othersMayAccept: true })).toEqual(
				{ action: "refused", cause },
			);
			expect(
				classify({ reason: `${cause}#r`, othersMayAccept: false }),
			).toEqual({ action: "fatal", cause });
		}
		expect(
			classify({
				reason: "ws.invalid_packet#r",
				initialized: false,
				othersMayAccept: true,
			}),
		).toEqual({ action: "refused", cause: "ws.invalid_packet" });
		expect(
			classify({
				reason: "ws.invalid_packet#r",
				initialized: true,
				othersMayAccept: true,
			}),
		).toEqual({ action: "reconnect", urgency: "backoff" });
	});

	test("several endpoints: an eviction is an eviction whichever node sent it; other rows do not change", () => {
		expect(
			classify({ code: 1000, reason: "ws.eviction#r", othersMayAccept: true }),
		).toEqual({ action: "evicted" });
		expect(
			classify({
				code: 1011,
				reason: "ws.going_away#r",
				othersMayAccept: true,
			}),
		).toEqual({ action: "reconnect", urgency: "soon" });
		expect(classify({ code: 1006, othersMayAccept: true })).toEqual({
			action: "reconnect",
			urgency: "backoff",
		});
		expect(
			classify({
				code: 1000,
				reason: "api.forbidden#r",
				shuttingDown: true,
				othersMayAccept: true,
			}),
		).toEqual({ action: "shutdown" });
	});

	test("1006, 1005, errors, core.internal_error, ws.timed_out_*, anything else reconnect with backoff", () => {
		const backoff = { action: "reconnect", urgency: "backoff" };
		expect(classify({ code: 1006, reason: "" })).toEqual(backoff);
		expect(classify({ code: 1005, reason: "" })).toEqual(backoff);
		expect(classify({ code: 1000, reason: "" })).toEqual(backoff); // a bare 1000 is not "do not reconnect"
		expect(classify({ code: 1011, reason: "core.internal_error#r" })).toEqual(
			backoff,
		);
		expect(
			classify({ code: 1011, reason: "ws.timed_out_waiting_for_init#r" }),
		).toEqual(backoff);
		expect(classify({ code: 1000, reason: "ws.closed" })).toEqual(backoff);
		expect(
			classify({ code: 1000, reason: "pegboard.runner_shutdown" }),
		).toEqual(backoff); // not ours: unknown
		expect(classify({ code: 4999, reason: "whatever" })).toEqual(backoff);
	});
});

describe("parseCloseReason", () => {
	test("splits group, code and ray id", () => {
		expect(parseCloseReason("ws.eviction#abc")).toEqual({
			group: "ws",
			code: "eviction",
			rayId: "abc",
		});
		expect(parseCloseReason("api.forbidden")).toEqual({
			group: "api",
			code: "forbidden",
		});
	});
	test("anything not of that form is undefined", () => {
		for (const reason of [
			"",
			"duplicate_websocket",
			"a.b.c",
			"Server Error",
			".x",
			"x.",
		]) {
			expect(parseCloseReason(reason)).toBeUndefined();
		}
	});
});
