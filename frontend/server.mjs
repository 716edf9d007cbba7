// The starter frontend's server: serves STATIC_DIR (the page and its script)
// on PORT, with index.html for unknown paths as a single-page app would.
// No dependencies: Node's standard library only.
//
//   node server.mjs                 serve
//   node server.mjs --healthcheck   exit 0 when the server answers /healthz
//
// DEV=1 (the runtime-dev target) sends no-cache headers, so that a file
// edited in the mounted source shows on the next reload.
import { createServer, get } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize } from "node:path";

const port = Number(process.env.PORT || 3000);
const staticDir = process.env.STATIC_DIR || "/app/public";
const dev = process.env.DEV === "1";

if (process.argv.includes("--healthcheck")) {
  const req = get({ host: "127.0.0.1", port, path: "/healthz", timeout: 2000 }, (res) => {
    process.exit(res.statusCode === 200 ? 0 : 1);
  });
  req.on("error", () => process.exit(1));
  req.on("timeout", () => process.exit(1));
} else {
  serve();
}

const types = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

// file returns the path under staticDir that url names; index.html when it
// names nothing there and looks like a client-side route (no extension); and
// null for a missing asset (/logo.png), which is a 404.
async function file(url) {
  const path = normalize(decodeURIComponent(url.split("?")[0])).replace(/^(\.\.[/\\])+/, "");
  const candidate = join(staticDir, path);
  if (candidate.startsWith(staticDir)) {
    try {
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {}
  }
  return extname(path) ? null : join(staticDir, "index.html");
}

function serve() {
  const server = createServer(async (req, res) => {
    res.setHeader("X-Dtx-Service", "frontend");
    if (req.url === "/healthz") {
      // Not logged: the health check asks every few seconds.
      res.end("ok\n");
      return;
    }
    const started = Date.now();
    try {
      const path = await file(req.url);
      if (path === null) {
        res.statusCode = 404;
        res.setHeader("Content-Type", "text/plain; charset=utf-8");
        res.end("not found\n");
        console.log(`frontend: ${req.method} ${req.url} 404`);
        return;
      }
      const body = await readFile(path);
      res.setHeader("Content-Type", types[extname(path)] || "application/octet-stream");
      res.setHeader("Cache-Control", dev ? "no-store" : "public, max-age=60");
      res.end(body);
    } catch (err) {
      // A malformed %-escape is the client's error; anything else is ours.
      res.statusCode = err instanceof URIError ? 400 : 500;
      res.end(res.statusCode === 400 ? "bad request\n" : "cannot read the page\n");
      if (res.statusCode === 500) console.error(`frontend: ${req.url}: ${err.message}`);
    }
    console.log(`frontend: ${req.method} ${req.url} ${res.statusCode} ${Date.now() - started}ms`);
  });
  server.listen(port, "0.0.0.0", () => {
    console.log(`frontend: serving ${staticDir} on :${port}${dev ? " (dev: no cache)" : ""}`);
  });
  // PID 1 in a container gets no default signal handling: stop on purpose.
  for (const signal of ["SIGTERM", "SIGINT"]) {
    process.on(signal, () => {
      console.log(`frontend: ${signal}, stopping`);
      server.close(() => process.exit(0));
      server.closeIdleConnections?.();
      setTimeout(() => process.exit(0), 2000).unref();
    });
  }
}
