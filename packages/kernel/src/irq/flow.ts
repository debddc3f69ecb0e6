/**
 * The flow handlers (kernel/irq/chip.c): those a GIC interrupt runs through
 * (handle_fasteoi_irq(), handle_percpu_devid_irq()), and those of the interrupts a chained
 * demultiplexer hands on (handle_level_irq(), handle_edge_irq(), handle/handle.c's
 * handle_bad_irq()).
 *
 * handle_fasteoi_irq() serves every SPI, level or edge: the controller already acknowledged the
 * interrupt when the CPU read ICC_IAR1_EL1, so the flow runs the actions and ends with one
 * `irq_eoi`. An interrupt that arrives while its line is disabled (or has no action) is not
 * handled: the flow masks it at the controller, marks it IRQS_PENDING and EOIs it — this is where
 * the lazy disable of chip.ts takes effect. For IRQF_ONESHOT lines the line stays masked until
 * the threaded handler has run.
 *
 * handle_percpu_devid_irq() serves SGIs and PPIs: no disable logic, no shared actions.
 *
 * handle_level_irq() and handle_edge_irq() serve controllers without an EOI (a PL061's lines):
 * level masks the line while its actions run, edge acknowledges the edge before them.
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
  if (desc.istate & IRQS_PENDING) checkIrqResend(desc, false, ctx);
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

/** kernel/irq/chip.c: mask_ack_irq() — mask, then ack (no chip here has irq_mask_ack). */
export function maskAckIrq(desc: IrqDesc): void {
  maskIrq(desc);
  desc.chip.irqAck?.(desc.irqData);
}

/** kernel/irq/chip.c: cond_unmask_irq() — unmask unless disabled or a ONESHOT thread runs. */
function condUnmaskIrq(desc: IrqDesc): void {
  if (
    !desc.hasState(IRQD_IRQ_DISABLED) &&
    desc.hasState(IRQD_IRQ_MASKED) &&
    desc.threadsOneshot === 0n
  ) {
    unmaskIrq(desc);
  }
}

/**
 * kernel/irq/chip.c: handle_level_irq() — for controllers that need the line masked while its
 * handlers run (a demultiplexed GPIO line): mask and ack first, run the actions, unmask again.
 * A level source that is still asserted then fires again.
 */
export function handleLevelIrq(ctx: IrqContext, desc: IrqDesc): void {
  maskAckIrq(desc);
  if (desc.hasState(IRQD_IRQ_INPROGRESS)) return;
  if (!irqCanHandleActions(desc)) return;
  kstatIncrIrqsThisCpu(desc);
  handleIrqEvent(ctx, desc);
  condUnmaskIrq(desc);
}

/**
 * kernel/irq/chip.c: handle_edge_irq() — ack the edge first (so a new one is latched while the
 * actions run), then run the actions for as long as edges arrive meanwhile. An edge that finds
 * the line disabled or without action is masked and left pending for the replay at enable.
 */
export function handleEdgeIrq(ctx: IrqContext, desc: IrqDesc): void {
  if (desc.hasState(IRQD_IRQ_INPROGRESS)) {
    desc.istate |= IRQS_PENDING;
    maskAckIrq(desc);
    return;
  }
  if (!irqCanHandleActions(desc)) {
    maskAckIrq(desc);
    return;
  }
  kstatIncrIrqsThisCpu(desc);
  desc.chip.irqAck?.(desc.irqData);
  do {
    if (desc.actions.length === 0) {
      maskIrq(desc);
      return;
    }
    // An edge that arrived while the handlers ran may have masked the line: open it again.
    if (
      desc.istate & IRQS_PENDING &&
      !desc.hasState(IRQD_IRQ_DISABLED) &&
      desc.hasState(IRQD_IRQ_MASKED)
    ) {
      unmaskIrq(desc);
    }
    handleIrqEvent(ctx, desc);
  } while (desc.istate & IRQS_PENDING && !desc.hasState(IRQD_IRQ_DISABLED));
}

/**
 * kernel/irq/handle.c: handle_bad_irq() — the flow of a line nobody set up (a gpiochip's
 * lines before their trigger is chosen): counted, and reported to the architecture (arm64
 * counts it in irq_err_count). Nothing is acknowledged at the controller.
 */
export function handleBadIrq(ctx: IrqContext, desc: IrqDesc): void {
  kstatIncrIrqsThisCpu(desc);
  ctx.ackBadIrq?.(desc.irq);
}
