// Alerts: what fires now, what is about to (pending), what is silenced or
// inhibited, and the history of every alert as a timeline and a table of
// its events. Vigil's rules' alerts come from /api/v1/alerts and are
// joined by label set with the embedded Alertmanager's (/api/v2/alerts),
// which know whether a silence or an inhibition holds them; Alertmanager
// alerts that no rule of this Vigil made (posted by another Prometheus)
// are listed too. The view is in the URL:
//
//   /alerts?tab=<firing|pending|silenced|history>&filter=<matchers>
//          &range=<5m|…|7d> | &start=<Unix s>&end=<Unix s>   (history)
//
// Stable hooks for browser tests (data-testid):
//
//   alerts-filter        the label filter box (matchers, Enter applies)
//   alerts-tab-<tab>     a tab; data-count is the number in it
//   alerts-list          the table of the current tab; data-count
//   alert-row            one alert (data-alertname, data-state: firing,
//                        pending, silenced or inhibited)
//   alert-silence        the row's "Silence" button
//   alert-anomaly-link   the link of an anomaly rule's alert to its charts
//   alerts-error         where API errors show
//   history-timeline     one lane per alert; data-lanes
//   history-lane         (data-alertname, data-fingerprint)
//   history-segment      a stretch of a state (data-state)
//   history-marker       a notification (data-state notified|notify_failed)
//   history-events       the table of events; data-count
//   history-event        one event (data-state)
import { APIError, Labels } from "./api";
import {
  AMAlert,
  alertHistory,
  FIRING_EVENT,
  amAlerts,
  chips,
  formatMatcher,
  HistoryEvent,
  humanDuration,
  labelKey,
  Matcher,
  matches,
  parseMatchers,
  quoteValue,
  relTime,
  ruleAlerts,
  selectorOf,
  stateBadge,
  timeOf,
} from "./alerting";
import { formatValue } from "./chart";
import { errorBox, h } from "./dom";
import { ranges } from "./explore";
import { formatTime } from "./format";

const tabs = ["firing", "pending", "silenced", "history"] as const;
type Tab = (typeof tabs)[number];
const REFRESH_MS = 10_000;
const HISTORY_LIMIT = 2000;
const MAX_LANES = 60;

// A current alert as the page lists it.
interface Row {
  name: string;
  labels: Labels;
  annotations: Labels;
  state: "firing" | "pending" | "silenced" | "inhibited";
  since: number; // Unix ms
  value?: string;
  am?: AMAlert;
}

// currentRows joins the rules' alerts with the Alertmanager's: a firing
// rule alert that a silence or an inhibition holds is listed as such.
export function currentRows(rule: { labels: Labels; annotations: Labels; state: string; activeAt?: string; value: string }[], am: AMAlert[]): Row[] {
  const byKey = new Map(am.map((a) => [labelKey(a.labels), a]));
  const seen = new Set<string>();
  const rows: Row[] = [];
  const held = (a: AMAlert | undefined): Row["state"] | undefined => {
    if (a?.status.state !== "suppressed") return undefined;
    return a.status.silencedBy?.length ? "silenced" : "inhibited";
  };
  for (const r of rule) {
    if (r.state !== "firing" && r.state !== "pending") continue;
    const k = labelKey(r.labels);
    const a = byKey.get(k);
    seen.add(k);
    const state = (r.state === "firing" && held(a)) || r.state;
    rows.push({ name: r.labels.alertname ?? "", labels: r.labels, annotations: r.annotations ?? {}, state, since: timeOf(r.activeAt), value: r.value, am: a });
  }
  for (const a of am) {
    if (seen.has(labelKey(a.labels))) continue;
    rows.push({ name: a.labels.alertname ?? "", labels: a.labels, annotations: a.annotations ?? {}, state: held(a) ?? "firing", since: timeOf(a.startsAt), am: a });
  }
  rows.sort((x, y) => x.name.localeCompare(y.name) || y.since - x.since);
  return rows;
}

const pad = (n: number) => String(n).padStart(2, "0");
function toLocalInput(sec: number): string {
  const d = new Date(sec * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// silenceHref opens the silence form with matchers for exactly these
// labels, as Alertmanager's own "Silence" button does.
export function silenceHref(labels: Labels): string {
  const ms: Matcher[] = Object.keys(labels)
    .sort((a, b) => (a === "alertname" ? -1 : b === "alertname" ? 1 : a.localeCompare(b)))
    .map((k) => ({ name: k, value: labels[k], isRegex: false, isEqual: true }));
  return `/silences?${new URLSearchParams({ new: "1", filter: selectorOf(ms) })}`;
}

export function alertsPage(root: HTMLElement): () => void {
  const params = new URLSearchParams(location.search);
  let tab: Tab = (tabs as readonly string[]).includes(params.get("tab") ?? "") ? (params.get("tab") as Tab) : "firing";
  let from = parseFloat(params.get("start") ?? "");
  let to = parseFloat(params.get("end") ?? "");
  let rangeName = params.get("range") ?? "6h";
  if (Number.isFinite(from) && Number.isFinite(to) && to > from) rangeName = "custom";
  else if (!ranges.some(([n]) => n === rangeName)) rangeName = "6h";

  const filterInput = h("input", {
    type: "text",
    class: "filter",
    spellcheck: "false",
    autocomplete: "off",
    "aria-label": "label filter",
    placeholder: 'label filter, e.g. severity="page", team=~"db|web"',
    "data-testid": "alerts-filter",
  });
  filterInput.value = params.get("filter") ?? "";
  const apply = h("button", { class: "primary", type: "button" }, "Filter");
  const tabButtons = new Map<Tab, HTMLButtonElement>();
  const counts = new Map<Tab, HTMLElement>();
  const labelsOf: Record<Tab, string> = { firing: "Firing", pending: "Pending", silenced: "Silenced / inhibited", history: "History" };
  for (const t of tabs) {
    const count = h("span", { class: "badge tab-count" });
    const b = h("button", { type: "button", class: "tab", "data-tab": t, "data-testid": `alerts-tab-${t}` }, labelsOf[t], t === "history" ? null : count);
    b.addEventListener("click", () => showTab(t, true));
    tabButtons.set(t, b);
    counts.set(t, count);
  }
  const info = h("span", { class: "info" });
  const error = h("div", { "data-testid": "alerts-error" });
  const filterError = h("div");
  const list = h("div", { class: "alerts-list", "data-testid": "alerts-list", "data-count": "0" });

  const rangeSel = h("select", { "aria-label": "time range", name: "range" });
  for (const [n] of ranges) rangeSel.append(h("option", { value: n }, "last " + n));
  rangeSel.append(h("option", { value: "custom" }, "absolute…"));
  rangeSel.value = rangeName;
  const fromInput = h("input", { type: "datetime-local", step: "1", id: "alerts-from" });
  const toInput = h("input", { type: "datetime-local", step: "1", id: "alerts-to" });
  const custom = h("div", { class: "custom-range" }, h("label", { for: "alerts-from" }, "From"), fromInput, h("label", { for: "alerts-to" }, "to"), toInput);
  const timeline = h("div", { class: "timeline", "data-testid": "history-timeline", "data-lanes": "0" });
  const events = h("div", { "data-testid": "history-events", "data-count": "0" });
  const historyInfo = h("div", { class: "info" });
  const historyEl = h("div", { class: "alert-history" }, h("div", { class: "history-bar" }, rangeSel, custom), historyInfo, timeline, h("h2", { class: "section-title" }, "Events"), events);

  root.append(h("h1", {}, "Alerts"), h("div", { class: "querybar" }, h("div", { class: "qwrap" }, filterInput), apply), filterError, error, h("div", { class: "tabs" }, ...tabButtons.values(), info), list, historyEl);

  let filter: Matcher[] = [];
  const readFilter = (): boolean => {
    try {
      filter = parseMatchers(filterInput.value);
      filterError.replaceChildren();
      return true;
    } catch (e) {
      filterError.replaceChildren(errorBox(new APIError(0, "bad_filter", `label filter: ${(e as Error).message}`)));
      return false;
    }
  };

  const timeWindow = (): [number, number] => {
    if (rangeSel.value === "custom") return [from, to];
    const now = Date.now() / 1000;
    return [now - ranges.find(([n]) => n === rangeSel.value)![1], now];
  };
  const showCustom = () => {
    custom.hidden = rangeSel.value !== "custom";
    if (!custom.hidden) {
      fromInput.value = toLocalInput(from);
      toInput.value = toLocalInput(to);
    }
  };
  if (rangeName !== "custom") [from, to] = timeWindow();
  showCustom();

  const syncURL = (push = false) => {
    const p = new URLSearchParams({ tab });
    if (filterInput.value.trim()) p.set("filter", filterInput.value.trim());
    if (tab === "history") {
      if (rangeSel.value === "custom") {
        p.set("start", from.toFixed(3));
        p.set("end", to.toFixed(3));
      } else p.set("range", rangeSel.value);
    }
    const url = `/alerts?${p}`;
    if (url === location.pathname + location.search) return;
    if (push) history.pushState(null, "", url);
    else history.replaceState(null, "", url);
  };

  const addFilter = (k: string, v: string) => {
    const m = formatMatcher({ name: k, value: v, isRegex: false, isEqual: true });
    const cur = filterInput.value
      .trim()
      .replace(/^\{|\}$/g, "")
      .trim();
    if (cur.split(",").some((x) => x.trim() === m)) return;
    filterInput.value = cur ? `${cur}, ${m}` : m;
    applyFilter();
  };

  // The current alerts, refreshed in the background so the counts on
  // the tabs stay true while the history is shown.
  let rows: Row[] = [];
  let ctrl = new AbortController();
  let loaded = false;
  const refresh = async () => {
    ctrl.abort();
    ctrl = new AbortController();
    const signal = ctrl.signal;
    try {
      const [rule, am] = await Promise.all([ruleAlerts(signal), amAlerts([], signal)]);
      rows = currentRows(rule.alerts ?? [], am ?? []);
      loaded = true;
      document.dispatchEvent(new CustomEvent(FIRING_EVENT, { detail: rows.filter((r) => r.state === "firing").length }));
      if (tab !== "history") error.replaceChildren();
      info.textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      if ((e as Error).name === "AbortError") return;
      error.replaceChildren(errorBox(e as APIError));
      info.textContent = "";
    }
    drawCurrent();
  };

  const drawCurrent = () => {
    const shown = rows.filter((r) => matches(filter, r.labels));
    const by = (t: Tab) => shown.filter((r) => (t === "silenced" ? r.state === "silenced" || r.state === "inhibited" : r.state === t));
    for (const t of ["firing", "pending", "silenced"] as Tab[]) {
      const n = by(t).length;
      counts.get(t)!.textContent = String(n);
      counts.get(t)!.classList.toggle("hot", t === "firing" && n > 0);
      tabButtons.get(t)!.dataset.count = String(n);
    }
    if (tab === "history") return;
    const mine = by(tab);
    list.dataset.count = String(mine.length);
    if (!loaded) return;
    if (!mine.length) {
      const what = { firing: "No alerts firing", pending: "No alerts pending", silenced: "No silenced or inhibited alerts" }[tab as "firing"];
      list.replaceChildren(h("div", { class: "empty-state" }, filter.length ? `${what} match the filter.` : `${what}.`));
      return;
    }
    const body = h("tbody");
    for (const r of mine) body.append(alertRow(r, addFilter));
    list.replaceChildren(
      h("table", { class: "results alerts" }, h("thead", {}, h("tr", {}, h("th", {}, "State"), h("th", {}, "Alert"), h("th", {}, "Summary"), h("th", {}, "Since"), h("th", { class: "num" }, "Value"), h("th", {}))), body),
    );
  };

  // The history of the window and the filter.
  let histCtrl = new AbortController();
  let selected = ""; // the fingerprint whose events the table shows, "" for all
  let lastEvents: HistoryEvent[] = [];
  const loadHistory = async () => {
    histCtrl.abort();
    histCtrl = new AbortController();
    const signal = histCtrl.signal;
    const [start, end] = timeWindow();
    if (rangeSel.value !== "custom") [from, to] = [start, end];
    if (!(end > start)) {
      error.replaceChildren(errorBox(new Error("the time range is empty: its start is not before its end")));
      return;
    }
    historyInfo.textContent = "loading…";
    try {
      const evs = (await alertHistory(start, end, selectorOf(filter), HISTORY_LIMIT, signal)) ?? [];
      lastEvents = evs;
      error.replaceChildren();
      historyInfo.textContent =
        `${evs.length} event${evs.length === 1 ? "" : "s"} from ${formatTime(start * 1000)} to ${formatTime(end * 1000)}` +
        (evs.length >= HISTORY_LIMIT ? ` (the newest ${HISTORY_LIMIT}: narrow the range or the filter to see older ones)` : "");
      drawHistory(start * 1000, end * 1000);
    } catch (e) {
      if ((e as Error).name === "AbortError") return;
      historyInfo.textContent = "";
      error.replaceChildren(errorBox(e as APIError));
    }
  };

  const drawHistory = (start: number, end: number) => {
    const lanes = lanesOf(lastEvents, start, Math.min(end, Date.now()));
    if (selected && !lanes.some((l) => l.fingerprint === selected)) selected = "";
    drawTimeline(timeline, lanes, start, end, selected, (fp) => {
      selected = selected === fp ? "" : fp;
      drawHistory(start, end);
    });
    const evs = selected ? lastEvents.filter((e) => e.fingerprint === selected) : lastEvents;
    events.dataset.count = String(evs.length);
    if (!evs.length) {
      events.replaceChildren(h("div", { class: "empty-state" }, filter.length ? "No alert events match the filter in this time range." : "No alert events in this time range."));
      return;
    }
    const body = h("tbody");
    for (const e of evs) body.append(eventRow(e, addFilter));
    events.replaceChildren(
      selected
        ? h(
            "p",
            { class: "info" },
            "Events of one alert. ",
            linkButton("Show every alert", () => ((selected = ""), drawHistory(start, end))),
          )
        : "",
      h(
        "table",
        { class: "results history-events" },
        h("thead", {}, h("tr", {}, h("th", {}, "Time"), h("th", {}, "Alert"), h("th", {}, "State"), h("th", { class: "num" }, "Value"), h("th", {}, "Receiver"), h("th", {}, "Detail"), h("th", {}, "Source"))),
        body,
      ),
    );
  };

  const showTab = (t: Tab, push = false) => {
    tab = t;
    for (const [k, b] of tabButtons) {
      b.classList.toggle("active", k === t);
      b.setAttribute("aria-pressed", String(k === t));
    }
    list.hidden = t === "history";
    historyEl.hidden = t !== "history";
    syncURL(push);
    if (t === "history") loadHistory();
    else drawCurrent();
  };

  const applyFilter = () => {
    if (!readFilter()) return;
    syncURL();
    drawCurrent();
    if (tab === "history") loadHistory();
  };

  apply.addEventListener("click", applyFilter);
  filterInput.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      applyFilter();
    }
  });
  rangeSel.addEventListener("change", () => {
    showCustom();
    syncURL();
    loadHistory();
  });
  const applyCustom = () => {
    const a = new Date(fromInput.value).getTime() / 1000;
    const b = new Date(toInput.value).getTime() / 1000;
    if (!Number.isFinite(a) || !Number.isFinite(b)) return;
    [from, to] = [a, b];
    syncURL();
    loadHistory();
  };
  fromInput.addEventListener("change", applyCustom);
  toInput.addEventListener("change", applyCustom);

  readFilter();
  showTab(tab);
  refresh();
  const timer = setInterval(() => {
    refresh();
    if (tab === "history" && rangeSel.value !== "custom") loadHistory();
  }, REFRESH_MS);
  return () => {
    clearInterval(timer);
    ctrl.abort();
    histCtrl.abort();
  };
}

function linkButton(text: string, f: () => void): HTMLElement {
  const b = h("button", { type: "button", class: "link-button" }, text);
  b.addEventListener("click", f);
  return b;
}

// safeURL keeps links of annotations (runbook_url) to http and https.
function safeURL(u: string | undefined): string | undefined {
  if (!u) return undefined;
  try {
    const p = new URL(u, location.href);
    return p.protocol === "http:" || p.protocol === "https:" ? p.href : undefined;
  } catch {
    return undefined;
  }
}

function alertRow(r: Row, addFilter: (k: string, v: string) => void): HTMLElement {
  const a = r.annotations;
  const summary = a.summary ?? a.message ?? a.description ?? "";
  const more = a.summary && a.description ? a.description : "";
  const runbook = safeURL(a.runbook_url);
  const others = Object.keys(a).filter((k) => !["summary", "description", "message", "runbook_url"].includes(k));
  const act = h("td", { class: "row-actions" });
  if (r.state === "firing" || r.state === "pending") {
    act.append(h("a", { href: silenceHref(r.labels), "data-route": "", class: "button", "data-testid": "alert-silence", title: "silence this alert" }, "Silence"));
  } else if (r.am) {
    for (const id of r.am.status.silencedBy ?? []) act.append(h("a", { href: `/silences?${new URLSearchParams({ id })}`, "data-route": "", class: "silence-link", title: `silence ${id}` }, `silence ${id.slice(0, 8)}`));
    if (r.am.status.inhibitedBy?.length)
      act.append(
        h("span", { class: "muted", title: `inhibited by alerts ${r.am.status.inhibitedBy.join(", ")}` }, `inhibited by ${r.am.status.inhibitedBy.length} alert${r.am.status.inhibitedBy.length === 1 ? "" : "s"}`),
      );
  }
  const value = r.value != null && r.value !== "" ? formatValue(parseFloat(r.value), "none") : "";
  return h(
    "tr",
    { "data-testid": "alert-row", "data-alertname": r.name, "data-state": r.state, class: `alert-row state-row-${r.state}` },
    h("td", {}, stateBadge(r.state)),
    h("td", { class: "alert-name" }, h("strong", {}, r.name || "(no alertname)"), h("div", {}, chips(r.labels, addFilter))),
    h(
      "td",
      { class: "alert-summary" },
      summary ? h("div", {}, summary) : h("span", { class: "muted" }, "–"),
      more ? h("div", { class: "muted" }, more) : "",
      runbook ? h("a", { href: runbook, target: "_blank", rel: "noopener noreferrer" }, "Runbook") : "",
      // An anomaly rule's alert links to the rule's charts.
      r.labels.anomaly_rule
        ? h("a", { href: `/anomalies?${new URLSearchParams({ rule: r.labels.anomaly_rule })}`, "data-route": "", class: "anomaly-link", "data-testid": "alert-anomaly-link" }, "Anomaly chart")
        : "",
      others.length ? h("div", { class: "muted small" }, others.map((k) => `${k}: ${a[k]}`).join(" · ")) : "",
    ),
    h("td", { class: "time", title: Number.isFinite(r.since) ? formatTime(r.since) : "" }, relTime(r.since)),
    h("td", { class: "num value" }, value),
    act,
  );
}

function eventRow(e: HistoryEvent, addFilter: (k: string, v: string) => void): HTMLElement {
  const t = timeOf(e.time);
  return h(
    "tr",
    { "data-testid": "history-event", "data-state": e.state, "data-fingerprint": e.fingerprint },
    h("td", { class: "time", title: relTime(t) }, formatTime(t)),
    h("td", { class: "alert-name" }, h("strong", {}, e.alertname), h("div", {}, chips(e.labels ?? {}, addFilter))),
    h("td", { class: "nowrap" }, e.previous ? h("span", { class: "muted" }, `${e.previous} → `) : "", stateBadge(e.state)),
    h("td", { class: "num value" }, e.value != null ? formatValue(e.value, "none") : ""),
    h("td", {}, e.receiver ?? ""),
    h("td", { class: "detail" }, e.detail ?? ""),
    h("td", { class: "muted" }, e.source ?? ""),
  );
}

// A lane of the timeline: one alert's states over the window.
export interface Segment {
  state: "pending" | "firing" | "silenced" | "inhibited";
  from: number; // Unix ms
  to: number;
}
export interface Lane {
  fingerprint: string;
  alertname: string;
  labels: Labels;
  segments: Segment[];
  markers: HistoryEvent[];
}

// lanesOf turns events (any order) into one lane per alert. An alert's
// firing or pending stretch lasts until its next state; a silence or an
// inhibition lasts until it is lifted or the alert ends. A state that
// began before the window (the first event's "previous", or a lift with
// no start) is drawn from the window's start; what is still on at the
// end is drawn to end.
export function lanesOf(events: HistoryEvent[], start: number, end: number): Lane[] {
  const byFp = new Map<string, HistoryEvent[]>();
  // The API answers newest first; reversed, events of the same instant
  // keep the order they happened in.
  for (const e of [...events].reverse()) {
    let l = byFp.get(e.fingerprint);
    if (!l) byFp.set(e.fingerprint, (l = []));
    l.push(e);
  }
  const lanes: Lane[] = [];
  for (const [fp, evs] of byFp) {
    evs.sort((a, b) => timeOf(a.time) - timeOf(b.time));
    const lane: Lane = { fingerprint: fp, alertname: "", labels: {}, segments: [], markers: [] };
    let main: { state: "pending" | "firing"; from: number } | undefined;
    const held: Partial<Record<"silenced" | "inhibited", number>> = {};
    const firstMain = evs.find((e) => ["pending", "firing", "resolved", "inactive"].includes(e.state));
    if (firstMain && (firstMain.previous === "pending" || firstMain.previous === "firing")) main = { state: firstMain.previous, from: start };
    const close = (t: number) => {
      if (main && t > main.from) lane.segments.push({ state: main.state, from: main.from, to: t });
      main = undefined;
    };
    const lift = (k: "silenced" | "inhibited", t: number) => {
      const f = held[k];
      if (f != null && t > f) lane.segments.push({ state: k, from: f, to: t });
      delete held[k];
    };
    const lifted: Record<string, "silenced" | "inhibited"> = { unsilenced: "silenced", uninhibited: "inhibited" };
    const seenHold = new Set<string>();
    for (const e of evs) {
      const t = Math.max(start, Math.min(end, timeOf(e.time)));
      lane.alertname ||= e.alertname;
      if (e.labels && Object.keys(e.labels).length >= Object.keys(lane.labels).length) lane.labels = e.labels;
      switch (e.state) {
        case "pending":
        case "firing":
          if (main?.state !== e.state) {
            close(t);
            main = { state: e.state, from: t };
          }
          break;
        case "resolved":
        case "inactive":
          close(t);
          lift("silenced", t);
          lift("inhibited", t);
          break;
        case "silenced":
        case "inhibited":
          seenHold.add(e.state);
          held[e.state] ??= t;
          break;
        case "unsilenced":
        case "uninhibited": {
          const k = lifted[e.state];
          if (!seenHold.has(k)) held[k] = start;
          seenHold.add(k);
          lift(k, t);
          break;
        }
        case "notified":
        case "notify_failed":
          lane.markers.push(e);
          break;
      }
    }
    close(end);
    lift("silenced", end);
    lift("inhibited", end);
    lanes.push(lane);
  }
  lanes.sort((a, b) => a.alertname.localeCompare(b.alertname) || labelKey(a.labels).localeCompare(labelKey(b.labels)));
  return lanes;
}

function tickLabel(ms: number, span: number): string {
  const d = new Date(ms);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (span <= 600_000) return `${hm}:${pad(d.getSeconds())}`;
  if (span <= 86_400_000) return hm;
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}`;
}

function timeAxis(start: number, end: number): HTMLElement {
  const el = h("div", { class: "axis" });
  for (let i = 0; i <= 4; i++) {
    const tick = h("span", { class: "tick" }, tickLabel(start + ((end - start) * i) / 4, end - start));
    tick.style.left = `${i * 25}%`;
    if (i === 4) tick.classList.add("last");
    el.append(tick);
  }
  return el;
}

const legendStates: [string, string][] = [
  ["pending", "pending"],
  ["firing", "firing"],
  ["silenced", "silenced"],
  ["inhibited", "inhibited"],
  ["notified", "notified"],
  ["notify_failed", "notification failed"],
];

function drawTimeline(el: HTMLElement, lanes: Lane[], start: number, end: number, selected: string, pick: (fp: string) => void) {
  el.dataset.lanes = String(lanes.length);
  if (!lanes.length) {
    el.replaceChildren(h("div", { class: "empty-state" }, "No alert changed state in this time range."));
    return;
  }
  const span = end - start;
  const pct = (t: number) => (100 * (t - start)) / span;
  const rows = h("div", { class: "waterfall timeline-rows", role: "list" });
  rows.append(h("div", { class: "wf-row wf-head" }, h("div", { class: "wf-name" }, "Alert"), h("div", { class: "wf-time" }, timeAxis(start, end))));
  for (const lane of lanes.slice(0, MAX_LANES)) {
    const name = h(
      "div",
      {
        class: "wf-name",
        title: `${lane.alertname} ${Object.entries(lane.labels)
          .map(([k, v]) => `${k}=${quoteValue(v)}`)
          .join(" ")}`,
      },
      h("span", { class: "svc" }, lane.alertname),
      chips(lane.labels),
    );
    const track = h("div", { class: "wf-time lane-track" });
    for (const s of lane.segments) {
      const seg = h("div", {
        class: `lane-seg seg-${s.state}`,
        "data-testid": "history-segment",
        "data-state": s.state,
        title: `${s.state} ${formatTime(s.from)} – ${formatTime(s.to)} (${humanDuration((s.to - s.from) / 1000)})`,
      });
      seg.style.left = `${pct(s.from)}%`;
      seg.style.width = `max(2px, ${pct(s.to) - pct(s.from)}%)`;
      track.append(seg);
    }
    for (const m of lane.markers) {
      const t = timeOf(m.time);
      const mk = h("div", {
        class: `lane-marker marker-${m.state}`,
        "data-testid": "history-marker",
        "data-state": m.state,
        title: `${m.state === "notified" ? "notified" : "notification failed"} ${m.receiver ?? ""} at ${formatTime(t)}${m.detail ? ": " + m.detail : ""}`,
      });
      mk.style.left = `${pct(t)}%`;
      track.append(mk);
    }
    const row = h(
      "div",
      {
        class: "wf-row span-row lane" + (lane.fingerprint === selected ? " selected" : ""),
        role: "listitem",
        tabindex: "0",
        "data-testid": "history-lane",
        "data-alertname": lane.alertname,
        "data-fingerprint": lane.fingerprint,
      },
      name,
      track,
    );
    row.addEventListener("click", (e) => {
      if ((e.target as HTMLElement).closest("button, a")) return;
      pick(lane.fingerprint);
    });
    row.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        pick(lane.fingerprint);
      }
    });
    rows.append(row);
  }
  const legend = h("div", { class: "histogram-legend timeline-legend" }, ...legendStates.map(([s, text]) => h("span", { class: "legend-item" }, h("span", { class: `swatch seg-${s} marker-swatch-${s}` }), text)));
  el.replaceChildren(rows, lanes.length > MAX_LANES ? h("p", { class: "info" }, `${lanes.length - MAX_LANES} more alerts not drawn: narrow the filter.`) : "", legend);
}

// alertsHref is the alerts page of one tab, for links from other pages.
export const alertsHref = (tab: Tab, filter = "") => `/alerts?${new URLSearchParams(filter ? { tab, filter } : { tab })}`;
