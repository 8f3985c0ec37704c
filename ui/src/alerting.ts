// What the alerting pages share: the shapes of the alerting APIs, label
// matchers as Alertmanager writes them, label chips and relative times.
import { alertmanager, api, Labels } from "./api";
import { h } from "./dom";

// An alert of Vigil's own rules, as GET /api/v1/alerts lists it.
export interface RuleAlert {
  labels: Labels;
  annotations: Labels;
  state: "firing" | "pending" | "inactive";
  activeAt?: string;
  value: string;
}

// An alert in the embedded Alertmanager, as GET /api/v2/alerts lists it.
export interface AMAlert {
  labels: Labels;
  annotations: Labels;
  startsAt: string;
  endsAt: string;
  updatedAt?: string;
  fingerprint: string;
  generatorURL?: string;
  status: { state: "active" | "suppressed" | "unprocessed"; silencedBy: string[] | null; inhibitedBy: string[] | null; mutedBy?: string[] | null };
  receivers: { name: string }[];
}

// A label matcher in Alertmanager's API v2 shape.
export interface Matcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual: boolean;
}

export interface Silence {
  id: string;
  status: { state: "active" | "pending" | "expired" };
  matchers: Matcher[];
  startsAt: string;
  endsAt: string;
  updatedAt?: string;
  createdBy: string;
  comment: string;
}

// An alert state change or notification, from the alert history.
export interface HistoryEvent {
  time: string;
  fingerprint: string;
  alertname: string;
  labels: Labels | null;
  state: string;
  previous?: string;
  value?: number;
  receiver?: string;
  detail?: string;
  source?: string;
}

export const ruleAlerts = (signal?: AbortSignal) => api<{ alerts: RuleAlert[] | null }>("/api/v1/alerts", {}, "GET", signal);

// amAlerts lists every alert of the embedded Alertmanager, silenced and
// inhibited ones included; filter narrows them with matchers.
export function amAlerts(filter: Matcher[] = [], signal?: AbortSignal) {
  const p = new URLSearchParams({ silenced: "true", inhibited: "true", unprocessed: "true", active: "true" });
  for (const m of filter) p.append("filter", formatMatcher(m));
  return alertmanager<AMAlert[] | null>("GET", "/api/v2/alerts", p, undefined, signal);
}

// firingCount is the number of alerts firing that no silence or
// inhibition holds, as the nav's badge shows it.
export async function firingCount(signal?: AbortSignal): Promise<number> {
  const p = new URLSearchParams({ silenced: "false", inhibited: "false", unprocessed: "true", active: "true" });
  return ((await alertmanager<AMAlert[] | null>("GET", "/api/v2/alerts", p, undefined, signal)) ?? []).length;
}

// FIRING_EVENT, dispatched on document with the count as detail, tells
// the nav's badge a page has just counted the firing alerts.
export const FIRING_EVENT = "vigil:firing";

export const listSilences = (signal?: AbortSignal) => alertmanager<Silence[] | null>("GET", "/api/v2/silences", undefined, undefined, signal);

export const createSilence = (s: { matchers: Matcher[]; startsAt: string; endsAt: string; createdBy: string; comment: string }) => alertmanager<{ silenceID: string }>("POST", "/api/v2/silences", undefined, s);

export const expireSilence = (id: string) => alertmanager<void>("DELETE", `/api/v2/silence/${encodeURIComponent(id)}`);

export function alertHistory(start: number, end: number, selector: string, limit: number, signal?: AbortSignal) {
  const p: Record<string, string> = { start: start.toFixed(3), end: end.toFixed(3), limit: String(limit) };
  if (selector) p["match[]"] = selector;
  return api<HistoryEvent[] | null>("/api/v1/alerts/history", p, "GET", signal);
}

const classicName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

// quoteValue writes a string as a double-quoted literal that PromQL and
// Alertmanager's matcher parser both read back unchanged.
export function quoteValue(v: string): string {
  return '"' + v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") + '"';
}

export const opOf = (m: Matcher) => (m.isEqual ? "" : "!") + (m.isRegex ? "~" : "=");
// The operator as written: =, !=, =~, !~.
export const operator = (m: Matcher) => (m.isRegex ? (m.isEqual ? "=~" : "!~") : m.isEqual ? "=" : "!=");

export function formatMatcher(m: Matcher): string {
  const name = classicName.test(m.name) ? m.name : quoteValue(m.name);
  return `${name}${operator(m)}${quoteValue(m.value)}`;
}

// selectorOf is the PromQL series selector of matchers, "" for none.
export function selectorOf(ms: Matcher[]): string {
  return ms.length ? `{${ms.map(formatMatcher).join(", ")}}` : "";
}

// parseMatchers reads matchers as Alertmanager and Prometheus write them,
// with or without the braces: {alertname="X", severity=~"page|critical"}.
// Values may be unquoted when they hold no comma, brace or space. It
// throws an Error that says where the text stops making sense, or which
// regular expression does not compile unless checkRegex is false.
export function parseMatchers(text: string, checkRegex = true): Matcher[] {
  let s = text.trim();
  if (s.startsWith("{")) {
    if (!s.endsWith("}")) throw new Error("the matchers open a { that is not closed");
    s = s.slice(1, -1);
  }
  const out: Matcher[] = [];
  let i = 0;
  const ws = () => {
    while (i < s.length && /\s/.test(s[i])) i++;
  };
  const quoted = (): string => {
    const q = s[i];
    let v = "";
    for (i++; i < s.length; i++) {
      const c = s[i];
      if (c === "\\" && q !== "`" && i + 1 < s.length) {
        const n = s[++i];
        v += n === "n" ? "\n" : n === "t" ? "\t" : n;
      } else if (c === q) {
        i++;
        return v;
      } else v += c;
    }
    throw new Error(`a string opened with ${q} is not closed`);
  };
  for (;;) {
    ws();
    if (i >= s.length) break;
    let name: string;
    if (s[i] === '"' || s[i] === "'" || s[i] === "`") name = quoted();
    else {
      const m = /^[^=!~,\s"]+/.exec(s.slice(i));
      if (!m) throw new Error(`expected a label name at ${JSON.stringify(s.slice(i, i + 20))}`);
      name = m[0];
      i += name.length;
    }
    ws();
    const op = /^(=~|!~|!=|=)/.exec(s.slice(i));
    if (!op) throw new Error(`expected =, !=, =~ or !~ after ${JSON.stringify(name)}`);
    i += op[0].length;
    ws();
    let value: string;
    if (s[i] === '"' || s[i] === "'" || s[i] === "`") value = quoted();
    else {
      const m = /^[^,{}\s]*/.exec(s.slice(i))!;
      value = m[0];
      i += value.length;
    }
    const matcher = { name, value, isRegex: op[0].includes("~"), isEqual: !op[0].startsWith("!") };
    if (matcher.isRegex && checkRegex) compileRegex(value);
    out.push(matcher);
    ws();
    if (i >= s.length) break;
    if (s[i] !== ",") throw new Error(`expected a comma at ${JSON.stringify(s.slice(i, i + 20))}`);
    i++;
  }
  return out;
}

const regexCache = new Map<string, RegExp>();
// compileRegex anchors a matcher's regular expression as Prometheus does.
// JavaScript's dialect is close to Go's RE2 for what label matchers use;
// the server's own matching decides where it matters (silences).
function compileRegex(v: string): RegExp {
  let r = regexCache.get(v);
  if (!r) {
    try {
      r = new RegExp(`^(?:${v})$`, "s");
    } catch (e) {
      throw new Error(`${JSON.stringify(v)} is not a valid regular expression: ${(e as Error).message}`);
    }
    if (regexCache.size > 500) regexCache.clear();
    regexCache.set(v, r);
  }
  return r;
}

export function matches(ms: Matcher[], labels: Labels): boolean {
  for (const m of ms) {
    const v = labels[m.name] ?? "";
    const hit = m.isRegex ? compileRegex(m.value).test(v) : v === m.value;
    if (hit !== m.isEqual) return false;
  }
  return true;
}

// labelKey is the same string for the same label set, whatever the order.
export function labelKey(l: Labels): string {
  return JSON.stringify(
    Object.keys(l)
      .sort()
      .map((k) => [k, l[k]]),
  );
}

// chips draws labels as name=value chips, alertname left out (the row
// names the alert); onPick, when given, makes each chip a button.
export function chips(l: Labels, onPick?: (name: string, value: string) => void): HTMLElement {
  const el = h("span", { class: "label-chips" });
  for (const k of Object.keys(l).sort()) {
    if (k === "alertname") continue;
    const text = `${k}=${l[k]}`;
    if (onPick) {
      const b = h("button", { type: "button", class: "chip label-chip", title: `filter on ${k}=${quoteValue(l[k])}`, "data-label": k }, text);
      b.addEventListener("click", () => onPick(k, l[k]));
      el.append(b);
    } else el.append(h("span", { class: "chip label-chip", "data-label": k }, text));
  }
  return el;
}

export function matcherChips(ms: Matcher[]): HTMLElement {
  return h("span", { class: "label-chips" }, ...ms.map((m) => h("span", { class: "chip label-chip" }, `${m.name}${operator(m)}${m.value}`)));
}

// humanDuration writes seconds as the two largest units: "3d 4h", "5m 2s".
export function humanDuration(sec: number): string {
  const s = Math.max(0, Math.round(sec));
  const units: [string, number][] = [
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ];
  const parts: string[] = [];
  let rest = s;
  for (const [u, n] of units) {
    if (rest >= n || (u === "s" && !parts.length)) {
      parts.push(`${Math.floor(rest / n)}${u}`);
      rest %= n;
    }
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}

// relTime says how far a time is from now: "5m 2s ago", "in 1h 59m".
export function relTime(ms: number, now = Date.now()): string {
  if (!Number.isFinite(ms)) return "–";
  const d = (now - ms) / 1000;
  if (Math.abs(d) < 1) return "now";
  return d > 0 ? `${humanDuration(d)} ago` : `in ${humanDuration(-d)}`;
}

// parseDuration reads a Prometheus duration (1w2d3h4m5s, 90s, 1.5h) as
// seconds; NaN when it is not one.
export function parseDuration(s: string): number {
  const t = s.trim();
  if (!t) return NaN;
  const unit: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)/gy;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(t))) {
    total += parseFloat(m[1]) * unit[m[2]];
    end = re.lastIndex;
  }
  return end === t.length ? total : NaN;
}

// stateBadge is an alert or silence state as a coloured badge.
export function stateBadge(state: string, text = state): HTMLElement {
  return h("span", { class: `badge state-badge state-${state}`, "data-state": state }, text);
}

// timeOf reads an RFC 3339 time as Unix milliseconds (NaN for none, and
// for the zero time Go writes as 0001-01-01).
export function timeOf(s: string | undefined): number {
  if (!s || s.startsWith("0001-")) return NaN;
  return Date.parse(s);
}
