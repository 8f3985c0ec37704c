// Usage: node anomalies.mjs <baseURL> <t0>
// Checks Vigil's anomalies page in headless Chromium against the server
// TestAnomaliesUI started: anomaly rule E2ESynthetic watches one series
// (no labels), a daily sine that steps up by 400 at Unix time <t0>; the
// step has been scored an anomaly and the rule's alert fires. The rule
// carries label team="<img src=x onerror=window.__xss=1>", which must
// show as text. The built-in rules watch nothing. Fails (exit 1) on any
// console or page error, or when a page does not show what it should.
// SCREENSHOT_DIR, when set, receives screenshots. CHROMIUM overrides
// /usr/bin/chromium.
import { openBrowser, expect } from "./browser.mjs";

const [base, t0Arg] = process.argv.slice(2);
const t0 = Number(t0Arg);
if (!base || !Number.isFinite(t0)) {
  console.error("usage: node anomalies.mjs <baseURL> <t0>");
  process.exit(2);
}
const RULE = "E2ESynthetic";
const MISSING = "E2ENoSuchRule";
const { page, problems, step, shot, close, report } = await openBrowser();
const tid = (id) => `[data-testid="${id}"]`;
const card = `${tid("anomalies-list")} ${tid("anomaly-rule")}[data-rule="${RULE}"]`;
const chart = `${card} ${tid("anomaly-chart")}`;
const num = (sel, attr) => page.$eval(sel, (e, a) => Number(e.getAttribute(a) ?? NaN), attr);

// waitChart waits until the rule's chart has drawn its anomaly marker.
const waitChart = () =>
  page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.anomalies ?? 0) >= 1, chart, { timeout: 20_000 });

try {
  await step("anomalies: the rule's card is listed first with its settings, the built-in rules collapsed", async () => {
    await page.goto(base + "/anomalies", { waitUntil: "load" });
    await page.waitForSelector(card, { timeout: 20_000 });
    expect((await page.inputValue(tid("anomalies-range"))) === "6h", "the range does not default to the last 6 hours");
    const count = await num(tid("anomalies-list"), "data-count");
    const idle = await num(tid("anomalies-idle"), "data-count");
    expect(idle >= 1 && count === idle + 1, `data-count ${count}, ${idle} rules watching nothing: want those and ${RULE}`);
    expect(!(await page.$eval(tid("anomalies-idle"), (e) => e.open)), "the rules watching nothing are not collapsed");
    expect(await page.isHidden(`${tid("anomalies-idle")} ${tid("anomaly-rule")}`), "a rule watching nothing is shown open");
    const first = await page.$eval(`${tid("anomalies-list")} > ${tid("anomaly-rule")}`, (e) => e.dataset.rule);
    expect(first === RULE, `the first card is ${first}, want the rule with the anomalous series`);
    expect((await page.getAttribute(card, "data-series")) === "1", "the card does not count one series");
    const text = await page.textContent(card);
    for (const want of ["vector(time()) > bool", "direction", "both", "seasonality", "auto", "time zone", "UTC", "threshold", "0.48", "hold-off", "5m", "min history", "1h"])
      expect(text.includes(want), `the card does not show ${JSON.stringify(want)}: ${JSON.stringify(text.slice(0, 600))}`);
    // The rule's label is user data holding markup: it must show as text.
    expect(text.includes("team=<img src=x onerror=window.__xss=1>"), "the rule's label is not shown literally");
    expect((await page.$(`${card} img`)) === null, "the label's markup became an element");
    expect(!(await page.evaluate(() => window.__xss)), "the label's markup ran");
    await page.waitForSelector(`${chart} canvas`, { timeout: 10_000 });
    // The step is one anomalous point at the rule's 1s interval; over 6
    // hours the chart's step is 36s, and the marker must not fall
    // between two of them.
    await waitChart();
  });
  await shot("anomalies");

  await step("anomalies: ?rule and ?range open one rule; its chart has the lines, the band and a marker on the step", async () => {
    await page.goto(`${base}/anomalies?rule=${RULE}&range=5m`, { waitUntil: "load" });
    await page.waitForSelector(card, { timeout: 20_000 });
    expect((await num(tid("anomalies-list"), "data-count")) === 1, "?rule does not keep to one rule");
    expect((await page.inputValue(tid("anomalies-range"))) === "5m", "the range is not the URL's");
    await waitChart();
    const points = await num(chart, "data-points");
    const band = await num(chart, "data-band-points");
    const anomalies = await num(chart, "data-anomalies");
    // Four lines (observed, expected, upper, lower), a point a second
    // since the rule's first evaluation, some seconds before the step.
    expect(band >= 5, `data-band-points ${band}`);
    expect(points >= 4 * band, `data-points ${points} for ${band} band points: not four lines`);
    expect((await num(chart, "data-expected-outside")) === 0, "the expected line leaves the band");
    const markers = await page.$$(`${chart} ${tid("anomaly-marker")}`);
    expect(markers.length === anomalies, `${markers.length} marker elements, data-anomalies ${anomalies}`);
    // The step is one anomalous point; after it the hold-off keeps the
    // score under the threshold.
    const ts = await page.$$eval(`${chart} ${tid("anomaly-marker")}`, (els) => els.map((e) => Number(e.dataset.t)));
    expect(
      ts.some((t) => t >= t0),
      `no marker at or after the step at ${t0}: markers at ${JSON.stringify(ts)}`,
    );
    // The marker is drawn on the chart, at the observed value after the
    // step (about 100 + 400).
    const after = `${chart} ${tid("anomaly-marker")}[data-t="${ts.find((t) => t >= t0)}"]`;
    const v = Number(await page.getAttribute(after, "data-v"));
    expect(v > 400 && v < 600, `the marker's value is ${v}, want the stepped-up value`);
    expect(await page.isVisible(after), "the marker after the step is not visible");
    const [mb, cb] = [await page.$eval(after, (e) => e.getBoundingClientRect().toJSON()), await page.$eval(`${chart} canvas`, (e) => e.getBoundingClientRect().toJSON())];
    expect(mb.width > 0 && mb.left >= cb.left && mb.right <= cb.right + 6 && mb.top >= cb.top - 6 && mb.bottom <= cb.bottom + 6, `marker at ${JSON.stringify(mb)}, canvas at ${JSON.stringify(cb)}`);
    expect((await page.getAttribute(after, "title")).includes("anomaly at"), "the marker has no title");
    const legend = await page.textContent(`${chart} .u-legend`);
    for (const l of ["observed", "expected", "upper", "lower"]) expect(legend.includes(l), `the legend lacks ${l}: ${JSON.stringify(legend)}`);
  });
  await shot("anomalies-rule");

  await step("anomalies: the series is shown as anomalous, with its band and last anomaly", async () => {
    const series = `${card} ${tid("anomaly-series")}`;
    // Anomalous while the value stays outside its band (seconds here: the
    // detector takes the new level in quickly), then a recent anomaly.
    const state = await page.getAttribute(series, "data-state");
    expect(state === "anomalous" || state === "recent", `the series is ${state}`);
    const badge = await page.textContent(`${series} .state-badge`);
    expect(/anomal/.test(badge), `the badge says ${JSON.stringify(badge)}`);
    const text = await page.textContent(series);
    expect(/last anomaly .*(ago|now)/.test(text) && text.includes("season daily") && text.includes("(no labels)"), `the series shows ${JSON.stringify(text)}`);
  });

  await step("anomalies: the range picker keeps the rule and puts the range in the URL", async () => {
    await page.selectOption(tid("anomalies-range"), "15m");
    await page.waitForFunction(() => new URL(location.href).searchParams.get("range") === "15m", null, { timeout: 5_000 });
    expect(new URL(page.url()).searchParams.get("rule") === RULE, `the rule left the URL: ${page.url()}`);
    await waitChart();
  });

  await step("alerts: the rule's alert fires and links to its charts", async () => {
    await page.goto(base + "/alerts", { waitUntil: "load" });
    const row = `${tid("alerts-list")} ${tid("alert-row")}[data-alertname="${RULE}"]`;
    await page.waitForSelector(row, { timeout: 20_000 });
    expect((await page.getAttribute(row, "data-state")) === "firing", "the alert is not firing");
    const link = `${row} ${tid("alert-anomaly-link")}`;
    expect((await page.getAttribute(link, "href")) === `/anomalies?rule=${RULE}`, "the link does not open the rule");
    await page.click(link);
    await page.waitForSelector(card, { timeout: 20_000 });
    const u = new URL(page.url());
    expect(u.pathname === "/anomalies" && u.searchParams.get("rule") === RULE, `the link opened ${page.url()}`);
    expect((await num(tid("anomalies-list"), "data-count")) === 1, "the linked page shows more than the rule");
    await waitChart();
    expect(await page.$eval('nav a[href="/anomalies"]', (a) => a.classList.contains("active")), "the nav does not mark Anomalies");
  });

  await step("anomalies: an unknown rule is an error, not an empty page", async () => {
    await page.goto(`${base}/anomalies?rule=${MISSING}`, { waitUntil: "load" });
    await page.waitForSelector(`${tid("anomalies-error")} .error`, { timeout: 10_000 });
    const text = await page.textContent(tid("anomalies-error"));
    expect(text.includes(`no anomaly rule named "${MISSING}"`), `the error says ${JSON.stringify(text)}`);
    // The browser logs the 404 itself; that one is expected.
    for (let i = problems.length - 1; i >= 0; i--) if (problems[i].includes(`rule=${MISSING}`) && problems[i].includes("404")) problems.splice(i, 1);
  });
} finally {
  await close();
}
report("anomalies UI check");
