// A stacked bar chart of log lines over time, one colour per level, in
// SVG sized to its container. Clicking a bar, or dragging across bars,
// asks for that time range through onSelect.
import { MatrixResult } from "./api";
import { h } from "./dom";
import { Level, levels, normLevel } from "./logql";

const SVG = "http://www.w3.org/2000/svg";

function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}, ...children: (Node | string)[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

// A bucket holds the lines of (end-step, end], as a Loki range query
// counts them at the evaluation time end.
export interface Bucket {
  end: number; // Unix seconds
  counts: Partial<Record<Level, number>>;
  total: number;
}

// bucketsOf lays a count-by-level matrix on the grid start+step .. end,
// so missing points are empty bars rather than gaps in the axis.
export function bucketsOf(r: MatrixResult | null, start: number, end: number, step: number): Bucket[] {
  const byEnd = new Map<number, Bucket>();
  const out: Bucket[] = [];
  for (let t = start + step; t <= end + 1e-9 && out.length < 10_000; t += step) {
    const b = { end: t, counts: {}, total: 0 };
    out.push(b);
    byEnd.set(Math.round(t), b);
  }
  for (const series of r?.result ?? []) {
    const level = normLevel(series.metric.detected_level ?? series.metric.level);
    for (const [t, v] of series.values ?? []) {
      const n = parseFloat(v);
      const b = byEnd.get(Math.round(t));
      if (!b || !Number.isFinite(n) || n <= 0) continue;
      b.counts[level] = (b.counts[level] ?? 0) + n;
      b.total += n;
    }
  }
  return out;
}

const pad = (n: number) => String(n).padStart(2, "0");

function tickLabel(sec: number, span: number): string {
  const d = new Date(sec * 1000);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (span <= 600) return `${hm}:${pad(d.getSeconds())}`;
  if (span <= 86400) return hm;
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}`;
}

function count(n: number): string {
  return n >= 10_000 ? `${Number((n / 1000).toPrecision(3))}k` : String(Math.round(n));
}

const HEIGHT = 110;
const AXIS = 18;
const LEFT = 44;

export class Histogram {
  private ro: ResizeObserver;
  private buckets: Bucket[] = [];
  private step = 60;
  private width = 0;
  private legend = h("div", { class: "histogram-legend" });
  private plot = h("div", { class: "histogram-plot" });
  // onSelect is called with a time range (Unix seconds) the user picked.
  onSelect?: (from: number, to: number) => void;

  constructor(private el: HTMLElement) {
    el.classList.add("histogram");
    el.append(this.plot, this.legend);
    this.ro = new ResizeObserver(() => {
      if (this.plot.clientWidth !== this.width) this.draw();
    });
    this.ro.observe(this.plot);
  }

  destroy() {
    this.ro.disconnect();
  }

  set(buckets: Bucket[], step: number) {
    this.buckets = buckets;
    this.step = step;
    const total = buckets.reduce((a, b) => a + b.total, 0);
    this.el.dataset.bars = String(buckets.filter((b) => b.total > 0).length);
    this.el.dataset.total = String(total);
    this.draw();
    const sums = new Map<Level, number>();
    for (const b of buckets) for (const l of levels) if (b.counts[l]) sums.set(l, (sums.get(l) ?? 0) + b.counts[l]!);
    this.legend.replaceChildren(
      ...levels
        .filter((l) => sums.has(l))
        .map((l) => h("span", { class: "legend-item", "data-level": l }, h("span", { class: `swatch lvl-bg-${l}` }), `${l} ${count(sums.get(l)!)}`)),
    );
  }

  private draw() {
    this.width = this.plot.clientWidth;
    const W = Math.max(this.width, 300);
    const n = this.buckets.length;
    const plotW = W - LEFT - 4;
    const max = Math.max(0, ...this.buckets.map((b) => b.total));
    const svg = s("svg", { width: W, height: HEIGHT + AXIS, role: "img" });
    const first = this.buckets[0];
    const last = this.buckets[n - 1];
    const total = this.buckets.reduce((a, b) => a + b.total, 0);
    svg.setAttribute("aria-label", n ? `${count(total)} lines in ${n} bars of ${this.step} s, at most ${count(max)} in one bar` : "no lines");
    if (!n || max === 0) {
      svg.append(s("text", { x: W / 2, y: HEIGHT / 2, "text-anchor": "middle", class: "empty" }, "no lines in this time range"));
      this.plot.replaceChildren(svg);
      return;
    }
    const t0 = first.end - this.step;
    const t1 = last.end;
    const x = (t: number) => LEFT + ((t - t0) / (t1 - t0)) * plotW;
    const y = (v: number) => HEIGHT - (v / max) * (HEIGHT - 8);
    svg.append(
      s("line", { x1: LEFT, x2: LEFT + plotW, y1: HEIGHT + 0.5, y2: HEIGHT + 0.5, class: "axis-line" }),
      s("text", { x: LEFT - 6, y: 12, "text-anchor": "end", class: "axis-label" }, count(max)),
      s("text", { x: LEFT - 6, y: HEIGHT, "text-anchor": "end", class: "axis-label" }, "0"),
    );
    const ticks = Math.max(2, Math.min(6, Math.floor(plotW / 110)));
    for (let i = 0; i <= ticks; i++) {
      const t = t0 + ((t1 - t0) * i) / ticks;
      svg.append(s("text", { x: x(t), y: HEIGHT + AXIS - 4, "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle", class: "axis-label" }, tickLabel(t, t1 - t0)));
    }
    const bw = plotW / n;
    const gap = bw > 4 ? 1 : 0;
    for (const b of this.buckets) {
      const bx = x(b.end - this.step);
      const title = `${tickLabel(b.end - this.step, 0)} – ${tickLabel(b.end, 0)}: ${count(b.total)} line${b.total === 1 ? "" : "s"}` + levels.filter((l) => b.counts[l]).map((l) => `, ${count(b.counts[l]!)} ${l}`).join("");
      const g = s("g", { class: "bar", "data-end": b.end, "data-count": b.total }, s("title", {}, title), s("rect", { x: bx, y: 0, width: bw, height: HEIGHT, class: "hit" }));
      let top = HEIGHT;
      for (const l of levels) {
        const c = b.counts[l];
        if (!c) continue;
        const hgt = Math.max(1, HEIGHT - y(c));
        top -= hgt;
        g.append(s("rect", { x: bx + gap / 2, y: top, width: Math.max(1, bw - gap), height: hgt, class: `lvl-fill-${l}` }));
      }
      svg.append(g);
    }
    this.attachSelect(svg, t0, t1, plotW);
    this.plot.replaceChildren(svg);
  }

  // A click picks the bar under it; a drag picks the range it covers.
  private attachSelect(svg: SVGSVGElement, t0: number, t1: number, plotW: number) {
    const timeAt = (px: number) => t0 + ((Math.min(Math.max(px, LEFT), LEFT + plotW) - LEFT) / plotW) * (t1 - t0);
    const band = s("rect", { class: "drag-band", y: 0, height: HEIGHT, x: 0, width: 0, visibility: "hidden" });
    svg.append(band);
    let from: number | undefined;
    const px = (e: PointerEvent) => e.clientX - svg.getBoundingClientRect().left;
    svg.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      from = px(e);
      svg.setPointerCapture?.(e.pointerId);
    });
    svg.addEventListener("pointermove", (e) => {
      if (from == null) return;
      const a = Math.max(LEFT, Math.min(from, px(e)));
      const b = Math.min(LEFT + plotW, Math.max(from, px(e)));
      band.setAttribute("x", String(a));
      band.setAttribute("width", String(Math.max(0, b - a)));
      band.setAttribute("visibility", "visible");
    });
    const finish = (e: PointerEvent) => {
      if (from == null) return;
      const to = px(e);
      const start = from;
      from = undefined;
      band.setAttribute("visibility", "hidden");
      if (Math.abs(to - start) < 4) {
        const t = timeAt(to);
        const k = Math.min(this.buckets.length - 1, Math.max(0, Math.floor((t - t0) / this.step)));
        const b = this.buckets[k];
        if (b && b.total > 0) this.onSelect?.(b.end - this.step, b.end);
        return;
      }
      const a = timeAt(Math.min(start, to));
      const z = timeAt(Math.max(start, to));
      if (z > a) this.onSelect?.(a, z);
    };
    svg.addEventListener("pointerup", finish);
    svg.addEventListener("pointercancel", () => {
      from = undefined;
      band.setAttribute("visibility", "hidden");
    });
  }
}
