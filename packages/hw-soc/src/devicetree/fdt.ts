/**
 * The flattened device tree (DTB): encoder and a strict decoder.
 *
 * Models the Devicetree Specification v0.4, chapter 5 ("Flattened Devicetree (DTB) Format"), and
 * the exact layout Debian's dtc 1.6.1 writes (`dt_to_blob()`): a version 17 header, the memory
 * reservation block at 0x28, the structure block, then the strings block, with no padding between
 * them; property names shared through the strings block by first match of the whole name *or a
 * suffix of an earlier name* (`ranges` reuses the tail of `dma-ranges`).
 *
 * Caveat:
 * - Only versions 16 and 17 decode; the older formats that spell nodes by full path are refused.
 * - Node and property names are kept byte for byte as Latin-1 characters (the DT specification
 *   allows only ASCII there), so any blob round-trips exactly.
 * - A property that follows a subnode in the blob (dtc warns, libfdt allows) is moved ahead of the
 *   subnodes, because `DtNode` keeps properties and children apart; such a blob re-encodes
 *   differently, as it does through dtc.
 */

import { DtValueError } from "./properties.js";
import type { DeviceTree, DtMemoryReservation, DtNode, DtProperty } from "./tree.js";

export const FDT_MAGIC = 0xd00d_feed;
export const FDT_BEGIN_NODE = 0x1;
export const FDT_END_NODE = 0x2;
export const FDT_PROP = 0x3;
export const FDT_NOP = 0x4;
export const FDT_END = 0x9;

/** The version dtc writes, and the oldest it declares itself compatible with. */
const FDT_VERSION = 17;
const FDT_LAST_COMP_VERSION = 16;
const FDT_V17_HEADER_SIZE = 40;
const FDT_V16_HEADER_SIZE = 36;
const FDT_RESERVE_ENTRY_SIZE = 16;

/** Byte offsets of the header fields (`struct fdt_header`, libfdt/fdt.h). */
const HDR = {
  magic: 0x00,
  totalsize: 0x04,
  off_dt_struct: 0x08,
  off_dt_strings: 0x0c,
  off_mem_rsvmap: 0x10,
  version: 0x14,
  last_comp_version: 0x18,
  boot_cpuid_phys: 0x1c,
  size_dt_strings: 0x20,
  size_dt_struct: 0x24,
} as const;

const FDT_FORMAT_ERROR_MARKER = Symbol.for("@vfio-lab/hw-soc/FdtFormatError");

/** A malformed DTB; `offset` is the byte of the blob where the decoder gave up. */
export class FdtFormatError extends Error {
  readonly [FDT_FORMAT_ERROR_MARKER] = true;
  readonly offset: number;
  /** The message without the offset prefix. */
  readonly reason: string;

  constructor(offset: number, reason: string) {
    super(`FDT at offset 0x${offset.toString(16)}: ${reason}`);
    this.name = "FdtFormatError";
    this.offset = offset;
    this.reason = reason;
  }

  /** True for a `FdtFormatError` from any copy of this package. */
  static isInstance(value: unknown): value is FdtFormatError {
    return typeof value === "object" && value !== null && FDT_FORMAT_ERROR_MARKER in value;
  }
}

/** True when the bytes start with the FDT magic (and so should be decoded rather than parsed). */
export function isFdt(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 &&
    bytes[0] === 0xd0 &&
    bytes[1] === 0x0d &&
    bytes[2] === 0xfe &&
    bytes[3] === 0xed
  );
}

// ---------------------------------------------------------------------------------------------
// Encoder

/** A growable big-endian byte buffer. */
class ByteSink {
  private buf = new Uint8Array(256);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  u32(v: number): void {
    this.reserve(4);
    this.buf[this.length++] = (v >>> 24) & 0xff;
    this.buf[this.length++] = (v >>> 16) & 0xff;
    this.buf[this.length++] = (v >>> 8) & 0xff;
    this.buf[this.length++] = v & 0xff;
  }

  u64(v: bigint): void {
    this.u32(Number((v >> 32n) & 0xffff_ffffn));
    this.u32(Number(v & 0xffff_ffffn));
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  align(a: number): void {
    const pad = (a - (this.length % a)) % a;
    this.reserve(pad);
    this.buf.fill(0, this.length, this.length + pad);
    this.length += pad;
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** A name as the bytes dtc would write: one byte per character, no NUL inside. */
function nameBytes(name: string, what: string): Uint8Array {
  const out = new Uint8Array(name.length);
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0 || c > 0xff) {
      throw new DtValueError(`${what} "${name}" cannot be stored in a DTB (character ${c})`);
    }
    out[i] = c;
  }
  return out;
}

/**
 * dtc's strings block: a name is stored once, and a later name that equals the tail of an earlier
 * one points into it (`stringtable_insert()` searches every offset, not every string start).
 */
class StringTable {
  private text = "";

  offsetOf(name: string): number {
    const needle = `${name}\0`;
    const at = this.text.indexOf(needle);
    if (at >= 0) return at;
    const off = this.text.length;
    this.text += needle;
    return off;
  }

  bytes(): Uint8Array {
    // Every name was checked by nameBytes() on the way in, so each character is one byte.
    const out = new Uint8Array(this.text.length);
    for (let i = 0; i < this.text.length; i++) out[i] = this.text.charCodeAt(i);
    return out;
  }
}

/** Encodes a tree exactly as `dtc -I dts -O dtb` lays it out (version 17, no padding). */
export function encodeFdt(tree: DeviceTree): Uint8Array {
  const strings = new StringTable();
  const struct = new ByteSink();

  // Iterative walk so that a pathologically deep tree cannot overflow the stack.
  const stack: { node: DtNode; next: number }[] = [];
  const open = (node: DtNode, isRoot: boolean) => {
    if (isRoot && node.name !== "") {
      throw new DtValueError(`the root node must have an empty name, not "${node.name}"`);
    }
    struct.u32(FDT_BEGIN_NODE);
    struct.bytes(nameBytes(node.name, "node name"));
    struct.bytes(new Uint8Array(1));
    struct.align(4);
    for (const prop of node.properties) {
      const nameoff = strings.offsetOf(validPropName(prop));
      struct.u32(FDT_PROP);
      struct.u32(prop.value.length);
      struct.u32(nameoff);
      struct.bytes(prop.value);
      struct.align(4);
    }
    stack.push({ node, next: 0 });
  };
  open(tree.root, true);
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as { node: DtNode; next: number };
    const child = top.node.children[top.next];
    if (child === undefined) {
      struct.u32(FDT_END_NODE);
      stack.pop();
    } else {
      top.next++;
      open(child, false);
    }
  }
  struct.u32(FDT_END);

  const rsv = new ByteSink();
  for (const r of tree.memoryReservations) {
    checkU64(r.address, "memory reservation address");
    checkU64(r.size, "memory reservation size");
    rsv.u64(r.address);
    rsv.u64(r.size);
  }
  rsv.u64(0n);
  rsv.u64(0n);

  const stringBytes = strings.bytes();
  const structBytes = struct.result();
  const rsvBytes = rsv.result();
  const offRsv = FDT_V17_HEADER_SIZE; // already 8-aligned, as dtc requires
  const offStruct = offRsv + rsvBytes.length;
  const offStrings = offStruct + structBytes.length;
  const total = offStrings + stringBytes.length;

  const boot = tree.bootCpuidPhys;
  if (!Number.isInteger(boot) || boot < 0 || boot > 0xffff_ffff) {
    throw new DtValueError(`bootCpuidPhys ${boot} is not a u32`);
  }

  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(HDR.magic, FDT_MAGIC);
  view.setUint32(HDR.totalsize, total);
  view.setUint32(HDR.off_dt_struct, offStruct);
  view.setUint32(HDR.off_dt_strings, offStrings);
  view.setUint32(HDR.off_mem_rsvmap, offRsv);
  view.setUint32(HDR.version, FDT_VERSION);
  view.setUint32(HDR.last_comp_version, FDT_LAST_COMP_VERSION);
  view.setUint32(HDR.boot_cpuid_phys, boot);
  view.setUint32(HDR.size_dt_strings, stringBytes.length);
  view.setUint32(HDR.size_dt_struct, structBytes.length);
  out.set(rsvBytes, offRsv);
  out.set(structBytes, offStruct);
  out.set(stringBytes, offStrings);
  return out;
}

function validPropName(prop: DtProperty): string {
  nameBytes(prop.name, "property name");
  return prop.name;
}

function checkU64(v: bigint, what: string): void {
  if (typeof v !== "bigint" || v < 0n || v > 0xffff_ffff_ffff_ffffn) {
    throw new DtValueError(`${what} ${String(v)} is not a u64`);
  }
}

// ---------------------------------------------------------------------------------------------
// Decoder

interface MutableNode {
  name: string;
  properties: DtProperty[];
  children: MutableNode[];
  labels: string[];
}

/**
 * Decodes a DTB, checking every offset and length against the header before it is used. Anything
 * a conforming blob cannot contain is an `FdtFormatError` naming the byte where it was found.
 * Bytes after `totalsize` (a blob inside a larger buffer) are ignored.
 */
export function decodeFdt(bytes: Uint8Array): DeviceTree {
  if (bytes.length < 4) throw new FdtFormatError(0, `blob of ${bytes.length} bytes has no header`);
  if (!isFdt(bytes)) {
    const magic = u32(bytes, 0);
    throw new FdtFormatError(0, `bad magic 0x${hex8(magic)} (expected 0xd00dfeed)`);
  }
  if (bytes.length < FDT_V16_HEADER_SIZE) {
    throw new FdtFormatError(bytes.length, `truncated header (${bytes.length} bytes)`);
  }
  const version = u32(bytes, HDR.version);
  const lastComp = u32(bytes, HDR.last_comp_version);
  if (version < 16) {
    throw new FdtFormatError(
      HDR.version,
      `unsupported version ${version} (only versions 16 and 17 are decoded)`,
    );
  }
  if (lastComp > FDT_VERSION) {
    throw new FdtFormatError(
      HDR.last_comp_version,
      `last_comp_version ${lastComp} is newer than version 17, which this decoder implements`,
    );
  }
  if (lastComp > version) {
    throw new FdtFormatError(
      HDR.last_comp_version,
      `last_comp_version ${lastComp} is above version ${version}`,
    );
  }
  const headerSize = version >= 17 ? FDT_V17_HEADER_SIZE : FDT_V16_HEADER_SIZE;
  if (bytes.length < headerSize) {
    throw new FdtFormatError(bytes.length, `truncated header (${bytes.length} bytes)`);
  }
  const total = u32(bytes, HDR.totalsize);
  if (total < headerSize) {
    throw new FdtFormatError(HDR.totalsize, `totalsize ${total} is smaller than the header`);
  }
  if (total > bytes.length) {
    throw new FdtFormatError(
      HDR.totalsize,
      `totalsize ${total} exceeds the ${bytes.length} bytes available (truncated blob)`,
    );
  }
  const offRsv = u32(bytes, HDR.off_mem_rsvmap);
  const offStruct = u32(bytes, HDR.off_dt_struct);
  const offStrings = u32(bytes, HDR.off_dt_strings);
  const sizeStrings = u32(bytes, HDR.size_dt_strings);
  const bootCpuidPhys = u32(bytes, HDR.boot_cpuid_phys);

  checkBlockStart(HDR.off_mem_rsvmap, offRsv, headerSize, total, "memory reservation block");
  if (offRsv % 8 !== 0) {
    throw new FdtFormatError(
      HDR.off_mem_rsvmap,
      `memory reservation block at 0x${offRsv.toString(16)} is not 8-byte aligned`,
    );
  }
  checkBlockStart(HDR.off_dt_struct, offStruct, headerSize, total, "structure block");
  if (offStruct % 4 !== 0) {
    throw new FdtFormatError(
      HDR.off_dt_struct,
      `structure block at 0x${offStruct.toString(16)} is not 4-byte aligned`,
    );
  }
  let structEnd = total;
  if (version >= 17) {
    const sizeStruct = u32(bytes, HDR.size_dt_struct);
    if (offStruct + sizeStruct > total) {
      throw new FdtFormatError(
        HDR.size_dt_struct,
        `structure block 0x${offStruct.toString(16)}+0x${sizeStruct.toString(16)} runs past totalsize 0x${total.toString(16)}`,
      );
    }
    structEnd = offStruct + sizeStruct;
  }
  checkBlockStart(HDR.off_dt_strings, offStrings, headerSize, total, "strings block");
  if (offStrings + sizeStrings > total) {
    throw new FdtFormatError(
      HDR.size_dt_strings,
      `strings block 0x${offStrings.toString(16)}+0x${sizeStrings.toString(16)} runs past totalsize 0x${total.toString(16)}`,
    );
  }

  const memoryReservations = decodeReservations(bytes, offRsv, total);
  const root = decodeStruct(
    bytes,
    offStruct,
    structEnd,
    offStrings,
    offStrings + sizeStrings,
    version >= 17,
  );
  return { root, memoryReservations, bootCpuidPhys };
}

function checkBlockStart(
  field: number,
  off: number,
  headerSize: number,
  total: number,
  what: string,
): void {
  if (off < headerSize || off > total) {
    throw new FdtFormatError(
      field,
      `${what} offset 0x${off.toString(16)} is outside the blob (header 0x${headerSize.toString(16)}, totalsize 0x${total.toString(16)})`,
    );
  }
}

function decodeReservations(bytes: Uint8Array, start: number, end: number): DtMemoryReservation[] {
  const out: DtMemoryReservation[] = [];
  for (let at = start; ; at += FDT_RESERVE_ENTRY_SIZE) {
    if (at + FDT_RESERVE_ENTRY_SIZE > end) {
      throw new FdtFormatError(
        at,
        "memory reservation block runs past totalsize without its (0, 0) terminator",
      );
    }
    const address = u64(bytes, at);
    const size = u64(bytes, at + 8);
    if (address === 0n && size === 0n) return out;
    out.push({ address, size });
  }
}

function decodeStruct(
  bytes: Uint8Array,
  start: number,
  end: number,
  strStart: number,
  strEnd: number,
  exactEnd: boolean,
): DtNode {
  const stack: MutableNode[] = [];
  let root: MutableNode | undefined;
  let pos = start;
  const need = (n: number, what: string) => {
    if (pos + n > end) throw new FdtFormatError(pos, `structure block ends inside ${what}`);
  };
  for (;;) {
    if (pos + 4 > end) {
      throw new FdtFormatError(
        pos,
        stack.length > 0
          ? `structure block ends inside node "${(stack[stack.length - 1] as MutableNode).name}" (missing FDT_END_NODE and FDT_END)`
          : "structure block ends without FDT_END",
      );
    }
    const tokenAt = pos;
    const token = u32(bytes, pos);
    pos += 4;
    switch (token) {
      case FDT_BEGIN_NODE: {
        const nul = bytes.indexOf(0, pos);
        if (nul < 0 || nul >= end) {
          throw new FdtFormatError(
            pos,
            "node name is not NUL-terminated inside the structure block",
          );
        }
        const name = latin1(bytes, pos, nul);
        pos = align4(nul + 1);
        if (pos > end)
          throw new FdtFormatError(nul + 1, "structure block ends inside node name padding");
        const node: MutableNode = { name, properties: [], children: [], labels: [] };
        const parent = stack[stack.length - 1];
        if (parent === undefined) {
          if (root !== undefined) {
            throw new FdtFormatError(tokenAt, "second top-level node after the root was closed");
          }
          if (name !== "") {
            throw new FdtFormatError(tokenAt + 4, `root node has a name ("${name}"), expected ""`);
          }
          root = node;
        } else {
          parent.children.push(node);
        }
        stack.push(node);
        break;
      }
      case FDT_END_NODE: {
        if (stack.length === 0) {
          throw new FdtFormatError(tokenAt, "FDT_END_NODE without a matching FDT_BEGIN_NODE");
        }
        stack.pop();
        break;
      }
      case FDT_PROP: {
        const node = stack[stack.length - 1];
        if (node === undefined) throw new FdtFormatError(tokenAt, "FDT_PROP outside any node");
        need(8, "a property header");
        const len = u32(bytes, pos);
        const nameoff = u32(bytes, pos + 4);
        if (nameoff >= strEnd - strStart) {
          throw new FdtFormatError(
            pos + 4,
            `property name offset 0x${nameoff.toString(16)} is outside the strings block (size 0x${(strEnd - strStart).toString(16)})`,
          );
        }
        const nameAt = strStart + nameoff;
        const nul = bytes.indexOf(0, nameAt);
        if (nul < 0 || nul >= strEnd) {
          throw new FdtFormatError(
            nameAt,
            "property name is not NUL-terminated inside the strings block",
          );
        }
        pos += 8;
        if (len > end - pos) {
          throw new FdtFormatError(
            pos - 8,
            `property value of ${len} bytes runs past the end of the structure block`,
          );
        }
        const value = bytes.slice(pos, pos + len);
        pos = align4(pos + len);
        if (pos > end)
          throw new FdtFormatError(pos - 4, "structure block ends inside property padding");
        node.properties.push({ name: latin1(bytes, nameAt, nul), value });
        break;
      }
      case FDT_NOP:
        break;
      case FDT_END: {
        if (stack.length > 0) {
          throw new FdtFormatError(
            tokenAt,
            `FDT_END inside node "${(stack[stack.length - 1] as MutableNode).name}" (missing FDT_END_NODE)`,
          );
        }
        if (root === undefined)
          throw new FdtFormatError(tokenAt, "FDT_END before any node: no root");
        if (exactEnd && pos !== end) {
          throw new FdtFormatError(
            pos,
            `${end - pos} byte(s) of garbage after FDT_END in the structure block`,
          );
        }
        return root;
      }
      default:
        throw new FdtFormatError(tokenAt, `unknown structure token 0x${hex8(token)}`);
    }
  }
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

function u32(b: Uint8Array, at: number): number {
  return (
    (((b[at] as number) << 24) |
      ((b[at + 1] as number) << 16) |
      ((b[at + 2] as number) << 8) |
      (b[at + 3] as number)) >>>
    0
  );
}

function u64(b: Uint8Array, at: number): bigint {
  return (BigInt(u32(b, at)) << 32n) | BigInt(u32(b, at + 4));
}

function latin1(b: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i++) s += String.fromCharCode(b[i] as number);
  return s;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}
