/**
 * The system bus: the physical address map of RAM banks and MMIO windows, and the one place
 * where an address is decoded.
 *
 * CPU accesses (from the kernel model) and DMA (from device ports, after any IOMMU) both land
 * here. An address that no region decodes is a `BusError`, never a silent zero.
 */

import { BusError } from "./bus-error.js";
import type { PhysicalMemory } from "./physical-memory.js";

export type AccessSize = 1 | 2 | 4;

/** What a device exposes on the bus: register reads and writes at an offset in its window. */
export interface MmioHandler {
  /** Reads `size` bytes at `offset`; return a `BusError` to answer SLVERR. */
  mmioRead(offset: number, size: AccessSize, window: number): number | BusError;
  /** Writes `size` bytes at `offset`; return a `BusError` to answer SLVERR. */
  mmioWrite(offset: number, size: AccessSize, value: number, window: number): BusError | undefined;
}

export type BusRegion =
  | { readonly kind: "ram"; readonly name: string; readonly base: number; readonly size: number }
  | {
      readonly kind: "mmio";
      readonly name: string;
      readonly base: number;
      readonly size: number;
      readonly handler: MmioHandler;
      /** Which of the device's windows this is (the index of its `reg` entry). */
      readonly window: number;
    };

export class SystemBus {
  private regions: BusRegion[] = [];
  private last: BusRegion | undefined;

  constructor(readonly memory: PhysicalMemory) {}

  /** Every region, sorted by base address. */
  get map(): readonly BusRegion[] {
    return this.regions;
  }

  addRam(name: string, base: number, size: number): void {
    this.insert({ kind: "ram", name, base, size });
  }

  addMmio(name: string, base: number, size: number, handler: MmioHandler, window = 0): void {
    this.insert({ kind: "mmio", name, base, size, handler, window });
  }

  private insert(region: BusRegion): void {
    if (!(region.size > 0) || region.base < 0 || !Number.isSafeInteger(region.base + region.size)) {
      throw new RangeError(`bus: bad region ${region.name} at 0x${region.base.toString(16)}`);
    }
    for (const r of this.regions) {
      if (region.base < r.base + r.size && r.base < region.base + region.size) {
        throw new RangeError(
          `bus: ${region.name} [0x${region.base.toString(16)}+0x${region.size.toString(16)}] ` +
            `overlaps ${r.name} [0x${r.base.toString(16)}+0x${r.size.toString(16)}]`,
        );
      }
    }
    this.regions = [...this.regions, region].sort((a, b) => a.base - b.base);
    this.last = undefined;
  }

  /** The region decoding `addr`, or undefined. */
  regionAt(addr: number): BusRegion | undefined {
    const last = this.last;
    if (last && addr >= last.base && addr < last.base + last.size) return last;
    const rs = this.regions;
    let lo = 0;
    let hi = rs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = rs[mid]!;
      if (addr < r.base) hi = mid - 1;
      else if (addr >= r.base + r.size) lo = mid + 1;
      else {
        this.last = r;
        return r;
      }
    }
    return undefined;
  }

  /** True when `[addr, addr+length)` lies entirely inside one RAM bank. */
  isRam(addr: number, length: number): boolean {
    const r = this.regionAt(addr);
    return r !== undefined && r.kind === "ram" && addr + length <= r.base + r.size;
  }

  /** A single register-sized access. Throws `BusError` when nothing answers. */
  read(addr: number, size: AccessSize, master = "cpu"): number {
    const v = this.tryRead(addr, size, master);
    if (typeof v !== "number") throw v;
    return v;
  }

  write(addr: number, size: AccessSize, value: number, master = "cpu"): void {
    const e = this.tryWrite(addr, size, value, master);
    if (e) throw e;
  }

  /** A 64-bit access as two 32-bit halves, low word first (as an AArch64 `ldr x` to MMIO). */
  read64(addr: number, master = "cpu"): bigint {
    const lo = this.read(addr, 4, master);
    const hi = this.read(addr + 4, 4, master);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  write64(addr: number, value: bigint, master = "cpu"): void {
    this.write(addr, 4, Number(value & 0xffff_ffffn), master);
    this.write(addr + 4, 4, Number((value >> 32n) & 0xffff_ffffn), master);
  }

  tryRead(addr: number, size: AccessSize, master: string): number | BusError {
    const r = this.regionAt(addr);
    if (!r || addr + size > r.base + r.size) return this.unmapped(addr, size, false, master);
    if (r.kind === "ram") return this.memory.load(addr, size);
    return r.handler.mmioRead(addr - r.base, size, r.window);
  }

  tryWrite(addr: number, size: AccessSize, value: number, master: string): BusError | undefined {
    const r = this.regionAt(addr);
    if (!r || addr + size > r.base + r.size) return this.unmapped(addr, size, true, master);
    if (r.kind === "ram") {
      this.memory.store(addr, size, value);
      return undefined;
    }
    return r.handler.mmioWrite(addr - r.base, size, value, r.window);
  }

  /**
   * Reads a run of bytes. RAM is copied directly; an MMIO window is read register by register
   * (4-byte accesses where aligned, else bytes). Nothing is read unless the whole run decodes.
   */
  tryReadBytes(addr: number, dst: Uint8Array, master: string): BusError | undefined {
    if (this.isRam(addr, dst.length)) {
      this.memory.read(addr, dst);
      return undefined;
    }
    const bad = this.checkDecodes(addr, dst.length, false, master);
    if (bad) return bad;
    let i = 0;
    while (i < dst.length) {
      const size: AccessSize = (addr + i) % 4 === 0 && dst.length - i >= 4 ? 4 : 1;
      const v = this.tryRead(addr + i, size, master);
      if (typeof v !== "number") return v;
      for (let b = 0; b < size; b++) dst[i + b] = (v >>> (8 * b)) & 0xff;
      i += size;
    }
    return undefined;
  }

  tryWriteBytes(addr: number, src: Uint8Array, master: string): BusError | undefined {
    if (this.isRam(addr, src.length)) {
      this.memory.write(addr, src);
      return undefined;
    }
    const bad = this.checkDecodes(addr, src.length, true, master);
    if (bad) return bad;
    let i = 0;
    while (i < src.length) {
      const size: AccessSize = (addr + i) % 4 === 0 && src.length - i >= 4 ? 4 : 1;
      let v = 0;
      for (let b = size - 1; b >= 0; b--) v = v * 256 + src[i + b]!;
      const e = this.tryWrite(addr + i, size, v, master);
      if (e) return e;
      i += size;
    }
    return undefined;
  }

  readBytes(addr: number, length: number, master = "cpu"): Uint8Array {
    const dst = new Uint8Array(length);
    const e = this.tryReadBytes(addr, dst, master);
    if (e) throw e;
    return dst;
  }

  writeBytes(addr: number, src: Uint8Array, master = "cpu"): void {
    const e = this.tryWriteBytes(addr, src, master);
    if (e) throw e;
  }

  private checkDecodes(
    addr: number,
    length: number,
    write: boolean,
    master: string,
  ): BusError | undefined {
    let a = addr;
    const end = addr + length;
    while (a < end) {
      const r = this.regionAt(a);
      if (!r) return this.unmapped(a, Math.min(end - a, 4), write, master);
      a = r.base + r.size;
    }
    return undefined;
  }

  private unmapped(addr: number, size: number, write: boolean, master: string): BusError {
    return new BusError({ reason: "unmapped", address: addr, size, write, master });
  }
}
