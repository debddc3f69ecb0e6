import { describe, expect, it } from "vitest";
import { notebook } from "../test/helpers.js";
import { executedNotebook, ipynbText, outputsToIpynb } from "./ipynb-output.js";
import { parseNotebook } from "./notebook-file.js";
import { runNotebook } from "./run-notebook.js";

describe("outputsToIpynb", () => {
  it("maps streams, displays and errors to nbformat outputs with multi-line strings as lines", () => {
    expect(
      outputsToIpynb([
        { kind: "stream", name: "stdout", text: "a\nb\n" },
        { kind: "display", mime: "image/svg+xml", data: "<svg>\n</svg>" },
        { kind: "error", ename: "EBUSY", evalue: "vfio_group_fops_open: EBUSY" },
      ]),
    ).toEqual([
      { output_type: "stream", name: "stdout", text: ["a\n", "b\n"] },
      {
        output_type: "display_data",
        data: { "image/svg+xml": ["<svg>\n", "</svg>"] },
        metadata: {},
      },
      {
        output_type: "error",
        ename: "EBUSY",
        evalue: "vfio_group_fops_open: EBUSY",
        traceback: ["EBUSY: vfio_group_fops_open: EBUSY"],
      },
    ]);
  });
});

describe("executedNotebook", () => {
  it("fills outputs and execution counts of the cells that ran, and parses back", async () => {
    const nb = notebook(
      { md: "# T" },
      "console.log('x');",
      "throw new Error('stop');",
      "console.log('y');",
    );
    const result = await runNotebook(nb);
    const text = ipynbText(executedNotebook(nb, result));
    const doc = JSON.parse(text);
    expect(doc.cells.map((c: { execution_count?: unknown }) => c.execution_count)).toEqual([
      undefined,
      1,
      2,
      null,
    ]);
    expect(doc.cells[1].outputs).toEqual([
      { name: "stdout", output_type: "stream", text: ["x\n"] },
    ]);
    expect(doc.cells[2].outputs[0].ename).toBe("Error");
    expect(doc.cells[3].outputs).toEqual([]);
    expect(parseNotebook(text).cells.map((c) => c.source)).toEqual(nb.cells.map((c) => c.source));
  });

  it("writes as Jupyter does: keys sorted, one-space indent, newline at the end", async () => {
    const nb = notebook("1;");
    const text = ipynbText(executedNotebook(nb, await runNotebook(nb)));
    expect(text).toBe(
      `${[
        "{",
        ' "cells": [',
        "  {",
        '   "cell_type": "code",',
        '   "execution_count": 1,',
        '   "id": "c0",',
        '   "metadata": {},',
        '   "outputs": [],',
        '   "source": [',
        '    "1;"',
        "   ]",
        "  }",
        " ],",
        ' "metadata": {},',
        ' "nbformat": 4,',
        ' "nbformat_minor": 5',
        "}",
      ].join("\n")}\n`,
    );
  });

  it("records the replacement sources a run used", async () => {
    const nb = notebook("console.log(1);");
    const sources = { 0: "console.log(2);" };
    const doc = executedNotebook(nb, await runNotebook(nb, { sources }), sources) as {
      cells: { source: string[]; outputs: { text: string[] }[] }[];
    };
    expect(doc.cells[0]?.source).toEqual(["console.log(2);"]);
    expect(doc.cells[0]?.outputs[0]?.text).toEqual(["2\n"]);
  });
});
