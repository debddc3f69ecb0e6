/**
 * /proc/interrupts (kernel/irq/proc.c: irq_seq_show(), irq_seq_next_desc(),
 * irq_proc_calc_prec(), irq_proc_emit_counts(); irq_proc_update_valid() decides the rows).
 *
 * Linux 7.3's layout (checked against the oracle kernel on QEMU virt):
 *
 *                 CPU0
 *       11:        189  GICv3      27 Level     arch_timer
 *     IPI0:         16  Rescheduling interrupts
 *      Err:          0
 *
 * A row per descriptor that has an action and is neither hidden (the IPIs' SGIs) nor chained:
 * the number right-aligned in `prec` columns (4, or wider once total_nr_irqs reaches 10000),
 * one 11-character count per online CPU (a device interrupt never taken prints 0 without reading
 * the per-CPU counts), two spaces, the chip name left-aligned in the chip column (8, or the
 * longest chip name seen) — or, for a chip with irq_print_chip(), what that prints, unpadded — the hwirq in `prec` columns, `Level` or `Edge` in 8, the
 * descriptor's name if it has one, then the action names separated by ", ". The architecture's
 * lines (IPIs, Err) follow.
 */

import type { IrqContext } from "./irq-context.js";
import { IRQD_LEVEL } from "./irq-flags.js";
import type { IrqDesc, SparseIrqs } from "./irqdesc.js";

/** kernel/irq/proc.c: irq_proc_calc_prec() — digits of the widest possible number, at least 4. */
export function irqProcPrec(totalNrIrqs: number): number {
  let prec = 4;
  for (let n = 10_000; prec < 10 && n <= totalNrIrqs; prec++) n *= 10;
  return prec;
}

/** kernel/irq/proc.c: irq_proc_update_valid() — which descriptors get a row. */
export function irqProcValid(desc: IrqDesc): boolean {
  return !desc.isHidden && !desc.chained && desc.actions.length > 0;
}

/** kernel/irq/proc.c: one row of irq_seq_show(). */
function showRow(desc: IrqDesc, prec: number, chipWidth: number): string {
  let line = `${String(desc.irq).padStart(prec)}:`;
  // Per-CPU interrupts always show their counts; device interrupts only once taken.
  const count = desc.isPerCpu || desc.isPerCpuDevid || desc.totCount ? desc.kstat : 0;
  line += ` ${String(count).padStart(10)}`;
  line += "  ";
  // A chip with irq_print_chip() prints itself, unpadded.
  line += desc.chip.irqPrintChip
    ? desc.chip.irqPrintChip(desc.irqData)
    : desc.chip.name.padEnd(chipWidth);
  line += " ";
  line += desc.irqData.domain ? String(desc.irqData.hwirq).padStart(prec) : ` ${"".padStart(prec)}`;
  line += ` ${(desc.hasState(IRQD_LEVEL) ? "Level" : "Edge").padEnd(8)}`;
  if (desc.name) line += `-${desc.name.padEnd(8)}`;
  if (desc.actions.length > 0) line += `  ${desc.actions.map((a) => a.name).join(", ")}`;
  return `${line}\n`;
}

/**
 * The whole file: header, a row per valid descriptor in number order, then `archShow(prec)`
 * (arch_show_interrupts()).
 */
export function showInterrupts(
  ctx: IrqContext,
  sparse: SparseIrqs,
  archShow: (prec: number) => string,
): string {
  const prec = irqProcPrec(sparse.totalNrIrqs);
  const chipWidth = ctx.proc.chipWidth;
  let out = `${"".padStart(prec + 8)}${"CPU0".padEnd(11)}\n`;
  for (const desc of sparse.all()) {
    if (irqProcValid(desc)) out += showRow(desc, prec, chipWidth);
  }
  return out + archShow(prec);
}
