package browsertest

// wrapperSource is the config test:e2e writes beside a Playwright project's
// own (see WrapperConfig), in JavaScript that Playwright loads as
// TypeScript or as a module alike. A Go string rather than an embedded
// file: ./dtx builds the tool from its Go files alone.
const wrapperSource = `// Written by ./dtx test:e2e beside the project's own Playwright config, in the
// runner's copy of the project only: 'playwright test --config=' this file
// loads that config unchanged and runs it against the test stack. What it
// changes, each only where the config leaves it open or points elsewhere:
//
// - use.baseURL (and each project's) becomes PLAYWRIGHT_BASE_URL, the site
//   as the runner reaches it (the stack's proxy on its network,
//   https://nginx:8443 in the starter);
// - a Chromium project without launchOptions.executablePath gets
//   PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH, the runner's Chromium;
// - outputDir (traces, screenshots, videos), the html, junit, json and blob
//   reporters' files go under E2E_RESULTS, which test:e2e copies out; html
//   and junit are added when missing, blob when the run is a shard
//   (E2E_SHARD), list when no reporter prints to the terminal;
// - the html report never opens a browser or waits for one to close;
// - webServer goes: the site is the test stack, already up.
import loaded from '__CONFIG__';

const env = process.env;
const results = env.E2E_RESULTS || 'e2e-results';
const config = { ...loaded };
const notes = [];

if (env.PLAYWRIGHT_BASE_URL) {
  const was = config.use && config.use.baseURL;
  config.use = { ...config.use, baseURL: env.PLAYWRIGHT_BASE_URL };
  notes.push('baseURL ' + env.PLAYWRIGHT_BASE_URL + (was && was !== env.PLAYWRIGHT_BASE_URL ? ' (the config says ' + was + ')' : ''));
}

// isChromium tells whether a use block (with the top level's under it)
// launches Playwright's Chromium: no other browser, no branded channel.
function isChromium(use, top) {
  const browser = use.browserName || top.browserName || 'chromium';
  return browser === 'chromium' && !use.channel && !top.channel;
}

function withChromium(use, top) {
  const launch = use.launchOptions || top.launchOptions || {};
  if (!env.PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH || launch.executablePath || !isChromium(use, top)) return use;
  return { ...use, launchOptions: { ...launch, executablePath: env.PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH } };
}

if (Array.isArray(config.projects) && config.projects.length > 0) {
  const top = config.use || {};
  config.projects = config.projects.map((project) => {
    let use = project.use || {};
    if (env.PLAYWRIGHT_BASE_URL && use.baseURL) use = { ...use, baseURL: env.PLAYWRIGHT_BASE_URL };
    use = withChromium(use, top);
    const out = { ...project, use };
    if (out.outputDir) out.outputDir = results + '/artifacts';
    return out;
  });
} else {
  config.use = withChromium(config.use || {}, {});
}

config.outputDir = results + '/artifacts';

const given = config.reporter === undefined ? [] : typeof config.reporter === 'string' ? [[config.reporter]] : config.reporter;
const reporters = given.map((r) => (typeof r === 'string' ? [r] : [r[0], { ...r[1] }]));
const has = (name) => reporters.some((r) => r[0] === name);
if (!has('html')) reporters.push(['html', {}]);
if (!has('junit')) reporters.push(['junit', {}]);
if (env.E2E_SHARD && !has('blob')) reporters.push(['blob', {}]);
if (!reporters.some((r) => ['list', 'line', 'dot', 'github'].includes(r[0]))) reporters.unshift(['list', {}]);
for (const r of reporters) {
  if (r[0] === 'html') r[1] = { ...r[1], outputFolder: results + '/report', open: 'never' };
  if (r[0] === 'junit') r[1] = { ...r[1], outputFile: results + '/junit.xml' };
  if (r[0] === 'blob') r[1] = { ...r[1], outputDir: results + '/blob-report' };
  if (r[0] === 'json' && r[1].outputFile) r[1] = { ...r[1], outputFile: results + '/report.json' };
}
config.reporter = reporters;

if (config.webServer) {
  delete config.webServer;
  notes.push('webServer skipped (the site is the test stack)');
}

// Once, from the runner's main process: its workers load this file too.
if (!env.TEST_WORKER_INDEX) {
  notes.push('reporters ' + (reporters.map((r) => r[0]).join(', ')));
  console.log('test:e2e: __CONFIG_NAME__ with ' + (notes.join('; ')));
}

export default config;
`
