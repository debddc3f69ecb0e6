import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { NotebookFormatError, notebookInfo, parseNotebook } from "./notebook-file.js";

const valid = {
  cells: [
    { cell_type: "markdown", id: "intro", metadata: {}, source: ["# Title\n", "text"] },
    {
      cell_type: "code",
      execution_count: null,
      id: "c-1",
      metadata: {},
      outputs: [],
      source: "const x = 1;",
    },
    { cell_type: "raw", id: "r_1", metadata: { format: "text/plain" }, source: [] },
  ],
  metadata: {
    kernelspec: { display_name: "TypeScript", language: "typescript", name: "tslab" },
    "vfio-lab": { title: "T", summary: "S.", seed: "000" },
  },
  nbformat: 4,
  nbformat_minor: 5,
};

function withChange(change: (nb: Record<string, unknown>) => void): string {
  const nb = structuredClone(valid) as unknown as Record<string, unknown>;
  change(nb);
  return JSON.stringify(nb);
}

describe("parseNotebook", () => {
  it("reads cells, joins multi-line sources and keeps the metadata", () => {
    const nb = parseNotebook(JSON.stringify(valid));
    expect(nb.nbformat_minor).toBe(5);
    expect(nb.cells.map((c) => [c.cell_type, c.id, c.source])).toEqual([
      ["markdown", "intro", "# Title\ntext"],
      ["code", "c-1", "const x = 1;"],
      ["raw", "r_1", ""],
    ]);
    expect(nb.cells[2]?.metadata).toEqual({ format: "text/plain" });
    expect(nb.metadata.kernelspec?.name).toBe("tslab");
    expect(notebookInfo(nb)).toEqual({ title: "T", summary: "S.", seed: "000" });
  });

  it("accepts a notebook without vfio-lab metadata, and cells without ids before nbformat 4.5", () => {
    const nb = parseNotebook(
      withChange((n) => {
        n.metadata = {};
        n.nbformat_minor = 4;
        for (const c of n.cells as Record<string, unknown>[]) delete c.id;
      }),
    );
    expect(notebookInfo(nb)).toBeNull();
    expect(nb.cells.every((c) => c.id === null)).toBe(true);
  });

  const bad: [string, string, RegExp][] = [
    ["not JSON", "{", /^not JSON: /],
    ["an array", "[]", /^expected a notebook object, got an array$/],
    [
      "nbformat 3",
      withChange((n) => {
        n.nbformat = 3;
      }),
      /^nbformat: expected 4, got number 3$/,
    ],
    [
      "no minor",
      withChange((n) => {
        delete n.nbformat_minor;
      }),
      /^nbformat_minor: expected an integer/,
    ],
    [
      "cells not a list",
      withChange((n) => {
        n.cells = {};
      }),
      /^cells: expected a list, got an object$/,
    ],
    [
      "a cell not an object",
      withChange((n) => {
        n.cells = [1];
      }),
      /^cells\[0\]: expected an object/,
    ],
    [
      "an unknown cell type",
      withChange((n) => {
        (n.cells as Record<string, unknown>[])[1]!.cell_type = "heading";
      }),
      /^cells\[1\]\.cell_type: expected "code", "markdown" or "raw", got string "heading"$/,
    ],
    [
      "a missing id in 4.5",
      withChange((n) => {
        delete (n.cells as Record<string, unknown>[])[2]!.id;
      }),
      /^cells\[2\]\.id: missing \(nbformat 4\.5 requires a cell id\)$/,
    ],
    [
      "a bad id",
      withChange((n) => {
        (n.cells as Record<string, unknown>[])[0]!.id = "has space";
      }),
      /^cells\[0\]\.id: expected 1-64 letters/,
    ],
    [
      "a duplicate id",
      withChange((n) => {
        (n.cells as Record<string, unknown>[])[2]!.id = "intro";
      }),
      /^cells\[2\]\.id: "intro" is also the id of cells\[0\]$/,
    ],
    [
      "a missing source",
      withChange((n) => {
        delete (n.cells as Record<string, unknown>[])[1]!.source;
      }),
      /^cells\[1\]\.source: missing$/,
    ],
    [
      "a non-string line",
      withChange((n) => {
        (n.cells as Record<string, unknown>[])[0]!.source = ["a", 2];
      }),
      /^cells\[0\]\.source\[1\]: expected a string, got number 2$/,
    ],
    [
      "a bad cell metadata",
      withChange((n) => {
        (n.cells as Record<string, unknown>[])[0]!.metadata = [];
      }),
      /^cells\[0\]\.metadata: expected an object, got an array$/,
    ],
    [
      "a bad metadata",
      withChange((n) => {
        n.metadata = "x";
      }),
      /^metadata: expected an object/,
    ],
    [
      "a vfio-lab title that is not a string",
      withChange((n) => {
        (n.metadata as Record<string, Record<string, unknown>>)["vfio-lab"]!.title = 1;
      }),
      /^metadata\["vfio-lab"\]\.title: expected a string, got number 1$/,
    ],
    [
      "a vfio-lab seed that is a number",
      withChange((n) => {
        (n.metadata as Record<string, Record<string, unknown>>)["vfio-lab"]!.seed = 0;
      }),
      /^metadata\["vfio-lab"\]\.seed: expected a string or null, got number 0$/,
    ],
  ];
  for (const [what, text, message] of bad) {
    it(`refuses ${what} with a NotebookFormatError naming the field`, () => {
      let err: unknown;
      try {
        parseNotebook(text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NotebookFormatError);
      expect((err as Error).message).toMatch(message);
    });
  }

  test.prop([
    fc.array(
      fc.record({
        cell_type: fc.constantFrom("code", "markdown", "raw"),
        lines: fc.array(fc.string({ unit: "grapheme" }), { maxLength: 5 }),
      }),
      { maxLength: 8 },
    ),
  ])("any well-formed cell list parses back to the joined sources", (cells) => {
    const doc = {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {},
      cells: cells.map((c, i) => ({
        cell_type: c.cell_type,
        id: `cell-${i}`,
        metadata: {},
        source: c.lines,
      })),
    };
    const nb = parseNotebook(JSON.stringify(doc));
    expect(nb.cells.map((c) => [c.cell_type, c.source])).toEqual(
      cells.map((c) => [c.cell_type, c.lines.join("")]),
    );
  });
});
