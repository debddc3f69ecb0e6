/**
 * `struct device_node` (include/linux/of.h, drivers/of/base.c): the kernel's live view of the
 * flattened device tree the bootloader handed over — parent links, the node's full name and
 * path, the `_flags` bits the platform code uses (OF_POPULATED, OF_POPULATED_BUS), and the
 * lookups the driver core needs (`of_device_is_compatible()`, `of_match_node()`,
 * `of_device_is_available()`, `of_translate_address()`).
 *
 * Nodes wrap hw-soc `DtNode`s one to one: the other kernel layers (IRQ, IOMMU) talk in
 * `DtNode`s, so `OfNode.dt` is the currency across them.
 *
 * Caveat: no dynamic tree (overlays, of_reconfig notifiers), no aliases; `#address-cells`
 * defaults follow hw-soc (spec defaults) rather than Linux's inheritance.
 */

import {
  type DeviceTree,
  type DtNode,
  DtValueError,
  findProperty,
  propStrings,
  propU32,
  type RegEntry,
  readReg,
} from "@vfio-lab/hw-soc";

/** include/linux/of.h: `_flags` bit numbers. */
export const OF_DYNAMIC = 1;
export const OF_DETACHED = 2;
export const OF_POPULATED = 3;
export const OF_POPULATED_BUS = 4;

const INT_MAX = 0x7fff_ffff;

/** `struct of_device_id`: one entry of a driver's or a bus's OF match table. */
export interface OfDeviceId {
  readonly compatible?: string;
  readonly type?: string;
  readonly name?: string;
  /** Driver-private data (`of_device_get_match_data()`). */
  readonly data?: unknown;
}

export class OfNode {
  readonly children: OfNode[] = [];
  /** `np->_flags`. */
  private flags = 0;

  constructor(
    readonly dt: DtNode,
    readonly parent: OfNode | null,
    /** `%pOF`: the absolute path (`/platform-bus@c000000/dma@0`, `/` for the root). */
    readonly path: string,
  ) {}

  /** `np->full_name`: the node name with its unit address (`pl061@9030000`). */
  get fullName(): string {
    return this.dt.name;
  }

  /** `%pOFn`: the node name up to the unit address (`pl061`). */
  get name(): string {
    const at = this.dt.name.indexOf("@");
    return at < 0 ? this.dt.name : this.dt.name.slice(0, at);
  }

  /** The nodes from the root down to this node's parent (what `readReg` wants). */
  ancestors(): DtNode[] {
    const chain: DtNode[] = [];
    for (let p = this.parent; p; p = p.parent) chain.unshift(p.dt);
    return chain;
  }

  hasProperty(name: string): boolean {
    return findProperty(this.dt, name) !== undefined;
  }

  /** A string-list property, or [] when absent or malformed (of_property_for_each_string). */
  strings(name: string): string[] {
    try {
      return propStrings(this.dt, name) ?? [];
    } catch (e) {
      if (DtValueError.isInstance(e)) return [];
      throw e;
    }
  }

  /** `compatible`, most specific first. */
  get compatible(): string[] {
    return this.strings("compatible");
  }

  /** of_node_get_device_type(): the `device_type` string, if any. */
  get deviceType(): string | undefined {
    return this.strings("device_type")[0];
  }

  /** of_property_read_u32(): undefined when absent or not exactly one cell. */
  readU32(name: string): number | undefined {
    try {
      return propU32(this.dt, name);
    } catch (e) {
      if (DtValueError.isInstance(e)) return undefined;
      throw e;
    }
  }

  /** drivers/of/base.c: of_device_is_available() — `status` absent, "okay" or "ok". */
  isAvailable(): boolean {
    if (!this.hasProperty("status")) return true;
    const status = this.strings("status")[0];
    return status === "okay" || status === "ok";
  }

  /** drivers/of/base.c: of_device_is_compatible(). */
  isCompatible(compat: string): boolean {
    return ofDeviceIsCompatibleScore(this, compat, undefined, undefined) > 0;
  }

  /** drivers/of/base.c: of_node_name_eq() — the name without unit address equals `name`. */
  nameEq(name: string): boolean {
    return this.name === name;
  }

  /**
   * drivers/of/address.c: of_address_to_resource() for every `reg` entry, translated to CPU
   * physical addresses; null when the node's addresses cannot be translated (OF_BAD_ADDR).
   */
  translatedReg(): RegEntry[] | null {
    if (!this.parent) return [];
    try {
      return readReg(this.dt, [...this.ancestors()]);
    } catch (e) {
      if (DtValueError.isInstance(e)) return null;
      throw e;
    }
  }

  /** drivers/of/address.c: of_address_count() — the number of `reg` entries. */
  addressCount(): number {
    if (!this.hasProperty("reg")) return 0;
    const reg = this.translatedReg();
    return reg === null ? 0 : reg.length;
  }

  /** of_node_check_flag(). */
  checkFlag(flag: number): boolean {
    return (this.flags & (1 << flag)) !== 0;
  }

  /** of_node_set_flag(). */
  setFlag(flag: number): void {
    this.flags |= 1 << flag;
  }

  /** of_node_clear_flag(). */
  clearFlag(flag: number): void {
    this.flags &= ~(1 << flag);
  }

  /** of_node_test_and_set_flag(): the old value. */
  testAndSetFlag(flag: number): boolean {
    const was = this.checkFlag(flag);
    this.setFlag(flag);
    return was;
  }
}

/** strcasecmp() on ASCII, as of_compat_cmp() uses. */
function strcaseEq(a: string, b: string): boolean {
  return a.length === b.length && a.toLowerCase() === b.toLowerCase();
}

/**
 * drivers/of/base.c: __of_device_is_compatible() — a score, 0 for no match: a compatible match
 * counts most, and earlier `compatible` entries more than later ones; a matching device_type
 * adds 2, a matching name 1.
 */
export function ofDeviceIsCompatibleScore(
  np: OfNode,
  compat: string | undefined,
  type: string | undefined,
  name: string | undefined,
): number {
  let score = 0;
  if (compat) {
    const list = np.compatible;
    const index = list.findIndex((cp) => strcaseEq(cp, compat));
    if (index < 0) return 0;
    score = Math.floor(INT_MAX / 2) - (index << 2);
  }
  if (type) {
    const t = np.deviceType;
    if (t === undefined || !strcaseEq(t, type)) return 0;
    score += 2;
  }
  if (name) {
    if (!np.nameEq(name)) return 0;
    score++;
  }
  return score;
}

/** drivers/of/base.c: of_match_node() — the best-scoring entry of `matches`, if any. */
export function ofMatchNode(
  matches: readonly OfDeviceId[] | undefined,
  np: OfNode,
): OfDeviceId | undefined {
  if (!matches) return undefined;
  let best: OfDeviceId | undefined;
  let bestScore = 0;
  for (const m of matches) {
    // The table ends at the first entry with neither name, type nor compatible.
    if (!m.name && !m.type && !m.compatible) break;
    const score = ofDeviceIsCompatibleScore(np, m.compatible, m.type, m.name);
    if (score > bestScore) {
      best = m;
      bestScore = score;
    }
  }
  return best;
}

/** The unflattened tree (`of_root` and every node below it, drivers/of/fdt.c). */
export class OfTree {
  readonly root: OfNode;
  private readonly byDt = new Map<DtNode, OfNode>();
  private readonly byPath = new Map<string, OfNode>();

  constructor(readonly tree: DeviceTree) {
    this.root = this.build(tree.root, null, "/");
  }

  private build(dt: DtNode, parent: OfNode | null, path: string): OfNode {
    // Iterative, like hw-soc's walker, so a deep hostile tree cannot overflow the stack.
    const top = new OfNode(dt, parent, path);
    const stack: OfNode[] = [top];
    while (stack.length > 0) {
      const np = stack.pop() as OfNode;
      this.byDt.set(np.dt, np);
      this.byPath.set(np.path, np);
      for (const child of np.dt.children) {
        const childPath = np.path === "/" ? `/${child.name}` : `${np.path}/${child.name}`;
        const c = new OfNode(child, np, childPath);
        np.children.push(c);
        stack.push(c);
      }
    }
    return top;
  }

  /** The OfNode of a hw-soc node of this tree. */
  of(dt: DtNode): OfNode | undefined {
    return this.byDt.get(dt);
  }

  /** of_find_node_by_path(). */
  findByPath(path: string): OfNode | undefined {
    return this.byPath.get(path);
  }

  /** Every node, parents before children, siblings in tree order. */
  *nodes(): Generator<OfNode> {
    const stack: OfNode[] = [this.root];
    while (stack.length > 0) {
      const np = stack.pop() as OfNode;
      yield np;
      for (let i = np.children.length - 1; i >= 0; i--) stack.push(np.children[i] as OfNode);
    }
  }
}
