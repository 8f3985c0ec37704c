// Usage: node logs.mjs <baseURL> <traceID>
// Checks Vigil's logs page and the trace page's Logs panel in headless
// Chromium against the lines TestLogsUIInChromium pushed: service webshop
// has five lines containing "checkout" (three info, two error) and two
// others; trace <traceID> has three lines carrying its id. This script
// pushes the live-tail lines itself (Loki push API). Fails (exit 1) on any
// console or page error, or when a page does not show what it should.
// SCREENSHOT_DIR, when set, receives screenshots. CHROMIUM overrides
// /usr/bin/chromium.
import { openBrowser, expect } from "./browser.mjs";

const [base, traceID] = process.argv.slice(2);
if (!base || !traceID) {
  console.error("usage: node logs.mjs <baseURL> <traceID>");
  process.exit(2);
}
const CHECKOUT_LINES = 5;
const TRACE_LINES = ["cart loaded items=3", "cart price changed", "prices computed for cart"];
const { page, problems, step, shot, close, report } = await openBrowser();
const tid = (id) => `[data-testid="${id}"]`;

// push sends lines of stream {service_name="webshop", level="info"} now.
const push = async (...lines) => {
  const t = BigInt(Date.now()) * 1000000n;
  const body = { streams: [{ stream: { service_name: "webshop", level: "info" }, values: lines.map((l, i) => [String(t + BigInt(i)), l]) }] };
  const res = await fetch(base + "/loki/api/v1/push", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (res.status !== 204) throw new Error(`push: ${res.status} ${await res.text()}`);
};

// run types a query into the box and runs it.
const run = async (q) => {
  await page.fill(tid("logs-query"), q);
  await page.click(tid("logs-run"));
};
const rowTexts = () => page.$$eval(`${tid("logs-results")} ${tid("log-row")}`, (els) => els.map((e) => e.textContent));

try {
  await step("logs: the page loads with its controls", async () => {
    await page.goto(base + "/logs", { waitUntil: "load" });
    for (const id of ["logs-query", "logs-run", "logs-histogram", "logs-results", "logs-live-toggle"]) {
      await page.waitForSelector(tid(id), { state: "attached", timeout: 10_000 });
    }
    await page.waitForSelector("nav >> text=Logs", { timeout: 10_000 });
  });

  await step("logs: a query shows the matching lines", async () => {
    await run('{service_name="webshop"} |= "checkout"');
    await page.waitForFunction(
      ([sel, n]) => Number(document.querySelector(sel)?.dataset.count ?? -1) === n,
      [tid("logs-results"), CHECKOUT_LINES],
      { timeout: 15_000 },
    );
    const texts = await rowTexts();
    expect(texts.length === CHECKOUT_LINES, `${texts.length} rows, want ${CHECKOUT_LINES}`);
    for (const t of texts) expect(t.includes("checkout"), `row ${JSON.stringify(t)} does not match the filter`);
    expect(!texts.some((t) => t.includes("cache warmed") || t.includes("health probe")), "a line the filter excludes is shown");
    const levels = await page.$$eval(`${tid("logs-results")} ${tid("log-row")}`, (els) => els.map((e) => e.dataset.level).sort());
    expect(JSON.stringify(levels) === JSON.stringify(["error", "error", "info", "info", "info"]), `row levels ${levels}`);
    // Newest first.
    const ts = await page.$$eval(`${tid("logs-results")} ${tid("log-row")}`, (els) => els.map((e) => BigInt(e.dataset.ts)));
    for (let i = 1; i < ts.length; i++) expect(ts[i - 1] >= ts[i], "rows are not newest first");
    const url = new URL(page.url());
    expect((url.searchParams.get("q") ?? "").includes("checkout"), `query not in the URL: ${url.search}`);
  });

  await step("logs: no 'Load older lines' when every line is shown", async () => {
    // Five lines of a page of 200: there is nothing older to load.
    const info = await page.textContent(".logs-toolbar .info");
    expect(!/older lines available/.test(info), `info says ${JSON.stringify(info)}`);
    expect(!(await page.isVisible("button.more")), "the 'Load older lines' button shows although every line is listed");
  });

  await step("logs: the histogram renders bars for the lines", async () => {
    const h = tid("logs-histogram");
    const read = () => page.$eval(h, (e) => ({ bars: Number(e.dataset.bars ?? 0), total: Number(e.dataset.total ?? 0) }));
    // The histogram loads beside the lines; wait for this query's count.
    try {
      await page.waitForFunction(([sel, n]) => Number(document.querySelector(sel)?.dataset.total ?? -1) === n, [h, CHECKOUT_LINES], { timeout: 15_000 });
    } catch {
      throw new Error(`histogram counts ${(await read()).total} lines, want ${CHECKOUT_LINES}`);
    }
    const { bars } = await read();
    expect(bars >= 2, `histogram has ${bars} bars, want several (lines span 7 minutes)`);
    const drawn = await page.$$eval(`${h} svg rect[class^="lvl-fill-"]`, (els) => els.filter((e) => Number(e.getAttribute("height")) > 0).length);
    expect(drawn >= bars, `${drawn} bar rectangles drawn for ${bars} bars`);
  });
  await shot("logs");

  await step("logs: a row opens to its fields", async () => {
    const row = `${tid("logs-results")} ${tid("log-row")}:has-text("checkout failed cart=3")`;
    await page.click(`${row} .log-line`);
    const fields = `${row} ${tid("log-row-fields")}`;
    await page.waitForSelector(fields, { timeout: 5_000 });
    const text = await page.textContent(fields);
    expect(text.includes("service_name") && text.includes("webshop"), `fields show ${JSON.stringify(text)}`);
    expect(text.includes("level") && text.includes("error"), `fields do not show the level: ${JSON.stringify(text)}`);
    // And it closes again.
    await page.click(`${row} .log-line`);
    await page.waitForSelector(fields, { state: "detached", timeout: 5_000 });
  });

  await step("logs: a trace line opens to its trace id", async () => {
    await run(`{service_name="webshop"} |= "cart loaded"`);
    const row = `${tid("logs-results")} ${tid("log-row")}:has-text("cart loaded")`;
    await page.waitForSelector(row, { timeout: 15_000 });
    await page.click(`${row} .log-line`);
    const fields = `${row} ${tid("log-row-fields")}`;
    await page.waitForSelector(fields, { timeout: 5_000 });
    const text = await page.textContent(fields);
    expect(text.includes(traceID), `fields do not show trace ${traceID}: ${JSON.stringify(text)}`);
  });

  await step("logs: a bad query shows its error in the page", async () => {
    const before = problems.length;
    await run('{service_name="webshop"');
    await page.waitForFunction((sel) => (document.querySelector(sel)?.textContent ?? "").trim().length > 0, tid("logs-error"), { timeout: 15_000 });
    const msg = await page.textContent(tid("logs-error"));
    expect(/parse error/.test(msg), `error shows ${JSON.stringify(msg)}`);
    // The 400 is the API's answer to the bad query, not a UI bug.
    for (let i = problems.length - 1; i >= before; i--) if (/status of 400/.test(problems[i])) problems.splice(i, 1);
  });
  await shot("logs-error");

  await step("logs: a good query clears the error", async () => {
    await run('{service_name="webshop"} |= "checkout"');
    await page.waitForFunction(
      ([sel, n]) => Number(document.querySelector(sel)?.dataset.count ?? -1) === n,
      [tid("logs-results"), CHECKOUT_LINES],
      { timeout: 15_000 },
    );
    const msg = (await page.textContent(tid("logs-error"))).trim();
    expect(msg === "", `error still shows ${JSON.stringify(msg)}`);
  });

  await step("logs: live tail shows new lines without a reload", async () => {
    await run('{service_name="webshop"} |= "live"');
    await page.waitForSelector(`${tid("logs-results")} .empty-state`, { timeout: 15_000 });
    // A reload would lose this mark.
    await page.evaluate(() => (window.__vigilNoReload = true));
    const frames = [];
    const opened = page.waitForEvent("websocket", { timeout: 15_000 });
    await page.click(tid("logs-live-toggle"));
    const ws = await opened;
    expect(ws.url().includes("/loki/api/v1/tail"), `websocket to ${ws.url()}`);
    ws.on("framereceived", (f) => frames.push(String(f.payload)));
    expect((await page.getAttribute(tid("logs-live-toggle"), "aria-pressed")) === "true", "the live switch is not on");

    // The first line arrives either in the tail's history or live; the
    // tail is subscribed by then, so the next ones can only come live.
    await push("live line one");
    await page.waitForSelector(`${tid("log-row")}:has-text("live line one")`, { timeout: 20_000 });
    await push("not tailed: no match");
    await push("live line two", "live line three");
    for (const l of ["live line two", "live line three"]) {
      await page.waitForSelector(`${tid("log-row")}:has-text("${l}")`, { timeout: 20_000 });
      expect(frames.some((f) => f.includes(l)), `"${l}" shown but not received on the tail socket`);
    }
    const texts = await rowTexts();
    expect(texts.length === 3, `${texts.length} rows while tailing, want 3: ${JSON.stringify(texts)}`);
    expect(texts[0].includes("live line three") || texts[0].includes("live line two"), `newest row is ${JSON.stringify(texts[0])}`);
    expect(!texts.some((t) => t.includes("not tailed")), "a line the filter excludes was tailed");
    expect(await page.evaluate(() => window.__vigilNoReload === true), "the page reloaded");
    expect((await page.getAttribute(tid("logs-dropped"), "data-dropped")) === "0", "lines reported dropped");
    expect(new URL(page.url()).searchParams.get("live") === "1", "live not in the URL");
    // Turning it off closes the socket.
    const closed = ws.waitForEvent("close", { timeout: 10_000 });
    await page.click(tid("logs-live-toggle"));
    await closed;
    expect(ws.isClosed(), "the tail socket is still open");
    expect((await page.getAttribute(tid("logs-live-toggle"), "aria-pressed")) === "false", "the live switch is still on");
  });
  await shot("logs-live");

  await step("trace: the Logs panel lists the trace's lines", async () => {
    await page.goto(`${base}/trace/${traceID}`, { waitUntil: "load" });
    const rows = `${tid("trace-logs")} ${tid("trace-log-row")}`;
    await page.waitForFunction(([sel, n]) => document.querySelectorAll(sel).length === n, [rows, TRACE_LINES.length], { timeout: 20_000 });
    const texts = await page.$$eval(rows, (els) => els.map((e) => e.textContent));
    for (const l of TRACE_LINES) expect(texts.some((t) => t.includes(l)), `no row for ${JSON.stringify(l)}: ${JSON.stringify(texts)}`);
    expect(texts.some((t) => t.includes("pricing")), `the other service's line does not name it: ${JSON.stringify(texts)}`);
    // Oldest first, as the trace runs.
    expect(texts[0].includes(TRACE_LINES[0]) && texts[2].includes(TRACE_LINES[2]), `rows not in time order: ${JSON.stringify(texts)}`);
  });
  await shot("trace-logs");
} finally {
  await close();
}
report("logs UI check");
