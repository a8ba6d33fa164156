// The counter's page, served by the actor as `GET /page` through the gateway's path addressing
// (`{engine}/gateway/{actorId}[@{token}]/page`). It imports edgerunner/client from the actor (`./client.js`),
// opens a socket to `/ws` with `handle.connect`, shows every count the actor pushes, and sends `increment` on a
// click. The socket comes back by itself when the actor sleeps or its runner or engine restarts; a click while
// it is down is kept (up to the client's send-buffer bound) and sent on reconnect.

export const COUNTER_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgerunner counter</title>
<link rel="icon" href="data:,">
<style>
	body { font: 16px/1.5 system-ui, sans-serif; margin: 3rem auto; max-width: 28rem; text-align: center; color: #222; }
	#count { font-size: 4rem; font-weight: 600; margin: 1rem 0; font-variant-numeric: tabular-nums; }
	button { font-size: 1.2rem; padding: 0.5rem 1.5rem; cursor: pointer; }
	#status { color: #666; font-size: 0.9rem; }
	#status[data-state="open"] { color: #17803d; }
	#status[data-state="ended"], #error { color: #b42318; }
	code { font-size: 0.8rem; }
</style>
</head>
<body>
<h1>Counter</h1>
<p>actor <code id="actor">–</code></p>
<div id="count" aria-live="polite">–</div>
<button id="increment" type="button">Increment</button>
<p id="status" data-state="connecting">connecting…</p>
<p id="error" role="alert"></p>
<script type="module">
import { ActorClient } from "./client.js";

const $ = (id) => document.getElementById(id);
const setStatus = (state, text) => {
	$("status").dataset.state = state;
	$("status").textContent = text;
};
// /…/gateway/{actorId}[@{token}]/page: the engine is everything before /gateway.
const route = /^(.*)\\/gateway\\/([^/@]+)(?:@([^/]+))?\\//.exec(location.pathname);
if (!route) {
	setStatus("ended", "open this page through the gateway: /gateway/{actorId}/page");
} else {
	const [, base, actorId, token] = route;
	const client = new ActorClient({
		endpoint: location.origin + base,
		...(token ? { token: decodeURIComponent(token) } : {}),
	});
	const handle = client.actor(decodeURIComponent(actorId));
	$("actor").textContent = handle.id;
	const socket = handle.connect("/ws");
	socket.addEventListener("open", () => setStatus("open", "live"));
	socket.addEventListener("close", () => {
		if (socket.ending) setStatus("ended", "ended: " + socket.ending.why);
		else setStatus("reconnecting", "reconnecting…");
	});
	socket.addEventListener("message", (event) => {
		const { count } = JSON.parse(event.data);
		$("count").textContent = String(count);
		$("count").dataset.count = String(count);
	});
	$("increment").addEventListener("click", () => {
		try {
			socket.send("increment");
			$("error").textContent = "";
		} catch (error) {
			// SendBufferFullError while down past the bound, SocketEndedError once ended: say so, drop nothing silently.
			$("error").textContent = error.message;
		}
	});
}
</script>
</body>
</html>
`;
