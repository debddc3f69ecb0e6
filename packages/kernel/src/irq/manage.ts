/**
 * The driver API of the IRQ core (kernel/irq/manage.c): request_threaded_irq() / request_irq()
 * and __setup_irq(), free_irq(), enable_irq(), disable_irq(), disable_irq_nosync() with their
 * nested depth, __irq_set_trigger(), and the per-CPU variants the GIC's SGIs and PPIs use.
 *
 * Errors are Linux's, in Linux's order; a failed request leaves the line as it was (except for
 * the trigger type a shared request records before it finds the mismatch, which Linux keeps
 * too). Log lines carry manage.c's `genirq: ` prefix.
 *
 * Depth: a fresh or freed line has depth 1 (disabled); request_irq() starts it (depth 0) unless
 * IRQF_NO_AUTOEN; every disable adds one and every enable takes one off, and only the 1 → 0 step
 * starts the line again. An enable at depth 0 is the "Unbalanced enable" WARN.
 *
 * Caveat: interrupt threads are clock events, not tasks (irq-thread.ts); forced threading
 * (`threadirqs`), nested threads, NMIs, suspend/resume and `irq_chip_pm_get()` are not modelled.
 * `disable_irq()` does not wait for a handler that is running (with one CPU and handlers that
 * run to completion there is none to wait for) but does run pending interrupt threads.
 */

import { SysError } from "../errno.js";
import { KERN_WARNING } from "../printk/levels.js";
import {
  irqActivate,
  irqDisable,
  irqPercpuDisable,
  irqPercpuEnable,
  irqShutdown,
  irqStartup,
  maskIrq,
  unmaskIrq,
} from "./chip.js";
import type { IrqContext } from "./irq-context.js";
import {
  IRQ_DISABLE_UNLAZY,
  IRQ_LEVEL,
  IRQ_NO_BALANCING,
  IRQ_NO_DEBUG,
  IRQ_NOPROBE,
  IRQ_NOTCONNECTED,
  IRQ_PER_CPU,
  IRQ_TYPE_LEVEL_MASK,
  IRQ_TYPE_NONE,
  IRQ_TYPE_SENSE_MASK,
  IRQ_WAKE_THREAD,
  IRQCHIP_ONESHOT_SAFE,
  IRQCHIP_SET_TYPE_MASKED,
  IRQD_ACTIVATED,
  IRQD_DEFAULT_TRIGGER_SET,
  IRQD_IRQ_DISABLED,
  IRQD_IRQ_INPROGRESS,
  IRQD_IRQ_MASKED,
  IRQD_LEVEL,
  IRQD_NO_BALANCING,
  IRQD_PER_CPU,
  IRQD_TRIGGER_MASK,
  IRQF_COND_ONESHOT,
  IRQF_COND_SUSPEND,
  IRQF_NO_AUTOEN,
  IRQF_NO_DEBUG,
  IRQF_NO_SUSPEND,
  IRQF_NOBALANCING,
  IRQF_ONESHOT,
  IRQF_PERCPU,
  IRQF_PROBE_SHARED,
  IRQF_SHARED,
  IRQF_TRIGGER_MASK,
  IRQS_AUTODETECT,
  IRQS_ONESHOT,
  IRQS_SPURIOUS_DISABLED,
  IRQS_WAITING,
} from "./irq-flags.js";
import { synchronizeIrqThreads } from "./irq-thread.js";
import { IrqAction, type IrqDesc, type IrqHandler, NO_IRQ_CHIP } from "./irqdesc.js";

/** The trace event names for requests and frees. */
export const IRQ_TRACE_REQUEST = "irq:request";
export const IRQ_TRACE_FREE = "irq:free";

/** kernel/irq/internals.h: IRQ_GET_DESC_CHECK_GLOBAL / _PERCPU. */
export type DescCheck = "global" | "percpu" | "none";

/** kernel/irq/irqdesc.c: __irq_get_desc_lock() — the descriptor, if it passes `check`. */
export function getDesc(ctx: IrqContext, irq: number, check: DescCheck): IrqDesc | undefined {
  const desc = ctx.irqToDesc(irq);
  if (!desc) return undefined;
  if (check === "percpu" && !desc.isPerCpuDevid) return undefined;
  if (check === "global" && desc.isPerCpuDevid) return undefined;
  return desc;
}

/** kernel/irq/manage.c: irq_default_primary_handler() — wakes the thread of a NULL-handler request. */
export function irqDefaultPrimaryHandler(): number {
  return IRQ_WAKE_THREAD;
}

const fmt08x = (n: number): string => (n >>> 0).toString(16).padStart(8, "0");

/**
 * kernel/irq/manage.c: __irq_set_trigger() — program the trigger through the chip (masked around
 * it when the chip asks), then mirror it into irq_data and the settings. Returns 0 or −errno.
 */
export function irqSetTrigger(ctx: IrqContext, desc: IrqDesc, flags: number): number {
  const chip = desc.chip;
  if (!chip.irqSetType) return 0;
  let unmask = false;
  if (chip.flags & IRQCHIP_SET_TYPE_MASKED) {
    if (!desc.hasState(IRQD_IRQ_MASKED)) maskIrq(desc);
    if (!desc.hasState(IRQD_IRQ_DISABLED)) unmask = true;
  }
  flags &= IRQ_TYPE_SENSE_MASK;
  let ret = chip.irqSetType(desc.irqData, flags);
  if (ret >= 0) {
    // IRQ_SET_MASK_OK / _OK_DONE copy the type; _OK_NOCOPY means the chip already did.
    if (ret !== 1) {
      desc.clearState(IRQD_TRIGGER_MASK);
      desc.setState(flags);
    }
    const type = desc.triggerType;
    desc.settings = (desc.settings & ~IRQ_TYPE_SENSE_MASK) | type;
    desc.clearState(IRQD_LEVEL);
    desc.settings &= ~IRQ_LEVEL;
    if (type & IRQ_TYPE_LEVEL_MASK) {
      desc.settings |= IRQ_LEVEL;
      desc.setState(IRQD_LEVEL);
    }
    ret = 0;
  } else {
    ctx.printk
      .pr("genirq: ")
      .err(
        `Setting trigger mode ${flags} for irq ${desc.irq} failed (${chip.irqSetTypeSymbol ?? "irq_set_type"})`,
      );
  }
  if (unmask) unmaskIrq(desc);
  return ret;
}

/** kernel/irq/chip.c: irq_set_irq_type() */
export function irqSetIrqType(ctx: IrqContext, irq: number, type: number): void {
  const desc = getDesc(ctx, irq, "global");
  if (!desc) throw new SysError("EINVAL", "irq_set_irq_type", `no interrupt ${irq}`);
  const ret = irqSetTrigger(ctx, desc, type);
  if (ret < 0) throw SysError.fromNegative(ret, desc.chip.irqSetTypeSymbol ?? "__irq_set_trigger");
}

/** kernel/irq/manage.c: __enable_irq() */
export function enableIrqDesc(ctx: IrqContext, desc: IrqDesc): void {
  switch (desc.depth) {
    case 0:
      ctx.bug.warn(
        { file: "kernel/irq/manage.c", line: 775, fn: "__enable_irq" },
        `Unbalanced enable for IRQ ${desc.irq}`,
        KERN_WARNING,
      );
      break;
    case 1:
      // Prevent probing on this irq, then start it: the first enable of an IRQF_NO_AUTOEN
      // line is its startup.
      desc.settings |= IRQ_NOPROBE;
      irqStartup(ctx, desc, true);
      break;
    default:
      desc.depth--;
  }
}

/** kernel/irq/manage.c: __disable_irq() */
export function disableIrqDesc(desc: IrqDesc): void {
  if (desc.depth++ === 0) irqDisable(desc);
}

/** kernel/irq/manage.c: enable_irq() */
export function enableIrq(ctx: IrqContext, irq: number): void {
  const desc = getDesc(ctx, irq, "global");
  if (desc) enableIrqDesc(ctx, desc);
}

/** kernel/irq/manage.c: disable_irq_nosync() */
export function disableIrqNosync(ctx: IrqContext, irq: number): void {
  const desc = getDesc(ctx, irq, "global");
  if (desc) disableIrqDesc(desc);
}

/** kernel/irq/manage.c: disable_irq() — disable, then synchronize_irq(). */
export function disableIrq(ctx: IrqContext, irq: number): void {
  const desc = getDesc(ctx, irq, "global");
  if (!desc) return;
  disableIrqDesc(desc);
  synchronizeIrqThreads(ctx, desc);
}

/** kernel/irq/manage.c: __setup_irq() — install `action` on `desc`, or throw and change nothing. */
function setupIrq(ctx: IrqContext, desc: IrqDesc, action: IrqAction): void {
  const irq = desc.irq;
  const log = ctx.printk.pr("genirq: ");
  if (desc.chip === NO_IRQ_CHIP)
    throw new SysError("ENOSYS", "__setup_irq", `irq ${irq} has no chip`);
  const perCpuDevid = desc.isPerCpuDevid;
  action.irq = irq;

  // No trigger given: use the line's (the device tree's, recorded at mapping time).
  if (!(action.flags & IRQF_TRIGGER_MASK)) action.flags |= desc.triggerType;

  if (action.flags & IRQF_ONESHOT && !action.threadFn) {
    ctx.bug.warnOnOnce({ file: "kernel/irq/manage.c", line: 1503, fn: "__setup_irq" });
  }

  if (desc.chip.flags & IRQCHIP_ONESHOT_SAFE) action.flags &= ~IRQF_ONESHOT;

  const old = desc.actions;
  let shared = false;
  let threadMask = 0n;
  if (old.length > 0) {
    const first = old[0] as IrqAction;
    const chipName = desc.chip.name;
    if (perCpuDevid) {
      // valid_percpu_irqaction(): every action covers the only CPU, so any second one overlaps.
      log.err(`Overlapping affinities for ${action.name} (irq ${irq}) on irqchip ${chipName}.`);
      throw new SysError("EINVAL", "__setup_irq", "overlapping per-CPU actions");
    }
    // If nobody set the trigger before, the requester's becomes the line's.
    let oldtype: number;
    if (desc.hasState(IRQD_DEFAULT_TRIGGER_SET)) {
      oldtype = desc.triggerType;
    } else {
      oldtype = action.flags & IRQF_TRIGGER_MASK;
      desc.clearState(IRQD_TRIGGER_MASK);
      desc.setState(oldtype | IRQD_DEFAULT_TRIGGER_SET);
    }
    let mismatch =
      !(first.flags & action.flags & IRQF_SHARED) || oldtype !== (action.flags & IRQF_TRIGGER_MASK);
    if (!mismatch) {
      if (first.flags & IRQF_ONESHOT && action.flags & IRQF_COND_ONESHOT) {
        action.flags |= IRQF_ONESHOT;
      } else if ((first.flags ^ action.flags) & IRQF_ONESHOT) {
        mismatch = true;
      }
    }
    if (!mismatch && (first.flags & IRQF_PERCPU) !== (action.flags & IRQF_PERCPU)) mismatch = true;
    if (mismatch) {
      // Linux compares against, and names, the first action of the line.
      const other = first;
      if (!(action.flags & IRQF_PROBE_SHARED)) {
        log.err(
          `Flags mismatch irq ${irq}. ${fmt08x(action.flags)} (${action.name}) vs. ${fmt08x(other.flags)} (${other.name})`,
        );
      }
      throw new SysError("EBUSY", "__setup_irq", `irq ${irq} is not shareable with ${other.name}`);
    }
    for (const a of old) threadMask |= a.threadMask;
    shared = true;
  }

  if (action.flags & IRQF_ONESHOT) {
    // 64 ONESHOT actions on one line use every bit of the thread mask.
    if (threadMask === 0xffff_ffff_ffff_ffffn) {
      throw new SysError("EBUSY", "__setup_irq", "no free ONESHOT thread bit");
    }
    let bit = 0n;
    while (threadMask & (1n << bit)) bit++;
    action.threadMask = 1n << bit;
  } else if (
    action.handler === irqDefaultPrimaryHandler &&
    !(desc.chip.flags & IRQCHIP_ONESHOT_SAFE)
  ) {
    // A NULL primary handler without ONESHOT would storm on a level line: refused outright.
    log.err(
      `Threaded irq requested with handler=NULL and !ONESHOT for ${action.name} (irq ${irq})`,
    );
    throw new SysError("EINVAL", "__setup_irq", "handler=NULL without IRQF_ONESHOT");
  }

  if (!shared) {
    if (action.flags & IRQF_TRIGGER_MASK) {
      const ret = irqSetTrigger(ctx, desc, action.flags & IRQF_TRIGGER_MASK);
      if (ret < 0) throw SysError.fromNegative(ret, desc.chip.irqSetTypeSymbol ?? "__setup_irq");
    }
    irqActivate(desc);
    desc.istate &= ~(IRQS_AUTODETECT | IRQS_SPURIOUS_DISABLED | IRQS_ONESHOT | IRQS_WAITING);
    desc.clearState(IRQD_IRQ_INPROGRESS);
    if (action.flags & IRQF_PERCPU) {
      desc.setState(IRQD_PER_CPU);
      desc.settings |= IRQ_PER_CPU;
      if (action.flags & IRQF_NO_DEBUG) desc.settings |= IRQ_NO_DEBUG;
    }
    if (action.flags & IRQF_ONESHOT) desc.istate |= IRQS_ONESHOT;
    if (action.flags & IRQF_NOBALANCING) {
      desc.settings |= IRQ_NO_BALANCING;
      desc.setState(IRQD_NO_BALANCING);
    }
    if (!(action.flags & IRQF_NO_AUTOEN) && desc.canAutoenable) {
      irqStartup(ctx, desc, true);
    } else if (!perCpuDevid) {
      // A shared line that stays off would starve the other sharers.
      if (action.flags & IRQF_SHARED) {
        ctx.bug.warnOnOnce({ file: "kernel/irq/manage.c", line: 1774, fn: "__setup_irq" });
      }
      desc.depth = 1;
    }
  } else if (action.flags & IRQF_TRIGGER_MASK) {
    const nmsk = action.flags & IRQF_TRIGGER_MASK;
    const omsk = desc.triggerType;
    if (nmsk !== omsk) log.warn(`irq ${irq} uses trigger mode ${omsk}; requested ${nmsk}`);
  }

  desc.actions = [...old, action];
  // A new handler gets a fresh chance from the stuck-interrupt detector.
  desc.irqCount = 0;
  desc.irqsUnhandled = 0;
  if (shared && desc.istate & IRQS_SPURIOUS_DISABLED) {
    desc.istate &= ~IRQS_SPURIOUS_DISABLED;
    enableIrqDesc(ctx, desc);
  }
}

function traceRequest(
  ctx: IrqContext,
  irq: number,
  desc: IrqDesc | undefined,
  name: string,
  flags: number,
  ret: number,
): void {
  if (!ctx.trace.enabled) return;
  ctx.trace.emit({
    type: IRQ_TRACE_REQUEST,
    virq: irq,
    hwirq: desc?.irqData.hwirq ?? null,
    name,
    flags,
    ret,
  });
}

/**
 * kernel/irq/manage.c: request_threaded_irq(). `handler` null means the default primary handler
 * (wake the thread). Throws SysError: ENOTCONN (IRQ_NOTCONNECTED), EINVAL (bad flags, no such
 * line, a line that cannot be requested or is per-CPU, no handler at all, NULL handler without
 * ONESHOT, a trigger the chip refuses), ENOSYS (no chip), EBUSY (sharing mismatch).
 */
export function requestThreadedIrq(
  ctx: IrqContext,
  irq: number,
  handler: IrqHandler | null,
  threadFn: IrqHandler | null,
  flags: number,
  name: string,
  devId: unknown,
): void {
  const desc = ctx.irqToDesc(irq);
  try {
    if (irq === IRQ_NOTCONNECTED) throw new SysError("ENOTCONN", "request_threaded_irq");
    const noDevId = devId === null || devId === undefined;
    if (
      (flags & IRQF_SHARED && noDevId) ||
      (flags & IRQF_SHARED && flags & IRQF_NO_AUTOEN) ||
      (!(flags & IRQF_SHARED) && flags & IRQF_COND_SUSPEND) ||
      (flags & IRQF_NO_SUSPEND && flags & IRQF_COND_SUSPEND)
    ) {
      throw new SysError("EINVAL", "request_threaded_irq", `invalid flags ${fmt08x(flags)}`);
    }
    if (!desc) throw new SysError("EINVAL", "request_threaded_irq", `no interrupt ${irq}`);
    if (!desc.canRequest)
      throw new SysError("EINVAL", "request_threaded_irq", `irq ${irq} cannot be requested`);
    if (desc.isPerCpuDevid) {
      ctx.bug.warnOn({ file: "kernel/irq/manage.c", line: 2159, fn: "request_threaded_irq" });
      throw new SysError("EINVAL", "request_threaded_irq", `irq ${irq} is per-CPU`);
    }
    let primary = handler;
    if (!primary) {
      if (!threadFn) throw new SysError("EINVAL", "request_threaded_irq", "no handler");
      primary = irqDefaultPrimaryHandler;
    }
    // NULL in C is one value; undefined and null are the same dev_id here.
    setupIrq(ctx, desc, new IrqAction(primary, threadFn, flags, name, devId ?? null));
    traceRequest(ctx, irq, desc, name, flags, 0);
  } catch (err) {
    if (SysError.isInstance(err)) traceRequest(ctx, irq, desc, name, flags, -err.errno);
    throw err;
  }
}

/** include/linux/interrupt.h: request_irq() — which in 7.3 adds IRQF_COND_ONESHOT. */
export function requestIrq(
  ctx: IrqContext,
  irq: number,
  handler: IrqHandler,
  flags: number,
  name: string,
  devId: unknown,
): void {
  requestThreadedIrq(ctx, irq, handler, null, flags | IRQF_COND_ONESHOT, name, devId);
}

/**
 * kernel/irq/manage.c: request_percpu_irq_affinity() for all CPUs (request_percpu_irq()).
 * Throws EINVAL without a dev_id or on a line that is not per-CPU.
 */
export function requestPercpuIrq(
  ctx: IrqContext,
  irq: number,
  handler: IrqHandler,
  name: string,
  devId: unknown,
): void {
  if (devId === null || devId === undefined) {
    throw new SysError("EINVAL", "request_percpu_irq_affinity", "no dev_id");
  }
  const desc = ctx.irqToDesc(irq);
  if (!desc?.canRequest || !desc.isPerCpuDevid) {
    throw new SysError("EINVAL", "request_percpu_irq_affinity", `irq ${irq} is not per-CPU`);
  }
  setupIrq(ctx, desc, new IrqAction(handler, null, IRQF_PERCPU | IRQF_NO_SUSPEND, name, devId));
  traceRequest(ctx, irq, desc, name, IRQF_PERCPU | IRQF_NO_SUSPEND, 0);
}

/** kernel/irq/manage.c: enable_percpu_irq() on CPU 0. */
export function enablePercpuIrq(ctx: IrqContext, irq: number, type: number): void {
  const desc = getDesc(ctx, irq, "percpu");
  if (!desc) return;
  type &= IRQ_TYPE_SENSE_MASK;
  if (type === IRQ_TYPE_NONE) type = desc.triggerType;
  if (type !== IRQ_TYPE_NONE && irqSetTrigger(ctx, desc, type)) {
    ctx.bug.warn(
      { file: "kernel/irq/manage.c", line: 2361, fn: "enable_percpu_irq" },
      `failed to set type for IRQ${irq}`,
    );
    return;
  }
  irqPercpuEnable(desc);
}

/** kernel/irq/manage.c: disable_percpu_irq() on CPU 0. */
export function disablePercpuIrq(ctx: IrqContext, irq: number): void {
  const desc = getDesc(ctx, irq, "percpu");
  if (desc) irqPercpuDisable(desc);
}

/**
 * kernel/irq/manage.c: free_irq() / __free_irq(). Returns the freed action's name, or null (with
 * Linux's WARN) when no action of this `devId` is installed.
 */
export function freeIrq(ctx: IrqContext, irq: number, devId: unknown): string | null {
  const desc = ctx.irqToDesc(irq);
  if (!desc) return null;
  if (desc.isPerCpuDevid) {
    ctx.bug.warnOn({ file: "kernel/irq/manage.c", line: 2013, fn: "free_irq" });
    return null;
  }
  if (ctx.inInterrupt()) {
    ctx.bug.warn(
      { file: "kernel/irq/manage.c", line: 1866, fn: "__free_irq" },
      `Trying to free IRQ ${irq} from IRQ context!`,
    );
  }
  const index = desc.actions.findIndex((a) => a.devId === (devId ?? null));
  if (index < 0) {
    ctx.bug.warn(
      { file: "kernel/irq/manage.c", line: 1881, fn: "__free_irq" },
      `Trying to free already-free IRQ ${irq}`,
    );
    return null;
  }
  const action = desc.actions[index] as IrqAction;
  desc.actions = desc.actions.filter((_, i) => i !== index);
  if (desc.actions.length === 0) {
    desc.settings &= ~IRQ_DISABLE_UNLAZY;
    irqShutdown(desc);
  }
  // __synchronize_irq(): a thread this action woke still runs before the action is gone.
  synchronizeIrqThreads(ctx, desc, [action]);
  if (desc.actions.length === 0) desc.clearState(IRQD_ACTIVATED);
  if (ctx.trace.enabled) {
    ctx.trace.emit({
      type: IRQ_TRACE_FREE,
      virq: irq,
      hwirq: desc.irqData.hwirq,
      name: action.name,
    });
  }
  return action.name;
}
