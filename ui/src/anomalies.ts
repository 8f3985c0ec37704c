// Anomalies: every anomaly rule with its settings, and for each series it
// watches a chart of the observed value, the expected value, the normal
// band between lower and upper, and a marker on every point scored at or
// above the rule's threshold. The charts are drawn from the series the
// watcher records (anomaly_observed, _expected, _lower, _upper, _score,
// labelled anomaly_rule). The view is in the URL, so an alert can link to
// its rule:
//
//   /anomalies?rule=<name>&range=<5m|…|7d>
//
// Stable hooks for browser tests (data-testid):
//
//   anomalies-list    the rules; data-count
//   anomaly-rule      one rule (data-rule is its name, data-series the
//                     number of series it watches)
//   anomaly-series    one watched series (data-state: anomalous, recent,
//                     learning or normal; data-labels)
//   anomaly-chart     its chart: data-points (points drawn, all lines),
//                     data-band-points, data-anomalies (markers) and
//                     data-expected-outside (points whose expected value
//                     is outside the band, 0 when the data is sound)
//   anomaly-marker    one anomalous point on a chart
//   anomalies-error   where API errors show
import { api, APIError, Labels, queryRange } from "./api";
import { alertsHref } from "./alerts";
import { chips, humanDuration, labelKey, quoteValue, relTime, stateBadge, timeOf } from "./alerting";
import { formatValue, LineChart, Marker, Series } from "./chart";
import { errorBox, h } from "./dom";
import { ranges } from "./explore";
import { formatTime } from "./format";

// A rule's state, as GET /api/v1/anomalies answers it (watch.RuleStatus).
export interface AnomalyRule {
  name: string;
  expr: string;
  file: string;
  group: string;
  builtin: boolean;
  intervalSeconds: number;
  sensitivity: number;
  direction: string;
  seasonality: string;
  timezone: string;
  minHistorySeconds: number;
  holdOffSeconds: number;
  threshold: number;
  labels: Labels | null;
  lastEvaluation?: string;
  lastError?: string;
  series: AnomalySeries[] | null;
}

export interface AnomalySeries {
  labels: Labels | null;
  season: string;
  warm: boolean;
  time: string;
  value: number;
  score: number;
  expected: number;
  lower: number;
  upper: number;
  anomalousSince?: string;
  lastAnomaly?: string;
}

// The label the watcher adds to the series it records.
const RULE_LABEL = "anomaly_rule";
const MAX_SERIES = 20;
const MAX_POINTS = 600;
const REFRESH_MS = 30_000;
const DEFAULT_RANGE = "6h";

const OBSERVED = 0;
const EXPECTED = 1;
const UPPER = 2;
const LOWER = 3;
const lines: [string, string][] = [
  ["anomaly_observed", "observed"],
  ["anomaly_expected", "expected"],
  ["anomaly_upper", "upper"],
  ["anomaly_lower", "lower"],
];

type SeriesState = "anomalous" | "recent" | "learning" | "normal";

// seriesState: anomalous while the current incident lasts (the value has
// not come back inside its band), recent when the last anomaly is inside
// the range shown, learning until the detector has its minimum history.
export function seriesState(s: AnomalySeries, since: number): SeriesState {
  if (Number.isFinite(timeOf(s.anomalousSince))) return "anomalous";
  if (timeOf(s.lastAnomaly) >= since) return "recent";
  if (!s.warm) return "learning";
  return "normal";
}

const stateRank: Record<SeriesState, number> = { anomalous: 0, recent: 1, normal: 2, learning: 3 };

// seriesKey names a watched series by its labels, the same for the status
// API (which leaves the rule label out) and the recorded series.
export function seriesKey(l: Labels | null | undefined): string {
  const m: Labels = {};
  for (const [k, v] of Object.entries(l ?? {})) if (k !== "__name__" && k !== RULE_LABEL) m[k] = v;
  return labelKey(m);
}

// stepFor is the range query step: at most MAX_POINTS points, and no finer
// than the rule records.
export const stepFor = (rangeSec: number, intervalSec: number) => Math.max(intervalSec > 0 ? intervalSec : 1, Math.ceil(rangeSec / MAX_POINTS));

// promDuration writes seconds as a PromQL duration (whole milliseconds).
const promDuration = (sec: number) => `${Math.max(1, Math.round(sec * 1000))}ms`;

// selectorOf matches the recorded series of one rule, or of one of its
// series when labels are given.
function selectorOf(rule: string, names: string, labels?: Labels | null): string {
  const ms = [`__name__=~${quoteValue(names)}`, `${RULE_LABEL}=${quoteValue(rule)}`];
  for (const [k, v] of Object.entries(labels ?? {})) if (/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k) && k !== RULE_LABEL) ms.push(`${k}=${quoteValue(v)}`);
  return `{${ms.join(", ")}}`;
}

// ruleRank puts rules with anomalous series first.
function ruleRank(r: AnomalyRule, since: number): number {
  return Math.min(3, ...(r.series ?? []).map((s) => stateRank[seriesState(s, since)]));
}

export function anomaliesPage(root: HTMLElement): () => void {
  const params = new URLSearchParams(location.search);
  const only = params.get("rule") ?? "";
  let rangeName = params.get("range") ?? DEFAULT_RANGE;
  if (!ranges.some(([n]) => n === rangeName)) rangeName = DEFAULT_RANGE;

  const rangeSel = h("select", { "aria-label": "time range", name: "range", "data-testid": "anomalies-range" });
  for (const [n] of ranges) rangeSel.append(h("option", { value: n }, "last " + n));
  rangeSel.value = rangeName;
  const error = h("div", { "data-testid": "anomalies-error" });
  const info = h("div", { class: "info" });
  const list = h("div", { class: "anomaly-list", "data-testid": "anomalies-list", "data-count": "0" });
  const idle = h("div", { class: "anomaly-idle-wrap" });
  const scope = only
    ? h("div", { class: "anomaly-scope" }, "Rule ", h("strong", {}, only), " · ", h("a", { href: `/anomalies?${new URLSearchParams({ range: rangeName })}`, "data-route": "", "data-testid": "anomalies-all" }, "all rules"))
    : "";
  root.append(h("div", { class: "page-head" }, h("h1", {}, "Anomalies"), rangeSel), scope, info, error, list, idle);

  const cards = new Map<string, RuleCard>();
  let ctrl = new AbortController();
  const timeWindow = (): [number, number] => {
    const end = Math.floor(Date.now() / 1000);
    return [end - ranges.find(([n]) => n === rangeSel.value)![1], end];
  };

  const refresh = async () => {
    ctrl.abort();
    ctrl = new AbortController();
    const signal = ctrl.signal;
    let rules: AnomalyRule[];
    try {
      rules = (await api<AnomalyRule[] | null>("/api/v1/anomalies", only ? { rule: only } : {}, "GET", signal)) ?? [];
      error.replaceChildren();
    } catch (e) {
      if ((e as Error).name === "AbortError") return;
      error.replaceChildren(errorBox(e as APIError));
      return;
    }
    const [start, end] = timeWindow();
    list.dataset.count = String(rules.length);
    const watching = rules.filter((r) => (r.series ?? []).length || r.lastError || only);
    const quiet = rules.filter((r) => !watching.includes(r));
    const nSeries = rules.reduce((n, r) => n + (r.series ?? []).length, 0);
    info.textContent = rules.length
      ? `${rules.length} rule${rules.length === 1 ? "" : "s"} watching ${nSeries} series · updated ${new Date().toLocaleTimeString()}`
      : "";
    if (!rules.length) {
      for (const c of cards.values()) c.destroy();
      cards.clear();
      list.replaceChildren(h("div", { class: "empty-state" }, "No anomaly rules — see ", h("code", {}, "docs/anomaly.md"), " for the rule format."));
      idle.replaceChildren();
      return;
    }
    watching.sort((a, b) => ruleRank(a, start) - ruleRank(b, start) || a.name.localeCompare(b.name));
    const names = new Set(watching.map((r) => r.name));
    for (const [n, c] of cards) {
      if (!names.has(n)) {
        c.destroy();
        cards.delete(n);
      }
    }
    const els: HTMLElement[] = [];
    for (const r of watching) {
      let c = cards.get(r.name);
      if (!c) cards.set(r.name, (c = new RuleCard(rangeSel.value)));
      c.update(r, start);
      els.push(c.el);
    }
    list.replaceChildren(...els);
    idle.replaceChildren(quiet.length ? idleList(quiet) : "");
    await Promise.all(watching.map((r) => cards.get(r.name)!.load(r, start, end, signal)));
  };

  rangeSel.addEventListener("change", () => {
    const p = new URLSearchParams(only ? { rule: only, range: rangeSel.value } : { range: rangeSel.value });
    history.replaceState(null, "", `/anomalies?${p}`);
    for (const c of cards.values()) c.range = rangeSel.value;
    refresh();
  });
  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => {
    clearInterval(timer);
    ctrl.abort();
    for (const c of cards.values()) c.destroy();
  };
}

// idleList shows rules that watch nothing in one collapsed line each:
// the built-in rules exist whether or not their metrics do.
function idleList(rules: AnomalyRule[]): HTMLElement {
  return h(
    "details",
    { class: "panel anomaly-idle", "data-testid": "anomalies-idle", "data-count": String(rules.length) },
    h("summary", {}, `${rules.length} rule${rules.length === 1 ? "" : "s"} watching no series`),
    h(
      "table",
      { class: "kv" },
      h(
        "tbody",
        {},
        ...rules.map((r) =>
          h(
            "tr",
            { "data-testid": "anomaly-rule", "data-rule": r.name, "data-series": "0" },
            h("th", {}, h("a", { href: `/anomalies?${new URLSearchParams({ rule: r.name })}`, "data-route": "" }, r.name), r.builtin ? h("span", { class: "chip" }, "built-in") : ""),
            h("td", {}, h("code", { class: "anomaly-expr" }, r.expr)),
          ),
        ),
      ),
    ),
  );
}

class RuleCard {
  el: HTMLElement;
  private title = h("h2", { class: "anomaly-title" });
  private settings = h("div", { class: "anomaly-settings" });
  private err = h("div");
  private body = h("div", { class: "anomaly-series-list" });
  private more = h("p", { class: "info" });
  private views = new Map<string, SeriesView>();

  constructor(public range: string) {
    this.el = h("section", { class: "panel anomaly-card", "data-testid": "anomaly-rule" }, this.title, this.settings, this.err, this.body, this.more);
  }

  update(r: AnomalyRule, since: number) {
    this.el.dataset.rule = r.name;
    const all = r.series ?? [];
    this.el.dataset.series = String(all.length);
    const link = `/anomalies?${new URLSearchParams({ rule: r.name, range: this.range })}`;
    this.title.replaceChildren(
      h("a", { href: link, "data-route": "", class: "anomaly-name" }, r.name),
      r.builtin ? h("span", { class: "chip" }, "built-in") : "",
      h("span", { class: "muted small" }, `${r.group} · ${r.file}`),
      chips(r.labels ?? {}),
      h("span", { class: "spacer" }),
      h("a", { href: alertsHref("firing", `${RULE_LABEL}=${quoteValue(r.name)}`), "data-route": "", class: "small" }, "Alerts"),
      h("a", { href: `/explore?${new URLSearchParams({ q: r.expr, range: this.range })}`, "data-route": "", class: "small" }, "Explore"),
    );
    const last = timeOf(r.lastEvaluation);
    const row = (k: string, v: Node | string) => h("tr", {}, h("th", {}, k), h("td", {}, v));
    this.settings.replaceChildren(
      h(
        "table",
        { class: "kv anomaly-kv" },
        h(
          "tbody",
          {},
          row("expr", h("code", { class: "anomaly-expr" }, r.expr)),
          row("direction", r.direction),
          row("seasonality", r.seasonality),
          row("time zone", r.timezone),
          row("sensitivity", r.sensitivity ? formatValue(r.sensitivity, "none") : "default"),
          row("threshold", formatValue(r.threshold, "none")),
          row("hold-off", humanDuration(r.holdOffSeconds)),
          row("min history", humanDuration(r.minHistorySeconds)),
          row("interval", humanDuration(r.intervalSeconds)),
          row("last evaluation", Number.isFinite(last) ? h("span", { title: formatTime(last) }, relTime(last)) : "never"),
        ),
      ),
    );
    this.err.replaceChildren(r.lastError ? h("div", { class: "error", role: "alert" }, h("strong", {}, "last error: "), r.lastError) : "");

    if (!all.length) {
      for (const v of this.views.values()) v.chart.destroy();
      this.views.clear();
      this.body.replaceChildren(h("div", { class: "empty-state" }, "This rule watches no series: its expression selects nothing now."));
      this.more.textContent = "";
      return;
    }
    const shown = [...all].sort((a, b) => stateRank[seriesState(a, since)] - stateRank[seriesState(b, since)] || b.score - a.score || seriesKey(a.labels).localeCompare(seriesKey(b.labels))).slice(0, MAX_SERIES);
    const keys = new Set(shown.map((s) => seriesKey(s.labels)));
    for (const [k, v] of this.views) {
      if (!keys.has(k)) {
        v.chart.destroy();
        this.views.delete(k);
      }
    }
    const els: HTMLElement[] = [];
    for (const s of shown) {
      const k = seriesKey(s.labels);
      let v = this.views.get(k);
      if (!v) this.views.set(k, (v = new SeriesView(k)));
      v.update(s, r.threshold, since);
      els.push(v.el);
    }
    this.body.replaceChildren(...els);
    this.more.textContent = all.length > shown.length ? `${all.length - shown.length} more series not shown (the ${MAX_SERIES} shown are the most anomalous).` : "";
  }

  // load draws the charts: one range query for the four lines and one for
  // the anomalous points, for the whole rule when it shows all its series,
  // else per shown series.
  async load(r: AnomalyRule, start: number, end: number, signal: AbortSignal) {
    if (!this.views.size) return;
    const step = stepFor(end - start, r.intervalSeconds);
    const all = r.series ?? [];
    const selectors = all.length <= MAX_SERIES ? [undefined] : all.filter((s) => this.views.has(seriesKey(s.labels))).map((s) => s.labels ?? {});
    const names = lines.map(([n]) => n).join("|");
    const byKey = new Map<string, { lines: Series[]; markers: Marker[] }>();
    const slot = (l: Labels) => {
      const k = seriesKey(l);
      let x = byKey.get(k);
      if (!x) byKey.set(k, (x = { lines: lines.map(([, label]) => ({ label, metric: {}, points: [] })), markers: [] }));
      return x;
    };
    try {
      await Promise.all(
        selectors.map(async (labels) => {
          const sel = selectorOf(r.name, names, labels);
          const obs = selectorOf(r.name, "anomaly_observed", labels);
          const score = selectorOf(r.name, "anomaly_score", labels);
          // A point scores once: take the last anomalous point of each step
          // (a subquery at the rule's own interval), so a step wider than
          // the interval does not drop it.
          const marks = `last_over_time((${obs} and ${score} >= ${r.threshold})[${promDuration(step)}:${promDuration(r.intervalSeconds || 1)}])`;
          const [m, a] = await Promise.all([queryRange(sel, start, end, step, signal), queryRange(marks, start, end, step, signal)]);
          for (const s of m.result) {
            const i = lines.findIndex(([n]) => n === s.metric.__name__);
            if (i < 0) continue;
            const x = slot(s.metric);
            x.lines[i].metric = s.metric;
            x.lines[i].points = (s.values ?? []).map(([t, v]) => [t, parseFloat(v)]);
          }
          for (const s of a.result) {
            const x = slot(s.metric);
            for (const [t, v] of s.values ?? []) {
              const f = parseFloat(v);
              if (Number.isFinite(f)) x.markers.push({ t, v: f, title: `anomaly at ${formatTime(t * 1000)}: observed ${formatValue(f, "none")}`, testid: "anomaly-marker" });
            }
          }
        }),
      );
    } catch (e) {
      if ((e as Error).name === "AbortError") return;
      this.err.replaceChildren(errorBox(e as APIError));
      for (const v of this.views.values()) v.draw(undefined, [start, end]);
      return;
    }
    for (const [k, v] of this.views) v.draw(byKey.get(k), [start, end]);
  }

  destroy() {
    for (const v of this.views.values()) v.chart.destroy();
    this.views.clear();
  }
}

class SeriesView {
  el: HTMLElement;
  chart: LineChart;
  private head = h("div", { class: "anomaly-series-head" });
  private facts = h("div", { class: "anomaly-facts" });
  private chartEl = h("div", { class: "anomaly-chart", "data-testid": "anomaly-chart", "data-anomalies": "0", "data-expected-outside": "0" });

  constructor(key: string) {
    this.el = h("div", { class: "anomaly-series", "data-testid": "anomaly-series", "data-labels": key }, this.head, this.facts, this.chartEl);
    this.chart = new LineChart(this.chartEl, "none", 200);
    this.chart.includeZero = false;
    this.chart.band = { upper: UPPER, lower: LOWER, fill: "rgba(22, 163, 74, 0.15)" };
  }

  update(s: AnomalySeries, threshold: number, since: number) {
    const state = seriesState(s, since);
    this.el.dataset.state = state;
    this.el.classList.toggle("is-anomalous", state === "anomalous" || state === "recent");
    const sinceT = timeOf(s.anomalousSince);
    const lastT = timeOf(s.lastAnomaly);
    const badge =
      state === "anomalous"
        ? stateBadge("firing", `anomalous for ${humanDuration((Date.now() - sinceT) / 1000)}`)
        : state === "recent"
          ? stateBadge("pending", `anomaly ${relTime(lastT)}`)
          : state === "learning"
            ? stateBadge("inactive", "learning")
            : stateBadge("resolved", "normal");
    if (state === "anomalous") badge.title = `anomalous since ${formatTime(sinceT)}`;
    else if (Number.isFinite(lastT)) badge.title = `last anomaly ${formatTime(lastT)}`;
    const labels = s.labels ?? {};
    this.head.replaceChildren(badge, Object.keys(labels).length ? chips(labels) : h("span", { class: "muted" }, "(no labels)"));
    const v = (x: number) => formatValue(x, "none");
    this.facts.replaceChildren(
      h("span", {}, "value ", h("strong", {}, v(s.value))),
      h("span", {}, "expected ", h("strong", {}, v(s.expected))),
      h("span", {}, `band ${v(s.lower)} – ${v(s.upper)}`),
      h("span", { class: s.score >= threshold ? "hot" : "" }, `score ${v(s.score)} (alerts at ${v(threshold)})`),
      h("span", {}, `season ${s.season}`),
      h("span", {}, s.warm ? "warm" : "learning: not enough history to alert yet"),
      Number.isFinite(lastT) ? h("span", { title: formatTime(lastT) }, `last anomaly ${relTime(lastT)}`) : "",
    );
  }

  draw(d: { lines: Series[]; markers: Marker[] } | undefined, range: [number, number]) {
    const series: Series[] = d?.lines.some((l) => l.points.length) ? d.lines : [];
    if (series.length) {
      series[OBSERVED].colour = "#2563eb";
      series[OBSERVED].width = 1.75;
      series[EXPECTED].colour = "#7c3aed";
      series[EXPECTED].dash = [6, 4];
      series[UPPER].colour = series[LOWER].colour = "rgba(22, 163, 74, 0.55)";
      series[UPPER].width = series[LOWER].width = 1;
    }
    this.chart.set(series, range);
    const markers = series.length ? (d?.markers ?? []) : [];
    this.chart.setMarkers(markers);
    this.chartEl.dataset.anomalies = String(markers.length);
    this.chartEl.dataset.expectedOutside = String(series.length ? expectedOutside(series[EXPECTED], series[LOWER], series[UPPER]) : 0);
  }
}

// expectedOutside counts the points where the expected value is outside
// the band, which the detector never gives: a check on the wiring of the
// four lines, for tests.
export function expectedOutside(expected: Series, lower: Series, upper: Series): number {
  const lo = new Map(lower.points.map(([t, v]) => [t, v]));
  const hi = new Map(upper.points.map(([t, v]) => [t, v]));
  let n = 0;
  for (const [t, e] of expected.points) {
    const l = lo.get(t);
    const u = hi.get(t);
    if (e == null || l == null || u == null) continue;
    if (e < l || e > u) n++;
  }
  return n;
}
