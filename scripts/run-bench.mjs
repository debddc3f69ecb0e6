#!/usr/bin/env node
// Runs a package's benchmarks (bench/*.bench.ts) the way the code runs in production: bundled
// by esbuild from the TypeScript sources into one ES module, then executed by plain Node with
// the GC exposed. (Under a test runner's module loader every cross-module call pays for the
// runner's indirection, which is the runner's cost, not the model's.)
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { build } from "esbuild";

const pkg = resolve(process.argv[2] ?? ".");
const benchDir = join(pkg, "bench");
const outdir = join(pkg, ".bench-out");
const entries = readdirSync(benchDir)
  .filter((f) => f.endsWith(".bench.ts"))
  .map((f) => join(benchDir, f));
mkdirSync(outdir, { recursive: true });
await build({
  entryPoints: entries,
  outdir,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  conditions: ["@vfio-lab/source"],
  logLevel: "warning",
  outExtension: { ".js": ".mjs" },
});
let failed = 0;
for (const entry of entries) {
  const out = join(outdir, entry.split("/").pop().replace(/\.ts$/, ".mjs"));
  const r = spawnSync(process.execPath, ["--expose-gc", out], { stdio: "inherit" });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
