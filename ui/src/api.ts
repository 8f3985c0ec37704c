// The Prometheus HTTP API, as Vigil serves it, with the read token when
// one is set.

export class APIError extends Error {
  constructor(
    public status: number,
    public errorType: string,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN_KEY = "vigil.readToken";

export function getToken(): string {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    return "";
  }
}

export function setToken(t: string) {
  if (t) localStorage.setItem(TOKEN_KEY, t);
  else localStorage.removeItem(TOKEN_KEY);
}

type Listener = () => void;
const unauthorizedListeners: Listener[] = [];
export function onUnauthorized(f: Listener) {
  unauthorizedListeners.push(f);
}

export async function api<T>(path: string, params: Record<string, string> = {}, method: "GET" | "POST" = "GET", signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = {};
  const tok = getToken();
  if (tok) headers.Authorization = `Bearer ${tok}`;
  const qs = new URLSearchParams(params);
  let url = path;
  let body: URLSearchParams | undefined;
  if (method === "POST") {
    body = qs;
    headers["Content-Type"] = "application/x-www-form-urlencoded";
  } else if ([...qs].length) {
    url += "?" + qs.toString();
  }
  let res: Response;
  try {
    res = await fetch(url, { method, headers, body, signal });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new APIError(0, "unavailable", "cannot reach Vigil: " + (e as Error).message);
  }
  if (res.status === 401) {
    unauthorizedListeners.forEach((f) => f());
    throw new APIError(401, "unauthorized", "this Vigil needs a read token");
  }
  let j: { status: string; data: T; errorType?: string; error?: string };
  const text = await res.text();
  try {
    j = JSON.parse(text);
  } catch {
    // Loki's API (and plain handlers) answer errors as plain text.
    if (!res.ok && text.trim()) throw new APIError(res.status, res.status === 400 ? "bad_data" : "error", text.trim());
    throw new APIError(res.status, "bad_response", `unexpected response (HTTP ${res.status})`);
  }
  if (j.status !== "success") throw new APIError(res.status, j.errorType ?? "error", j.error ?? `HTTP ${res.status}`);
  return j.data;
}

export type Labels = Record<string, string>;
export type MatrixResult = { resultType: "matrix"; result: { metric: Labels; values?: [number, string][]; histograms?: unknown[] }[] };
export type VectorResult = { resultType: "vector"; result: { metric: Labels; value?: [number, string]; histogram?: [number, { count: string; sum: string }] }[] };
export type ScalarResult = { resultType: "scalar" | "string"; result: [number, string] };
export type QueryResult = MatrixResult | VectorResult | ScalarResult;

export function queryRange(query: string, start: number, end: number, step: number, signal?: AbortSignal) {
  return api<MatrixResult>("/api/v1/query_range", { query, start: String(start), end: String(end), step: String(step) }, "POST", signal);
}

export function queryInstant(query: string, time: number, signal?: AbortSignal) {
  return api<QueryResult>("/api/v1/query", { query, time: String(time) }, "POST", signal);
}

export function metricNames() {
  return api<string[]>("/api/v1/label/__name__/values");
}

export function formatLabels(m: Labels): string {
  const name = m.__name__ ?? "";
  const rest = Object.keys(m)
    .filter((k) => k !== "__name__")
    .sort()
    .map((k) => `${k}="${m[k]}"`);
  return rest.length ? `${name}{${rest.join(", ")}}` : name || "{}";
}

// Exemplars of the series an expression selects, as the Prometheus API
// answers /api/v1/query_exemplars.
export type ExemplarSeries = { seriesLabels: Labels; exemplars: { labels: Labels; value: string; timestamp: number }[] };

export function queryExemplars(query: string, start: number, end: number, signal?: AbortSignal) {
  return api<ExemplarSeries[]>("/api/v1/query_exemplars", { query, start: String(start), end: String(end) }, "POST", signal);
}

// exemplarTraceID is the trace an exemplar points at, under the label
// names that instrumentations use for it.
export function exemplarTraceID(l: Labels): string {
  return l.trace_id ?? l.traceID ?? l.traceId ?? "";
}

// vigil calls Vigil's own JSON API (docs/traces-api.md), which answers
// plain JSON and {"error": "..."} with a 4xx or 5xx status.
export async function vigil<T>(path: string, params?: URLSearchParams, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = {};
  const tok = getToken();
  if (tok) headers.Authorization = `Bearer ${tok}`;
  const qs = params?.toString();
  let res: Response;
  try {
    res = await fetch(qs ? `${path}?${qs}` : path, { headers, signal });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new APIError(0, "unavailable", "cannot reach Vigil: " + (e as Error).message);
  }
  if (res.status === 401) {
    unauthorizedListeners.forEach((f) => f());
    throw new APIError(401, "unauthorized", "this Vigil needs a read token");
  }
  let j: T & { error?: string };
  try {
    j = await res.json();
  } catch {
    throw new APIError(res.status, "bad_response", `unexpected response (HTTP ${res.status})`);
  }
  if (!res.ok) {
    const kind = res.status === 404 ? "not_found" : res.status === 400 ? "bad_data" : "error";
    throw new APIError(res.status, kind, j.error ?? `HTTP ${res.status}`);
  }
  return j;
}

export type AttrValue = string | number | boolean | null | AttrValue[] | { [k: string]: AttrValue };
export type Attrs = Record<string, AttrValue>;

export interface SpanEvent {
  timeUnixNano: string;
  name: string;
  attributes?: Attrs;
}

export interface SpanLink {
  traceID: string;
  spanID: string;
  traceState?: string;
  attributes?: Attrs;
}

export interface Span {
  traceID: string;
  spanID: string;
  parentSpanID: string;
  traceState?: string;
  service: string;
  name: string;
  kind: string;
  startTimeUnixNano: string;
  durationNanos: number;
  statusCode: string;
  statusMessage?: string;
  scope?: { name?: string; version?: string };
  resource?: Attrs;
  attributes?: Attrs;
  events?: SpanEvent[];
  links?: SpanLink[];
}

export interface TraceSummary {
  traceID: string;
  rootService: string;
  rootName: string;
  startTimeUnixNano: string;
  durationNanos: number;
  spanCount: number;
  errorCount: number;
  services: string[];
}

export const getTrace = (id: string, signal?: AbortSignal) => vigil<{ traceID: string; spans: Span[] }>(`/api/vigil/v1/traces/${encodeURIComponent(id)}`, undefined, signal);
export const searchTraces = (p: URLSearchParams, signal?: AbortSignal) => vigil<{ traces: TraceSummary[] | null; nextCursor?: string }>("/api/vigil/v1/traces", p, signal);
export const services = () => vigil<{ services: string[] | null }>("/api/vigil/v1/services");
export const operations = (service: string) => vigil<{ operations: { name: string; kind: string }[] | null }>("/api/vigil/v1/operations", new URLSearchParams({ service }));

// Loki's HTTP API, as Vigil serves it for logs: the same {status, data}
// envelope as the Prometheus API, with times in Unix nanoseconds.

// A stream of log lines: its labels and [Unix ns, line] pairs.
export type LokiStream = { stream: Labels; values: [string, string][] };
export type StreamsResult = { resultType: "streams"; result: LokiStream[] };
export type LogQueryResult = StreamsResult | MatrixResult | VectorResult;

export interface LogQueryParams {
  query: string;
  start: bigint; // Unix ns
  end: bigint; // Unix ns
  limit?: number;
  direction?: "backward" | "forward";
  step?: number; // seconds, for metric queries
}

export function logQueryRange(p: LogQueryParams, signal?: AbortSignal) {
  const params: Record<string, string> = { query: p.query, start: String(p.start), end: String(p.end) };
  if (p.limit) params.limit = String(p.limit);
  if (p.direction) params.direction = p.direction;
  if (p.step) params.step = String(p.step);
  return api<LogQueryResult>("/loki/api/v1/query_range", params, "GET", signal);
}

export function logLabelValues(name: string, start?: bigint, end?: bigint, signal?: AbortSignal) {
  const params: Record<string, string> = {};
  if (start != null) params.start = String(start);
  if (end != null) params.end = String(end);
  return api<string[] | null>(`/loki/api/v1/label/${encodeURIComponent(name)}/values`, params, "GET", signal);
}

// A message of the live tail: new lines, and the lines the server had to
// drop because this client (or its own buffer) fell behind.
export type TailMessage = { streams?: LokiStream[]; dropped_entries?: { labels: Labels; timestamp: string }[] | null };

// tailURL is the WebSocket address of the live tail of a log query,
// starting at start (Unix ns). A browser cannot send the read token on a
// WebSocket, so a Vigil with a read token refuses it.
export function tailURL(query: string, start: bigint, limit: number): string {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const qs = new URLSearchParams({ query, start: String(start), limit: String(limit) });
  return `${proto}//${location.host}/loki/api/v1/tail?${qs}`;
}

// alertmanager calls Alertmanager's API v2, as Vigil's embedded
// Alertmanager serves it under /api/v2: plain JSON, and errors as a JSON
// string or {code, message} with a 4xx or 5xx status.
export async function alertmanager<T>(method: "GET" | "POST" | "DELETE", path: string, params?: URLSearchParams, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = {};
  const tok = getToken();
  if (tok) headers.Authorization = `Bearer ${tok}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const qs = params?.toString();
  let res: Response;
  try {
    res = await fetch(qs ? `${path}?${qs}` : path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new APIError(0, "unavailable", "cannot reach Vigil: " + (e as Error).message);
  }
  if (res.status === 401) {
    unauthorizedListeners.forEach((f) => f());
    throw new APIError(401, "unauthorized", "this Vigil needs a read token");
  }
  const text = await res.text();
  let j: unknown;
  try {
    j = text.trim() ? JSON.parse(text) : undefined;
  } catch {
    if (!res.ok && text.trim()) throw new APIError(res.status, res.status === 400 ? "bad_data" : "error", text.trim());
    throw new APIError(res.status, "bad_response", `unexpected response (HTTP ${res.status})`);
  }
  if (!res.ok) {
    const msg = typeof j === "string" ? j : ((j as { message?: string } | undefined)?.message ?? `HTTP ${res.status}`);
    const kind = res.status === 404 ? "not_found" : res.status === 400 || res.status === 422 ? "bad_data" : "error";
    throw new APIError(res.status, kind, msg);
  }
  return j as T;
}
