// Actions: the remediation actions alerts trigger, with their limits and
// counters, and the audit log of every run (or decision not to run):
// who, what, when, the outcome and the output. The filters are in the
// URL: /actions?action=<name>&outcome=<outcome>
//
// Stable hooks for browser tests (data-testid):
//
//   actions-list          the table of actions; data-count
//   action-row            one action (data-action)
//   audit-filter-action   the action filter; audit-filter-outcome the
//                         outcome filter
//   audit-list            the audit table; data-count
//   audit-row             one record (data-action, data-outcome,
//                         data-phase); a click opens audit-details
//   audit-output          the output of an open record
//   actions-error         where API errors show
import { api, APIError, Labels } from "./api";
import { chips, relTime, timeOf } from "./alerting";
import { errorBox, h } from "./dom";
import { formatTime } from "./format";

// An audit record, as GET /api/v1/actions/audit lists them (newest first).
export interface AuditRecord {
  id: string;
  action: string;
  phase?: string;
  fingerprint?: string;
  alertname?: string;
  labels?: Labels;
  started_at: string;
  duration_seconds: number;
  attempts: number;
  outcome: string;
  dry_run?: boolean;
  exit_code?: number;
  http_status?: number;
  output?: string;
  output_truncated?: boolean;
  error?: string;
  target?: { method?: string; url?: string; header_names?: string[]; body?: string; argv?: string[]; shell?: boolean; env_names?: string[]; dir?: string };
}

// An action's configuration and counters (GET /api/v1/actions).
export interface ActionStatus {
  name: string;
  source?: string;
  kind: string;
  match: string[] | null;
  dry_run: boolean;
  cooldown: string;
  rate_limit?: { count: number; per: string };
  max_concurrency: number;
  timeout: string;
  retries: number;
  resolve: boolean;
  running: number;
  queued: number;
  active: number;
  runs: Record<string, number> | null;
  last_run?: AuditRecord;
}

export const outcomes = ["succeeded", "failed", "timed_out", "dry_run", "running", "skipped_cooldown", "rate_limited", "muted", "dropped"];
const LIMIT = 200;
const REFRESH_MS = 10_000;

export function outcomeBadge(o: string): HTMLElement {
  return h("span", { class: `badge outcome-badge outcome-${o}`, "data-outcome": o }, o.replace(/_/g, " "));
}

// shellWord quotes an argument the way a shell would need it, so argv
// reads as the command that ran.
function shellWord(a: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

export function targetText(t: AuditRecord["target"]): string {
  if (!t) return "";
  if (t.argv?.length) return t.shell ? `sh -c ${shellWord(t.argv[0])}` : t.argv.map(shellWord).join(" ");
  if (t.url) return `${t.method ?? "GET"} ${t.url}`;
  return "";
}

function secs(d: number): string {
  if (!Number.isFinite(d)) return "";
  if (d < 1) return `${Math.round(d * 1000)} ms`;
  return `${Number(d.toPrecision(3))} s`;
}

export function actionsPage(root: HTMLElement): () => void {
  const params = new URLSearchParams(location.search);
  const error = h("div", { "data-testid": "actions-error" });
  const actionsEl = h("div", { "data-testid": "actions-list", "data-count": "0" });
  const actionSel = h("select", { name: "action", "aria-label": "action", "data-testid": "audit-filter-action" }, h("option", { value: "" }, "all actions"));
  const outcomeSel = h(
    "select",
    { name: "outcome", "aria-label": "outcome", "data-testid": "audit-filter-outcome" },
    h("option", { value: "" }, "any outcome"),
    ...outcomes.map((o) => h("option", { value: o }, o.replace(/_/g, " "))),
  );
  const info = h("span", { class: "info" });
  const audit = h("div", { "data-testid": "audit-list", "data-count": "0" });
  root.append(h("h1", {}, "Actions"), error, actionsEl, h("div", { class: "page-head audit-head" }, h("h2", { class: "section-title" }, "Audit log"), actionSel, outcomeSel, info), audit);
  const wantAction = params.get("action") ?? "";
  outcomeSel.value = outcomes.includes(params.get("outcome") ?? "") ? params.get("outcome")! : "";

  const syncURL = () => {
    const p = new URLSearchParams();
    if (actionSel.value) p.set("action", actionSel.value);
    if (outcomeSel.value) p.set("outcome", outcomeSel.value);
    const url = `/actions${[...p].length ? "?" + p : ""}`;
    if (url !== location.pathname + location.search) history.replaceState(null, "", url);
  };

  // Records stay open across refreshes.
  const open = new Set<string>();
  let ctrl = new AbortController();
  let names: string[] = [];
  const refresh = async () => {
    ctrl.abort();
    ctrl = new AbortController();
    const signal = ctrl.signal;
    const q: Record<string, string> = { limit: String(LIMIT) };
    const a = actionSel.value || (names.length ? "" : wantAction);
    if (a) q.action = a;
    if (outcomeSel.value) q.outcome = outcomeSel.value;
    try {
      const [acts, recs] = await Promise.all([api<ActionStatus[] | null>("/api/v1/actions", {}, "GET", signal), api<AuditRecord[] | null>("/api/v1/actions/audit", q, "GET", signal)]);
      error.replaceChildren();
      drawActions(acts ?? []);
      drawAudit(recs ?? []);
      info.textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      if ((e as Error).name === "AbortError") return;
      error.replaceChildren(errorBox(e as APIError));
    }
  };

  const drawActions = (acts: ActionStatus[]) => {
    actionsEl.dataset.count = String(acts.length);
    const now = acts.map((a) => a.name);
    if (now.join("\u0000") !== names.join("\u0000")) {
      const cur = actionSel.value || (names.length ? "" : wantAction);
      names = now;
      actionSel.replaceChildren(h("option", { value: "" }, "all actions"), ...names.map((n) => h("option", { value: n }, n)));
      if (cur && !names.includes(cur)) actionSel.append(h("option", { value: cur }, cur));
      actionSel.value = cur;
    }
    if (!acts.length) {
      actionsEl.replaceChildren(h("div", { class: "empty-state" }, "No actions configured — see ", h("code", {}, "docs/actions.md"), " for the file format and the ", h("code", {}, "actions.files"), " setting."));
      return;
    }
    const body = h("tbody");
    for (const a of acts) {
      const runs = Object.entries(a.runs ?? {}).filter(([, n]) => n > 0);
      const pick = h("a", { href: `/actions?${new URLSearchParams({ action: a.name })}`, title: "show this action's audit records" }, a.name);
      pick.addEventListener("click", (e) => {
        e.preventDefault();
        actionSel.value = a.name;
        syncURL();
        refresh();
      });
      body.append(
        h(
          "tr",
          { "data-testid": "action-row", "data-action": a.name },
          h(
            "td",
            {},
            h("strong", {}, pick),
            a.dry_run ? h("span", { class: "badge outcome-badge outcome-dry_run", title: "renders and records what would run, runs nothing" }, "dry run") : "",
            a.source ? h("div", { class: "muted small" }, a.source) : "",
          ),
          h("td", {}, a.kind, a.resolve ? h("div", { class: "muted small" }, "+ resolve step") : ""),
          h("td", { class: "labels" }, h("span", { class: "label-chips" }, ...(a.match ?? []).map((m) => h("span", { class: "chip label-chip" }, m)))),
          h(
            "td",
            { class: "small" },
            `cooldown ${a.cooldown}`,
            h("br"),
            a.rate_limit ? `at most ${a.rate_limit.count} per ${a.rate_limit.per}` : "no rate limit",
            h("br"),
            `timeout ${a.timeout}, ${a.retries} retr${a.retries === 1 ? "y" : "ies"}`,
          ),
          h(
            "td",
            { class: "num" },
            `${a.running}/${a.max_concurrency}`,
            a.queued ? h("div", { class: "muted small" }, `${a.queued} queued`) : "",
            a.active ? h("div", { class: "muted small" }, `${a.active} alert${a.active === 1 ? "" : "s"} active`) : "",
          ),
          h("td", {}, runs.length ? h("span", { class: "run-counts" }, ...runs.map(([o, n]) => h("span", { class: "run-count" }, outcomeBadge(o), ` ${n}`))) : h("span", { class: "muted" }, "none yet")),
          h(
            "td",
            {},
            a.last_run
              ? h("span", {}, outcomeBadge(a.last_run.outcome), " ", h("span", { class: "muted", title: formatTime(timeOf(a.last_run.started_at)) }, relTime(timeOf(a.last_run.started_at))))
              : h("span", { class: "muted" }, "never"),
          ),
        ),
      );
    }
    actionsEl.replaceChildren(
      h(
        "table",
        { class: "results actions" },
        h(
          "thead",
          {},
          h("tr", {}, h("th", {}, "Action"), h("th", {}, "Kind"), h("th", {}, "Matches alerts with"), h("th", {}, "Limits"), h("th", { class: "num" }, "Running"), h("th", {}, "Runs"), h("th", {}, "Last run")),
        ),
        body,
      ),
    );
  };

  const drawAudit = (recs: AuditRecord[]) => {
    audit.dataset.count = String(recs.length);
    if (!recs.length) {
      audit.replaceChildren(
        h("div", { class: "empty-state" }, actionSel.value || outcomeSel.value ? "No audit records match these filters." : "No audit records yet: an action records one each time an alert triggers it."),
      );
      return;
    }
    const body = h("tbody");
    for (const r of recs) {
      const toggle = h("button", { type: "button", class: "twisty", "aria-expanded": String(open.has(r.id)), "aria-label": "show output and details" }, open.has(r.id) ? "▾" : "▸");
      const code = r.exit_code != null ? `exit ${r.exit_code}` : r.http_status ? `HTTP ${r.http_status}` : "";
      const row = h(
        "tr",
        { class: "audit-row", "data-testid": "audit-row", "data-id": r.id, "data-action": r.action, "data-outcome": r.outcome, "data-phase": r.phase ?? "" },
        h("td", { class: "time", title: relTime(timeOf(r.started_at)) }, toggle, formatTime(timeOf(r.started_at))),
        h("td", {}, r.action),
        h("td", {}, r.phase ?? ""),
        h("td", { class: "alert-name" }, h("strong", {}, r.alertname ?? ""), r.labels ? h("div", {}, chips(r.labels)) : ""),
        h("td", {}, outcomeBadge(r.outcome)),
        h("td", { class: "num" }, r.attempts ? String(r.attempts) : ""),
        h("td", { class: "num" }, r.duration_seconds ? secs(r.duration_seconds) : ""),
        h("td", {}, code),
        h("td", { class: "target", title: targetText(r.target) }, targetText(r.target)),
      );
      body.append(row);
      const details = h("tr", { class: "audit-details", "data-testid": "audit-details" }, h("td", { colspan: "9" }, auditDetails(r)));
      if (open.has(r.id)) body.append(details);
      const flip = () => {
        if (open.has(r.id)) {
          open.delete(r.id);
          details.remove();
        } else {
          open.add(r.id);
          row.after(details);
        }
        toggle.setAttribute("aria-expanded", String(open.has(r.id)));
        toggle.textContent = open.has(r.id) ? "▾" : "▸";
      };
      row.addEventListener("click", (e) => {
        if ((e.target as HTMLElement).closest("a") || String(getSelection() ?? "")) return;
        flip();
      });
    }
    audit.replaceChildren(
      h(
        "table",
        { class: "results audit" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", {}, "Started"),
            h("th", {}, "Action"),
            h("th", {}, "Phase"),
            h("th", {}, "Alert"),
            h("th", {}, "Outcome"),
            h("th", { class: "num" }, "Attempts"),
            h("th", { class: "num" }, "Duration"),
            h("th", {}, "Result"),
            h("th", {}, "Target"),
          ),
        ),
        body,
      ),
      recs.length >= LIMIT ? h("p", { class: "info" }, `The newest ${LIMIT} records; filter by action or outcome to see others.`) : "",
    );
  };

  actionSel.addEventListener("change", () => {
    syncURL();
    refresh();
  });
  outcomeSel.addEventListener("change", () => {
    syncURL();
    refresh();
  });
  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => {
    clearInterval(timer);
    ctrl.abort();
  };
}

function auditDetails(r: AuditRecord): HTMLElement {
  const t = r.target;
  const rows: [string, string][] = [];
  if (t?.argv?.length) rows.push([t.shell ? "shell command" : "argv", t.shell ? t.argv[0] : JSON.stringify(t.argv)]);
  if (t?.url) rows.push(["request", `${t.method ?? "GET"} ${t.url}`]);
  if (t?.header_names?.length) rows.push(["headers (values not recorded)", t.header_names.join(", ")]);
  if (t?.env_names?.length) rows.push(["environment (values not recorded)", t.env_names.join(", ")]);
  if (t?.dir) rows.push(["working directory", t.dir]);
  if (r.fingerprint) rows.push(["alert fingerprint", r.fingerprint]);
  rows.push(["record id", r.id]);
  return h(
    "div",
    { class: "audit-detail" },
    r.dry_run ? h("p", { class: "info" }, "Dry run: this is what would have run; nothing ran.") : "",
    r.error ? h("div", { class: "error" }, r.error) : "",
    h("table", { class: "kv" }, h("tbody", {}, ...rows.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v))))),
    t?.body ? h("div", {}, h("h3", {}, "Request body"), h("pre", { class: "output" }, t.body)) : "",
    h("h3", {}, r.output_truncated ? "Output (truncated)" : "Output"),
    r.output ? h("pre", { class: "output", "data-testid": "audit-output" }, r.output) : h("p", { class: "muted", "data-testid": "audit-output" }, "no output"),
  );
}
