/**
 * Interrupt descriptors (kernel/irq/irqdesc.c, include/linux/irqdesc.h, include/linux/irq.h):
 * one `IrqDesc` per Linux interrupt number (virq), with its `irq_data` (hwirq, chip, domain,
 * state bits), its settings word, its action list, its disable depth and its statistics; and the
 * sparse allocator that hands out virqs.
 *
 * Numbering (CONFIG_SPARSE_IRQ, as arm64 builds it): a virq is the lowest free number at or above
 * the hint, and mappings made through an irq domain always hint 1 (irq_domain_alloc_descs() gets
 * hwirq 0 from the hierarchy path). So numbers depend only on the order in which interrupts are
 * mapped: on the virt board the GIC driver takes 1–8 for its SGIs, and every later
 * irq_create_of_mapping() gets the next free number. `total_nr_irqs` starts at NR_IRQS (64) and
 * grows when an allocation goes past it, which is what widens /proc/interrupts' first column.
 */

import type { IrqReturn } from "./irq-flags.js";
import {
  IRQ_DISABLE_UNLAZY,
  IRQ_HIDDEN,
  IRQ_IS_POLLED,
  IRQ_LEVEL,
  IRQ_NO_DEBUG,
  IRQ_NOAUTOEN,
  IRQ_NOREQUEST,
  IRQ_PER_CPU,
  IRQ_PER_CPU_DEVID,
  IRQ_TYPE_SENSE_MASK,
  IRQD_IRQ_DISABLED,
  IRQD_IRQ_MASKED,
} from "./irq-flags.js";
import type { IrqDomain } from "./irqdomain.js";

/** include/asm-generic/irq.h: NR_IRQS on arm64. */
export const NR_IRQS = 64;
/** kernel/irq/internals.h: MAX_SPARSE_IRQS with CONFIG_SPARSE_IRQ (INT_MAX). */
export const MAX_SPARSE_IRQS = 0x7fff_ffff;

/** irq_handler_t: `(irq, dev_id) → irqreturn_t`. `devId` is compared by identity. */
export type IrqHandler = (irq: number, devId: unknown) => IrqReturn;

/** struct irq_chip: the controller callbacks the core uses. Errors are negative errnos. */
export interface IrqChip {
  readonly name: string;
  readonly flags: number;
  irqMask?(d: IrqData): void;
  irqUnmask?(d: IrqData): void;
  irqEoi?(d: IrqData): void;
  irqAck?(d: IrqData): void;
  /** Returns 0 (IRQ_SET_MASK_OK) or a negative errno. */
  irqSetType?(d: IrqData, type: number): number;
  /** The C symbol of irq_set_type, for `%pS` in messages and for the SysError's function. */
  readonly irqSetTypeSymbol?: string;
  /** Returns 1 when the hardware will deliver the interrupt again. */
  irqRetrigger?(d: IrqData): number;
  /**
   * irq_print_chip(): what /proc/interrupts shows in the chip column instead of the padded
   * `name` (gpiochips print their device's name).
   */
  irqPrintChip?(d: IrqData): string;
}

/** struct irq_data: what a chip callback sees. */
export interface IrqData {
  readonly irq: number;
  hwirq: number;
  chip: IrqChip;
  domain: IrqDomain | null;
  /** irq_common_data.state_use_accessors: IRQD_* bits, trigger type in the low nibble. */
  state: number;
}

/** kernel/irq/dummychip.c: no_irq_chip — what a descriptor has before a domain maps it. */
export const NO_IRQ_CHIP: IrqChip = { name: "none", flags: 0 };

/** struct irqaction. */
export class IrqAction {
  irq = 0;
  /** action->thread_mask: this action's ONESHOT bit. */
  threadMask = 0n;
  /** action->thread_flags: IRQTF_* bits. */
  threadFlags = 0;
  /** The scheduled run of the irq thread (`irq/<n>-<name>`), while one is pending. */
  threadRun: { cancel(): void } | null = null;

  constructor(
    public handler: IrqHandler,
    readonly threadFn: IrqHandler | null,
    public flags: number,
    readonly name: string,
    readonly devId: unknown,
  ) {}
}

/** The flow handler a domain installs (handle_fasteoi_irq, handle_percpu_devid_irq, …). */
export type FlowHandler = (desc: IrqDesc) => void;

/** struct irq_desc. */
export class IrqDesc {
  readonly irqData: IrqData;
  /** desc->handle_irq, with the C name for messages. */
  handleIrq: FlowHandler | null = null;
  handleIrqName = "handle_bad_irq";
  /** desc->status_use_accessors: IRQ_* settings (irq_settings_*). */
  settings = 0;
  /** desc->istate: IRQS_* core state. */
  istate = 0;
  /** Nested disable count; 1 = disabled, as a fresh descriptor is. */
  depth = 1;
  /** desc->action, in list order. */
  actions: IrqAction[] = [];
  /** kstat_irqs of CPU 0 (the only CPU), and desc->tot_count. */
  kstat = 0;
  totCount = 0;
  /** Spurious-interrupt detector state (kernel/irq/spurious.c). */
  irqCount = 0;
  irqsUnhandled = 0;
  lastUnhandled = Number.NEGATIVE_INFINITY;
  /** ONESHOT thread bookkeeping (kernel/irq/manage.c, handle.c). */
  threadsOneshot = 0n;
  threadsActive = 0;
  threadsHandled = 0;
  threadsHandledLast = 0;
  /** The SPURIOUS_DEFERRED bit of threads_handled_last: a woken thread's verdict is pending. */
  spuriousDeferred = false;
  /** Per-CPU interrupts: enabled on CPU 0 (desc->percpu_enabled). */
  percpuEnabled = false;
  /** desc->name: the flow handler name shown after the trigger in /proc, or null. */
  name: string | null = null;
  /** irq_desc_is_chained(): a demultiplexer's flow handler with no action. */
  chained = false;
  /** irq_common_data.handler_data: what irq_desc_get_handler_data() gives a flow handler. */
  handlerData: unknown = null;
  /** On the resend tasklet's list (`desc->resend_node` hashed). */
  resendQueued = false;

  constructor(readonly irq: number) {
    // kernel/irq/irqdesc.c: desc_set_defaults() — disabled, masked, depth 1, no chip.
    this.irqData = {
      irq,
      hwirq: 0,
      chip: NO_IRQ_CHIP,
      domain: null,
      state: IRQD_IRQ_DISABLED | IRQD_IRQ_MASKED,
    };
  }

  get chip(): IrqChip {
    return this.irqData.chip;
  }

  hasState(bits: number): boolean {
    return (this.irqData.state & bits) !== 0;
  }

  setState(bits: number): void {
    this.irqData.state |= bits;
  }

  clearState(bits: number): void {
    this.irqData.state &= ~bits;
  }

  /** irqd_get_trigger_type(). */
  get triggerType(): number {
    return this.irqData.state & IRQ_TYPE_SENSE_MASK;
  }

  // kernel/irq/settings.h accessors.
  hasSetting(bits: number): boolean {
    return (this.settings & bits) !== 0;
  }
  get canRequest(): boolean {
    return !this.hasSetting(IRQ_NOREQUEST);
  }
  get canAutoenable(): boolean {
    return !this.hasSetting(IRQ_NOAUTOEN);
  }
  get isPerCpuDevid(): boolean {
    return this.hasSetting(IRQ_PER_CPU_DEVID);
  }
  get isPerCpu(): boolean {
    return this.hasSetting(IRQ_PER_CPU);
  }
  get isLevelSetting(): boolean {
    return this.hasSetting(IRQ_LEVEL);
  }
  get isHidden(): boolean {
    return this.hasSetting(IRQ_HIDDEN);
  }
  get disableUnlazy(): boolean {
    return this.hasSetting(IRQ_DISABLE_UNLAZY);
  }
  get noDebug(): boolean {
    return this.hasSetting(IRQ_NO_DEBUG);
  }
  get isPolled(): boolean {
    return this.hasSetting(IRQ_IS_POLLED);
  }
}

/**
 * The sparse descriptor store (kernel/irq/irqdesc.c: sparse_irqs, irq_find_free_area(),
 * __irq_alloc_descs(), irq_expand_nr_irqs()). Lookups are by number; iteration is in number
 * order, as the maple tree walks it.
 */
export class SparseIrqs {
  private readonly descs = new Map<number, IrqDesc>();
  /** total_nr_irqs. */
  totalNrIrqs = NR_IRQS;

  get(irq: number): IrqDesc | undefined {
    return this.descs.get(irq);
  }

  /** irq_find_free_area(): the lowest start ≥ from with `cnt` free numbers, or −1. */
  findFreeArea(from: number, cnt: number): number {
    let start = from;
    for (;;) {
      if (start + cnt - 1 > MAX_SPARSE_IRQS) return -1;
      let clash = -1;
      for (let i = start; i < start + cnt; i++) {
        if (this.descs.has(i)) clash = i;
      }
      if (clash < 0) return start;
      start = clash + 1;
    }
  }

  /**
   * __irq_alloc_descs(-1, from, cnt): allocate `cnt` consecutive descriptors at the lowest free
   * place at or above `from`. Returns the first number, or a negative errno.
   */
  alloc(from: number, cnt: number): number {
    if (cnt === 0) return -22; // EINVAL
    const start = this.findFreeArea(from, cnt);
    if (start < 0) return -28; // ENOSPC
    if (start + cnt > this.totalNrIrqs) this.totalNrIrqs = start + cnt;
    for (let i = 0; i < cnt; i++) this.descs.set(start + i, new IrqDesc(start + i));
    return start;
  }

  /** irq_free_descs(). */
  free(from: number, cnt: number): void {
    for (let i = 0; i < cnt; i++) this.descs.delete(from + i);
  }

  /** Every descriptor, in number order (for_each_irq_desc). */
  all(): IrqDesc[] {
    return [...this.descs.values()].sort((a, b) => a.irq - b.irq);
  }
}
