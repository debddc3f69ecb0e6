import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { fixture, HAVE_DTC } from "../../test/dt-support.js";
import { parseDts } from "./dts-parser.js";
import { formatDts } from "./dts-writer.js";
import { decodeFdt, encodeFdt } from "./fdt.js";
import type { DeviceTree, DtNode, DtProperty } from "./tree.js";

const tree = (properties: DtProperty[], children: DtNode[] = []): DeviceTree => ({
  root: { name: "", labels: [], properties, children },
  memoryReservations: [],
  bootCpuidPhys: 0,
});
const p = (name: string, ...value: number[]): DtProperty => ({
  name,
  value: new Uint8Array(value),
});
const text = (s: string) => [...new TextEncoder().encode(s)];
const line = (prop: DtProperty) => formatDts(tree([prop])).split("\n")[3];

describe("DTS output in dtc -I dtb -O dts form", () => {
  it("prints QEMU's virt blob exactly as dtc 1.6.1 decompiled it", () => {
    const dtb = new Uint8Array(readFileSync(fixture("qemu-virt-smmuv3-gicv3.dtb")));
    expect(formatDts(decodeFdt(dtb))).toBe(
      readFileSync(fixture("qemu-virt-smmuv3-gicv3.dts"), "utf8"),
    );
  });

  it("guesses a printable NUL-terminated value is a string, inner NULs as \\0", () => {
    expect(line(p("compatible", ...text("arm,pl330\0arm,primecell\0")))).toBe(
      '\tcompatible = "arm,pl330\\0arm,primecell";',
    );
    expect(line(p("s", ...text('tab\there "q" \\ \x07\x08\x0b\x0c\r\n\0')))).toBe(
      '\ts = "tab\\there \\"q\\" \\\\ \\a\\b\\v\\f\\r\\n";',
    );
    expect(line(p("e", 0x61, 0))).toBe('\te = "a";');
  });

  it("takes whole cells when NULs outnumber text or a byte is not printable", () => {
    expect(line(p("c", 0, 0, 0, 1))).toBe("\tc = <0x01>;");
    expect(line(p("c", 0x61, 0, 0, 0))).toBe("\tc = <0x61000000>;");
    expect(line(p("c", 0x61, 0x62, 0, 0))).toBe('\tc = "ab\\0";');
    expect(line(p("c", 0x80, 0, 0, 0, 0, 0, 0x10, 0))).toBe("\tc = <0x80000000 0x1000>;");
  });

  it("falls back to a byte string, and prints empty properties bare", () => {
    expect(line(p("mac", 0, 0x11, 0x22, 0x33, 0x44, 0x55))).toBe("\tmac = [00 11 22 33 44 55];");
    expect(line(p("b", 0xff))).toBe("\tb = [ff];");
    expect(line(p("dma-coherent"))).toBe("\tdma-coherent;");
  });

  it("writes \\000 where dtc's \\0 would swallow a following octal digit", () => {
    const t = tree([p("s", ...text("a\x001\0"))]);
    expect(formatDts(t).split("\n")[3]).toBe('\ts = "a\\0001";');
    expect(encodeFdt(parseDts(formatDts(t)))).toEqual(encodeFdt(t));
  });

  it("lays out nodes, memory reservations and labels like dtc", () => {
    const t = parseDts(`/dts-v1/;
/memreserve/ 0x1000 0x2000;
/ { a = <1>; l: m: n@1 { x; k { }; }; e { }; };
`);
    expect(formatDts(t)).toBe(
      "/dts-v1/;\n\n" +
        "/memreserve/\t0x0000000000001000 0x0000000000002000;\n" +
        "/ {\n\ta = <0x01>;\n\n\tl: m: n@1 {\n\t\tx;\n\n\t\tk {\n\t\t};\n\t};\n\n\te {\n\t};\n};\n",
    );
  });

  it("formats a 20000-deep tree without running out of stack", () => {
    let node: DtNode = { name: "leaf", labels: [], properties: [], children: [] };
    for (let i = 0; i < 20000; i++)
      node = { name: "n", labels: [], properties: [], children: [node] };
    expect(formatDts(tree([], [node])).split("\n")).toHaveLength(3 + 2 * 20001 + 20002 + 1);
  });
});

/** A random tree of names dtc accepts and values of every shape. */
const arbTree: fc.Arbitrary<DeviceTree> = (() => {
  const value = fc.oneof(
    fc.uint8Array({ maxLength: 12 }),
    fc
      .array(
        fc.oneof(
          fc.constant(0),
          fc.integer({ min: 7, max: 13 }),
          fc.integer({ min: 0x20, max: 0x7e }),
        ),
        {
          maxLength: 12,
        },
      )
      .map((b) => new Uint8Array([...b, 0])),
    fc.array(fc.integer({ min: 0, max: 0xffff_ffff }), { maxLength: 4 }).map((cells) => {
      const v = new Uint8Array(cells.length * 4);
      for (const [i, c] of cells.entries()) new DataView(v.buffer).setUint32(i * 4, c);
      return v;
    }),
  );
  const props = fc
    .uniqueArray(
      fc.constantFrom("compatible", "reg", "status", "p", "q", "#size-cells", "x,y", "a_b"),
      {
        maxLength: 5,
      },
    )
    .chain((names) => fc.tuple(...names.map((n) => value.map((v) => ({ name: n, value: v })))));
  const node = (depth: number): fc.Arbitrary<DtNode> =>
    fc.record({
      name: fc.constantFrom("a", "b@1", "c", "d@2,3", "node-x"),
      labels: fc.constant([] as string[]),
      properties: props,
      children:
        depth === 0
          ? fc.constant([] as DtNode[])
          : fc.uniqueArray(node(depth - 1), { maxLength: 3, selector: (n) => n.name }),
    });
  return fc.record({
    root: node(3).map((n) => ({ ...n, name: "" })),
    memoryReservations: fc.array(
      fc.record({
        address: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        size: fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }),
      }),
      { maxLength: 2 },
    ),
    bootCpuidPhys: fc.constant(0),
  });
})();

describe("DTS output round trips", () => {
  test.prop([arbTree], { numRuns: 300 })(
    "parsing what formatDts prints gives back the same blob",
    (t) => {
      expect(Buffer.from(encodeFdt(parseDts(formatDts(t))))).toEqual(Buffer.from(encodeFdt(t)));
    },
  );
});

describe.skipIf(!HAVE_DTC)("DTS output against dtc 1.6.1", () => {
  test.prop([arbTree], { numRuns: 120 })(
    "equals dtc's own decompilation of the blob",
    (t) => {
      const r = spawnSync("dtc", ["-q", "-I", "dtb", "-O", "dts", "-"], { input: encodeFdt(t) });
      expect(r.status).toBe(0);
      expect(formatDts(t).replaceAll("\\000", "\\0")).toBe(r.stdout.toString());
    },
    60_000,
  );
});

it.runIf(!HAVE_DTC)("reports that the dtc cross-checks were skipped", () => {
  console.warn(
    "dtc (Debian device-tree-compiler 1.6.1) is not installed: skipping the dtc cross-check",
  );
});
