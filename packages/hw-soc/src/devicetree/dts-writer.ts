/**
 * DTS text from a tree, in the shape `dtc -I dtb -O dts` (Debian's dtc 1.6.1, `dt_to_source()`)
 * prints: tab indentation, a blank line before each subnode, and each value's type guessed from
 * its bytes the way dtc guesses for a blob, which carries no types — printable NUL-terminated text
 * as one string (inner NULs as `\0`), whole cells as `<0x..>`, anything else as `[..]`.
 * Compiling the text with dtc gives back the same DTB.
 * One deliberate difference: a NUL followed by an octal digit is written `\000`, not dtc's `\0`,
 * which dtc itself would read back as a different byte.
 *
 * Caveat:
 * - Phandle references print as the numbers they are; a blob has no `&label` to restore.
 * - Labels, when the tree has them (a parsed DTS), are printed before the node name as dtc does
 *   for DTS input; a DTB decoded tree has none.
 */

import type { DeviceTree, DtNode, DtProperty } from "./tree.js";

/** Formats the tree; the result equals dtc's decompilation of `encodeFdt(tree)` (see above). */
export function formatDts(tree: DeviceTree): string {
  const out: string[] = ["/dts-v1/;\n\n"];
  for (const r of tree.memoryReservations) {
    out.push(`/memreserve/\t0x${hex64(r.address)} 0x${hex64(r.size)};\n`);
  }
  writeNode(out, tree.root, 0);
  return out.join("");
}

/** Depth-first with an explicit stack, so that a very deep decoded blob cannot overflow the JS stack. */
function writeNode(out: string[], top: DtNode, topLevel: number): void {
  const stack: { node: DtNode; level: number; next: number }[] = [];
  const open = (node: DtNode, level: number) => {
    const indent = "\t".repeat(level);
    out.push(indent);
    for (const label of node.labels) out.push(`${label}: `);
    out.push(node.name === "" ? "/ {\n" : `${node.name} {\n`);
    for (const prop of node.properties) out.push(indent, "\t", prop.name, formatValue(prop), "\n");
    stack.push({ node, level, next: 0 });
  };
  open(top, topLevel);
  while (stack.length > 0) {
    const frame = stack[stack.length - 1] as { node: DtNode; level: number; next: number };
    const child = frame.node.children[frame.next++];
    if (child === undefined) {
      out.push("\t".repeat(frame.level), "};\n");
      stack.pop();
    } else {
      out.push("\n");
      open(child, frame.level + 1);
    }
  }
}

/** The value part of a property line: `;` for an empty property, ` = <…>;` and so on otherwise. */
export function formatValue(prop: DtProperty): string {
  const v = prop.value;
  if (v.length === 0) return ";";
  switch (guessType(v)) {
    case "string":
      return ` = ${quote(v)};`;
    case "cells": {
      const view = new DataView(v.buffer, v.byteOffset, v.byteLength);
      const cells: string[] = [];
      for (let i = 0; i < v.length; i += 4) cells.push(`0x${hex2(view.getUint32(i))}`);
      return ` = <${cells.join(" ")}>;`;
    }
    case "bytes":
      return ` = [${Array.from(v, (b) => b.toString(16).padStart(2, "0")).join(" ")}];`;
  }
}

type ValueType = "string" | "cells" | "bytes";

/** dtc's `guess_value_type()` for a value with no type markers. */
function guessType(v: Uint8Array): ValueType {
  let notString = 0;
  let nuls = 0;
  for (const b of v) {
    if (!isStringByte(b)) notString++;
    if (b === 0) nuls++;
  }
  if (v[v.length - 1] === 0 && notString === 0 && nuls <= v.length - nuls) return "string";
  if (v.length % 4 === 0) return "cells";
  return "bytes";
}

/** C `isprint()` in the C locale, plus NUL and the escapes dtc can write back. */
function isStringByte(b: number): boolean {
  return (b >= 0x20 && b <= 0x7e) || b === 0 || (b >= 0x07 && b <= 0x0d);
}

const ESCAPES: Record<number, string> = {
  7: "\\a",
  8: "\\b",
  9: "\\t",
  10: "\\n",
  11: "\\v",
  12: "\\f",
  13: "\\r",
  92: "\\\\",
  34: '\\"',
  0: "\\0",
};

function quote(v: Uint8Array): string {
  let s = '"';
  for (let i = 0; i < v.length - 1; i++) {
    const b = v[i] as number;
    // dtc writes `\0` even before a digit, and then reads `\01` back as one octal escape; the
    // three-digit form keeps the text faithful to the bytes (a deliberate difference from dtc).
    const next = v[i + 1] as number;
    if (b === 0 && next >= 0x30 && next <= 0x37) {
      s += "\\000";
      continue;
    }
    const esc = ESCAPES[b];
    if (esc !== undefined) s += esc;
    else if (b >= 0x20 && b <= 0x7e) s += String.fromCharCode(b);
    else s += `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return `${s}"`;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

function hex64(n: bigint): string {
  return n.toString(16).padStart(16, "0");
}
