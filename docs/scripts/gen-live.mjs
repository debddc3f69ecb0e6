#!/usr/bin/env node
/**
 * Runs every ```` ```ts live ```` block of the guide (and the e2e fixture page) in Node, as a
 * one-cell notebook with the runner the browser uses, and writes the outputs to
 * `docs/.vitepress/live-outputs.json` keyed by `liveKey(code)`. The markdown plugin
 * (`.vitepress/live-code.ts`) puts them in the page, so a guide page shows what its examples
 * print before any JavaScript runs.
 *
 * A live block that fails (an uncaught error, a syntax error) stops the build with its file and
 * line: an example that throws is a broken example. Show an expected error by catching it and
 * printing it.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseNotebook, runNotebook } from "@vfio-lab/notebooks";
import { createMarkdownRenderer } from "vitepress";
import { markdownOutputHtml } from "../.vitepress/theme/markdown-output.mjs";

const docsDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const outFile = join(docsDir, ".vitepress/live-outputs.json");
/** Keep in step with LIVE_INFO and liveKey in .vitepress/live-code.ts. */
const LIVE_INFO = /^(?:ts|typescript)\s+live(?:\s|$)/;
const liveKey = (code) => createHash("sha256").update(code).digest("hex").slice(0, 16);

/** The markdown files VitePress builds, minus generated and excluded ones. */
function pages(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "api" || name === "notebooks" || name.startsWith("."))
      continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...pages(path));
    else if (name.endsWith(".md")) out.push(path);
  }
  return out.sort();
}

/** A one-cell notebook, as the LiveCode component builds it in the browser. */
function liveNotebook(code) {
  return parseNotebook(
    JSON.stringify({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {},
      cells: [{ cell_type: "code", id: "live", metadata: {}, source: code, outputs: [] }],
    }),
  );
}

const started = performance.now();
// Only the tokenizer is needed: a no-op highlighter keeps Shiki from loading.
const md = await createMarkdownRenderer(docsDir, { highlight: (s) => s });
const outputs = {};
let blocks = 0;
let failures = 0;
for (const file of pages(docsDir)) {
  const tokens = md.parse(readFileSync(file, "utf8"), {});
  for (const t of tokens) {
    if (t.type !== "fence" || !LIVE_INFO.test(t.info.trim())) continue;
    blocks++;
    const where = `${relative(docsDir, file)}:${(t.map?.[0] ?? 0) + 1}`;
    const result = await runNotebook(liveNotebook(t.content));
    const cell = result.outputs[0] ?? [];
    if (result.failedCell !== null) {
      const err = cell.find((o) => o.kind === "error");
      console.error(`gen-live: ${where}: the live block fails: ${err?.ename}: ${err?.evalue}`);
      failures++;
    }
    // Markdown displays carry their HTML, as on notebook pages (gen-notebooks.mjs).
    outputs[liveKey(t.content)] = cell.map((o) =>
      o.kind === "display" && o.mime === "text/markdown"
        ? { ...o, html: markdownOutputHtml(o.data) }
        : o,
    );
  }
}
writeFileSync(outFile, `${JSON.stringify(outputs)}\n`);
const secs = ((performance.now() - started) / 1000).toFixed(1);
console.log(`gen-live: ${blocks} live blocks → ${relative(docsDir, outFile)} in ${secs}s`);
if (failures > 0) process.exit(1);
