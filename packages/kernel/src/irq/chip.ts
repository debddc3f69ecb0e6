/**
 * The state machine of one interrupt line (kernel/irq/chip.c): startup and shutdown, enable and
 * disable, mask and unmask through the irq_chip, per-CPU enables, and irq_modify_status().
 *
 * Disabling is lazy, as in Linux: irq_disable() only marks the descriptor disabled and leaves the
 * controller unmasked (no chip has an irq_disable callback here), so a disable costs no MMIO.
 * If the interrupt then arrives, the flow handler masks it at the controller and marks it
 * pending (flow.ts); enabling unmasks it and replays what was lost (resend.ts). A driver that
 * cannot silence its device sets IRQ_DISABLE_UNLAZY, and the mask happens at once.
 *
 * Caveat: affinity is not modelled (one CPU): irq_startup() does not call irq_setup_affinity(),
 * so the GIC driver's gic_set_affinity() never rewrites GICD_IROUTER (gic_dist_init() already
 * routed every SPI to CPU 0). Managed interrupts and irq_chip enable/disable/startup/shutdown
 * callbacks are not modelled: the GIC has none.
 */

import type { IrqContext } from "./irq-context.js";
import {
  IRQ_LEVEL,
  IRQ_NO_BALANCING,
  IRQ_NOAUTOEN,
  IRQ_PER_CPU,
  IRQ_TYPE_NONE,
  IRQ_TYPE_SENSE_MASK,
  IRQCHIP_EOI_THREADED,
  IRQD_ACTIVATED,
  IRQD_IRQ_DISABLED,
  IRQD_IRQ_MASKED,
  IRQD_IRQ_STARTED,
  IRQD_LEVEL,
  IRQD_NO_BALANCING,
  IRQD_PER_CPU,
  IRQD_TRIGGER_MASK,
  IRQF_MODIFY_MASK,
} from "./irq-flags.js";
import type { IrqChip, IrqDesc } from "./irqdesc.js";
import { checkIrqResend } from "./resend.js";

/** kernel/irq/chip.c: mask_irq() */
export function maskIrq(desc: IrqDesc): void {
  if (desc.hasState(IRQD_IRQ_MASKED)) return;
  if (desc.chip.irqMask) {
    desc.chip.irqMask(desc.irqData);
    desc.setState(IRQD_IRQ_MASKED);
  }
}

/** kernel/irq/chip.c: unmask_irq() */
export function unmaskIrq(desc: IrqDesc): void {
  if (!desc.hasState(IRQD_IRQ_MASKED)) return;
  if (desc.chip.irqUnmask) {
    desc.chip.irqUnmask(desc.irqData);
    desc.clearState(IRQD_IRQ_MASKED);
  }
}

/** kernel/irq/chip.c: unmask_threaded_irq() */
export function unmaskThreadedIrq(desc: IrqDesc): void {
  if (desc.chip.flags & IRQCHIP_EOI_THREADED) desc.chip.irqEoi?.(desc.irqData);
  unmaskIrq(desc);
}

/** kernel/irq/chip.c: irq_enable() — clears the disabled mark and unmasks. */
function irqEnable(desc: IrqDesc): void {
  if (desc.hasState(IRQD_IRQ_DISABLED)) desc.clearState(IRQD_IRQ_DISABLED);
  unmaskIrq(desc);
}

/** kernel/irq/chip.c: __irq_startup() */
function irqStartupInner(ctx: IrqContext, desc: IrqDesc): void {
  if (!desc.hasState(IRQD_ACTIVATED)) {
    // Linux warns and starts the interrupt anyway.
    ctx.bug.warnOnOnce({ file: "kernel/irq/chip.c", line: 260, fn: "__irq_startup" });
  }
  irqEnable(desc);
  desc.setState(IRQD_IRQ_STARTED);
}

/**
 * kernel/irq/chip.c: irq_startup() — depth back to 0, the line enabled, and (with `resend`) an
 * edge lost while it was off replayed.
 */
export function irqStartup(ctx: IrqContext, desc: IrqDesc, resend: boolean): void {
  desc.depth = 0;
  if (desc.hasState(IRQD_IRQ_STARTED)) irqEnable(desc);
  else irqStartupInner(ctx, desc);
  if (resend) checkIrqResend(desc, false, ctx);
}

/** kernel/irq/chip.c: irq_activate() → irq_domain_activate_irq(); the GIC has no activate op. */
export function irqActivate(desc: IrqDesc): void {
  desc.setState(IRQD_ACTIVATED);
}

/** kernel/irq/chip.c: __irq_disable() */
function irqDisableInner(desc: IrqDesc, mask: boolean): void {
  if (desc.hasState(IRQD_IRQ_DISABLED)) {
    if (mask) maskIrq(desc);
  } else {
    desc.setState(IRQD_IRQ_DISABLED);
    if (mask) maskIrq(desc);
  }
}

/**
 * kernel/irq/chip.c: irq_disable() — lazy: marks the line disabled and masks the controller
 * only for IRQ_DISABLE_UNLAZY lines.
 */
export function irqDisable(desc: IrqDesc): void {
  irqDisableInner(desc, desc.disableUnlazy);
}

/** kernel/irq/chip.c: irq_shutdown() — called when the last action goes. */
export function irqShutdown(desc: IrqDesc): void {
  if (!desc.hasState(IRQD_IRQ_STARTED)) return;
  // The disable depth goes up so that a later startup balances it (see irq_startup_managed()).
  desc.depth++;
  irqDisableInner(desc, true);
  desc.clearState(IRQD_IRQ_STARTED);
}

/** kernel/irq/chip.c: irq_shutdown_and_deactivate() */
export function irqShutdownAndDeactivate(desc: IrqDesc): void {
  irqShutdown(desc);
  desc.clearState(IRQD_ACTIVATED);
}

/** kernel/irq/chip.c: irq_percpu_enable() for CPU 0. */
export function irqPercpuEnable(desc: IrqDesc): void {
  desc.chip.irqUnmask?.(desc.irqData);
  desc.percpuEnabled = true;
}

/** kernel/irq/chip.c: irq_percpu_disable() for CPU 0. */
export function irqPercpuDisable(desc: IrqDesc): void {
  desc.chip.irqMask?.(desc.irqData);
  desc.percpuEnabled = false;
}

/**
 * kernel/irq/chip.c: irq_modify_status() — changes IRQ_* settings and refreshes the irq_data
 * bits that mirror them (trigger, level, per-CPU, no-balancing).
 */
export function irqModifyStatus(ctx: IrqContext, desc: IrqDesc, clr: number, set: number): void {
  if (!desc.depth && set & IRQ_NOAUTOEN) {
    ctx.bug.warnOnOnce({ file: "kernel/irq/chip.c", line: 1058, fn: "irq_modify_status" });
  }
  clr &= IRQF_MODIFY_MASK;
  set &= IRQF_MODIFY_MASK;
  desc.settings = (desc.settings & ~clr) | set;
  let trigger = desc.triggerType;
  desc.clearState(IRQD_NO_BALANCING | IRQD_PER_CPU | IRQD_TRIGGER_MASK | IRQD_LEVEL);
  if (desc.hasSetting(IRQ_NO_BALANCING)) desc.setState(IRQD_NO_BALANCING);
  if (desc.hasSetting(IRQ_PER_CPU)) desc.setState(IRQD_PER_CPU);
  if (desc.hasSetting(IRQ_LEVEL)) desc.setState(IRQD_LEVEL);
  const fromSettings = desc.settings & IRQ_TYPE_SENSE_MASK;
  if (fromSettings !== IRQ_TYPE_NONE) trigger = fromSettings;
  desc.setState(trigger);
}

/** kernel/irq/chip.c: irq_set_chip() — and irq_proc_update_chip() for the /proc column. */
export function irqSetChip(ctx: IrqContext, desc: IrqDesc, chip: IrqChip): void {
  desc.irqData.chip = chip;
  if (chip.name.length > ctx.proc.chipWidth) ctx.proc.chipWidth = chip.name.length;
}
