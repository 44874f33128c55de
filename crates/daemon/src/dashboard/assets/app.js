// The Skiff dashboard: plain DOM, no libraries, nothing fetched from elsewhere.
// Live data comes from /api/stream (server-sent events); an app's page adds /api/apps/NAME
// (charts, grants, limits, events) and /api/apps/NAME/logs (its output, live).
"use strict";

const PAGE_SIZE = 50;
const CSRF = document.querySelector('meta[name="skiff-csrf"]').content;

const state = {
  apps: [],
  daemon: null,
  info: null,
  images: [],
  search: "",
  stateFilter: "",
  page: 0,
  detail: null,
  detailName: null,
  logs: null,
  detailTimer: null,
};

// ---------- small helpers ----------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svgEl(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  return node;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function duration(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

function uptime(app) {
  if (!app.started_at) return "–";
  return duration((Date.now() - Date.parse(app.started_at)) / 1000);
}

function number(n, digits) {
  if (n === undefined || n === null) return "–";
  if (digits !== undefined) return n.toFixed(digits);
  return n.toLocaleString("en");
}

function notice(text, isError) {
  const box = document.getElementById("notice");
  box.textContent = text;
  box.className = isError ? "notice error" : "notice";
  box.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => (box.hidden = true), 6000);
}

async function getJson(path) {
  const response = await fetch(path, { credentials: "same-origin" });
  if (!response.ok) throw new Error(await errorText(response));
  return response.json();
}

async function errorText(response) {
  const text = await response.text();
  try {
    const error = JSON.parse(text);
    return error.message + (error.hint ? ` (${error.hint})` : "");
  } catch (_) {
    return text.trim() || response.statusText;
  }
}

// ---------- the live feed ----------

function connect() {
  const live = document.getElementById("live");
  const source = new EventSource("/api/stream");
  source.addEventListener("open", () => {
    live.textContent = "live";
    live.className = "live on";
  });
  source.addEventListener("error", () => {
    live.textContent = "reconnecting";
    live.className = "live off";
  });
  source.addEventListener("apps", (e) => {
    state.apps = JSON.parse(e.data);
    renderApps();
    renderDetailLive();
  });
  source.addEventListener("daemon", (e) => {
    state.daemon = JSON.parse(e.data);
    renderDaemon();
  });
  source.addEventListener("event", (e) => {
    const event = JSON.parse(e.data);
    if (state.detail && event.app === state.detailName) {
      state.detail.events.push(event);
      renderEvents();
    }
  });
}

function renderDaemon() {
  const box = document.getElementById("daemon");
  const d = state.daemon;
  if (!d) return;
  box.replaceChildren(
    el("dt", { text: "memory" }),
    el("dd", { id: "daemon-memory", text: bytes(d.rss_bytes) }),
    el("dt", { text: "apps" }),
    el("dd", { id: "daemon-apps", text: number(d.apps) }),
    el("dt", { text: "apps per GiB" }),
    el("dd", { id: "daemon-density", text: number(d.apps_per_gib) }),
    el("dt", { text: "instance pool" }),
    el("dd", { id: "daemon-pool", text: `${number(d.pool_in_use)} / ${number(d.pool_size)}` }),
  );
}

// ---------- views ----------

function route() {
  const hash = decodeURIComponent(location.hash.slice(1) || "/");
  closeDetail();
  document.querySelectorAll("nav a").forEach((a) => a.classList.remove("current"));
  if (hash.startsWith("/apps/")) {
    showDetail(hash.slice("/apps/".length));
  } else if (hash === "/images") {
    document.getElementById("nav-images").classList.add("current");
    showImages();
  } else {
    document.getElementById("nav-apps").classList.add("current");
    showApps();
  }
}

// The apps list: filtered, then paged, so a thousand apps render fifty rows at a time.
function showApps() {
  const search = el("input", {
    id: "search",
    type: "search",
    placeholder: "filter by name, image or state",
    value: state.search,
    oninput: (e) => {
      state.search = e.target.value;
      state.page = 0;
      renderApps();
    },
  });
  const filter = el(
    "select",
    {
      id: "state-filter",
      onchange: (e) => {
        state.stateFilter = e.target.value;
        state.page = 0;
        renderApps();
      },
    },
    ...["", "running", "serving", "restarting", "exited"].map((s) =>
      el("option", { value: s, text: s || "any state" }),
    ),
  );
  filter.value = state.stateFilter;
  const head = el(
    "tr",
    {},
    ...["Name", "Image", "Kind", "State", "Uptime", "Restarts", "Ports / routes", "Health", "Requests", "Errors"].map(
      (h) => el("th", { text: h }),
    ),
  );
  document.getElementById("view").replaceChildren(
    el("section", { class: "toolbar" }, search, filter, el("span", { id: "count", class: "muted" })),
    el("table", { id: "apps", class: "list" }, el("thead", {}, head), el("tbody", {})),
    el(
      "div",
      { class: "pager" },
      el("button", { id: "prev", text: "‹ Previous", onclick: () => turn(-1) }),
      el("span", { id: "page" }),
      el("button", { id: "next", text: "Next ›", onclick: () => turn(1) }),
    ),
  );
  renderApps();
}

function turn(by) {
  state.page += by;
  renderApps();
}

function visibleApps() {
  const needle = state.search.trim().toLowerCase();
  return state.apps.filter(
    (a) =>
      (!state.stateFilter || a.state === state.stateFilter) &&
      (!needle ||
        a.name.toLowerCase().includes(needle) ||
        a.image.toLowerCase().includes(needle) ||
        a.state.includes(needle) ||
        a.health.includes(needle)),
  );
}

function renderApps() {
  const body = document.querySelector("#apps tbody");
  if (!body) return;
  const apps = visibleApps();
  const pages = Math.max(1, Math.ceil(apps.length / PAGE_SIZE));
  state.page = Math.min(Math.max(0, state.page), pages - 1);
  const shown = apps.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
  body.replaceChildren(
    ...shown.map((a) =>
      el(
        "tr",
        { "data-app": a.name, "data-state": a.state },
        el("td", { class: "name" }, el("a", { href: "#/apps/" + encodeURIComponent(a.name), text: a.name })),
        el("td", { class: "image", title: a.image, text: shortImage(a.image) }),
        el("td", { class: "kind", text: a.kind }),
        el("td", { class: "state" }, el("span", { class: "badge " + a.state, text: a.state })),
        el("td", { class: "uptime", "data-started": a.started_at, text: uptime(a) }),
        el("td", { class: "restarts num", text: a.restarts }),
        el("td", { class: "published", text: a.ports.concat(a.routes).join(" ") || "–" }),
        el("td", { class: "health", title: a.health_reason || "" }, el("span", { class: "health " + a.health, text: a.health })),
        el("td", { class: "requests num", text: a.kind === "http" ? number(a.requests) : "–" }),
        el("td", { class: "errors num", text: a.kind === "http" ? number(a.errors) : "–" }),
      ),
    ),
  );
  if (!shown.length) {
    body.append(el("tr", {}, el("td", { colspan: 10, class: "muted", text: state.apps.length ? "no app matches" : "no apps yet: `skiff run -d …` starts one" })));
  }
  document.getElementById("count").textContent = `${apps.length} of ${state.apps.length} apps`;
  // What benches/dashboard.sh times: from navigation to the first list with apps on screen.
  if (shown.length && !performance.getEntriesByName("skiff-apps-rendered").length) {
    performance.mark("skiff-apps-rendered");
  }
  document.getElementById("page").textContent = `page ${state.page + 1} of ${pages}`;
  document.getElementById("prev").disabled = state.page === 0;
  document.getElementById("next").disabled = state.page >= pages - 1;
}

function shortImage(image) {
  return image.startsWith("/") ? image.split("/").pop() : image;
}

async function showImages() {
  const view = document.getElementById("view");
  view.replaceChildren(el("p", { class: "muted", text: "loading…" }));
  try {
    const overview = await getJson("/api/overview");
    state.info = overview.info;
    state.daemon = overview.daemon;
    renderDaemon();
    const rows = overview.images.map((i) =>
      el(
        "tr",
        { "data-image": `${i.repository}:${i.tag}` },
        el("td", { text: i.repository }),
        el("td", { text: i.tag }),
        el("td", { class: "digest", title: i.digest, text: i.digest.slice(0, 19) }),
        el("td", { class: "num", text: bytes(i.size) }),
        el("td", { text: i.created }),
      ),
    );
    const total = overview.images.reduce((sum, i) => sum + i.size, 0);
    view.replaceChildren(
      el("h2", { text: "Images" }),
      el("p", { class: "muted", text: `${overview.images.length} images, ${bytes(total)} in ${overview.info.root}` }),
      el(
        "table",
        { id: "images", class: "list" },
        el("thead", {}, el("tr", {}, ...["Repository", "Tag", "Digest", "Size", "Created"].map((h) => el("th", { text: h })))),
        el("tbody", {}, ...rows),
      ),
    );
  } catch (e) {
    view.replaceChildren(el("p", { class: "error", text: e.message }));
  }
}

// ---------- one app ----------

const CHARTS = [
  { key: "rate", title: "requests / s", http: true, value: (s, p) => s.requests / p, digits: 2 },
  { key: "errors", title: "errors (5xx)", http: true, value: (s) => s.errors, digits: 0 },
  { key: "p50", title: "p50 latency, ms", http: true, value: (s) => s.p50_ms, digits: 2 },
  { key: "p99", title: "p99 latency, ms", http: true, value: (s) => s.p99_ms, digits: 2 },
  { key: "instances", title: "instances", http: true, value: (s) => s.instances, digits: 0 },
  { key: "cpu", title: "CPU-seconds", value: (s) => s.cpu_seconds, digits: 3 },
  { key: "gbs", title: "GB-seconds", value: (s) => s.gb_seconds, digits: 4 },
];

function showDetail(name) {
  state.detailName = name;
  state.detail = null;
  const view = document.getElementById("view");
  view.replaceChildren(
    el("p", { class: "back" }, el("a", { href: "#/", text: "‹ all apps" })),
    el("div", { id: "detail" }, el("p", { class: "muted", text: "loading…" })),
  );
  loadDetail();
  state.detailTimer = setInterval(loadDetail, 5000);
}

function closeDetail() {
  clearInterval(state.detailTimer);
  state.detailTimer = null;
  if (state.logs) state.logs.close();
  state.logs = null;
  state.detail = null;
  state.detailName = null;
}

async function loadDetail() {
  const name = state.detailName;
  try {
    const detail = await getJson("/api/apps/" + encodeURIComponent(name));
    if (name !== state.detailName) return;
    const first = !state.detail;
    state.detail = detail;
    if (first) renderDetail();
    else {
      renderDetailLive();
      renderCharts();
      renderEvents();
    }
  } catch (e) {
    const box = document.getElementById("detail");
    if (box) box.replaceChildren(el("p", { class: "error", text: e.message }));
  }
}

function renderDetail() {
  const { app } = state.detail;
  const actions = ["start", "stop", "restart", "remove"].map((action) =>
    el("button", {
      class: "action" + (action === "remove" ? " danger" : ""),
      "data-action": action,
      text: action[0].toUpperCase() + action.slice(1),
      onclick: () => confirmAction(app.name, action),
    }),
  );
  const logs = el(
    "section",
    { class: "panel logs-panel" },
    el(
      "h3",
      {},
      "Logs ",
      el("label", {}, el("input", { type: "checkbox", id: "show-stdout", checked: "", onchange: filterLogs }), " stdout"),
      el("label", {}, el("input", { type: "checkbox", id: "show-stderr", checked: "", onchange: filterLogs }), " stderr"),
    ),
    el("div", { id: "logs", class: "logs" }),
  );
  document.getElementById("detail").replaceChildren(
    el(
      "div",
      { class: "title" },
      el("h2", { id: "app-name", text: app.name }),
      el("span", { id: "app-state", class: "badge" }),
      el("div", { class: "actions" }, ...actions),
    ),
    el("section", { class: "panel" }, el("h3", { text: "Summary" }), el("dl", { id: "summary", class: "facts" })),
    el("section", { class: "panel" }, el("h3", { text: "Bill so far" }), el("dl", { id: "bill", class: "facts" })),
    el("section", { class: "panel wide" }, el("h3", { text: "Last hour" }), el("div", { id: "charts", class: "charts" })),
    logs,
    el("section", { class: "panel" }, el("h3", { text: "Grants" }), grantsView(app.grants)),
    el("section", { class: "panel" }, el("h3", { text: "Limits" }), limitsView(app)),
    el("section", { class: "panel wide" }, el("h3", { text: "Events" }), el("ol", { id: "events", class: "events" })),
  );
  renderDetailLive();
  renderCharts();
  renderEvents();
  // Only now: the stored lines arrive at once, and need the box to land in.
  if (!state.logs) followLogs(app.name);
}

// What the list feed says of the app now (each second), over what its page loaded.
function renderDetailLive() {
  if (!state.detail || !document.getElementById("summary")) return;
  const { app } = state.detail;
  const row = state.apps.find((a) => a.name === app.name);
  const current = row ? row.state : app.state;
  const badge = document.getElementById("app-state");
  badge.textContent = current;
  badge.className = "badge " + current;
  badge.dataset.state = current;
  document.querySelectorAll("#detail button.action").forEach((b) => {
    const a = b.dataset.action;
    b.disabled = (a === "start" && current !== "exited") || (a === "stop" && current === "exited");
  });
  const http = app.http;
  const facts = [
    ["image", app.source],
    ["digest", app.digest],
    ["kind", http ? "http" : "command"],
    ["state", current],
    ["uptime", row ? uptime(row) : "–"],
    ["restarts", row ? row.restarts : app.restarts],
    ["restart policy", app.restart.policy],
    ["ports", http ? http.ports.join(" ") || "–" : "–"],
    ["routes", http ? http.routes.join(" ") || "–" : "–"],
    ["health", row ? row.health + (row.health_reason ? ": " + row.health_reason : "") : "–"],
    ["args", app.args.join(" ") || "–"],
    ["last exit", app.exits.length ? exitText(app.exits[app.exits.length - 1]) : "–"],
  ];
  document.getElementById("summary").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  const stats = http ? http.stats : null;
  const requests = row && http ? row.requests : stats ? stats.requests : 0;
  const bill = stats
    ? [
        ["requests", number(requests)],
        ["errors", number(row ? row.errors : stats.errors)],
        ["invocations", number(stats.invocations)],
        ["CPU-seconds", number(stats.cpu_seconds, 3)],
        ["GB-seconds", number(stats.gb_seconds, 4)],
        ["instance-seconds", number(stats.wall_seconds, 3)],
        ...price(state.detail.prices, requests, stats),
      ]
    : [
        ["CPU-seconds (this run)", number(app.cpu_ms / 1000, 3)],
        ["memory now", bytes(app.memory_bytes)],
      ];
  document.getElementById("bill").replaceChildren(
    ...bill.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { "data-bill": k, text: v })]),
  );
}

// The bill priced at the daemon's `--prices`, when it has some.
function price(prices, requests, stats) {
  if (!prices) return [];
  const cost = requests * prices.request + stats.cpu_seconds * prices.cpu_second + stats.gb_seconds * prices.gb_second;
  return [["cost", cost.toFixed(cost < 1 ? 6 : 2)]];
}

function exitText(exit) {
  return `${exit.code} (${exit.reason}) at ${exit.at}`;
}

function grantsView(grants) {
  const rows = [];
  for (const [key, value] of grants.env || []) rows.push(["env", `${key}=${value}`]);
  for (const dir of grants.dirs || []) rows.push(["dir", JSON.stringify(dir)]);
  for (const addr of grants.listen || []) rows.push(["listen", addr]);
  // `"none"`, or the destinations it may reach.
  const network = grants.network;
  if (typeof network === "string") {
    if (network !== "none") rows.push(["network", network]);
  } else if (network) {
    for (const dests of Object.values(network)) {
      for (const dest of [].concat(dests)) rows.push(["network", typeof dest === "string" ? dest : JSON.stringify(dest)]);
    }
  }
  if (!rows.length) return el("p", { class: "muted", text: "none: no files, no env, no network (deny by default)" });
  return el("dl", { class: "facts", id: "grants" }, ...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
}

function limitsView(app) {
  const rows = Object.entries(app.limits || {}).filter(([, v]) => v !== null);
  if (app.http) rows.push(...Object.entries(app.http.limits));
  if (!rows.length) return el("p", { class: "muted", text: "the daemon's defaults" });
  return el(
    "dl",
    { class: "facts", id: "limits" },
    ...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: typeof v === "object" ? JSON.stringify(v) : v })]),
  );
}

function renderEvents() {
  const list = document.getElementById("events");
  if (!list || !state.detail) return;
  const events = state.detail.events.slice(-50).reverse();
  list.replaceChildren(
    ...events.map((e) =>
      el("li", { class: "event " + e.kind }, el("time", { text: e.at.replace("T", " ").slice(0, 19) }), el("b", { text: e.kind }), " ", e.detail),
    ),
  );
  if (!events.length) list.append(el("li", { class: "muted", text: "none" }));
}

// Charts: one SVG polyline per series over the last hour, a bucket per sampling period.
function renderCharts() {
  const box = document.getElementById("charts");
  if (!box || !state.detail) return;
  const { samples, period_s: period, app } = state.detail;
  const now = Date.now() / 1000;
  const buckets = Math.round(3600 / period);
  const start = now - buckets * period;
  box.replaceChildren(
    ...CHARTS.filter((c) => !c.http || app.http).map((chart) => {
      const values = new Array(buckets).fill(0);
      for (const s of samples) {
        const i = Math.floor((s.at - start) / period);
        if (i >= 0 && i < buckets) values[i] = chart.value(s, period);
      }
      return drawChart(chart, values);
    }),
  );
}

function drawChart(chart, values) {
  const width = 320;
  const height = 90;
  const max = Math.max(...values);
  const total = values.reduce((a, b) => a + b, 0);
  const top = max > 0 ? max : 1;
  const points = values
    .map((v, i) => `${((i / (values.length - 1)) * width).toFixed(1)},${(height - 4 - (v / top) * (height - 12)).toFixed(1)}`)
    .join(" ");
  const svg = svgEl("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "chart",
    preserveAspectRatio: "none",
    "data-series": chart.key,
    "data-total": total,
    role: "img",
    "aria-label": chart.title,
  });
  svg.append(svgEl("line", { x1: 0, y1: height - 4, x2: width, y2: height - 4, class: "axis" }));
  svg.append(svgEl("polyline", { points, class: "series" }));
  const last = values[values.length - 1];
  return el(
    "figure",
    { class: "chart-box" },
    el("figcaption", {}, el("span", { text: chart.title }), el("span", { class: "muted", text: `max ${number(max, chart.digits)} · now ${number(last, chart.digits)}` })),
    svg,
    el("div", { class: "axis-labels muted" }, el("span", { text: "-60 min" }), el("span", { text: "now" })),
  );
}

function followLogs(name) {
  const source = new EventSource("/api/apps/" + encodeURIComponent(name) + "/logs");
  state.logs = source;
  source.addEventListener("line", (e) => {
    const box = document.getElementById("logs");
    if (!box) return;
    const line = JSON.parse(e.data);
    const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    const row = el(
      "div",
      { class: "line " + line.stream },
      el("time", { text: line.at.slice(11, 23) }),
      el("span", { class: "stream", text: line.stream }),
      el("span", { class: "text", text: line.line }),
    );
    row.hidden = !document.getElementById("show-" + line.stream)?.checked;
    box.append(row);
    while (box.childElementCount > 1000) box.firstElementChild.remove();
    if (atBottom) box.scrollTop = box.scrollHeight;
  });
}

function filterLogs() {
  for (const stream of ["stdout", "stderr"]) {
    const show = document.getElementById("show-" + stream).checked;
    document.querySelectorAll("#logs .line." + stream).forEach((l) => (l.hidden = !show));
  }
}

// ---------- actions ----------

function confirmAction(name, action) {
  const dialog = document.getElementById("confirm");
  const what = {
    start: `Start “${name}”?`,
    stop: `Stop “${name}”? A command gets 10 s to finish; an HTTP app's requests in flight as long.`,
    restart: `Restart “${name}”?`,
    remove: `Remove “${name}”? It is stopped at once, and its record and logs are deleted.`,
  }[action];
  document.getElementById("confirm-text").textContent = what;
  dialog.dataset.action = action;
  dialog.returnValue = "";
  dialog.onclose = () => {
    if (dialog.returnValue === "ok") act(name, action);
  };
  dialog.showModal();
}

async function act(name, action) {
  try {
    const response = await fetch(`/api/apps/${encodeURIComponent(name)}/${action}`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "x-skiff-csrf": CSRF },
    });
    if (!response.ok) throw new Error(await errorText(response));
    notice(`${name}: ${action} done`);
    if (action === "remove") location.hash = "#/";
    else loadDetail();
  } catch (e) {
    notice(`${name}: ${action} failed: ${e.message}`, true);
  }
}

// Uptimes tick without a round trip.
setInterval(() => {
  document.querySelectorAll("#apps td.uptime[data-started]").forEach((td) => {
    td.textContent = duration((Date.now() - Date.parse(td.dataset.started)) / 1000);
  });
}, 1000);

window.addEventListener("hashchange", route);
route();
connect();
getJson("/api/overview")
  .then((o) => {
    state.info = o.info;
    state.daemon = o.daemon;
    renderDaemon();
    document.querySelector(".brand").title = `skiff ${o.info.version} · ${o.info.root}`;
  })
  .catch((e) => notice(e.message, true));
