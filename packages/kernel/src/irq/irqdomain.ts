/**
 * IRQ domains (kernel/irq/irqdomain.c): the per-controller translation between the controller's
 * hardware numbers (hwirq, the GIC's INTID) and Linux numbers (virq), and the mapping of a
 * firmware interrupt specifier (`interrupts = <0 7 4>`) to a virq.
 *
 * A mapping is made once per hwirq: irq_create_fwspec_mapping() translates the specifier through
 * the domain (for the GIC: <type number flags> → INTID and trigger), returns the existing virq
 * if the hwirq is already mapped, and otherwise allocates the lowest free virq from 1, lets the
 * domain's `alloc` install chip and flow handler, and records the trigger type in irq_data —
 * without programming the controller: the type is applied when the line is requested.
 * Failures return virq 0, as in Linux, with Linux's `irq: ` log lines.
 *
 * Caveat: only tree domains with hierarchy-style `alloc` (what the GIC uses) are modelled;
 * legacy/linear domains, MSI domains, hierarchies of more than one level and debugfs are not.
 */

import type { DtNode } from "@vfio-lab/hw-soc";
import { irqModifyStatus, irqSetChip } from "./chip.js";
import type { IrqContext } from "./irq-context.js";
import {
  IRQ_NOAUTOEN,
  IRQ_NOPROBE,
  IRQ_NOREQUEST,
  IRQ_NOTHREAD,
  IRQ_PER_CPU,
  IRQ_PER_CPU_DEVID,
  IRQ_TYPE_NONE,
  IRQ_TYPE_SENSE_MASK,
  IRQD_DEFAULT_TRIGGER_SET,
  IRQD_TRIGGER_MASK,
} from "./irq-flags.js";
import type { FlowHandler, IrqChip, IrqDesc, SparseIrqs } from "./irqdesc.js";

/** struct irq_fwspec: the controller's node and the specifier cells. */
export interface IrqFwspec {
  readonly fwnode: DtNode | null;
  readonly param: readonly number[];
}

/** enum irq_domain_bus_token, as far as the model needs it. */
export type IrqDomainBusToken = "any" | "wired";

/** A translated specifier, or a negative errno. */
export type IrqTranslation = { readonly hwirq: number; readonly type: number } | number;

/** struct irq_domain_ops. */
export interface IrqDomainOps {
  translate(d: IrqDomain, fwspec: IrqFwspec): IrqTranslation;
  /** Installs chip and flow handler on `nrIrqs` descriptors from `virq`; 0 or −errno. */
  alloc(d: IrqDomain, virq: number, nrIrqs: number, fwspec: IrqFwspec): number;
  /**
   * map(): a simple (non-hierarchical) domain's per-interrupt setup — chip, handler, chip data
   * — for irq_create_mapping(); 0 or −errno.
   */
  map?(d: IrqDomain, virq: number, hwirq: number): number;
  free?(d: IrqDomain, virq: number, nrIrqs: number): void;
  /** Whether this domain serves `fwspec` for `busToken` (never asked for "any"). */
  select?(d: IrqDomain, fwspec: IrqFwspec, busToken: IrqDomainBusToken): boolean;
}

/** struct irq_domain. */
export class IrqDomain {
  busToken: IrqDomainBusToken = "any";
  mapcount = 0;
  /** The reverse map hwirq → virq. */
  private readonly revmap = new Map<number, number>();

  constructor(
    readonly fwnode: DtNode,
    readonly name: string,
    readonly ops: IrqDomainOps,
  ) {}

  /** irq_find_mapping(): the virq of `hwirq`, or 0. */
  findMapping(hwirq: number): number {
    return this.revmap.get(hwirq) ?? 0;
  }

  /** irq_domain_set_mapping() */
  setMapping(hwirq: number, virq: number): void {
    this.revmap.set(hwirq, virq);
  }

  /** irq_domain_clear_mapping() */
  clearMapping(hwirq: number): void {
    this.revmap.delete(hwirq);
  }
}

/** The flow handler a domain installs, with its C name. */
export interface NamedFlowHandler {
  readonly fn: FlowHandler;
  readonly name: string;
}

/**
 * kernel/irq/irqdomain.c: irq_domain_set_info() — hwirq, chip and flow handler of one virq
 * (irq_domain_set_hwirq_and_chip() + __irq_set_handler()).
 */
export function irqDomainSetInfo(
  ctx: IrqContext,
  d: IrqDomain,
  desc: IrqDesc,
  hwirq: number,
  chip: IrqChip,
  handler: NamedFlowHandler,
): void {
  desc.irqData.hwirq = hwirq;
  desc.irqData.domain = d;
  irqSetChip(ctx, desc, chip);
  desc.handleIrq = handler.fn;
  desc.handleIrqName = handler.name;
}

/** include/linux/irq.h: irq_set_percpu_devid_flags() (via kernel/irq/irqdesc.c). */
export function irqSetPercpuDevid(ctx: IrqContext, desc: IrqDesc): void {
  irqModifyStatus(
    ctx,
    desc,
    0,
    IRQ_NOAUTOEN | IRQ_PER_CPU | IRQ_NOTHREAD | IRQ_NOPROBE | IRQ_PER_CPU_DEVID,
  );
}

/** The domains of the system and the mappings through them (irq_domain_list and friends). */
export class IrqDomainRegistry {
  private readonly domains: IrqDomain[] = [];

  constructor(
    private readonly ctx: IrqContext,
    private readonly sparse: SparseIrqs,
  ) {}

  /** irq_domain_create_tree() + irq_domain_update_bus_token(). */
  createTree(fwnode: DtNode, ops: IrqDomainOps, busToken: IrqDomainBusToken): IrqDomain {
    const d = new IrqDomain(fwnode, fwnode.name, ops);
    d.busToken = busToken;
    this.domains.push(d);
    return d;
  }

  /** irq_find_matching_fwspec() */
  findMatchingFwspec(fwspec: IrqFwspec, busToken: IrqDomainBusToken): IrqDomain | undefined {
    for (const h of this.domains) {
      const rc =
        h.ops.select && busToken !== "any"
          ? h.ops.select(h, fwspec, busToken)
          : fwspec.fwnode !== null &&
            h.fwnode === fwspec.fwnode &&
            (busToken === "any" || h.busToken === busToken);
      if (rc) return h;
    }
    return undefined;
  }

  /** The domain a controller node registered, if any. */
  domainOf(fwnode: DtNode): IrqDomain | undefined {
    return this.domains.find((d) => d.fwnode === fwnode);
  }

  /**
   * kernel/irq/irqdomain.c: irq_domain_alloc_irqs_locked() with irq_base = −1: lowest free virqs
   * from 1, the domain's alloc, then the reverse map. Returns the first virq or −errno.
   */
  allocIrqs(d: IrqDomain, nrIrqs: number, fwspec: IrqFwspec): number {
    // irq_domain_alloc_descs(-1, cnt, hwirq = 0): hint 0 becomes 1.
    const virq = this.sparse.alloc(1, nrIrqs);
    if (virq < 0) return virq;
    for (let i = 0; i < nrIrqs; i++) (this.sparse.get(virq + i) as IrqDesc).irqData.domain = d;
    const ret = d.ops.alloc(d, virq, nrIrqs, fwspec);
    if (ret < 0) {
      this.sparse.free(virq, nrIrqs);
      return ret;
    }
    for (let i = 0; i < nrIrqs; i++) {
      const desc = this.sparse.get(virq + i) as IrqDesc;
      // irq_domain_insert_irq()
      d.mapcount++;
      d.setMapping(desc.irqData.hwirq, virq + i);
      irqModifyStatus(this.ctx, desc, IRQ_NOREQUEST, 0);
    }
    return virq;
  }

  /** kernel/irq/irqdomain.c: irq_create_fwspec_mapping() — the virq, or 0. */
  createFwspecMapping(fwspec: IrqFwspec): number {
    const log = this.ctx.printk.pr("irq: ");
    const d = this.findMatchingFwspec(fwspec, "wired") ?? this.findMatchingFwspec(fwspec, "any");
    const nodeName = fwspec.fwnode?.name ?? "";
    if (!d) {
      log.warn(`no irq domain found for ${nodeName} !`);
      return 0;
    }
    const t = d.ops.translate(d, fwspec);
    if (typeof t === "number") return 0;
    let type = t.type;
    if (type & ~IRQ_TYPE_SENSE_MASK) {
      this.ctx.bug.warnOn({
        file: "kernel/irq/irqdomain.c",
        line: 935,
        fn: "irq_create_fwspec_mapping",
      });
      type &= IRQ_TYPE_SENSE_MASK;
    }

    let virq = d.findMapping(t.hwirq);
    if (virq) {
      const desc = this.ctx.irqToDesc(virq) as IrqDesc;
      // Mapped already: fine if the type agrees or was never set; a conflicting type fails.
      if (type === IRQ_TYPE_NONE || type === desc.triggerType) return virq;
      if (desc.triggerType === IRQ_TYPE_NONE) {
        setTriggerType(desc, type);
        return virq;
      }
      log.warn(`type mismatch, failed to map hwirq-${t.hwirq} for ${nodeName}!`);
      return 0;
    }

    virq = this.allocIrqs(d, 1, fwspec);
    if (virq <= 0) return 0;
    setTriggerType(this.ctx.irqToDesc(virq) as IrqDesc, type);
    return virq;
  }

  /** kernel/irq/irqdomain.c: irq_create_of_mapping() — `controller` and its specifier cells. */
  createOfMapping(controller: DtNode, args: readonly number[]): number {
    return this.createFwspecMapping({ fwnode: controller, param: args });
  }

  /**
   * kernel/irq/irqdomain.c: irq_create_mapping() for a simple domain — the existing virq of
   * `hwirq`, or a new one: irq_domain_alloc_descs() hints `hwirq % nr_irqs` (1 for hwirq 0) and
   * falls back to 1, then irq_domain_associate_locked() calls `map` and makes the line
   * requestable. 0 when it cannot be mapped.
   */
  createMapping(d: IrqDomain, hwirq: number): number {
    const existing = d.findMapping(hwirq);
    if (existing) return existing;
    if (!d.ops.map) return 0;
    let hint = hwirq % this.sparse.totalNrIrqs;
    if (hint === 0) hint = 1;
    let virq = this.sparse.alloc(hint, 1);
    if (virq <= 0 && hint > 1) virq = this.sparse.alloc(1, 1);
    if (virq <= 0) return 0;
    const desc = this.sparse.get(virq) as IrqDesc;
    desc.irqData.hwirq = hwirq;
    desc.irqData.domain = d;
    const ret = d.ops.map(d, virq, hwirq);
    if (ret !== 0) {
      if (ret !== -1) {
        this.ctx.printk
          .pr("irq: ")
          .info(
            `${d.name} didn't like hwirq-0x${hwirq.toString(16)} to VIRQ${virq} mapping (rc=${ret})`,
          );
      }
      this.sparse.free(virq, 1);
      return 0;
    }
    d.mapcount++;
    d.setMapping(hwirq, virq);
    irqModifyStatus(this.ctx, desc, IRQ_NOREQUEST, 0);
    return virq;
  }

  /** kernel/irq/irqdomain.c: irq_domain_remove() — its mappings must be disposed already. */
  remove(d: IrqDomain): void {
    const i = this.domains.indexOf(d);
    if (i >= 0) this.domains.splice(i, 1);
  }

  /** kernel/irq/irqdomain.c: irq_dispose_mapping() */
  disposeMapping(virq: number): void {
    const desc = this.ctx.irqToDesc(virq);
    const d = desc?.irqData.domain;
    if (!desc || !d) return;
    d.ops.free?.(d, virq, 1);
    d.clearMapping(desc.irqData.hwirq);
    d.mapcount--;
    this.sparse.free(virq, 1);
  }
}

/** include/linux/irq.h: irqd_set_trigger_type() — recorded, not programmed. */
function setTriggerType(desc: IrqDesc, type: number): void {
  desc.clearState(IRQD_TRIGGER_MASK);
  desc.setState((type & IRQD_TRIGGER_MASK) | IRQD_DEFAULT_TRIGGER_SET);
}
