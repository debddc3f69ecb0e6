import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { E4, fixture, HAVE_DTC, stripLabels } from "../../test/dt-support.js";
import { parseDts } from "./dts-parser.js";
import {
  decodeFdt,
  encodeFdt,
  FDT_BEGIN_NODE,
  FDT_END,
  FDT_END_NODE,
  FDT_NOP,
  FDT_PROP,
  FdtFormatError,
  isFdt,
} from "./fdt.js";
import { DtValueError } from "./properties.js";
import type { DeviceTree, DtNode } from "./tree.js";

const NO_DTC =
  "dtc (Debian device-tree-compiler 1.6.1) is not installed: skipping the dtc cross-check";

function dtc(args: string[], input: string | Uint8Array): Buffer {
  const r = spawnSync("dtc", ["-q", ...args, "-"], { input });
  if (r.status !== 0) throw new Error(`dtc ${args.join(" ")} failed: ${r.stderr.toString()}`);
  return r.stdout;
}

const QEMU_DTB = new Uint8Array(readFileSync(fixture("qemu-virt-smmuv3-gicv3.dtb")));
const qemuDtb = () => QEMU_DTB.slice();

const u32At = (b: Uint8Array, off: number) => new DataView(b.buffer, b.byteOffset).getUint32(off);
const withU32 = (b: Uint8Array, off: number, v: number) => {
  const c = b.slice();
  new DataView(c.buffer).setUint32(off, v);
  return c;
};

/**
 * Assembles a v17 blob around a hand-written structure block: numbers are tokens or cells,
 * strings are node names (NUL-terminated and padded, as in the format).
 */
function blob(struct: (number | string)[], strings = "a\0"): Uint8Array {
  const words: number[] = [];
  for (const item of struct) {
    if (typeof item === "number") {
      words.push((item >>> 24) & 0xff, (item >>> 16) & 0xff, (item >>> 8) & 0xff, item & 0xff);
    } else {
      const bytes = [...new TextEncoder().encode(item), 0];
      while (bytes.length % 4 !== 0) bytes.push(0);
      words.push(...bytes);
    }
  }
  const str = new TextEncoder().encode(strings);
  const total = 0x38 + words.length + str.length;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  v.setUint32(0x00, 0xd00dfeed);
  v.setUint32(0x04, total);
  v.setUint32(0x08, 0x38);
  v.setUint32(0x0c, 0x38 + words.length);
  v.setUint32(0x10, 0x28);
  v.setUint32(0x14, 17);
  v.setUint32(0x18, 16);
  v.setUint32(0x20, str.length);
  v.setUint32(0x24, words.length);
  out.set(words, 0x38);
  out.set(str, 0x38 + words.length);
  return out;
}

function expectFdtError(bytes: Uint8Array, offset: number, message: RegExp): void {
  let caught: unknown;
  try {
    decodeFdt(bytes);
  } catch (e) {
    caught = e;
  }
  expect(FdtFormatError.isInstance(caught), String(caught)).toBe(true);
  const err = caught as FdtFormatError;
  expect(err.reason).toMatch(message);
  expect(err.offset).toBe(offset);
  expect(err.message).toContain(`offset 0x${offset.toString(16)}`);
}

// `/ { a = <1>; n { }; }` — struct at 0x38: BEGIN ""(0x38) PROP(0x40) len(0x44) nameoff(0x48)
// value(0x4c) BEGIN "n"(0x50) END_NODE(0x58) END_NODE(0x5c) END(0x60); strings "a\0" at 0x64.
const small: DeviceTree = {
  root: {
    name: "",
    labels: [],
    properties: [{ name: "a", value: new Uint8Array([0, 0, 0, 1]) }],
    children: [{ name: "n", labels: [], properties: [], children: [] }],
  },
  memoryReservations: [],
  bootCpuidPhys: 0,
};
const smallDtb = () => encodeFdt(small);

describe("FDT encoding (dtc's dt_to_blob layout)", () => {
  it("lays out header, reservation map, structure and strings blocks back to back", () => {
    const b = smallDtb();
    expect(b.length).toBe(0x66);
    expect(u32At(b, 0x00)).toBe(0xd00dfeed);
    expect(u32At(b, 0x04)).toBe(0x66); // totalsize
    expect(u32At(b, 0x08)).toBe(0x38); // off_dt_struct
    expect(u32At(b, 0x0c)).toBe(0x64); // off_dt_strings
    expect(u32At(b, 0x10)).toBe(0x28); // off_mem_rsvmap
    expect(u32At(b, 0x14)).toBe(17);
    expect(u32At(b, 0x18)).toBe(16);
    expect(u32At(b, 0x1c)).toBe(0);
    expect(u32At(b, 0x20)).toBe(2); // size_dt_strings
    expect(u32At(b, 0x24)).toBe(0x2c); // size_dt_struct
    expect([0x38, 0x40, 0x44, 0x48, 0x4c, 0x50, 0x58, 0x5c, 0x60].map((o) => u32At(b, o))).toEqual([
      FDT_BEGIN_NODE,
      FDT_PROP,
      4,
      0,
      1,
      FDT_BEGIN_NODE,
      FDT_END_NODE,
      FDT_END_NODE,
      FDT_END,
    ]);
    expect(Array.from(b.subarray(0x54, 0x58))).toEqual([0x6e, 0, 0, 0]);
  });

  it("writes memory reservations and boot_cpuid_phys", () => {
    const b = encodeFdt({
      ...small,
      memoryReservations: [{ address: 0x1_0000_1000n, size: 0xffff_ffff_ffff_ffffn }],
      bootCpuidPhys: 0x101,
    });
    expect(u32At(b, 0x08)).toBe(0x48);
    expect(u32At(b, 0x1c)).toBe(0x101);
    expect([0x28, 0x2c, 0x30, 0x34, 0x38, 0x3c, 0x40, 0x44].map((o) => u32At(b, o))).toEqual([
      1, 0x1000, 0xffff_ffff, 0xffff_ffff, 0, 0, 0, 0,
    ]);
    const back = decodeFdt(b);
    expect(back.memoryReservations).toEqual([
      { address: 0x1_0000_1000n, size: 0xffff_ffff_ffff_ffffn },
    ]);
    expect(back.bootCpuidPhys).toBe(0x101);
  });

  it("shares a property name with the tail of an earlier one, as stringtable_insert() does", () => {
    const t = parseDts("/dts-v1/; / { dma-ranges; ranges; xranges; s; dma-ranges-2; };");
    const b = encodeFdt(t);
    const strings = new TextDecoder().decode(b.subarray(u32At(b, 0x0c)));
    expect(strings).toBe("dma-ranges\0xranges\0dma-ranges-2\0");
    expect(decodeFdt(b).root.properties.map((p) => p.name)).toEqual([
      "dma-ranges",
      "ranges",
      "xranges",
      "s",
      "dma-ranges-2",
    ]);
  });

  it("refuses what a blob cannot carry", () => {
    const node = (name: string): DtNode => ({ name, labels: [], properties: [], children: [] });
    expect(() => encodeFdt({ ...small, root: node("x") })).toThrow(
      /root node must have an empty name/,
    );
    expect(() => encodeFdt({ ...small, root: { ...node(""), children: [node("a\0b")] } })).toThrow(
      DtValueError,
    );
    expect(() =>
      encodeFdt({
        ...small,
        root: { ...node(""), properties: [{ name: "π", value: new Uint8Array() }] },
      }),
    ).toThrow(/cannot be stored/);
    expect(() => encodeFdt({ ...small, bootCpuidPhys: -1 })).toThrow(/not a u32/);
    expect(() => encodeFdt({ ...small, memoryReservations: [{ address: -1n, size: 0n }] })).toThrow(
      /not a u64/,
    );
  });

  it("encodes a 20000-deep tree without running out of stack", () => {
    let node: DtNode = { name: "leaf", labels: [], properties: [], children: [] };
    for (let i = 0; i < 20000; i++)
      node = { name: "n", labels: [], properties: [], children: [node] };
    const t: DeviceTree = {
      ...small,
      root: { name: "", labels: [], properties: [], children: [node] },
    };
    const b = encodeFdt(t);
    expect(Buffer.compare(encodeFdt(decodeFdt(b)), b)).toBe(0);
  });

  it("isFdt looks at the magic only", () => {
    expect(isFdt(smallDtb())).toBe(true);
    expect(isFdt(new Uint8Array([0xd0, 0x0d, 0xfe]))).toBe(false);
    expect(isFdt(new TextEncoder().encode("/dts-v1/;"))).toBe(false);
  });
});

describe("FDT decoding", () => {
  it("QEMU's own virt DTB decodes and re-encodes to the same bytes", () => {
    const dtb = qemuDtb();
    const tree = decodeFdt(dtb);
    expect(encodeFdt(tree)).toEqual(dtb);
    expect(tree.root.children.map((c) => c.name)).toContain("pl061@9030000");
  });

  it("QEMU's DTB equals the parse of its dtc decompilation", () => {
    const src = readFileSync(fixture("qemu-virt-smmuv3-gicv3.dts"), "utf8");
    expect(decodeFdt(qemuDtb())).toEqual({
      ...parseDts(src),
      root: stripLabels(parseDts(src).root),
    });
  });

  it("skips FDT_NOP tokens anywhere in the structure block", () => {
    const plain = blob([
      FDT_BEGIN_NODE,
      "",
      FDT_PROP,
      4,
      0,
      7,
      FDT_BEGIN_NODE,
      "n",
      FDT_END_NODE,
      FDT_END_NODE,
      FDT_END,
    ]);
    const nops = blob([
      FDT_NOP,
      FDT_BEGIN_NODE,
      "",
      FDT_NOP,
      FDT_PROP,
      4,
      0,
      7,
      FDT_NOP,
      FDT_BEGIN_NODE,
      "n",
      FDT_NOP,
      FDT_END_NODE,
      FDT_END_NODE,
      FDT_NOP,
      FDT_END,
    ]);
    expect(decodeFdt(nops)).toEqual(decodeFdt(plain));
    expect(encodeFdt(decodeFdt(nops))).toEqual(plain);
  });

  it("keeps a property that follows a subnode, moving it before the subnodes", () => {
    const b = blob([
      FDT_BEGIN_NODE,
      "",
      FDT_BEGIN_NODE,
      "n",
      FDT_END_NODE,
      FDT_PROP,
      0,
      0,
      FDT_END_NODE,
      FDT_END,
    ]);
    const t = decodeFdt(b);
    expect(t.root.properties.map((p) => p.name)).toEqual(["a"]);
    expect(t.root.children.map((c) => c.name)).toEqual(["n"]);
  });

  it("ignores bytes after totalsize (a blob inside a larger buffer)", () => {
    const b = smallDtb();
    const padded = new Uint8Array(b.length + 64);
    padded.set(b);
    expect(decodeFdt(padded)).toEqual(decodeFdt(b));
  });

  it.skipIf(!HAVE_DTC)("decodes a version 16 blob from dtc -V 16 (no size_dt_struct)", () => {
    const v16 = new Uint8Array(dtc(["-I", "dts", "-O", "dtb", "-V", "16"], E4));
    expect(u32At(v16, 0x14)).toBe(16);
    expect(decodeFdt(v16)).toEqual(decodeFdt(new Uint8Array(dtc(["-I", "dts", "-O", "dtb"], E4))));
  });
});

describe("FDT malformations: each is an FdtFormatError at the byte concerned", () => {
  it("bad magic", () => {
    expectFdtError(withU32(smallDtb(), 0, 0xd00dfeee), 0, /bad magic 0xd00dfeee/);
    expectFdtError(new Uint8Array([0xd0, 0x0d]), 0, /no header/);
  });

  it("header cut short", () => {
    expectFdtError(smallDtb().slice(0, 20), 20, /truncated header/);
    expectFdtError(withU32(smallDtb(), 0x14, 17).slice(0, 38), 38, /truncated header/);
  });

  it("unsupported versions", () => {
    expectFdtError(withU32(smallDtb(), 0x14, 3), 0x14, /unsupported version 3/);
    expectFdtError(withU32(smallDtb(), 0x18, 18), 0x18, /last_comp_version 18 is newer/);
    expectFdtError(withU32(withU32(smallDtb(), 0x14, 16), 0x18, 17), 0x18, /above version 16/);
  });

  it("totalsize beyond the bytes given (a truncated blob) or below the header", () => {
    expectFdtError(smallDtb().slice(0, 0x60), 0x04, /totalsize 102 exceeds the 96 bytes/);
    expectFdtError(withU32(smallDtb(), 0x04, 0x20), 0x04, /smaller than the header/);
  });

  it("block offsets outside the blob or misaligned", () => {
    expectFdtError(withU32(smallDtb(), 0x10, 0x2c), 0x10, /not 8-byte aligned/);
    expectFdtError(
      withU32(smallDtb(), 0x10, 0x100),
      0x10,
      /memory reservation block offset 0x100 is outside/,
    );
    expectFdtError(withU32(smallDtb(), 0x10, 0x10), 0x10, /outside the blob/);
    expectFdtError(withU32(smallDtb(), 0x08, 0x39), 0x08, /not 4-byte aligned/);
    expectFdtError(withU32(smallDtb(), 0x08, 0x1000), 0x08, /structure block offset/);
    expectFdtError(withU32(smallDtb(), 0x0c, 0x67), 0x0c, /strings block offset/);
  });

  it("block sizes that run past totalsize", () => {
    expectFdtError(
      withU32(smallDtb(), 0x24, 0x2f),
      0x24,
      /structure block 0x38\+0x2f runs past totalsize 0x66/,
    );
    expectFdtError(withU32(smallDtb(), 0x20, 3), 0x20, /strings block 0x64\+0x3 runs past/);
  });

  it("a reservation map with no (0, 0) terminator before the end", () => {
    expectFdtError(withU32(smallDtb(), 0x10, 0x38), 0x58, /without its \(0, 0\) terminator/);
  });

  it("an unknown token", () => {
    expectFdtError(withU32(smallDtb(), 0x50, 5), 0x50, /unknown structure token 0x00000005/);
    expectFdtError(
      withU32(smallDtb(), 0x38, 0x09000000),
      0x38,
      /unknown structure token 0x09000000/,
    );
  });

  it("a property outside any node", () => {
    expectFdtError(blob([FDT_PROP, 0, 0, FDT_END]), 0x38, /FDT_PROP outside any node/);
  });

  it("a property name offset outside the strings block", () => {
    expectFdtError(
      withU32(smallDtb(), 0x48, 2),
      0x48,
      /name offset 0x2 is outside the strings block \(size 0x2\)/,
    );
  });

  it("a property name with no NUL inside the strings block", () => {
    expectFdtError(withU32(smallDtb(), 0x20, 1), 0x64, /property name is not NUL-terminated/);
  });

  it("a property value longer than the structure block", () => {
    expectFdtError(withU32(smallDtb(), 0x44, 0x100), 0x44, /value of 256 bytes runs past/);
    expectFdtError(
      withU32(smallDtb(), 0x44, 0xffff_ffff),
      0x44,
      /runs past the end of the structure block/,
    );
  });

  it("a property header cut by the end of the structure block", () => {
    expectFdtError(withU32(smallDtb(), 0x24, 0x0c), 0x44, /ends inside a property header/);
  });

  it("a node name with no NUL inside the structure block", () => {
    expectFdtError(withU32(smallDtb(), 0x24, 0x1d), 0x54, /node name is not NUL-terminated/);
  });

  it("a root node with a name, and a second top-level node", () => {
    expectFdtError(
      blob([FDT_BEGIN_NODE, "x", FDT_END_NODE, FDT_END]),
      0x3c,
      /root node has a name \("x"\)/,
    );
    expectFdtError(
      blob([FDT_BEGIN_NODE, "", FDT_END_NODE, FDT_BEGIN_NODE, "", FDT_END_NODE, FDT_END]),
      0x44,
      /second top-level node/,
    );
  });

  it("FDT_END_NODE without a matching FDT_BEGIN_NODE", () => {
    expectFdtError(
      blob([FDT_BEGIN_NODE, "", FDT_END_NODE, FDT_END_NODE, FDT_END]),
      0x44,
      /without a matching/,
    );
    expectFdtError(blob([FDT_END_NODE, FDT_END]), 0x38, /without a matching/);
  });

  it("FDT_END inside a node, or before any node", () => {
    expectFdtError(
      blob([FDT_BEGIN_NODE, "", FDT_BEGIN_NODE, "n", FDT_END_NODE, FDT_END]),
      0x4c,
      /FDT_END inside node ""/,
    );
    expectFdtError(blob([FDT_NOP, FDT_END]), 0x3c, /FDT_END before any node/);
  });

  it("a structure block with no FDT_END", () => {
    expectFdtError(blob([FDT_BEGIN_NODE, "", FDT_END_NODE]), 0x44, /ends without FDT_END/);
    expectFdtError(blob([FDT_BEGIN_NODE, "", FDT_BEGIN_NODE, "n"]), 0x48, /ends inside node "n"/);
  });

  it("garbage after FDT_END inside the structure block", () => {
    expectFdtError(
      blob([FDT_BEGIN_NODE, "", FDT_END_NODE, FDT_END, 0]),
      0x48,
      /4 byte\(s\) of garbage after FDT_END/,
    );
  });

  it("FdtFormatError is recognised across package copies", () => {
    expect(FdtFormatError.isInstance(new FdtFormatError(4, "x"))).toBe(true);
    expect(FdtFormatError.isInstance(new Error("x"))).toBe(false);
  });
});

describe("FDT fuzzing: anything is a tree or an FdtFormatError", () => {
  const decodeOrFormatError = (b: Uint8Array) => {
    try {
      const t = decodeFdt(b);
      // Whatever decodes must re-encode and decode to the same tree.
      expect(decodeFdt(encodeFdt(t))).toEqual(t);
    } catch (e) {
      if (!FdtFormatError.isInstance(e)) throw e;
    }
  };

  test.prop([fc.uint8Array({ maxLength: 400 })], { numRuns: 3000 })("random bytes", (b) => {
    decodeOrFormatError(b);
    decodeOrFormatError(new Uint8Array([0xd0, 0x0d, 0xfe, 0xed, ...b]));
  });

  test.prop(
    [
      fc.array(
        fc.record({
          at: fc.nat(),
          value: fc.integer({ min: 0, max: 255 }),
          word: fc.boolean(),
          w: fc.nat(),
        }),
        { minLength: 1, maxLength: 6 },
      ),
      fc.nat(),
    ],
    { numRuns: 600 },
  )(
    "mutated QEMU DTB: bytes and header words overwritten, then maybe truncated",
    (edits, cut) => {
      const b = qemuDtb();
      for (const e of edits) {
        if (e.word) {
          const off = (e.at % 10) * 4;
          new DataView(b.buffer).setUint32(
            off,
            e.w % 3 === 0 ? e.w : u32At(b, off) + (e.w % 64) - 32,
          );
        } else {
          b[e.at % b.length] = e.value;
        }
      }
      decodeOrFormatError(b);
      decodeOrFormatError(b.slice(0, cut % (b.length + 1)));
    },
    60_000,
  );

  test.prop([fc.array(fc.nat(), { maxLength: 8 })], { numRuns: 500 })(
    "NOPs inserted between the tokens of a valid blob change nothing",
    (places) => {
      const tokens: (number | string)[] = [
        FDT_BEGIN_NODE,
        "",
        FDT_PROP,
        4,
        0,
        7,
        FDT_BEGIN_NODE,
        "n@1",
        FDT_PROP,
        0,
        0,
        FDT_END_NODE,
        FDT_END_NODE,
        FDT_END,
      ];
      const tokenStarts = [0, 2, 6, 8, 11, 12, 13];
      const withNops = [...tokens];
      // Insert from the back so that earlier token positions stay valid.
      const at = places
        .map((p) => tokenStarts[p % tokenStarts.length] as number)
        .sort((a, b) => b - a);
      for (const i of at) withNops.splice(i, 0, FDT_NOP);
      expect(decodeFdt(blob(withNops))).toEqual(decodeFdt(blob(tokens)));
    },
  );
});

describe.skipIf(!HAVE_DTC)("FDT against dtc 1.6.1", () => {
  it("encodes the §E.4 example exactly as dtc -I dts -O dtb", () => {
    const ours = encodeFdt(parseDts(E4));
    expect(Buffer.from(ours)).toEqual(dtc(["-I", "dts", "-O", "dtb"], E4));
  });

  it("decodes dtc's blob of the §E.4 example into the parsed tree, labels aside", () => {
    const parsed = parseDts(E4);
    const decoded = decodeFdt(new Uint8Array(dtc(["-I", "dts", "-O", "dtb"], E4)));
    expect(decoded).toEqual({ ...parsed, root: stripLabels(parsed.root) });
  });

  it("re-encodes QEMU's blob as dtc -I dtb -O dtb does", () => {
    expect(Buffer.from(encodeFdt(decodeFdt(qemuDtb())))).toEqual(
      dtc(["-I", "dtb", "-O", "dtb"], qemuDtb()),
    );
  });
});

it.runIf(!HAVE_DTC)("reports that the dtc cross-checks were skipped", () => {
  console.warn(NO_DTC);
});
