// The starter's Playwright Test project, laid out as the website's own:
// TypeScript specs in tests/playwright/e2e, Chromium through
// PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH where that is set (test:e2e's runner,
// a container), an HTML and a JUnit report, retries and traces in CI.
//
// `./dtx test:e2e` runs it unchanged against the test stack (with
// E2E_FRAMEWORK=playwright while this folder also holds cypress.config.js):
// it sets the base URL to the stack's nginx and collects the reports, the
// traces, screenshots and videos in test-results/e2e/. On a machine with
// Playwright installed, `npx playwright test` runs it against
// https://localhost (./dtx dev:debug).
import { defineConfig, devices } from '@playwright/test';

export default defineConfig({
  testDir: './tests/playwright',
  testMatch: /e2e\/.*\.spec\.ts$/,
  fullyParallel: true,
  forbidOnly: !!process.env.CI,
  retries: process.env.CI ? 2 : 0,
  workers: 2,
  reporter: [
    ['html', { open: 'never' }],
    ['junit', { outputFile: 'test-results/junit.xml' }],
    ['list'],
  ],
  use: {
    baseURL: 'https://localhost',
    // The stacks' certificate is self-signed.
    ignoreHTTPSErrors: true,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    video: 'retain-on-failure',
  },
  projects: [
    {
      name: 'chromium',
      use: {
        ...devices['Desktop Chrome'],
        launchOptions: {
          executablePath: process.env.PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH || undefined,
          args: ['--disable-gpu', '--disable-dev-shm-usage'],
        },
      },
    },
  ],
  timeout: 30_000,
  expect: { timeout: 10_000 },
  outputDir: 'test-results/',
});
