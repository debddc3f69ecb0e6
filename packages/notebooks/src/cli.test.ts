import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliIo, main } from "./cli.js";
import { parseNotebook } from "./notebook-file.js";

const FIXTURES = new URL("../test/fixtures/", import.meta.url).pathname;

function hasDtc(): boolean {
  try {
    execFileSync("dtc", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function ipynb(title: string, seed: string | null, ...sources: string[]): string {
  return JSON.stringify({
    cells: sources.map((s, i) => ({
      cell_type: s.startsWith("#") ? "markdown" : "code",
      id: `c${i}`,
      metadata: {},
      source: s,
      ...(s.startsWith("#") ? {} : { execution_count: null, outputs: [] }),
    })),
    metadata: { "vfio-lab": { title, summary: `About ${title}.`, seed } },
    nbformat: 4,
    nbformat_minor: 5,
  });
}

let dir: string;
let notebooksDir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "vfio-lab-cli-"));
  notebooksDir = join(dir, "notebooks");
  mkdirSync(notebooksDir);
  writeFileSync(
    join(notebooksDir, "00-hello.ipynb"),
    ipynb("Hello", null, "# Hello", "console.log('hi');"),
  );
  writeFileSync(
    join(notebooksDir, "01-fails.ipynb"),
    ipynb("Fails", "001", "console.log('a');", "throw new Error('b');"),
  );
  writeFileSync(join(notebooksDir, "notes.txt"), "not a notebook");
  writeFileSync(join(dir, "loose.ipynb"), ipynb("Loose", null, "console.log(6 * 7);"));
  writeFileSync(join(dir, "broken.ipynb"), "{ nope");
  writeFileSync(join(dir, "bad.dts"), "/dts-v1/;\n/ {\n  foo = <1 2;\n};\n");
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: CliIo = {
    stdout: (s) => {
      out += s;
    },
    stderr: (s) => {
      err += s;
    },
    color: false,
    cwd: dir,
    notebooksDir,
  };
  const code = await main(argv, io);
  return { code, out, err };
}

describe("vfio-lab list", () => {
  it("lists the .ipynb files of the notebooks directory with their metadata", async () => {
    const r = await cli("list");
    expect(r).toMatchObject({ code: 0, err: "" });
    expect(r.out).toBe(
      "ID        SEED  TITLE\n00-hello  -     Hello\n                About Hello.\n01-fails  001   Fails\n                About Fails.\n",
    );
  });
});

describe("vfio-lab run", () => {
  it("runs a notebook by id, by number and by path", async () => {
    for (const name of ["00-hello", "00", join(notebooksDir, "00-hello.ipynb")]) {
      const r = await cli("run", name);
      expect(r).toEqual({ code: 0, out: "# Hello\n\nIn [1]: console.log('hi');\n\nhi\n", err: "" });
    }
    expect((await cli("run", "loose.ipynb")).out).toContain("42\n");
  });

  it("prints outputs only with --no-source", async () => {
    expect(await cli("run", "00", "--no-source")).toEqual({ code: 0, out: "hi\n", err: "" });
  });

  it("exits 1 when a cell fails, naming the cell", async () => {
    const r = await cli("run", "01");
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/\nCell 1 \(In \[2\]\) failed: Error: b\n$/);
  });

  it("writes the executed notebook with --json", async () => {
    const r = await cli("run", "01-fails", "--json");
    expect(r.code).toBe(1);
    const nb = JSON.parse(r.out);
    expect(nb.cells.map((c: { execution_count: number }) => c.execution_count)).toEqual([1, 2]);
    expect(nb.cells[1].outputs[0]).toMatchObject({
      output_type: "error",
      ename: "Error",
      evalue: "b",
    });
    expect(parseNotebook(r.out).cells).toHaveLength(2);
  });

  it("refuses unknown or ambiguous notebooks, bad files and bad usage with exit 2", async () => {
    expect(await cli("run", "07")).toEqual({
      code: 2,
      out: "",
      err: 'vfio-lab: no notebook "07" (notebooks: 00-hello, 01-fails)\n',
    });
    expect((await cli("run", "missing.ipynb")).err).toBe(
      "vfio-lab: no such notebook file: missing.ipynb\n",
    );
    expect((await cli("run", "broken.ipynb")).err).toMatch(
      /^vfio-lab: .*broken\.ipynb: not JSON: /,
    );
    expect((await cli("run")).code).toBe(2);
    expect((await cli("run", "00", "--fast")).err).toBe("vfio-lab: unknown option --fast\n");
  });
});

describe("vfio-lab board", () => {
  it("boots the lab's default board with its modules", async () => {
    const r = await cli("board");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Board: virtLab/);
    expect(r.out).toMatch(/\nc000000\.dma +amba +arm,pl330, arm,primecell +dma-pl330 +2\n/);
    expect(r.out).toMatch(/\nplatform +vfio-platform +vfio_platform +-\n/);
    expect(r.out).toMatch(/\nTaint\nNot tainted\n$/);
  });

  it("boots QEMU's own virt tree from DTS and from DTB to the same devices", async () => {
    const dts = await cli("board", join(FIXTURES, "qemu-virt-smmuv3-gicv3.dts"));
    const dtb = await cli("board", join(FIXTURES, "qemu-virt-smmuv3-gicv3.dtb"));
    expect(dts.code).toBe(0);
    expect(dts.out).toMatch(/\n9000000\.pl011 +amba +arm,pl011, arm,primecell +uart-pl011 +-\n/);
    // QEMU's SMMU translates PCI only: no platform device has a group.
    expect(dts.out).toContain("\nIOMMU groups (0)\nnone\n");
    expect(dtb.out.replace(/^Board: .*\n/, "")).toBe(dts.out.replace(/^Board: .*\n/, ""));
  });

  it.skipIf(!hasDtc())("boots a DTB compiled by dtc", async () => {
    const dtbPath = join(dir, "virt.dtb");
    execFileSync(
      "dtc",
      ["-I", "dts", "-O", "dtb", "-o", dtbPath, join(FIXTURES, "qemu-virt-smmuv3-gicv3.dts")],
      {
        stdio: "ignore",
      },
    );
    const r = await cli("board", dtbPath);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Board: virt\.dtb\n/);
    expect(r.out).toMatch(/\n9030000\.pl061 +amba .* pl061_gpio +-\n/);
  });

  it("prints the topology SVG with --svg", async () => {
    const r = await cli("board", "--svg");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^<svg[^>]*>[\s\S]*<\/svg>\n$/);
  });

  it("refuses a missing file, a bad DTS (with line and column) and a non-DT file with exit 2", async () => {
    expect(await cli("board", "nope.dts")).toEqual({
      code: 2,
      out: "",
      err: "vfio-lab: cannot read nope.dts: ENOENT\n",
    });
    const bad = await cli("board", "bad.dts");
    expect(bad).toMatchObject({ code: 2, out: "" });
    expect(bad.err).toMatch(/^vfio-lab: bad\.dts:3:13: syntax error: .*\n$/);
    expect(bad.err.split("\n")).toHaveLength(2);
    writeFileSync(join(dir, "junk.dtb"), new Uint8Array([0xd0, 0x0d, 0xfe, 0xed, 0, 0, 0, 8]));
    const junk = await cli("board", "junk.dtb");
    expect(junk.code).toBe(2);
    expect(junk.err).toMatch(/^vfio-lab: junk\.dtb: FDT/);
    expect((await cli("board", "a.dts", "b.dts")).code).toBe(2);
  });
});

describe("usage", () => {
  it("prints usage on --help (exit 0) and with no arguments (stderr, exit 2)", async () => {
    const help = await cli("--help");
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^Usage: vfio-lab <command>/);
    expect((await cli("board", "--help")).out).toBe(help.out);
    expect(await cli()).toEqual({ code: 2, out: "", err: help.out });
    expect(await cli("frob")).toEqual({
      code: 2,
      out: "",
      err: 'vfio-lab: unknown command "frob" (try vfio-lab --help)\n',
    });
  });

  it("reads the fixture it boots (sanity: the copy is QEMU's tree)", () => {
    expect(readFileSync(join(FIXTURES, "qemu-virt-smmuv3-gicv3.dts"), "utf8")).toMatch(
      /^\/dts-v1\/;/,
    );
  });
});
