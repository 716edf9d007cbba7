// The starter's Cypress project: what ./dtx test:e2e runs by default (this
// folder also holds playwright.config.ts; with both, Cypress runs unless
// E2E_FRAMEWORK=playwright), in Cypress's official image, with this folder
// copied to /e2e. test:e2e gives the site as CYPRESS_BASE_URL
// (https://nginx:8443, the test stack's nginx on its network) and the
// screenshots' and videos' folders as CYPRESS_SCREENSHOTS_FOLDER and
// CYPRESS_VIDEOS_FOLDER; Cypress ignores the errors of the stacks'
// self-signed certificate. The JUnit reports go to E2E_RESULTS too; all of
// it lands in test-results/e2e/.
export default {
  e2e: {
    baseUrl: 'https://localhost',
    specPattern: 'tests/cypress/e2e/**/*.cy.js',
    supportFile: false,
  },
  fixturesFolder: false,
  video: true,
  reporter: 'junit',
  reporterOptions: { mochaFile: `${process.env.E2E_RESULTS || 'test-results'}/junit-[hash].xml` },
};
