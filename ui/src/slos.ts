// SLOs: each SLO's objective, its SLI and error budget now, its burn
// rates and which burn alerts' conditions hold, and a burn-down chart of
// the budget remaining over the SLO's window, drawn from the series the
// compiled rules record (slo:error_budget_remaining:ratio).
//
// Stable hooks for browser tests (data-testid):
//
//   slos-list      the SLOs; data-count
//   slo-card       one SLO (data-slo is its name)
//   slo-budget     its budget remaining; data-value is the ratio
//   slo-burn       a burn rate (data-window)
//   slo-alert      a burn alert's condition (data-severity, data-holds)
//   slo-chart      its burn-down chart (data-points as in chart.ts)
//   slos-error     where API errors show
import { api, APIError, queryRange } from "./api";
import { quoteValue } from "./alerting";
import { alertsHref } from "./alerts";
import { fromMatrix, LineChart, Series } from "./chart";
import { errorBox, h } from "./dom";

// An SLO's state, as GET /api/v1/slos answers it (slo.SLOStatus). Ratios
// are fractions; null is no data.
export interface SLOStatus {
  name: string;
  service: string;
  description?: string;
  labels?: Record<string, string>;
  sli_kind: string;
  time: string;
  objective: number;
  window: string;
  window_seconds: number;
  sli: number | null;
  error_ratio: number | null;
  window_source: string;
  error_budget: number;
  error_budget_remaining: number | null;
  events: number | null;
  error_events: number | null;
  error_budget_events: number | null;
  burn_rates: { window: string; value: number | null; source: string }[] | null;
  alerts: { severity: string; long_window: string; short_window: string; threshold: number; holds: boolean }[] | null;
  alerting_disabled: boolean;
}

// The series the compiled rules record for the budget remaining.
export const REMAINING_SERIES = "slo:error_budget_remaining:ratio";
const MAX_POINTS = 500;
const MIN_STEP = 30; // the compiled rules' evaluation interval
const REFRESH_MS = 30_000;

// percent writes a ratio as a percentage with the digits an objective
// like 99.95% needs.
export function percent(r: number | null | undefined, digits = 3): string {
  if (r == null || !Number.isFinite(r)) return "–";
  return `${Number((r * 100).toFixed(digits))}%`;
}

function count(n: number | null): string {
  if (n == null || !Number.isFinite(n)) return "–";
  return Math.round(n).toLocaleString();
}

// burnStep is the range query step for a window: at most MAX_POINTS
// points, and no finer than the rules record.
export const burnStep = (windowSec: number) => Math.max(MIN_STEP, Math.ceil(windowSec / MAX_POINTS));

export function slosPage(root: HTMLElement): () => void {
  const error = h("div", { "data-testid": "slos-error" });
  const info = h("div", { class: "info" });
  const list = h("div", { class: "slo-list", "data-testid": "slos-list", "data-count": "0" });
  root.append(h("h1", {}, "SLOs"), info, error, list);

  const cards = new Map<string, { el: HTMLElement; chart: LineChart; update: (s: SLOStatus) => void }>();
  let ctrl = new AbortController();
  const refresh = async () => {
    ctrl.abort();
    ctrl = new AbortController();
    const signal = ctrl.signal;
    let slos: SLOStatus[];
    try {
      slos = (await api<SLOStatus[] | null>("/api/v1/slos", {}, "GET", signal)) ?? [];
      error.replaceChildren();
    } catch (e) {
      if ((e as Error).name === "AbortError") return;
      error.replaceChildren(errorBox(e as APIError));
      return;
    }
    list.dataset.count = String(slos.length);
    info.textContent = slos.length ? `${slos.length} SLO${slos.length === 1 ? "" : "s"} · updated ${new Date().toLocaleTimeString()}` : "";
    if (!slos.length) {
      for (const c of cards.values()) c.chart.destroy();
      cards.clear();
      list.replaceChildren(h("div", { class: "empty-state" }, "No SLOs configured — see ", h("code", {}, "docs/alerting.md"), " for the spec format and the ", h("code", {}, "slo.files"), " setting."));
      return;
    }
    const names = new Set(slos.map((s) => s.name));
    for (const [n, c] of cards) {
      if (!names.has(n)) {
        c.chart.destroy();
        cards.delete(n);
      }
    }
    const els: HTMLElement[] = [];
    for (const s of slos) {
      let c = cards.get(s.name);
      if (!c) cards.set(s.name, (c = sloCard(s)));
      c.update(s);
      els.push(c.el);
    }
    list.replaceChildren(...els);
    await Promise.all(slos.map((s) => loadChart(s, cards.get(s.name)!.chart, signal)));
  };

  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => {
    clearInterval(timer);
    ctrl.abort();
    for (const c of cards.values()) c.chart.destroy();
  };
}

async function loadChart(s: SLOStatus, chart: LineChart, signal: AbortSignal) {
  const end = Math.floor(Date.now() / 1000);
  const win = s.window_seconds > 0 ? s.window_seconds : 30 * 86400;
  const start = end - win;
  const step = burnStep(win);
  try {
    const r = await queryRange(`100 * ${REMAINING_SERIES}{slo=${quoteValue(s.name)}}`, start, end, step, signal);
    const series: Series[] = fromMatrix(r, () => "budget remaining");
    // The 0% line, where the budget is spent, across the whole window.
    const ts = [...new Set([start, ...series.flatMap((x) => x.points.map((p) => p[0])), end])].sort((a, b) => a - b);
    if (series.length) series.push({ label: "budget spent (0%)", metric: {}, points: ts.map((t) => [t, 0]) });
    chart.set(series, [start, end]);
  } catch (e) {
    if ((e as Error).name === "AbortError") return;
    chart.set([], [start, end]);
  }
}

function sloCard(first: SLOStatus) {
  const title = h("h2", { class: "slo-title" });
  const facts = h("div", { class: "slo-facts" });
  const budget = h("div", { class: "slo-budget", "data-testid": "slo-budget" });
  const burns = h("div", { class: "slo-burns" });
  const alerts = h("div", { class: "slo-alerts" });
  const note = h("div", { class: "info" });
  const chartEl = h("div", { class: "slo-chart", "data-testid": "slo-chart" });
  const el = h(
    "section",
    { class: "panel slo-card", "data-testid": "slo-card", "data-slo": first.name },
    title,
    facts,
    budget,
    h("div", { class: "slo-cols" }, h("div", {}, h("h3", {}, "Burn rate"), burns), h("div", {}, h("h3", {}, "Burn alerts"), alerts)),
    h("h3", {}, `Error budget remaining over the last ${first.window}`),
    chartEl,
    note,
  );
  const chart = new LineChart(chartEl, "percent", 200);

  const update = (s: SLOStatus) => {
    title.replaceChildren(h("span", {}, s.name), h("span", { class: "chip" }, `service=${s.service}`), ...Object.entries(s.labels ?? {}).map(([k, v]) => h("span", { class: "chip" }, `${k}=${v}`)));
    facts.replaceChildren(
      s.description ? h("p", { class: "slo-desc" }, s.description) : "",
      h(
        "div",
        { class: "slo-stats" },
        stat("Objective", percent(s.objective), `${s.sli_kind === "latency" ? "latency" : "availability"} over ${s.window}`),
        stat("SLI now", percent(s.sli), `over ${s.window}`, s.sli != null && s.sli < s.objective ? "bad" : ""),
        stat("Events", count(s.events), `${count(s.error_events)} error${Math.round(s.error_events ?? 0) === 1 ? "" : "s"}; the budget allows ${count(s.error_budget_events)}`),
      ),
    );
    const rem = s.error_budget_remaining;
    budget.dataset.value = rem == null ? "" : String(rem);
    const fill = h("div", { class: "budget-fill" });
    const level = rem == null ? "none" : rem < 0 ? "spent" : rem < 0.25 ? "low" : "ok";
    fill.style.width = `${rem == null ? 0 : Math.max(0, Math.min(1, rem)) * 100}%`;
    budget.className = `slo-budget budget-${level}`;
    budget.replaceChildren(
      h("div", { class: "budget-head" }, h("span", {}, "Error budget remaining"), h("strong", { class: "budget-value" }, rem == null ? "no data" : percent(rem, 1))),
      h("div", { class: "budget-bar", role: "meter", "aria-label": "error budget remaining", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(rem == null ? 0 : Math.round(rem * 100)) }, fill),
      rem != null && rem < 0 ? h("div", { class: "budget-over" }, `Overspent by ${percent(-rem, 1)} of the budget`) : "",
    );
    burns.replaceChildren(
      h(
        "table",
        { class: "kv burn-table" },
        h(
          "tbody",
          {},
          ...(s.burn_rates ?? []).map((b) =>
            h(
              "tr",
              { "data-testid": "slo-burn", "data-window": b.window },
              h("th", {}, b.window),
              h("td", { class: b.value != null && b.value > 1 ? "hot" : "" }, b.value == null ? "–" : `${Number(b.value.toPrecision(3))}×`),
            ),
          ),
        ),
      ),
    );
    const conds = s.alerts ?? [];
    const firing = alertsHref("firing", `slo=${quoteValue(s.name)}`);
    alerts.replaceChildren(
      s.alerting_disabled ? h("p", { class: "info" }, "Alerting is disabled for this SLO; the conditions are shown for reference.") : "",
      h(
        "ul",
        { class: "burn-alerts" },
        ...conds.map((a) =>
          h(
            "li",
            { "data-testid": "slo-alert", "data-severity": a.severity, "data-holds": String(a.holds) },
            h("span", { class: `badge state-badge state-${a.holds ? "firing" : "inactive"}` }, a.holds ? "holds" : "ok"),
            ` ${a.severity}: burn over ${a.long_window} and ${a.short_window} > ${Number(a.threshold.toPrecision(3))}`,
          ),
        ),
      ),
      conds.some((a) => a.holds) && !s.alerting_disabled ? h("a", { href: firing, "data-route": "" }, "Firing alerts of this SLO →") : "",
    );
    note.textContent = s.window_source === "raw" ? "Computed from the SLI's own queries: the recorded series have no data yet, so the chart may be empty until the rules have run." : "";
  };
  return { el, chart, update };
}

function stat(label: string, value: string, sub: string, cls = ""): HTMLElement {
  return h("div", { class: `stat ${cls}` }, h("div", { class: "stat-label" }, label), h("div", { class: "stat-value" }, value), h("div", { class: "stat-sub" }, sub));
}
