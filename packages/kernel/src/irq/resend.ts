/**
 * Replaying an interrupt that arrived while its line was disabled (kernel/irq/resend.c).
 *
 * Level interrupts are never resent: the line is still asserted when it is unmasked again, so the
 * controller delivers it by itself. An edge that was lost while disabled is marked IRQS_PENDING
 * by the flow handler and replayed here through the chip's `irq_retrigger` (the GIC sets the
 * interrupt pending in GICD_ISPENDR); IRQS_REPLAY then stops a second replay until the
 * interrupt has been handled.
 *
 * A chip without irq_retrigger (a gpiochip's lines) gets the software resend: the line's flow
 * handler runs again from the resend tasklet (irq_sw_resend(), resend_irqs()) — in the model an
 * event on the virtual clock at the current time, so it runs once the current code is done.
 * The GIC's interrupts enforce hard-IRQ context (IRQD_HANDLE_ENFORCE_IRQCTX), which makes
 * irq_sw_resend() refuse them.
 */

import type { IrqContext } from "./irq-context.js";
import { IRQD_HANDLE_ENFORCE_IRQCTX, IRQS_PENDING, IRQS_REPLAY } from "./irq-flags.js";
import type { IrqDesc } from "./irqdesc.js";

/**
 * kernel/irq/resend.c: irq_sw_resend() — queues the descriptor for the resend tasklet, which
 * runs its flow handler (resend_irqs()). EINVAL for a line that must run in hard-IRQ context,
 * or without a clock to run the tasklet on.
 */
function irqSwResend(desc: IrqDesc, ctx: IrqContext | undefined): number {
  if (!ctx || desc.hasState(IRQD_HANDLE_ENFORCE_IRQCTX)) return -22; // EINVAL
  if (desc.resendQueued) return 0;
  desc.resendQueued = true;
  ctx.clock.schedule(0, "resend_tasklet", () => {
    desc.resendQueued = false;
    desc.handleIrq?.(desc);
  });
  return 0;
}

/**
 * kernel/irq/resend.c: check_irq_resend(). Returns 0 or a negative errno. `ctx` lets a chip
 * without irq_retrigger fall back to the software resend.
 */
export function checkIrqResend(desc: IrqDesc, inject: boolean, ctx?: IrqContext): number {
  if (desc.isLevelSetting) {
    desc.istate &= ~IRQS_PENDING;
    return -22; // EINVAL
  }
  if (desc.istate & IRQS_REPLAY) return -16; // EBUSY
  if (!(desc.istate & IRQS_PENDING) && !inject) return 0;
  desc.istate &= ~IRQS_PENDING;
  // try_retrigger(): the chip replays it, else the resend tasklet does.
  const retriggered = desc.chip.irqRetrigger?.(desc.irqData) ?? 0;
  if (!retriggered) {
    const err = irqSwResend(desc, ctx);
    if (err) return err;
  }
  desc.istate |= IRQS_REPLAY;
  return 0;
}
