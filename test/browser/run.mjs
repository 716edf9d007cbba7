// run.mjs runs every *.spec.mjs file of the working directory in headless
// Chromium and exits with the number of specs that failed (0: all passed),
// as `cypress run` exits with the number of failed tests.
//
// A spec is an ES module whose default export is an async function; it gets
// { page, baseURL, expectText } and throws to fail. The runner gives each
// spec a fresh browser context, then saves a full-page screenshot of it
// (passed or failed) as results/screenshots/<spec>.png and writes
// results/report.json. test:e2e copies results/ to test-results/e2e/.
//
// Variables: E2E_BASE_URL (default https://nginx, the test stack's nginx on
// its network), E2E_RESULTS (default results), CHROMIUM_PATH (default
// /usr/bin/chromium), E2E_SPEC_TIMEOUT_MS (default 30000).
//
// Certificates: the stack serves a self-signed development certificate
// that does not name "nginx", so the browser context ignores HTTPS errors;
// specs can still check that the page came over TLS (response.securityDetails()).
import { chromium } from "playwright-core";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";

const baseURL = process.env.E2E_BASE_URL || "https://nginx";
const results = path.resolve(process.env.E2E_RESULTS || "results");
const screenshots = path.join(results, "screenshots");
const specTimeout = Number(process.env.E2E_SPEC_TIMEOUT_MS || 30000);

// Ctrl-C on test:e2e reaches this process (docker start --attach proxies
// the signal, docker's init passes it on): stop at once. The init then ends
// the container, Chromium with it.
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    console.log(`runner: ${sig}: stopping`);
    process.exit(130);
  });
}

// expectText waits until selector's text contains want, and fails with
// what the element says instead.
async function expectText(page, selector, want, timeout = 10000) {
  const el = page.locator(selector);
  try {
    await el.filter({ hasText: want }).first().waitFor({ timeout });
  } catch {
    const got = (await el.count()) ? await el.first().innerText() : "(no such element)";
    throw new Error(`${selector}: want text containing ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

const specs = (await readdir(process.cwd())).filter((f) => f.endsWith(".spec.mjs")).sort();
if (specs.length === 0) {
  console.error(`runner: no *.spec.mjs file in ${process.cwd()}: the specs folder holds the specs`);
  process.exit(1);
}
await mkdir(screenshots, { recursive: true });

const browser = await chromium.launch({
  // The signals are ours (above), not playwright's.
  handleSIGINT: false,
  handleSIGTERM: false,
  handleSIGHUP: false,
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
console.log(`runner: Chromium ${browser.version()}, ${specs.length} spec(s) against ${baseURL}`);

const report = { baseURL, browser: `chromium ${browser.version()}`, specs: [] };
for (const spec of specs) {
  const name = spec.replace(/\.spec\.mjs$/, "");
  const context = await browser.newContext({ baseURL, ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  page.on("console", (msg) => console.log(`  [${name}] console.${msg.type()}: ${msg.text()}`));
  page.on("pageerror", (err) => console.log(`  [${name}] page error: ${err.message}`));
  const started = Date.now();
  let error;
  try {
    const mod = await import(pathToFileURL(path.resolve(spec)).href);
    if (typeof mod.default !== "function") throw new Error(`${spec} has no default export function`);
    await withTimeout(mod.default({ page, baseURL, expectText: (sel, want, t) => expectText(page, sel, want, t) }), specTimeout, spec);
  } catch (err) {
    error = err;
  }
  const screenshot = path.join(screenshots, `${name}.png`);
  try {
    await page.screenshot({ path: screenshot, fullPage: true });
  } catch (err) {
    console.log(`  [${name}] no screenshot: ${err.message}`);
  }
  await context.close();
  const ms = Date.now() - started;
  report.specs.push({ spec, passed: !error, error: error?.message, ms, screenshot: path.relative(results, screenshot) });
  console.log(`${error ? "FAIL" : "ok  "} ${spec} (${ms} ms)${error ? `: ${error.message}` : ""}`);
}
await browser.close();

const failed = report.specs.filter((s) => !s.passed).length;
await writeFile(path.join(results, "report.json"), JSON.stringify(report, null, 2) + "\n");
console.log(`runner: ${specs.length - failed} passed, ${failed} failed; screenshots in ${path.relative(process.cwd(), screenshots)}/`);
process.exit(Math.min(failed, 255));
