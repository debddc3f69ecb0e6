/**
 * A bus-master port: how a device reaches memory.
 *
 * Every access carries the master's stream ID. Behind an IOMMU each 4 KiB page of the access is
 * translated first; otherwise the address is physical. A transfer is checked whole before any
 * byte moves, so a faulting burst leaves memory untouched, and the fault comes back to the
 * device as a `BusError` for it to report through its own registers and IRQs.
 */

import { BusError } from "./bus-error.js";
import { PAGE_SIZE } from "./physical-memory.js";
import type { SystemBus } from "./system-bus.js";
import type { HwTrace } from "./trace.js";

/** An IOMMU as a master sees it: translate one access, or refuse it. */
export interface Iommu {
  readonly name: string;
  /**
   * Translates the access at `iova` (its 4 KiB page stays valid for the whole page) and returns
   * the physical address, or the `BusError` (reason "iommu") the transaction terminates with.
   */
  translate(streamId: number, iova: number, write: boolean, master: string): number | BusError;
}

const MAX_PAGES_SCRATCH = 64;

/** Whether two resolved runs may share a frame (compared by the span of their frames). */
function framesOverlap(
  a: { pas: Float64Array; count: number },
  b: { pas: Float64Array; count: number },
): boolean {
  let aLo = Number.POSITIVE_INFINITY;
  let aHi = -1;
  let bLo = Number.POSITIVE_INFINITY;
  let bHi = -1;
  for (let i = 0; i < a.count; i++) {
    aLo = Math.min(aLo, a.pas[i]!);
    aHi = Math.max(aHi, a.pas[i]!);
  }
  for (let i = 0; i < b.count; i++) {
    bLo = Math.min(bLo, b.pas[i]!);
    bHi = Math.max(bHi, b.pas[i]!);
  }
  return aLo <= bHi && bLo <= aHi;
}

export class DmaPort {
  private iommuRef: Iommu | null = null;
  private sid: number | null = null;
  private readonly scratchSrc = new Float64Array(MAX_PAGES_SCRATCH);
  private readonly scratchDst = new Float64Array(MAX_PAGES_SCRATCH);
  private readonly scratchGuard = new Float64Array(MAX_PAGES_SCRATCH);

  constructor(
    readonly master: string,
    private readonly bus: SystemBus,
    private readonly trace: HwTrace,
  ) {}

  get iommu(): Iommu | null {
    return this.iommuRef;
  }

  get streamId(): number | null {
    return this.sid;
  }

  /** Places the port behind `iommu` with `streamId` (from the device tree's `iommus`). */
  attach(iommu: Iommu, streamId: number): void {
    this.iommuRef = iommu;
    this.sid = streamId;
  }

  read(addr: number, dst: Uint8Array): BusError | undefined {
    const pages = this.resolve(addr, dst.length, false, this.scratchSrc);
    if (BusError.isInstance(pages)) return this.fail(addr, dst.length, false, pages);
    const e = this.walkPages(addr, dst.length, pages, (pa, off, n) =>
      this.bus.tryReadBytes(pa, dst.subarray(off, off + n), this.master),
    );
    if (e) return this.fail(addr, dst.length, false, e);
    this.traceOk(addr, dst.length, false, pages);
    return undefined;
  }

  write(addr: number, src: Uint8Array): BusError | undefined {
    const pages = this.resolve(addr, src.length, true, this.scratchDst);
    if (BusError.isInstance(pages)) return this.fail(addr, src.length, true, pages);
    const e = this.walkPages(addr, src.length, pages, (pa, off, n) =>
      this.bus.tryWriteBytes(pa, src.subarray(off, off + n), this.master),
    );
    if (e) return this.fail(addr, src.length, true, e);
    this.traceOk(addr, src.length, true, pages);
    return undefined;
  }

  /** 32-bit little-endian read (descriptor fetches, instruction fetches). */
  read32(addr: number): number | BusError {
    const b = new Uint8Array(4);
    const e = this.read(addr, b);
    if (e) return e;
    return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  }

  write32(addr: number, value: number): BusError | undefined {
    const b = new Uint8Array([
      value & 0xff,
      (value >>> 8) & 0xff,
      (value >>> 16) & 0xff,
      value >>> 24,
    ]);
    return this.write(addr, b);
  }

  /**
   * Reads `length` bytes at `src` and writes them at `dst` — a load burst followed by a store
   * burst with nothing observable in between. Source faults win over destination faults, as
   * the load is issued first. The whole source is read before any byte is stored, so
   * overlapping runs behave as memmove. Disjoint RAM-to-RAM runs go frame to frame without a
   * bounce buffer.
   */
  copy(dst: number, src: number, length: number): BusError | undefined {
    const srcPages = this.resolve(src, length, false, this.scratchSrc);
    if (BusError.isInstance(srcPages)) return this.fail(src, length, false, srcPages);
    const dstPages = this.resolve(dst, length, true, this.scratchDst);
    if (BusError.isInstance(dstPages)) return this.fail(dst, length, true, dstPages);
    if (srcPages.allRam && dstPages.allRam && !framesOverlap(srcPages, dstPages)) {
      this.copyRam(dst, src, length, srcPages.pas, dstPages.pas);
    } else {
      const tmp = new Uint8Array(length);
      const e1 = this.walkPages(src, length, srcPages, (pa, off, n) =>
        this.bus.tryReadBytes(pa, tmp.subarray(off, off + n), this.master),
      );
      if (e1) return this.fail(src, length, false, e1);
      const e2 = this.walkPages(dst, length, dstPages, (pa, off, n) =>
        this.bus.tryWriteBytes(pa, tmp.subarray(off, off + n), this.master),
      );
      if (e2) return this.fail(dst, length, true, e2);
    }
    this.traceOk(src, length, false, srcPages);
    this.traceOk(dst, length, true, dstPages);
    return undefined;
  }

  /**
   * `copy` for a master that folds many bursts into one call and must stay indistinguishable
   * from issuing them one by one (the PL330 loop fast path). It moves the bytes only when the
   * order cannot matter: both runs are RAM and no physical frame is both read and written, nor
   * is any frame of `guard` (the master's own microcode) written. Otherwise nothing moves and
   * the answer is "declined", and the master takes its burst-by-burst path. A translation or
   * decode fault comes back as from `copy`, again with nothing moved.
   */
  copyBatch(
    dst: number,
    src: number,
    length: number,
    guard?: { readonly address: number; readonly length: number },
  ): BusError | "declined" | undefined {
    const srcPages = this.resolve(src, length, false, this.scratchSrc);
    if (BusError.isInstance(srcPages)) return this.fail(src, length, false, srcPages);
    const dstPages = this.resolve(dst, length, true, this.scratchDst);
    if (BusError.isInstance(dstPages)) return this.fail(dst, length, true, dstPages);
    if (!srcPages.allRam || !dstPages.allRam) return "declined";
    if (framesMeet(srcPages.pas, srcPages.count, dstPages.pas, dstPages.count)) return "declined";
    if (guard && guard.length > 0) {
      const g = this.resolve(guard.address, guard.length, false, this.scratchGuard);
      if (BusError.isInstance(g) || framesMeet(g.pas, g.count, dstPages.pas, dstPages.count)) {
        return "declined";
      }
    }
    this.copyRamRuns(dst, src, length, srcPages.pas, dstPages.pas);
    this.traceOk(src, length, false, srcPages);
    this.traceOk(dst, length, true, dstPages);
    return undefined;
  }

  /**
   * `copyRam` for source and destination frames known to be distinct: pieces that continue
   * each other in the same backing buffer (frames allocated one after another) are merged,
   * so a long run costs one `set()` per slab rather than one per page.
   */
  private copyRamRuns(
    dst: number,
    src: number,
    length: number,
    spas: Float64Array,
    dpas: Float64Array,
  ): void {
    const memory = this.bus.memory;
    let runS: ArrayBufferLike | null = null;
    let runD: ArrayBufferLike | null = null;
    let runSAt = 0;
    let runDAt = 0;
    let runLen = 0;
    let so = src % PAGE_SIZE;
    let dof = dst % PAGE_SIZE;
    let si = 0;
    let di = 0;
    let done = 0;
    while (done < length) {
      const n = Math.min(PAGE_SIZE - so, PAGE_SIZE - dof, length - done);
      const sf = memory.frameForRead(spas[si]! / PAGE_SIZE);
      const df = memory.frameForWrite(dpas[di]! / PAGE_SIZE);
      const sAt = sf.byteOffset + so;
      const dAt = df.byteOffset + dof;
      if (
        sf.buffer === runS &&
        df.buffer === runD &&
        sAt === runSAt + runLen &&
        dAt === runDAt + runLen
      ) {
        runLen += n;
      } else {
        if (runLen > 0) {
          new Uint8Array(runD!, runDAt, runLen).set(new Uint8Array(runS!, runSAt, runLen));
        }
        runS = sf.buffer;
        runD = df.buffer;
        runSAt = sAt;
        runDAt = dAt;
        runLen = n;
      }
      done += n;
      so += n;
      dof += n;
      if (so === PAGE_SIZE) {
        so = 0;
        si++;
      }
      if (dof === PAGE_SIZE) {
        dof = 0;
        di++;
      }
    }
    if (runLen > 0) {
      new Uint8Array(runD!, runDAt, runLen).set(new Uint8Array(runS!, runSAt, runLen));
    }
  }

  /** Physical address of each page the run touches, translated and decode-checked. */
  private resolve(
    addr: number,
    length: number,
    write: boolean,
    scratch: Float64Array,
  ): { pas: Float64Array; count: number; allRam: boolean } | BusError {
    if (length <= 0) return { pas: scratch, count: 0, allRam: true };
    const first = Math.floor(addr / PAGE_SIZE);
    const last = Math.floor((addr + length - 1) / PAGE_SIZE);
    const count = last - first + 1;
    const pas = count <= MAX_PAGES_SCRATCH ? scratch : new Float64Array(count);
    let allRam = true;
    for (let i = 0; i < count; i++) {
      const va = i === 0 ? addr : (first + i) * PAGE_SIZE;
      let pa: number;
      if (this.iommuRef && this.sid !== null) {
        const t = this.iommuRef.translate(this.sid, va, write, this.master);
        if (typeof t !== "number") return t;
        pa = t;
      } else {
        pa = va;
      }
      const chunk = Math.min(PAGE_SIZE - (va % PAGE_SIZE), addr + length - va);
      const region = this.bus.regionAt(pa);
      if (!region || pa + chunk > region.base + region.size) {
        return new BusError({
          reason: "unmapped",
          address: pa,
          size: chunk,
          write,
          master: this.master,
        });
      }
      if (region.kind !== "ram") allRam = false;
      // Keep the frame base: a granule is at least 4 KiB, so the page offset survives translation.
      pas[i] = pa - (va % PAGE_SIZE);
    }
    return { pas, count, allRam };
  }

  private walkPages(
    addr: number,
    length: number,
    pages: { pas: Float64Array },
    step: (pa: number, offset: number, n: number) => BusError | undefined,
  ): BusError | undefined {
    let done = 0;
    let i = 0;
    while (done < length) {
      const va = addr + done;
      const n = Math.min(PAGE_SIZE - (va % PAGE_SIZE), length - done);
      const e = step(pages.pas[i]! + (va % PAGE_SIZE), done, n);
      if (e) return e;
      done += n;
      i++;
    }
    return undefined;
  }

  private copyRam(
    dst: number,
    src: number,
    length: number,
    spas: Float64Array,
    dpas: Float64Array,
  ): void {
    const memory = this.bus.memory;
    let done = 0;
    while (done < length) {
      const s = src + done;
      const d = dst + done;
      const so = s % PAGE_SIZE;
      const dof = d % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - so, PAGE_SIZE - dof, length - done);
      const sp = spas[Math.floor(s / PAGE_SIZE) - Math.floor(src / PAGE_SIZE)]!;
      const dp = dpas[Math.floor(d / PAGE_SIZE) - Math.floor(dst / PAGE_SIZE)]!;
      memory.copy(dp + dof, sp + so, n);
      done += n;
    }
  }

  private traceOk(
    addr: number,
    length: number,
    write: boolean,
    pages: { pas: Float64Array; count: number },
  ): void {
    if (!this.trace.enabled || pages.count === 0) return;
    this.trace.emit({
      type: "dma",
      master: this.master,
      streamId: this.sid,
      write,
      address: addr,
      length,
      physical: pages.pas[0]! + (addr % PAGE_SIZE),
    });
  }

  private fail(addr: number, length: number, write: boolean, error: BusError): BusError {
    if (this.trace.enabled) {
      this.trace.emit({
        type: "dma-error",
        master: this.master,
        streamId: this.sid,
        write,
        address: addr,
        length,
        reason: error.reason,
      });
    }
    return error;
  }
}

/** True when two lists of frame bases share a frame. */
function framesMeet(a: Float64Array, na: number, b: Float64Array, nb: number): boolean {
  let aLo = Number.POSITIVE_INFINITY;
  let aHi = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < na; i++) {
    const f = a[i]!;
    if (f < aLo) aLo = f;
    if (f > aHi) aHi = f;
  }
  let overlap = false;
  for (let i = 0; i < nb && !overlap; i++) overlap = b[i]! >= aLo && b[i]! <= aHi;
  if (!overlap) return false;
  const frames = new Set<number>();
  for (let i = 0; i < na; i++) frames.add(a[i]!);
  for (let i = 0; i < nb; i++) if (frames.has(b[i]!)) return true;
  return false;
}
