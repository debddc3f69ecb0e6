/**
 * The IRQ subsystem of the kernel model: the generic IRQ layer (kernel/irq/: descriptors,
 * domains, request/free, enable/disable, flow handlers, spurious detection, /proc/interrupts),
 * the GICv3 driver (drivers/irqchip/irq-gic-v3.c), the arm64 IPIs and root handler
 * (arch/arm64/kernel/smp.c, irq.c), and the CPU's IRQ exception.
 *
 * The CPU takes an interrupt when the GIC raises its IRQ output (`gic.cpu.irqAsserted`): the
 * change is noticed through `onIrqChange`, and the exception is an event on the SoC's virtual
 * clock at the current time — so handlers run when the clock runs, after the code that raised
 * the line, never in the middle of it. The exception calls the root handler (gic_handle_irq: one
 * acknowledge, one dispatch) for as long as the line stays asserted, which is how a level
 * interrupt that its handler did not clear fires again and again; the loop ends when ICC_IAR1_EL1
 * has nothing more (INTID 1023).
 *
 * Interrupt numbers: see irqdesc.ts — virqs 1–8 are the SGIs (IPIs) initGic() allocates, and
 * every later mapping takes the lowest free number, so the order in which the kernel maps device
 * interrupts decides their numbers. On a real virt guest (the 7.3 oracle) the arch timer maps
 * its 4 PPIs next (9–12, `arch_timer` on 11), the PL011 gets 13, and the SMMU's event queue and
 * gerror interrupts 15 and 17.
 *
 * Caveat: one CPU, no affinity, no suspend/resume, no NMIs, no irq_work or softirqs; handlers
 * never nest. A line whose handler claims every interrupt without silencing its device livelocks
 * Linux; the model stops after IRQ_STORM_LIMIT acknowledges in one exception with
 * SimulationStuckError (hw-soc), a simulator error rather than a kernel one.
 */

import {
  type DtNode,
  isAvailable,
  nodeAncestry,
  propStrings,
  SimulationStuckError,
  type Soc,
  walkNodes,
} from "@vfio-lab/hw-soc";
import { errno, SysError } from "../errno.js";
import { KERN_INFO } from "../printk/levels.js";
import type { Printk } from "../printk/printk.js";
import type { Taint } from "../taint.js";
import type { KernelTrace } from "../trace/trace-bus.js";
import { Bug, type WarnTask } from "./bug.js";
import { genericHandleDomainIrq, irqSetChainedHandlerAndData } from "./chained.js";
import { irqModifyStatus } from "./chip.js";
import { handleBadIrq, handleEdgeIrq, handleLevelIrq } from "./flow.js";
import { ArmIpis } from "./ipi.js";
import { HZ, type IrqContext } from "./irq-context.js";
import {
  IRQ_TYPE_SENSE_MASK,
  IRQD_IRQ_DISABLED,
  IRQD_IRQ_MASKED,
  IRQD_LEVEL,
} from "./irq-flags.js";
import { GicV3Driver } from "./irq-gic-v3.js";
import { type FlowHandler, type IrqDesc, type IrqHandler, NR_IRQS, SparseIrqs } from "./irqdesc.js";
import {
  type IrqDomain,
  type IrqDomainOps,
  IrqDomainRegistry,
  type NamedFlowHandler,
} from "./irqdomain.js";
import {
  disableIrq,
  disableIrqNosync,
  disablePercpuIrq,
  enableIrq,
  enablePercpuIrq,
  freeIrq,
  irqSetIrqType,
  requestIrq,
  requestPercpuIrq,
  requestThreadedIrq,
} from "./manage.js";
import { OfIrqTree } from "./of-irq.js";
import { showInterrupts } from "./proc.js";

/** Acknowledges in one IRQ exception before the model calls it a livelock. */
export const IRQ_STORM_LIMIT = 1_000_000;

export interface IrqCoreOptions {
  readonly soc: Soc;
  readonly printk: Printk;
  readonly trace: KernelTrace;
  /** Receives TAINT_WARN when a WARN fires. */
  readonly taint?: Taint;
  /** `current`, for the WARNING lines (default swapper/0). */
  readonly current?: () => WarnTask;
  /** Loaded module names, newest first, for the WARN "Modules linked in:" line. */
  readonly modules?: () => readonly string[];
  /** Boot at EL2: the GIC driver uses split EOI/Deactivate mode. Default: EL1 (a virt guest). */
  readonly el2?: boolean;
}

/** A read-only view of one interrupt, for tests, notebooks and pictures. */
export interface IrqInfo {
  readonly virq: number;
  readonly hwirq: number;
  readonly chip: string;
  readonly trigger: number;
  readonly level: boolean;
  readonly depth: number;
  readonly disabled: boolean;
  readonly masked: boolean;
  /** kstat_irqs on CPU 0: the /proc/interrupts count. */
  readonly count: number;
  readonly actions: readonly string[];
  readonly flow: string;
}

export class IrqCore implements IrqContext {
  readonly soc: Soc;
  readonly printk: Printk;
  readonly trace: KernelTrace;
  readonly bug: Bug;
  readonly spurious = { badIrqReportsLeft: 100 };
  readonly proc = { chipWidth: 8 };
  readonly sparse = new SparseIrqs();
  readonly domains: IrqDomainRegistry;
  readonly of: OfIrqTree;
  readonly ipis: ArmIpis;
  /** The GICv3 driver, once initGic() ran. */
  gic: GicV3Driver | null = null;
  private readonly el2: boolean;
  /** handle_arch_irq and its name. */
  private rootHandler: { name: string; fn: () => boolean } | null = null;
  private hardirqDepth = 0;
  private entryPending = false;
  private unsubscribe: (() => void) | null = null;

  constructor(opts: IrqCoreOptions) {
    this.soc = opts.soc;
    this.printk = opts.printk;
    this.trace = opts.trace;
    this.el2 = opts.el2 ?? false;
    this.bug = new Bug({
      printk: opts.printk,
      taint: opts.taint,
      current: opts.current,
      modules: opts.modules,
    });
    this.domains = new IrqDomainRegistry(this, this.sparse);
    this.of = new OfIrqTree(opts.soc.tree);
    this.ipis = new ArmIpis(this);
  }

  // -------------------------------------------------------------------------------------------
  // IrqContext

  get clock() {
    return this.soc.clock;
  }

  irqToDesc(irq: number): IrqDesc | undefined {
    return this.sparse.get(irq);
  }

  inInterrupt(): boolean {
    return this.hardirqDepth > 0;
  }

  jiffies(): number {
    return Math.floor(this.soc.clock.now / (1e9 / HZ));
  }

  /** arch/arm64: ack_bad_irq() — irq_err_count, the `Err:` line of /proc/interrupts. */
  ackBadIrq(_irq: number): void {
    this.ipis.irqErrCount++;
  }

  // -------------------------------------------------------------------------------------------
  // Boot

  /**
   * init/main.c: early_irq_init() then init_IRQ() → irqchip_init() → gic_of_init() on the
   * device tree's "arm,gic-v3" interrupt controller, then IRQs on at the CPU.
   * Throws EBUSY if called twice (set_handle_irq()), ENODEV when the tree has no usable GICv3.
   */
  initGic(): void {
    if (this.rootHandler)
      throw new SysError("EBUSY", "set_handle_irq", "the root IRQ handler is set");
    this.printk.printk(
      KERN_INFO,
      `NR_IRQS: ${NR_IRQS}, nr_irqs: ${this.sparse.totalNrIrqs}, preallocated irqs: 0`,
    );
    const node = this.findGicNode();
    if (!node) throw new SysError("ENODEV", "irqchip_init", 'no "arm,gic-v3" interrupt controller');
    const chain = nodeAncestry(this.soc.tree, node) ?? [node];
    const gic = new GicV3Driver(this, this.domains, this.soc, node, chain.slice(0, -1), {
      el2: this.el2,
    });
    gic.ofInit({ setHandleIrq: (name, fn) => this.setHandleIrq(name, fn) }, (base, count) =>
      this.ipis.setRange(base, count),
    );
    this.gic = gic;
    this.unsubscribe = this.soc.gic.cpu.onIrqChange((asserted) => {
      if (asserted) this.raiseIrqException();
    });
    if (this.soc.gic.cpu.irqAsserted) this.raiseIrqException();
  }

  /** of_irq_init(): the first available interrupt controller compatible with "arm,gic-v3". */
  private findGicNode(): DtNode | undefined {
    let found: DtNode | undefined;
    walkNodes(this.soc.tree, (n) => {
      if (found) return false;
      if (!isAvailable(n)) return false;
      let compatible: string[] = [];
      try {
        compatible = propStrings(n, "compatible") ?? [];
      } catch {
        compatible = [];
      }
      if (
        compatible.includes("arm,gic-v3") &&
        n.properties.some((p) => p.name === "interrupt-controller")
      ) {
        found = n;
        return false;
      }
      return true;
    });
    return found;
  }

  /** arch/arm64/kernel/irq.c: set_handle_irq() */
  private setHandleIrq(name: string, fn: () => boolean): void {
    if (this.rootHandler) throw new SysError("EBUSY", "set_handle_irq");
    this.rootHandler = { name, fn };
    this.printk.printk(KERN_INFO, `Root IRQ handler: ${name}`);
  }

  /** Stops listening to the GIC (the model's equivalent of powering the CPU off). */
  shutdown(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  // -------------------------------------------------------------------------------------------
  // The CPU's IRQ exception

  /** The GIC raised the CPU's IRQ input: take the exception at the current virtual time. */
  private raiseIrqException(): void {
    if (this.entryPending) return;
    this.entryPending = true;
    this.soc.clock.schedule(0, "cpu0: IRQ exception", () => this.irqException());
  }

  /** el1_interrupt() → handle_arch_irq, for as long as the line is asserted. */
  private irqException(): void {
    this.entryPending = false;
    const root = this.rootHandler;
    if (!root) return;
    let taken = 0;
    while (this.soc.gic.cpu.irqAsserted) {
      if (++taken > IRQ_STORM_LIMIT) {
        throw new SimulationStuckError("cpu0: IRQ exception (interrupt storm)", taken - 1);
      }
      this.hardirqDepth++;
      let more: boolean;
      try {
        more = root.fn();
      } finally {
        this.hardirqDepth--;
      }
      if (!more) break;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Mapping

  /** kernel/irq/irqdomain.c: irq_create_of_mapping() — the virq, or 0 when it cannot be mapped. */
  irqCreateOfMapping(controller: DtNode, cells: readonly number[]): number {
    return this.domains.createOfMapping(controller, cells);
  }

  /** drivers/of/irq.c: irq_of_parse_and_map() — interrupt `index` of `node`, or 0. */
  irqOfParseAndMap(node: DtNode, index: number): number {
    const parsed = this.of.parseOne(node, index);
    if (typeof parsed === "number") return 0;
    return this.domains.createOfMapping(parsed.np, parsed.args);
  }

  /**
   * drivers/of/irq.c: of_irq_get() — the virq of interrupt `index` (> 0), 0 when the mapping
   * fails, or a negative errno: the parse error (-EINVAL, -EOVERFLOW past the last entry), or
   * -EPROBE_DEFER while the controller has no irq domain yet (before initGic()).
   */
  ofIrqGet(node: DtNode, index: number): number {
    const parsed = this.of.parseOne(node, index);
    if (typeof parsed === "number") return parsed;
    // irq_find_host(): a pure domain search (no specifier) for the controller node.
    const host = { fwnode: parsed.np, param: [] };
    const domain =
      this.domains.findMatchingFwspec(host, "wired") ??
      this.domains.findMatchingFwspec(host, "any");
    if (!domain) return -errno("EPROBE_DEFER");
    return this.domains.createOfMapping(parsed.np, parsed.args);
  }

  /**
   * drivers/of/irq.c: of_irq_get_byname() — by `interrupt-names`: -EINVAL without the property,
   * -ENODATA when the name is not in it, else of_irq_get().
   */
  ofIrqGetByname(node: DtNode, name: string): number {
    let names: string[] | undefined;
    try {
      names = propStrings(node, "interrupt-names");
    } catch {
      return -errno("EILSEQ");
    }
    if (!names) return -errno("EINVAL");
    const index = names.indexOf(name);
    if (index < 0) return -errno("ENODATA");
    return this.ofIrqGet(node, index);
  }

  /** kernel/irq/irqdomain.c: irq_dispose_mapping() */
  irqDisposeMapping(virq: number): void {
    this.domains.disposeMapping(virq);
  }

  /** The irq domain a controller node registered. */
  irqDomainOf(controller: DtNode): IrqDomain | undefined {
    return this.domains.domainOf(controller);
  }

  /**
   * kernel/irq/irqdomain.c: irq_domain_create_simple() — a domain of a controller that is not
   * in the GIC's hierarchy (a gpiochip), found by its firmware node.
   */
  irqDomainCreateSimple(fwnode: DtNode, ops: IrqDomainOps): IrqDomain {
    return this.domains.createTree(fwnode, ops, "any");
  }

  /** kernel/irq/irqdomain.c: irq_domain_remove() */
  irqDomainRemove(domain: IrqDomain): void {
    this.domains.remove(domain);
  }

  /** kernel/irq/irqdomain.c: irq_create_mapping() — the virq of `hwirq` in `domain`, or 0. */
  irqCreateMapping(domain: IrqDomain, hwirq: number): number {
    return this.domains.createMapping(domain, hwirq);
  }

  /** kernel/irq/irqdomain.c: irq_find_mapping() on the GIC's domain — virq of an INTID, or 0. */
  irqFindMapping(hwirq: number): number {
    return this.gic?.domain?.findMapping(hwirq) ?? 0;
  }

  // -------------------------------------------------------------------------------------------
  // Flow handlers and chained handlers (chained.ts)

  /** A generic flow handler bound to this IRQ core, with its C name. */
  flowHandler(name: "handle_level_irq" | "handle_edge_irq" | "handle_bad_irq"): NamedFlowHandler {
    const fn =
      name === "handle_level_irq"
        ? handleLevelIrq
        : name === "handle_edge_irq"
          ? handleEdgeIrq
          : handleBadIrq;
    return { fn: (desc) => fn(this, desc), name };
  }

  /**
   * kernel/irq/chip.c: irq_set_chained_handler_and_data() — installs `handler` as the flow
   * handler of line `virq` (IRQ_NOREQUEST|IRQ_NOPROBE|IRQ_NOTHREAD, started at once) with
   * `data` as its handler data; null uninstalls, leaving IRQ_NOREQUEST set. EINVAL for a
   * number with no descriptor.
   */
  irqSetChainedHandlerAndData(
    virq: number,
    handler: NamedFlowHandler | FlowHandler | null,
    data: unknown,
  ): void {
    const named =
      typeof handler === "function"
        ? { fn: handler, name: handler.name || "chained_handler" }
        : handler;
    irqSetChainedHandlerAndData(this, virq, named, data);
  }

  /** kernel/irq/irqdesc.c: generic_handle_domain_irq() — 0, or -EINVAL for an unmapped hwirq. */
  genericHandleDomainIrq(domain: IrqDomain, hwirq: number): number {
    return genericHandleDomainIrq(this, domain, hwirq);
  }

  // -------------------------------------------------------------------------------------------
  // Trigger type

  /** kernel/irq/chip.c: irq_set_irq_type(). Throws EINVAL (no such line, or the chip refuses). */
  irqSetIrqType(virq: number, type: number): void {
    irqSetIrqType(this, virq, type);
  }

  /** include/linux/irq.h: irq_get_trigger_type() — IRQ_TYPE_* of the line, 0 if none. */
  irqGetTriggerType(virq: number): number {
    return (this.irqToDesc(virq)?.irqData.state ?? 0) & IRQ_TYPE_SENSE_MASK;
  }

  /** include/linux/irq.h: irq_set_status_flags() (irq_modify_status(irq, 0, set)). */
  irqSetStatusFlags(virq: number, set: number): void {
    const desc = this.irqToDesc(virq);
    if (desc) irqModifyStatus(this, desc, 0, set);
  }

  /** include/linux/irq.h: irq_clear_status_flags() */
  irqClearStatusFlags(virq: number, clr: number): void {
    const desc = this.irqToDesc(virq);
    if (desc) irqModifyStatus(this, desc, clr, 0);
  }

  // -------------------------------------------------------------------------------------------
  // Requests

  /** include/linux/interrupt.h: request_irq(). Errors: see requestThreadedIrq(). */
  requestIrq(virq: number, handler: IrqHandler, flags: number, name: string, devId: unknown): void {
    requestIrq(this, virq, handler, flags, name, devId);
  }

  /**
   * kernel/irq/manage.c: request_threaded_irq(). Throws ENOTCONN, EINVAL, ENOSYS or EBUSY as
   * __setup_irq() decides.
   */
  requestThreadedIrq(
    virq: number,
    handler: IrqHandler | null,
    threadFn: IrqHandler | null,
    flags: number,
    name: string,
    devId: unknown,
  ): void {
    requestThreadedIrq(this, virq, handler, threadFn, flags, name, devId);
  }

  /** kernel/irq/manage.c: free_irq() — the freed action's name, or null (and a WARN). */
  freeIrq(virq: number, devId: unknown): string | null {
    return freeIrq(this, virq, devId);
  }

  /** kernel/irq/manage.c: request_percpu_irq() for an SGI or PPI. */
  requestPercpuIrq(virq: number, handler: IrqHandler, name: string, devId: unknown): void {
    requestPercpuIrq(this, virq, handler, name, devId);
  }

  /** kernel/irq/manage.c: enable_percpu_irq() on CPU 0. */
  enablePercpuIrq(virq: number, type = 0): void {
    enablePercpuIrq(this, virq, type);
  }

  /** kernel/irq/manage.c: disable_percpu_irq() on CPU 0. */
  disablePercpuIrq(virq: number): void {
    disablePercpuIrq(this, virq);
  }

  // -------------------------------------------------------------------------------------------
  // Enable / disable

  /** kernel/irq/manage.c: enable_irq() — "Unbalanced enable for IRQ %d" at depth 0. */
  enableIrq(virq: number): void {
    enableIrq(this, virq);
  }

  /** kernel/irq/manage.c: disable_irq() — also runs the line's pending interrupt threads. */
  disableIrq(virq: number): void {
    disableIrq(this, virq);
  }

  /** kernel/irq/manage.c: disable_irq_nosync() — safe from the line's own handler. */
  disableIrqNosync(virq: number): void {
    disableIrqNosync(this, virq);
  }

  // -------------------------------------------------------------------------------------------
  // Introspection

  /** The /proc/interrupts text (the Kernel registers it with procfs). */
  procInterruptsShow(): string {
    return showInterrupts(this, this.sparse, (prec) => this.ipis.show(prec));
  }

  /** A snapshot of interrupt `virq`, or undefined when no descriptor exists. */
  irqInfo(virq: number): IrqInfo | undefined {
    const desc = this.irqToDesc(virq);
    if (!desc) return undefined;
    return {
      virq,
      hwirq: desc.irqData.hwirq,
      chip: desc.chip.name,
      trigger: desc.triggerType,
      level: desc.hasState(IRQD_LEVEL),
      depth: desc.depth,
      disabled: desc.hasState(IRQD_IRQ_DISABLED),
      masked: desc.hasState(IRQD_IRQ_MASKED),
      count: desc.kstat,
      actions: desc.actions.map((a) => a.name),
      flow: desc.handleIrqName,
    };
  }
}
