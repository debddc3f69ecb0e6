/**
 * arm64 inter-processor interrupts (arch/arm64/kernel/smp.c: set_smp_ipi_range_percpu(),
 * ipi_setup_sgi(), ipi_setup(), ipi_handler(), arch_show_interrupts(); irq_err_count from
 * arch/arm64/include/asm/hardirq.h).
 *
 * The GIC driver hands over its eight SGIs; each becomes a per-CPU `IPI` interrupt, hidden from
 * the numbered rows of /proc/interrupts and listed instead as `IPI0:` … `IPI7:` lines after them,
 * followed by the `Err:` line.
 *
 * Caveat: with one CPU nothing sends an IPI (the model has no cross-calls, no reschedule IPIs,
 * no irq_work), so the IPI counts stay 0 unless a test raises an SGI by hand; do_handle_IPI()
 * does nothing.
 */

import { SysError } from "../errno.js";
import { irqModifyStatus } from "./chip.js";
import type { IrqContext } from "./irq-context.js";
import { IRQ_HANDLED, IRQ_HIDDEN } from "./irq-flags.js";
import { enablePercpuIrq, requestPercpuIrq } from "./manage.js";

/** arch/arm64/kernel/smp.c: ipi_types[MAX_IPI]. */
export const IPI_TYPES = [
  "Rescheduling interrupts",
  "Function call interrupts",
  "CPU stop interrupts",
  "CPU stop NMIs",
  "Timer broadcast interrupts",
  "IRQ work interrupts",
  "CPU backtrace interrupts",
  "KGDB roundup interrupts",
] as const;

export const MAX_IPI = IPI_TYPES.length;

export class ArmIpis {
  /** ipi_irq_base, nr_ipi. */
  private base = 0;
  private nr = 0;
  /** irq_err_count: ack_bad_irq() of a descriptor with no flow handler. */
  irqErrCount = 0;
  /** The per-CPU dev_id of the IPI actions (&irq_stat). */
  private readonly irqStat = { name: "irq_stat" };

  constructor(private readonly ctx: IrqContext) {}

  /** arch/arm64/kernel/smp.c: set_smp_ipi_range_percpu(base, n, 0) for CPU 0. */
  setRange(ipiBase: number, n: number): void {
    if (n < MAX_IPI)
      this.ctx.bug.warnOn({
        file: "arch/arm64/kernel/smp.c",
        line: 1165,
        fn: "set_smp_ipi_range_percpu",
      });
    this.nr = Math.min(n, MAX_IPI);
    this.base = ipiBase;
    for (let i = 0; i < this.nr; i++) this.setupSgi(i);
    // ipi_setup(): enable them on the boot CPU.
    for (let i = 0; i < this.nr; i++) enablePercpuIrq(this.ctx, this.base + i, 0);
  }

  /** arch/arm64/kernel/smp.c: ipi_setup_sgi() */
  private setupSgi(ipi: number): void {
    const irq = this.base + ipi;
    const handler = function ipi_handler(): number {
      return IRQ_HANDLED;
    };
    try {
      requestPercpuIrq(this.ctx, irq, handler, "IPI", this.irqStat);
    } catch (err) {
      if (!SysError.isInstance(err)) throw err;
      this.ctx.bug.warn(
        { file: "arch/arm64/kernel/smp.c", line: 1132, fn: "ipi_setup_sgi" },
        `Could not request IRQ ${irq} as IRQ, err=${err.negative}`,
      );
    }
    const desc = this.ctx.irqToDesc(irq);
    if (desc) irqModifyStatus(this.ctx, desc, 0, IRQ_HIDDEN);
  }

  /** The virq of IPI `ipi`, or 0 before the GIC handed them over. */
  virqOf(ipi: number): number {
    return ipi < this.nr ? this.base + ipi : 0;
  }

  /** arch/arm64/kernel/smp.c: arch_show_interrupts() for one CPU. */
  show(prec: number): string {
    let out = "";
    for (let i = 0; i < MAX_IPI; i++) {
      const desc = i < this.nr ? this.ctx.irqToDesc(this.base + i) : undefined;
      const count = desc?.kstat ?? 0;
      out += `${"IPI".padStart(prec - 1)}${i}: ${String(count).padStart(10)}  ${IPI_TYPES[i]}\n`;
    }
    out += `${"Err".padStart(prec)}: ${String(this.irqErrCount).padStart(10)}\n`;
    return out;
  }
}
