/**
 * `UserMmio`: a device's registers as a VMM sees them after mmap() of a VFIO region (or of a UIO
 * map) — `*(volatile u32 *)(base + off)` in C. Each access is a CPU load or store through the
 * process's page tables: the VMA is VM_PFNMAP, its PTE points at the device's MMIO page, and the
 * access reaches the device's register handler over the system bus, with no syscall and no
 * driver in between (ARCHITECTURE.md §4, "MMIO from user space").
 *
 * Caveat: the model has no CPU, so an access is the address space's user copy of 1, 2 or 4
 * bytes (what a load of that width moves); a bus error comes back as EFAULT where Linux would
 * deliver SIGBUS.
 */

import type { Process } from "@vfio-lab/kernel";

export class UserMmio {
  /** One reusable 4-byte buffer: an access must not allocate (the benchmark's inner loop). */
  private readonly buf = new Uint8Array(4);
  private readonly view = new DataView(this.buf.buffer);
  private readonly b2 = this.buf.subarray(0, 2);
  private readonly b1 = this.buf.subarray(0, 1);

  constructor(
    readonly process: Process,
    /** The user address the region is mapped at. */
    readonly va: number,
    /** The mapping's length in bytes. */
    readonly size: number,
  ) {}

  private at(off: number, width: number): number {
    if (!Number.isInteger(off) || off < 0 || off + width > this.size) {
      throw new RangeError(`offset 0x${off.toString(16)} outside the ${this.size}-byte mapping`);
    }
    return this.va + off;
  }

  /** readl(): a 32-bit little-endian load. */
  readl(off: number): number {
    this.process.mm.readUser(this.at(off, 4), this.buf);
    return this.view.getUint32(0, true);
  }

  /** writel(): a 32-bit little-endian store. */
  writel(off: number, value: number): void {
    this.view.setUint32(0, value >>> 0, true);
    this.process.mm.writeUser(this.at(off, 4), this.buf);
  }

  /** readw(): a 16-bit load. */
  readw(off: number): number {
    this.process.mm.readUser(this.at(off, 2), this.b2);
    return this.view.getUint16(0, true);
  }

  /** readb(): an 8-bit load. */
  readb(off: number): number {
    this.process.mm.readUser(this.at(off, 1), this.b1);
    return this.buf[0]!;
  }

  /** writeb(): an 8-bit store. */
  writeb(off: number, value: number): void {
    this.buf[0] = value & 0xff;
    this.process.mm.writeUser(this.at(off, 1), this.b1);
  }

  /** munmap(2) of the mapping. */
  unmap(): void {
    this.process.munmap(this.va, this.size);
  }
}
