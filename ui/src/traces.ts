// Traces: a search form over Vigil's trace API and a list of matching
// traces, newest first. The search lives in the URL query, so a reload or
// a link gives the same search.
import { searchTraces, services, operations, APIError, TraceSummary } from "./api";
import { h, errorBox } from "./dom";
import { ranges } from "./explore";
import { formatDuration, formatTime, nanosToMillis, serviceColour } from "./format";

const kinds = ["server", "client", "producer", "consumer", "internal", "unspecified"];
const statuses = ["error", "ok", "unset"];
const PAGE = 20;

function select(label: string, name: string, opts: [string, string][], value: string): HTMLSelectElement {
  const s = h("select", { name, "aria-label": label });
  for (const [v, text] of opts) {
    const o = h("option", { value: v }, text);
    if (v === value) o.selected = true;
    s.append(o);
  }
  return s;
}

export function tracesPage(root: HTMLElement): () => void {
  const params = new URLSearchParams(location.search);
  let range = params.get("range") ?? "1h";
  if (!ranges.some(([n]) => n === range)) range = "1h";

  const service = select("service", "service", [["", "any service"]], "");
  const operation = select("operation", "operation", [["", "any operation"]], "");
  const kind = select("kind", "kind", [["", "any kind"], ...kinds.map((k): [string, string] => [k, k])], params.get("kind") ?? "");
  const status = select("status", "status", [["", "any status"], ...statuses.map((k): [string, string] => [k, k])], params.get("status") ?? "");
  const minDur = h("input", { type: "text", name: "minDuration", placeholder: "min, e.g. 100ms", "aria-label": "minimum duration", size: "12" });
  minDur.value = params.get("minDuration") ?? "";
  const maxDur = h("input", { type: "text", name: "maxDuration", placeholder: "max, e.g. 2s", "aria-label": "maximum duration", size: "12" });
  maxDur.value = params.get("maxDuration") ?? "";
  const rangeSel = select("time range", "range", ranges.map(([n]): [string, string] => [n, "last " + n]), range);
  const attrList = h("div", { class: "attrs" });
  const addAttr = (v = "") => {
    const input = h("input", { type: "text", name: "attr", placeholder: "key=value", "aria-label": "attribute key=value", size: "24" });
    input.value = v;
    const rm = h("button", { type: "button", class: "icon", title: "remove", "aria-label": "remove attribute" }, "×");
    const row = h("span", { class: "attr" }, input, rm);
    rm.addEventListener("click", () => row.remove());
    attrList.append(row);
    return input;
  };
  for (const a of params.getAll("attr")) addAttr(a);
  const addAttrBtn = h("button", { type: "button" }, "+ attribute");
  addAttrBtn.addEventListener("click", () => addAttr().focus());
  const submit = h("button", { type: "submit", class: "primary" }, "Search");
  const form = h(
    "form",
    { class: "trace-search" },
    service,
    operation,
    kind,
    status,
    minDur,
    maxDur,
    rangeSel,
    attrList,
    addAttrBtn,
    submit,
  );
  const error = h("div");
  const info = h("div", { class: "info" });
  const list = h("div", { id: "trace-results" });
  const more = h("button", { type: "button", class: "more", hidden: "" }, "Load more");
  root.append(h("h1", {}, "Traces"), form, error, info, list, more);

  let ctrl = new AbortController();

  // Options of the selects come from the API; the URL's choice is kept
  // even when the API no longer lists it.
  const fillSelect = (s: HTMLSelectElement, first: string, values: string[], want: string) => {
    if (want && !values.includes(want)) values = [want, ...values];
    s.replaceChildren(h("option", { value: "" }, first), ...values.map((v) => h("option", { value: v }, v)));
    s.value = want;
  };
  const loadOperations = async (svc: string, want: string) => {
    if (!svc) {
      fillSelect(operation, "any operation", [], want);
      return;
    }
    try {
      const r = await operations(svc);
      fillSelect(operation, "any operation", [...new Set((r.operations ?? []).map((o) => o.name))], want);
    } catch (e) {
      fillSelect(operation, "any operation", [], want);
      if ((e as Error).name !== "AbortError") error.replaceChildren(errorBox(e as APIError));
    }
  };
  fillSelect(service, "any service", [], params.get("service") ?? "");
  fillSelect(operation, "any operation", [], params.get("operation") ?? "");
  services()
    .then((r) => fillSelect(service, "any service", r.services ?? [], service.value))
    .catch((e) => error.replaceChildren(errorBox(e as APIError)));
  loadOperations(service.value, operation.value);
  service.addEventListener("change", () => loadOperations(service.value, ""));

  // The query of the current search, pinned to the time range it was
  // started with so "Load more" pages through the same window.
  let query = new URLSearchParams();
  let results: TraceSummary[] = [];
  let cursor: string | undefined;

  const formParams = () => {
    const p = new URLSearchParams();
    const set = (k: string, v: string) => v.trim() && p.set(k, v.trim());
    set("service", service.value);
    set("operation", operation.value);
    set("kind", kind.value);
    set("status", status.value);
    set("minDuration", minDur.value);
    set("maxDuration", maxDur.value);
    for (const i of attrList.querySelectorAll("input")) if (i.value.trim()) p.append("attr", i.value.trim());
    p.set("range", rangeSel.value);
    return p;
  };

  const fetchPage = async () => {
    ctrl.abort();
    ctrl = new AbortController();
    const p = new URLSearchParams(query);
    if (cursor) p.set("cursor", cursor);
    info.textContent = "searching…";
    more.disabled = true;
    try {
      const r = await searchTraces(p, ctrl.signal);
      results.push(...(r.traces ?? []));
      cursor = r.nextCursor || undefined;
      error.replaceChildren();
      renderList(list, results);
      info.textContent = results.length ? `${results.length} trace${results.length === 1 ? "" : "s"}${cursor ? " (more available)" : ""}` : "";
    } catch (e) {
      if ((e as Error).name === "AbortError") return;
      info.textContent = "";
      error.replaceChildren(errorBox(e as APIError));
    } finally {
      more.disabled = false;
      more.hidden = !cursor;
    }
  };

  const search = (push: boolean) => {
    const p = formParams();
    const url = `/traces?${p}`;
    if (push && url !== location.pathname + location.search) history.pushState(null, "", url);
    else history.replaceState(null, "", url);
    const rangeSec = ranges.find(([n]) => n === rangeSel.value)![1];
    const end = Date.now() / 1000;
    query = new URLSearchParams(p);
    query.delete("range");
    query.set("start", (end - rangeSec).toFixed(3));
    query.set("end", end.toFixed(3));
    query.set("limit", String(PAGE));
    results = [];
    cursor = undefined;
    list.replaceChildren();
    fetchPage();
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    search(true);
  });
  more.addEventListener("click", fetchPage);
  search(false);

  return () => ctrl.abort();
}

function renderList(el: HTMLElement, traces: TraceSummary[]) {
  if (!traces.length) {
    el.replaceChildren(h("div", { class: "empty-state" }, "No traces match this search in this time range."));
    return;
  }
  const longest = Math.max(1, ...traces.map((t) => t.durationNanos));
  const body = h("tbody");
  for (const t of traces) {
    const href = `/trace/${t.traceID}`;
    const bar = h("div", { class: "dur-bar" });
    bar.style.width = `${Math.max(0.5, (100 * t.durationNanos) / longest)}%`;
    const row = h(
      "tr",
      { class: "trace-row", "data-trace-id": t.traceID },
      h("td", {}, h("a", { href, "data-route": "", class: "trace-id", title: t.traceID }, t.traceID.slice(0, 8))),
      h("td", { class: "root" }, h("span", { class: "svc-dot" }), h("strong", {}, t.rootService), " ", t.rootName),
      h("td", { class: "time" }, formatTime(nanosToMillis(t.startTimeUnixNano))),
      h("td", { class: "num" }, String(t.spanCount)),
      h("td", { class: "num" }, t.errorCount > 0 ? h("span", { class: "badge error-badge", title: "spans with status error" }, String(t.errorCount)) : "0"),
      h("td", { class: "services" }, ...(t.services ?? []).map((s) => serviceChip(s))),
      h("td", { class: "duration" }, h("div", { class: "dur-cell" }, h("div", { class: "dur-track" }, bar), h("span", { class: "dur-label" }, formatDuration(t.durationNanos)))),
    );
    (row.querySelector(".svc-dot") as HTMLElement).style.background = serviceColour(t.rootService);
    row.addEventListener("click", (e) => {
      if ((e.target as HTMLElement).closest("a")) return;
      (row.querySelector("a.trace-id") as HTMLAnchorElement).click();
    });
    body.append(row);
  }
  el.replaceChildren(
    h(
      "table",
      { class: "results traces" },
      h("thead", {}, h("tr", {}, h("th", {}, "Trace"), h("th", {}, "Root"), h("th", {}, "Start"), h("th", {}, "Spans"), h("th", {}, "Errors"), h("th", {}, "Services"), h("th", { class: "duration" }, "Duration"))),
      body,
    ),
  );
}

export function serviceChip(s: string): HTMLElement {
  const c = h("span", { class: "chip" }, s);
  c.style.borderColor = serviceColour(s);
  return c;
}
