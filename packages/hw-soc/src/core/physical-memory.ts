/**
 * Sparse physical memory: 4 KiB frames, allocated on first write.
 *
 * A read of a frame that was never written returns zeros without allocating, so a board can
 * declare a terabyte of RAM and pay only for the pages that are touched. Frames are carved out
 * of 256 KiB slabs to keep the per-frame overhead small.
 *
 * This is storage only: which addresses are RAM at all is the system bus's business.
 * Addresses are JS numbers (exact up to 2^53, far above any 48-bit physical address).
 */

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
const PAGE_MASK = PAGE_SIZE - 1;
const FRAMES_PER_SLAB = 64;

export class PhysicalMemory {
  private readonly frames = new Map<number, Uint8Array>();
  private slab: ArrayBuffer | null = null;
  private slabUsed = FRAMES_PER_SLAB;
  private static readonly ZERO = new Uint8Array(PAGE_SIZE);

  /** Number of frames that have been written (and therefore hold storage). */
  get allocatedFrames(): number {
    return this.frames.size;
  }

  /** The frame's bytes if it was ever written, else undefined (it reads as zeros). */
  peekFrame(pfn: number): Uint8Array | undefined {
    return this.frames.get(pfn);
  }

  /** The frame's bytes for reading: a shared all-zero page for a frame never written. */
  frameForRead(pfn: number): Uint8Array {
    return this.frames.get(pfn) ?? PhysicalMemory.ZERO;
  }

  /** The frame's bytes for writing, allocating (zero-filled) on first use. */
  frameForWrite(pfn: number): Uint8Array {
    let frame = this.frames.get(pfn);
    if (!frame) {
      if (this.slabUsed === FRAMES_PER_SLAB) {
        this.slab = new ArrayBuffer(FRAMES_PER_SLAB * PAGE_SIZE);
        this.slabUsed = 0;
      }
      frame = new Uint8Array(this.slab!, this.slabUsed * PAGE_SIZE, PAGE_SIZE);
      this.slabUsed++;
      this.frames.set(pfn, frame);
    }
    return frame;
  }

  /** Copies `dst.length` bytes starting at physical `addr` into `dst`. */
  read(addr: number, dst: Uint8Array): void {
    let done = 0;
    while (done < dst.length) {
      const a = addr + done;
      const off = a & PAGE_MASK;
      const n = Math.min(PAGE_SIZE - off, dst.length - done);
      const frame = this.frames.get(Math.floor(a / PAGE_SIZE));
      if (frame) dst.set(frame.subarray(off, off + n), done);
      else dst.fill(0, done, done + n);
      done += n;
    }
  }

  /** Copies `src` to physical memory starting at `addr`. */
  write(addr: number, src: Uint8Array): void {
    let done = 0;
    while (done < src.length) {
      const a = addr + done;
      const off = a & PAGE_MASK;
      const n = Math.min(PAGE_SIZE - off, src.length - done);
      this.frameForWrite(Math.floor(a / PAGE_SIZE)).set(src.subarray(done, done + n), off);
      done += n;
    }
  }

  /**
   * Copies `length` bytes from `src` to `dst` (physical) with memmove semantics: frame to frame
   * when the ranges are disjoint, through a bounce buffer when they overlap.
   */
  copy(dst: number, src: number, length: number): void {
    if (dst < src + length && src < dst + length && dst !== src) {
      const tmp = new Uint8Array(length);
      this.read(src, tmp);
      this.write(dst, tmp);
      return;
    }
    let done = 0;
    while (done < length) {
      const s = src + done;
      const d = dst + done;
      const so = s & PAGE_MASK;
      const dof = d & PAGE_MASK;
      const n = Math.min(PAGE_SIZE - so, PAGE_SIZE - dof, length - done);
      const from = this.frameForRead(Math.floor(s / PAGE_SIZE));
      this.frameForWrite(Math.floor(d / PAGE_SIZE)).set(from.subarray(so, so + n), dof);
      done += n;
    }
  }

  /** Little-endian load of 1, 2 or 4 bytes (unsigned). */
  load(addr: number, size: 1 | 2 | 4): number {
    const off = addr & PAGE_MASK;
    if (off + size > PAGE_SIZE) {
      const tmp = new Uint8Array(size);
      this.read(addr, tmp);
      let v = 0;
      for (let i = size - 1; i >= 0; i--) v = v * 256 + tmp[i]!;
      return v;
    }
    const f = this.frames.get(Math.floor(addr / PAGE_SIZE));
    if (!f) return 0;
    if (size === 1) return f[off]!;
    if (size === 2) return f[off]! | (f[off + 1]! << 8);
    return (f[off]! | (f[off + 1]! << 8) | (f[off + 2]! << 16) | (f[off + 3]! << 24)) >>> 0;
  }

  /** Little-endian store of 1, 2 or 4 bytes. */
  store(addr: number, size: 1 | 2 | 4, value: number): void {
    const off = addr & PAGE_MASK;
    if (off + size > PAGE_SIZE) {
      const tmp = new Uint8Array(size);
      for (let i = 0; i < size; i++) tmp[i] = (value >>> (8 * i)) & 0xff;
      this.write(addr, tmp);
      return;
    }
    const f = this.frameForWrite(Math.floor(addr / PAGE_SIZE));
    f[off] = value & 0xff;
    if (size >= 2) f[off + 1] = (value >>> 8) & 0xff;
    if (size === 4) {
      f[off + 2] = (value >>> 16) & 0xff;
      f[off + 3] = (value >>> 24) & 0xff;
    }
  }
}
