// The starter page in a real browser, through the test stack's nginx: it
// loads over TLS, shows the starter's content, and its script's call to the
// backend (/api/status, proxied by nginx) comes back with redis's PONG.
// Run by the Chromium runner (test/browser/run.mjs) under ./dtx test:e2e.
import assert from "node:assert/strict";

export default async function ({ page, expectText }) {
  const response = await page.goto("/");
  assert.equal(response.status(), 200, "GET / status");
  assert.equal(new URL(page.url()).protocol, "https:", "the page is served over HTTPS");
  const tls = await response.securityDetails();
  assert.match(tls?.protocol ?? "", /^TLS 1\.[23]$/, "TLS version");

  await expectText("h1", "dtx website starter");
  assert.equal(await page.title(), "dtx website starter");
  // app.js fetches /api/status and writes what the backend says.
  await expectText("#backend", "backend answers, redis says PONG");
  assert.match(await page.locator("#visits").innerText(), /^\d+$/, "visit counter");
}
