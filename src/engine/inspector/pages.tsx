/** @jsxImportSource hono/jsx */
import type { Child } from "hono/jsx";
import type { ConnectionLogEntry } from "./engine-observer.ts";
import type {
	InspectorActor,
	InspectorActorDetail,
	InspectorRunner,
	InspectorSnapshot,
} from "./snapshot.ts";

/** Server-rendered pages; /ui/assets/inspector.js keeps them live with the same markup (browser-script.ts). */

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f5f6f8; }
header { display: flex; align-items: center; gap: 16px; padding: 10px 20px; background: #1d2330; color: #fff; }
header h1 { font-size: 17px; margin: 0; } header a { color: #9cc3ff; }
main { padding: 12px 20px; }
section { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; padding: 10px 14px; margin-bottom: 14px; }
h2 { font-size: 15px; margin: 2px 0 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eceef2; vertical-align: top; }
th { font-weight: 600; color: #555d6e; font-size: 12px; text-transform: uppercase; }
code { font: 12px ui-monospace, monospace; word-break: break-all; }
.pill { display: inline-block; padding: 0 8px; border-radius: 9px; font-size: 12px; background: #e4e7ec; }
.pill.running, .pill.connected, #feed-status[data-status=live] { background: #c9f0d3; color: #0b5a22; }
.pill.pending, .pill.starting, .pill.stopping, .pill.disconnected, #feed-status[data-status=reconnecting] { background: #fde9b8; color: #7a5200; }
.pill.sleeping { background: #dbe6ff; color: #173f94; }
.pill.destroyed, .pill.stopped { background: #eee; color: #777; }
#feed-status { padding: 1px 10px; border-radius: 9px; font-size: 12px; background: #555; }
.error { color: #a3171b; } .enc { font-size: 11px; color: #777; }
.toolbar { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin-bottom: 8px; }
input, select, button { font: inherit; padding: 2px 6px; } button { cursor: pointer; margin-right: 4px; }
#action-output { white-space: pre-wrap; font: 12px ui-monospace, monospace; min-height: 1.4em; margin: 0; max-height: 8em; overflow: auto; }
#action-output[data-ok=false] { color: #a3171b; }
tr.empty td { color: #888; font-style: italic; }
`;

const time = (ts: number | null) =>
	ts === null ? "–" : new Date(ts).toLocaleTimeString();
const short = (id: string | null) => (id === null ? "–" : id.slice(0, 8));

function Layout(props: { title: string; actorId?: string; children: Child }) {
	return (
		<html lang="en">
			<head>
				<meta charset="utf-8" />
				<title>{props.title}</title>
				{/* No favicon request: the engine has none, and a 404 would be a console error. */}
				<link rel="icon" href="data:," />
				<style>{STYLE}</style>
			</head>
			<body data-actor-id={props.actorId ?? ""}>
				<header>
					<h1>
						<a href="/ui/">edgerunner inspector</a>
					</h1>
					<span id="feed-status" data-status="connecting">
						connecting
					</span>
				</header>
				<main>{props.children}</main>
				<script type="module" src="/ui/assets/inspector.js" />
			</body>
		</html>
	);
}

function Empty(props: { text: string }) {
	return (
		<tr class="empty">
			<td colspan={11}>{props.text}</td>
		</tr>
	);
}

function RunnerRow({ r }: { r: InspectorRunner }) {
	const status = r.stopped
		? "stopped"
		: r.connected
			? "connected"
			: "disconnected";
	return (
		<tr data-runner-id={r.runnerId}>
			<td>{r.name}</td>
			<td>
				<code>{r.key}</code>
			</td>
			<td>
				{r.usedSlots} / {r.totalSlots}
			</td>
			<td>
				<span class={`pill ${status}`}>{status}</span>
			</td>
			<td>{time(r.lastPingTs)}</td>
			<td>{r.rttMs === null ? "–" : `${r.rttMs} ms`}</td>
			<td>{r.draining ? "yes" : "no"}</td>
		</tr>
	);
}

function ActorRow({ a }: { a: InspectorActor }) {
	return (
		<tr data-actor-id={a.actorId} data-state={a.state}>
			<td>
				<a href={`/ui/actors/${encodeURIComponent(a.actorId)}`}>{a.name}</a>
			</td>
			<td>
				<code>{a.key ?? "–"}</code>
			</td>
			<td>
				<span class={`pill ${a.state}`}>{a.state}</span>
			</td>
			<td>{a.generation}</td>
			<td>{a.crashPolicy}</td>
			<td>
				<code>{short(a.runnerId)}</code>
			</td>
			<td>{time(a.createTs)}</td>
			<td>{time(a.startTs)}</td>
			<td>{time(a.sleepTs)}</td>
			<td class="error">{a.error ?? ""}</td>
			<td class="actions">
				{a.state === "destroyed" ? (
					""
				) : (
					<>
						<button type="button" data-action="request" data-actor={a.actorId}>
							request
						</button>
						<button type="button" data-action="sleep" data-actor={a.actorId}>
							sleep
						</button>
						<button type="button" data-action="destroy" data-actor={a.actorId}>
							destroy
						</button>
					</>
				)}
			</td>
		</tr>
	);
}

const ACTOR_HEAD = (
	<tr>
		<th>name</th>
		<th>key</th>
		<th>state</th>
		<th>gen</th>
		<th>crash policy</th>
		<th>runner</th>
		<th>created</th>
		<th>started</th>
		<th>slept</th>
		<th>last error</th>
		<th>actions</th>
	</tr>
);

function RequestControls() {
	return (
		<div class="toolbar">
			<span>request through the gateway:</span>
			<select id="request-method">
				<option>GET</option>
				<option>POST</option>
				<option>PUT</option>
				<option>DELETE</option>
			</select>
			<input id="request-path" value="/" size={24} aria-label="path" />
			<input id="request-body" placeholder="body" size={24} aria-label="body" />
		</div>
	);
}

function ActionOutput() {
	return <pre id="action-output" />;
}

export function HomePage(props: {
	snapshot: InspectorSnapshot;
	defaultRunnerName: string;
}) {
	const { snapshot } = props;
	return (
		<Layout title="edgerunner inspector">
			<section>
				<h2>Runners</h2>
				<table>
					<thead>
						<tr>
							<th>name</th>
							<th>key</th>
							<th>slots used</th>
							<th>socket</th>
							<th>last ping</th>
							<th>rtt</th>
							<th>draining</th>
						</tr>
					</thead>
					<tbody id="runners">
						{snapshot.runners.length === 0 ? (
							<Empty text="no runner has connected" />
						) : (
							snapshot.runners.map((r) => <RunnerRow r={r} />)
						)}
					</tbody>
				</table>
			</section>
			<section>
				<h2>Actors</h2>
				<form id="create-form" class="toolbar">
					<span>create:</span>
					<input name="name" placeholder="name" required size={12} />
					<input name="key" placeholder="key (optional)" size={14} />
					<input
						name="runnerNameSelector"
						value={props.defaultRunnerName}
						placeholder="runner name"
						required
						size={14}
					/>
					<select name="crashPolicy" aria-label="crash policy">
						<option>restart</option>
						<option>sleep</option>
						<option>destroy</option>
					</select>
					<button type="submit">create</button>
				</form>
				<div class="toolbar">
					<span>filter:</span>
					<input id="filter-name" placeholder="name, key or id" size={18} />
					<select id="filter-state" aria-label="state">
						<option value="">any state</option>
						{[
							"pending",
							"starting",
							"running",
							"stopping",
							"sleeping",
							"destroyed",
						].map((s) => (
							<option value={s}>{s}</option>
						))}
					</select>
				</div>
				<RequestControls />
				<ActionOutput />
				<table>
					<thead>{ACTOR_HEAD}</thead>
					<tbody id="actors">
						{snapshot.actors.length === 0 ? (
							<Empty text="no actor matches" />
						) : (
							snapshot.actors.map((a) => <ActorRow a={a} />)
						)}
					</tbody>
				</table>
			</section>
			<section>
				<h2>Runner connections</h2>
				<ConnectionTable entries={snapshot.connections} />
			</section>
		</Layout>
	);
}

function ConnectionTable(props: { entries: ConnectionLogEntry[] }) {
	return (
		<table>
			<thead>
				<tr>
					<th>time</th>
					<th>what</th>
					<th>runner</th>
					<th>key</th>
					<th>code</th>
					<th>reason</th>
				</tr>
			</thead>
			<tbody id="connections">
				{props.entries.length === 0 ? (
					<Empty text="no runner has connected" />
				) : (
					props.entries.map((c) => (
						<tr data-kind={c.kind}>
							<td>{time(c.ts)}</td>
							<td>{c.kind}</td>
							<td>{c.runnerName ?? "–"}</td>
							<td>
								<code>{c.runnerKey ?? "–"}</code>
							</td>
							<td>{c.code ?? ""}</td>
							<td>
								<code>{c.reason ?? ""}</code>
							</td>
						</tr>
					))
				)}
			</tbody>
		</table>
	);
}

export function ActorPage(props: {
	actorId: string;
	detail: InspectorActorDetail;
}) {
	const { detail } = props;
	return (
		<Layout title={`actor ${props.actorId}`} actorId={props.actorId}>
			<section>
				<h2>
					Actor <code>{props.actorId}</code>
				</h2>
				<RequestControls />
				<ActionOutput />
				<table>
					<thead>{ACTOR_HEAD}</thead>
					<tbody id="actor-summary">
						{detail.actor ? (
							<ActorRow a={detail.actor} />
						) : (
							<Empty text="unknown actor" />
						)}
					</tbody>
				</table>
			</section>
			<section>
				<h2>Commands and events</h2>
				<table>
					<thead>
						<tr>
							<th>time</th>
							<th>direction</th>
							<th>gen</th>
							<th>index</th>
							<th>what</th>
							<th>stop code</th>
							<th>message</th>
						</tr>
					</thead>
					<tbody id="history">
						{detail.history.length === 0 ? (
							<Empty text="no command or event seen since the engine started" />
						) : (
							detail.history.map((h) => (
								<tr data-kind={h.kind}>
									<td>{time(h.ts)}</td>
									<td>{h.direction}</td>
									<td>{h.generation}</td>
									<td>{h.index}</td>
									<td>{h.kind}</td>
									<td>{h.code ?? ""}</td>
									<td>{h.message ?? ""}</td>
								</tr>
							))
						)}
					</tbody>
				</table>
			</section>
			<section>
				<h2>KV</h2>
				<p id="kv-truncated" hidden={!detail.kvTruncated}>
					Only the first entries are shown.
				</p>
				<table>
					<thead>
						<tr>
							<th>key</th>
							<th>value</th>
							<th>updated</th>
						</tr>
					</thead>
					<tbody id="kv">
						{detail.kv.length === 0 ? (
							<Empty text="no KV entry" />
						) : (
							detail.kv.map((e) => (
								<tr>
									<td>
										<code>{e.key}</code>
										{e.keyEncoding === "base64" ? (
											<span class="enc"> base64</span>
										) : (
											""
										)}
									</td>
									<td>
										<code>{e.value}</code>
										{e.valueEncoding === "base64" ? (
											<span class="enc"> base64</span>
										) : (
											""
										)}
									</td>
									<td>{time(e.updateTs)}</td>
								</tr>
							))
						)}
					</tbody>
				</table>
			</section>
		</Layout>
	);
}

export function TokenPage() {
	return (
		<html lang="en">
			<head>
				<meta charset="utf-8" />
				<title>edgerunner inspector</title>
			</head>
			<body>
				<p>
					This engine needs its token: open{" "}
					<code>/ui/?token=&lt;token&gt;</code> once (the page keeps it in a
					cookie).
				</p>
			</body>
		</html>
	);
}
