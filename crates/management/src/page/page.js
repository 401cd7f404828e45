// Warren's live page: the management API as a person reads it. The rates and the routing trace
// come from GET /api/warren/live (server-sent events, read with fetch so that the request
// carries the credentials); queues, exchanges and connections from the API every 5 s, a page
// of queues at a time, while the page is open.
"use strict";

const state = { auth: null, vhost: "/", queuePage: 1, queueSearch: "", trace: [], stream: null };
const HISTORY = 60;
const series = { publish: [], deliver: [], ack: [], unroutable: [] };

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) tr.append(c instanceof Node ? c : cell(c));
  return tr;
}

function button(label, action) {
  const b = document.createElement("button");
  b.textContent = label;
  b.addEventListener("click", action);
  const td = document.createElement("td");
  td.append(b);
  return td;
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: state.auth, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    const text = await response.text();
    throw new Error(`${method} ${path}: ${response.status} ${text}`);
  }
  return response.status === 204 ? null : response.json();
}

function showError(error) {
  $("status").textContent = String(error.message || error);
}

// --- the live stream -------------------------------------------------------------------------

async function follow() {
  if (state.stream) state.stream.abort();
  const controller = new AbortController();
  state.stream = controller;
  try {
    const response = await fetch(`/api/warren/live?vhost=${enc(state.vhost)}`, {
      headers: { Authorization: state.auth },
      signal: controller.signal,
    });
    if (!response.ok) throw new Error(`live: ${response.status}`);
    $("status").textContent = "live";
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("\n");
        if (data) onTick(JSON.parse(data));
      }
    }
  } catch (error) {
    if (controller.signal.aborted) return;
    showError(error);
  }
  if (!controller.signal.aborted) setTimeout(follow, 2000);
}

function rate(stats, name) {
  return (stats && stats[`${name}_details`] && stats[`${name}_details`].rate) || 0;
}

function onTick(tick) {
  const o = tick.overview;
  const totals = o.object_totals || {};
  $("totals").replaceChildren(
    ...["connections", "channels", "exchanges", "queues", "consumers"].map((name) => {
      const div = document.createElement("div");
      div.textContent = name;
      const b = document.createElement("b");
      b.id = `total-${name}`;
      b.textContent = totals[name] ?? 0;
      div.prepend(b);
      return div;
    }),
  );
  const stats = o.message_stats || {};
  const now = {
    publish: rate(stats, "publish"),
    deliver: rate(stats, "deliver_get"),
    ack: rate(stats, "ack"),
    unroutable: rate(stats, "drop_unroutable") + rate(stats, "return_unroutable"),
  };
  for (const [name, value] of Object.entries(now)) {
    series[name].push(value);
    if (series[name].length > HISTORY) series[name].shift();
    $(`rate-${name}`).textContent = value.toFixed(1);
    draw($(`chart-${name}`), series[name]);
  }
  state.trace = tick.trace;
  renderTrace();
}

function draw(canvas, values) {
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  const top = Math.max(1, ...values);
  g.beginPath();
  values.forEach((v, i) => {
    const x = (i / (HISTORY - 1)) * canvas.width;
    const y = canvas.height - (v / top) * (canvas.height - 4) - 2;
    if (i === 0) g.moveTo(x, y);
    else g.lineTo(x, y);
  });
  g.strokeStyle = "#2f6fdb";
  g.stroke();
}

function renderTrace() {
  const filter = $("trace-filter").value.trim();
  const rows = state.trace
    .filter((t) => !filter || t.routing_key.includes(filter))
    .map((t) => {
      const queues = t.routed_to.map((route) => route.queue);
      const went = queues.length ? queues.join(", ") : "unroutable";
      const tr = row([new Date(t.published_at).toLocaleTimeString(), t.exchange || "(default)", t.routing_key, went]);
      if (t.unroutable) tr.classList.add("unroutable");
      return tr;
    });
  $("trace").tBodies[0].replaceChildren(...rows);
}

// --- what the API lists ----------------------------------------------------------------------

async function refresh() {
  try {
    const v = enc(state.vhost);
    const search = state.queueSearch ? `&name=${enc(state.queueSearch)}` : "";
    const [page, exchanges, bindings, connections] = await Promise.all([
      api("GET", `/api/queues/${v}?page=${state.queuePage}&page_size=50${search}`),
      api("GET", `/api/exchanges/${v}`),
      api("GET", `/api/bindings/${v}`),
      api("GET", `/api/connections`),
    ]);
    renderQueues(page, bindings);
    renderExchanges(exchanges, bindings);
    renderConnections(connections.filter((c) => c.vhost === state.vhost));
  } catch (error) {
    showError(error);
  }
}

function renderQueues(page, bindings) {
  const rows = page.items.map((q) => {
    const from = bindings
      .filter((b) => b.destination_type === "queue" && b.destination === q.name && b.source !== "")
      .map((b) => `${b.source} (${b.routing_key || Object.keys(b.arguments).join(",")})`)
      .join("; ");
    const tr = row([q.name, q.messages_ready ?? 0, q.messages_unacknowledged ?? 0, q.consumers ?? 0, from,
      button("purge", () => purge(q.name))]);
    tr.dataset.queue = q.name;
    return tr;
  });
  $("queues").tBodies[0].replaceChildren(...rows);
  $("queues-page").textContent = `page ${page.page} of ${Math.max(1, page.page_count)} (${page.filtered_count} queues)`;
}

function renderExchanges(exchanges, bindings) {
  const rows = exchanges.filter((x) => x.name !== "").map((x) => {
    const out = bindings
      .filter((b) => b.source === x.name)
      .map((b) => `→ ${b.destination_type === "exchange" ? "exchange " : ""}${b.destination} (${b.routing_key || "…"})`)
      .join("; ");
    return row([x.name, x.type, out]);
  });
  $("exchanges").tBodies[0].replaceChildren(...rows);
}

function renderConnections(connections) {
  const rows = connections.map((c) => {
    const p = c.client_properties || {};
    const client = [p.product, p.version, p.connection_name].filter(Boolean).join(" ");
    return row([c.name, c.user, client, c.channels, button("close", () => closeConnection(c.name))]);
  });
  $("connections").tBodies[0].replaceChildren(...rows);
}

// --- actions ---------------------------------------------------------------------------------

async function purge(queue) {
  try {
    await api("DELETE", `/api/queues/${enc(state.vhost)}/${enc(queue)}/contents`);
    await refresh();
  } catch (error) {
    showError(error);
  }
}

async function closeConnection(name) {
  try {
    await fetch(`/api/connections/${enc(name)}`, {
      method: "DELETE",
      headers: { Authorization: state.auth, "X-Reason": "closed from Warren's page" },
    });
    await refresh();
  } catch (error) {
    showError(error);
  }
}

async function publish(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const exchange = form.get("exchange") || "amq.default";
  try {
    const answer = await api("POST", `/api/exchanges/${enc(state.vhost)}/${enc(exchange)}/publish`, {
      properties: {},
      routing_key: form.get("routing_key"),
      payload: form.get("payload"),
      payload_encoding: "string",
    });
    $("publish-result").textContent = answer.routed ? "routed" : "not routed";
  } catch (error) {
    $("publish-result").textContent = String(error.message);
  }
}

async function exportDefinitions() {
  try {
    const definitions = await api("GET", "/api/definitions");
    const blob = new Blob([JSON.stringify(definitions, null, 2)], { type: "application/json" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "warren-definitions.json";
    link.click();
  } catch (error) {
    showError(error);
  }
}

// --- start -----------------------------------------------------------------------------------

async function login(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  state.auth = "Basic " + btoa(`${form.get("user")}:${form.get("password")}`);
  try {
    const vhosts = await api("GET", "/api/vhosts");
    $("vhost").replaceChildren(...vhosts.map((v) => new Option(v.name, v.name)));
    state.vhost = vhosts.some((v) => v.name === "/") ? "/" : vhosts[0].name;
    $("vhost").value = state.vhost;
  } catch (error) {
    $("login-error").textContent = "Login failed: check the user and password.";
    return;
  }
  $("login").hidden = true;
  $("app").hidden = false;
  follow();
  refresh();
  setInterval(refresh, 5000);
}

$("login").addEventListener("submit", login);
$("publish").addEventListener("submit", publish);
$("export").addEventListener("click", exportDefinitions);
$("trace-filter").addEventListener("input", renderTrace);
$("queue-search").addEventListener("input", (e) => {
  state.queueSearch = e.target.value.trim();
  state.queuePage = 1;
  refresh();
});
$("queues-prev").addEventListener("click", () => {
  state.queuePage = Math.max(1, state.queuePage - 1);
  refresh();
});
$("queues-next").addEventListener("click", () => {
  state.queuePage += 1;
  refresh();
});
$("vhost").addEventListener("change", (e) => {
  state.vhost = e.target.value;
  state.queuePage = 1;
  follow();
  refresh();
});
