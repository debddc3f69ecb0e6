/**
 * Every notebook in notebooks/ runs through the runner with no failing cell — the fast check
 * (seconds, no Jupyter) that catches a broken notebook before the tslab run in CI does.
 */
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseNotebook, runNotebook } from "../src/index.js";

const DIR = new URL("../notebooks/", import.meta.url);
const files = readdirSync(DIR)
  .filter((f) => f.endsWith(".ipynb"))
  .sort();

describe("notebooks/", () => {
  let ran = 0;

  for (const file of files) {
    it(`${file} runs without a failing cell`, async () => {
      const nb = parseNotebook(readFileSync(new URL(file, DIR), "utf8"));
      const r = await runNotebook(nb);
      ran++;
      const failure =
        r.failedCell === null
          ? null
          : {
              cell: r.failedCell,
              id: nb.cells[r.failedCell]?.id,
              error: r.outputs[r.failedCell]?.at(-1),
            };
      expect(failure).toBeNull();
      expect(r.executed).toHaveLength(nb.cells.filter((c) => c.cell_type === "code").length);
    });
  }

  it("ran every .ipynb file", () => {
    expect(ran).toBe(files.length);
  });
});
