/**
 * asm/io.h through an ioremap() mapping: a driver's 32- and 64-bit register accessors for one
 * MMIO window, all of which go to the SoC's system bus (the kernel never reaches into a device
 * model). A 64-bit access is two 32-bit ones, low word first, as the SMMU allows.
 */

import type { SystemBus } from "@vfio-lab/hw-soc";

export class Iomem {
  constructor(
    private readonly bus: SystemBus,
    /** Physical base of the mapping. */
    readonly base: number,
    readonly size: number,
  ) {}

  private check(off: number, width: number): void {
    if (off < 0 || off + width > this.size) {
      throw new RangeError(
        `iomem: offset 0x${off.toString(16)} outside the 0x${this.size.toString(16)} mapping`,
      );
    }
  }

  /** readl() */
  readl(off: number): number {
    this.check(off, 4);
    return this.bus.read(this.base + off, 4) >>> 0;
  }

  /** writel() */
  writel(value: number, off: number): void {
    this.check(off, 4);
    this.bus.write(this.base + off, 4, value >>> 0);
  }

  /** writeq(): low word, then high word. */
  writeq(value: bigint, off: number): void {
    this.check(off, 8);
    this.bus.write64(this.base + off, value);
  }

  /** readq() */
  readq(off: number): bigint {
    this.check(off, 8);
    return this.bus.read64(this.base + off);
  }
}
