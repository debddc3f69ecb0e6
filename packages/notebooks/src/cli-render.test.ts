import { bootLab } from "@vfio-lab/vfio-platform/testing";
import { snapshot } from "@vfio-lab/viz";
import { describe, expect, it } from "vitest";
import { notebook } from "../test/helpers.js";
import {
  ANSI,
  PLAIN,
  renderBoard,
  renderList,
  renderMarkdown,
  renderOutput,
  renderRun,
  textTable,
} from "./cli-render.js";
import { runNotebook } from "./run-notebook.js";

describe("renderMarkdown", () => {
  const md = "# Title\n\nSome **bold** text.\n\n```ts\n# not a heading\n```";
  it("leaves markdown as it is for a pipe", () => {
    expect(renderMarkdown(md, PLAIN)).toBe(md);
  });
  it("styles headings and bold for a terminal, not inside code fences", () => {
    const out = renderMarkdown(md, ANSI);
    expect(out).toContain("\x1b[1;4mTitle\x1b[22;24m");
    expect(out).toContain("Some \x1b[1mbold\x1b[22m text.");
    expect(out).toContain("# not a heading");
  });
});

describe("renderRun", () => {
  it("prints markdown, prompts with the execution count, outputs and the failure", async () => {
    const nb = notebook(
      { md: "# Demo" },
      "const a = 1;\nconsole.log(a);",
      'import * as tslab from "tslab";\ntslab.display.text("shown");\nthrow new RangeError("no");',
    );
    const result = await runNotebook(nb);
    expect(renderRun(nb, result)).toBe(
      [
        "# Demo\n",
        "In [1]: const a = 1;\n   ...: console.log(a);\n\n1\n",
        'In [2]: import * as tslab from "tslab";\n   ...: tslab.display.text("shown");\n   ...: throw new RangeError("no");\n\nshown\nRangeError: no\n',
        "Cell 2 (In [2]) failed: RangeError: no\n",
      ].join("\n"),
    );
  });

  it("prints outputs only with source: false, and colours the error on a terminal", async () => {
    const nb = notebook({ md: "# Demo" }, "console.log('out');", "null!.x;");
    const result = await runNotebook(nb);
    expect(renderRun(nb, result, { source: false })).toMatch(
      /^out\nTypeError: .*\nCell 2 \(In \[2\]\) failed: TypeError: /,
    );
    expect(renderRun(nb, result, { source: false, style: ANSI })).toContain("\x1b[31mTypeError");
  });

  it("renders SVG and HTML displays as text", () => {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text x="1" y="5">hello</text></svg>';
    expect(renderOutput({ kind: "display", mime: "image/svg+xml", data: svg }, PLAIN)).toContain(
      "hello",
    );
    const html = "<table><tr><th>a</th></tr><tr><td>cell</td></tr></table>";
    expect(renderOutput({ kind: "display", mime: "text/html", data: html }, PLAIN)).toContain(
      "cell",
    );
  });
});

describe("textTable", () => {
  it("pads columns to the widest entry and trims line ends", () => {
    expect(
      textTable([
        ["a", "bb", ""],
        ["ccc", "d", "e"],
      ]),
    ).toBe("a    bb\nccc  d   e\n");
  });
});

describe("renderList", () => {
  it("lists id, seed and title, with the summary underneath", () => {
    const out = renderList([
      { id: "00-tour", info: { title: "Tour", summary: "Look around.", seed: null } },
      { id: "01-x", info: { title: "X", summary: "Seed one.", seed: "001" } },
      { id: "02-bad", info: null, error: "not JSON" },
    ]);
    expect(out).toBe(
      [
        "ID       SEED  TITLE",
        "00-tour  -     Tour",
        "               Look around.",
        "01-x     001   X",
        "               Seed one.",
        "02-bad   -     not JSON",
        "",
      ].join("\n"),
    );
    expect(renderList([])).toBe("No notebooks.\n");
  });
});

describe("renderBoard", () => {
  it("lists devices, groups, drivers, modules and taint of the booted lab", () => {
    const { kernel } = bootLab({ modules: ["vfio_amba"] });
    const out = renderBoard("Board: test", kernel, snapshot(kernel));
    expect(out).toMatch(/^Board: test\n\nDevices \(49\)\n/);
    expect(out).toMatch(/\nc000000\.dma +amba +arm,pl330, arm,primecell +dma-pl330 +2\n/);
    expect(out).toMatch(/\na000000…a003e00\.virtio_mmio \(32\) +platform +virtio,mmio +- +-\n/);
    expect(out).toMatch(
      /\nIOMMU groups \(3\)\n[\s\S]*\n2 +9050000\.smmuv3 +kernel-dma +DMA \(default\) +c000000\.dma\n/,
    );
    expect(out).toMatch(/\namba +vfio-amba +vfio_amba +-\n/);
    expect(out).toMatch(/\nModules\nvfio_amba .*iommufd\n/);
    expect(out).toMatch(/\nTaint\nNot tainted\n$/);
  });
});
