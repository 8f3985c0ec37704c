// One trace: a waterfall of its span tree (or a flame graph of the same
// spans) on the trace's timeline, and the details of the selected span.
// The view and the selected span are in the URL query. Beside them, the
// trace's log lines (those with its trace_id), each pointing at its span.
import { getTrace, APIError, Span, Attrs, SpanEvent, logQueryRange } from "./api";
import { h, errorBox } from "./dom";
import { formatAttr, formatDuration, formatTime, nanosSince, nanosToMillis, serviceColour } from "./format";
import { levelBadge, logsHref, serviceLabel } from "./logs";
import { entriesOf, levelOf, LogEntry, nsToMillis, quote } from "./logql";
import { serviceChip } from "./traces";

interface SpanNode {
  span: Span;
  children: SpanNode[];
  depth: number;
  start: number; // ns after the trace's start
  end: number;
  error: boolean;
}

// buildTree links spans to their parents. Spans whose parent is not in
// the trace (the root, and orphans whose parent has not arrived) are
// roots. Children are in start order.
export function buildTree(spans: Span[]): { roots: SpanNode[]; all: SpanNode[]; t0: string; total: number } {
  const sorted = [...spans].sort((a, b) => nanosSince(a.startTimeUnixNano, b.startTimeUnixNano));
  const t0 = sorted[0]?.startTimeUnixNano ?? "0";
  const byID = new Map<string, SpanNode>();
  const all: SpanNode[] = [];
  for (const s of sorted) {
    const start = nanosSince(s.startTimeUnixNano, t0);
    const n: SpanNode = { span: s, children: [], depth: 0, start, end: start + Math.max(0, s.durationNanos), error: s.statusCode === "error" };
    all.push(n);
    if (!byID.has(s.spanID)) byID.set(s.spanID, n);
  }
  const roots: SpanNode[] = [];
  for (const n of all) {
    const p = n.span.parentSpanID ? byID.get(n.span.parentSpanID) : undefined;
    if (p && p !== n) p.children.push(n);
    else roots.push(n);
  }
  // A parent cycle (corrupt ids) would leave spans unreachable from the
  // roots; those become roots too.
  const seen = new Set<SpanNode>();
  const walk = (n: SpanNode, d: number) => {
    if (seen.has(n)) return;
    seen.add(n);
    n.depth = d;
    for (const c of n.children) walk(c, d + 1);
  };
  for (const r of roots) walk(r, 0);
  for (const n of all)
    if (!seen.has(n)) {
      roots.push(n);
      walk(n, 0);
    }
  const total = Math.max(1, ...all.map((n) => n.end));
  return { roots, all, t0, total };
}

export function tracePage(root: HTMLElement): () => void {
  const id = decodeURIComponent(location.pathname.slice("/trace/".length));
  const ctrl = new AbortController();
  root.append(h("div", { class: "info" }, "loading trace…"));
  getTrace(id, ctrl.signal)
    .then((r) => {
      root.replaceChildren();
      if (!r.spans?.length) return notFound(root, id);
      renderTrace(root, r.traceID || id, r.spans, ctrl.signal);
    })
    .catch((e) => {
      if ((e as Error).name === "AbortError") return;
      root.replaceChildren();
      if (e instanceof APIError && e.status === 404) return notFound(root, id);
      root.append(h("h1", {}, "Trace ", h("code", {}, id)), errorBox(e as APIError));
    });
  return () => ctrl.abort();
}

function notFound(root: HTMLElement, id: string) {
  root.append(
    h("h1", {}, "Trace not found"),
    h("p", { class: "empty-state", id: "trace-not-found" }, "trace not found: no span of trace ", h("code", {}, id), " is stored. It may be older than the retention time, or not exported yet."),
    h("p", {}, h("a", { href: "/traces", "data-route": "" }, "Search traces")),
  );
}

function setQuery(k: string, v: string | null) {
  const p = new URLSearchParams(location.search);
  if (v) p.set(k, v);
  else p.delete(k);
  const qs = p.toString();
  history.replaceState(null, "", location.pathname + (qs ? "?" + qs : ""));
}

function renderTrace(root: HTMLElement, traceID: string, spans: Span[], signal: AbortSignal) {
  const tree = buildTree(spans);
  const rootNode = tree.roots[0];
  const services = [...new Set(spans.map((s) => s.service))].sort();
  const errors = tree.all.filter((n) => n.error).length;
  const params = new URLSearchParams(location.search);
  let view = params.get("view") === "flame" ? "flame" : "waterfall";
  let selected: SpanNode | undefined = tree.all.find((n) => n.span.spanID === params.get("span"));
  const collapsed = new Set<SpanNode>();

  const header = h(
    "div",
    { class: "trace-header" },
    h("h1", {}, h("span", { class: "svc-dot" }), h("strong", {}, rootNode.span.service), " ", rootNode.span.name),
    h(
      "div",
      { class: "trace-facts" },
      h("span", {}, "Trace ", h("code", { id: "trace-id" }, traceID)),
      h("span", {}, "Start ", formatTime(nanosToMillis(tree.t0))),
      h("span", {}, "Duration ", h("strong", {}, formatDuration(tree.total))),
      h("span", {}, h("strong", { id: "span-count" }, String(spans.length)), " spans"),
      errors ? h("span", { class: "badge error-badge" }, `${errors} error${errors === 1 ? "" : "s"}`) : null,
      h("span", { class: "services" }, ...services.map(serviceChip)),
    ),
  );
  (header.querySelector(".svc-dot") as HTMLElement).style.background = serviceColour(rootNode.span.service);
  const wfTab = h("button", { type: "button", class: "tab", "data-view": "waterfall" }, "Waterfall");
  const flameTab = h("button", { type: "button", class: "tab", "data-view": "flame" }, "Flame graph");
  const viewEl = h("div", { class: "trace-view" });
  const details = h("aside", { class: "span-details", hidden: "" });
  const logsEl = h("section", { class: "trace-logs", "data-testid": "trace-logs", "aria-label": "logs of this trace" });
  root.append(header, h("div", { class: "tabs" }, wfTab, flameTab), h("div", { class: "trace-body" }, viewEl, details), logsEl);
  // The trace's log lines, oldest first; undefined until they arrive.
  let logs: LogEntry[] | undefined;

  const select = (n: SpanNode | undefined) => {
    selected = n;
    setQuery("span", n ? n.span.spanID : null);
    viewEl.querySelectorAll(".selected").forEach((e) => e.classList.remove("selected"));
    if (n) viewEl.querySelectorAll(`[data-span-id="${CSS.escape(n.span.spanID)}"]`).forEach((e) => e.classList.add("selected"));
    details.hidden = !n;
    root.querySelector(".trace-body")!.classList.toggle("with-details", !!n);
    if (n) renderDetails(details, n, tree.t0, logs, () => select(undefined));
    logsEl.querySelectorAll(".trace-log-row").forEach((r) => r.classList.toggle("selected", !!n && (r as HTMLElement).dataset.spanId === n.span.spanID));
  };

  const draw = () => {
    wfTab.classList.toggle("active", view === "waterfall");
    flameTab.classList.toggle("active", view === "flame");
    if (view === "flame") renderFlame(viewEl, tree, select);
    else
      renderWaterfall(viewEl, tree, collapsed, select, (n) => {
        if (collapsed.has(n)) collapsed.delete(n);
        else collapsed.add(n);
        draw();
      });
    select(selected);
  };
  for (const t of [wfTab, flameTab])
    t.addEventListener("click", () => {
      view = t.dataset.view!;
      setQuery("view", view === "flame" ? "flame" : null);
      draw();
    });
  draw();

  loadTraceLogs(logsEl, traceID, tree, signal, (l) => {
    logs = l;
    select(selected);
  }, (spanID) => {
    const n = tree.all.find((x) => x.span.spanID === spanID);
    if (!n) return;
    select(n);
    viewEl.querySelector(`[data-span-id="${CSS.escape(spanID)}"]`)?.scrollIntoView({ block: "nearest" });
  });
}

// The window searched for a trace's logs reaches this far either side of
// its spans: a service may log before its span starts or after it ends,
// and clocks differ between hosts.
const LOG_MARGIN_NS = 5n * 60n * 1000000000n;
const TRACE_LOG_LIMIT = 1000;

// loadTraceLogs fills el with the log lines of the trace, and hands them
// to loaded for the span details. pick selects the span of a line.
async function loadTraceLogs(el: HTMLElement, traceID: string, tree: ReturnType<typeof buildTree>, signal: AbortSignal, loaded: (l: LogEntry[]) => void, pick: (spanID: string) => void) {
  const query = `{service_name=~".+"} | trace_id=${quote(traceID.toLowerCase())}`;
  let t0: bigint;
  try {
    t0 = BigInt(tree.t0);
  } catch {
    t0 = 0n;
  }
  const start = t0 - LOG_MARGIN_NS;
  const end = t0 + BigInt(Math.ceil(tree.total)) + LOG_MARGIN_NS;
  const open = h("a", { href: logsHref(query, Number(start / 1000000n) / 1000, Number(end / 1000000n) / 1000), "data-route": "", class: "open-logs" }, "Open in logs");
  const title = h("h2", {}, "Logs");
  const body = h("div", { class: "info" }, "loading logs…");
  el.replaceChildren(h("div", { class: "trace-logs-head" }, title, open), body);
  const spans = new Set(tree.all.map((n) => n.span.spanID));
  try {
    const r = await logQueryRange({ query, start, end, limit: TRACE_LOG_LIMIT, direction: "forward" }, signal);
    const lines = r.resultType === "streams" ? entriesOf(r.result, true) : [];
    title.textContent = `Logs (${lines.length}${lines.length >= TRACE_LOG_LIMIT ? `, the first ${TRACE_LOG_LIMIT}` : ""})`;
    if (!lines.length) body.replaceWith(h("div", { class: "empty-state" }, "no logs for this trace"));
    else
      body.replaceWith(
        h(
          "div",
          { class: "log-list", role: "list" },
          ...lines.map((e) => {
            const spanID = e.labels.span_id ?? "";
            const row = traceLogRow(e, tree.t0, "trace-log-row");
            if (spans.has(spanID)) {
              row.classList.add("clickable");
              row.dataset.spanId = spanID;
              row.tabIndex = 0;
              row.title = "show its span";
              row.addEventListener("click", () => pick(spanID));
              row.addEventListener("keydown", (ev) => {
                if (ev.key === "Enter") pick(spanID);
              });
            }
            return row;
          }),
        ),
      );
    loaded(lines);
  } catch (e) {
    if ((e as Error).name === "AbortError") return;
    body.replaceWith(errorBox(e as APIError));
  }
}

// traceLogRow draws a log line for the trace page: its time after the
// trace's start, level, service and line.
function traceLogRow(e: LogEntry, t0: string, testid: string): HTMLElement {
  const level = levelOf(e.labels);
  const offset = nanosSince(String(e.ts), t0);
  const svc = serviceLabel(e.labels);
  const dot = h("span", { class: "svc-dot" });
  dot.style.background = serviceColour(svc);
  return h(
    "div",
    { class: `log-row trace-log-row lvl-${level}`, role: "listitem", "data-testid": testid, "data-level": level },
    h(
      "div",
      { class: "log-main" },
      h("span", { class: "log-time", title: `${formatTime(nsToMillis(e.ts))}, ${e.ts} ns` }, formatTime(nsToMillis(e.ts)).slice(11), h("span", { class: "log-offset" }, (offset < 0 ? " −" : " +") + formatDuration(Math.abs(offset)))),
      levelBadge(level),
      h("span", { class: "log-svc", title: svc }, dot, svc),
      h("span", { class: "log-line" }, e.line),
    ),
  );
}

function axis(total: number): HTMLElement {
  const el = h("div", { class: "axis" });
  for (let i = 0; i <= 4; i++) {
    const tick = h("span", { class: "tick" }, formatDuration((total * i) / 4));
    tick.style.left = `${i * 25}%`;
    if (i === 4) tick.classList.add("last");
    el.append(tick);
  }
  return el;
}

function place(el: HTMLElement, n: SpanNode, total: number) {
  el.style.left = `${(100 * n.start) / total}%`;
  el.style.width = `max(2px, ${(100 * (n.end - n.start)) / total}%)`;
}

function renderWaterfall(el: HTMLElement, tree: ReturnType<typeof buildTree>, collapsed: Set<SpanNode>, select: (n: SpanNode) => void, toggle: (n: SpanNode) => void) {
  const rows = h("div", { class: "waterfall", role: "tree" });
  rows.append(h("div", { class: "wf-row wf-head" }, h("div", { class: "wf-name" }, "Service and operation"), h("div", { class: "wf-time" }, axis(tree.total))));
  const add = (n: SpanNode) => {
    const s = n.span;
    const colour = serviceColour(s.service);
    const twisty = n.children.length
      ? h("button", { type: "button", class: "twisty", "aria-label": collapsed.has(n) ? "expand" : "collapse", "aria-expanded": String(!collapsed.has(n)) }, collapsed.has(n) ? "▸" : "▾")
      : h("span", { class: "twisty" });
    const name = h(
      "div",
      { class: "wf-name", title: `${s.service}: ${s.name}` },
      twisty,
      h("span", { class: "svc-dot" }),
      h("span", { class: "svc" }, s.service),
      h("span", { class: "op" }, s.name),
      n.error ? h("span", { class: "err-mark", title: "status error" }, "!") : null,
      collapsed.has(n) ? h("span", { class: "hidden-count" }, `+${countDescendants(n)}`) : null,
    );
    (name.querySelector(".twisty") as HTMLElement).style.marginLeft = `${n.depth * 14}px`;
    (name.querySelector(".svc-dot") as HTMLElement).style.background = colour;
    const bar = h("div", { class: "wf-bar" });
    bar.style.background = colour;
    place(bar, n, tree.total);
    const label = h("span", { class: "wf-label" }, formatDuration(s.durationNanos));
    // The label sits right of the bar, or left of it near the end, or
    // inside it when the bar spans nearly the whole trace.
    const startPct = (100 * n.start) / tree.total;
    const endPct = (100 * n.end) / tree.total;
    if (endPct <= 80) label.style.left = `${endPct}%`;
    else if (startPct >= 20) label.style.right = `${100 - startPct}%`;
    else {
      label.style.right = `${100 - endPct}%`;
      label.classList.add("inside");
    }
    const row = h("div", { class: "wf-row span-row" + (n.error ? " has-error" : ""), role: "treeitem", "data-span-id": s.spanID, tabindex: "0" }, name, h("div", { class: "wf-time" }, bar, label));
    row.addEventListener("click", (e) => {
      if ((e.target as HTMLElement).closest("button.twisty")) toggle(n);
      else select(n);
    });
    row.addEventListener("keydown", (e) => {
      if (e.key === "Enter") select(n);
    });
    rows.append(row);
    if (!collapsed.has(n)) n.children.forEach(add);
  };
  tree.roots.forEach(add);
  el.replaceChildren(rows);
}

function countDescendants(n: SpanNode): number {
  return n.children.reduce((a, c) => a + 1 + countDescendants(c), 0);
}

function renderFlame(el: HTMLElement, tree: ReturnType<typeof buildTree>, select: (n: SpanNode) => void) {
  // Each root's tree (the root, then any orphans) gets its own band of
  // rows, so an orphan never hides behind the root's spans.
  const graph = h("div", { class: "flame", id: "flame-graph" });
  let base = 0;
  const add = (n: SpanNode, row: number): number => {
    const s = n.span;
    const box = h("div", { class: "flame-span" + (n.error ? " has-error" : ""), "data-span-id": s.spanID, title: `${s.service}: ${s.name} (${formatDuration(s.durationNanos)})` }, `${s.service}: ${s.name}`);
    place(box, n, tree.total);
    box.style.top = `${row * 24}px`;
    box.style.background = serviceColour(s.service);
    box.addEventListener("click", () => select(n));
    graph.append(box);
    return Math.max(row, ...n.children.map((c) => add(c, row + 1)));
  };
  for (const r of tree.roots) base = add(r, base) + 1;
  graph.style.height = `${base * 24}px`;
  el.replaceChildren(h("div", { class: "flame-wrap" }, axis(tree.total), graph));
}

function attrTable(title: string, attrs: Attrs | undefined): HTMLElement | null {
  const keys = Object.keys(attrs ?? {}).sort();
  if (!keys.length) return null;
  return h(
    "section",
    {},
    h("h3", {}, title),
    h("table", { class: "kv" }, h("tbody", {}, ...keys.map((k) => h("tr", {}, h("th", {}, k), h("td", {}, formatAttr(attrs![k])))))),
  );
}

function eventView(e: SpanEvent, t0: string): HTMLElement {
  const a = { ...(e.attributes ?? {}) };
  const head = h("div", { class: "event-head" }, h("span", { class: "event-time" }, "+" + formatDuration(nanosSince(e.timeUnixNano, t0))), h("strong", {}, e.name));
  const el = h("div", { class: "event" + (e.name === "exception" ? " exception" : "") }, head);
  if (e.name === "exception") {
    const type = a["exception.type"];
    const msg = a["exception.message"];
    const stack = a["exception.stacktrace"];
    delete a["exception.type"];
    delete a["exception.message"];
    delete a["exception.stacktrace"];
    el.append(h("div", { class: "exception-message" }, type != null ? h("strong", {}, formatAttr(type) + ": ") : null, msg != null ? formatAttr(msg) : ""));
    if (stack != null) el.append(h("pre", { class: "stacktrace" }, formatAttr(stack)));
  }
  const rest = attrTable("Attributes", a);
  if (rest) el.append(rest);
  return el;
}

function renderDetails(el: HTMLElement, n: SpanNode, t0: string, logs: LogEntry[] | undefined, close: () => void) {
  const s = n.span;
  const closeBtn = h("button", { type: "button", class: "icon close", "aria-label": "close details" }, "×");
  closeBtn.addEventListener("click", close);
  const row = (k: string, v: string | HTMLElement) => h("tr", {}, h("th", {}, k), h("td", {}, v));
  const status = h("span", { class: s.statusCode === "error" ? "status-error" : "" }, s.statusCode || "unset");
  const scope = s.scope?.name ? `${s.scope.name}${s.scope.version ? " " + s.scope.version : ""}` : "";
  const spanLogs = logs?.filter((e) => e.labels.span_id === s.spanID);
  el.replaceChildren(
    h("div", { class: "details-head" }, h("h2", {}, h("span", { class: "svc" }, s.service), " ", s.name), closeBtn),
    h(
      "table",
      { class: "kv" },
      h(
        "tbody",
        {},
        row("Service", s.service),
        row("Name", s.name),
        row("Kind", s.kind),
        row("Status", status),
        s.statusMessage ? row("Status message", h("span", { class: "status-message" }, s.statusMessage)) : null,
        row("Span ID", h("code", {}, s.spanID)),
        row("Parent span ID", s.parentSpanID ? h("code", {}, s.parentSpanID) : "none (root)"),
        row("Trace ID", h("code", {}, s.traceID)),
        s.traceState ? row("Trace state", h("code", {}, s.traceState)) : null,
        row("Start", `${formatTime(nanosToMillis(s.startTimeUnixNano))} (+${formatDuration(n.start)})`),
        row("Duration", formatDuration(s.durationNanos)),
        scope ? row("Scope", scope) : null,
      ),
    ),
    attrTable("Attributes", s.attributes) ?? "",
    attrTable("Resource", s.resource) ?? "",
    spanLogs
      ? h(
          "section",
          { class: "span-logs" },
          h("h3", {}, `Logs (${spanLogs.length})`),
          spanLogs.length ? h("div", { class: "log-list", role: "list" }, ...spanLogs.map((e) => traceLogRow(e, t0, "span-log-row"))) : h("p", { class: "info" }, "no logs for this span"),
        )
      : "",
    s.events?.length ? h("section", {}, h("h3", {}, `Events (${s.events.length})`), ...s.events.map((e) => eventView(e, t0))) : "",
    s.links?.length
      ? h(
          "section",
          {},
          h("h3", {}, `Links (${s.links.length})`),
          ...s.links.map((l) =>
            h("div", { class: "link" }, h("a", { href: `/trace/${l.traceID}?span=${l.spanID}`, "data-route": "" }, `trace ${l.traceID.slice(0, 8)}… span ${l.spanID}`), attrTable("Attributes", l.attributes)),
          ),
        )
      : "",
  );
}
