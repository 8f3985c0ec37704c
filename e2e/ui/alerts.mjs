// Usage: node alerts.mjs <baseURL>
// Checks Vigil's alerting pages in headless Chromium against the server
// TestAlertsUI started: rule alert E2EAlwaysFiring fires (its summary
// holds markup that must show as text), E2EPendingLong is pending for an
// hour, SLO e2e-availability is compiled from the rules' e2e:* counters,
// and action e2e-remediate (dry run) matches the firing alert. The script
// silences the firing alert from its row, sees it silenced, expires the
// silence, and reads the history, SLO and action pages. Fails (exit 1) on
// any console or page error, or when a page does not show what it should.
// SCREENSHOT_DIR, when set, receives screenshots. CHROMIUM overrides
// /usr/bin/chromium.
import { openBrowser, expect } from "./browser.mjs";

const [base] = process.argv.slice(2);
if (!base) {
  console.error("usage: node alerts.mjs <baseURL>");
  process.exit(2);
}
const FIRING = "E2EAlwaysFiring";
const PENDING = "E2EPendingLong";
const { page, step, shot, close, report } = await openBrowser();
const tid = (id) => `[data-testid="${id}"]`;
const row = (name) => `${tid("alerts-list")} ${tid("alert-row")}[data-alertname="${name}"]`;
const count = (sel) => page.$eval(sel, (e) => Number(e.dataset.count ?? -1));

// waitHistory waits until the history API has an event of the firing
// alert in state.
const waitHistory = async (state) => {
  const p = new URLSearchParams({ "match[]": `{alertname="${FIRING}"}`, state, start: String(Date.now() / 1000 - 3600) });
  for (let i = 0; i < 60; i++) {
    const res = await fetch(`${base}/api/v1/alerts/history?${p}`);
    const body = await res.json();
    if (body.status !== "success") throw new Error(`history API: ${JSON.stringify(body)}`);
    if (body.data.length) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no ${state} event of ${FIRING} in the history after 15s`);
};

try {
  await step("alerts: the firing alert is listed with its labels, its summary as text, and the nav badge", async () => {
    await page.goto(base + "/alerts", { waitUntil: "load" });
    await page.waitForSelector(row(FIRING), { timeout: 20_000 });
    expect((await page.getAttribute(row(FIRING), "data-state")) === "firing", "the alert's row is not in state firing");
    const text = await page.textContent(row(FIRING));
    expect(text.includes("severity=page") && text.includes("team=e2e"), `labels not shown as chips: ${JSON.stringify(text)}`);
    // The summary is user data holding markup: it must show as text.
    expect(text.includes("<img src=x onerror=window.__xss=1>"), `summary not shown literally: ${JSON.stringify(text)}`);
    expect((await page.$(`${row(FIRING)} img`)) === null, "the summary's markup became an element");
    expect(!(await page.evaluate(() => window.__xss)), "the summary's markup ran");
    expect(/ago|now/.test(await page.textContent(`${row(FIRING)} td.time`)), "no relative time in the row");
    expect(!(await page.$(row(PENDING))), "the pending alert is listed as firing");
    await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.count ?? 0) >= 1, tid("nav-firing"), { timeout: 40_000 });
  });
  await shot("alerts-firing");

  await step("alerts: the pending alert is on the Pending tab", async () => {
    await page.click(tid("alerts-tab-pending"));
    await page.waitForSelector(row(PENDING), { timeout: 10_000 });
    expect((await page.getAttribute(row(PENDING), "data-state")) === "pending", "the row is not pending");
    expect(new URL(page.url()).searchParams.get("tab") === "pending", `tab not in the URL: ${page.url()}`);
  });
  await shot("alerts-pending");

  await step("alerts: the label filter narrows the list", async () => {
    await page.click(tid("alerts-tab-firing"));
    await page.waitForSelector(row(FIRING), { timeout: 10_000 });
    await page.fill(tid("alerts-filter"), 'severity="ticket"');
    await page.press(tid("alerts-filter"), "Enter");
    await page.waitForSelector(`${tid("alerts-list")} .empty-state`, { timeout: 10_000 });
    expect(/No alerts firing match/.test(await page.textContent(tid("alerts-list"))), "no empty state for a filter that matches nothing");
    await page.fill(tid("alerts-filter"), 'team=~"e2.*"');
    await page.press(tid("alerts-filter"), "Enter");
    await page.waitForSelector(row(FIRING), { timeout: 10_000 });
    await page.fill(tid("alerts-filter"), "");
    await page.press(tid("alerts-filter"), "Enter");
  });

  let silenceID = "";
  await step("silences: the alert's Silence button opens a form with its labels, and creates the silence", async () => {
    await page.click(`${row(FIRING)} ${tid("alert-silence")}`);
    await page.waitForSelector(tid("silence-form"), { timeout: 10_000 });
    expect(new URL(page.url()).pathname === "/silences", `not on the silences page: ${page.url()}`);
    const ms = await page.$$eval(`${tid("silence-matcher")}`, (rows) =>
      rows.map((r) => `${r.querySelector("input[name=name]").value}${r.querySelector("select[name=op]").value}${r.querySelector("input[name=value]").value}`),
    );
    for (const want of [`alertname=${FIRING}`, "severity=page", "team=e2e"]) expect(ms.includes(want), `matchers ${JSON.stringify(ms)} lack ${want}`);
    // The preview: what the Alertmanager says the draft matches.
    await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.count ?? 0) === 1, tid("silence-preview"), { timeout: 10_000 });
    expect((await page.textContent(tid("silence-preview"))).includes(FIRING), "the preview does not name the alert");
    await page.fill(tid("silence-duration"), "1h");
    await page.fill(tid("silence-created-by"), "e2e");
    await page.fill(tid("silence-comment"), "browser check");
    await shot("silence-form");
    await page.click(tid("silence-submit"));
    const created = `${tid("silences-list")} ${tid("silence-row")}[data-state="active"]`;
    await page.waitForSelector(created, { timeout: 10_000 });
    silenceID = await page.getAttribute(created, "data-id");
    const text = await page.textContent(created);
    expect(text.includes(`alertname=${FIRING}`) && text.includes("e2e") && text.includes("browser check"), `row shows ${JSON.stringify(text)}`);
    expect(/in 59m|in 1h/.test(text), `the silence does not end in an hour: ${JSON.stringify(text)}`);
    expect((await page.getAttribute(tid("silences-tab-active"), "data-count")) === "1", "the Active tab does not count it");
  });
  await shot("silences");

  await step("alerts: the silenced alert moves to the Silenced tab", async () => {
    await page.goto(base + "/alerts?tab=silenced", { waitUntil: "load" });
    await page.waitForSelector(`${row(FIRING)}[data-state="silenced"]`, { timeout: 25_000 });
    const link = await page.getAttribute(`${row(FIRING)} a.silence-link`, "href");
    expect(link.includes(silenceID), `row links ${link}, want silence ${silenceID}`);
    expect((await page.getAttribute(tid("alerts-tab-firing"), "data-count")) === "0", "the Firing tab still counts the silenced alert");
    expect(await page.isHidden(tid("nav-firing")), "the nav's badge still counts the silenced alert");
    // The history records silences on a one-second tick: the silence
    // stays until it has, so the timeline has something to draw.
    await waitHistory("silenced");
  });
  await shot("alerts-silenced");

  await step("silences: expiring the silence (two clicks) moves it to Expired", async () => {
    await page.goto(base + "/silences", { waitUntil: "load" });
    const r = `${tid("silence-row")}[data-id="${silenceID}"]`;
    await page.waitForSelector(r, { timeout: 10_000 });
    await page.click(`${r} ${tid("silence-expire")}`);
    expect((await page.textContent(`${r} ${tid("silence-expire")}`)).includes("Confirm"), "the first click does not ask to confirm");
    await page.click(`${r} ${tid("silence-expire")}`);
    await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.count === "0", tid("silences-tab-active"), { timeout: 10_000 });
    expect((await page.getAttribute(tid("silences-tab-expired"), "data-count")) === "1", "the Expired tab does not count it");
    await page.click(tid("silences-tab-expired"));
    await page.waitForSelector(`${r}[data-state="expired"]`, { timeout: 5_000 });
  });

  await step("alerts: after the silence expires the alert fires again", async () => {
    await page.goto(base + "/alerts", { waitUntil: "load" });
    await page.waitForSelector(`${row(FIRING)}[data-state="firing"]`, { timeout: 25_000 });
  });

  await step("history: the timeline draws the alert firing and silenced, and the table lists the events", async () => {
    const lane = `${tid("history-lane")}[data-alertname="${FIRING}"]`;
    // The end of the silence is recorded on a tick too.
    await waitHistory("unsilenced");
    await page.goto(base + "/alerts?tab=history&range=15m", { waitUntil: "load" });
    await page.waitForSelector(lane, { timeout: 15_000 });
    await page.waitForSelector(`${tid("history-event")}[data-state="unsilenced"]`, { timeout: 15_000 });
    const segs = await page.$$eval(`${tid("history-lane")}`, (els) =>
      els.map((l) => `${l.dataset.alertname}: ${[...l.querySelectorAll("[data-testid=history-segment]")].map((s) => `${s.dataset.state} ${s.title}`).join("; ")}`),
    );
    const evs = await page.$$eval(tid("history-event"), (els) => els.map((e) => `${e.dataset.state} ${e.dataset.fingerprint} ${e.querySelector("td").textContent}`));
    for (const s of ["firing", "silenced"]) {
      expect(await page.$(`${lane} ${tid("history-segment")}[data-state="${s}"]`), `no ${s} segment in the lane; lanes ${JSON.stringify(segs)}; events ${JSON.stringify(evs)}`);
      expect(await page.$(`${tid("history-event")}[data-state="${s}"]`), `no ${s} event in the table`);
    }
    expect(await page.$(`${tid("history-event")}[data-state="unsilenced"]`), "no unsilenced event after the silence expired");
    expect(await page.$(`${lane} ${tid("history-marker")}[data-state="notified"]`), "no notification marker (the webhook receiver was notified)");
    const pendingLane = `${tid("history-lane")}[data-alertname="${PENDING}"]`;
    expect(await page.$(`${pendingLane} ${tid("history-segment")}[data-state="pending"]`), "no pending segment for the pending alert");
    // A silenced stretch is drawn inside the window, not past its end.
    const box = await page.$eval(`${lane} ${tid("history-segment")}[data-state="silenced"]`, (e) => ({ l: parseFloat(e.style.left), w: e.getBoundingClientRect().width }));
    expect(box.l >= 0 && box.l <= 100 && box.w > 0, `silenced segment at ${JSON.stringify(box)}`);
    // A click on the lane shows only its events.
    const all = await count(tid("history-events"));
    await page.click(`${lane} .wf-name`);
    await page.waitForFunction(([sel, n]) => Number(document.querySelector(sel)?.dataset.count ?? -1) < n, [tid("history-events"), all], { timeout: 5_000 });
    const names = await page.$$eval(`${tid("history-event")} td.alert-name strong`, (els) => [...new Set(els.map((e) => e.textContent))]);
    expect(names.length === 1 && names[0] === FIRING, `filtered events name ${JSON.stringify(names)}`);
  });
  await shot("alerts-history");

  await step("slos: the SLO shows its objective, budget and burn rates, and a burn-down chart with data", async () => {
    const card = `${tid("slo-card")}[data-slo="e2e-availability"]`;
    // The SLO rules run every 30s: reload until the recorded budget
    // series has points.
    let points = 0;
    for (let i = 0; i < 20 && points === 0; i++) {
      if (i) await page.waitForTimeout(4000);
      await page.goto(base + "/slos", { waitUntil: "load" });
      await page.waitForSelector(card, { timeout: 15_000 });
      await page.waitForSelector(`${card} ${tid("slo-chart")} canvas`, { timeout: 10_000 });
      await page.waitForTimeout(1500);
      points = Number(await page.getAttribute(`${card} ${tid("slo-chart")}`, "data-points"));
    }
    expect(points > 0, "the burn-down chart has no points after a minute");
    const text = await page.textContent(card);
    expect(text.includes("90%") && text.includes("service=e2e"), `card shows ${JSON.stringify(text.slice(0, 300))}`);
    const rem = Number(await page.getAttribute(`${card} ${tid("slo-budget")}`, "data-value"));
    // Errors are 5% of requests (both counters grow linearly), against
    // a 10% budget: half of it is left.
    expect(Math.abs(rem - 0.5) < 0.05, `budget remaining ${rem}, want 0.5`);
    expect((await page.$$(`${card} ${tid("slo-burn")}`)).length >= 4, "fewer than four burn rates");
    expect((await page.$$(`${card} ${tid("slo-alert")}`)).length === 4, "not four burn alert conditions");
  });
  await shot("slos");

  await step("actions: the dry-run action and its audit record with the command it would run", async () => {
    await page.goto(base + "/actions", { waitUntil: "load" });
    await page.waitForSelector(`${tid("action-row")}[data-action="e2e-remediate"]`, { timeout: 10_000 });
    const rec = `${tid("audit-row")}[data-action="e2e-remediate"][data-outcome="dry_run"]`;
    await page.waitForSelector(rec, { timeout: 15_000 });
    expect((await page.textContent(rec)).includes("systemctl restart e2e"), "the record does not show the rendered command");
    await page.click(`${rec} td.target`);
    await page.waitForSelector(`${tid("audit-details")} ${tid("audit-output")}`, { timeout: 5_000 });
    expect((await page.textContent(tid("audit-details"))).includes("Dry run"), "the details do not say it was a dry run");
    // The outcome filter narrows the log.
    await page.selectOption(tid("audit-filter-outcome"), "failed");
    await page.waitForSelector(`${tid("audit-list")} .empty-state`, { timeout: 10_000 });
    expect(new URL(page.url()).searchParams.get("outcome") === "failed", `filter not in the URL: ${page.url()}`);
    await page.selectOption(tid("audit-filter-outcome"), "dry_run");
    await page.waitForSelector(rec, { timeout: 10_000 });
  });
  await shot("actions");
} finally {
  await close();
}
report("alerting UI check");
