/**
 * The inspector's browser script, served as `/ui/assets/inspector.js` (an ES module). It is plain JavaScript in a
 * string so that it ships in both src and dist with no bundler step; it renders the same markup as pages.tsx.
 * partysocket's ESM build comes from the engine too (`/ui/assets/partysocket/`), so the page needs no network.
 */
export const INSPECTOR_SCRIPT = String.raw`
import { WebSocket as ReconnectingWebSocket } from "/ui/assets/partysocket/index.js";

const body = document.body;
const watchedActor = body.dataset.actorId || null;
const $ = (selector) => document.querySelector(selector);
const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const esc = (value) => String(value == null ? "" : value).replace(/[&<>"']/g, (c) => ESCAPES[c]);
const time = (ts) => (ts == null ? "–" : new Date(ts).toLocaleTimeString());
const short = (id) => (id == null ? "–" : String(id).slice(0, 8));
let latest = null;

function runnerRow(r) {
	const status = r.stopped ? "stopped" : r.connected ? "connected" : "disconnected";
	return '<tr data-runner-id="' + esc(r.runnerId) + '">' +
		"<td>" + esc(r.name) + "</td><td><code>" + esc(r.key) + "</code></td>" +
		"<td>" + r.usedSlots + " / " + r.totalSlots + "</td>" +
		'<td><span class="pill ' + status + '">' + status + "</span></td>" +
		"<td>" + time(r.lastPingTs) + "</td><td>" + (r.rttMs == null ? "–" : r.rttMs + " ms") + "</td>" +
		"<td>" + (r.draining ? "yes" : "no") + "</td></tr>";
}

function actorRow(a) {
	const live = a.state !== "destroyed";
	return '<tr data-actor-id="' + esc(a.actorId) + '" data-state="' + esc(a.state) + '">' +
		'<td><a href="/ui/actors/' + encodeURIComponent(a.actorId) + '">' + esc(a.name) + "</a></td>" +
		"<td><code>" + esc(a.key == null ? "–" : a.key) + "</code></td>" +
		'<td><span class="pill ' + esc(a.state) + '">' + esc(a.state) + "</span></td>" +
		"<td>" + a.generation + "</td><td>" + esc(a.crashPolicy) + "</td>" +
		"<td><code>" + short(a.runnerId) + "</code></td>" +
		"<td>" + time(a.createTs) + "</td><td>" + time(a.startTs) + "</td><td>" + time(a.sleepTs) + "</td>" +
		'<td class="error">' + esc(a.error) + "</td>" +
		'<td class="actions">' + (live
			? '<button data-action="request" data-actor="' + esc(a.actorId) + '">request</button>' +
				'<button data-action="sleep" data-actor="' + esc(a.actorId) + '">sleep</button>' +
				'<button data-action="destroy" data-actor="' + esc(a.actorId) + '">destroy</button>'
			: "") + "</td></tr>";
}

function connectionRow(c) {
	return '<tr data-kind="' + c.kind + '"><td>' + time(c.ts) + "</td><td>" + c.kind + "</td>" +
		"<td>" + esc(c.runnerName == null ? "–" : c.runnerName) + "</td><td><code>" + esc(c.runnerKey == null ? "–" : c.runnerKey) + "</code></td>" +
		"<td>" + (c.code == null ? "" : c.code) + "</td><td><code>" + esc(c.reason) + "</code></td></tr>";
}

function historyRow(h) {
	return '<tr data-kind="' + esc(h.kind) + '"><td>' + time(h.ts) + "</td><td>" + h.direction + "</td>" +
		"<td>" + h.generation + "</td><td>" + h.index + "</td><td>" + esc(h.kind) + "</td>" +
		"<td>" + esc(h.code) + "</td><td>" + esc(h.message) + "</td></tr>";
}

function kvRow(e) {
	return '<tr><td><code>' + esc(e.key) + "</code>" + (e.keyEncoding === "base64" ? ' <span class="enc">base64</span>' : "") +
		"</td><td><code>" + esc(e.value) + "</code>" + (e.valueEncoding === "base64" ? ' <span class="enc">base64</span>' : "") +
		"</td><td>" + time(e.updateTs) + "</td></tr>";
}

// Tables are rewritten only when their markup changed: a rewrite under the pointer would swallow a click.
const rendered = new Map();
function fill(selector, rows, render, empty) {
	const target = $(selector);
	if (!target) return;
	const html = rows.length === 0 ? '<tr class="empty"><td colspan="11">' + empty + "</td></tr>" : rows.map(render).join("");
	if (rendered.get(selector) === html) return;
	rendered.set(selector, html);
	target.innerHTML = html;
}

function render() {
	if (!latest) return;
	fill("#runners", latest.runners, runnerRow, "no runner has connected");
	const name = ($("#filter-name") || {}).value || "";
	const state = ($("#filter-state") || {}).value || "";
	const actors = latest.actors.filter((a) =>
		(name === "" || a.name.includes(name) || (a.key || "").includes(name) || a.actorId.startsWith(name)) &&
		(state === "" || a.state === state));
	fill("#actors", actors, actorRow, "no actor matches");
	fill("#connections", latest.connections, connectionRow, "no runner has connected");
	const detail = latest.detail;
	if (detail) {
		fill("#actor-summary", detail.actor ? [detail.actor] : [], actorRow, "unknown actor");
		fill("#history", detail.history, historyRow, "no command or event seen since the engine started");
		fill("#kv", detail.kv, kvRow, "no KV entry");
		const truncated = $("#kv-truncated");
		if (truncated) truncated.hidden = !detail.kvTruncated;
	}
}

function setStatus(status) {
	const badge = $("#feed-status");
	badge.dataset.status = status;
	badge.textContent = status;
}

const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const feed = new ReconnectingWebSocket(scheme + "//" + location.host + "/ui/feed", [], {
	maxReconnectionDelay: 5000,
});
feed.addEventListener("open", () => {
	setStatus("live");
	if (watchedActor) feed.send(JSON.stringify({ type: "watch", actorId: watchedActor }));
});
feed.addEventListener("close", () => setStatus("reconnecting"));
feed.addEventListener("message", (event) => {
	latest = JSON.parse(event.data);
	render();
});

for (const id of ["#filter-name", "#filter-state"]) {
	const input = $(id);
	if (input) input.addEventListener("input", render);
}

function show(text, ok) {
	const out = $("#action-output");
	out.textContent = text;
	out.dataset.ok = String(ok);
}

async function call(method, path, payload) {
	const response = await fetch(path, {
		method,
		headers: { "content-type": "application/json" },
		body: payload === undefined ? undefined : JSON.stringify(payload),
	});
	const answer = await response.json().catch(() => ({ message: response.statusText }));
	return { ok: response.ok, answer };
}

async function act(action, actorId) {
	const base = "/ui/api/actors/" + encodeURIComponent(actorId);
	if (action === "request") {
		const method = ($("#request-method") || {}).value || "GET";
		const path = ($("#request-path") || {}).value || "/";
		const requestBody = ($("#request-body") || {}).value || "";
		const { ok, answer } = await call("POST", base + "/request", { method, path, body: requestBody });
		show(ok ? method + " " + path + " → " + answer.status + "\n" + answer.body : "request failed: " + answer.message, ok);
		return;
	}
	const { ok, answer } = await call(action === "destroy" ? "DELETE" : "POST", action === "destroy" ? base : base + "/" + action);
	show(ok ? action + " " + short(actorId) + ": done" : action + " failed: " + answer.message, ok);
}

document.addEventListener("click", (event) => {
	const button = event.target.closest("button[data-action]");
	if (!button) return;
	act(button.dataset.action, button.dataset.actor).catch((error) => show(String(error), false));
});

const createForm = $("#create-form");
if (createForm) {
	createForm.addEventListener("submit", (event) => {
		event.preventDefault();
		const form = new FormData(createForm);
		call("POST", "/ui/api/actors", {
			name: form.get("name"),
			key: form.get("key") || null,
			runnerNameSelector: form.get("runnerNameSelector"),
			crashPolicy: form.get("crashPolicy"),
		}).then(({ ok, answer }) =>
			show(ok ? "created " + answer.actor.actorId : "create failed: " + answer.message, ok),
		).catch((error) => show(String(error), false));
	});
}
`;
