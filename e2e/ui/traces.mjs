// Usage: node traces.mjs <baseURL> <traceID> <linkedTraceID>
// Checks Vigil's trace pages in headless Chromium against the trace that
// TestTraceUIInChromium sent (six spans in services frontend and payments,
// one error span with an exception event, one orphan, one link to a trace
// that is not stored). Fails (exit 1) on any console or page error, or
// when a page does not show what it should. SCREENSHOT_DIR, when set,
// receives screenshots. CHROMIUM overrides /usr/bin/chromium.
import { openBrowser, expect } from "./browser.mjs";

const [base, traceID, linkedID] = process.argv.slice(2);
if (!base || !traceID || !linkedID) {
  console.error("usage: node traces.mjs <baseURL> <traceID> <linkedTraceID>");
  process.exit(2);
}
const SPANS = 6;
const { page, problems, step, shot, close, report } = await openBrowser();
const row = `tr.trace-row[data-trace-id="${traceID}"]`;

try {
  await step("nav has Traces and Service map", async () => {
    await page.goto(base + "/", { waitUntil: "load" });
    await page.waitForSelector("nav >> text=Traces", { timeout: 10_000 });
    await page.waitForSelector("nav >> text=Service map", { timeout: 10_000 });
  });

  await step("traces: services and operations fill the selects", async () => {
    await page.goto(base + "/traces", { waitUntil: "load" });
    await page.waitForSelector('select[name=service] option[value="payments"]', { state: "attached", timeout: 10_000 });
    await page.selectOption("select[name=service]", "payments");
    await page.waitForSelector('select[name=operation] option[value="POST /pay"]', { state: "attached", timeout: 10_000 });
    await page.selectOption("select[name=operation]", "POST /pay");
    await page.selectOption("select[name=status]", "error");
  });
  await step("traces: the search finds the trace", async () => {
    await page.click("form.trace-search button[type=submit]");
    await page.waitForSelector(row, { timeout: 15_000 });
    const url = new URL(page.url());
    expect(url.searchParams.get("service") === "payments" && url.searchParams.get("status") === "error", `search not in the URL: ${url.search}`);
    const text = await page.textContent(row);
    expect(text.includes(traceID.slice(0, 8)) && text.includes("frontend") && text.includes("GET /checkout"), `row shows ${JSON.stringify(text)}`);
    const errors = await page.textContent(`${row} .error-badge`);
    expect(Number(errors) >= 1, `error badge ${JSON.stringify(errors)}`);
    const width = await page.$eval(`${row} .dur-bar`, (e) => e.getBoundingClientRect().width);
    expect(width > 0, "duration bar has no width");
  });
  await shot("traces");
  await step("traces: a reload restores the search", async () => {
    await page.reload({ waitUntil: "load" });
    await page.waitForSelector(row, { timeout: 15_000 });
    expect((await page.inputValue("select[name=service]")) === "payments", "service select not restored");
    expect((await page.inputValue("select[name=status]")) === "error", "status select not restored");
  });
  await step("traces: a search with no match says so", async () => {
    await page.fill("input[name=minDuration]", "1h");
    await page.click("form.trace-search button[type=submit]");
    await page.waitForSelector("#trace-results .empty-state", { timeout: 15_000 });
  });

  await step("trace: the result opens the waterfall with every span", async () => {
    await page.goBack({ waitUntil: "load" });
    await page.waitForSelector(row, { timeout: 15_000 });
    await page.click(`${row} a.trace-id`);
    await page.waitForURL(`**/trace/${traceID}`, { timeout: 10_000 });
    await page.waitForFunction((n) => document.querySelectorAll(".waterfall .span-row").length === n, SPANS, { timeout: 15_000 });
    expect((await page.textContent("#span-count")) === String(SPANS), "header span count");
    const names = await page.$$eval(".span-row .op", (els) => els.map((e) => e.textContent));
    for (const n of ["GET /checkout", "render", "POST /pay", "SELECT cards", "retry"]) expect(names.includes(n), `no row for ${n}: ${names}`);
    expect((await page.$$(".span-row.has-error")).length === 1, "the error span is not marked");
  });
  await shot("trace-waterfall");
  await step("trace: rows collapse and expand", async () => {
    await page.click(".waterfall .span-row >> nth=0 >> button.twisty");
    // The root's four descendants hide; the orphan stays.
    await page.waitForFunction(() => document.querySelectorAll(".waterfall .span-row").length === 2, null, { timeout: 5_000 });
    await page.click(".waterfall .span-row >> nth=0 >> button.twisty");
    await page.waitForFunction((n) => document.querySelectorAll(".waterfall .span-row").length === n, SPANS, { timeout: 5_000 });
  });
  await step("trace: span details show the exception", async () => {
    await page.click(".span-row.has-error");
    await page.waitForSelector(".span-details .exception-message", { timeout: 5_000 });
    const msg = await page.textContent(".span-details .exception-message");
    expect(msg.includes("CardDeclined") && msg.includes("card 4242 declined by issuer"), `exception shows ${JSON.stringify(msg)}`);
    expect((await page.textContent(".span-details pre.stacktrace")).includes("pay.py"), "no stack trace");
    expect((await page.textContent(".span-details")).includes("card declined"), "no status message");
    expect(new URL(page.url()).searchParams.get("span"), "selected span not in the URL");
  });
  await shot("trace-details");
  await step("trace: the flame graph renders and selects", async () => {
    await page.click("button.tab[data-view=flame]");
    await page.waitForFunction((n) => document.querySelectorAll("#flame-graph .flame-span").length === n, SPANS, { timeout: 5_000 });
    const box = await page.$eval("#flame-graph .flame-span", (e) => e.getBoundingClientRect().width);
    expect(box > 100, `root span is ${box}px wide`);
    await page.click('#flame-graph .flame-span:has-text("SELECT cards")');
    await page.waitForFunction(() => /SELECT cards/.test(document.querySelector(".span-details h2")?.textContent ?? ""), null, { timeout: 5_000 });
  });
  await shot("trace-flame");
  await step("trace: a link opens its trace, which is not stored", async () => {
    await page.click("button.tab[data-view=waterfall]");
    await page.click('.span-row:has-text("render")');
    await page.click(`.span-details .link a[href^="/trace/${linkedID}"]`);
    await page.waitForSelector("#trace-not-found", { timeout: 10_000 });
    expect((await page.textContent("h1")) === "Trace not found", "no not-found heading");
    // The 404 is the API's answer, not a UI bug.
    for (let i = problems.length - 1; i >= 0; i--) if (/status of 404/.test(problems[i])) problems.splice(i, 1);
  });

  await step("service map: shows the frontend -> payments edge", async () => {
    await page.goto(base + "/service-map", { waitUntil: "load" });
    const edge = 'g.edge[data-edge="frontend->payments"]';
    for (let i = 0; ; i++) {
      if (await page.$(edge)) break;
      if (i === 30) throw new Error("no edge after 60s");
      await page.waitForTimeout(2000);
      await page.click("button:has-text('Refresh')");
    }
    const label = await page.textContent(`${edge} text`);
    expect(/req\/s/.test(label) && /% err/.test(label), `edge label ${JSON.stringify(label)}`);
    await page.waitForSelector('g.node[data-service="frontend"]', { timeout: 5_000 });
    const [a, b] = await Promise.all(["frontend", "payments"].map((s) => page.$eval(`g.node[data-service="${s}"] rect`, (e) => e.getBoundingClientRect().x)));
    expect(a < b, `caller frontend (x=${a}) is not left of payments (x=${b})`);
  });
  await shot("service-map");
  await step("service map: a node opens its traces", async () => {
    await page.click('g.node[data-service="payments"]');
    await page.waitForURL((u) => u.pathname === "/traces" && u.searchParams.get("service") === "payments", { timeout: 10_000 });
    await page.waitForSelector(row, { timeout: 15_000 });
  });
  await step("explore: an exemplar of the span-latency histogram opens its trace", async () => {
    const q = encodeURIComponent('traces_spanmetrics_latency_bucket{service="payments"}');
    await page.goto(`${base}/explore?q=${q}&range=1h&tab=graph`, { waitUntil: "load" });
    const link = "#explore-exemplars tr.exemplar a.trace-id";
    await page.waitForSelector(link, { timeout: 30_000 });
    const id = await page.textContent(`${link} >> nth=0`);
    expect(/^[0-9a-f]{32}$/.test(id), `exemplar trace id ${JSON.stringify(id)}`);
    await page.click(`${link} >> nth=0`);
    await page.waitForURL(`**/trace/${id}`, { timeout: 10_000 });
    await page.waitForSelector(".waterfall .span-row", { timeout: 15_000 });
  });
} finally {
  await close();
}
report("trace UI check");
