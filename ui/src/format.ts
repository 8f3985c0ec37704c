// Formatting shared by the trace pages: durations, nanosecond timestamps,
// attribute values and a stable colour per service.

// formatDuration formats nanoseconds with three significant digits.
export function formatDuration(ns: number): string {
  const a = Math.abs(ns);
  const f = (v: number, u: string) => `${Number(v.toPrecision(3))} ${u}`;
  if (a < 1e3) return f(ns, "ns");
  if (a < 1e6) return f(ns / 1e3, "µs");
  if (a < 1e9) return f(ns / 1e6, "ms");
  if (a < 60e9) return f(ns / 1e9, "s");
  if (a < 3600e9) return f(ns / 60e9, "min");
  return f(ns / 3600e9, "h");
}

// nanosToMillis turns a decimal string of Unix nanoseconds (too large for
// a JavaScript number) into Unix milliseconds.
export function nanosToMillis(ns: string): number {
  try {
    return Number(BigInt(ns) / 1000000n);
  } catch {
    return 0;
  }
}

// nanosSince is a - b in nanoseconds, both decimal strings.
export function nanosSince(a: string, b: string): number {
  try {
    return Number(BigInt(a) - BigInt(b));
  } catch {
    return 0;
  }
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

// formatTime formats Unix milliseconds as local date and time with
// milliseconds.
export function formatTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function formatAttr(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

const colours = ["#2563eb", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#ea580c", "#4f46e5", "#0d9488", "#a16207", "#9333ea"];

// serviceColour is the same colour for the same service on every page.
export function serviceColour(service: string): string {
  let h = 2166136261;
  for (let i = 0; i < service.length; i++) h = Math.imul(h ^ service.charCodeAt(i), 16777619);
  return colours[(h >>> 0) % colours.length];
}

// formatRate formats a per-second rate.
export function formatRate(v: number): string {
  if (!Number.isFinite(v)) return "–";
  if (v === 0) return "0";
  if (v >= 100) return v.toFixed(0);
  if (v >= 1) return v.toFixed(2).replace(/\.?0+$/, "");
  return Number(v.toPrecision(2)).toString();
}
