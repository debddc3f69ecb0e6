import type { NotebookCell, NotebookFile } from "../src/index.js";

/** An in-memory notebook: strings are code cells, `{ md }` markdown cells. */
export function notebook(...cells: (string | { md: string })[]): NotebookFile {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {},
    cells: cells.map(
      (c, i): NotebookCell =>
        typeof c === "string"
          ? { cell_type: "code", id: `c${i}`, source: c, metadata: {} }
          : { cell_type: "markdown", id: `c${i}`, source: c.md, metadata: {} },
    ),
  };
}
