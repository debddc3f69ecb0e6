/**
 * The detector of stuck interrupts (kernel/irq/spurious.c: note_interrupt(), __report_bad_irq()).
 *
 * Every handled event counts; once an event has gone unhandled, the next 100,000 events are
 * watched, and if more than 99,900 of them were unhandled the line is declared stuck: Linux logs
 * "irq N: nobody cared", lists the handlers, says "Disabling IRQ #N" and disables the line
 * (lazily: the next arrival masks it). An unhandled event more than HZ/10 after the previous one
 * restarts the unhandled count at 1, so the odd stray interrupt never adds up.
 *
 * Caveat: `irqfixup`/`irqpoll` (misrouted-IRQ polling) and the poll timer that periodically
 * retries a disabled line are not modelled; `dump_stack()` prints nothing. `%p` of a handler
 * prints a stable 32-bit hash of its name in Linux's 16-digit layout (Linux hashes the address
 * with a per-boot key, so no two boots agree anyway).
 */

import { irqDisable } from "./chip.js";
import { HZ, type IrqContext } from "./irq-context.js";
import {
  IRQ_HANDLED,
  IRQ_NONE,
  IRQ_WAKE_THREAD,
  IRQS_POLL_INPROGRESS,
  IRQS_SPURIOUS_DISABLED,
  type IrqReturn,
} from "./irq-flags.js";
import type { IrqDesc, IrqHandler } from "./irqdesc.js";

/** How many events are watched once one went unhandled, and how many unhandled mean stuck. */
export const SPURIOUS_WINDOW = 100_000;
export const SPURIOUS_LIMIT = 99_900;

/** kernel/irq/spurious.c: bad_action_ret() — anything beyond HANDLED|WAKE_THREAD. */
function badActionRet(ret: IrqReturn): boolean {
  return ret >>> 0 > (IRQ_HANDLED | IRQ_WAKE_THREAD);
}

/** `%p`: Linux prints a hashed pointer, 32 significant bits in 16 hex digits. */
function hashedPointer(fn: IrqHandler): string {
  let h = 0x811c9dc5;
  for (const c of fn.name) {
    h ^= c.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(16, "0");
}

/** `%ps`: the function's symbol. */
function symbol(fn: IrqHandler): string {
  return fn.name || "<anonymous>";
}

/** kernel/irq/spurious.c: __report_bad_irq() */
export function reportBadIrq(ctx: IrqContext, desc: IrqDesc, ret: IrqReturn): void {
  const log = ctx.printk.pr();
  if (badActionRet(ret)) {
    log.err(`irq event ${desc.irq}: bogus return value ${(ret >>> 0).toString(16)}`);
  } else {
    log.err(`irq ${desc.irq}: nobody cared (try booting with the "irqpoll" option)`);
  }
  log.err("handlers:");
  for (const action of desc.actions) {
    const threaded = action.threadFn
      ? ` threaded [<${hashedPointer(action.threadFn)}>] ${symbol(action.threadFn)}`
      : "";
    log.err(`[<${hashedPointer(action.handler)}>] ${symbol(action.handler)}${threaded}`);
  }
}

/** kernel/irq/spurious.c: note_interrupt() */
export function noteInterrupt(ctx: IrqContext, desc: IrqDesc, actionRet: IrqReturn): void {
  if (desc.istate & IRQS_POLL_INPROGRESS || desc.isPolled) return;

  if (badActionRet(actionRet)) {
    // report_bad_irq(): at most 100 reports per boot.
    if (ctx.spurious.badIrqReportsLeft > 0) {
      ctx.spurious.badIrqReportsLeft--;
      reportBadIrq(ctx, desc, actionRet);
    }
    return;
  }

  // A woken thread decides whether the event was handled; its verdict is read at the next event.
  if (actionRet & IRQ_WAKE_THREAD) {
    if (actionRet === IRQ_WAKE_THREAD) {
      if (!desc.spuriousDeferred) {
        desc.spuriousDeferred = true;
        return;
      }
      if (desc.threadsHandled !== desc.threadsHandledLast) {
        actionRet = IRQ_HANDLED;
        desc.threadsHandledLast = desc.threadsHandled;
      } else {
        actionRet = IRQ_NONE;
      }
    } else {
      desc.spuriousDeferred = false;
    }
  }

  if (actionRet === IRQ_NONE) {
    const now = ctx.jiffies();
    // time_after(jiffies, last_unhandled + HZ/10): a lone stray event starts the count afresh.
    if (now > desc.lastUnhandled + HZ / 10) desc.irqsUnhandled = 1;
    else desc.irqsUnhandled++;
    desc.lastUnhandled = now;
  }

  if (!desc.irqsUnhandled) return;

  desc.irqCount++;
  if (desc.irqCount < SPURIOUS_WINDOW) return;

  desc.irqCount = 0;
  if (desc.irqsUnhandled > SPURIOUS_LIMIT) {
    reportBadIrq(ctx, desc, actionRet);
    ctx.printk.pr().emerg(`Disabling IRQ #${desc.irq}`);
    desc.istate |= IRQS_SPURIOUS_DISABLED;
    desc.depth++;
    irqDisable(desc);
  }
  desc.irqsUnhandled = 0;
}
