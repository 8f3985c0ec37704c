// A time-series line chart on uPlot, sized to its container.
import uPlot from "uplot";
import { MatrixResult, formatLabels, Labels } from "./api";

export type Unit = "percent" | "bytes" | "bytes/s" | "none";

const palette = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#ea580c", "#4f46e5"];

export function formatValue(v: number | null | undefined, unit: Unit): string {
  if (v == null || Number.isNaN(v)) return "–";
  switch (unit) {
    case "percent":
      return v.toFixed(1) + "%";
    case "bytes":
    case "bytes/s": {
      const suffix = unit === "bytes/s" ? "/s" : "";
      const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
      let i = 0;
      let x = Math.abs(v);
      while (x >= 1024 && i < units.length - 1) {
        x /= 1024;
        i++;
      }
      return (v < 0 ? "-" : "") + (i === 0 ? x.toFixed(0) : x.toFixed(x < 10 ? 2 : 1)) + " " + units[i] + suffix;
    }
    default: {
      const a = Math.abs(v);
      if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
      return Number(v.toPrecision(4)).toString();
    }
  }
}

export interface Series {
  label: string;
  metric: Labels;
  points: [number, number | null][];
}

// fromMatrix turns a range query result into chart series; legend picks
// the label text of each series (the whole label set by default).
export function fromMatrix(r: MatrixResult, legend?: (m: Labels) => string): Series[] {
  return r.result.map((s) => ({
    label: legend ? legend(s.metric) : formatLabels(s.metric),
    metric: s.metric,
    points: (s.values ?? []).map(([t, v]) => [t, parseFloat(v)] as [number, number | null]),
  }));
}

// An exemplar drawn on the chart: a sample that points at a trace.
export interface Exemplar {
  t: number; // Unix seconds
  v: number;
  traceID: string;
  labels: Labels;
  series: Labels;
}

export class LineChart {
  private plot?: uPlot;
  private ro: ResizeObserver;
  private series: Series[] = [];
  private exemplars: Exemplar[] = [];
  private range?: [number, number];
  // onExemplarClick is called with the exemplar under a click, if any.
  onExemplarClick?: (e: Exemplar) => void;

  constructor(
    private el: HTMLElement,
    private unit: Unit = "none",
    private height = 220,
  ) {
    el.classList.add("chart");
    el.dataset.points = "0";
    this.ro = new ResizeObserver(() => this.resize());
    this.ro.observe(el);
  }

  destroy() {
    this.ro.disconnect();
    this.plot?.destroy();
  }

  private resize() {
    if (this.plot && this.el.clientWidth > 0) this.plot.setSize({ width: this.el.clientWidth, height: this.height });
  }

  set(series: Series[], range?: [number, number]) {
    this.series = series;
    this.range = range;
    // Range query results share the step grid, so the union of their
    // timestamps aligns them; a missing point is a gap.
    const ts = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
    const index = new Map(ts.map((t, i) => [t, i]));
    const data: (number | null)[][] = [ts];
    let points = 0;
    for (const s of series) {
      const col: (number | null)[] = new Array(ts.length).fill(null);
      for (const [t, v] of s.points) {
        if (v != null && Number.isFinite(v)) {
          col[index.get(t)!] = v;
          points++;
        }
      }
      data.push(col);
    }
    this.el.dataset.points = String(points);
    this.el.dataset.series = String(series.length);
    this.el.classList.toggle("empty", points === 0);

    const key = series.map((s) => s.label).join("\u0000");
    if (this.plot && this.plot.series.length === series.length + 1 && (this.plot as unknown as { _key: string })._key === key) {
      this.plot.setData(data as uPlot.AlignedData);
      if (range) this.plot.setScale("x", { min: range[0], max: range[1] });
      this.showLatest(ts.length);
      return;
    }
    this.plot?.destroy();
    const unit = this.unit;
    const opts: uPlot.Options = {
      width: Math.max(this.el.clientWidth, 200),
      height: this.height,
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false } },
      scales: {
        x: { time: true },
        y: {
          range: (_u, min, max) => {
            // Exemplars outside the lines still get room on the chart.
            for (const e of this.exemplars) {
              min = Math.min(min, e.v);
              max = Math.max(max, e.v);
            }
            return min === max ? [Math.min(0, min), max + 1] : [Math.min(0, min), max];
          },
        },
      },
      hooks: { draw: [(u) => this.drawExemplars(u)], ready: [(u) => this.attachExemplarEvents(u)] },
      axes: [{}, { values: (_u, vals) => vals.map((v) => formatValue(v, unit)), size: 86 }],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: palette[i % palette.length],
          width: 1.5,
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => formatValue(v, unit),
        })),
      ],
    };
    this.plot = new uPlot(opts, data as uPlot.AlignedData, this.el);
    (this.plot as unknown as { _key: string })._key = key;
    if (range) this.plot.setScale("x", { min: range[0], max: range[1] });
    this.showLatest(ts.length);
  }

  // The legend shows the newest values unless the cursor is on the chart,
  // so a live chart reads like a status panel.
  private showLatest(n: number) {
    // After uPlot's own redraw, which resets the legend.
    requestAnimationFrame(() => {
      if (!this.plot || n === 0 || (this.plot.cursor.left ?? -1) >= 0) return;
      this.plot.setLegend({ idx: n - 1 });
    });
  }

  setExemplars(ex: Exemplar[]) {
    this.exemplars = ex;
    this.el.dataset.exemplars = String(ex.length);
    // setData again so the y range takes the exemplars in.
    if (this.plot) {
      this.plot.setData(this.plot.data);
      if (this.range) this.plot.setScale("x", { min: this.range[0], max: this.range[1] });
    }
  }

  // Exemplars are diamonds over the lines, drawn after uPlot's own pass.
  private drawExemplars(u: uPlot) {
    if (!this.exemplars.length) return;
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    const r = 5 * devicePixelRatio;
    ctx.save();
    ctx.fillStyle = "#f59e0b";
    ctx.strokeStyle = "#78350f";
    ctx.lineWidth = devicePixelRatio;
    for (const e of this.exemplars) {
      const x = u.valToPos(e.t, "x", true);
      const y = u.valToPos(e.v, "y", true);
      if (!(x >= left && x <= left + width && y >= top && y <= top + height)) continue;
      ctx.beginPath();
      ctx.moveTo(x, y - r);
      ctx.lineTo(x + r, y);
      ctx.lineTo(x, y + r);
      ctx.lineTo(x - r, y);
      ctx.closePath();
      ctx.fill();
      ctx.stroke();
    }
    ctx.restore();
  }

  private exemplarAt(u: uPlot, ox: number, oy: number): Exemplar | undefined {
    let best: Exemplar | undefined;
    let bestD = 8 * 8;
    for (const e of this.exemplars) {
      const dx = u.valToPos(e.t, "x") - ox;
      const dy = u.valToPos(e.v, "y") - oy;
      if (dx * dx + dy * dy <= bestD) {
        bestD = dx * dx + dy * dy;
        best = e;
      }
    }
    return best;
  }

  private attachExemplarEvents(u: uPlot) {
    u.over.addEventListener("click", (ev) => {
      const e = this.exemplarAt(u, ev.offsetX, ev.offsetY);
      if (e) this.onExemplarClick?.(e);
    });
    u.over.addEventListener("mousemove", (ev) => {
      u.over.style.cursor = this.exemplarAt(u, ev.offsetX, ev.offsetY) ? "pointer" : "";
    });
  }

  get data(): Series[] {
    return this.series;
  }
}
