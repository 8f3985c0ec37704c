// What the UI check scripts share: headless Chromium (CHROMIUM overrides
// /usr/bin/chromium) in a throwaway profile, every console error, page
// error and failed request collected as a problem, named steps that
// record their failure and go on, and screenshots into SCREENSHOT_DIR
// when it is set.
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export async function openBrowser({ viewport = { width: 1400, height: 900 } } = {}) {
  const shots = process.env.SCREENSHOT_DIR;
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "vigil-chromium-"));
  const problems = [];
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error on ${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error on ${page.url()}: ${e.message}`));
  page.on("requestfailed", (r) => {
    // Aborted requests are the UI cancelling its own stale ones.
    if (!/ERR_ABORTED/.test(r.failure()?.errorText ?? "")) problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  return {
    page,
    problems,
    step: async (name, f) => {
      try {
        await f();
        console.log(`ok   ${name}`);
      } catch (e) {
        problems.push(`${name}: ${e.message.split("\n")[0]}`);
        console.log(`FAIL ${name}`);
      }
    },
    shot: async (name) => {
      if (shots) await page.screenshot({ path: path.join(shots, name + ".png"), fullPage: true });
    },
    close: async () => {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
    // report ends the process: exit 1 listing the problems, if any.
    report: (what) => {
      if (problems.length) {
        console.error(`${what} failed:\n  ` + problems.join("\n  "));
        process.exit(1);
      }
      console.log(`${what} passed`);
    },
  };
}

export const expect = (cond, msg) => {
  if (!cond) throw new Error(msg);
};
