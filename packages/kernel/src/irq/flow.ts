/**
 * The flow handlers a GIC interrupt runs through (kernel/irq/chip.c: handle_fasteoi_irq(),
 * handle_percpu_devid_irq()).
 *
 * handle_fasteoi_irq() serves every SPI, level or edge: the controller already acknowledged the
 * interrupt when the CPU read ICC_IAR1_EL1, so the flow runs the actions and ends with one
 * `irq_eoi`. An interrupt that arrives while its line is disabled (or has no action) is not
 * handled: the flow masks it at the controller, marks it IRQS_PENDING and EOIs it — this is where
 * the lazy disable of chip.ts takes effect. For IRQF_ONESHOT lines the line stays masked until
 * the threaded handler has run.
 *
 * handle_percpu_devid_irq() serves SGIs and PPIs: no disable logic, no shared actions.
 */

import { irqPercpuDisable, maskIrq, unmaskIrq } from "./chip.js";
import { callHandler, handleIrqEvent } from "./handle.js";
import type { IrqContext } from "./irq-context.js";
import {
  IRQCHIP_EOI_IF_HANDLED,
  IRQCHIP_EOI_THREADED,
  IRQD_IRQ_DISABLED,
  IRQD_IRQ_INPROGRESS,
  IRQD_IRQ_MASKED,
  IRQS_ONESHOT,
  IRQS_PENDING,
  IRQS_REPLAY,
  IRQS_WAITING,
} from "./irq-flags.js";
import type { IrqDesc } from "./irqdesc.js";
import { checkIrqResend } from "./resend.js";

/** kernel/irq/irqdesc.c: kstat_incr_irqs_this_cpu() — the /proc/interrupts count. */
function kstatIncrIrqsThisCpu(desc: IrqDesc): void {
  desc.kstat++;
  desc.totCount++;
}

/** kernel/irq/chip.c: cond_eoi_irq() */
function condEoiIrq(desc: IrqDesc): void {
  if (!(desc.chip.flags & IRQCHIP_EOI_IF_HANDLED)) desc.chip.irqEoi?.(desc.irqData);
}

/** kernel/irq/chip.c: cond_unmask_eoi_irq() */
function condUnmaskEoiIrq(desc: IrqDesc): void {
  const chip = desc.chip;
  if (!(desc.istate & IRQS_ONESHOT)) {
    chip.irqEoi?.(desc.irqData);
    return;
  }
  // A ONESHOT line whose thread was not woken (spurious event, or the primary handler did all
  // the work) is unmasked again at once.
  if (
    !desc.hasState(IRQD_IRQ_DISABLED) &&
    desc.hasState(IRQD_IRQ_MASKED) &&
    desc.threadsOneshot === 0n
  ) {
    chip.irqEoi?.(desc.irqData);
    unmaskIrq(desc);
  } else if (!(chip.flags & IRQCHIP_EOI_THREADED)) {
    chip.irqEoi?.(desc.irqData);
  }
}

/**
 * kernel/irq/chip.c: irq_can_handle_actions() — no action, or disabled: remember it as pending.
 */
function irqCanHandleActions(desc: IrqDesc): boolean {
  desc.istate &= ~(IRQS_REPLAY | IRQS_WAITING);
  if (desc.actions.length === 0 || desc.hasState(IRQD_IRQ_DISABLED)) {
    desc.istate |= IRQS_PENDING;
    return false;
  }
  return true;
}

/** kernel/irq/chip.c: handle_fasteoi_irq() */
export function handleFasteoiIrq(ctx: IrqContext, desc: IrqDesc): void {
  // irq_can_handle_pm(): with one CPU an interrupt can only find its line in progress if a
  // handler re-entered the flow, which the CPU model never does; wakeup arming is not modelled.
  if (desc.hasState(IRQD_IRQ_INPROGRESS)) {
    condEoiIrq(desc);
    return;
  }
  if (!irqCanHandleActions(desc)) {
    maskIrq(desc);
    condEoiIrq(desc);
    return;
  }
  kstatIncrIrqsThisCpu(desc);
  if (desc.istate & IRQS_ONESHOT) maskIrq(desc);
  handleIrqEvent(ctx, desc);
  condUnmaskEoiIrq(desc);
  if (desc.istate & IRQS_PENDING) checkIrqResend(desc, false);
}

/** kernel/irq/chip.c: handle_percpu_devid_irq() for CPU 0. */
export function handlePercpuDevidIrq(ctx: IrqContext, desc: IrqDesc): void {
  // Per-CPU interrupts are not serialized: only the per-CPU count moves, not desc->tot_count.
  desc.kstat++;
  desc.chip.irqAck?.(desc.irqData);
  const action = desc.actions[0];
  if (action) {
    callHandler(ctx, desc, action, action.devId);
  } else {
    const enabled = desc.percpuEnabled;
    if (enabled) irqPercpuDisable(desc);
    if (ctx.bug.once(`handle_percpu_devid_irq:spurious`)) {
      ctx.printk
        .pr()
        .err(`Spurious${enabled ? " and unmasked" : ""} percpu IRQ${desc.irq} on CPU0`);
    }
  }
  desc.chip.irqEoi?.(desc.irqData);
}
