/**
 * drivers/gpio/gpiolib.c: a `struct gpio_chip` as a GPIO controller driver registers it — its
 * lines numbered from a dynamic base (GPIO_DYNAMIC_BASE 512 up, the first gap that fits), the
 * line operations checked against `ngpio`, and the gpiochip's interrupt controller
 * (gpiochip_add_irqchip()): a simple irq domain on the controller's device-tree node whose
 * map() gives each line the chip, handle_bad_irq until a trigger is chosen, and IRQ_NOPROBE;
 * and a chained handler on each parent interrupt (irq_set_chained_handler_and_data()).
 * gpiochip_to_irq() maps a line on demand (irq_create_mapping()), so a consumer can request
 * the interrupt of one line.
 *
 * Removal (gpiochip_remove() → gpiochip_irqchip_remove()) takes the chained handlers off the
 * parents — which leaves them IRQ_NOREQUEST — disposes of every line's mapping and removes
 * the domain.
 *
 * Caveat: no GPIO descriptors, consumers, character device or sysfs (`gpiochip0` is only a
 * name); no irq_request_resources (gpiochip_lock_as_irq) or irq_set_wake; no valid masks,
 * hierarchical domains or nested threads.
 */

import type { DtNode } from "@vfio-lab/hw-soc";
import type { Device } from "../base/device.js";
import { SysError } from "../errno.js";
import { maskAckIrq } from "../irq/flow.js";
import type { IrqCore } from "../irq/irq-core.js";
import { IRQ_NOPROBE, IRQ_TYPE_SENSE_MASK, IRQD_IRQ_DISABLED } from "../irq/irq-flags.js";
import type { IrqChip, IrqDesc } from "../irq/irqdesc.js";
import { type IrqDomain, irqDomainSetInfo, type NamedFlowHandler } from "../irq/irqdomain.js";

/** include/linux/gpio/driver.h: GPIO_LINE_DIRECTION_* */
export const GPIO_LINE_DIRECTION_OUT = 0;
export const GPIO_LINE_DIRECTION_IN = 1;
/** drivers/gpio/gpiolib.h: GPIO_DYNAMIC_BASE, GPIO_DYNAMIC_MAX */
export const GPIO_DYNAMIC_BASE = 512;
export const GPIO_DYNAMIC_MAX = 1024;

/** The callbacks of `struct gpio_chip` a controller driver fills in. */
export interface GpioChipOps {
  getDirection(offset: number): number;
  directionInput(offset: number): void;
  directionOutput(offset: number, value: number): void;
  get(offset: number): number;
  set(offset: number, value: number): void;
}

/** `struct gpio_irq_chip` as gpio-pl061 fills it in. */
export interface GpioIrqChip {
  /** The irq_chip of the lines. */
  readonly chip: IrqChip;
  /** The chained handler run on each parent interrupt, with the gpiochip as handler data. */
  readonly parentHandler: (gc: GpioChip, desc: IrqDesc) => void;
  /** The handler's C name (what the parent line's flow shows). */
  readonly parentHandlerName: string;
  /** Parent interrupts (virqs); 0 means the controller's interrupt is not wired. */
  readonly parents: readonly number[];
}

/** The per-kernel gpiolib state: the numbers and ids handed out. */
export class GpioLib {
  private readonly chips: GpioChip[] = [];
  private readonly ids = new Set<number>();

  constructor(readonly irq: IrqCore) {}

  /** gpiochip_find_base_unlocked(): the first gap of `ngpio` numbers from 512. */
  private findBase(ngpio: number): number {
    let base = GPIO_DYNAMIC_BASE;
    for (const gc of [...this.chips].sort((a, b) => a.base - b.base)) {
      if (gc.base >= base + ngpio) break;
      base = Math.max(base, gc.base + gc.ngpio);
    }
    return base + ngpio <= GPIO_DYNAMIC_MAX ? base : -1;
  }

  /**
   * gpiochip_add_data(): numbers, id, then the irqchip. ENOSPC when no range of numbers is
   * free. Undone with `remove()` (devm_gpiochip_add_data() releases it with the device).
   */
  add(parent: Device, ngpio: number, ops: GpioChipOps, irqChip: GpioIrqChip | null): GpioChip {
    const base = this.findBase(ngpio);
    if (base < 0) {
      parent.ctx.printk.pr().err("gpiochip_find_base_unlocked: cannot find free range");
      throw new SysError("ENOSPC", "gpiochip_find_base_unlocked", `${ngpio} lines`);
    }
    let id = 0;
    while (this.ids.has(id)) id++;
    const gc = new GpioChip(this, parent, id, base, ngpio, ops);
    this.ids.add(id);
    this.chips.push(gc);
    if (irqChip) gc.addIrqchip(irqChip);
    return gc;
  }

  /** gpiochip_remove() */
  remove(gc: GpioChip): void {
    gc.removeIrqchip();
    const i = this.chips.indexOf(gc);
    if (i >= 0) this.chips.splice(i, 1);
    this.ids.delete(gc.id);
  }
}

/** `struct gpio_chip` (with its `struct gpio_device`). */
export class GpioChip {
  /** gc->label: the parent's name, as gpio-pl061 sets it. */
  readonly label: string;
  /** gc->irq.domain, once the irqchip is added. */
  domain: IrqDomain | null = null;
  private irqChip: GpioIrqChip | null = null;

  constructor(
    private readonly lib: GpioLib,
    readonly parent: Device,
    /** gdev->id: the n of gpiochip<n>. */
    readonly id: number,
    /** gc->base: the first global GPIO number. */
    readonly base: number,
    readonly ngpio: number,
    private readonly ops: GpioChipOps,
  ) {
    this.label = parent.name;
  }

  get name(): string {
    return `gpiochip${this.id}`;
  }

  private check(offset: number, fn: string): void {
    if (!Number.isInteger(offset) || offset < 0 || offset >= this.ngpio) {
      throw new SysError("EINVAL", fn, `${this.name} has no line ${offset}`);
    }
  }

  /** gpiod_get_direction(): GPIO_LINE_DIRECTION_OUT (0) or _IN (1). */
  getDirection(offset: number): number {
    this.check(offset, "gpiod_get_direction");
    return this.ops.getDirection(offset);
  }

  /** gpiod_direction_input() */
  directionInput(offset: number): void {
    this.check(offset, "gpiod_direction_input");
    this.ops.directionInput(offset);
  }

  /** gpiod_direction_output_raw() */
  directionOutput(offset: number, value: number): void {
    this.check(offset, "gpiod_direction_output");
    this.ops.directionOutput(offset, value ? 1 : 0);
  }

  /** gpiod_get_raw_value(): 0 or 1. */
  getValue(offset: number): number {
    this.check(offset, "gpiod_get_value");
    return this.ops.get(offset) ? 1 : 0;
  }

  /** gpiod_set_raw_value() */
  setValue(offset: number, value: number): void {
    this.check(offset, "gpiod_set_value");
    this.ops.set(offset, value ? 1 : 0);
  }

  /**
   * gpiod_to_irq() → gpiochip_to_irq(): the Linux interrupt of line `offset`, mapped in the
   * chip's domain on first use. ENXIO without an irqchip, for a line out of range, or when the
   * mapping fails.
   */
  toIrq(offset: number): number {
    const fn = "gpiochip_to_irq";
    if (!this.domain) throw new SysError("ENXIO", fn, `${this.name} has no irqchip`);
    if (!Number.isInteger(offset) || offset < 0 || offset >= this.ngpio) {
      throw new SysError("ENXIO", fn, `${this.name} has no line ${offset}`);
    }
    const virq = this.lib.irq.irqCreateMapping(this.domain, offset);
    if (!virq) throw new SysError("ENXIO", fn, `line ${offset} could not be mapped`);
    return virq;
  }

  /** gpiochip_add_irqchip(): the simple domain, then the chained handlers on the parents. */
  addIrqchip(girq: GpioIrqChip): void {
    const irq = this.lib.irq;
    const np: DtNode | null = this.parent.dtNode;
    if (!np) throw new SysError("EINVAL", "gpiochip_add_irqchip", "no firmware node");
    const bad: NamedFlowHandler = irq.flowHandler("handle_bad_irq");
    const map = (d: IrqDomain, virq: number, hwirq: number): number => {
      if (hwirq >= this.ngpio) return -6; // ENXIO
      const desc = irq.irqToDesc(virq) as IrqDesc;
      // irq_set_chip_and_handler(): handle_bad_irq masks, acks and disables the line.
      irqDomainSetInfo(irq, d, desc, hwirq, girq.chip, bad);
      maskAckIrq(desc);
      desc.setState(IRQD_IRQ_DISABLED);
      desc.depth = 1;
      irq.irqSetStatusFlags(virq, IRQ_NOPROBE);
      return 0;
    };
    this.domain = irq.irqDomainCreateSimple(np, {
      // irq_domain_xlate_twocell(): <line flags>.
      translate: (_d, fwspec) =>
        fwspec.param.length < 2
          ? -22
          : {
              hwirq: fwspec.param[0] as number,
              type: (fwspec.param[1] as number) & IRQ_TYPE_SENSE_MASK,
            },
      alloc: (d, virq, nrIrqs, fwspec) => {
        for (let i = 0; i < nrIrqs; i++) {
          const ret = map(d, virq + i, (fwspec.param[0] as number) + i);
          if (ret) return ret;
        }
        return 0;
      },
      map,
      // gpiochip_irq_unmap(): the chip and handler go.
      free: (_d, virq, nrIrqs) => {
        for (let i = 0; i < nrIrqs; i++) {
          const desc = irq.irqToDesc(virq + i);
          if (!desc) continue;
          desc.handleIrq = null;
          desc.handleIrqName = "handle_bad_irq";
        }
      },
    });
    this.irqChip = girq;
    for (const parent of girq.parents) {
      if (!parent) continue;
      irq.irqSetChainedHandlerAndData(
        parent,
        { fn: (desc) => girq.parentHandler(this, desc), name: girq.parentHandlerName },
        this,
      );
    }
  }

  /** gpiochip_irqchip_remove() */
  removeIrqchip(): void {
    const irq = this.lib.irq;
    const girq = this.irqChip;
    if (girq) {
      for (const parent of girq.parents) {
        if (parent) irq.irqSetChainedHandlerAndData(parent, null, null);
      }
    }
    if (this.domain) {
      for (let offset = 0; offset < this.ngpio; offset++) {
        const virq = this.domain.findMapping(offset);
        if (virq) irq.irqDisposeMapping(virq);
      }
      irq.irqDomainRemove(this.domain);
    }
    this.domain = null;
    this.irqChip = null;
  }
}
