// The frontend's Cypress project: what ./dtx test:e2e runs by default, in
// Cypress's official image (cypress/included), with this folder copied to
// /e2e. The site is the test stack's nginx on its network (E2E_BASE_URL,
// https://nginx); Cypress ignores the errors of its self-signed development
// certificate. Screenshots, videos and JUnit reports go to results/, which
// test:e2e copies to test-results/e2e/.
module.exports = {
  e2e: {
    baseUrl: process.env.E2E_BASE_URL || "https://nginx",
    specPattern: "e2e/**/*.cy.js",
    supportFile: false,
  },
  fixturesFolder: false,
  screenshotsFolder: "results/screenshots",
  videosFolder: "results/videos",
  video: true,
  reporter: "junit",
  reporterOptions: { mochaFile: "results/junit-[hash].xml" },
};
