// Explore: a PromQL box with autocomplete, a range picker, a graph of the
// range query and a table of the instant query. State lives in the URL so
// a link reproduces the view.
import { queryRange, queryInstant, queryExemplars, exemplarTraceID, metricNames, formatLabels, APIError, QueryResult } from "./api";
import { LineChart, fromMatrix, Exemplar, formatValue } from "./chart";
import { h, errorBox } from "./dom";
import { formatTime } from "./format";
import { navigate } from "./router";

export const ranges: [string, number][] = [
  ["5m", 300],
  ["15m", 900],
  ["1h", 3600],
  ["6h", 6 * 3600],
  ["24h", 86400],
  ["7d", 7 * 86400],
];

const functions = [
  "abs", "absent", "absent_over_time", "avg", "avg_over_time", "bottomk", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
  "count", "count_over_time", "count_values", "delta", "deriv", "exp", "floor", "group", "histogram_avg", "histogram_count",
  "histogram_fraction", "histogram_quantile", "histogram_sum", "holt_winters", "idelta", "increase", "irate", "label_join",
  "label_replace", "last_over_time", "ln", "log2", "log10", "max", "max_over_time", "min", "min_over_time", "predict_linear",
  "present_over_time", "quantile", "quantile_over_time", "rate", "resets", "round", "scalar", "sort", "sort_desc", "sqrt",
  "stddev", "stddev_over_time", "stdvar", "sum", "sum_over_time", "time", "timestamp", "topk", "vector",
];

export function explorePage(root: HTMLElement): () => void {
  const params = new URLSearchParams(location.search);
  let rangeName = params.get("range") ?? "1h";
  if (!ranges.some(([n]) => n === rangeName)) rangeName = "1h";
  // An absolute range (start and end in Unix seconds), as other pages
  // link here with, is one more choice of the range picker.
  const absStart = parseFloat(params.get("start") ?? "");
  const absEnd = parseFloat(params.get("end") ?? "");
  const absolute = Number.isFinite(absStart) && Number.isFinite(absEnd) && absEnd > absStart;
  if (absolute) rangeName = "custom";
  let tab = params.get("tab") === "table" ? "table" : "graph";

  const input = h("textarea", { class: "query", rows: "2", spellcheck: "false", placeholder: "PromQL, e.g. rate(node_cpu_seconds_total[5m])", "aria-label": "PromQL query", autocomplete: "off" });
  input.value = params.get("q") ?? "";
  const suggest = h("ul", { class: "suggest", role: "listbox", hidden: "" });
  const rangeSel = h("select", { "aria-label": "time range" });
  for (const [n] of ranges) {
    const o = h("option", { value: n }, n);
    if (n === rangeName) o.selected = true;
    rangeSel.append(o);
  }
  if (absolute) rangeSel.append(h("option", { value: "custom", selected: "" }, `${formatTime(absStart * 1000)} – ${formatTime(absEnd * 1000)}`));
  const run = h("button", { class: "primary", type: "button" }, "Run");
  const graphTab = h("button", { type: "button", class: "tab", "data-tab": "graph" }, "Graph");
  const tableTab = h("button", { type: "button", class: "tab", "data-tab": "table" }, "Table");
  const error = h("div");
  const info = h("div", { class: "info" });
  const graphEl = h("div", { id: "explore-chart" });
  const tableEl = h("div", { id: "explore-table" });
  const exemplarsEl = h("div", { id: "explore-exemplars", hidden: "" });

  root.append(
    h("h1", {}, "Explore"),
    h("div", { class: "querybar" }, h("div", { class: "qwrap" }, input, suggest), rangeSel, run),
    error,
    h("div", { class: "tabs" }, graphTab, tableTab, info),
    graphEl,
    exemplarsEl,
    tableEl,
  );
  const chart = new LineChart(graphEl, "none", 320);
  chart.onExemplarClick = (e) => navigate(`/trace/${e.traceID}`);

  const showTab = () => {
    graphTab.classList.toggle("active", tab === "graph");
    tableTab.classList.toggle("active", tab === "table");
    graphEl.hidden = tab !== "graph";
    exemplarsEl.hidden = tab !== "graph" || !exemplarsEl.childElementCount;
    tableEl.hidden = tab !== "table";
  };
  showTab();

  // Autocomplete of metric names and functions for the word at the cursor.
  let names: string[] = [];
  let namesAt = 0;
  const loadNames = async () => {
    if (Date.now() - namesAt < 30_000) return;
    namesAt = Date.now();
    try {
      names = await metricNames();
    } catch {
      namesAt = 0;
    }
  };
  loadNames();
  let items: string[] = [];
  let active = -1;
  const wordAtCursor = () => {
    const before = input.value.slice(0, input.selectionStart ?? input.value.length);
    const m = /[a-zA-Z_:][a-zA-Z0-9_:]*$/.exec(before);
    return m ? { word: m[0], start: before.length - m[0].length } : null;
  };
  const closeSuggest = () => {
    suggest.hidden = true;
    items = [];
    active = -1;
  };
  const renderSuggest = () => {
    suggest.replaceChildren(
      ...items.map((it, i) => {
        const li = h("li", { role: "option", class: i === active ? "active" : "", "data-value": it }, it, functions.includes(it) && !names.includes(it) ? h("span", { class: "kind" }, "function") : null);
        li.addEventListener("mousedown", (e) => {
          e.preventDefault();
          accept(it);
        });
        return li;
      }),
    );
    suggest.hidden = items.length === 0;
  };
  const updateSuggest = () => {
    const w = wordAtCursor();
    if (!w) return closeSuggest();
    const lw = w.word.toLowerCase();
    const pool = [...names, ...functions];
    const starts = pool.filter((n) => n.toLowerCase().startsWith(lw) && n !== w.word);
    const contains = pool.filter((n) => !n.toLowerCase().startsWith(lw) && n.toLowerCase().includes(lw));
    items = [...new Set([...starts, ...contains])].slice(0, 12);
    active = items.length ? 0 : -1;
    renderSuggest();
  };
  const accept = (value: string) => {
    const w = wordAtCursor();
    if (!w) return;
    const end = w.start + w.word.length;
    const suffix = functions.includes(value) && !names.includes(value) ? "(" : "";
    input.value = input.value.slice(0, w.start) + value + suffix + input.value.slice(end);
    const pos = w.start + value.length + suffix.length;
    input.setSelectionRange(pos, pos);
    closeSuggest();
    input.focus();
  };
  input.addEventListener("input", () => {
    loadNames();
    updateSuggest();
  });
  input.addEventListener("blur", () => setTimeout(closeSuggest, 100));
  input.addEventListener("keydown", (e) => {
    if (!suggest.hidden && items.length) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        active = (active + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
        renderSuggest();
        return;
      }
      if (e.key === "Tab" || (e.key === "Enter" && !e.shiftKey)) {
        e.preventDefault();
        accept(items[active]);
        return;
      }
      if (e.key === "Escape") {
        closeSuggest();
        return;
      }
    }
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      execute();
    }
  });

  let ctrl = new AbortController();
  const execute = async () => {
    const q = input.value.trim();
    const custom = rangeSel.value === "custom";
    const p = new URLSearchParams(custom ? { q, start: String(absStart), end: String(absEnd), tab } : { q, range: rangeSel.value, tab });
    history.replaceState(null, "", `/explore?${p}`);
    if (!q) return;
    ctrl.abort();
    ctrl = new AbortController();
    const rangeSec = custom ? absEnd - absStart : ranges.find(([n]) => n === rangeSel.value)![1];
    const end = custom ? absEnd : Math.floor(Date.now() / 1000);
    const start = end - rangeSec;
    const step = Math.max(1, Math.round(rangeSec / Math.max(100, Math.min(graphEl.clientWidth || 800, 1000))));
    error.replaceChildren();
    info.textContent = "running…";
    const began = performance.now();
    try {
      const [range, instant] = await Promise.all([
        queryRange(q, start, end, step, ctrl.signal).catch((e: APIError) => {
          // An instant-only expression (a range vector) cannot be graphed;
          // the table still shows it.
          if (e.errorType === "bad_data" && /range vector|instant vector/i.test(e.message)) return null;
          throw e;
        }),
        queryInstant(q, end, ctrl.signal),
      ]);
      const series = range ? fromMatrix(range) : [];
      chart.set(series, [start, end]);
      chart.setExemplars([]);
      exemplarsEl.replaceChildren();
      showTab();
      if (range) loadExemplars(q, start, end, ctrl.signal);
      renderTable(tableEl, instant);
      const took = Math.round(performance.now() - began);
      info.textContent = `${series.length} series graphed · ${countRows(instant)} rows · ${took} ms`;
    } catch (e) {
      if ((e as Error).name === "AbortError") return;
      info.textContent = "";
      error.replaceChildren(errorBox(e as APIError));
    }
  };
  // Exemplars are extra: an expression without any, or one the exemplar
  // API cannot answer, still graphs.
  const loadExemplars = async (q: string, start: number, end: number, signal: AbortSignal) => {
    let found: Exemplar[] = [];
    try {
      const r = await queryExemplars(q, start, end, signal);
      for (const s of r ?? [])
        for (const e of s.exemplars ?? []) {
          const traceID = exemplarTraceID(e.labels ?? {});
          const v = parseFloat(e.value);
          if (traceID && Number.isFinite(v)) found.push({ t: e.timestamp, v, traceID, labels: e.labels, series: s.seriesLabels });
        }
    } catch {
      return;
    }
    if (signal.aborted) return;
    found = found.sort((a, b) => a.t - b.t);
    chart.setExemplars(found);
    renderExemplars(exemplarsEl, found);
    showTab();
  };
  run.addEventListener("click", execute);
  rangeSel.addEventListener("change", execute);
  for (const t of [graphTab, tableTab])
    t.addEventListener("click", () => {
      tab = t.dataset.tab!;
      showTab();
      const p = new URLSearchParams(location.search);
      p.set("tab", tab);
      history.replaceState(null, "", `/explore?${p}`);
    });
  if (input.value) execute();
  else input.focus();

  return () => {
    ctrl.abort();
    chart.destroy();
  };
}

const MAX_LISTED_EXEMPLARS = 50;

function renderExemplars(el: HTMLElement, ex: Exemplar[]) {
  if (!ex.length) {
    el.replaceChildren();
    return;
  }
  const shown = ex.slice(-MAX_LISTED_EXEMPLARS).reverse();
  const body = h("tbody");
  for (const e of shown)
    body.append(
      h(
        "tr",
        { class: "exemplar" },
        h("td", {}, formatTime(e.t * 1000)),
        h("td", { class: "value" }, formatValue(e.v, "none")),
        h("td", {}, h("a", { href: `/trace/${e.traceID}`, "data-route": "", class: "trace-id" }, e.traceID)),
        h("td", { class: "labels" }, formatLabels(e.series)),
      ),
    );
  el.replaceChildren(
    h("h2", {}, `Exemplars (${ex.length}${ex.length > shown.length ? `, newest ${shown.length} listed` : ""})`),
    h("table", { class: "results exemplars" }, h("thead", {}, h("tr", {}, h("th", {}, "Time"), h("th", {}, "Value"), h("th", {}, "Trace"), h("th", {}, "Series"))), body),
  );
}

function countRows(r: QueryResult): number {
  return r.resultType === "scalar" || r.resultType === "string" ? 1 : r.result.length;
}

function renderTable(el: HTMLElement, r: QueryResult) {
  const table = h("table", { class: "results" });
  const head = h("tr", {}, h("th", {}, "Series"), h("th", {}, "Value"));
  table.append(h("thead", {}, head));
  const body = h("tbody");
  table.append(body);
  const row = (a: string, b: string) => body.append(h("tr", {}, h("td", { class: "labels" }, a), h("td", { class: "value" }, b)));
  switch (r.resultType) {
    case "scalar":
    case "string":
      row(r.resultType, r.result[1]);
      break;
    case "vector":
      for (const s of r.result) {
        const v = s.value ? s.value[1] : s.histogram ? `histogram count=${s.histogram[1].count} sum=${s.histogram[1].sum}` : "";
        row(formatLabels(s.metric), v);
      }
      break;
    case "matrix":
      for (const s of r.result) row(formatLabels(s.metric), (s.values ?? []).map(([t, v]) => `${v} @${t}`).join("\n"));
      break;
  }
  if (!body.children.length) body.append(h("tr", {}, h("td", { colspan: "2", class: "empty" }, "no data")));
  el.replaceChildren(table);
}
