// Silences: the embedded Alertmanager's silences by state, a form that
// creates one (with the alerts it would silence, as the Alertmanager
// itself matches them), and expiring one. The view is in the URL:
//
//   /silences?state=<active|pending|expired>[&id=<silence id>]
//   /silences?new=1&filter=<matchers>     (the form, pre-filled)
//
// Stable hooks for browser tests (data-testid):
//
//   silence-new          the "New silence" button
//   silence-form         the form; silence-matcher is one matcher row in
//                        it (inputs named name, op, value)
//   silence-duration     the duration box (e.g. 2h); silence-end the end
//   silence-created-by, silence-comment, silence-submit
//   silence-preview      the alerts the draft matches; data-count
//   silences-tab-<state> a state tab; data-count
//   silences-list        the table; data-count
//   silence-row          one silence (data-id, data-state)
//   silence-expire       its Expire button (a second click confirms)
//   silences-error       where API errors show
import { APIError } from "./api";
import { AMAlert, amAlerts, chips, createSilence, expireSilence, listSilences, Matcher, matcherChips, operator, parseDuration, parseMatchers, relTime, Silence, stateBadge, timeOf } from "./alerting";
import { errorBox, h } from "./dom";
import { formatTime } from "./format";

const states = ["active", "pending", "expired"] as const;
type State = (typeof states)[number];
const REFRESH_MS = 15_000;
const MAX_ROWS = 200;
const CREATOR_KEY = "vigil.silenceCreator";

const pad = (n: number) => String(n).padStart(2, "0");
function toLocalInput(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// promDuration writes seconds the way parseDuration reads them: 1d2h30m.
function promDuration(sec: number): string {
  let s = Math.max(0, Math.round(sec / 60)) * 60;
  let out = "";
  for (const [u, n] of [
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
  ] as [string, number][]) {
    if (s >= n) {
      out += `${Math.floor(s / n)}${u}`;
      s %= n;
    }
  }
  return out || "0m";
}

function remember(): string {
  try {
    return localStorage.getItem(CREATOR_KEY) ?? "";
  } catch {
    return "";
  }
}

export function silencesPage(root: HTMLElement): () => void {
  const params = new URLSearchParams(location.search);
  let focusID = params.get("id") ?? "";
  let state: State = (states as readonly string[]).includes(params.get("state") ?? "") ? (params.get("state") as State) : "active";

  const newBtn = h("button", { type: "button", class: "primary", "data-testid": "silence-new" }, "New silence");
  const error = h("div", { "data-testid": "silences-error" });
  const flash = h("div", { class: "flash", role: "status", hidden: "" });
  const formHost = h("div");
  const tabButtons = new Map<State, HTMLButtonElement>();
  for (const s of states) {
    const b = h("button", { type: "button", class: "tab", "data-testid": `silences-tab-${s}` }, s[0].toUpperCase() + s.slice(1), h("span", { class: "badge tab-count" }));
    b.addEventListener("click", () => {
      state = s;
      syncURL();
      draw();
    });
    tabButtons.set(s, b);
  }
  const info = h("span", { class: "info" });
  const list = h("div", { "data-testid": "silences-list", "data-count": "0" });
  root.append(h("div", { class: "page-head" }, h("h1", {}, "Silences"), newBtn), flash, formHost, error, h("div", { class: "tabs" }, ...tabButtons.values(), info), list);

  const syncURL = () => {
    const p = new URLSearchParams({ state });
    if (focusID) p.set("id", focusID);
    history.replaceState(null, "", `/silences?${p}`);
  };

  let silences: Silence[] = [];
  let alerts: AMAlert[] = [];
  let loaded = false;
  let ctrl = new AbortController();
  const refresh = async () => {
    ctrl.abort();
    ctrl = new AbortController();
    const signal = ctrl.signal;
    try {
      const [s, a] = await Promise.all([listSilences(signal), amAlerts([], signal)]);
      silences = s ?? [];
      alerts = a ?? [];
      loaded = true;
      error.replaceChildren();
      info.textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      if ((e as Error).name === "AbortError") return;
      error.replaceChildren(errorBox(e as APIError));
    }
    draw();
  };

  let focused = false;
  const draw = () => {
    // A silence asked for by id shows in its own state's tab, once.
    const target = focusID && !focused ? silences.find((s) => s.id === focusID) : undefined;
    if (target) {
      state = target.status.state;
      focused = true;
      syncURL();
    }
    for (const [s, b] of tabButtons) {
      const n = silences.filter((x) => x.status.state === s).length;
      b.classList.toggle("active", s === state);
      b.setAttribute("aria-pressed", String(s === state));
      b.dataset.count = String(n);
      b.querySelector(".tab-count")!.textContent = String(n);
    }
    const mine = silences.filter((x) => x.status.state === state);
    const at = (s: Silence, k: "startsAt" | "endsAt") => timeOf(s[k]);
    if (state === "active") mine.sort((a, b) => at(a, "endsAt") - at(b, "endsAt"));
    else if (state === "pending") mine.sort((a, b) => at(a, "startsAt") - at(b, "startsAt"));
    else mine.sort((a, b) => at(b, "endsAt") - at(a, "endsAt"));
    list.dataset.count = String(mine.length);
    if (!loaded) return;
    if (!mine.length) {
      list.replaceChildren(h("div", { class: "empty-state" }, `No ${state} silences.`));
      return;
    }
    const silencedBy = new Map<string, number>();
    for (const a of alerts) for (const id of a.status.silencedBy ?? []) silencedBy.set(id, (silencedBy.get(id) ?? 0) + 1);
    const body = h("tbody");
    for (const s of mine.slice(0, MAX_ROWS)) body.append(silenceRow(s, silencedBy.get(s.id) ?? 0, s.id === focusID, { expire, recreate }));
    list.replaceChildren(
      h(
        "table",
        { class: "results silences" },
        h(
          "thead",
          {},
          h("tr", {}, h("th", {}, "State"), h("th", {}, "Matchers"), h("th", {}, "Starts"), h("th", {}, "Ends"), h("th", {}, "Created by"), h("th", {}, "Comment"), h("th", { class: "num" }, "Alerts"), h("th", {})),
        ),
        body,
      ),
      mine.length > MAX_ROWS ? h("p", { class: "info" }, `The ${MAX_ROWS} ${state === "expired" ? "most recently ended" : "first"} of ${mine.length} are shown.`) : "",
    );
  };

  const expire = async (s: Silence) => {
    try {
      await expireSilence(s.id);
      showFlash(`Silence ${s.id} expired.`);
    } catch (e) {
      error.replaceChildren(errorBox(e as APIError));
    }
    refresh();
  };
  const showFlash = (text: string) => {
    flash.textContent = text;
    flash.hidden = false;
  };

  let form: SilenceForm | undefined;
  const openForm = (ms: Matcher[]) => {
    form?.close();
    form = new SilenceForm(ms, {
      created: (id) => {
        form = undefined;
        formHost.replaceChildren();
        newBtn.hidden = false;
        showFlash(`Silence ${id} created.`);
        focusID = id;
        focused = false;
        syncURL();
        refresh();
      },
      cancel: () => {
        form = undefined;
        formHost.replaceChildren();
        newBtn.hidden = false;
        if (new URLSearchParams(location.search).get("new")) history.replaceState(null, "", "/silences");
      },
    });
    formHost.replaceChildren(form.el);
    newBtn.hidden = true;
    form.focus();
  };
  const recreate = (s: Silence) => {
    openForm(s.matchers);
    window.scrollTo(0, 0);
  };
  newBtn.addEventListener("click", () => openForm([]));

  if (params.get("new")) {
    let ms: Matcher[] = [];
    try {
      // A regular expression that does not compile stays in the form,
      // where the preview shows the Alertmanager's own complaint.
      ms = parseMatchers(params.get("filter") ?? "", false);
    } catch (e) {
      error.replaceChildren(errorBox(new APIError(0, "bad_filter", `the matchers in the link: ${(e as Error).message}`)));
    }
    openForm(ms);
  }
  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => {
    clearInterval(timer);
    ctrl.abort();
    form?.close();
  };
}

interface RowActions {
  expire: (s: Silence) => void;
  recreate: (s: Silence) => void;
}

function silenceRow(s: Silence, silenced: number, focus: boolean, act: RowActions): HTMLElement {
  const start = timeOf(s.startsAt);
  const end = timeOf(s.endsAt);
  const actions = h("td", { class: "row-actions" });
  if (s.status.state !== "expired") {
    const b = h("button", { type: "button", class: "danger-outline", "data-testid": "silence-expire" }, "Expire");
    let armed: ReturnType<typeof setTimeout> | undefined;
    // A second click confirms; no modal dialog to get in the way.
    b.addEventListener("click", () => {
      if (!armed) {
        b.textContent = "Confirm expire";
        b.classList.add("armed");
        armed = setTimeout(() => {
          armed = undefined;
          b.textContent = "Expire";
          b.classList.remove("armed");
        }, 5000);
        return;
      }
      clearTimeout(armed);
      b.disabled = true;
      act.expire(s);
    });
    actions.append(b);
  } else {
    const b = h("button", { type: "button", title: "a new silence with the same matchers" }, "Recreate");
    b.addEventListener("click", () => act.recreate(s));
    actions.append(b);
  }
  return h(
    "tr",
    { "data-testid": "silence-row", "data-id": s.id, "data-state": s.status.state, class: focus ? "focused" : "" },
    h("td", {}, stateBadge(s.status.state)),
    h("td", { class: "labels", title: `id ${s.id}` }, matcherChips(s.matchers)),
    h("td", { class: "time", title: formatTime(start) }, relTime(start)),
    h("td", { class: "time", title: formatTime(end) }, relTime(end)),
    h("td", {}, s.createdBy),
    h("td", { class: "comment" }, s.comment),
    h("td", { class: "num" }, s.status.state === "active" ? String(silenced) : ""),
    actions,
  );
}

interface FormEvents {
  created: (id: string) => void;
  cancel: () => void;
}

// SilenceForm edits a draft silence and shows the alerts it would
// silence now, as the Alertmanager matches them (its own filter), so a
// regular expression means the same here as when the silence applies.
class SilenceForm {
  el: HTMLElement;
  private rows = h("div", { class: "matcher-rows" });
  private start = h("input", { type: "datetime-local", name: "start", "aria-label": "starts at" });
  private duration = h("input", { type: "text", name: "duration", size: "10", "aria-label": "duration", "data-testid": "silence-duration" });
  private end = h("input", { type: "datetime-local", name: "end", "aria-label": "ends at", "data-testid": "silence-end" });
  private createdBy = h("input", { type: "text", name: "createdBy", size: "24", "aria-label": "created by", placeholder: "your name or e-mail", "data-testid": "silence-created-by" });
  private comment = h("textarea", { name: "comment", rows: "2", "aria-label": "comment", placeholder: "why, and a ticket link", "data-testid": "silence-comment" });
  private preview = h("div", { class: "silence-preview", "data-testid": "silence-preview", "data-count": "0" });
  private error = h("div");
  private submit = h("button", { type: "submit", class: "primary", "data-testid": "silence-submit" }, "Create silence");
  // Which of duration and end the user set last: it decides the end.
  private endFrom: "duration" | "end" = "duration";
  private ctrl = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    ms: Matcher[],
    private on: FormEvents,
  ) {
    const add = h("button", { type: "button" }, "+ Matcher");
    add.addEventListener("click", () => this.addRow().focus());
    const cancel = h("button", { type: "button" }, "Cancel");
    cancel.addEventListener("click", () => on.cancel());
    const now = Date.now();
    this.start.value = toLocalInput(now);
    this.duration.value = "2h";
    this.end.value = toLocalInput(now + 2 * 3600_000);
    this.createdBy.value = remember();
    const field = (label: string, ...c: (Node | string)[]) => h("label", { class: "field" }, h("span", { class: "field-label" }, label), ...c);
    const form = h(
      "form",
      { class: "panel silence-form", "data-testid": "silence-form" },
      h("h2", {}, "New silence"),
      h("div", { class: "field-label" }, "Matchers (all must match)"),
      this.rows,
      h("div", {}, add),
      h("div", { class: "form-row" }, field("Starts", this.start), field("Duration", this.duration), field("Ends", this.end)),
      h("div", { class: "form-row" }, field("Created by", this.createdBy), field("Comment", this.comment)),
      this.error,
      h("div", { class: "form-actions" }, this.submit, cancel),
      h("h2", { class: "section-title" }, "Alerts this silence would match now"),
      this.preview,
    );
    this.el = form;
    for (const m of ms) this.addRow(m);
    if (!ms.length) this.addRow();
    this.duration.addEventListener("input", () => {
      this.endFrom = "duration";
      const d = parseDuration(this.duration.value);
      this.duration.classList.toggle("invalid", !(d > 0));
      if (d > 0) this.end.value = toLocalInput(this.startMs() + d * 1000);
    });
    this.end.addEventListener("input", () => {
      this.endFrom = "end";
      const e = new Date(this.end.value).getTime();
      if (Number.isFinite(e)) this.duration.value = promDuration((e - this.startMs()) / 1000);
    });
    this.start.addEventListener("input", () => {
      const d = parseDuration(this.duration.value);
      if (this.endFrom === "duration" && d > 0) this.end.value = toLocalInput(this.startMs() + d * 1000);
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.save();
    });
    this.schedulePreview();
  }

  focus() {
    (this.rows.querySelector("input[name=value]") as HTMLInputElement | null)?.focus();
  }

  close() {
    this.ctrl.abort();
    clearTimeout(this.timer);
  }

  private startMs(): number {
    const t = new Date(this.start.value).getTime();
    return Number.isFinite(t) ? t : Date.now();
  }

  private addRow(m: Matcher = { name: "", value: "", isRegex: false, isEqual: true }): HTMLInputElement {
    const name = h("input", { type: "text", name: "name", size: "16", placeholder: "label", "aria-label": "label name", spellcheck: "false" });
    name.value = m.name;
    const op = h("select", { name: "op", "aria-label": "operator" }, ...["=", "!=", "=~", "!~"].map((o) => h("option", { value: o }, o)));
    op.value = operator(m);
    const value = h("input", { type: "text", name: "value", size: "28", placeholder: "value", "aria-label": "label value", spellcheck: "false" });
    value.value = m.value;
    const rm = h("button", { type: "button", class: "icon", title: "remove matcher", "aria-label": "remove matcher" }, "×");
    const row = h("div", { class: "matcher-row", "data-testid": "silence-matcher" }, name, op, value, rm);
    rm.addEventListener("click", () => {
      row.remove();
      this.schedulePreview();
    });
    for (const el of [name, op, value]) el.addEventListener("input", () => this.schedulePreview());
    this.rows.append(row);
    return name;
  }

  private matchers(): Matcher[] {
    const out: Matcher[] = [];
    for (const row of this.rows.querySelectorAll(".matcher-row")) {
      const name = (row.querySelector("input[name=name]") as HTMLInputElement).value.trim();
      const op = (row.querySelector("select[name=op]") as HTMLSelectElement).value;
      const value = (row.querySelector("input[name=value]") as HTMLInputElement).value;
      if (!name && !value) continue;
      if (!name) throw new Error(`a matcher with value ${JSON.stringify(value)} has no label name`);
      out.push({ name, value, isRegex: op.includes("~"), isEqual: !op.startsWith("!") });
    }
    return out;
  }

  private schedulePreview() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.runPreview(), 250);
  }

  private async runPreview() {
    this.ctrl.abort();
    this.ctrl = new AbortController();
    let ms: Matcher[];
    try {
      ms = this.matchers();
    } catch (e) {
      this.preview.replaceChildren(h("p", { class: "info" }, (e as Error).message));
      return;
    }
    if (!ms.length) {
      this.preview.dataset.count = "0";
      this.preview.replaceChildren(h("p", { class: "info" }, "Add a matcher to see the alerts it matches."));
      return;
    }
    try {
      const alerts = (await amAlerts(ms, this.ctrl.signal)) ?? [];
      this.preview.dataset.count = String(alerts.length);
      if (!alerts.length) {
        this.preview.replaceChildren(h("p", { class: "info" }, "No current alert matches: the silence will apply to alerts that match later."));
        return;
      }
      this.preview.replaceChildren(
        h("p", { class: "info" }, `${alerts.length} alert${alerts.length === 1 ? "" : "s"}:`),
        h(
          "ul",
          { class: "preview-list" },
          ...alerts
            .slice(0, 50)
            .map((a) =>
              h(
                "li",
                { "data-alertname": a.labels.alertname ?? "" },
                stateBadge(a.status.state === "suppressed" ? "silenced" : "firing", a.status.state === "suppressed" ? "held" : "active"),
                " ",
                h("strong", {}, a.labels.alertname ?? ""),
                " ",
                chips(a.labels),
              ),
            ),
        ),
      );
    } catch (e) {
      if ((e as Error).name === "AbortError") return;
      this.preview.dataset.count = "0";
      this.preview.replaceChildren(errorBox(e as APIError));
    }
  }

  private async save() {
    this.error.replaceChildren();
    const fail = (msg: string) => this.error.replaceChildren(errorBox(new APIError(0, "bad_data", msg)));
    let ms: Matcher[];
    try {
      ms = this.matchers();
    } catch (e) {
      return fail((e as Error).message);
    }
    if (!ms.length) return fail("a silence needs at least one matcher");
    // A start up to a minute ahead is "now" (the form shows minutes).
    let start = this.startMs();
    const now = Date.now();
    if (start < now + 60_000) start = now;
    let end: number;
    if (this.endFrom === "duration") {
      const d = parseDuration(this.duration.value);
      if (!(d > 0)) return fail(`duration ${JSON.stringify(this.duration.value)} is not a duration such as 2h or 1d12h`);
      end = start + d * 1000;
    } else end = new Date(this.end.value).getTime();
    if (!Number.isFinite(end) || end <= start) return fail("the silence must end after it starts");
    const createdBy = this.createdBy.value.trim();
    const comment = this.comment.value.trim();
    if (!createdBy) return fail("say who creates the silence (Created by)");
    if (!comment) return fail("say why (Comment): Alertmanager requires one");
    this.submit.disabled = true;
    try {
      const r = await createSilence({ matchers: ms, startsAt: new Date(start).toISOString(), endsAt: new Date(end).toISOString(), createdBy, comment });
      try {
        localStorage.setItem(CREATOR_KEY, createdBy);
      } catch {
        // Private windows may refuse storage; the name is only a default.
      }
      this.close();
      this.on.created(r.silenceID);
    } catch (e) {
      this.error.replaceChildren(errorBox(e as APIError));
    } finally {
      this.submit.disabled = false;
    }
  }
}
