/**
 * Typed views of raw device-tree properties, and the address arithmetic every consumer of a tree
 * needs: cell counts, `reg` decoding and translation through the `ranges` of parent buses to a CPU
 * physical address.
 *
 * Models the Devicetree Specification v0.4, §2.3 (standard properties) and §2.3.8 (`ranges`).
 *
 * Caveat:
 * - `#address-cells`/`#size-cells` default to 2/1 as the specification says; Linux's
 *   `of_n_addr_cells()` instead inherits them from further up, so trees relying on that differ.
 * - Bus-specific translation (PCI's 3-cell addresses, ISA) is not modelled: every bus is treated
 *   as a plain memory-mapped bus, which is what `simple-bus` and the root are.
 * - Addresses and sizes are JS numbers: anything at or above 2^53 is refused, not rounded.
 */

import type { DeviceTree, DtNode, DtProperty } from "./tree.js";

const DT_VALUE_ERROR_MARKER = Symbol.for("@vfio-lab/hw-soc/DtValueError");

/** A property whose bytes do not have the shape its name requires, or a value that cannot be encoded. */
export class DtValueError extends Error {
  readonly [DT_VALUE_ERROR_MARKER] = true;
  /** The offending property, when there is one. */
  readonly property: string | undefined;

  constructor(message: string, property?: string) {
    super(message);
    this.name = "DtValueError";
    this.property = property;
  }

  /** True for a `DtValueError` from any copy of this package. */
  static isInstance(value: unknown): value is DtValueError {
    return typeof value === "object" && value !== null && DT_VALUE_ERROR_MARKER in value;
  }
}

const utf8Decoder = new TextDecoder("utf-8");
const utf8Encoder = new TextEncoder();

/** The first property called `name`, as a DTB lookup (`fdt_getprop`) finds it. */
export function findProperty(node: DtNode, name: string): DtProperty | undefined {
  return node.properties.find((p) => p.name === name);
}

export function hasProperty(node: DtNode, name: string): boolean {
  return findProperty(node, name) !== undefined;
}

/** The property as big-endian u32 cells; `undefined` when absent. */
export function propU32s(node: DtNode, name: string): number[] | undefined {
  const prop = findProperty(node, name);
  if (prop === undefined) return undefined;
  return cellsOf(prop, nodeLabel(node));
}

/** A single-cell property (`#address-cells`, `phandle`); `undefined` when absent. */
export function propU32(node: DtNode, name: string): number | undefined {
  const cells = propU32s(node, name);
  if (cells === undefined) return undefined;
  if (cells.length !== 1) {
    throw new DtValueError(
      `${nodeLabel(node)}: property "${name}" has ${cells.length} cells, expected exactly 1`,
      name,
    );
  }
  return cells[0];
}

/** A string-list property (`compatible`, `reg-names`), split at its NULs. */
export function propStrings(node: DtNode, name: string): string[] | undefined {
  const prop = findProperty(node, name);
  if (prop === undefined) return undefined;
  const v = prop.value;
  if (v.length === 0) return [];
  if (v[v.length - 1] !== 0) {
    throw new DtValueError(
      `${nodeLabel(node)}: property "${name}" is not a NUL-terminated string list`,
      name,
    );
  }
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < v.length; i++) {
    if (v[i] === 0) {
      out.push(utf8Decoder.decode(v.subarray(start, i)));
      start = i + 1;
    }
  }
  return out;
}

/** The first string of a string property (`status`, `device_type`, the first `compatible`). */
export function propString(node: DtNode, name: string): string | undefined {
  return propStrings(node, name)?.[0];
}

function rootOf(tree: DeviceTree | DtNode): DtNode {
  return "root" in tree ? tree.root : tree;
}

/**
 * The node at an absolute path such as `/soc/pl061@9030000`. Names must match exactly, unit
 * address included, as `of_find_node_by_path()` and dtc's `&{/path}` require.
 */
export function nodeByPath(tree: DeviceTree | DtNode, path: string): DtNode | undefined {
  if (!path.startsWith("/")) return undefined;
  let node: DtNode | undefined = rootOf(tree);
  for (const part of path.split("/")) {
    if (part === "") continue;
    node = node.children.find((c) => c.name === part);
    if (node === undefined) return undefined;
  }
  return node;
}

/**
 * Called for every node in document order (a node, then its subtree, then its next sibling).
 * `ancestors` runs from the root down to `parent`. Return `false` to skip the node's subtree.
 */
export type DtVisitor = (
  node: DtNode,
  path: string,
  parent: DtNode | undefined,
  ancestors: readonly DtNode[],
) => DtVisitResult;

/** `false` prunes the subtree; returning nothing (or `true`) descends. */
// biome-ignore lint/suspicious/noConfusingVoidType: visitors that return nothing must type-check
export type DtVisitResult = boolean | void;

export function walkNodes(tree: DeviceTree | DtNode, visit: DtVisitor): void {
  // Iterative, so that a hostile (very deep) decoded tree cannot overflow the JS stack.
  const root = rootOf(tree);
  const stack: { node: DtNode; path: string; ancestors: DtNode[] }[] = [
    { node: root, path: "/", ancestors: [] },
  ];
  while (stack.length > 0) {
    const item = stack.pop() as { node: DtNode; path: string; ancestors: DtNode[] };
    const parent = item.ancestors[item.ancestors.length - 1];
    if (visit(item.node, item.path, parent, item.ancestors) === false) continue;
    const chain = [...item.ancestors, item.node];
    for (let i = item.node.children.length - 1; i >= 0; i--) {
      const child = item.node.children[i] as DtNode;
      stack.push({ node: child, path: joinPath(item.path, child.name), ancestors: chain });
    }
  }
}

export function joinPath(parentPath: string, name: string): string {
  return parentPath === "/" ? `/${name}` : `${parentPath}/${name}`;
}

/** The chain of nodes from the root down to `node` (both included), or `undefined` if not in the tree. */
export function nodeAncestry(tree: DeviceTree | DtNode, node: DtNode): DtNode[] | undefined {
  let found: DtNode[] | undefined;
  walkNodes(tree, (n, _path, _parent, ancestors) => {
    if (found !== undefined) return false;
    if (n === node) {
      found = [...ancestors, n];
      return false;
    }
    return true;
  });
  return found;
}

/** The absolute path of `node` within `tree` (`/` for the root), or `undefined` if it is not there. */
export function nodePath(tree: DeviceTree | DtNode, node: DtNode): string | undefined {
  const chain = nodeAncestry(tree, node);
  if (chain === undefined) return undefined;
  let path = "/";
  for (const n of chain.slice(1)) path = joinPath(path, n.name);
  return path;
}

/**
 * Every node that carries a `phandle` (or the legacy `linux,phandle`), by value. The first of the
 * two in property order counts, as Linux's `populate_properties()` (drivers/of/fdt.c) does; when
 * two nodes claim one value the first in document order keeps it.
 */
export function phandleMap(tree: DeviceTree | DtNode): Map<number, DtNode> {
  const map = new Map<number, DtNode>();
  walkNodes(tree, (node) => {
    const prop = node.properties.find((p) => p.name === "phandle" || p.name === "linux,phandle");
    if (prop === undefined) return;
    const ph = propU32(node, prop.name) as number;
    if (ph !== 0 && ph !== 0xffff_ffff && !map.has(ph)) map.set(ph, node);
  });
  return map;
}

/** `#address-cells` of a bus node: how many cells a child's `reg` address takes (spec default 2). */
export function addressCells(parent: DtNode): number {
  return propU32(parent, "#address-cells") ?? 2;
}

/** `#size-cells` of a bus node: how many cells a child's `reg` size takes (spec default 1). */
export function sizeCells(parent: DtNode): number {
  return propU32(parent, "#size-cells") ?? 1;
}

/**
 * Joins `n` big-endian cells starting at `start` into one number. Zero cells give 0 (a
 * `#size-cells = <0>` bus); values that JS cannot hold exactly are refused.
 */
export function combineCells(cells: readonly number[], start: number, n: number): number {
  if (!Number.isInteger(start) || !Number.isInteger(n) || start < 0 || n < 0) {
    throw new DtValueError(`bad cell range ${start}+${n}`);
  }
  if (start + n > cells.length) {
    throw new DtValueError(
      `cell range ${start}..${start + n - 1} runs past the ${cells.length} cells available`,
    );
  }
  let value = 0;
  for (let i = 0; i < n; i++) {
    value = value * 0x1_0000_0000 + (cells[start + i] as number);
    if (value > Number.MAX_SAFE_INTEGER) {
      throw new DtValueError(`a ${n}-cell value at cell ${start} does not fit in 2^53`);
    }
  }
  return value;
}

export interface RegEntry {
  readonly address: number;
  readonly size: number;
}

/**
 * `reg` decoded with the parent's cell counts, without any translation: addresses in the parent
 * bus's own address space (a CPU's MPIDR under `/cpus`, an offset on an I2C bus, …).
 */
export function readLocalReg(node: DtNode, parent: DtNode): RegEntry[] {
  const cells = propU32s(node, "reg");
  if (cells === undefined) return [];
  const ac = addressCells(parent);
  const sc = sizeCells(parent);
  if (ac === 0) {
    throw new DtValueError(
      `${nodeLabel(node)}: "reg" under a parent with #address-cells = <0> has no address`,
      "reg",
    );
  }
  const stride = ac + sc;
  if (cells.length % stride !== 0) {
    throw new DtValueError(
      `${nodeLabel(node)}: "reg" has ${cells.length} cells, not a multiple of ` +
        `#address-cells (${ac}) + #size-cells (${sc})`,
      "reg",
    );
  }
  const out: RegEntry[] = [];
  for (let i = 0; i < cells.length; i += stride) {
    out.push({ address: combineCells(cells, i, ac), size: combineCells(cells, i + ac, sc) });
  }
  return out;
}

/**
 * `reg` as CPU physical addresses: decoded with the parent's cell counts, then translated through
 * the `ranges` of every bus between the node and the root (`of_translate_address()`). A bus with
 * no `ranges` makes its children untranslatable, so that is an error rather than a silent
 * bus-local address; an empty `ranges` is the identity.
 *
 * `parent` is either the ancestor chain from the root down to the parent (as `walkNodes` gives
 * it) or the parent node itself, in which case `root` must be given unless the parent is the root.
 */
export function readReg(
  node: DtNode,
  parent: DtNode | readonly DtNode[],
  root?: DeviceTree | DtNode,
): RegEntry[] {
  const chain = ancestorChain(node, parent, root);
  const direct = chain[chain.length - 1] as DtNode;
  const local = readLocalReg(node, direct);
  return local.map((entry) => ({
    address: translateAddress(entry.address, chain, nodeLabel(node)),
    size: entry.size,
  }));
}

function ancestorChain(
  node: DtNode,
  parent: DtNode | readonly DtNode[],
  root: DeviceTree | DtNode | undefined,
): readonly DtNode[] {
  if (Array.isArray(parent)) {
    const chain = parent as readonly DtNode[];
    if (chain.length === 0)
      throw new DtValueError(`${nodeLabel(node)}: the root has no "reg" parent`);
    return chain;
  }
  const p = parent as DtNode;
  if (root === undefined) {
    if (p.name === "") return [p];
    throw new DtValueError(
      `${nodeLabel(node)}: translating "reg" needs the tree to find the ancestors of ${p.name}`,
    );
  }
  const chain = nodeAncestry(root, p);
  if (chain === undefined)
    throw new DtValueError(`${nodeLabel(node)}: parent ${p.name} is not in the tree`);
  return chain;
}

/**
 * Walks `address`, expressed on the bus of `chain[chain.length-1]`, up to the root.
 * `chain[0]` is the root.
 */
function translateAddress(address: number, chain: readonly DtNode[], who: string): number {
  let addr = address;
  for (let i = chain.length - 1; i >= 1; i--) {
    const bus = chain[i] as DtNode;
    const up = chain[i - 1] as DtNode;
    const ranges = findProperty(bus, "ranges");
    if (ranges === undefined) {
      throw new DtValueError(
        `${who}: bus ${bus.name} has no "ranges", so its children's addresses are not CPU addresses`,
        "ranges",
      );
    }
    if (ranges.value.length === 0) continue;
    const cells = cellsOf(ranges, bus.name);
    const childAc = addressCells(bus);
    const parentAc = addressCells(up);
    const sc = sizeCells(bus);
    const stride = childAc + parentAc + sc;
    if (stride === 0 || cells.length % stride !== 0) {
      throw new DtValueError(
        `${bus.name}: "ranges" has ${cells.length} cells, not a multiple of ${childAc} + ${parentAc} + ${sc}`,
        "ranges",
      );
    }
    let mapped: number | undefined;
    for (let j = 0; j < cells.length; j += stride) {
      const childBase = combineCells(cells, j, childAc);
      const parentBase = combineCells(cells, j + childAc, parentAc);
      const size = combineCells(cells, j + childAc + parentAc, sc);
      if (addr >= childBase && addr - childBase < size) {
        mapped = parentBase + (addr - childBase);
        break;
      }
    }
    if (mapped === undefined) {
      throw new DtValueError(
        `${who}: address 0x${addr.toString(16)} is outside every "ranges" window of ${bus.name}`,
        "ranges",
      );
    }
    if (mapped > Number.MAX_SAFE_INTEGER) {
      throw new DtValueError(`${who}: translated address does not fit in 2^53`, "ranges");
    }
    addr = mapped;
  }
  return addr;
}

/** `status` absent, `"okay"` or `"ok"` (`of_device_is_available()`). */
export function isAvailable(node: DtNode): boolean {
  const prop = findProperty(node, "status");
  if (prop === undefined) return true;
  const status = propString(node, "status");
  return status === "okay" || status === "ok";
}

/** A string or string-list property (`compatible = "a", "b"`). */
export function stringsProp(name: string, values: string | readonly string[]): DtProperty {
  const list = typeof values === "string" ? [values] : values;
  const parts = list.map((s) => {
    const bytes = utf8Encoder.encode(s);
    if (bytes.includes(0)) throw new DtValueError(`string for "${name}" contains a NUL`, name);
    return bytes;
  });
  const total = parts.reduce((n, b) => n + b.length + 1, 0);
  const value = new Uint8Array(total);
  let at = 0;
  for (const b of parts) {
    value.set(b, at);
    at += b.length + 1;
  }
  return { name, value };
}

/** A `<…>` property of u32 cells. */
export function cellsProp(name: string, cells: readonly number[]): DtProperty {
  const value = new Uint8Array(cells.length * 4);
  const view = new DataView(value.buffer);
  cells.forEach((c, i) => {
    if (!Number.isInteger(c) || c < 0 || c > 0xffff_ffff) {
      throw new DtValueError(`cell ${i} of "${name}" (${c}) is not a u32`, name);
    }
    view.setUint32(i * 4, c);
  });
  return { name, value };
}

/** An empty (boolean) property such as `dma-coherent;` or `interrupt-controller;`. */
export function emptyProp(name: string): DtProperty {
  return { name, value: new Uint8Array(0) };
}

/** A `[…]` byte-string property. */
export function bytesProp(name: string, bytes: ArrayLike<number>): DtProperty {
  return { name, value: Uint8Array.from(bytes) };
}

function cellsOf(prop: DtProperty, who: string): number[] {
  const v = prop.value;
  if (v.length % 4 !== 0) {
    throw new DtValueError(
      `${who}: property "${prop.name}" is ${v.length} bytes long, not a whole number of cells`,
      prop.name,
    );
  }
  const view = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const out: number[] = [];
  for (let i = 0; i < v.length; i += 4) out.push(view.getUint32(i));
  return out;
}

function nodeLabel(node: DtNode): string {
  return node.name === "" ? "/" : node.name;
}

/**
 * The rate of each `clocks` entry of `node` that is a `fixed-clock` (undefined for any other
 * provider), walking the specifiers with each provider's `#clock-cells`.
 */
export function fixedClockRates(tree: DeviceTree, node: DtNode): (number | undefined)[] {
  const cells = propU32s(node, "clocks") ?? [];
  const providers = phandleMap(tree);
  const rates: (number | undefined)[] = [];
  let at = 0;
  while (at < cells.length) {
    const provider = providers.get(cells[at]!);
    if (!provider) break;
    const fixed = propStrings(provider, "compatible")?.includes("fixed-clock") ?? false;
    rates.push(fixed ? propU32(provider, "clock-frequency") : undefined);
    at += 1 + (propU32(provider, "#clock-cells") ?? 0);
  }
  return rates;
}
