/**
 * Interrupts of device-tree nodes (drivers/of/irq.c: of_irq_find_parent(), of_irq_parse_one(),
 * of_irq_parse_raw(), irq_of_parse_and_map()).
 *
 * A node's interrupt `index` is found in `interrupts-extended` (phandle + cells per entry), or
 * else in `interrupts`, whose cells are read with the `#interrupt-cells` of the interrupt parent:
 * the node named by the nearest `interrupt-parent` up the tree (the node itself first), or the
 * plain parent where none is given, until one has `#interrupt-cells`. On the virt board every
 * device inherits the root's `interrupt-parent = <&gic>` and has three cells.
 *
 * Caveat: `interrupt-map` translation (PCI INTx swizzling through a host bridge) is not
 * modelled; a specifier that would need it does not map (virq 0).
 */

import {
  type DeviceTree,
  type DtNode,
  hasProperty,
  phandleMap,
  propU32,
  propU32s,
  walkNodes,
} from "@vfio-lab/hw-soc";

/** struct of_phandle_args: the controller node and the specifier cells. */
export interface OfPhandleArgs {
  readonly np: DtNode;
  readonly args: readonly number[];
}

/** The tree relations drivers/of keeps in struct device_node (parent, phandle). */
export class OfIrqTree {
  private readonly parents = new Map<DtNode, DtNode>();
  private readonly phandles: Map<number, DtNode>;

  constructor(readonly tree: DeviceTree) {
    walkNodes(tree, (node, _path, parent) => {
      if (parent) this.parents.set(node, parent);
    });
    this.phandles = phandleMap(tree);
  }

  parentOf(node: DtNode): DtNode | undefined {
    return this.parents.get(node);
  }

  byPhandle(phandle: number): DtNode | undefined {
    return this.phandles.get(phandle);
  }

  /** drivers/of/irq.c: of_irq_find_parent() */
  findParent(child: DtNode): DtNode | undefined {
    let node = child;
    for (;;) {
      const ph = safeU32(node, "interrupt-parent");
      const p = ph === undefined ? this.parentOf(node) : this.byPhandle(ph);
      if (!p || hasProperty(p, "#interrupt-cells")) return p;
      node = p;
    }
  }

  /**
   * drivers/of/of.c: of_parse_phandle_with_args(node, "interrupts-extended", "#interrupt-cells",
   * index) — undefined when the property or the entry is missing or malformed.
   */
  private parseInterruptsExtended(node: DtNode, index: number): OfPhandleArgs | undefined {
    const cells = safeU32s(node, "interrupts-extended");
    if (!cells) return undefined;
    let pos = 0;
    for (let i = 0; pos < cells.length; i++) {
      const np = this.byPhandle(cells[pos] as number);
      if (!np) return undefined;
      const count = safeU32(np, "#interrupt-cells");
      if (count === undefined || pos + 1 + count > cells.length) return undefined;
      if (i === index) return { np, args: cells.slice(pos + 1, pos + 1 + count) };
      pos += 1 + count;
    }
    return undefined;
  }

  /** drivers/of/irq.c: of_irq_parse_one() — the specifier of interrupt `index`, or −errno. */
  parseOne(device: DtNode, index: number): OfPhandleArgs | number {
    let out = this.parseInterruptsExtended(device, index);
    if (!out) {
      const p = this.findParent(device);
      const intsize = p ? safeU32(p, "#interrupt-cells") : undefined;
      if (!p || intsize === undefined) return -22; // EINVAL
      const cells = safeU32s(device, "interrupts") ?? [];
      const start = index * intsize;
      // of_property_read_u32_index(): -EINVAL without the property, -EOVERFLOW past its end.
      if (cells.length === 0) return -22;
      if (index < 0 || start + intsize > cells.length) return -75; // EOVERFLOW
      out = { np: p, args: cells.slice(start, start + intsize) };
    }
    return this.parseRaw(out);
  }

  /**
   * drivers/of/irq.c: of_irq_parse_raw() — walk up to the interrupt controller that owns the
   * specifier. Only the no-`interrupt-map` walk is modelled.
   */
  private parseRaw(out: OfPhandleArgs): OfPhandleArgs | number {
    let ipar: DtNode | undefined = out.np;
    let intsize: number | undefined;
    while (ipar) {
      intsize = safeU32(ipar, "#interrupt-cells");
      if (intsize !== undefined) break;
      ipar = this.findParent(ipar);
    }
    if (!ipar || intsize !== out.args.length) return -22;
    while (ipar) {
      const intc = hasProperty(ipar, "interrupt-controller");
      const imap = hasProperty(ipar, "interrupt-map");
      if (intc && !imap) return { np: ipar, args: out.args };
      if (imap) return -22; // interrupt-map translation: not modelled (see the caveat)
      ipar = this.findParent(ipar);
    }
    return -22;
  }
}

/** A u32 property, or undefined when it is absent or not one cell. */
function safeU32(node: DtNode, name: string): number | undefined {
  try {
    return propU32(node, name);
  } catch {
    return undefined;
  }
}

function safeU32s(node: DtNode, name: string): number[] | undefined {
  try {
    return propU32s(node, name);
  } catch {
    return undefined;
  }
}
