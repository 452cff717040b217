// The aimux dashboard: provider health with breaker controls, spend and requests over time, top spenders,
// recent errors, keys and projects. Everything shown comes from the admin API (shared state of the whole
// fleet), read again every INTERVAL seconds while the tab is visible.

import { ApiError, adminToken, api, daysBetween, get, setAdminToken, utcDay } from "./api.js";
import { rankGroups, stackedBars, toSeries } from "./charts.js";
import { DASH, count, empty, fill, h, millis, percent, table, time, usd } from "./dom.js";
import { confirmAction, renderKeys, renderProjects, setupManagement } from "./manage.js";

const params = new URLSearchParams(location.search);
const INTERVAL_SECONDS = Math.max(2, Number(params.get("interval")) || 10);
const HEALTH_MINUTES = 15;
const TOP_SPENDERS = 10;

const state = { paused: false, timer: null, running: null, refreshes: 0, keys: [] };

// ------------------------------------------------------------------------------------------------ messages

function say(text) {
  document.getElementById("status").textContent = text;
}

function fail(text) {
  const alert = document.getElementById("alert");
  alert.textContent = text;
  alert.hidden = false;
}

function clearAlert() {
  const alert = document.getElementById("alert");
  alert.hidden = true;
  alert.textContent = "";
}

function sectionError(id, error) {
  const needsToken = error instanceof ApiError && error.status === 401;
  if (needsToken) document.getElementById("token-box").open = true;
  const text = needsToken
    ? "This gateway needs its admin token: enter it under “Admin token” above."
    : `Could not load this section: ${error.message}`;
  fill(id, h("p", { class: "section-error", role: "alert" }, text));
}

// ------------------------------------------------------------------------------------------------ health

const STATE_CLASS = { HEALTHY: "ok", DEGRADED: "warn", UNHEALTHY: "bad", CIRCUIT_OPEN: "bad" };

function badge(value) {
  return h("span", { class: `badge ${STATE_CLASS[value] || "neutral"}`, "data-field": "state" }, value || DASH);
}

function stat(label, field, value) {
  return h("div", { class: "stat" }, h("dt", {}, label), h("dd", { "data-field": field }, value));
}

async function breakerAction(provider, action) {
  if (action === "open" && !(await confirmAction(`Open the breaker of ${provider}? No request goes to it until it is closed or reset.`, "Open breaker"))) return;
  try {
    const answer = await api("POST", `/admin/breakers/${encodeURIComponent(provider)}/${action}`);
    const now = answer && answer.breaker ? answer.breaker.state : action;
    say(`Breaker of ${provider}: ${action} (now ${now})`);
  } catch (error) {
    fail(`Breaker ${action} for ${provider} failed: ${error.message}`);
  }
  await refresh(true);
}

function providerCard(p) {
  const breaker = p.breaker || {};
  const cooldown = p.cooldown
    ? h("span", {}, `${p.cooldown.reason} until `, time(p.cooldown.until))
    : "none";
  const models = (p.models || []).map((m) => h("tr", { "data-model": m.model },
    h("th", { scope: "row" }, m.model),
    h("td", { class: "mono" }, m.target || DASH),
    h("td", {}, badge(m.state)),
    h("td", { "data-field": "breaker" }, m.breaker ? m.breaker.state : DASH),
    h("td", { class: "num", "data-field": "requests" }, count(m.requests)),
    h("td", { class: "num", "data-field": "success_rate" }, percent(m.success_rate)),
    h("td", { class: "num", "data-field": "latency_p50" }, millis(m.latency_ms && m.latency_ms.p50)),
    h("td", { class: "num", "data-field": "latency_p99" }, millis(m.latency_ms && m.latency_ms.p99))));
  const errors = (p.last_errors || []).map((e) => h("li", { "data-field": "last_error" },
    time(e.time), " ", h("strong", {}, e.kind), e.status ? ` ${e.status}` : "", e.model ? ` · ${e.model}` : "",
    e.message ? h("span", { class: "excerpt" }, ` — ${e.message}`) : ""));
  const button = (action, label) => h("button", {
    type: "button", class: action === "open" ? "danger" : "", "data-action": action,
    "aria-label": `${label} of ${p.provider}`, onclick: () => breakerAction(p.provider, action),
  }, label);
  return h("article", { class: `provider ${STATE_CLASS[p.state] || ""}`, "data-provider": p.provider, "aria-label": `Provider ${p.provider}` },
    h("header", {}, h("h3", {}, p.provider), badge(p.state)),
    h("dl", { class: "stats" },
      stat("Breaker", "breaker", breaker.state || DASH),
      stat("Opened", "opened_at", time(breaker.opened_at)),
      stat("Half-opens", "half_open_at", time(breaker.half_open_at)),
      stat("Failures in a row", "consecutive_failures", count(breaker.consecutive_failures)),
      stat("Cooldown", "cooldown", cooldown),
      stat("Requests", "requests", count(p.requests)),
      stat("Success", "success_rate", percent(p.success_rate)),
      stat("Latency p50 / p99", "latency", `${millis(p.latency_ms && p.latency_ms.p50)} / ${millis(p.latency_ms && p.latency_ms.p99)}`),
      stat("First token p50 / p99", "ttft", `${millis(p.ttft_ms && p.ttft_ms.p50)} / ${millis(p.ttft_ms && p.ttft_ms.p99)}`)),
    h("div", { class: "breaker-controls", role: "group", "aria-label": `Breaker controls of ${p.provider}` },
      button("open", "Open breaker"), button("close", "Close breaker"), button("reset", "Reset breaker")),
    models.length ? h("details", { class: "models" }, h("summary", {}, `Models (${models.length})`),
      table(`Models of ${p.provider}`, ["Model", "Target", "State", "Breaker", "Requests", "Success", "p50", "p99"], models)) : null,
    errors.length ? h("div", { class: "last-errors" }, h("h4", {}, "Last errors"), h("ul", {}, errors)) : null);
}

async function loadHealth() {
  const health = await get(`/admin/health?minutes=${HEALTH_MINUTES}`);
  const providers = health.providers || [];
  fill("providers-body", providers.length ? providers.map(providerCard) : empty("No providers configured."));
}

// ------------------------------------------------------------------------------------------------ usage

function period() {
  const days = Number(document.getElementById("usage-days").value);
  const to = new Date();
  const from = new Date(to.getTime() - (days - 1) * 86400000);
  return { from: utcDay(from), to: utcDay(to) };
}

function usageQuery(groups, { from, to }) {
  return `/admin/usage?from=${from}&to=${to}` + groups.map((g) => `&group_by=${g}`).join("");
}

function groupLabel(dimension, group) {
  const value = group[dimension];
  if (dimension === "key" && group.key_name) return `${group.key_name} (${value})`;
  return value === "-" ? `(no ${dimension})` : String(value);
}

const TOTALS = [
  ["cost_usd", "Spend", usd], ["requests", "Requests", count], ["input_tokens", "Input tokens", count],
  ["output_tokens", "Output tokens", count], ["cache_read_tokens", "Cache read", count],
  ["cache_write_tokens", "Cache write", count], ["errors", "Errors", count], ["fallbacks", "Fallbacks", count],
];

async function loadUsage() {
  const dimension = document.getElementById("usage-group").value;
  const range = period();
  const usage = await get(usageQuery(["day", dimension], range));
  const total = usage.total || {};
  fill("usage-totals", TOTALS.map(([field, label, format]) =>
    h("div", { class: "card", "data-field": field }, h("span", { class: "card-label" }, label), h("span", { class: "card-value" }, format(total[field] || 0)))));
  const days = daysBetween(usage.from || range.from, usage.to || range.to);
  const cells = (measure) => (usage.groups || []).map((g) => ({
    day: g.group.day, group: String(g.group[dimension]), label: groupLabel(dimension, g.group), value: g[measure] || 0,
  }));
  const name = document.getElementById("usage-group").selectedOptions[0].textContent.toLowerCase();
  // One order (by spend, then requests) for both charts, so a group has the same colour in each.
  const ranked = rankGroups(cells("cost_usd"), cells("requests"));
  const spend = toSeries(days, cells("cost_usd"), ranked);
  stackedBars(document.getElementById("spend-chart"), { title: `Spend per day (USD) by ${name}`, ...spend, format: usd });
  const requests = toSeries(days, cells("requests"), ranked);
  stackedBars(document.getElementById("requests-chart"), { title: `Requests per day by ${name}`, ...requests, format: count });
  document.getElementById("usage").dataset.range = `${usage.from}..${usage.to}`;
}

async function loadSpenders() {
  const usage = await get(usageQuery(["key"], period()));
  const projects = new Map(state.keys.map((k) => [k.id, k.project]));
  const top = [...(usage.groups || [])].sort((a, b) => b.cost_usd - a.cost_usd || b.requests - a.requests).slice(0, TOP_SPENDERS);
  if (!top.length) {
    fill("spenders-body", empty("No traffic in this period."));
    return;
  }
  const rows = top.map((g) => h("tr", { "data-key": g.group.key },
    h("th", { scope: "row" }, g.group.key_name || (g.group.key === "-" ? "(no key)" : g.group.key)),
    h("td", { class: "mono" }, g.group.key),
    h("td", {}, projects.get(g.group.key) || DASH),
    h("td", { class: "num", "data-field": "requests" }, count(g.requests)),
    h("td", { class: "num", "data-field": "input_tokens" }, count(g.input_tokens)),
    h("td", { class: "num", "data-field": "output_tokens" }, count(g.output_tokens)),
    h("td", { class: "num", "data-field": "errors" }, count(g.errors)),
    h("td", { class: "num", "data-field": "cost_usd" }, usd(g.cost_usd))));
  fill("spenders-body", table("Top spenders", ["Key", "Id", "Project", "Requests", "Input tokens", "Output tokens", "Errors", "Spend"], rows));
}

// ------------------------------------------------------------------------------------------------ errors

async function loadErrors() {
  const errors = await get("/admin/errors?since=1h");
  const upstream = (errors.groups || []).map((g) => h("tr", { "data-provider": g.provider, "data-kind": g.kind },
    h("th", { scope: "row" }, g.provider),
    h("td", { "data-field": "kind" }, g.kind),
    h("td", { class: "num", "data-field": "status" }, g.status === null || g.status === undefined ? DASH : String(g.status)),
    h("td", { class: "num", "data-field": "count" }, count(g.count)),
    h("td", {}, time(g.last_at)),
    h("td", { class: "excerpt" }, g.last_message || "")));
  const client = (errors.client_errors || []).map((g) => h("tr", { "data-kind": g.kind },
    h("th", { scope: "row" }, g.kind),
    h("td", { class: "num", "data-field": "status" }, String(g.status)),
    h("td", { class: "num", "data-field": "count" }, count(g.count)),
    h("td", {}, time(g.last_at))));
  fill("errors-body",
    h("h3", {}, "Upstream"),
    upstream.length ? table("Upstream errors", ["Provider", "Kind", "Status", "Count", "Last", "Last message"], upstream, { id: "upstream-errors" }) : empty("No upstream errors."),
    h("h3", {}, "Client requests refused"),
    client.length ? table("Client errors", ["Kind", "Status", "Count", "Last"], client, { id: "client-errors" }) : empty("No client errors."));
}

// ------------------------------------------------------------------------------------------------ keys, projects

async function loadKeys() {
  const [{ keys }, projects] = await Promise.all([
    get("/admin/keys"),
    get("/admin/projects").then((answer) => answer.projects, () => null), // its own section says why
  ]);
  state.keys = keys;
  renderKeys(keys, projects);
}

async function loadProjects() {
  const { projects } = await get("/admin/projects");
  renderProjects(projects);
}

// ------------------------------------------------------------------------------------------------ refresh loop

const SECTIONS = [
  ["providers-body", loadHealth], ["keys-body", loadKeys], ["usage-totals", loadUsage],
  ["spenders-body", loadSpenders], ["errors-body", loadErrors], ["projects-body", loadProjects],
];

async function loadAll() {
  // Keys first: the spenders table names each key's project.
  await loadKeys().catch((error) => sectionError("keys-body", error));
  const results = await Promise.allSettled(SECTIONS.filter(([id]) => id !== "keys-body").map(async ([id, load]) => {
    try {
      await load();
    } catch (error) {
      sectionError(id, error);
      throw error;
    }
  }));
  const failed = results.filter((r) => r.status === "rejected").length;
  const stamp = new Date().toISOString().slice(11, 19);
  document.getElementById("updated").textContent = failed
    ? `Updated ${stamp} UTC (${failed} section${failed > 1 ? "s" : ""} failed)`
    : `Updated ${stamp} UTC`;
  state.refreshes += 1;
  document.body.dataset.refreshes = String(state.refreshes);
}

/** Load everything once. A timer refresh joins one already running; after a change (`fresh`) the page
 * waits for a running one to end and loads again, so what it shows was read after the change. */
export async function refresh(fresh = false) {
  if (state.running && fresh) await state.running.catch(() => {});
  if (!state.running) state.running = loadAll().finally(() => { state.running = null; });
  return state.running;
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = null;
  if (state.paused || document.hidden) return;
  state.timer = setTimeout(async () => {
    await refresh();
    schedule();
  }, INTERVAL_SECONDS * 1000);
}

function setupRefresh() {
  document.getElementById("refresh").addEventListener("click", async () => {
    clearAlert();
    await refresh(true);
    schedule();
  });
  const pause = document.getElementById("pause");
  pause.addEventListener("click", () => {
    state.paused = !state.paused;
    pause.setAttribute("aria-pressed", String(state.paused));
    pause.textContent = state.paused ? "Resume auto-refresh" : "Pause auto-refresh";
    say(state.paused ? "Auto-refresh paused" : `Auto-refresh every ${INTERVAL_SECONDS} s`);
    schedule();
  });
  // A hidden tab asks nothing of the gateway; coming back shows fresh figures at once.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) schedule();
    else refresh().then(schedule);
  });
  for (const id of ["usage-days", "usage-group"]) {
    document.getElementById(id).addEventListener("change", () => Promise.all([loadUsage(), loadSpenders()]).catch((error) => sectionError("usage-totals", error)));
  }
}

// ------------------------------------------------------------------------------------------------ token, theme

function setupToken() {
  const form = document.getElementById("token-form");
  const input = document.getElementById("token");
  input.value = adminToken();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setAdminToken(input.value.trim());
    say(input.value.trim() ? "Admin token set for this tab" : "Admin token cleared");
    await refresh(true);
  });
  document.getElementById("token-forget").addEventListener("click", async () => {
    input.value = "";
    setAdminToken("");
    say("Admin token forgotten");
    await refresh(true);
  });
}

const THEMES = ["auto", "light", "dark"];

function applyTheme(theme) {
  if (theme === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  document.getElementById("theme").textContent = `Theme: ${theme}`;
}

function setupTheme() {
  let theme = localStorage.getItem("aimux-theme") || "auto";
  applyTheme(theme);
  document.getElementById("theme").addEventListener("click", () => {
    theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
    localStorage.setItem("aimux-theme", theme);
    applyTheme(theme);
  });
}

async function showVersion() {
  try {
    const status = await get("/admin/status");
    document.getElementById("version").textContent = `v${status.version}`;
  } catch {
    // the sections say what is wrong
  }
}

setupTheme();
setupToken();
setupManagement({ refresh: () => refresh(true), say, fail });
setupRefresh();
showVersion();
refresh().then(schedule);
