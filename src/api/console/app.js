// flinkd's web console: reads the public API (the same as `flinkd get`), renders with
// DOM nodes and textContent only (no HTML from data), updates itself live: the
// Deployments from the API's watch (server-sent events, read with fetch so that a
// token can go with them), a Deployment's page asked again every few seconds.
"use strict";

const POLL_MS = 2000;
const RECONNECT_MS = 2000;
const MAX_EVENTS = 1000;
const CONDITIONS = ["ClusterUnreachable", "JobFailing", "JobUnstable"];

const state = {
  token: sessionStorage.getItem("flinkd-token") || "",
  deployments: new Map(), // "namespace/name" -> Deployment
  synced: false,
  page: null, // the Deployment page shown: {ns, name, timer, events, lastSeq}
};

// --- the API ---------------------------------------------------------------------

class Unauthorized extends Error {}

function headers(extra) {
  const h = Object.assign({ Accept: "application/json" }, extra || {});
  if (state.token) h.Authorization = "Bearer " + state.token;
  return h;
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = headers(opts.headers);
  const res = await fetch(path, opts);
  if (res.status === 401) {
    askForToken();
    throw new Unauthorized("a token is needed");
  }
  const type = res.headers.get("content-type") || "";
  const body = type.includes("json") ? await res.json() : await res.text();
  if (!res.ok) {
    const message = body && body.message ? body.message : String(body);
    throw new Error(message + " (HTTP " + res.status + ")");
  }
  return body;
}

function askForToken() {
  const form = document.getElementById("token-form");
  if (!form.hidden) return;
  form.hidden = false;
  document.getElementById("token").focus();
}

function useToken(event) {
  event.preventDefault();
  state.token = document.getElementById("token").value.trim();
  sessionStorage.setItem("flinkd-token", state.token);
  // Links to the Flink UI carry no header: reads may send the token as this cookie.
  document.cookie =
    "flinkd_token=" + encodeURIComponent(state.token) + "; path=/; SameSite=Strict";
  document.getElementById("token-form").hidden = true;
  watch();
  route();
}

// Server-sent events from a fetch body: calls onEvent(kind, data) per event.
async function readEvents(res, onEvent) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let kind = "";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let end;
    while ((end = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, end).replace(/\r$/, "");
      buf = buf.slice(end + 1);
      if (line === "") {
        if (kind || data.length) onEvent(kind, data.join("\n"));
        kind = "";
        data = [];
      } else if (line.startsWith("event:")) {
        kind = line.slice(6).trim();
      } else if (line.startsWith("data:")) {
        data.push(line.slice(5).replace(/^ /, ""));
      }
    }
  }
}

let watching = false;

// Watches every namespace's Deployments, connecting again whenever it is cut.
async function watch() {
  if (watching) return;
  watching = true;
  const live = document.getElementById("live");
  for (;;) {
    try {
      const res = await fetch("/api/v1/deployments?watch=true", { headers: headers() });
      if (res.status === 401) {
        askForToken();
        live.textContent = "waiting for a token";
        watching = false;
        return;
      }
      if (!res.ok) throw new Error("HTTP " + res.status);
      const fresh = new Map();
      let synced = false;
      await readEvents(res, (kind, data) => {
        if (kind === "SYNCED") {
          synced = true;
          state.deployments = fresh;
          state.synced = true;
          live.textContent = "live";
          changed(null);
          return;
        }
        const d = JSON.parse(data);
        const key = nsOf(d) + "/" + d.metadata.name;
        const into = synced ? state.deployments : fresh;
        if (kind === "DELETED") into.delete(key);
        else into.set(key, d);
        if (synced) changed(key);
      });
      throw new Error("the daemon ended the watch");
    } catch (e) {
      live.textContent = "reconnecting… (" + e.message + ")";
      await new Promise((r) => setTimeout(r, RECONNECT_MS));
    }
  }
}

// --- rendering helpers -----------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function table(caption, head, rows, rowAttrs) {
  if (!rows.length) return el("p", { class: "empty" }, "No " + caption.toLowerCase() + ".");
  return el(
    "table",
    {},
    el("caption", { class: "visually-hidden" }, caption),
    el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))),
    el(
      "tbody",
      {},
      rows.map((r, i) => el("tr", rowAttrs ? rowAttrs(i) : {}, r.map((c) => el("td", {}, c))))
    )
  );
}

// A moment as UTC text, which stays the same from one refresh to the next (so that a
// part of the page that did not change is not rebuilt under the reader's focus).
function time(iso) {
  if (!iso) return "-";
  const text = new Date(Date.parse(iso)).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  return el("time", { datetime: iso }, text);
}

function conditionsOf(d) {
  const running = d.status && d.status.running;
  const byType = {};
  for (const c of (running && running.conditions) || []) byType[c.type] = c;
  return byType;
}

// Why a Deployment needs attention, or "" when it does not.
function attention(d) {
  const why = [];
  const status = d.status ? d.status.state : "";
  if (status === "FAILED") why.push("FAILED");
  const conditions = conditionsOf(d);
  for (const t of CONDITIONS) {
    if (conditions[t] && conditions[t].status === "True") why.push(t);
  }
  if (d.status && d.status.problems && d.status.problems.length) why.push("file not valid");
  return why.join(", ");
}

function nsOf(d) {
  return d.metadata.namespace || "default";
}

function deploymentHref(d) {
  return "#/deployments/" + encodeURIComponent(nsOf(d)) + "/" +
    encodeURIComponent(d.metadata.name);
}

// --- the list of Deployments -------------------------------------------------------

function renderList() {
  const main = document.getElementById("main");
  const list = [...state.deployments.values()].sort((a, b) =>
    (nsOf(a) + "/" + a.metadata.name).localeCompare(nsOf(b) + "/" + b.metadata.name)
  );
  const rows = list.map((d) => {
    const conditions = conditionsOf(d);
    const why = attention(d);
    return [
      nsOf(d),
      el("a", { href: deploymentHref(d) }, d.metadata.name),
      d.spec.state ? d.spec.state.toUpperCase() : "-",
      el("span", { class: "status status-" + (d.status ? d.status.state : "none") },
        d.status ? d.status.state : "-"),
      ...CONDITIONS.map((t) => {
        const c = conditions[t];
        const s = c ? c.status : "-";
        return el("span", { class: "condition condition-" + s, title: c ? c.message : "" }, s);
      }),
      why ? el("strong", { class: "attention-note" }, "⚠ Needs attention: " + why) : "",
      d.status && d.status.running ? d.status.running.jobId.slice(0, 8) : "-",
      time(d.metadata.modifiedAt),
    ];
  });
  main.replaceChildren(
    el("h1", {}, "Deployments"),
    state.synced
      ? table(
          "Deployments",
          ["Namespace", "Name", "Desired", "Status", ...CONDITIONS, "Attention", "Job", "Changed"],
          rows,
          (i) => ({
            class: attention(list[i]) ? "attention" : null,
            "data-deployment": nsOf(list[i]) + "/" + list[i].metadata.name,
          })
        )
      : el("p", {}, "Loading…")
  );
}

// --- one Deployment -----------------------------------------------------------------

function section(id, title) {
  return el("section", { "aria-labelledby": id + "-title" },
    el("h2", { id: id + "-title" }, title), el("div", { id }));
}

// Puts `children` in the element `id`, unless it already shows the same.
function fill(id, ...children) {
  const node = document.getElementById(id);
  if (!node) return;
  const next = el("div", {}, children);
  if (node.innerHTML !== next.innerHTML) node.replaceChildren(...next.childNodes);
}

function renderPage(ns, name) {
  const main = document.getElementById("main");
  main.replaceChildren(
    el("p", {}, el("a", { href: "#/" }, "← All Deployments")),
    el("h1", {}, name, el("span", { class: "namespace" }, " in " + ns)),
    el("div", { id: "summary" }, el("p", {}, "Loading…")),
    el("p", { class: "actions" },
      el("button", { id: "take-savepoint", type: "button", onclick: takeSavepoint }, "Take savepoint"),
      " ",
      el("span", { id: "action-result", role: "status", "aria-live": "polite" })),
    section("conditions", "Conditions"),
    section("jobs", "Jobs"),
    section("savepoints", "Savepoints"),
    section("events", "Events (newest first)"),
    el("section", { "aria-labelledby": "spec-title" },
      el("h2", { id: "spec-title" }, "Spec (expanded)"),
      el("pre", { id: "spec", tabindex: "0" }))
  );
  state.page = { ns, name, timer: null, events: [], lastSeq: 0, id: null };
  refreshPage();
}

function renderSummary(d) {
  const status = d.status || {};
  const running = status.running;
  const ui = status.flinkUi;
  const why = attention(d);
  const rows = [
    ["Desired state", d.spec.state ? d.spec.state.toUpperCase() : "-"],
    ["Status", el("span", { class: "status status-" + status.state }, status.state || "-")],
    ["Since", running ? time(running.transitionTime) : time(d.metadata.modifiedAt)],
    ["Current job", running ? running.jobId : "-"],
    ["Flink UI", ui
      ? el("a", { href: ui.proxy, id: "flink-ui" }, "Flink web UI (through flinkd)")
      : "- (no job running)"],
  ];
  if (why) rows.push(["Attention", el("strong", { class: "attention-note" }, "⚠ " + why)]);
  for (const p of status.problems || []) {
    rows.push(["File problem", p]);
  }
  fill("summary", el("dl", {}, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));
  const conditions = (running && running.conditions) || [];
  fill("conditions", table("Conditions", ["Condition", "Status", "Reason", "Message", "Since"],
    conditions.map((c) => [c.type, el("span", { class: "condition condition-" + c.status }, c.status),
      c.reason || "-", c.message || "", time(c.lastTransitionTime)]),
    (i) => (conditions[i].status === "True" ? { class: "attention" } : {})));
}

async function refreshPage() {
  const page = state.page;
  if (!page) return;
  clearTimeout(page.timer);
  const base = "/api/v1/namespaces/" + encodeURIComponent(page.ns);
  try {
    const d = await api(base + "/deployments/" + encodeURIComponent(page.name));
    if (state.page !== page) return;
    page.id = d.metadata.id;
    renderSummary(d);
    const q = "?deploymentId=" + encodeURIComponent(page.id);
    const [jobs, savepoints, spec] = await Promise.all([
      api(base + "/jobs" + q),
      api(base + "/savepoints" + q),
      api(base + "/deployments/" + encodeURIComponent(page.name),
        { headers: { Accept: "application/yaml" } }),
    ]);
    // Events: only those after the last seen, page by page.
    for (;;) {
      const e = await api(base + "/events" + q + "&after=" + page.lastSeq);
      page.events.push(...e.items);
      // The newest MAX_EVENTS are shown; `flinkd events NAME` has them all.
      if (page.events.length > MAX_EVENTS) page.events.splice(0, page.events.length - MAX_EVENTS);
      if (e.items.length) page.lastSeq = e.items[e.items.length - 1].seq;
      if (e.next === undefined || e.next === null) break;
    }
    if (state.page !== page) return;
    fill("jobs", table("Jobs", ["Job", "State", "Flink job", "Created", "Started", "Ended", "Note"],
      jobs.items.slice().reverse().map((j) => [j.metadata.id.slice(0, 8), j.status.state,
        j.status.flinkJobId || "-", time(j.metadata.createdAt), time(j.status.startedAt),
        time(j.status.terminatedAt),
        j.status.failure ? j.status.failure.message
          : j.spec.savepointLocation ? "restored from " + j.spec.savepointLocation : ""])));
    fill("savepoints", table("Savepoints", ["Savepoint", "Origin", "State", "Created", "Location"],
      savepoints.items.slice().reverse().map((s) => [s.metadata.id.slice(0, 8), s.origin, s.state,
        time(s.metadata.createdAt), s.location || (s.failure ? s.failure.message : "")])));
    const events = page.events.slice().reverse();
    fill("events", table("Events", ["Time", "Level", "Event", "Message"],
      events.map((e) => [time(e.createdAt), e.level, e.name, el("span", { class: "message" }, e.message)]),
      (i) => ({ class: "level-" + events[i].level })));
    const pre = document.getElementById("spec");
    if (pre && pre.textContent !== spec) pre.textContent = spec;
  } catch (e) {
    if (state.page !== page) return;
    if (!(e instanceof Unauthorized)) fill("summary", el("p", { class: "error" }, e.message));
  }
  if (state.page === page) page.timer = setTimeout(refreshPage, POLL_MS);
}

async function takeSavepoint() {
  const page = state.page;
  const out = document.getElementById("action-result");
  if (!page || !page.id) return;
  const button = document.getElementById("take-savepoint");
  button.disabled = true;
  out.textContent = "asking for a savepoint…";
  try {
    const sp = await api("/api/v1/namespaces/" + encodeURIComponent(page.ns) + "/savepoints", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ metadata: { deploymentId: page.id } }),
    });
    out.textContent = "savepoint " + sp.metadata.id.slice(0, 8) + " " + sp.state;
    refreshPage();
  } catch (e) {
    out.textContent = "no savepoint: " + e.message;
  } finally {
    button.disabled = false;
  }
}

// --- routing -------------------------------------------------------------------------

function current() {
  const m = location.hash.match(/^#\/deployments\/([^/]+)\/([^/]+)$/);
  return m ? { ns: decodeURIComponent(m[1]), name: decodeURIComponent(m[2]) } : null;
}

// A change seen by the watch: the list re-rendered, or the page shown asked again.
function changed(key) {
  const at = current();
  if (!at) renderList();
  else if (key === null || key === at.ns + "/" + at.name) refreshPage();
}

function route() {
  if (state.page) clearTimeout(state.page.timer);
  state.page = null;
  const at = current();
  if (at) renderPage(at.ns, at.name);
  else renderList();
  document.getElementById("main").focus({ preventScroll: true });
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("token-form").addEventListener("submit", useToken);
  window.addEventListener("hashchange", route);
  route();
  watch();
});
