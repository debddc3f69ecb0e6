import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { E4, fixture, HAVE_DTC, stripLabels } from "../../test/dt-support.js";
import { DtsSyntaxError, parseDts } from "./dts-parser.js";
import { decodeFdt, encodeFdt } from "./fdt.js";
import { findProperty, nodeByPath } from "./properties.js";
import type { DeviceTree } from "./tree.js";

/** Runs of each differential property against dtc (raise with DTC_FUZZ_RUNS for a long soak). */
const DTC_RUNS = Number(process.env.DTC_FUZZ_RUNS ?? 150);

/** dtc 1.6.1 on `src`: the blob, or the first error line it printed. */
function dtc(
  args: string[],
  input: string | Uint8Array,
): { ok: true; out: Buffer } | { ok: false; error: string } {
  const r = spawnSync("dtc", ["-q", ...args, "-"], { input });
  if (r.status === 0) return { ok: true, out: r.stdout };
  const lines = r.stderr.toString().split("\n");
  return { ok: false, error: lines.find((l) => /ERROR|Error|error:/.test(l)) ?? lines[0] ?? "" };
}

const compile = (src: string) => dtc(["-I", "dts", "-O", "dtb"], src);

const fixtureDts = readFileSync(fixture("qemu-virt-smmuv3-gicv3.dts"), "utf8");

const bytes = (...b: number[]) => new Uint8Array(b);
const str = (s: string) => new TextEncoder().encode(s);
const prop = (t: DeviceTree, path: string, name: string) => {
  const node = nodeByPath(t, path);
  if (node === undefined) throw new Error(`no node ${path}`);
  return findProperty(node, name)?.value;
};
const propNames = (t: DeviceTree, path: string) =>
  nodeByPath(t, path)?.properties.map((p) => p.name);
const childNames = (t: DeviceTree, path: string) =>
  nodeByPath(t, path)?.children.map((c) => c.name);
const root = (body: string) => parseDts(`/dts-v1/;\n/ {\n${body}\n};\n`);

function parseError(src: string, filename?: string): DtsSyntaxError {
  try {
    parseDts(src, filename === undefined ? {} : { filename });
  } catch (e) {
    if (DtsSyntaxError.isInstance(e)) return e;
    throw e;
  }
  throw new Error("parsed without error");
}

describe("DTS values", () => {
  it("strings: C escapes, octal and hex escapes as dtc reads them, lists joined by NULs", () => {
    const t = root(String.raw`
	a = "x\ty\n\\\"\a\b\v\f\r";
	b = "\101\0\x41\x4g\1234\q";
	c = "one", "two", "";
	d = "é";`);
    expect(prop(t, "/", "a")).toEqual(bytes(0x78, 9, 0x79, 10, 0x5c, 0x22, 7, 8, 11, 12, 13, 0));
    expect(prop(t, "/", "b")).toEqual(bytes(0x41, 0, 0x41, 4, 0x67, 0x53, 0x34, 0x71, 0));
    expect(prop(t, "/", "c")).toEqual(str("one\0two\0\0"));
    expect(prop(t, "/", "d")).toEqual(bytes(0xc3, 0xa9, 0));
  });

  it("cells: decimal, hex, octal, suffixes and character literals", () => {
    const t = root(String.raw`	a = <10 0x1F 010 0 7U 8UL 9ULL 'a' '\n' '\'' '\x41'>;`);
    expect(prop(t, "/", "a")).toEqual(
      new Uint8Array([10, 0x1f, 8, 0, 7, 8, 9, 0x61, 10, 0x27, 0x41].flatMap((v) => [0, 0, 0, v])),
    );
  });

  it("integer expressions: dtc's precedence, uint64_t arithmetic, truncation to the cell", () => {
    const cells = (expr: string) => {
      const v = prop(root(`\ta = <(${expr})>;`), "/", "a") as Uint8Array;
      return new DataView(v.buffer, v.byteOffset).getUint32(0);
    };
    expect(cells("1 + 2 * 3")).toBe(7);
    expect(cells("(1 + 2) * 3")).toBe(9);
    expect(cells("10 - 2 - 3")).toBe(5);
    expect(cells("7 / 2")).toBe(3);
    expect(cells("7 % 4")).toBe(3);
    expect(cells("1 << 4 | 1")).toBe(17);
    expect(cells("0x100 >> 4 & 0xff")).toBe(0x10);
    expect(cells("6 ^ 3")).toBe(5);
    expect(cells("-1")).toBe(0xffff_ffff);
    expect(cells("~0")).toBe(0xffff_ffff);
    expect(cells("!0 + !7")).toBe(1);
    expect(cells("2 < 3 && 3 >= 3 && 4 != 5 && 5 == 5 && !(2 > 3) && 2 <= 2")).toBe(1);
    expect(cells("0 || 0")).toBe(0);
    expect(cells("1 ? 2 : 3")).toBe(2);
    expect(cells("0 ? 2 : 0 ? 3 : 4")).toBe(4);
    expect(cells("1 << 64")).toBe(0);
    expect(cells("0x8000000000000000 >> 63")).toBe(1);
    expect(cells("0xffffffff80000000")).toBe(0x8000_0000);
  });

  it("/bits/ arrays of 8, 16 and 64-bit elements", () => {
    const t = root(
      "\ta = /bits/ 8 <1 0xff (-1)>, /bits/ 16 <0x1234>, /bits/ 64 <0x1122334455667788>;",
    );
    expect(prop(t, "/", "a")).toEqual(
      bytes(1, 0xff, 0xff, 0x12, 0x34, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88),
    );
  });

  it("byte strings with or without spaces, comma concatenation and labels inside values", () => {
    const t = root('\ta = [00 1122 33], l1: <1 l2: 2> l3:, "s" l4:, [];');
    expect(prop(t, "/", "a")).toEqual(bytes(0, 0x11, 0x22, 0x33, 0, 0, 0, 1, 0, 0, 0, 2, 0x73, 0));
  });

  it("&label outside <> is the node's path, inside it is the phandle", () => {
    const t = root("\tpath = &dev, &{/bus/dev@1};\n\tph = <&dev>;\n\tbus { dev: dev@1 { }; };");
    expect(prop(t, "/", "path")).toEqual(str("/bus/dev@1\0/bus/dev@1\0"));
    expect(prop(t, "/", "ph")).toEqual(bytes(0, 0, 0, 1));
    expect(prop(t, "/bus/dev@1", "phandle")).toEqual(bytes(0, 0, 0, 1));
  });

  it("empty properties, comments, /memreserve/ and escaped names", () => {
    const t = parseDts(`/dts-v1/;
/memreserve/ 0x40000000 0x1000;
lbl: /memreserve/ (1 << 32) 0x20;
// a comment
/ { /* another */
	dma-coherent; // trailing
	\\#weird-name = <1>;
};
`);
    expect(prop(t, "/", "dma-coherent")).toEqual(new Uint8Array());
    expect(propNames(t, "/")).toEqual(["dma-coherent", "#weird-name"]);
    expect(t.memoryReservations).toEqual([
      { address: 0x4000_0000n, size: 0x1000n },
      { address: 0x1_0000_0000n, size: 0x20n },
    ]);
  });

  it("boot_cpuid_phys is guessed from the first child of /cpus, as dtc does", () => {
    expect(
      parseDts("/dts-v1/; / { cpus { cpu@1 { reg = <5>; }; cpu@0 { reg = <0>; }; }; };")
        .bootCpuidPhys,
    ).toBe(5);
    expect(parseDts("/dts-v1/; / { cpus { cpu@1 { reg = <0 5>; }; }; };").bootCpuidPhys).toBe(0);
    expect(parseDts("/dts-v1/; / { };").bootCpuidPhys).toBe(0);
  });

  it("a correct name property is dropped, as dtc's name_properties check does", () => {
    const t = root('\tn@1 { name = "n"; x; };');
    expect(propNames(t, "/n@1")).toEqual(["x"]);
  });

  it("a NUL or non-ASCII character outside a string ends the input, as it does for dtc", () => {
    expect(
      parseDts("/dts-v1/; / { a = <1>; }; \u00e9 anything { at all").root.properties,
    ).toHaveLength(1);
    expect(parseDts("/dts-v1/; / { }; \0 garbage").root.children).toEqual([]);
    expect(parseError("/dts-v1/; / { a = <1>; \u00e9 };").column).toBe(24);
  });

  it("#line directives rename the file and renumber lines in errors", () => {
    const e = parseError('/dts-v1/;\n# 40 "board.dtsi" 1 3\n/ { a = <&nope>; };\n');
    expect(e.filename).toBe("board.dtsi");
    expect(e.line).toBe(40);
  });

  it("labels stay on nodes, most recently attached first", () => {
    const t = parseDts("/dts-v1/; / { a: b: n { }; }; c: &a { }; / { d: n { }; };");
    expect(nodeByPath(t, "/n")?.labels).toEqual(["d", "c", "a", "b"]);
  });
});

describe("merging, deleting and omitting nodes", () => {
  it("later root blocks and &label blocks merge into the tree; new values replace old in place", () => {
    const t = parseDts(`/dts-v1/;
/ { a = <1>; b = <2>; x: n { p = <1>; }; };
&x { q = <2>; p = <3>; m { }; };
/ { c = <3>; a = <4>; n { r; }; };
`);
    expect(propNames(t, "/")).toEqual(["a", "b", "c"]);
    expect(prop(t, "/", "a")).toEqual(bytes(0, 0, 0, 4));
    expect(propNames(t, "/n")).toEqual(["p", "q", "r"]);
    expect(prop(t, "/n", "p")).toEqual(bytes(0, 0, 0, 3));
    expect(childNames(t, "/n")).toEqual(["m"]);
  });

  it("/delete-property/ and /delete-node/ remove, and a later block revives at the old position", () => {
    const t = parseDts(`/dts-v1/;
/ { a = <1>; b = <2>; c = <3>; n1 { }; n2 { x; k { }; }; n3 { }; };
/ { /delete-property/ a; /delete-node/ n2; };
/ { a = <4>; d; n2 { y; }; };
`);
    expect(propNames(t, "/")).toEqual(["a", "b", "c", "d"]);
    expect(childNames(t, "/")).toEqual(["n1", "n2", "n3"]);
    expect(propNames(t, "/n2")).toEqual(["y"]);
    expect(childNames(t, "/n2")).toEqual([]);
  });

  it("/delete-*/ inside the block that defines the item leaves it alone (dtc only deletes on merge)", () => {
    const t = root("\ta = <1>; /delete-property/ a;\n\t/delete-node/ n; n { };");
    expect(propNames(t, "/")).toEqual(["a"]);
    expect(childNames(t, "/")).toEqual(["n"]);
  });

  it("/delete-node/ &ref removes the node and its labels", () => {
    const e = parseError("/dts-v1/; / { l: n { }; }; /delete-node/ &l; / { n { }; q = <&l>; };");
    expect(e.reason).toMatch(/Properties must precede subnodes/);
    const t = parseDts("/dts-v1/; / { l: n { m { }; }; }; /delete-node/ &{/n}; / { n { p; }; };");
    expect(childNames(t, "/n")).toEqual([]);
    expect(propNames(t, "/n")).toEqual(["p"]);
  });

  it("/omit-if-no-ref/ drops a node nobody references", () => {
    const t = parseDts(`/dts-v1/;
/ {
	/omit-if-no-ref/ a { b: b { }; };
	/omit-if-no-ref/ c { };
	d: /omit-if-no-ref/ d { };
	e { x = <&b>; y = &d; };
};
/omit-if-no-ref/ &{/e};
`);
    expect(childNames(t, "/")).toEqual(["d"]);
  });
});

describe("phandle allocation (dtc 1.6.1's get_node_phandle)", () => {
  const t = parseDts(`/dts-v1/;
/ {
	interrupt-parent = <&gic>;
	a { x = <&c &b>; p = &b; };
	b: b { q = <1>; };
	c: c { phandle = <2>; };
	gic: gic { };
	d: d { phandle = <&d>; r = <&d>; };
	e: e { linux,phandle = <7>; };
	f { s = <&e &{/b} &{/f}>; };
};
&gic { late; };
/ { b { late2; }; };
`);
  const ph = (path: string) => prop(t, path, "phandle");

  it("numbers nodes by first reference in document order, skipping values already taken", () => {
    expect(prop(t, "/", "interrupt-parent")).toEqual(bytes(0, 0, 0, 1));
    expect(ph("/gic")).toEqual(bytes(0, 0, 0, 1));
    expect(ph("/c")).toEqual(bytes(0, 0, 0, 2));
    expect(ph("/b")).toEqual(bytes(0, 0, 0, 3));
    expect(prop(t, "/a", "x")).toEqual(bytes(0, 0, 0, 2, 0, 0, 0, 3));
    expect(ph("/d")).toEqual(bytes(0, 0, 0, 4));
    expect(ph("/f")).toEqual(bytes(0, 0, 0, 5));
    expect(prop(t, "/f", "s")).toEqual(bytes(0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0, 5));
  });

  it("appends the phandle property after every other property, merged ones included", () => {
    expect(propNames(t, "/gic")).toEqual(["late", "phandle"]);
    expect(propNames(t, "/b")).toEqual(["q", "late2", "phandle"]);
  });

  it("fills a self-referencing phandle in place and adds none for linux,phandle", () => {
    expect(propNames(t, "/d")).toEqual(["phandle", "r"]);
    expect(propNames(t, "/e")).toEqual(["linux,phandle"]);
  });
});

interface ErrorCase {
  readonly what: string;
  readonly src: string;
  readonly line: number;
  readonly column: number;
  readonly reason: RegExp;
  /** dtc reports the same position (false where dtc gives none or differs on purpose). */
  readonly dtcAgrees: boolean;
}

const ERRORS: ErrorCase[] = [
  {
    what: "duplicate property in one block (at the first one)",
    src: '/dts-v1/;\n/ {\n\tfoo = <1 2>;\n\tfoo = "x";\n};\n',
    line: 3,
    column: 2,
    reason: /^ERROR \(duplicate_property_names\): \/:foo: Duplicate property name$/,
    dtcAgrees: true,
  },
  {
    what: "duplicate node name (at the second node's '{')",
    src: "/dts-v1/;\n/ {\n\tn { };\n\tn { };\n};\n",
    line: 4,
    column: 4,
    reason: /^ERROR \(duplicate_node_names\): \/n: Duplicate node name$/,
    dtcAgrees: true,
  },
  {
    what: "duplicate label",
    src: "/dts-v1/;\n/ {\n\tl: a { };\n\tl: b { };\n};\n",
    line: 4,
    column: 7,
    reason: /^ERROR \(duplicate_label\): \/b: Duplicate label 'l' on \/b and \/a$/,
    dtcAgrees: true,
  },
  {
    what: "duplicate label on a property value",
    src: "/dts-v1/; / { x: n { }; p { a = <1 x: 2>; }; };",
    line: 1,
    column: 27,
    reason: /Duplicate label 'x' on value of 'a' in \/p and \/n$/,
    dtcAgrees: true,
  },
  {
    what: "phandle reference to a missing label (at the node's '{')",
    src: "/dts-v1/;\n/ {\n\tp = <&nowhere>;\n};\n",
    line: 2,
    column: 3,
    reason: /^ERROR \(phandle_references\): \/: Reference to non-existent node or label "nowhere"$/,
    dtcAgrees: true,
  },
  {
    what: "path reference to a missing node",
    src: "/dts-v1/;\n/ {\n\tp = &{/no/such};\n};\n",
    line: 2,
    column: 3,
    reason: /^ERROR \(path_references\): \/: Reference to non-existent node or label "\/no\/such"$/,
    dtcAgrees: true,
  },
  {
    what: "&label block for a label not defined yet",
    src: "/dts-v1/;\n/ { };\n&nowhere { };\n",
    line: 3,
    column: 1,
    reason: /^Label or path nowhere not found$/,
    dtcAgrees: true,
  },
  {
    what: "/delete-node/ of a missing path",
    src: "/dts-v1/; / { }; /delete-node/ &{/x};",
    line: 1,
    column: 32,
    reason: /^Label or path \/x not found$/,
    dtcAgrees: true,
  },
  {
    what: "unterminated string",
    src: '/dts-v1/;\n/ {\n\ta = "abc;\n};\n',
    line: 3,
    column: 6,
    reason: /^unterminated string$/,
    dtcAgrees: true,
  },
  {
    what: "unterminated comment (dtc fails on the '*' after the stray '/')",
    src: "/dts-v1/;\n/ { }; /* never closed\n",
    line: 2,
    column: 9,
    reason: /^syntax error: unexpected '\*'.*\(unterminated \/\* comment\)$/,
    dtcAgrees: true,
  },
  {
    what: "// comment with no newline at the end of the input",
    src: "/dts-v1/;\n/ { }; // no newline",
    line: 2,
    column: 9,
    reason: /a \/\/ comment must end with a newline/,
    dtcAgrees: true,
  },
  {
    what: "unexpected token",
    src: "/dts-v1/;\n/ {\n\ta = <1>;\n\tb = = ;\n};\n",
    line: 4,
    column: 6,
    reason: /^syntax error: unexpected '='/,
    dtcAgrees: true,
  },
  {
    what: "missing /dts-v1/",
    src: "/ { };\n",
    line: 1,
    column: 1,
    reason: /^syntax error: unexpected '\/', a DTS file starts with \/dts-v1\/;$/,
    dtcAgrees: true,
  },
  {
    what: "bad integer literal",
    src: "/dts-v1/;\n/ {\n\ta = <1 08>;\n};\n",
    line: 3,
    column: 9,
    reason: /^Lexical error: Bad integer literal '08'$/,
    dtcAgrees: true,
  },
  {
    what: "integer literal beyond 64 bits",
    src: "/dts-v1/;\n/ {\n\ta = <99999999999999999999>;\n};\n",
    line: 3,
    column: 7,
    reason: /Integer literal '99999999999999999999' out of range$/,
    dtcAgrees: true,
  },
  {
    what: "cell value beyond 32 bits",
    src: "/dts-v1/;\n/ {\n\ta = <0x100000000>;\n};\n",
    line: 3,
    column: 7,
    reason: /^Value out of range for 32-bit array element$/,
    dtcAgrees: true,
  },
  {
    what: "division by zero (at the start of the division)",
    src: "/dts-v1/;\n/ {\n\ta = <(1 + 10 % 0)>;\n};\n",
    line: 3,
    column: 12,
    reason: /^Division by zero$/,
    dtcAgrees: true,
  },
  {
    what: "property after a subnode",
    src: "/dts-v1/;\n/ {\n\tn { };\n\ta = <1>;\n};\n",
    line: 4,
    column: 2,
    reason: /^Properties must precede subnodes$/,
    dtcAgrees: true,
  },
  {
    what: "reference in a 16-bit array",
    src: "/dts-v1/;\n/ {\n\ta = /bits/ 16 <&n>;\n\tn: n { };\n};\n",
    line: 3,
    column: 17,
    reason: /^References are only allowed in arrays with 32-bit elements\.$/,
    dtcAgrees: true,
  },
  {
    what: "bad /bits/ size",
    src: "/dts-v1/;\n/ {\n\ta = /bits/ 7 <1>;\n};\n",
    line: 3,
    column: 13,
    reason: /^Array elements must be 8, 16, 32 or 64-bits$/,
    dtcAgrees: true,
  },
  {
    what: "empty character literal",
    src: "/dts-v1/;\n/ {\n\ta = <''>;\n};\n",
    line: 3,
    column: 7,
    reason: /Empty character literal$/,
    dtcAgrees: true,
  },
  {
    what: "character literal with two characters",
    src: "/dts-v1/;\n/ {\n\ta = <'ab'>;\n};\n",
    line: 3,
    column: 7,
    reason: /Character literal has 2 characters instead of 1$/,
    dtcAgrees: true,
  },
  {
    what: "\\x with no hex digit (dtc dies without a position)",
    src: '/dts-v1/;\n/ {\n\ta = "\\x";\n};\n',
    line: 3,
    column: 6,
    reason: /^\\x used with no following hex digits$/,
    dtcAgrees: false,
  },
  {
    what: "odd number of hex digits in a byte string",
    src: "/dts-v1/;\n/ {\n\ta = [0 1];\n};\n",
    line: 3,
    column: 7,
    reason: /^syntax error: unexpected '0'/,
    dtcAgrees: true,
  },
  {
    what: "bad character in a node name",
    src: "/dts-v1/; / { a* { }; };",
    line: 1,
    column: 18,
    reason: /^ERROR \(node_name_chars\): \/a\*: Bad character '\*' in node name$/,
    dtcAgrees: true,
  },
  {
    what: "two @ in a node name",
    src: "/dts-v1/; / { a@1@2 { }; };",
    line: 1,
    column: 21,
    reason: /^ERROR \(node_name_format\): \/a@1@2: multiple '@' characters in node name$/,
    dtcAgrees: true,
  },
  {
    what: "@ in a property name",
    src: "/dts-v1/; / { a@b = <1>; };",
    line: 1,
    column: 15,
    reason: /^ERROR \(property_name_chars\): \/:a@b: Bad character '@' in property name$/,
    dtcAgrees: true,
  },
  {
    what: "name property that is not a string",
    src: "/dts-v1/; / { b { name = <1>; }; };",
    line: 1,
    column: 19,
    reason: /^ERROR \(name_is_string\): \/b:name: property is not a string$/,
    dtcAgrees: true,
  },
  {
    what: "name property that disagrees with the node name",
    src: '/dts-v1/; / { name = "x"; };',
    line: 1,
    column: 13,
    reason:
      /^ERROR \(name_properties\): \/: "name" property is incorrect \("x" instead of base node name\)$/,
    dtcAgrees: true,
  },
  {
    what: "phandle of 0",
    src: "/dts-v1/; / { b { phandle = <0>; }; };",
    line: 1,
    column: 19,
    reason: /^ERROR \(explicit_phandles\): \/b:phandle: bad value \(0x0\) in phandle property$/,
    dtcAgrees: true,
  },
  {
    what: "phandle of two cells",
    src: "/dts-v1/; / { b { phandle = <1 2>; }; };",
    line: 1,
    column: 19,
    reason: /bad length \(8\) phandle property$/,
    dtcAgrees: true,
  },
  {
    what: "the same phandle twice",
    src: "/dts-v1/; / { b { phandle = <1>; }; c { phandle = <1>; }; };",
    line: 1,
    column: 39,
    reason: /^ERROR \(explicit_phandles\): \/c: duplicated phandle 0x1 \(seen before at \/b\)$/,
    dtcAgrees: true,
  },
  {
    what: "phandle and linux,phandle that disagree",
    src: "/dts-v1/; / { b { phandle = <1>; linux,phandle = <2>; }; };",
    line: 1,
    column: 17,
    reason: /mismatching 'phandle' and 'linux,phandle' properties$/,
    dtcAgrees: true,
  },
  {
    what: "phandle that points at another node",
    src: "/dts-v1/; / { x: b { phandle = <&y>; }; y: c { }; };",
    line: 1,
    column: 20,
    reason: /^ERROR \(explicit_phandles\): \/b: phandle is a reference to another node$/,
    dtcAgrees: true,
  },
  {
    what: "overlays",
    src: "/dts-v1/;\n/plugin/;\n&x { };\n",
    line: 2,
    column: 1,
    reason: /\/plugin\/\) are not supported/,
    dtcAgrees: false,
  },
  {
    what: "/include/",
    src: '/dts-v1/;\n/include/ "other.dtsi"\n',
    line: 2,
    column: 1,
    reason: /\/include\/ is not supported/,
    dtcAgrees: false,
  },
  {
    what: "/incbin/",
    src: '/dts-v1/; / { a = /incbin/("blob.bin"); };',
    line: 1,
    column: 19,
    reason: /\/incbin\/ is not supported/,
    dtcAgrees: false,
  },
  {
    what: "a deleted root",
    src: "/dts-v1/; / { }; /delete-node/ &{/};",
    line: 1,
    column: 13,
    reason: /root node is deleted/,
    dtcAgrees: false,
  },
];

describe("errors name the place and the reason, as dtc does", () => {
  it.each(ERRORS)("$what", (c) => {
    const e = parseError(c.src, "board.dts");
    expect(e.reason).toMatch(c.reason);
    expect([e.line, e.column]).toEqual([c.line, c.column]);
    expect(e.filename).toBe("board.dts");
    expect(e.message).toBe(`board.dts:${c.line}:${c.column}: ${e.reason}`);
  });

  it.skipIf(!HAVE_DTC).each(ERRORS.filter((c) => c.dtcAgrees))("dtc agrees: $what", (c) => {
    const r = compile(c.src);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(`<stdin>:${c.line}.${c.column}`);
  });

  it("the default file name is <stdin>, like dtc reading standard input", () => {
    expect(parseError("/dts-v1/; / { a = <&x>; };").message).toMatch(/^<stdin>:1:13: ERROR/);
  });

  it("columns count UTF-8 bytes, as dtc does", () => {
    expect(parseError('/dts-v1/; / { a = "ü"; = };').column).toBe(25);
  });

  it("nesting deeper than 512 levels is refused cleanly", () => {
    const deep = (n: number) => `/dts-v1/; / { a = <${"(".repeat(n)}1${")".repeat(n)}>; };`;
    expect(root(`\ta = <${"(".repeat(100)}7${")".repeat(100)}>;`).root.properties).toHaveLength(1);
    expect(parseError(deep(600)).reason).toMatch(/nesting deeper than 512 levels/);
    expect(parseError(`/dts-v1/; / { ${"a { ".repeat(600)}${"}; ".repeat(600)} };`).reason).toMatch(
      /nesting/,
    );
    expect(parseError(`/dts-v1/; / { a = <(${"-".repeat(5000)}1)>; };`).reason).toMatch(/nesting/);
  });

  it("DtsSyntaxError is recognised across package copies", () => {
    const e = parseError("/dts-v1/; / { x };");
    expect(DtsSyntaxError.isInstance(e)).toBe(true);
    expect(DtsSyntaxError.isInstance(new Error("x"))).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Cross-checks against Debian's dtc 1.6.1

/** Sources that exercise labels and references in different orders. */
const SOURCES: Record<string, string> = {
  "labels defined after use": `/dts-v1/;
/ {
	interrupt-parent = <&gic>;
	dev@1 { iommus = <&smmu 1>, <&smmu 2>; clocks = <&clk>; };
	smmu: iommu@2 { #iommu-cells = <1>; };
	gic: intc@3 { #interrupt-cells = <3>; };
	clk: clock { #clock-cells = <0>; };
};
`,
  "references from later blocks, paths and new labels": `/dts-v1/;
/ {
	bus { #address-cells = <1>; #size-cells = <1>; a: dev@100 { reg = <0x100 0x10>; }; };
};
&a { status = "disabled"; };
alias: &{/bus} { ranges; };
/ { aliases { serial0 = &a; bus = &alias; }; chosen { stdout-path = &{/bus/dev@100}; }; };
/ { user { devs = <&a &alias &{/bus/dev@100}>; }; };
`,
  "explicit phandles mixed with allocated ones": `/dts-v1/;
/ {
	refs = <&b &d &c &a &e>;
	a: a { phandle = <1>; };
	b: b { };
	c: c { linux,phandle = <3>; };
	d: d { phandle = <&d>; };
	e: e { };
};
`,
  "deletions, revival and omitted nodes": `/dts-v1/;
/memreserve/ 0x8000000 0x10000;
/ {
	x: one { a = <1>; b = <2>; };
	/omit-if-no-ref/ two { };
	/omit-if-no-ref/ y: three { };
	four { p = <&y>; };
};
/ { one { /delete-property/ a; }; /delete-node/ four; };
/ { one { a = "back"; }; four { q; }; };
`,
  "cpus, name properties and every value type": String.raw`/dts-v1/;
/ {
	#address-cells = <1>;
	#size-cells = <1>;
	cpus { #address-cells = <1>; #size-cells = <0>; cpu@100 { reg = <0x100>; device_type = "cpu"; }; };
	v { name = "v"; s = "tab\there", "q\"uote"; b = [de ad be ef]; m = /bits/ 16 <1 2 3>;
		w = /bits/ 64 <(-2)>; e = <('A' + 1) (~0 >> 40)>; mixed = "x", <1>, [02], "y"; };
};
`,
};

describe.skipIf(!HAVE_DTC)("DTS against dtc 1.6.1", () => {
  const cases: [string, string][] = [
    ["the §E.4 example", E4],
    ["QEMU's virt tree as decompiled by dtc", fixtureDts],
    ...Object.entries(SOURCES),
  ];

  it.each(cases)("%s: our blob equals dtc -I dts -O dtb", (_name, src) => {
    expect(src.length).toBeGreaterThan(20);
    const theirs = compile(src);
    expect(theirs.ok).toBe(true);
    if (theirs.ok) expect(Buffer.from(encodeFdt(parseDts(src)))).toEqual(theirs.out);
  });

  it.each(cases)("%s: dtc's blob decodes to our parse, labels aside", (_name, src) => {
    const theirs = compile(src);
    if (!theirs.ok) throw new Error(theirs.error);
    const parsed = parseDts(src);
    expect(decodeFdt(new Uint8Array(theirs.out))).toEqual({
      ...parsed,
      root: stripLabels(parsed.root),
    });
  });

  it.each(cases)("%s: dtc decompiles our blob exactly as its own", (_name, src) => {
    const theirs = compile(src);
    if (!theirs.ok) throw new Error(theirs.error);
    const a = dtc(["-I", "dtb", "-O", "dts"], encodeFdt(parseDts(src)));
    const b = dtc(["-I", "dtb", "-O", "dts"], theirs.out);
    expect(a.ok && b.ok && a.out.toString() === b.out.toString()).toBe(true);
  });

  test.prop([fc.nat()], { numRuns: DTC_RUNS })(
    "generated sources with labels, references, merges and deletions compile as dtc compiles them",
    (seed) => {
      const src = generateDts(seed);
      const theirs = compile(src);
      let ours: Uint8Array | undefined;
      let error: DtsSyntaxError | undefined;
      try {
        ours = encodeFdt(parseDts(src));
      } catch (e) {
        if (!DtsSyntaxError.isInstance(e)) throw e;
        error = e;
      }
      if (error?.reason.includes("root node is deleted")) return;
      if (theirs.ok) {
        expect(error?.message).toBeUndefined();
        expect(Buffer.from(ours as Uint8Array)).toEqual(theirs.out);
      } else {
        expect(error, `dtc refused: ${theirs.error}`).toBeDefined();
        expect(theirs.error).toContain(`<stdin>:${error?.line}.${error?.column}`);
        const kind =
          /ERROR \(\w+\)|Label or path \S+ not found|Properties must precede|syntax error/.exec(
            theirs.error,
          );
        if (kind) expect(error?.reason).toContain(kind[0]);
      }
    },
    60_000,
  );

  test.prop(
    [fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat({ max: 2 })), { minLength: 1, maxLength: 4 })],
    {
      numRuns: DTC_RUNS,
    },
  )(
    "token-level mutations of a valid source are accepted or refused at the same place as dtc",
    (edits) => {
      let src = `/dts-v1/;\n/ {\n\ta { p = <1 2>, "x"; };\n\tL: b@1 { q = [01 02]; r = &L; s = <(3 * 4)>; };\n};\n`;
      for (const [at, atom, del] of edits) {
        const pos = at % (src.length + 1);
        src = src.slice(0, pos) + (ATOMS[atom % ATOMS.length] as string) + src.slice(pos + del);
      }
      const theirs = compile(src);
      let error: DtsSyntaxError | undefined;
      let ours: Uint8Array | undefined;
      try {
        ours = encodeFdt(parseDts(src));
      } catch (e) {
        if (!DtsSyntaxError.isInstance(e)) throw e;
        error = e;
      }
      if (theirs.ok) {
        expect(error?.message).toBeUndefined();
        expect(Buffer.from(ours as Uint8Array)).toEqual(theirs.out);
      } else if (/<stdin>:\d+\.\d+/.test(theirs.error)) {
        expect(error, `dtc refused: ${theirs.error}`).toBeDefined();
        expect(theirs.error).toContain(`<stdin>:${error?.line}.${error?.column}`);
      } else {
        expect(error).toBeDefined();
      }
    },
    60_000,
  );
});

const ATOMS = [
  "/",
  "{",
  "}",
  ";",
  "=",
  "<",
  ">",
  "[",
  "]",
  "(",
  ")",
  ",",
  " a ",
  "n@1",
  "L:",
  "M:",
  "&L",
  "&M",
  "&{/a}",
  "0x1f",
  "12",
  "08",
  "'x'",
  "'\\''",
  "''",
  '"s\\n"',
  '"',
  "'",
  "/*c*/",
  "//c\n",
  "/*",
  "//",
  "\n",
  "\t",
  "-",
  "~",
  "!",
  "+",
  "*",
  "?",
  ":",
  "<<",
  ">>",
  "==",
  "&&",
  "||",
  "&",
  "|",
  "^",
  "%",
  "/bits/ 8",
  "/delete-node/ a;",
  "/delete-property/ p;",
  "/omit-if-no-ref/",
  "/memreserve/ 1 2;",
  "ab",
  "\\x",
  '# 3 "f.dts"\n',
  "1ULL",
  "0x",
  "#address-cells",
  "@",
  "$",
  "\u00e9",
  "\r",
  "\0",
];

/** A seeded generator of DTS sources that are mostly valid, using most of the language. */
function generateDts(seed: number): string {
  let s = seed >>> 0;
  const r = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)] as T;
  const nodeNames = ["a", "b", "c@1", "cpus", "cpu@0", "cpu@1", "n-1", "x,y", "d@2"];
  const propNames = [
    "p",
    "q",
    "reg",
    "compatible",
    "status",
    "r-s",
    "#address-cells",
    "dma-ranges",
    "ranges",
    "s",
    "t",
  ];
  const used: string[] = [];
  const paths: string[] = ["/"];
  const newLabel = () => {
    const free = ["L1", "L2", "L3", "L4", "L5", "L6"].filter((l) => !used.includes(l));
    const l = free.length === 0 || r() < 0.03 ? pick(["L1", "L2"]) : pick(free);
    if (!used.includes(l)) used.push(l);
    return l;
  };
  const ref = () =>
    r() < 0.02 ? "&nope" : r() < 0.6 && used.length > 0 ? `&${pick(used)}` : `&{${pick(paths)}}`;
  const prim = () =>
    pick([
      "0",
      "1",
      "0x10",
      "0xffffffff",
      "010",
      "'a'",
      "'\\n'",
      "(1+2*3)",
      "(-1)",
      "(~0)",
      "(1<<31)",
      "(5/2)",
      "(3>2)",
      "(1?2:3)",
    ]);
  const value = (): string => {
    const parts: string[] = [];
    for (let n = 1 + Math.floor(r() * 3); n > 0; n--) {
      const k = r();
      if (k < 0.25)
        parts.push(pick(['"abc"', '"a\\tb"', '"\\x41\\101"', '"x\\0y"', '""', '"okay"']));
      else if (k < 0.6) {
        const cells: string[] = [];
        for (let m = Math.floor(r() * 4); m > 0; m--) cells.push(r() < 0.25 ? ref() : prim());
        parts.push(`<${cells.join(" ")}>`);
      } else if (k < 0.7) parts.push(pick(["[00 11 2233]", "[]", "[ab]"]));
      else if (k < 0.8) parts.push(`/bits/ ${pick(["8", "16", "64"])} <${prim()} ${prim()}>`);
      else parts.push(ref());
    }
    return parts.join(", ");
  };
  const label = () => (r() < 0.3 ? `${newLabel()}: ` : "");
  const node = (depth: number, path: string | null): string => {
    let body = "";
    const props = new Set<string>();
    const kids = new Set<string>();
    const fresh = (pool: readonly string[], seen: Set<string>) => {
      const free = pool.filter((x) => !seen.has(x));
      const x = free.length > 0 && r() > 0.02 ? pick(free) : pick(pool);
      seen.add(x);
      return x;
    };
    for (let n = Math.floor(r() * 4); n > 0; n--) {
      const k = r();
      const name = r() < 0.05 ? pick(["phandle", "linux,phandle"]) : fresh(propNames, props);
      if (k < 0.1) body += `/delete-property/ ${name};\n`;
      else if (k < 0.25) body += `${label()}${name};\n`;
      else
        body += `${label()}${name} = ${name.includes("phandle") ? pick(["<5>", "<1>", "<&L1>"]) : value()};\n`;
    }
    for (let n = depth >= 3 ? 0 : Math.floor(r() * 3); n > 0; n--) {
      if (r() < 0.1) {
        body += `/delete-node/ ${pick(nodeNames)};\n`;
        continue;
      }
      const name = fresh(nodeNames, kids);
      const childPath = path === null ? null : path === "/" ? `/${name}` : `${path}/${name}`;
      if (childPath !== null) paths.push(childPath);
      body += `${label()}${r() < 0.1 ? "/omit-if-no-ref/ " : ""}${name} ${node(depth + 1, childPath)}\n`;
    }
    return `{\n${body}};`;
  };
  let src = "/dts-v1/;\n";
  if (r() < 0.2) src += `/memreserve/ ${prim()} ${prim()};\n`;
  src += `/ ${node(0, "/")}\n`;
  for (let n = Math.floor(r() * 4); n > 0; n--) {
    const k = r();
    if (k < 0.3) src += `/ ${node(0, "/")}\n`;
    else if (k < 0.6) src += `${ref()} ${node(1, null)}\n`;
    else if (k < 0.7) src += `${newLabel()}: ${ref()} ${node(1, null)}\n`;
    else if (k < 0.85) src += `/delete-node/ ${ref()};\n`;
    else src += `/omit-if-no-ref/ ${ref()};\n`;
  }
  return src;
}

describe("DTS fuzzing: any text is a tree or a DtsSyntaxError", () => {
  const parseOrSyntaxError = (src: string) => {
    try {
      const t = parseDts(src);
      encodeFdt(t);
    } catch (e) {
      if (!DtsSyntaxError.isInstance(e)) throw e;
    }
  };
  const dtsChars = fc.constantFrom(
    ..."/dts-v1;{}<>[]()=&:,\"'abcLx019@-#_\n\t \\*+!~?|^%".split(""),
    "/dts-v1/;",
    "/ {",
    "};",
    "\u00e9",
    "\0",
  );

  test.prop([fc.string({ unit: dtsChars, maxLength: 300 })], { numRuns: 3000 })(
    "DTS-ish text",
    (s) => {
      parseOrSyntaxError(s);
      parseOrSyntaxError(`/dts-v1/;\n/ {${s}`);
    },
  );

  test.prop([fc.string({ maxLength: 200 })], { numRuns: 1000 })("arbitrary text", (s) => {
    parseOrSyntaxError(`/dts-v1/; / { ${s}`);
  });

  test.prop(
    [
      fc.array(
        fc.tuple(fc.nat(), fc.nat({ max: 8 }), fc.string({ unit: dtsChars, maxLength: 6 })),
        { minLength: 1, maxLength: 5 },
      ),
    ],
    {
      numRuns: 300,
    },
  )(
    "mutated QEMU virt source",
    (edits) => {
      let src = fixtureDts;
      for (const [at, del, ins] of edits) {
        const pos = at % (src.length + 1);
        src = src.slice(0, pos) + ins + src.slice(pos + del);
      }
      parseOrSyntaxError(src);
    },
    60_000,
  );

  test.prop([fc.nat()], { numRuns: 300 })("generated sources", (seed) => {
    parseOrSyntaxError(generateDts(seed));
  });
});

it.runIf(!HAVE_DTC)("reports that the dtc cross-checks were skipped", () => {
  console.warn(
    "dtc (Debian device-tree-compiler 1.6.1) is not installed: skipping the dtc cross-checks",
  );
});
