// Opens pages in Debian's chromium (never a downloaded browser) and reports, as JSON lines on
// stdout, what each page shows: {"event":"status",...} once it connected or failed, then
// {"event":"message","text":...} once a message appears in its list.
//
//   node browse.mjs <chromium> <page URL>...
//
// The caller sends the message after reading a page's status line. Diagnostics go to stderr.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

// Per step; starting chromium gets more, as it shares two cores with cargo in CI.
const WAIT_MS = 30_000;
const LAUNCH_MS = 60_000;
const [executablePath, ...pages] = process.argv.slice(2);
if (!executablePath || pages.length === 0) {
  console.error("usage: node browse.mjs <chromium> <page URL>...");
  process.exit(2);
}

const report = (line) => console.log(JSON.stringify(line));
const userDataDir = await mkdtemp(join(tmpdir(), "asrs-chromium-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  timeout: LAUNCH_MS,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  for (const url of pages) {
    const page = await context.newPage();
    page.on("console", (m) => console.error(`[page ${m.type()}] ${m.text()}`));
    page.on("pageerror", (e) => console.error(`[page error] ${e}`));
    await page.goto(url, { timeout: WAIT_MS });
    const status = page.locator("#status");
    await status.filter({ hasText: /^(connected|failed)/ }).waitFor({ timeout: WAIT_MS });
    report({
      event: "status",
      url,
      status: await status.textContent(),
      rest: await page.locator("#rest").textContent(),
    });
    if ((await status.textContent()).startsWith("connected")) {
      const first = page.locator("#messages li").first();
      await first.waitFor({ timeout: WAIT_MS });
      report({ event: "message", url, text: await first.textContent() });
    }
    await page.close();
  }
} finally {
  await context.close();
  await rm(userDataDir, { recursive: true, force: true });
}
