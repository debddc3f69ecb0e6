/**
 * Replaying an interrupt that arrived while its line was disabled (kernel/irq/resend.c).
 *
 * Level interrupts are never resent: the line is still asserted when it is unmasked again, so the
 * controller delivers it by itself. An edge that was lost while disabled is marked IRQS_PENDING
 * by the flow handler and replayed here through the chip's `irq_retrigger` (the GIC sets the
 * interrupt pending in GICD_ISPENDR); IRQS_REPLAY then stops a second replay until the
 * interrupt has been handled.
 *
 * Caveat: the software resend tasklet is not modelled; the GIC's interrupts enforce hard-IRQ
 * context (IRQD_HANDLE_ENFORCE_IRQCTX), which makes irq_sw_resend() refuse them anyway.
 */

import { IRQS_PENDING, IRQS_REPLAY } from "./irq-flags.js";
import type { IrqDesc } from "./irqdesc.js";

/** kernel/irq/resend.c: check_irq_resend(). Returns 0 or a negative errno. */
export function checkIrqResend(desc: IrqDesc, inject: boolean): number {
  if (desc.isLevelSetting) {
    desc.istate &= ~IRQS_PENDING;
    return -22; // EINVAL
  }
  if (desc.istate & IRQS_REPLAY) return -16; // EBUSY
  if (!(desc.istate & IRQS_PENDING) && !inject) return 0;
  desc.istate &= ~IRQS_PENDING;
  // try_retrigger(): the chip replays it, or irq_sw_resend() refuses (see the caveat above).
  const retriggered = desc.chip.irqRetrigger?.(desc.irqData) ?? 0;
  if (!retriggered) return -22; // EINVAL
  desc.istate |= IRQS_REPLAY;
  return 0;
}
