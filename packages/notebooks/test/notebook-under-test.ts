/**
 * What each nb-*.test.ts needs to check that its notebook's outputs still tell the notebook's
 * story: the parsed notebook, one run of it per test file, and lookups by cell id (ids, not
 * indices, so adding a cell does not shift every assertion). The checks every committed notebook
 * must pass, whatever it says, are in notebooks-committed.test.ts.
 */

import { readFileSync } from "node:fs";
import { beforeAll, expect } from "vitest";
import {
  type CellOutput,
  type DisplayMime,
  type NotebookFile,
  parseNotebook,
  type RunResult,
  runNotebook,
} from "../src/index.js";

export interface NotebookUnderTest {
  readonly nb: NotebookFile;
  /** Every code cell ran, in order, and none failed (else the failing cell's outputs say why). */
  expectEveryCellRan(): void;
  /** The source of cell `id`. */
  source(id: string): string;
  /** Everything cell `id` output, in order. */
  outputs(id: string): readonly CellOutput[];
  /** What cell `id` printed to stdout. */
  stdout(id: string): string;
  /** The displays of one MIME type cell `id` produced. */
  displays(id: string, mime: DisplayMime): string[];
}

/**
 * Parses notebooks/`name`.ipynb and registers a `beforeAll` that runs it once for the whole test
 * file (a run takes seconds). Call it at the top level of a test file.
 */
export function loadNotebook(name: string): NotebookUnderTest {
  const path = new URL(`../notebooks/${name}.ipynb`, import.meta.url);
  const nb = parseNotebook(readFileSync(path, "utf8"));
  let result: RunResult | undefined;
  beforeAll(async () => {
    result = await runNotebook(nb);
  }, 60_000);

  // Only a test may ask: the file's beforeAll runs the notebook after the tests are collected.
  const run = (): RunResult => {
    if (result === undefined) throw new Error(`${name}.ipynb has not run (outside a test?)`);
    return result;
  };
  const cellIndex = (id: string): number => {
    const i = nb.cells.findIndex((c) => c.id === id);
    if (i < 0) throw new Error(`${name}.ipynb has no cell ${id}`);
    return i;
  };
  const outputs = (id: string): readonly CellOutput[] => run().outputs[cellIndex(id)] ?? [];

  return {
    nb,
    expectEveryCellRan: () => {
      const r = run();
      const failure = r.failedCell === null ? "" : JSON.stringify(r.outputs[r.failedCell]);
      expect(r.failedCell, failure).toBeNull();
      expect(r.executed).toEqual(nb.cells.flatMap((c, i) => (c.cell_type === "code" ? [i] : [])));
    },
    source: (id) => nb.cells[cellIndex(id)]!.source,
    outputs,
    stdout: (id) =>
      outputs(id)
        .map((o) => (o.kind === "stream" && o.name === "stdout" ? o.text : ""))
        .join(""),
    displays: (id, mime) =>
      outputs(id).flatMap((o) => (o.kind === "display" && o.mime === mime ? [o.data] : [])),
  };
}

/** The lines must appear in this order (others may come between them). */
export function expectInOrder(text: string, want: readonly string[]): void {
  const lines = text.split("\n");
  let at = 0;
  for (const w of want) {
    const i = lines.indexOf(w, at);
    expect(i, `missing or out of order: ${w}\n${text}`).toBeGreaterThanOrEqual(0);
    at = i + 1;
  }
}
