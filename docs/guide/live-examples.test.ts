/**
 * Every ```` ```ts live ```` block of the guide runs as the site runs it: as a one-cell notebook
 * through `runNotebook` (sucrase, the lab modules, the tslab display shim). A block that throws,
 * prints to stderr, or shows nothing fails here, so an edited page cannot ship a broken cell.
 */

import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseNotebook, runNotebook } from "@vfio-lab/notebooks";
import { describe, expect, test } from "vitest";

const GUIDE = fileURLToPath(new URL(".", import.meta.url));

/** The guide's Markdown files, in a stable order. */
function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => {
      const path = join(dir, e.name);
      if (e.isDirectory()) return markdownFiles(path);
      return e.name.endsWith(".md") ? [path] : [];
    });
}

/**
 * The live fences of one page, with their first line: info string `ts live` or `typescript live`,
 * anything after `live` ignored (the site's markdown plugin, `.vitepress/live-code.ts`, matches
 * the same).
 */
function liveBlocks(markdown: string): { line: number; code: string }[] {
  const blocks: { line: number; code: string }[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})\s*(?:ts|typescript)\s+live(?:\s.*)?$/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[1]!;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !lines[j]!.startsWith(fence); j++) body.push(lines[j]!);
    if (j === lines.length) throw new Error(`unclosed live block at line ${i + 1}`);
    blocks.push({ line: i + 1, code: `${body.join("\n")}\n` });
    i = j;
  }
  return blocks;
}

/** One code cell, as an nbformat 4.5 file the runner parses like any notebook. */
function oneCellNotebook(code: string) {
  return parseNotebook(
    JSON.stringify({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {
        kernelspec: { display_name: "TypeScript", language: "typescript", name: "tslab" },
        "vfio-lab": { title: "live example", summary: "A guide page's live example.", seed: null },
      },
      cells: [
        {
          cell_type: "code",
          id: "live",
          metadata: {},
          source: code,
          outputs: [],
          execution_count: null,
        },
      ],
    }),
  );
}

const cases = markdownFiles(GUIDE).flatMap((file) =>
  liveBlocks(readFileSync(file, "utf8")).map((b) => ({
    name: `${relative(GUIDE, file)}:${b.line}`,
    code: b.code,
  })),
);

test("the parser finds fences with their bodies and nothing else", () => {
  const md =
    "text\n```ts live\nconst a = 1;\n```\n```ts\nnot live\n```\n````ts live\nx\n```\ny\n````\n";
  expect(liveBlocks(md)).toEqual([
    { line: 2, code: "const a = 1;\n" },
    { line: 8, code: "x\n```\ny\n" },
  ]);
});

/** The pages the site's sidebar links to (docs/.vitepress/config.ts). */
const REQUIRED = [
  "index.md",
  "architecture.md",
  ...["groups", "containers", "iommufd", "dma-ownership", "no-iommu"].map(
    (c) => `concepts/${c}.md`,
  ),
  ...["hw-soc", "kernel", "iommufd", "vfio-core", "vfio-platform", "uio", "viz", "notebooks"].map(
    (p) => `packages/${p}.md`,
  ),
];

test("every page the sidebar links to exists", () => {
  const present = new Set(
    markdownFiles(GUIDE).map((f) => relative(GUIDE, f).replaceAll("\\", "/")),
  );
  expect(REQUIRED.filter((p) => !present.has(p))).toEqual([]);
});

test("every concept and package page carries at least one live example", () => {
  const pages = REQUIRED.filter((p) => /^(concepts|packages)\//.test(p)).map((p) => join(GUIDE, p));
  for (const page of pages) {
    expect(liveBlocks(readFileSync(page, "utf8")).length, relative(GUIDE, page)).toBeGreaterThan(0);
  }
});

describe("live examples run in the notebook runner", () => {
  test.each(cases)("$name", async ({ code }) => {
    const result = await runNotebook(oneCellNotebook(code));
    const outputs = result.outputs[0] ?? [];
    const errors = outputs.filter((o) => o.kind === "error");
    const stderr = outputs.filter((o) => o.kind === "stream" && o.name === "stderr");
    expect(errors, JSON.stringify(errors)).toEqual([]);
    expect(stderr, JSON.stringify(stderr)).toEqual([]);
    expect(result.failedCell).toBeNull();
    expect(outputs.length, "a live example must show something").toBeGreaterThan(0);
  });
});
