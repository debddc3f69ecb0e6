/**
 * What the generic IRQ code needs from the kernel around it: the log, the trace bus, WARN, the
 * virtual clock, the descriptor table, and whether the CPU is in hard-interrupt context. The
 * `IrqCore` provides it; the files of this directory take it as their first argument, as Linux's
 * kernel/irq/ functions reach the same things through globals.
 */

import type { VirtualClock } from "@vfio-lab/hw-soc";
import type { Printk } from "../printk/printk.js";
import type { KernelTrace } from "../trace/trace-bus.js";
import type { Bug } from "./bug.js";
import type { IrqDesc } from "./irqdesc.js";

/** CONFIG_HZ of the oracle kernel (HZ_250): one jiffy is 4 ms of virtual time. */
export const HZ = 250;

export interface IrqContext {
  readonly printk: Printk;
  readonly trace: KernelTrace;
  readonly bug: Bug;
  readonly clock: VirtualClock;
  /** irq_to_desc(). */
  irqToDesc(irq: number): IrqDesc | undefined;
  /** in_interrupt(): the CPU is running a hard interrupt handler. */
  inInterrupt(): boolean;
  /** jiffies at the current virtual time. */
  jiffies(): number;
  /** kernel/irq/spurious.c: report_bad_irq()'s `static int count = 100`. */
  readonly spurious: { badIrqReportsLeft: number };
  /** kernel/irq/proc.c: irq_proc_constraints — the chip column only ever widens. */
  readonly proc: { chipWidth: number };
  /** arch ack_bad_irq(): arm64 counts the interrupt in irq_err_count (the `Err:` line). */
  ackBadIrq?(irq: number): void;
}
