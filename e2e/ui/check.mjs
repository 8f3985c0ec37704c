// Usage: node check.mjs <baseURL>
// Loads Vigil's UI in headless Chromium and fails (exit 1) on any console
// error or page error, or when the charts, the explorer or its
// autocomplete show nothing. SCREENSHOT_DIR, when set, receives
// screenshots. CHROMIUM overrides /usr/bin/chromium.
import { openBrowser } from "./browser.mjs";

const base = process.argv[2];
if (!base) {
  console.error("usage: node check.mjs <baseURL>");
  process.exit(2);
}
const { page, problems, step, shot, close, report } = await openBrowser({ viewport: { width: 1280, height: 900 } });

try {
  await step("home loads", async () => {
    await page.goto(base + "/", { waitUntil: "load" });
    await page.waitForSelector("nav >> text=Explore", { timeout: 10_000 });
  });
  for (const id of ["cpu", "memory", "network", "load"]) {
    await step(`home chart ${id} has data`, async () => {
      await page.waitForFunction((id) => Number(document.getElementById(`chart-${id}`)?.dataset.points ?? 0) > 0, id, { timeout: 45_000, polling: 500 });
    });
  }
  await step("home status shows the version", async () => {
    await page.waitForFunction(() => /Vigil .* series/.test(document.querySelector(".status")?.textContent ?? ""), null, { timeout: 15_000 });
  });
  await shot("home");

  await step("explore runs a query from the URL", async () => {
    await page.goto(base + "/explore?q=up%7Bjob%3D%22vigil%22%7D%20or%20node_load1&range=15m", { waitUntil: "load" });
    await page.waitForFunction(() => Number(document.getElementById("explore-chart")?.dataset.series ?? 0) >= 1, null, { timeout: 20_000 });
  });
  await step("explore table has rows", async () => {
    await page.click("button.tab[data-tab=table]");
    await page.waitForSelector("#explore-table table.results tbody tr td.labels", { timeout: 10_000 });
  });
  await shot("explore");

  await step("autocomplete offers metric names", async () => {
    await page.fill("textarea.query", "");
    await page.type("textarea.query", "node_cp");
    await page.waitForSelector(".suggest li[data-value=node_cpu_seconds_total]", { timeout: 10_000 });
    await page.keyboard.press("Enter"); // accepts the suggestion
    const v = await page.inputValue("textarea.query");
    if (v !== "node_cpu_seconds_total") throw new Error(`accepted value is ${JSON.stringify(v)}`);
  });
  await step("a bad query shows the API's error", async () => {
    await page.fill("textarea.query", "sum(");
    await page.click("button.primary");
    await page.waitForSelector(".error >> text=bad_data", { timeout: 10_000 });
    // The error is expected here; it is the API's 400, not a UI bug.
    for (let i = problems.length - 1; i >= 0; i--) if (/status of 400/.test(problems[i])) problems.splice(i, 1);
  });
  await shot("explore-error");
} finally {
  await close();
}
report("UI check");
