// The starter page in a real browser, through the test stack's nginx: it
// loads over TLS, shows the starter's content, and its script's call to the
// backend (/api/status, proxied by nginx) comes back with redis's PONG.
import { test, expect } from '@playwright/test';

test.describe('the starter page', () => {
  test('loads over HTTPS and shows what the backend says through nginx', async ({ page }) => {
    const response = await page.goto('/');
    expect(response?.status()).toBe(200);
    expect(new URL(page.url()).protocol).toBe('https:');
    const tls = await response?.securityDetails();
    expect(tls?.protocol).toMatch(/^TLS 1\.[23]$/);

    await expect(page).toHaveTitle('dtx website starter');
    await expect(page.locator('h1')).toHaveText('dtx website starter');
    // app.js fetches /api/status and writes what the backend says.
    await expect(page.locator('#backend')).toHaveText('backend answers, redis says PONG');
    await expect(page.locator('#visits')).toHaveText(/^\d+$/);
  });
});
