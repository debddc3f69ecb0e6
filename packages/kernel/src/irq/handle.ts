/**
 * Running the actions of an interrupt (kernel/irq/handle.c: __handle_irq_event_percpu(),
 * handle_irq_event_percpu(), handle_irq_event(), warn_no_thread()), with the
 * irq_handler_entry/irq_handler_exit tracepoints as `irq:entry` / `irq:exit` trace events.
 *
 * Every action of a shared line runs, in request order, and the results are OR-ed: the line
 * counts as handled if any handler claimed it. The combined result goes to the stuck-interrupt
 * detector (spurious.ts).
 *
 * A JavaScript handler can throw, which a C handler cannot: the model reports it as a WARN at the
 * call site in __handle_irq_event_percpu() and counts the action as IRQ_NONE, so the flow handler
 * still EOIs the interrupt and the descriptor's state stays consistent.
 */

import { KERN_WARNING } from "../printk/levels.js";
import type { IrqContext } from "./irq-context.js";
import {
  IRQ_NONE,
  IRQ_WAKE_THREAD,
  IRQD_IRQ_INPROGRESS,
  IRQS_PENDING,
  IRQTF_WARNED,
  type IrqReturn,
} from "./irq-flags.js";
import { irqWakeThread } from "./irq-thread.js";
import type { IrqAction, IrqDesc } from "./irqdesc.js";
import { noteInterrupt } from "./spurious.js";

/** The trace event names of include/trace/events/irq.h, namespaced for the trace bus. */
export const IRQ_TRACE_ENTRY = "irq:entry";
export const IRQ_TRACE_EXIT = "irq:exit";

/** kernel/irq/handle.c: warn_no_thread() — once per action. */
function warnNoThread(ctx: IrqContext, irq: number, action: IrqAction): void {
  if (action.threadFlags & (1 << IRQTF_WARNED)) return;
  action.threadFlags |= 1 << IRQTF_WARNED;
  ctx.printk.printk(
    KERN_WARNING,
    `IRQ ${irq} device ${action.name} returned IRQ_WAKE_THREAD but no thread function available.`,
  );
}

/** Calls one handler as the C code does, turning an exception into a WARN and IRQ_NONE. */
export function callHandler(
  ctx: IrqContext,
  desc: IrqDesc,
  action: IrqAction,
  devId: unknown,
): IrqReturn {
  const irq = desc.irq;
  const trace = ctx.trace.enabled;
  if (trace) {
    ctx.trace.emit({
      type: IRQ_TRACE_ENTRY,
      virq: irq,
      hwirq: desc.irqData.hwirq,
      name: action.name,
    });
  }
  let res: IrqReturn;
  try {
    res = (action.handler(irq, devId) ?? IRQ_NONE) >>> 0;
  } catch (err) {
    ctx.bug.warn(
      { file: "kernel/irq/handle.c", line: 209, fn: "__handle_irq_event_percpu" },
      `irq ${irq} handler ${action.handler.name || "<anonymous>"} (${action.name}) threw: ${String(err)}`,
    );
    res = IRQ_NONE;
  }
  if (trace) {
    ctx.trace.emit({
      type: IRQ_TRACE_EXIT,
      virq: irq,
      hwirq: desc.irqData.hwirq,
      name: action.name,
      ret: res ? "handled" : "unhandled",
    });
  }
  return res;
}

/** kernel/irq/handle.c: __handle_irq_event_percpu() */
export function handleIrqEventPercpuActions(ctx: IrqContext, desc: IrqDesc): IrqReturn {
  let retval = IRQ_NONE;
  // A handler may free its own line (Linux warns about it); walk the list as it was.
  for (const action of [...desc.actions]) {
    const res = callHandler(ctx, desc, action, action.devId);
    if (res === IRQ_WAKE_THREAD) {
      if (!action.threadFn) warnNoThread(ctx, desc.irq, action);
      else irqWakeThread(ctx, desc, action);
    }
    retval |= res;
  }
  return retval;
}

/** kernel/irq/handle.c: handle_irq_event_percpu() — the actions, then the spurious check. */
export function handleIrqEventPercpu(ctx: IrqContext, desc: IrqDesc): IrqReturn {
  const retval = handleIrqEventPercpuActions(ctx, desc);
  if (!desc.noDebug) noteInterrupt(ctx, desc, retval);
  return retval;
}

/** kernel/irq/handle.c: handle_irq_event() */
export function handleIrqEvent(ctx: IrqContext, desc: IrqDesc): IrqReturn {
  desc.istate &= ~IRQS_PENDING;
  desc.setState(IRQD_IRQ_INPROGRESS);
  try {
    return handleIrqEventPercpu(ctx, desc);
  } finally {
    desc.clearState(IRQD_IRQ_INPROGRESS);
  }
}
