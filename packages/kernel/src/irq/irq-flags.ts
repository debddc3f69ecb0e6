/**
 * The numbers of the generic IRQ layer, as Linux 7.3 defines them: trigger types and descriptor
 * settings (include/linux/irq.h), `irq_data` state bits (include/linux/irq.h), core-internal
 * descriptor state (kernel/irq/internals.h), request flags (include/linux/interrupt.h), handler
 * return values (include/linux/irqreturn.h) and irq_chip flags.
 *
 * They are kept as the C values so that log lines that print them (`Flags mismatch irq 39.
 * 00200004 (a) vs. …`, `Setting trigger mode 8 …`) come out as Linux prints them.
 */

// include/linux/irq.h: trigger types (the low bits of the settings word and of irq_data state).
export const IRQ_TYPE_NONE = 0x0;
export const IRQ_TYPE_EDGE_RISING = 0x1;
export const IRQ_TYPE_EDGE_FALLING = 0x2;
export const IRQ_TYPE_EDGE_BOTH = IRQ_TYPE_EDGE_FALLING | IRQ_TYPE_EDGE_RISING;
export const IRQ_TYPE_LEVEL_HIGH = 0x4;
export const IRQ_TYPE_LEVEL_LOW = 0x8;
export const IRQ_TYPE_LEVEL_MASK = IRQ_TYPE_LEVEL_LOW | IRQ_TYPE_LEVEL_HIGH;
export const IRQ_TYPE_SENSE_MASK = 0xf;

// include/linux/irq.h: the settings a driver may change with irq_set_status_flags().
export const IRQ_LEVEL = 1 << 8;
export const IRQ_PER_CPU = 1 << 9;
export const IRQ_NOPROBE = 1 << 10;
export const IRQ_NOREQUEST = 1 << 11;
export const IRQ_NOAUTOEN = 1 << 12;
export const IRQ_NO_BALANCING = 1 << 13;
export const IRQ_NESTED_THREAD = 1 << 15;
export const IRQ_NOTHREAD = 1 << 16;
export const IRQ_PER_CPU_DEVID = 1 << 17;
export const IRQ_IS_POLLED = 1 << 18;
export const IRQ_DISABLE_UNLAZY = 1 << 19;
export const IRQ_HIDDEN = 1 << 20;
export const IRQ_NO_DEBUG = 1 << 21;

/** include/linux/irq.h: IRQF_MODIFY_MASK — what irq_modify_status() may touch. */
export const IRQF_MODIFY_MASK =
  IRQ_TYPE_SENSE_MASK |
  IRQ_NOPROBE |
  IRQ_NOREQUEST |
  IRQ_NOAUTOEN |
  IRQ_LEVEL |
  IRQ_NO_BALANCING |
  IRQ_PER_CPU |
  IRQ_NESTED_THREAD |
  IRQ_NOTHREAD |
  IRQ_PER_CPU_DEVID |
  IRQ_IS_POLLED |
  IRQ_DISABLE_UNLAZY |
  IRQ_HIDDEN;

/** include/linux/irq.h: IRQ_NOTCONNECTED — "this interrupt is not wired"; requests get ENOTCONN. */
export const IRQ_NOTCONNECTED = 0x8000_0000;

// include/linux/irq.h: struct irq_data state (irqd_*).
export const IRQD_TRIGGER_MASK = 0xf;
export const IRQD_ACTIVATED = 1 << 9;
export const IRQD_NO_BALANCING = 1 << 10;
export const IRQD_PER_CPU = 1 << 11;
export const IRQD_LEVEL = 1 << 13;
export const IRQD_IRQ_DISABLED = 1 << 16;
export const IRQD_IRQ_MASKED = 1 << 17;
export const IRQD_IRQ_INPROGRESS = 1 << 18;
export const IRQD_IRQ_STARTED = 1 << 22;
export const IRQD_SINGLE_TARGET = 1 << 24;
export const IRQD_DEFAULT_TRIGGER_SET = 1 << 25;
export const IRQD_HANDLE_ENFORCE_IRQCTX = 1 << 27;

// kernel/irq/internals.h: desc->istate.
export const IRQS_AUTODETECT = 0x0000_0001;
export const IRQS_SPURIOUS_DISABLED = 0x0000_0002;
export const IRQS_POLL_INPROGRESS = 0x0000_0008;
export const IRQS_ONESHOT = 0x0000_0020;
export const IRQS_REPLAY = 0x0000_0040;
export const IRQS_WAITING = 0x0000_0080;
export const IRQS_PENDING = 0x0000_0200;

// include/linux/interrupt.h: request flags.
export const IRQF_TRIGGER_NONE = 0x0000_0000;
export const IRQF_TRIGGER_RISING = 0x0000_0001;
export const IRQF_TRIGGER_FALLING = 0x0000_0002;
export const IRQF_TRIGGER_HIGH = 0x0000_0004;
export const IRQF_TRIGGER_LOW = 0x0000_0008;
export const IRQF_TRIGGER_MASK =
  IRQF_TRIGGER_HIGH | IRQF_TRIGGER_LOW | IRQF_TRIGGER_RISING | IRQF_TRIGGER_FALLING;
export const IRQF_SHARED = 0x0000_0080;
export const IRQF_PROBE_SHARED = 0x0000_0100;
export const IRQF_PERCPU = 0x0000_0400;
export const IRQF_NOBALANCING = 0x0000_0800;
export const IRQF_IRQPOLL = 0x0000_1000;
export const IRQF_ONESHOT = 0x0000_2000;
export const IRQF_NO_SUSPEND = 0x0000_4000;
export const IRQF_FORCE_RESUME = 0x0000_8000;
export const IRQF_NO_THREAD = 0x0001_0000;
export const IRQF_EARLY_RESUME = 0x0002_0000;
export const IRQF_COND_SUSPEND = 0x0004_0000;
export const IRQF_NO_AUTOEN = 0x0008_0000;
export const IRQF_NO_DEBUG = 0x0010_0000;
export const IRQF_COND_ONESHOT = 0x0020_0000;

// include/linux/irqreturn.h: what a handler returns (bits, OR-ed over shared actions).
export const IRQ_NONE = 0;
export const IRQ_HANDLED = 1 << 0;
export const IRQ_WAKE_THREAD = 1 << 1;

/** A handler's result: IRQ_NONE, IRQ_HANDLED, IRQ_WAKE_THREAD (or their OR). */
export type IrqReturn = number;

// include/linux/irq.h: struct irq_chip flags the core looks at.
export const IRQCHIP_SET_TYPE_MASKED = 1 << 0;
export const IRQCHIP_EOI_IF_HANDLED = 1 << 1;
export const IRQCHIP_MASK_ON_SUSPEND = 1 << 2;
export const IRQCHIP_SKIP_SET_WAKE = 1 << 4;
export const IRQCHIP_ONESHOT_SAFE = 1 << 5;
export const IRQCHIP_EOI_THREADED = 1 << 6;

// kernel/irq/internals.h: action->thread_flags bit numbers.
export const IRQTF_RUNTHREAD = 0;
export const IRQTF_WARNED = 1;
