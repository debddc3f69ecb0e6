/**
 * drivers/gpio/gpio-pl061.c: the `pl061_gpio` AMBA driver for the PrimeCell GPIO — eight lines
 * and an interrupt controller chained to the PL061's one interrupt.
 *
 * Probe maps the window, masks every line interrupt (GPIOIE = 0), registers the gpiochip with
 * its irqchip — which installs pl061_irq_handler() as the CHAINED handler of the parent line
 * (IRQ_NOREQUEST from then on, and no row in /proc/interrupts) — and logs
 * `pl061_gpio 9030000.pl061: PL061 GPIO chip registered` (checked on 7.3). Without an
 * interrupt it warns `IRQ support disabled`. There is no .remove: the gpiochip goes with the
 * device's managed resources, and the parent line stays IRQ_NOREQUEST — so a later
 * request_irq() of it (vfio-amba's SET_IRQS) fails with EINVAL, as on a real 7.3.
 *
 * Lines: DATA is read and written through its address mask (`base + (BIT(line) << 2)`), one
 * line per access; a line's direction is its DIR bit; going to output writes the value before
 * and after the DIR change (the PL061 ignores DATA writes to input lines). Line interrupts:
 * the trigger programs IS/IBE/IEV and picks handle_level_irq or handle_edge_irq, mask/unmask
 * are the IE bit, ack is GPIOIC; /proc/interrupts shows the chip as the device's name.
 *
 * Caveat: no PM (suspend/resume register save), no gpio-ranges/pinctrl, no irq_set_wake.
 */

import { type AmbaDevice, AmbaDriver, type AmbaId } from "../base/amba.js";
import { devmIoremapResource, type IoMem } from "../base/io.js";
import { chainedIrqEnter, chainedIrqExit, irqSetHandlerLocked } from "../irq/chained.js";
import {
  IRQ_TYPE_EDGE_BOTH,
  IRQ_TYPE_EDGE_FALLING,
  IRQ_TYPE_EDGE_RISING,
  IRQ_TYPE_LEVEL_HIGH,
  IRQ_TYPE_LEVEL_LOW,
} from "../irq/irq-flags.js";
import type { IrqChip, IrqData, IrqDesc } from "../irq/irqdesc.js";
import { type BoardDriverEnv, drvdata } from "./board-env.js";
import {
  GPIO_LINE_DIRECTION_IN,
  GPIO_LINE_DIRECTION_OUT,
  type GpioChip,
  GpioLib,
} from "./gpiolib.js";

/** gpio-pl061.c: register offsets (DATA is 0x000–0x3fc, addressed through its mask). */
export const PL061_REG = {
  DIR: 0x400,
  IS: 0x404,
  IBE: 0x408,
  IEV: 0x40c,
  IE: 0x410,
  RIS: 0x414,
  MIS: 0x418,
  IC: 0x41c,
} as const;

/** PL061_GPIO_NR */
export const PL061_GPIO_NR = 8;

/** The DATA address that sees only `line`: `BIT(line + 2)`. */
const dataAddr = (line: number) => 1 << (line + 2);

/** `struct pl061` */
export class Pl061Gpio {
  gc: GpioChip | null = null;
  /** The irq_chip of the lines (pl061_irq_chip, printing the device's name in /proc). */
  readonly irqChip: IrqChip;

  constructor(
    private readonly env: BoardDriverEnv,
    readonly adev: AmbaDevice,
    readonly base: IoMem,
    /** pl061->parent_irq: adev->irq[0], 0 when not wired. */
    readonly parentIrq: number,
  ) {
    this.irqChip = {
      name: "pl061",
      flags: 0,
      irqAck: (d) => this.irqAck(d),
      irqMask: (d) => this.irqMask(d),
      irqUnmask: (d) => this.irqUnmask(d),
      irqSetType: (d, type) => this.irqType(d, type),
      irqSetTypeSymbol: "pl061_irq_type",
      irqPrintChip: () => this.adev.name,
    };
  }

  // -------------------------------------------------------------------------------------------
  // gpio_chip operations

  /** pl061_get_direction() */
  getDirection(offset: number): number {
    return this.base.readb(PL061_REG.DIR) & (1 << offset)
      ? GPIO_LINE_DIRECTION_OUT
      : GPIO_LINE_DIRECTION_IN;
  }

  /** pl061_direction_input() */
  directionInput(offset: number): void {
    this.base.writeb(PL061_REG.DIR, this.base.readb(PL061_REG.DIR) & ~(1 << offset));
  }

  /** pl061_direction_output(): the value before and after DIR, as input lines drop writes. */
  directionOutput(offset: number, value: number): void {
    this.base.writeb(dataAddr(offset), (value ? 1 : 0) << offset);
    this.base.writeb(PL061_REG.DIR, this.base.readb(PL061_REG.DIR) | (1 << offset));
    this.base.writeb(dataAddr(offset), (value ? 1 : 0) << offset);
  }

  /** pl061_get_value() */
  get(offset: number): number {
    return this.base.readb(dataAddr(offset)) ? 1 : 0;
  }

  /** pl061_set_value() */
  set(offset: number, value: number): void {
    this.base.writeb(dataAddr(offset), (value ? 1 : 0) << offset);
  }

  // -------------------------------------------------------------------------------------------
  // irq_chip operations

  /**
   * pl061_irq_type(): level (IS=1, IEV=polarity) → handle_level_irq; both edges (IBE=1) or one
   * (IEV=rising) → handle_edge_irq; none → everything off and a warning. EINVAL for a line
   * out of range or for level and edge at once.
   */
  private irqType(d: IrqData, trigger: number): number {
    const offset = d.hwirq;
    if (offset < 0 || offset >= PL061_GPIO_NR) return -22;
    const level = trigger & (IRQ_TYPE_LEVEL_HIGH | IRQ_TYPE_LEVEL_LOW);
    const edge = trigger & (IRQ_TYPE_EDGE_RISING | IRQ_TYPE_EDGE_FALLING);
    if (level && edge) {
      this.adev.log.err(
        `trying to configure line ${offset} for both level and edge detection, choose one!`,
      );
      return -22;
    }
    const bit = 1 << offset;
    let iev = this.base.readb(PL061_REG.IEV);
    let is = this.base.readb(PL061_REG.IS);
    let ibe = this.base.readb(PL061_REG.IBE);
    const desc = this.env.irq.irqToDesc(d.irq) as IrqDesc;
    if (level) {
      const high = (trigger & IRQ_TYPE_LEVEL_HIGH) !== 0;
      ibe &= ~bit;
      is |= bit;
      iev = high ? iev | bit : iev & ~bit;
      irqSetHandlerLocked(desc, this.env.irq.flowHandler("handle_level_irq"));
      this.adev.log.dbg(`line ${offset}: IRQ on ${high ? "HIGH" : "LOW"} level`);
    } else if ((trigger & IRQ_TYPE_EDGE_BOTH) === IRQ_TYPE_EDGE_BOTH) {
      is &= ~bit;
      ibe |= bit;
      irqSetHandlerLocked(desc, this.env.irq.flowHandler("handle_edge_irq"));
      this.adev.log.dbg(`line ${offset}: IRQ on both edges`);
    } else if (edge) {
      const rising = (trigger & IRQ_TYPE_EDGE_RISING) !== 0;
      is &= ~bit;
      ibe &= ~bit;
      iev = rising ? iev | bit : iev & ~bit;
      irqSetHandlerLocked(desc, this.env.irq.flowHandler("handle_edge_irq"));
      this.adev.log.dbg(`line ${offset}: IRQ on ${rising ? "RISING" : "FALLING"} edge`);
    } else {
      is &= ~bit;
      ibe &= ~bit;
      iev &= ~bit;
      irqSetHandlerLocked(desc, this.env.irq.flowHandler("handle_bad_irq"));
      this.adev.log.warn(`no trigger selected for line ${offset}`);
    }
    this.base.writeb(PL061_REG.IS, is);
    this.base.writeb(PL061_REG.IBE, ibe);
    this.base.writeb(PL061_REG.IEV, iev);
    return 0;
  }

  /** pl061_irq_mask(): the line's IE bit off. */
  private irqMask(d: IrqData): void {
    const mask = 1 << (d.hwirq % PL061_GPIO_NR);
    this.base.writeb(PL061_REG.IE, this.base.readb(PL061_REG.IE) & ~mask);
  }

  /** pl061_irq_unmask() */
  private irqUnmask(d: IrqData): void {
    const mask = 1 << (d.hwirq % PL061_GPIO_NR);
    this.base.writeb(PL061_REG.IE, this.base.readb(PL061_REG.IE) | mask);
  }

  /** pl061_irq_ack(): an edge is cleared in GPIOIC (a level goes when the signal does). */
  private irqAck(d: IrqData): void {
    this.base.writeb(PL061_REG.IC, 1 << (d.hwirq % PL061_GPIO_NR));
  }

  /** pl061_irq_handler(): the chained handler — each pending line handed to its flow. */
  handleParent(gc: GpioChip, desc: IrqDesc): void {
    chainedIrqEnter(desc.chip, desc);
    const pending = this.base.readb(PL061_REG.MIS);
    for (let offset = 0; offset < PL061_GPIO_NR; offset++) {
      if (pending & (1 << offset) && gc.domain) {
        this.env.irq.genericHandleDomainIrq(gc.domain, offset);
      }
    }
    chainedIrqExit(desc.chip, desc);
  }
}

/** gpio-pl061.c: pl061_ids[] */
export const PL061_IDS: readonly AmbaId[] = [
  { id: 0x00041061, mask: 0x000fffff },
  { id: 0, mask: 0 },
];

/** The `pl061_gpio` AMBA driver. */
export function pl061Driver(env: BoardDriverEnv): AmbaDriver {
  const gpiolib = new GpioLib(env.irq);
  return new AmbaDriver({
    name: "pl061_gpio",
    idTable: PL061_IDS,
    /** gpio-pl061.c: pl061_probe() */
    probe: (adev) => {
      const base = devmIoremapResource(adev, adev.res);
      base.writeb(PL061_REG.IE, 0);
      const irq = adev.irq[0] ?? 0;
      if (!irq) adev.log.warn("IRQ support disabled");
      const pl061 = new Pl061Gpio(env, adev, base, irq);
      // devm_gpiochip_add_data()
      pl061.gc = gpiolib.add(
        adev,
        PL061_GPIO_NR,
        {
          getDirection: (o) => pl061.getDirection(o),
          directionInput: (o) => pl061.directionInput(o),
          directionOutput: (o, v) => pl061.directionOutput(o, v),
          get: (o) => pl061.get(o),
          set: (o, v) => pl061.set(o, v),
        },
        {
          chip: pl061.irqChip,
          parentHandler: (gc, desc) => pl061.handleParent(gc, desc),
          parentHandlerName: "pl061_irq_handler",
          parents: [irq],
        },
      );
      const gc = pl061.gc;
      adev.devres.add("devm_gpio_chip_release", () => gpiolib.remove(gc));
      adev.driverData = pl061;
      adev.log.info("PL061 GPIO chip registered");
    },
  });
}

/** The gpiochip of a bound PL061 (ENODEV when the device is not bound to pl061_gpio). */
export function pl061Gpiochip(adev: AmbaDevice): GpioChip {
  const gc = drvdata(adev, Pl061Gpio).gc;
  if (!gc) throw new Error("unreachable: a bound PL061 has its gpiochip");
  return gc;
}
