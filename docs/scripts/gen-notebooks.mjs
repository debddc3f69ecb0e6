#!/usr/bin/env node
/**
 * Turns every `packages/notebooks/notebooks/*.ipynb` into a docs page: runs it in Node with the
 * same runner the browser uses (`runNotebook` from the built `@vfio-lab/notebooks`), and writes
 *
 * - `docs/notebooks/<id>.data.json`: the parsed notebook, its markdown cells rendered to HTML
 *   (VitePress's own markdown-it, so headings get anchors and code blocks Shiki colours), and
 *   every cell's outputs — what the page shows before any JavaScript runs;
 * - `docs/notebooks/<id>.md`: a page that renders that data with the `<Notebook>` component;
 * - `docs/notebooks/index.md`: the list (title, summary, seed);
 * - `docs/public/notebooks/<id>.ipynb`: the notebook itself, to download.
 *
 * All of it is gitignored and rewritten on each run. A notebook whose run fails stops the
 * build (exit 1, with the cell and its error), as nbconvert does in CI; `--allow-errors` writes
 * the pages anyway, with the error on its cell.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { notebookInfo, parseNotebook, runNotebook } from "@vfio-lab/notebooks";
import { createMarkdownRenderer } from "vitepress";
import { markdownOutputHtml } from "../.vitepress/theme/markdown-output.mjs";

const docsDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const repo = resolve(docsDir, "..");
const srcDir = join(repo, "packages/notebooks/notebooks");
const outDir = join(docsDir, "notebooks");
const publicDir = join(docsDir, "public/notebooks");
const allowErrors = process.argv.includes("--allow-errors");

const started = performance.now();
const md = await createMarkdownRenderer(docsDir, {}, "/", { warn: (m) => console.warn(m) });

/** Markdown → HTML as VitePress renders a page at `relativePath` (links become `.html`). */
function render(source, relativePath) {
  return md.render(source, { path: join(docsDir, relativePath), relativePath, cleanUrls: false });
}

/** A YAML scalar: JSON strings are valid YAML. */
const yaml = (s) => JSON.stringify(s);
const escapeHtml = (s) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/**
 * Markdown displays (`tslab.display.markdown`) get their HTML now, beside the markdown, so the
 * pre-rendered page shows them and the browser loads a markdown parser only after a Run.
 */
function withRenderedMarkdown(outputs) {
  return outputs.map((cell) =>
    cell.map((o) =>
      o.kind === "display" && o.mime === "text/markdown"
        ? { ...o, html: markdownOutputHtml(o.data) }
        : o,
    ),
  );
}

const files = readdirSync(srcDir)
  .filter((f) => f.endsWith(".ipynb"))
  .sort();
rmSync(outDir, { recursive: true, force: true });
rmSync(publicDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
mkdirSync(publicDir, { recursive: true });

const index = [];
let failures = 0;
for (const file of files) {
  const id = file.replace(/\.ipynb$/, "");
  const path = join(srcDir, file);
  const relativePath = `notebooks/${id}.md`;
  const nb = parseNotebook(readFileSync(path, "utf8"));
  const info = notebookInfo(nb) ?? { title: id, summary: "", seed: null };
  const t0 = performance.now();
  const result = await runNotebook(nb);
  const ms = performance.now() - t0;
  if (result.failedCell !== null) {
    const cell = nb.cells[result.failedCell];
    const err = result.outputs[result.failedCell]?.find((o) => o.kind === "error");
    console.error(
      `gen-notebooks: ${file}: cell ${result.failedCell} (${cell?.id}) failed: ` +
        `${err?.ename}: ${err?.evalue}`,
    );
    failures++;
  }

  // The page title is the notebook's first `# ` heading if it opens with one (rendered once,
  // above the toolbar), else the metadata title.
  let titleHtml = md.renderInline(info.title);
  const html = {};
  nb.cells.forEach((cell, i) => {
    if (cell.cell_type !== "markdown") return;
    let source = cell.source;
    const h1 = i === 0 ? /^#[ \t]+(.+)\n*/.exec(source) : null;
    if (h1) {
      titleHtml = md.renderInline(h1[1].trim());
      source = source.slice(h1[0].length);
    }
    html[i] = render(source, relativePath);
  });

  const data = {
    id,
    title: info.title,
    titleHtml,
    summary: info.summary,
    seed: info.seed,
    file: relative(repo, path),
    notebook: nb,
    html,
    outputs: withRenderedMarkdown(result.outputs),
    executed: result.executed,
    failedCell: result.failedCell,
  };
  writeFileSync(join(outDir, `${id}.data.json`), `${JSON.stringify(data)}\n`);
  writeFileSync(
    join(outDir, `${id}.md`),
    [
      "---",
      `title: ${yaml(info.title)}`,
      `description: ${yaml(info.summary)}`,
      // The width goes to the cells and their pictures; the sidebar lists the notebooks.
      "aside: false",
      "---",
      "",
      "<script setup>",
      `import data from "./${id}.data.json";`,
      "</script>",
      "",
      '<Notebook :data="data" />',
      "",
    ].join("\n"),
  );
  copyFileSync(path, join(publicDir, file));
  index.push({ id, ...info });
  console.log(`gen-notebooks: ${id}: ${nb.cells.length} cells, ran in ${ms.toFixed(0)} ms`);
}

const rows = index.map(
  (n) =>
    `<li class="nb-index-item"><span class="nb-index-id">${n.id.slice(0, 2)}</span>` +
    `<a href="./${n.id}.html">${md.renderInline(n.title)}</a>` +
    `<p>${md.renderInline(n.summary)}</p>` +
    `<p class="nb-index-meta">${n.seed === null ? "no seed thread" : `seed thread ${escapeHtml(n.seed)}`}` +
    ` · <code>npx vfio-lab run ${n.id}</code></p></li>`,
);
writeFileSync(
  join(outDir, "index.md"),
  [
    "---",
    'title: "Notebooks"',
    "---",
    "",
    "# Notebooks",
    "",
    "Each notebook walks through one piece of device assignment on the model, from boot to the",
    "syscalls a VMM makes. Every page below shows the notebook with its outputs and runs again in",
    "your browser: edit a cell and press **Run** (or <kbd>Shift</kbd>+<kbd>Enter</kbd>).",
    "",
    "To run one in a terminal, `npx vfio-lab run <id>`; in Jupyter, open the `.ipynb` from",
    "`packages/notebooks/notebooks/` with the tslab TypeScript kernel.",
    "",
    `<ul class="nb-index" data-notebook-count="${index.length}" v-pre>`,
    ...rows,
    "</ul>",
    "",
  ].join("\n"),
);

const secs = ((performance.now() - started) / 1000).toFixed(1);
console.log(`gen-notebooks: ${files.length} notebooks → ${relative(repo, outDir)} in ${secs}s`);
if (failures > 0 && !allowErrors) {
  console.error(
    `gen-notebooks: ${failures} notebook(s) failed (pass --allow-errors to write them anyway)`,
  );
  process.exit(1);
}
