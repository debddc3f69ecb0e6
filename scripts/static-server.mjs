#!/usr/bin/env node
/**
 * A small static file server for the built docs site (`docs/.vitepress/dist`).
 *
 * Why not `vitepress preview`: stopping it by the npx PID leaves its node child running
 * (TOOLING §8.12), and it binds more than we want. This server binds 127.0.0.1 only, never
 * reaches the network, and resolves paths the way VitePress's output expects:
 * `/guide/` → `/guide/index.html`, `/guide/architecture` → `/guide/architecture.html`, `/guide` →
 * a redirect to `/guide/`.
 *
 * Usage: node scripts/static-server.mjs <dir> [port]   (port 0 picks a free one)
 * Prints `serving <dir> at http://127.0.0.1:<port>/` and serves until Ctrl-C.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, resolve, sep } from "node:path";

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".woff": "font/woff",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
  ".ipynb": "application/x-ipynb+json",
  ".map": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".xml": "application/xml",
};

const [dirArg, portArg] = process.argv.slice(2);
if (!dirArg) {
  console.error("usage: node scripts/static-server.mjs <dir> [port]");
  process.exit(2);
}
const root = resolve(dirArg);
const port = portArg === undefined ? 5173 : Number(portArg);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`static-server: bad port ${JSON.stringify(portArg)}`);
  process.exit(2);
}
try {
  if (!(await stat(root)).isDirectory()) throw new Error("not a directory");
} catch {
  console.error(`static-server: ${root} is not a directory (build the site first)`);
  process.exit(1);
}

/** A regular file's stats, or null. */
async function fileAt(path) {
  try {
    const s = await stat(path);
    return s.isFile() ? s : null;
  } catch {
    return null;
  }
}

/**
 * What a URL path names: an exact file, a directory's index, or a clean URL (`.html` added);
 * a directory named without its trailing slash redirects, so that relative links resolve.
 */
async function resolveFile(urlPath) {
  const full = join(root, urlPath);
  // join() normalises `..`; anything that climbs out of root is refused.
  if (full !== root && !full.startsWith(root + sep)) return null;
  if (urlPath.endsWith("/")) {
    const index = join(full, "index.html");
    const s = await fileAt(index);
    return s ? { path: index, size: s.size } : null;
  }
  for (const c of [full, `${full}.html`]) {
    const s = await fileAt(c);
    if (s) return { path: c, size: s.size };
  }
  if (await fileAt(join(full, "index.html"))) return { redirect: `${urlPath}/` };
  return null;
}

const server = createServer(async (req, res) => {
  try {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    let urlPath;
    try {
      urlPath = decodeURIComponent(new URL(req.url ?? "/", "http://127.0.0.1").pathname);
    } catch {
      res.writeHead(400).end("bad request");
      return;
    }
    let file = await resolveFile(urlPath);
    if (file?.redirect) {
      const search = new URL(req.url ?? "/", "http://127.0.0.1").search;
      res.writeHead(301, { location: `${file.redirect}${search}` }).end();
      return;
    }
    let status = 200;
    if (!file) {
      file = await resolveFile("/404.html");
      status = 404;
      if (!file) {
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found");
        return;
      }
    }
    res.writeHead(status, {
      "content-type": MIME[extname(file.path)] ?? "application/octet-stream",
      "content-length": file.size,
      "cache-control": "no-cache",
    });
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    createReadStream(file.path).pipe(res);
  } catch (err) {
    res.writeHead(500).end(String(err));
  }
});

server.listen(port, "127.0.0.1", () => {
  const addr = server.address();
  const actual = typeof addr === "object" && addr ? addr.port : port;
  console.log(`serving ${root} at http://127.0.0.1:${actual}/  (Ctrl-C to stop)`);
});
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    server.close();
    process.exit(0);
  });
}
