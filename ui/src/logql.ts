// LogQL text helpers for the logs pages: telling log queries from metric
// queries, editing the stream selector and adding label filters without a
// full parser, and turning query results into log entries. They scan
// strings and comments the way LogQL lexes them, so a brace or a comma
// inside "..." or `...` is never taken for syntax.
import { Labels, LokiStream } from "./api";

// skipString returns the index after the string literal that starts at i
// (a " or ` quote), or q.length when it is not closed.
function skipString(q: string, i: number): number {
  const quote = q[i];
  for (let j = i + 1; j < q.length; j++) {
    if (quote === '"' && q[j] === "\\") j++;
    else if (q[j] === quote) return j + 1;
  }
  return q.length;
}

// stripComments removes # comments (to the end of the line) outside
// string literals.
export function stripComments(q: string): string {
  let out = "";
  for (let i = 0; i < q.length; ) {
    const c = q[i];
    if (c === '"' || c === "`") {
      const j = skipString(q, i);
      out += q.slice(i, j);
      i = j;
    } else if (c === "#") {
      while (i < q.length && q[i] !== "\n") i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

// isLogQuery reports whether q selects log lines (it starts with a stream
// selector) rather than computing a metric from them.
export function isLogQuery(q: string): boolean {
  return stripComments(q).trimStart().startsWith("{");
}

// selector finds the first stream selector of q outside strings: the
// index of its "{" and the index after its "}", or undefined.
function selector(q: string): { open: number; close: number } | undefined {
  let open = -1;
  for (let i = 0; i < q.length; ) {
    const c = q[i];
    if (c === '"' || c === "`") {
      i = skipString(q, i);
      continue;
    }
    if (c === "#") {
      while (i < q.length && q[i] !== "\n") i++;
      continue;
    }
    if (c === "{" && open < 0) open = i;
    else if (c === "}" && open >= 0) return { open, close: i + 1 };
    i++;
  }
  return undefined;
}

// splitMatchers splits the inside of a selector at commas outside strings,
// dropping empty parts.
function splitMatchers(inner: string): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < inner.length; ) {
    const c = inner[i];
    if (c === '"' || c === "`") {
      i = skipString(inner, i);
      continue;
    }
    if (c === ",") {
      parts.push(inner.slice(start, i));
      start = i + 1;
    }
    i++;
  }
  parts.push(inner.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p);
}

// unquote reads a LogQL string literal; undefined when it is not one.
export function unquote(s: string): string | undefined {
  if (s.length >= 2 && s[0] === "`" && s[s.length - 1] === "`") return s.slice(1, -1);
  if (s.length >= 2 && s[0] === '"') {
    try {
      const v = JSON.parse(s);
      return typeof v === "string" ? v : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

// quote writes a LogQL (Go syntax) string literal; JSON's escapes are a
// subset of Go's.
export const quote = (v: string) => JSON.stringify(v);

const SERVICE = "service_name";
const serviceMatcher = /^service_name\s*(=|!=|=~|!~)\s*(.*)$/s;

// serviceOf is the service a query's stream selector names with
// service_name="...", or "" when it names none or several.
export function serviceOf(q: string): string {
  const sel = selector(q);
  if (!sel) return "";
  for (const m of splitMatchers(q.slice(sel.open + 1, sel.close - 1))) {
    const parts = serviceMatcher.exec(m);
    if (parts && parts[1] === "=") return unquote(parts[2].trim()) ?? "";
  }
  return "";
}

// withService returns q with its first stream selector matching only
// service, or any service when service is "" (its other matchers kept),
// or a new selector when q has none.
export function withService(q: string, service: string): string {
  const m = service ? `${SERVICE}=${quote(service)}` : `${SERVICE}=~".+"`;
  const sel = selector(q);
  if (!sel) {
    const rest = q.trim();
    return rest ? `{${m}} ${rest}` : `{${m}}`;
  }
  const kept = splitMatchers(q.slice(sel.open + 1, sel.close - 1)).filter((x) => !serviceMatcher.test(x));
  return q.slice(0, sel.open) + `{${[m, ...kept].join(", ")}}` + q.slice(sel.close);
}

export const validLabelName = (k: string) => /^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k);

// withFilter appends a label filter stage `| key="value"` to a log query.
// Comments go, so that a trailing one cannot swallow the filter.
export function withFilter(q: string, key: string, value: string): string {
  return `${stripComments(q).trimEnd()} | ${key}=${quote(value)}`;
}

// histogramQuery counts the lines of a log query by level in step-second
// buckets.
export function histogramQuery(logQuery: string, step: number): string {
  return `sum by (detected_level) (count_over_time(${stripComments(logQuery).trim()}[${step}s]))`;
}

const niceSteps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

// chooseStep is the smallest round step (seconds) that splits rangeSec
// into at most bars buckets.
export function chooseStep(rangeSec: number, bars = 60): number {
  const min = rangeSec / bars;
  return niceSteps.find((s) => s >= min) ?? Math.ceil(min / 86400) * 86400;
}

export type Level = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "unknown";
export const levels: Level[] = ["fatal", "error", "warn", "info", "debug", "trace", "unknown"];

// normLevel maps a level as sources spell it to one of levels.
export function normLevel(s: string | undefined): Level {
  switch ((s ?? "").trim().toLowerCase()) {
    case "fatal":
    case "critical":
    case "crit":
    case "panic":
    case "emerg":
    case "emergency":
    case "alert":
      return "fatal";
    case "error":
    case "err":
    case "eror":
    case "exception":
    case "severe":
      return "error";
    case "warn":
    case "warning":
    case "wrn":
      return "warn";
    case "info":
    case "inf":
    case "information":
    case "informational":
    case "notice":
      return "info";
    case "debug":
    case "dbg":
      return "debug";
    case "trace":
    case "trc":
      return "trace";
  }
  return "unknown";
}

// levelOf is the level of a log line from its labels.
export const levelOf = (l: Labels): Level => normLevel(l.level || l.detected_level || l.severity_text);

// A log line with the labels of its stream and its own fields.
export interface LogEntry {
  ts: bigint; // Unix ns
  line: string;
  labels: Labels;
}

// entriesOf flattens streams into entries, newest first (or oldest first
// with forward). Lines of equal time keep the order they came in.
export function entriesOf(streams: LokiStream[] | null | undefined, forward = false): LogEntry[] {
  const out: LogEntry[] = [];
  for (const s of streams ?? [])
    for (const v of s.values ?? []) {
      let ts: bigint;
      try {
        ts = BigInt(v[0]);
      } catch {
        continue;
      }
      out.push({ ts, line: String(v[1] ?? ""), labels: s.stream ?? {} });
    }
  return sortEntries(out, forward);
}

export function sortEntries(e: LogEntry[], forward = false): LogEntry[] {
  return e.sort((a, b) => (a.ts === b.ts ? 0 : (a.ts < b.ts) === forward ? -1 : 1));
}

export const nsToMillis = (ns: bigint) => Number(ns / 1000000n);
export const millisToNs = (ms: number) => BigInt(Math.floor(ms)) * 1000000n;
