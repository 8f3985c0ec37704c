// Logs: a LogQL box, a histogram of the matching lines by level, and the
// lines themselves, newest first, each opening to its labels and fields.
// A live tail follows new lines over a WebSocket. The query, the time
// range and the live switch are in the URL, so a link reproduces the view:
//
//   /logs?q=<LogQL>&range=<5m|15m|1h|6h|24h|7d>[&live=1]
//   /logs?q=<LogQL>&start=<Unix s>&end=<Unix s>   (an absolute range)
//
// Stable hooks for browser tests (data-testid):
//
//   logs-query        the LogQL textarea (Ctrl/Cmd+Enter runs it)
//   logs-run          the Run button
//   logs-histogram    the histogram; data-bars (bars drawn) and data-total
//                     (lines counted) say what it shows
//   logs-results      the list of lines; data-count is the number shown
//   log-row           one line (data-level, data-ts in Unix ns); a click
//                     opens it
//   log-row-fields    the labels and fields of an open line
//   logs-live-toggle  the live tail switch (aria-pressed)
//   logs-dropped      "N lines dropped" while the server drops tail lines;
//                     hidden when none were; data-dropped is N
//   logs-error        where API errors show
//
// and, on /trace/{id}: trace-logs (the trace's Logs panel), trace-log-row
// (one line in it; a click selects its span) and span-log-row (a line in
// the selected span's details).
import { APIError, Labels, logLabelValues, logQueryRange, MatrixResult, tailURL, TailMessage } from "./api";
import { fromMatrix, LineChart } from "./chart";
import { errorBox, h } from "./dom";
import { ranges } from "./explore";
import { formatTime } from "./format";
import { bucketsOf, Histogram } from "./histogram";
import { chooseStep, entriesOf, histogramQuery, isLogQuery, Level, levelOf, LogEntry, millisToNs, nsToMillis, quote, serviceOf, sortEntries, validLabelName, withFilter, withService } from "./logql";

export const DEFAULT_QUERY = '{service_name=~".+"}';
const PAGE = 200; // lines per query, and per "load more"
const LIVE_CAP = 1000; // lines kept while tailing
const TAIL_LIMIT = 100; // lines the tail sends from before it started

// serviceLabel is the service a line came from.
export const serviceLabel = (l: Labels) => l.service_name || l.service || l.job || "";

export function levelBadge(level: Level): HTMLElement {
  return h("span", { class: `badge lvl-badge lvl-bg-${level}`, title: `level ${level}` }, level);
}

// metricsLink is the explorer's view of a service's span rates over a
// time range (a range name, or start and end in Unix seconds).
export function metricsHref(service: string, range: { name: string } | { start: number; end: number }): string {
  const q = `sum by (span_name) (rate(traces_spanmetrics_calls_total{service=${quote(service)}}[5m]))`;
  const p = new URLSearchParams({ q });
  if ("name" in range) p.set("range", range.name);
  else {
    p.set("start", range.start.toFixed(3));
    p.set("end", range.end.toFixed(3));
  }
  return `/explore?${p}`;
}

// logsHref is the logs page for a query over an absolute range.
export function logsHref(query: string, start: number, end: number): string {
  return `/logs?${new URLSearchParams({ q: query, start: start.toFixed(3), end: end.toFixed(3) })}`;
}

const pad = (n: number) => String(n).padStart(2, "0");
// toLocalInput formats Unix seconds for an <input type=datetime-local>.
function toLocalInput(sec: number): string {
  const d = new Date(sec * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function logsPage(root: HTMLElement): () => void {
  const params = new URLSearchParams(location.search);
  let rangeName = params.get("range") ?? "1h";
  let from = parseFloat(params.get("start") ?? "");
  let to = parseFloat(params.get("end") ?? "");
  if (Number.isFinite(from) && Number.isFinite(to) && to > from) rangeName = "custom";
  else if (!ranges.some(([n]) => n === rangeName)) rangeName = "1h";

  const input = h("textarea", {
    class: "query",
    rows: "2",
    spellcheck: "false",
    autocomplete: "off",
    "aria-label": "LogQL query",
    placeholder: 'LogQL, e.g. {service_name="checkout"} |= "error"',
    "data-testid": "logs-query",
  });
  input.value = params.get("q") ?? DEFAULT_QUERY;
  const serviceSel = h("select", { "aria-label": "service", name: "service" }, h("option", { value: "" }, "all services"));
  const rangeSel = h("select", { "aria-label": "time range", name: "range" });
  for (const [n] of ranges) rangeSel.append(h("option", { value: n }, "last " + n));
  rangeSel.append(h("option", { value: "custom" }, "absolute…"));
  rangeSel.value = rangeName;
  const fromInput = h("input", { type: "datetime-local", step: "1", id: "logs-from" });
  const toInput = h("input", { type: "datetime-local", step: "1", id: "logs-to" });
  const custom = h("div", { class: "custom-range" }, h("label", { for: "logs-from" }, "From"), fromInput, h("label", { for: "logs-to" }, "to"), toInput);
  const run = h("button", { class: "primary", type: "button", "data-testid": "logs-run" }, "Run");
  const liveBtn = h("button", { type: "button", class: "live-toggle", "aria-pressed": "false", "data-testid": "logs-live-toggle", title: "follow new lines as they arrive" }, "Live");
  const error = h("div", { "data-testid": "logs-error" });
  const info = h("span", { class: "info" });
  const pivot = h("a", { class: "pivot", "data-route": "", hidden: "" });
  const histEl = h("div", { id: "logs-histogram", "data-testid": "logs-histogram" });
  const histError = h("div");
  const metricEl = h("div", { id: "logs-metric", hidden: "" });
  const liveState = h("span", { class: "live-state" });
  const pauseBtn = h("button", { type: "button", "aria-pressed": "false" }, "Pause");
  const dropped = h("div", { class: "dropped", role: "status", "data-testid": "logs-dropped", "data-dropped": "0", hidden: "" });
  const liveBar = h("div", { class: "live-bar", hidden: "" }, h("span", { class: "live-dot", "aria-hidden": "true" }), liveState, pauseBtn);
  const list = h("div", { class: "log-list", role: "list", "aria-label": "log lines", "data-testid": "logs-results", "data-count": "0" });
  const more = h("button", { type: "button", class: "more", hidden: "" }, "Load older lines");

  root.append(
    h("h1", {}, "Logs"),
    h("div", { class: "querybar" }, h("div", { class: "qwrap" }, input), serviceSel, rangeSel, run, liveBtn),
    custom,
    error,
    h("div", { class: "logs-toolbar" }, info, pivot),
    histEl,
    histError,
    metricEl,
    liveBar,
    dropped,
    list,
    more,
  );
  const hist = new Histogram(histEl);
  let metricChart: LineChart | undefined;

  // The window of the current range, in Unix seconds.
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

  let live = params.get("live") === "1";
  const syncURL = (push = false) => {
    const p = new URLSearchParams({ q: input.value.trim() });
    if (rangeSel.value === "custom") {
      p.set("start", from.toFixed(3));
      p.set("end", to.toFixed(3));
    } else p.set("range", rangeSel.value);
    if (live) p.set("live", "1");
    const url = `/logs?${p}`;
    if (url === location.pathname + location.search) return;
    if (push) history.pushState(null, "", url);
    else history.replaceState(null, "", url);
  };

  // The service picker lists the services that have lines in the window;
  // the query's own service stays listed even when it has none.
  let servicesCtrl = new AbortController();
  const loadServices = async () => {
    servicesCtrl.abort();
    servicesCtrl = new AbortController();
    const [start, end] = timeWindow();
    let names: string[] = [];
    try {
      names = (await logLabelValues("service_name", millisToNs(start * 1000), millisToNs(end * 1000), servicesCtrl.signal)) ?? [];
    } catch (e) {
      if ((e as Error).name === "AbortError") return;
      error.replaceChildren(errorBox(e as APIError));
    }
    fillServices(names);
  };
  const fillServices = (names: string[]) => {
    const want = serviceOf(input.value);
    if (want && !names.includes(want)) names = [want, ...names];
    serviceSel.replaceChildren(h("option", { value: "" }, "all services"), ...[...names].sort().map((n) => h("option", { value: n }, n)));
    serviceSel.value = want;
  };
  fillServices([]);

  // Lines shown, newest first, and the element of each (kept across
  // redraws so an open line stays open).
  let rows: LogEntry[] = [];
  const elements = new WeakMap<LogEntry, HTMLElement>();
  const el = (e: LogEntry) => {
    let r = elements.get(e);
    if (!r) elements.set(e, (r = logRow(e, { filter: addFilter, range: () => rangeRef() })));
    return r;
  };
  const rangeRef = (): { name: string } | { start: number; end: number } => (rangeSel.value === "custom" ? { start: from, end: to } : { name: rangeSel.value });
  const showRows = () => {
    if (!rows.length) list.replaceChildren(h("div", { class: "empty-state" }, live ? "Waiting for new lines…" : "No lines match this query in this time range."));
    else list.replaceChildren(...rows.map(el));
    list.dataset.count = String(rows.length);
  };

  // The search the list shows, pinned so "load more" pages back through
  // the same window.
  let pinned = { query: "", start: 0n };
  let ctrl = new AbortController();
  let runs = 0;

  const execute = async (push = false) => {
    const q = input.value.trim();
    syncURL(push);
    ctrl.abort();
    ctrl = new AbortController();
    const signal = ctrl.signal;
    const run = ++runs;
    error.replaceChildren();
    histError.replaceChildren();
    if (!q) {
      error.replaceChildren(errorBox(new Error("enter a LogQL query, e.g. " + DEFAULT_QUERY)));
      return;
    }
    stopTail();
    const [startSec, endSec] = timeWindow();
    if (rangeSel.value !== "custom") [from, to] = [startSec, endSec];
    if (!(endSec > startSec)) {
      error.replaceChildren(errorBox(new Error("the time range is empty: its start is not before its end")));
      return;
    }
    const logQuery = isLogQuery(q);
    updatePivot(q);
    liveBtn.disabled = !logQuery;
    liveBtn.title = logQuery ? "follow new lines as they arrive" : "only a log query (one starting with a {selector}) can be followed live";
    loadServices();
    info.textContent = "running…";
    const began = performance.now();
    const start = millisToNs(startSec * 1000);
    const end = millisToNs(endSec * 1000);
    if (!logQuery) return runMetric(q, startSec, endSec, signal, began);
    histEl.hidden = false;
    metricEl.hidden = true;
    list.hidden = false;
    pinned = { query: q, start };
    const histogram = loadHistogram(q, startSec, endSec, signal);
    try {
      const r = await logQueryRange({ query: q, start, end, limit: PAGE, direction: "backward" }, signal);
      if (r.resultType !== "streams") throw new APIError(200, "bad_response", `expected log lines, got a ${r.resultType} result`);
      rows = entriesOf(r.result);
      showRows();
      more.hidden = live || rows.length < PAGE;
      info.textContent = `${rows.length} line${rows.length === 1 ? "" : "s"}${more.hidden ? "" : " (older lines available)"} · ${Math.round(performance.now() - began)} ms`;
    } catch (e) {
      if ((e as Error).name === "AbortError") return;
      info.textContent = "";
      rows = [];
      showRows();
      more.hidden = true;
      error.replaceChildren(errorBox(e as APIError));
      if (live) setLive(false);
      return;
    }
    if (live && run === runs) startTail(q);
    // The histogram's own error shows only when the lines came: a bad
    // query is reported once, above.
    const he = await histogram;
    if (he && run === runs) histError.replaceChildren(errorBox(he));
  };

  const loadHistogram = async (q: string, startSec: number, endSec: number, signal: AbortSignal): Promise<APIError | undefined> => {
    const step = chooseStep(endSec - startSec);
    // Buckets on multiples of step, so the same minute is the same bar
    // from one run to the next.
    const s0 = Math.floor(startSec / step) * step;
    const s1 = Math.ceil(endSec / step) * step;
    try {
      const r = await logQueryRange({ query: histogramQuery(q, step), start: millisToNs((s0 + step) * 1000), end: millisToNs(s1 * 1000), step }, signal);
      hist.set(bucketsOf(r.resultType === "matrix" ? r : null, s0, s1, step), step);
    } catch (e) {
      if ((e as Error).name === "AbortError") return;
      hist.set([], step);
      return new APIError((e as APIError).status ?? 0, (e as APIError).errorType ?? "error", "cannot count lines for the histogram: " + (e as Error).message);
    }
  };

  // A metric query (count_over_time and the like) draws a line chart
  // instead of the histogram and the list.
  const runMetric = async (q: string, startSec: number, endSec: number, signal: AbortSignal, began: number) => {
    if (live) setLive(false);
    histEl.hidden = true;
    list.hidden = true;
    more.hidden = true;
    metricEl.hidden = false;
    metricChart ??= new LineChart(metricEl, "none", 280);
    const step = chooseStep(endSec - startSec, 250);
    try {
      const r = await logQueryRange({ query: q, start: millisToNs(startSec * 1000), end: millisToNs(endSec * 1000), step }, signal);
      if (r.resultType !== "matrix") throw new APIError(200, "bad_response", `expected a matrix, got a ${r.resultType} result`);
      const series = fromMatrix(r as MatrixResult);
      metricChart.set(series, [startSec, endSec]);
      info.textContent = `${series.length} series · ${Math.round(performance.now() - began)} ms`;
    } catch (e) {
      if ((e as Error).name === "AbortError") return;
      info.textContent = "";
      metricChart.set([], [startSec, endSec]);
      error.replaceChildren(errorBox(e as APIError));
    }
  };

  const loadMore = async () => {
    const oldest = rows[rows.length - 1];
    if (!oldest) return;
    more.disabled = true;
    const signal = ctrl.signal;
    try {
      const r = await logQueryRange({ query: pinned.query, start: pinned.start, end: oldest.ts - 1n, limit: PAGE, direction: "backward" }, signal);
      if (r.resultType !== "streams") throw new APIError(200, "bad_response", `expected log lines, got a ${r.resultType} result`);
      const older = entriesOf(r.result);
      rows = rows.concat(older);
      list.append(...older.map(el));
      list.dataset.count = String(rows.length);
      more.hidden = older.length < PAGE;
      info.textContent = `${rows.length} lines${more.hidden ? "" : " (older lines available)"}`;
    } catch (e) {
      if ((e as Error).name === "AbortError") return;
      error.replaceChildren(errorBox(e as APIError));
    } finally {
      more.disabled = false;
    }
  };

  const updatePivot = (q: string) => {
    const svc = serviceOf(q);
    pivot.hidden = !svc;
    if (svc) {
      pivot.textContent = `Metrics for ${svc} →`;
      pivot.setAttribute("href", metricsHref(svc, rangeRef()));
    }
  };

  const addFilter = (key: string, value: string) => {
    if (!isLogQuery(input.value)) return;
    input.value = withFilter(input.value, key, value);
    execute(true);
  };

  // The live tail. Lines arrive on the socket and are drawn once per
  // frame; while paused they wait (the newest LIVE_CAP of them).
  let ws: WebSocket | undefined;
  let paused = false;
  let waiting: LogEntry[] = [];
  let incoming: LogEntry[] = [];
  let frame = 0;
  let droppedCount = 0;

  const showDropped = () => {
    dropped.hidden = droppedCount === 0;
    dropped.dataset.dropped = String(droppedCount);
    dropped.textContent = `⚠ ${droppedCount.toLocaleString()} line${droppedCount === 1 ? "" : "s"} dropped: the server could not send them fast enough, so this list is missing lines. Narrow the query to follow fewer lines.`;
  };
  const showLiveState = () => {
    liveBar.hidden = !live;
    liveBar.classList.toggle("paused", paused);
    pauseBtn.textContent = paused ? "Resume" : "Pause";
    pauseBtn.setAttribute("aria-pressed", String(paused));
    liveState.textContent = paused ? `Paused: ${waiting.length.toLocaleString()} new line${waiting.length === 1 ? "" : "s"} waiting` : `Live: new lines appear on top (newest ${LIVE_CAP.toLocaleString()} kept)`;
  };
  const flush = () => {
    frame = 0;
    if (!incoming.length) return;
    const add = sortEntries(incoming);
    incoming = [];
    if (!rows.length || add[add.length - 1].ts >= rows[0].ts) {
      if (!rows.length) list.replaceChildren();
      rows = add.concat(rows);
      list.prepend(...add.map(el));
    } else {
      rows = sortEntries(add.concat(rows));
      list.replaceChildren(...rows.map(el));
    }
    if (rows.length > LIVE_CAP) {
      for (const e of rows.slice(LIVE_CAP)) elements.get(e)?.remove();
      rows = rows.slice(0, LIVE_CAP);
    }
    list.dataset.count = String(rows.length);
    info.textContent = `${rows.length} line${rows.length === 1 ? "" : "s"} · live`;
  };
  const receive = (add: LogEntry[]) => {
    if (paused) {
      waiting = waiting.concat(add);
      if (waiting.length > 2 * LIVE_CAP) waiting = sortEntries(waiting).slice(0, LIVE_CAP);
      showLiveState();
      return;
    }
    incoming = incoming.concat(add);
    // A hidden tab draws no frames; keep only what could be shown.
    if (incoming.length > 2 * LIVE_CAP) incoming = sortEntries(incoming).slice(0, LIVE_CAP);
    if (!frame) frame = requestAnimationFrame(flush);
  };

  const startTail = (q: string) => {
    stopTail();
    droppedCount = 0;
    showDropped();
    waiting = [];
    showLiveState();
    const now = millisToNs(Date.now());
    // From just after the newest line shown, or from now, and never
    // more than an hour back.
    let start = rows.length ? rows[0].ts + 1n : now;
    if (start < now - 3600n * 1000000000n) start = now;
    const sock = new WebSocket(tailURL(q, start, TAIL_LIMIT));
    ws = sock;
    let opened = false;
    sock.addEventListener("open", () => {
      opened = true;
    });
    sock.addEventListener("message", (ev) => {
      if (ws !== sock) return;
      let m: TailMessage;
      try {
        m = JSON.parse(String(ev.data));
      } catch {
        error.replaceChildren(errorBox(new APIError(0, "tail", `live tail: ${String(ev.data).slice(0, 500)}`)));
        return;
      }
      const n = droppedIn(m);
      if (n > 0) {
        droppedCount += n;
        showDropped();
      }
      const add = entriesOf(m.streams);
      if (add.length) receive(add);
    });
    sock.addEventListener("close", (ev) => {
      if (ws !== sock) return;
      ws = undefined;
      const why = ev.reason || (opened ? `the connection closed (code ${ev.code})` : "the server refused the connection; a Vigil with a read token cannot be tailed from a browser");
      error.replaceChildren(errorBox(new APIError(0, "tail", `live tail stopped: ${why}`)));
      setLive(false);
    });
  };
  const stopTail = () => {
    const sock = ws;
    ws = undefined;
    if (sock && sock.readyState <= WebSocket.OPEN) sock.close(1000, "stopped");
    if (frame) cancelAnimationFrame(frame);
    frame = 0;
    incoming = [];
  };

  const setLive = (on: boolean) => {
    live = on;
    liveBtn.setAttribute("aria-pressed", String(on));
    liveBtn.classList.toggle("active", on);
    paused = false;
    waiting = [];
    if (!on) stopTail();
    showLiveState();
    syncURL();
  };

  liveBtn.addEventListener("click", () => {
    if (live) {
      setLive(false);
      more.hidden = rows.length < PAGE;
      return;
    }
    if (rangeSel.value === "custom") {
      rangeSel.value = "15m";
      showCustom();
    }
    setLive(true);
    execute();
  });
  pauseBtn.addEventListener("click", () => {
    paused = !paused;
    if (!paused && waiting.length) {
      const w = waiting;
      waiting = [];
      receive(w);
    }
    showLiveState();
  });

  const applyCustom = () => {
    const a = new Date(fromInput.value).getTime() / 1000;
    const b = new Date(toInput.value).getTime() / 1000;
    if (!Number.isFinite(a) || !Number.isFinite(b)) return;
    [from, to] = [a, b];
    if (live) setLive(false);
    execute();
  };
  fromInput.addEventListener("change", applyCustom);
  toInput.addEventListener("change", applyCustom);
  rangeSel.addEventListener("change", () => {
    // An absolute range starts as the window last shown.
    if (rangeSel.value === "custom" && live) setLive(false);
    showCustom();
    execute();
  });
  hist.onSelect = (a, b) => {
    [from, to] = [a, b];
    rangeSel.value = "custom";
    showCustom();
    if (live) setLive(false);
    execute(true);
  };
  serviceSel.addEventListener("change", () => {
    input.value = withService(input.value.trim() || DEFAULT_QUERY, serviceSel.value);
    execute();
  });
  run.addEventListener("click", () => execute());
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      execute();
    }
  });
  more.addEventListener("click", loadMore);

  // Following means "up to now": an absolute range gives way.
  if (live && rangeSel.value === "custom") {
    rangeSel.value = "15m";
    showCustom();
  }
  setLive(live);
  execute();

  return () => {
    ctrl.abort();
    servicesCtrl.abort();
    stopTail();
    hist.destroy();
    metricChart?.destroy();
  };
}

// droppedIn counts the lines a tail message says were dropped: one per
// entry, except that Vigil names only a sample of them and reports the
// rest as one entry with the label __dropped_unnamed__="<count>".
export function droppedIn(m: TailMessage): number {
  let n = 0;
  for (const d of m.dropped_entries ?? []) n += Math.max(1, parseInt(d.labels?.__dropped_unnamed__ ?? "", 10) || 1);
  return n;
}

interface RowContext {
  filter: (key: string, value: string) => void;
  range: () => { name: string } | { start: number; end: number };
}

// logRow draws one line; a click (or Enter on its toggle) opens the
// table of its labels and fields.
function logRow(e: LogEntry, ctx: RowContext): HTMLElement {
  const level = levelOf(e.labels);
  const svc = serviceLabel(e.labels);
  const toggle = h("button", { type: "button", class: "log-toggle twisty", "aria-expanded": "false", "aria-label": "show labels and fields" }, "▸");
  const main = h(
    "div",
    { class: "log-main" },
    toggle,
    h("span", { class: "log-time", title: `${e.ts} ns` }, formatTime(nsToMillis(e.ts))),
    levelBadge(level),
    h("span", { class: "log-svc", title: svc }, svc),
    h("span", { class: "log-line" }, e.line),
  );
  const row = h("div", { class: `log-row lvl-${level}`, role: "listitem", "data-testid": "log-row", "data-level": level, "data-ts": String(e.ts) }, main);
  let fields: HTMLElement | undefined;
  const flip = () => {
    const open = !row.classList.contains("open");
    row.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = open ? "▾" : "▸";
    fields ??= logFields(e, ctx);
    if (open) row.append(fields);
    else fields.remove();
  };
  toggle.addEventListener("click", flip);
  main.addEventListener("click", (ev) => {
    if ((ev.target as HTMLElement).closest("button, a")) return;
    // Selecting text of a line is not a click on it.
    if (String(getSelection() ?? "")) return;
    flip();
  });
  return row;
}

function logFields(e: LogEntry, ctx: RowContext): HTMLElement {
  const l = e.labels;
  const svc = serviceLabel(l);
  const traceID = l.trace_id || l.traceID || l.traceId || "";
  const spanID = l.span_id || l.spanID || l.spanId || "";
  const actions = h("div", { class: "log-actions" });
  if (traceID) actions.append(h("a", { href: `/trace/${encodeURIComponent(traceID)}${spanID ? `?span=${encodeURIComponent(spanID)}` : ""}`, "data-route": "", class: "show-trace" }, "Show trace"));
  if (svc) actions.append(h("a", { href: metricsHref(svc, ctx.range()), "data-route": "", class: "show-metrics" }, `Metrics for ${svc}`));
  const body = h("tbody");
  for (const k of Object.keys(l).sort()) {
    const v = l[k];
    let filter: HTMLElement | string = "";
    if (validLabelName(k)) {
      const b = h("button", { type: "button", class: "icon filter", title: `add | ${k}=${quote(v)} to the query`, "aria-label": `filter on ${k}=${quote(v)}` }, "+");
      b.addEventListener("click", () => ctx.filter(k, v));
      filter = b;
    }
    body.append(h("tr", { "data-field": k }, h("th", {}, k), h("td", {}, v), h("td", { class: "filter-cell" }, filter)));
  }
  body.append(h("tr", {}, h("th", {}, "timestamp"), h("td", {}, `${e.ts} ns`), h("td", {})));
  return h("div", { class: "log-fields", "data-testid": "log-row-fields" }, actions.childElementCount ? actions : "", h("table", { class: "kv" }, body));
}
