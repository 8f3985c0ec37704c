// Service map: which service calls which, from the service-graph series
// that Vigil derives from client/server span pairs. Callers are left of
// their callees; clicking a service searches its traces.
import { queryInstant, APIError, QueryResult } from "./api";
import { h, errorBox } from "./dom";
import { formatDuration, formatRate, serviceColour } from "./format";
import { navigate } from "./router";

const windows = ["1m", "5m", "15m", "1h", "6h"];
const REFRESH_MS = 15_000;
const SVG = "http://www.w3.org/2000/svg";

interface Edge {
  client: string;
  server: string;
  rate: number;
  failed: number;
  p95?: number; // seconds
}

interface ServiceNode {
  name: string;
  rate?: number;
  errors?: number;
  unit: string; // "req/s" when from server spans, else "spans/s"
  layer: number;
  order: number;
  x: number;
  y: number;
}

function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}, ...children: (Node | string)[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

function vector(r: QueryResult): { metric: Record<string, string>; v: number }[] {
  if (r.resultType !== "vector") return [];
  return r.result.filter((x) => x.value).map((x) => ({ metric: x.metric, v: parseFloat(x.value![1]) }));
}

export function serviceMapPage(root: HTMLElement): () => void {
  const params = new URLSearchParams(location.search);
  let win = params.get("window") ?? "5m";
  if (!windows.includes(win)) win = "5m";
  const winSel = h("select", { "aria-label": "rate window" });
  for (const w of windows) {
    const o = h("option", { value: w }, `rate over ${w}`);
    if (w === win) o.selected = true;
    winSel.append(o);
  }
  const refreshBtn = h("button", { type: "button" }, "Refresh");
  const info = h("div", { class: "info" });
  const error = h("div");
  const mapEl = h("div", { id: "service-map", class: "service-map" });
  root.append(h("h1", {}, "Service map"), h("div", { class: "querybar" }, winSel, refreshBtn, info), error, mapEl);

  let ctrl = new AbortController();
  const refresh = async () => {
    ctrl.abort();
    ctrl = new AbortController();
    const w = winSel.value;
    const now = Date.now() / 1000;
    const q = (e: string) => queryInstant(e, now, ctrl.signal);
    try {
      const [req, failed, lat, calls] = await Promise.all([
        q(`sum by (client, server) (rate(traces_service_graph_request_total[${w}]))`),
        q(`sum by (client, server) (rate(traces_service_graph_request_failed_total[${w}]))`),
        q(`histogram_quantile(0.95, sum by (client, server, le) (rate(traces_service_graph_request_server_seconds_bucket[${w}])))`).catch(() => null),
        q(`sum by (service, span_kind, status_code) (rate(traces_spanmetrics_calls_total[${w}]))`).catch(() => null),
      ]);
      const edges = new Map<string, Edge>();
      const key = (m: Record<string, string>) => `${m.client ?? ""}\u0000${m.server ?? ""}`;
      for (const { metric, v } of vector(req)) {
        if (!metric.client && !metric.server) continue;
        edges.set(key(metric), { client: metric.client || "(unknown)", server: metric.server || "(unknown)", rate: v, failed: 0 });
      }
      for (const { metric, v } of vector(failed)) {
        const e = edges.get(key(metric));
        if (e) e.failed = v;
      }
      if (lat)
        for (const { metric, v } of vector(lat)) {
          const e = edges.get(key(metric));
          if (e && Number.isFinite(v)) e.p95 = v;
        }
      const nodes = new Map<string, ServiceNode>();
      const node = (name: string) => {
        let n = nodes.get(name);
        if (!n) nodes.set(name, (n = { name, unit: "spans/s", layer: 0, order: 0, x: 0, y: 0 }));
        return n;
      };
      for (const e of edges.values()) {
        node(e.client);
        node(e.server);
      }
      if (calls) {
        // A service's own rate: its server (and consumer) spans when it
        // has any, else all of its spans.
        const all = new Map<string, [number, number]>();
        const served = new Map<string, [number, number]>();
        for (const { metric, v } of vector(calls)) {
          if (!metric.service) continue;
          const err = metric.status_code === "STATUS_CODE_ERROR" ? v : 0;
          const add = (m: Map<string, [number, number]>) => {
            const t = m.get(metric.service) ?? [0, 0];
            m.set(metric.service, [t[0] + v, t[1] + err]);
          };
          add(all);
          if (metric.span_kind === "SPAN_KIND_SERVER" || metric.span_kind === "SPAN_KIND_CONSUMER") add(served);
        }
        for (const [name, t] of all) {
          const n = node(name);
          const sv = served.get(name);
          [n.rate, n.errors] = sv ?? t;
          n.unit = sv ? "req/s" : "spans/s";
        }
      }
      error.replaceChildren();
      draw(mapEl, [...nodes.values()], [...edges.values()]);
      info.textContent = `${nodes.size} services · ${edges.size} connections · updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      if ((e as Error).name === "AbortError") return;
      error.replaceChildren(errorBox(e as APIError));
    }
  };
  winSel.addEventListener("change", () => {
    history.replaceState(null, "", `/service-map?window=${winSel.value}`);
    refresh();
  });
  refreshBtn.addEventListener("click", refresh);
  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => {
    clearInterval(timer);
    ctrl.abort();
  };
}

// layout puts every service in a layer one right of its furthest caller
// (longest path from the services nobody calls), ignoring the edges that
// close a cycle, and orders each layer by the mean position of callers.
function layout(nodes: ServiceNode[], edges: Edge[]) {
  const out = new Map<string, string[]>();
  for (const n of nodes) out.set(n.name, []);
  for (const e of edges) if (e.client !== e.server) out.get(e.client)!.push(e.server);
  // Depth-first search drops back edges, leaving a DAG.
  const state = new Map<string, number>(); // 1 on the stack, 2 done
  const dag = new Map<string, string[]>();
  const topo: string[] = [];
  const visit = (u: string) => {
    state.set(u, 1);
    dag.set(u, []);
    for (const v of out.get(u)!) {
      if (state.get(v) === 1) continue;
      dag.get(u)!.push(v);
      if (!state.has(v)) visit(v);
    }
    state.set(u, 2);
    topo.push(u);
  };
  const names = nodes.map((n) => n.name).sort();
  const hasCaller = new Set(edges.filter((e) => e.client !== e.server).map((e) => e.server));
  for (const n of names) if (!hasCaller.has(n) && !state.has(n)) visit(n);
  for (const n of names) if (!state.has(n)) visit(n);
  topo.reverse();
  const byName = new Map(nodes.map((n) => [n.name, n]));
  for (const u of topo) for (const v of dag.get(u)!) byName.get(v)!.layer = Math.max(byName.get(v)!.layer, byName.get(u)!.layer + 1);
  const layers: ServiceNode[][] = [];
  for (const n of nodes) (layers[n.layer] ??= []).push(n);
  const callers = new Map<string, string[]>();
  for (const e of edges) (callers.get(e.server) ?? callers.set(e.server, []).get(e.server)!).push(e.client);
  for (const layer of layers) {
    if (!layer) continue;
    const score = (n: ServiceNode) => {
      const c = (callers.get(n.name) ?? []).map((x) => byName.get(x)!).filter((x) => x.layer < n.layer);
      return c.length ? c.reduce((a, x) => a + x.order, 0) / c.length : Infinity;
    };
    layer.sort((a, b) => score(a) - score(b) || a.name.localeCompare(b.name));
    layer.forEach((n, i) => (n.order = i));
  }
  return layers.filter(Boolean);
}

const NW = 180;
const NH = 58;
const GX = 190;
const GY = 44;
const TOP = 70; // room for edges that arc over a layer

function draw(el: HTMLElement, nodes: ServiceNode[], edges: Edge[]) {
  if (!nodes.length) {
    el.replaceChildren(
      h(
        "div",
        { class: "empty-state" },
        "No service graph data in this window. It comes from spans of kind client whose child span of kind server is in another service (",
        h("code", {}, "traces_service_graph_request_total"),
        ").",
      ),
    );
    return;
  }
  const layers = layout(nodes, edges);
  const tallest = Math.max(...layers.map((l) => l.length));
  const height = TOP + tallest * (NH + GY);
  const width = layers.length * (NW + GX) - GX + 40;
  for (const [li, layer] of layers.entries()) {
    const off = ((tallest - layer.length) * (NH + GY)) / 2;
    for (const n of layer) {
      n.x = 20 + li * (NW + GX);
      n.y = TOP + off + n.order * (NH + GY);
    }
  }
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const svg = s("svg", { width, height: height + 10, viewBox: `0 0 ${width} ${height + 10}`, role: "img", "aria-label": "service map" });
  svg.append(
    s(
      "defs",
      {},
      s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerUnits: "userSpaceOnUse", markerWidth: 10, markerHeight: 10, orient: "auto-start-reverse" }, s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" })),
      s("marker", { id: "arrow-err", viewBox: "0 0 10 10", refX: 10, refY: 5, markerUnits: "userSpaceOnUse", markerWidth: 10, markerHeight: 10, orient: "auto-start-reverse" }, s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead err" })),
    ),
  );
  const maxRate = Math.max(1e-9, ...edges.map((e) => e.rate));
  for (const e of edges) {
    const a = byName.get(e.client)!;
    const b = byName.get(e.server)!;
    const errPct = e.rate > 0 ? (100 * e.failed) / e.rate : 0;
    let d: string;
    let lx: number;
    let ly: number;
    if (a === b) {
      const x = a.x + NW / 2;
      d = `M${x - 20},${a.y} C${x - 40},${a.y - 40} ${x + 40},${a.y - 40} ${x + 20},${a.y}`;
      lx = x;
      ly = a.y - 34;
    } else if (b.x > a.x + NW + GX) {
      // Over a layer: arc above the nodes in between, top to top.
      const x1 = a.x + NW * 0.7, y1 = a.y, x2 = b.x + NW * 0.3, y2 = b.y;
      const peak = Math.min(y1, y2) - TOP + 12;
      d = `M${x1},${y1} C${x1},${peak} ${x2},${peak} ${x2},${y2}`;
      lx = (x1 + x2) / 2;
      ly = peak + 0.75 * (Math.min(y1, y2) - peak) - 4;
    } else if (b.x > a.x) {
      const x1 = a.x + NW, y1 = a.y + NH / 2, x2 = b.x, y2 = b.y + NH / 2;
      const c = (x2 - x1) / 2;
      d = `M${x1},${y1} C${x1 + c},${y1} ${x2 - c},${y2} ${x2},${y2}`;
      lx = (x1 + x2) / 2;
      ly = (y1 + y2) / 2 - 6;
    } else {
      // A call back to an earlier layer (a cycle) loops under the nodes.
      const x1 = a.x + NW / 2, y1 = a.y + NH, x2 = b.x + NW / 2, y2 = b.y + NH;
      const dip = Math.max(y1, y2) + GY * 0.8;
      d = `M${x1},${y1} C${x1},${dip} ${x2},${dip} ${x2},${y2}`;
      lx = (x1 + x2) / 2;
      ly = dip - 4;
    }
    const err = e.failed > 0;
    const parts = [`${formatRate(e.rate)} req/s`, `${errPct.toFixed(errPct > 0 && errPct < 1 ? 2 : 0)}% err`];
    const p95 = e.p95 != null ? `p95 ${formatDuration(e.p95 * 1e9)}` : "";
    const g = s(
      "g",
      { class: "edge" + (err ? " err" : ""), "data-edge": `${e.client}->${e.server}` },
      s("title", {}, `${e.client} → ${e.server}: ${[...parts, p95].filter(Boolean).join(", ")}`),
      s("path", { d, "marker-end": `url(#${err ? "arrow-err" : "arrow"})`, "stroke-width": (1.2 + 3 * Math.sqrt(e.rate / maxRate)).toFixed(2) }),
      s("text", { x: lx, y: ly, "text-anchor": "middle" }, parts.join(" · ")),
    );
    if (p95) g.append(s("text", { x: lx, y: ly + 20, "text-anchor": "middle", class: "latency" }, p95));
    svg.append(g);
  }
  for (const n of nodes) {
    const errPct = n.rate && n.errors ? (100 * n.errors) / n.rate : 0;
    const stat = n.rate != null ? `${formatRate(n.rate)} ${n.unit}${errPct ? ` · ${errPct.toFixed(errPct < 1 ? 2 : 0)}% err` : ""}` : "no span metrics";
    const g = s(
      "g",
      { class: "node", "data-service": n.name, tabindex: 0, role: "link", transform: `translate(${n.x},${n.y})` },
      s("title", {}, `${n.name}: search its traces`),
      s("rect", { width: NW, height: NH, rx: 8, class: errPct ? "err" : "" }),
      s("rect", { width: 6, height: NH, rx: 3, fill: serviceColour(n.name) }),
      s("text", { x: 16, y: 24, class: "name" }, n.name.length > 22 ? n.name.slice(0, 21) + "…" : n.name),
      s("text", { x: 16, y: 44, class: "stat" }, stat),
    );
    const open = () => navigate(`/traces?service=${encodeURIComponent(n.name)}`);
    g.addEventListener("click", open);
    g.addEventListener("keydown", (e) => {
      if ((e as KeyboardEvent).key === "Enter") open();
    });
    svg.append(g);
  }
  el.replaceChildren(svg);
}
