/**
 * Chained (demultiplexing) interrupt handlers: a controller that sits behind one line of its
 * parent (a PL061 behind a GIC SPI) installs a flow handler on that line instead of requesting
 * it (kernel/irq/chip.c: irq_set_chained_handler_and_data() → __irq_do_set_handler()); the
 * handler brackets its work with chained_irq_enter()/chained_irq_exit()
 * (include/linux/irqchip/chained_irq.h) and hands each pending child interrupt on with
 * generic_handle_domain_irq() (kernel/irq/irqdesc.c).
 *
 * Installing a chained handler marks the parent line IRQ_NOREQUEST, IRQ_NOPROBE and
 * IRQ_NOTHREAD and starts it. Uninstalling (a NULL handler) masks and disables the line and
 * puts handle_bad_irq back — but does not clear IRQ_NOREQUEST: after a gpiochip goes away its
 * parent line stays unrequestable, which is why on Linux 7.3 vfio-amba's request_irq() of an
 * unbound PL061's interrupt fails with EINVAL.
 *
 * Caveat: no hierarchical domains (the parent line's own handler is replaced as is); the
 * chained action's irq_chip_pm_get()/put() are not modelled.
 */

import { SysError } from "../errno.js";
import { irqActivate, irqStartup, maskIrq } from "./chip.js";
import type { IrqContext } from "./irq-context.js";
import {
  IRQ_NOPROBE,
  IRQ_NOREQUEST,
  IRQ_NOTHREAD,
  IRQ_TYPE_NONE,
  IRQD_IRQ_DISABLED,
} from "./irq-flags.js";
import type { FlowHandler, IrqChip, IrqDesc } from "./irqdesc.js";
import { NO_IRQ_CHIP } from "./irqdesc.js";
import type { IrqDomain, NamedFlowHandler } from "./irqdomain.js";
import { irqSetTrigger } from "./manage.js";

/** The name a descriptor's flow shows once no handler is installed. */
const HANDLE_BAD_IRQ = "handle_bad_irq";

/**
 * kernel/irq/chip.c: __irq_do_set_handler() — `handle` null uninstalls. `name` becomes the
 * descriptor's name (the `-name` suffix of its /proc/interrupts row).
 */
export function irqDoSetHandler(
  ctx: IrqContext,
  desc: IrqDesc,
  handle: NamedFlowHandler | null,
  isChained: boolean,
  name: string | null,
): void {
  if (!handle) {
    if (desc.chip !== NO_IRQ_CHIP) {
      maskIrq(desc);
      desc.chip.irqAck?.(desc.irqData);
    }
    desc.setState(IRQD_IRQ_DISABLED);
    if (isChained) desc.chained = false;
    desc.depth = 1;
    desc.handleIrq = null;
    desc.handleIrqName = HANDLE_BAD_IRQ;
    desc.name = name;
    return;
  }
  desc.handleIrq = handle.fn;
  desc.handleIrqName = handle.name;
  desc.name = name;
  if (!isChained) return;
  // The line starts at once, so its trigger is programmed now; a chip's irq_set_type may
  // have swapped the flow handler, which a chained line must keep.
  const type = desc.triggerType;
  if (type !== IRQ_TYPE_NONE) {
    irqSetTrigger(ctx, desc, type);
    desc.handleIrq = handle.fn;
    desc.handleIrqName = handle.name;
  }
  desc.settings |= IRQ_NOPROBE | IRQ_NOREQUEST | IRQ_NOTHREAD;
  desc.chained = true;
  irqActivate(desc);
  irqStartup(ctx, desc, true);
}

/**
 * kernel/irq/chip.c: irq_set_chained_handler_and_data() — `handler` runs as the line's flow
 * handler with `data` as its handler data; null uninstalls (data is cleared with it). EINVAL
 * for a number with no descriptor (Linux returns silently; the model says why).
 */
export function irqSetChainedHandlerAndData(
  ctx: IrqContext,
  irq: number,
  handler: NamedFlowHandler | null,
  data: unknown,
): void {
  const desc = ctx.irqToDesc(irq);
  if (!desc) {
    throw new SysError("EINVAL", "irq_set_chained_handler_and_data", `no interrupt ${irq}`);
  }
  desc.handlerData = data;
  irqDoSetHandler(ctx, desc, handler, true, null);
}

/** include/linux/irq.h: irq_set_handler_locked() — from an irq_chip callback (irq_set_type). */
export function irqSetHandlerLocked(desc: IrqDesc, handler: NamedFlowHandler): void {
  desc.handleIrq = handler.fn;
  desc.handleIrqName = handler.name;
}

/**
 * include/linux/irqchip/chained_irq.h: chained_irq_enter() — a parent with an EOI (the GIC)
 * needs nothing before the demultiplexing; one without masks and acks the line.
 */
export function chainedIrqEnter(chip: IrqChip, desc: IrqDesc): void {
  if (chip.irqEoi) return;
  chip.irqMask?.(desc.irqData);
  chip.irqAck?.(desc.irqData);
}

/** include/linux/irqchip/chained_irq.h: chained_irq_exit() — the parent's EOI, or unmask. */
export function chainedIrqExit(chip: IrqChip, desc: IrqDesc): void {
  if (chip.irqEoi) chip.irqEoi(desc.irqData);
  else chip.irqUnmask?.(desc.irqData);
}

/**
 * kernel/irq/irqdesc.c: generic_handle_domain_irq() — runs the flow handler of `hwirq`'s
 * interrupt in `domain`; -EINVAL when it is not mapped.
 */
export function genericHandleDomainIrq(ctx: IrqContext, domain: IrqDomain, hwirq: number): number {
  const virq = domain.findMapping(hwirq);
  const desc = virq ? ctx.irqToDesc(virq) : undefined;
  if (!desc) return -22; // EINVAL
  const flow: FlowHandler | null = desc.handleIrq;
  if (flow) flow(desc);
  return 0;
}
