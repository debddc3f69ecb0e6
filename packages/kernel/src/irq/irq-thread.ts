/**
 * Threaded handlers (kernel/irq/handle.c: __irq_wake_thread(); kernel/irq/manage.c: irq_thread(),
 * irq_thread_fn(), irq_finalize_oneshot(), __synchronize_irq()).
 *
 * A primary handler that returns IRQ_WAKE_THREAD wakes the action's `irq/<n>-<name>` thread; the
 * model runs it as an event on the SoC's virtual clock at the current time, so it runs after the
 * hard interrupt has returned, as a SCHED_FIFO thread would on an idle CPU. For IRQF_ONESHOT
 * lines the flow handler masked the interrupt before the primary handler; the thread unmasks it
 * when every woken thread of the line has finished (threads_oneshot back to 0), unless the line
 * was disabled meanwhile.
 *
 * Caveat: the thread is not a task in the process table, has no priority or affinity, and a
 * secondary thread (forced threading) is not modelled.
 */

import { unmaskThreadedIrq } from "./chip.js";
import type { IrqContext } from "./irq-context.js";
import {
  IRQ_HANDLED,
  IRQ_NONE,
  IRQD_IRQ_DISABLED,
  IRQD_IRQ_MASKED,
  IRQS_ONESHOT,
  IRQTF_RUNTHREAD,
  type IrqReturn,
} from "./irq-flags.js";
import type { IrqAction, IrqDesc } from "./irqdesc.js";

const RUNTHREAD = 1 << IRQTF_RUNTHREAD;

/** kernel/irq/handle.c: __irq_wake_thread() */
export function irqWakeThread(ctx: IrqContext, desc: IrqDesc, action: IrqAction): void {
  if (action.threadFlags & RUNTHREAD) return;
  action.threadFlags |= RUNTHREAD;
  desc.threadsOneshot |= action.threadMask;
  desc.threadsActive++;
  const event = ctx.clock.schedule(0, `irq/${desc.irq}-${action.name}`, () =>
    irqThread(ctx, desc, action),
  );
  action.threadRun = { cancel: () => ctx.clock.cancel(event) };
}

/** kernel/irq/manage.c: irq_finalize_oneshot() */
function irqFinalizeOneshot(desc: IrqDesc, action: IrqAction): void {
  if (!(desc.istate & IRQS_ONESHOT)) return;
  // Woken again while it ran: the bit stays set and the thread runs once more.
  if (action.threadFlags & RUNTHREAD) return;
  desc.threadsOneshot &= ~action.threadMask;
  if (
    desc.threadsOneshot === 0n &&
    !desc.hasState(IRQD_IRQ_DISABLED) &&
    desc.hasState(IRQD_IRQ_MASKED)
  ) {
    unmaskThreadedIrq(desc);
  }
}

/**
 * kernel/irq/manage.c: one turn of irq_thread(): irq_wait_for_interrupt() consumes RUNTHREAD,
 * irq_thread_fn() runs the thread function and finalizes ONESHOT, and threads_active drops.
 */
export function irqThread(ctx: IrqContext, desc: IrqDesc, action: IrqAction): void {
  action.threadRun = null;
  if (!(action.threadFlags & RUNTHREAD) || !action.threadFn) return;
  action.threadFlags &= ~RUNTHREAD;
  let ret: IrqReturn;
  try {
    ret = action.threadFn(desc.irq, action.devId) >>> 0;
  } catch (err) {
    // A thread function cannot fail in C; the model reports the exception and carries on.
    ctx.printk
      .pr("genirq: ")
      .err(`irq/${desc.irq}-${action.name}: thread function threw ${String(err)}`);
    ret = IRQ_NONE;
  }
  if (ret === IRQ_HANDLED) desc.threadsHandled++;
  irqFinalizeOneshot(desc, action);
  desc.threadsActive--;
}

/**
 * kernel/irq/manage.c: __synchronize_irq() — wait until no thread of the line is pending: the
 * model runs the pending threads now, in action order.
 */
export function synchronizeIrqThreads(
  ctx: IrqContext,
  desc: IrqDesc,
  actions = desc.actions,
): void {
  for (const action of actions) {
    if (!action.threadRun) continue;
    action.threadRun.cancel();
    irqThread(ctx, desc, action);
  }
}
