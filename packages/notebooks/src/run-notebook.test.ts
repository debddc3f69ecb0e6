import { describe, expect, it } from "vitest";
import { notebook } from "../test/helpers.js";
import type { CellOutput } from "./cell-output.js";
import { LAB_MODULES } from "./lab-modules.js";
import { runNotebook } from "./run-notebook.js";

const stdout = (text: string): CellOutput => ({ kind: "stream", name: "stdout", text });

describe("runNotebook", () => {
  it("shares one top-level scope across cells and keeps outputs per cell", async () => {
    const nb = notebook(
      "const a: number = 20;\nfunction twice(n: number) { return 2 * n; }",
      { md: "# between" },
      "let b = twice(a) + 2;\nconsole.log('b is', b);",
      "b += 1;\nconsole.log(b);",
    );
    const r = await runNotebook(nb);
    expect(r.failedCell).toBeNull();
    expect(r.executed).toEqual([0, 2, 3]);
    expect(r.outputs).toEqual([[], [], [stdout("b is 42\n")], [stdout("43\n")]]);
  });

  it("sees an import from an earlier cell in later ones, and a hoisted function too", async () => {
    const nb = notebook(
      'import { SysError } from "@vfio-lab/kernel";\nconsole.log(later());',
      "function later() { return typeof SysError; }\nconsole.log(new SysError('EBUSY', 'f').code);",
    );
    const r = await runNotebook(nb);
    expect(r.outputs).toEqual([[stdout("function\n")], [stdout("EBUSY\n")]]);
  });

  it("merges consecutive writes to one stream and separates stdout from stderr", async () => {
    const r = await runNotebook(
      notebook(
        "console.log(1); console.info('two'); console.warn('w'); console.error('e'); console.log(3n);",
      ),
    );
    expect(r.outputs[0]).toEqual([
      stdout("1\ntwo\n"),
      { kind: "stream", name: "stderr", text: "w\ne\n" },
      stdout("3n\n"),
    ]);
  });

  it("formats console arguments as Node does", async () => {
    const r = await runNotebook(
      notebook("console.log({ a: 1, b: 'x', c: [1n, null] }, 'tail', %d);".replace("%d", "7")),
    );
    expect(r.outputs[0]).toEqual([stdout("{ a: 1, b: 'x', c: [ 1n, null ] } tail 7\n")]);
  });

  it("indents console.group and reports failed assertions on stderr", async () => {
    const r = await runNotebook(
      notebook(
        "console.group('G'); console.log('in'); console.groupEnd(); console.assert(1 > 2, 'no %s', 'way'); console.dir({ x: 1 });",
      ),
    );
    expect(r.outputs[0]).toEqual([
      stdout("G\n  in\n"),
      { kind: "stream", name: "stderr", text: "Assertion failed: no way\n" },
      stdout("{ x: 1 }\n"),
    ]);
  });

  it("turns tslab.display calls into display outputs of the running cell", async () => {
    const nb = notebook(
      'import * as tslab from "tslab";\ntslab.display.html("<b>x</b>");',
      'console.log("before");\ntslab.display.svg("<svg/>");\ntslab.display.markdown("*m*");\ntslab.display.text("t");',
    );
    const r = await runNotebook(nb);
    expect(r.outputs).toEqual([
      [{ kind: "display", mime: "text/html", data: "<b>x</b>" }],
      [
        stdout("before\n"),
        { kind: "display", mime: "image/svg+xml", data: "<svg/>" },
        { kind: "display", mime: "text/markdown", data: "*m*" },
        { kind: "display", mime: "text/plain", data: "t" },
      ],
    ]);
  });

  it("refuses tslab displays it does not implement, as a cell error", async () => {
    const r = await runNotebook(
      notebook('import * as tslab from "tslab";\ntslab.display.png(new Uint8Array(1));'),
    );
    expect(r.failedCell).toBe(0);
    expect(r.outputs[0]).toEqual([
      {
        kind: "error",
        ename: "Error",
        evalue: "tslab.display.png() is not supported by the vfio-lab notebook runner",
      },
    ]);
  });

  it("supports top-level await", async () => {
    const r = await runNotebook(
      notebook(
        "const v = await new Promise<number>((res) => res(5));",
        "console.log(await Promise.resolve(v * 2));",
      ),
    );
    expect(r.outputs).toEqual([[], [stdout("10\n")]]);
  });

  it("stops at the first uncaught error, which lands on its cell", async () => {
    const nb = notebook(
      "console.log('one');",
      "console.log('two');\nthrow new TypeError('boom');",
      "console.log('never');",
    );
    const r = await runNotebook(nb);
    expect(r.failedCell).toBe(1);
    expect(r.executed).toEqual([0, 1]);
    expect(r.outputs).toEqual([
      [stdout("one\n")],
      [stdout("two\n"), { kind: "error", ename: "TypeError", evalue: "boom" }],
      [],
    ]);
  });

  it("lands an error thrown after an await on the cell that awaited", async () => {
    const nb = notebook("await Promise.resolve();", "await Promise.resolve(); null!.x;", "1;");
    const r = await runNotebook(nb);
    expect(r.failedCell).toBe(1);
    expect(r.outputs[1]?.[0]).toMatchObject({ kind: "error", ename: "TypeError" });
  });

  it("names a SysError by its errno", async () => {
    const nb = notebook(
      'import { bootLab } from "@vfio-lab/vfio-platform/testing";\nimport { vfioModule } from "@vfio-lab/vfio-core";\nconst lab = bootLab();',
      "lab.kernel.modprobe(vfioModule);",
    );
    const r = await runNotebook(nb);
    expect(r.failedCell).toBe(1);
    const err = r.outputs[1]?.[0];
    expect(err).toMatchObject({ kind: "error", ename: "EEXIST" });
    expect(err?.kind === "error" && err.evalue).toMatch(/EEXIST \(File exists\)/);
  });

  it("reports a thrown non-Error as it would print", async () => {
    const r = await runNotebook(notebook("throw { code: 7 };"));
    expect(r.outputs[0]).toEqual([{ kind: "error", ename: "Error", evalue: "{ code: 7 }" }]);
  });

  it("puts a syntax error on its cell and still runs the cells before it", async () => {
    const nb = notebook("console.log('ok');", "const x = ;", "console.log('never');");
    const r = await runNotebook(nb);
    expect(r.failedCell).toBe(1);
    expect(r.executed).toEqual([0, 1]);
    expect(r.outputs[0]).toEqual([stdout("ok\n")]);
    expect(r.outputs[1]).toEqual([
      { kind: "error", ename: "SyntaxError", evalue: "Unexpected token (1:11)" },
    ]);
    expect(r.outputs[2]).toEqual([]);
  });

  it("finds a syntax error in an edited cell through `sources`", async () => {
    const nb = notebook("console.log('a');", "console.log('b');", "console.log('c');");
    const r = await runNotebook(nb, { sources: { 2: "console.log('c'\n  + );" } });
    expect(r.failedCell).toBe(2);
    expect(r.outputs[0]).toEqual([stdout("a\n")]);
    expect(r.outputs[1]).toEqual([stdout("b\n")]);
    expect(r.outputs[2]).toEqual([
      { kind: "error", ename: "SyntaxError", evalue: "Unexpected token (2:5)" },
    ]);
  });

  it("requires each cell to parse on its own, as tslab compiles cell by cell", async () => {
    const r = await runNotebook(notebook("function f() {", "}"));
    expect(r.failedCell).toBe(0);
    expect(r.outputs[0]?.[0]).toMatchObject({ kind: "error", ename: "SyntaxError" });
  });

  it("pins an engine compile error (a name declared twice) on the second declaration's cell", async () => {
    const nb = notebook("console.log(1);", "const dup = 1;", "console.log(2);", "let dup = 2;");
    const r = await runNotebook(nb);
    expect(r.failedCell).toBe(3);
    expect(r.outputs.slice(0, 3)).toEqual([[stdout("1\n")], [], [stdout("2\n")]]);
    expect(r.outputs[3]?.[0]).toMatchObject({ kind: "error", ename: "SyntaxError" });
  });

  it("a runtime error before a syntax error wins, as the run never reaches the later cell", async () => {
    const r = await runNotebook(notebook("throw new RangeError('first');", "const = 1;"));
    expect(r.failedCell).toBe(0);
    expect(r.outputs[1]).toEqual([]);
  });

  it("runs cells 0..upTo only", async () => {
    const nb = notebook("console.log(0);", { md: "m" }, "console.log(2);", "console.log(3);");
    expect((await runNotebook(nb, { upTo: 2 })).outputs).toEqual([
      [stdout("0\n")],
      [],
      [stdout("2\n")],
      [],
    ]);
    expect((await runNotebook(nb, { upTo: 1 })).executed).toEqual([0]);
    expect((await runNotebook(nb, { upTo: -1 })).executed).toEqual([]);
    expect((await runNotebook(nb, { upTo: 99 })).executed).toEqual([0, 2, 3]);
  });

  it("ignores a syntax error past upTo", async () => {
    const r = await runNotebook(notebook("console.log(0);", "const = ;"), { upTo: 0 });
    expect(r.failedCell).toBeNull();
  });

  it("replaces sources and starts every run from a fresh state", async () => {
    const nb = notebook(
      'import { bootLab, DEV } from "@vfio-lab/vfio-platform/testing";\nconst lab = bootLab({ modules: ["vfio_amba"] });',
      "const dir = '/sys/bus/amba/devices/' + DEV.PL330.name;\nconsole.log(lab.admin.readlink(dir + '/driver'));",
    );
    const edited = await runNotebook(nb, {
      sources: {
        1: "const dir = '/sys/bus/amba/devices/' + DEV.PL330.name;\nlab.admin.writeFile(dir + '/driver/unbind', DEV.PL330.name);\nconsole.log(lab.admin.readdir(dir).includes('driver'));",
      },
    });
    expect(edited.outputs[1]).toEqual([stdout("false\n")]);
    const again = await runNotebook(nb);
    expect(again.outputs[1]).toEqual([stdout("../../../../bus/amba/drivers/dma-pl330\n")]);
  });

  it("is deterministic: two runs give identical outputs", async () => {
    const nb = notebook(
      'import { bootLab } from "@vfio-lab/vfio-platform/testing";\nimport { snapshot, topologySvg } from "@vfio-lab/viz";\nimport * as tslab from "tslab";',
      "const lab = bootLab();\nconsole.log(lab.kernel.dmesg().join('\\n'));\ntslab.display.svg(topologySvg(snapshot(lab.kernel)));",
    );
    const a = await runNotebook(nb);
    const b = await runNotebook(nb);
    expect(a.failedCell).toBeNull();
    expect(b).toEqual(a);
  });

  it("refuses bad options", async () => {
    const nb = notebook("1;");
    await expect(runNotebook(nb, { upTo: 0.5 })).rejects.toThrow(RangeError);
    await expect(runNotebook(nb, { sources: { 3: "x" } })).rejects.toThrow(/no cell 3/);
  });

  it("rejects an import the runner does not provide, naming what it provides", async () => {
    const r = await runNotebook(notebook('import { readFileSync } from "node:fs";\nreadFileSync;'));
    expect(r.failedCell).toBe(0);
    const err = r.outputs[0]?.[0];
    expect(err?.kind === "error" && err.evalue).toMatch(
      /^Cannot find module 'node:fs': .*@vfio-lab\/viz, tslab$/,
    );
  });

  it("gives default imports the module's default export", async () => {
    const r = await runNotebook(
      notebook(
        'import vfio from "@vfio-lab/vfio-core";\nimport iommufd from "@vfio-lab/iommufd";\nconsole.log(vfio.name, iommufd.name);',
      ),
    );
    expect(r.outputs[0]).toEqual([stdout("vfio iommufd\n")]);
  });

  it("keeps overlapping runs' outputs apart", async () => {
    const slow = notebook(
      'import * as tslab from "tslab";\nawait new Promise((r) => setTimeout(r, 20));\ntslab.display.text("slow");',
    );
    const fast = notebook('import * as tslab from "tslab";\ntslab.display.text("fast");');
    const [a, b] = await Promise.all([runNotebook(slow), runNotebook(fast)]);
    expect(a.outputs[0]).toEqual([{ kind: "display", mime: "text/plain", data: "slow" }]);
    expect(b.outputs[0]).toEqual([{ kind: "display", mime: "text/plain", data: "fast" }]);
  });
});

describe("LAB_MODULES", () => {
  it("has every @vfio-lab main entry, the VMM fixture and tslab, each marked as an ES module", () => {
    expect(Object.keys(LAB_MODULES).sort()).toEqual([
      "@vfio-lab/hw-soc",
      "@vfio-lab/iommufd",
      "@vfio-lab/kernel",
      "@vfio-lab/uio",
      "@vfio-lab/vfio-core",
      "@vfio-lab/vfio-platform",
      "@vfio-lab/vfio-platform/testing",
      "@vfio-lab/viz",
      "tslab",
    ]);
    for (const m of Object.values(LAB_MODULES))
      expect((m as { __esModule?: boolean }).__esModule).toBe(true);
    expect(
      typeof (LAB_MODULES["@vfio-lab/vfio-platform/testing"] as { bootLab?: unknown }).bootLab,
    ).toBe("function");
  });

  it("its shared tslab shim refuses to display outside a run", () => {
    const shim = LAB_MODULES.tslab as { display: { html(s: string): void } };
    expect(() => shim.display.html("<p/>")).toThrow(/outside a notebook run/);
  });
});
