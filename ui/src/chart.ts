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
  // Drawing overrides; the palette colour and a solid line otherwise.
  colour?: string;
  dash?: number[];
  width?: number;
}

// A band shades the area between two of the chart's series (indices into
// the array given to set).
export interface Band {
  upper: number;
  lower: number;
  fill: string;
}

// A marker is a point called out on the chart, drawn as an element (not
// on the canvas) so it can carry a title and a test hook.
export interface Marker {
  t: number; // Unix seconds
  v: number;
  title: string;
  testid?: string;
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
  private markers: Marker[] = [];
  private markerEls: HTMLElement[] = [];
  // band, when set before set(), shades between two series.
  band?: Band;
  // includeZero keeps 0 on the y axis; off, the axis fits the data, for
  // series whose movement matters more than their size.
  includeZero = true;
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

    const band = this.band && series[this.band.upper] && series[this.band.lower] ? this.band : undefined;
    if (this.band) {
      let n = 0;
      if (band) for (let i = 0; i < ts.length; i++) if (data[band.upper + 1][i] != null && data[band.lower + 1][i] != null) n++;
      this.el.dataset.bandPoints = String(n);
    }

    const key = series.map((s) => `${s.label}\u0001${s.colour ?? ""}\u0001${s.dash ?? ""}`).join("\u0000") + (band ? `\u0000band ${band.upper} ${band.lower} ${band.fill}` : "");
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
            // Exemplars and markers outside the lines still get room on
            // the chart.
            for (const e of [...this.exemplars, ...this.markers]) {
              min = Math.min(min, e.v);
              max = Math.max(max, e.v);
            }
            if (!this.includeZero) {
              const pad = min === max ? Math.abs(min) * 0.05 || 1 : (max - min) * 0.05;
              return [min - pad, max + pad];
            }
            return min === max ? [Math.min(0, min), max + 1] : [Math.min(0, min), max];
          },
        },
      },
      hooks: { draw: [(u) => this.drawExemplars(u), (u) => this.placeMarkers(u)], ready: [(u) => this.attachExemplarEvents(u)] },
      bands: band ? [{ series: [band.upper + 1, band.lower + 1], fill: band.fill }] : undefined,
      axes: [{}, { values: (_u, vals) => vals.map((v) => formatValue(v, unit)), size: 86 }],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: s.colour ?? palette[i % palette.length],
          width: s.width ?? 1.5,
          dash: s.dash,
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => formatValue(v, unit),
        })),
      ],
    };
    this.markerEls = [];
    this.plot = new uPlot(opts, data as uPlot.AlignedData, this.el);
    (this.plot as unknown as { _key: string })._key = key;
    if (range) this.plot.setScale("x", { min: range[0], max: range[1] });
    // The old plot took its marker elements with it.
    if (this.markers.length) this.setMarkers(this.markers);
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

  // setMarkers replaces the chart's markers; call it after set, which may
  // rebuild the plot.
  setMarkers(ms: Marker[]) {
    this.markers = ms;
    this.el.dataset.markers = String(ms.length);
    for (const m of this.markerEls) m.remove();
    this.markerEls = [];
    if (!this.plot) return;
    for (const m of ms) {
      const el = document.createElement("div");
      el.className = "chart-marker";
      el.title = m.title;
      if (m.testid) el.dataset.testid = m.testid;
      el.dataset.t = String(m.t);
      el.dataset.v = String(m.v);
      this.plot.over.append(el);
      this.markerEls.push(el);
    }
    // setData again so the y range takes the markers in, and the draw
    // hook places them.
    this.plot.setData(this.plot.data);
    if (this.range) this.plot.setScale("x", { min: this.range[0], max: this.range[1] });
  }

  // Markers follow the scales after every redraw (resize, zoom, data).
  // over's coordinates are CSS pixels of the plotting area.
  private placeMarkers(u: uPlot) {
    const w = u.over.clientWidth;
    const hgt = u.over.clientHeight;
    this.markerEls.forEach((el, i) => {
      const m = this.markers[i];
      const x = u.valToPos(m.t, "x");
      const y = u.valToPos(m.v, "y");
      const inside = x >= 0 && x <= w && y >= 0 && y <= hgt;
      el.hidden = !inside;
      el.style.left = `${x}px`;
      el.style.top = `${y}px`;
    });
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
