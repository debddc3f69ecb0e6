/**
 * Sparse physical memory: 4 KiB frames, allocated on first write.
 *
 * A read of a frame that was never written returns zeros without allocating, so a board can
 * declare a terabyte of RAM and pay only for the pages that are touched. Frames are carved out
 * of 2 MiB slabs, in allocation order, so the per-frame overhead is small and frames written one
 * after another sit side by side (a long DMA copy then moves whole slabs with one `set()`).
 *
 * This is storage only: which addresses are RAM at all is the system bus's business.
 * Addresses are JS numbers (exact up to 2^53, far above any 48-bit physical address).
 *
 * @packageDocumentation
 */

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
const PAGE_MASK = PAGE_SIZE - 1;
const FRAMES_PER_SLAB = 512;
const SECTION_FRAMES = 32;

export class PhysicalMemory {
  /**
   * Frames by 128 KiB section (32 frames: small enough that a sparse 1 TiB board stays cheap): one map lookup per section, then an array index.
   * The last section used for reading and for writing is cached, so a sequential sweep (a DMA
   * burst, a copy) costs an array index per page.
   */
  private readonly sections = new Map<number, (Uint8Array | undefined)[]>();
  private count = 0;
  private readKey = -1;
  private readSection: (Uint8Array | undefined)[] | undefined;
  private writeKey = -1;
  private writeSection: (Uint8Array | undefined)[] = [];
  private slab: ArrayBuffer | null = null;
  private slabUsed = FRAMES_PER_SLAB;
  /** Storage of discarded frames, reused (zeroed) before a new slab is carved. */
  private readonly spare: Uint8Array[] = [];
  private static readonly ZERO = new Uint8Array(PAGE_SIZE);

  /** Number of frames that have been written (and therefore hold storage). */
  get allocatedFrames(): number {
    return this.count;
  }

  /** The frame's bytes if it was ever written, else undefined (it reads as zeros). */
  peekFrame(pfn: number): Uint8Array | undefined {
    const key = Math.floor(pfn / SECTION_FRAMES);
    if (key !== this.readKey) {
      this.readKey = key;
      this.readSection = this.sections.get(key);
    }
    return this.readSection?.[pfn % SECTION_FRAMES];
  }

  /** The frame's bytes for reading: a shared all-zero page for a frame never written. */
  frameForRead(pfn: number): Uint8Array {
    return this.peekFrame(pfn) ?? PhysicalMemory.ZERO;
  }

  /** The frame's bytes for writing, allocating (zero-filled) on first use. */
  frameForWrite(pfn: number): Uint8Array {
    const key = Math.floor(pfn / SECTION_FRAMES);
    if (key !== this.writeKey) {
      let section = this.sections.get(key);
      if (!section) {
        section = new Array<Uint8Array | undefined>(SECTION_FRAMES);
        this.sections.set(key, section);
        if (key === this.readKey) this.readSection = section;
      }
      this.writeKey = key;
      this.writeSection = section;
    }
    const slot = pfn % SECTION_FRAMES;
    let frame = this.writeSection[slot];
    if (!frame) {
      frame = this.newFrame();
      this.writeSection[slot] = frame;
      this.count++;
    }
    return frame;
  }

  /**
   * Drops a frame's storage: it reads as zeros again and costs nothing until written. The page
   * allocator calls this when a frame is freed, so reused pages start clean.
   */
  discardFrame(pfn: number): void {
    const section = this.sections.get(Math.floor(pfn / SECTION_FRAMES));
    const slot = pfn % SECTION_FRAMES;
    const frame = section?.[slot];
    if (!section || !frame) return;
    section[slot] = undefined;
    this.count--;
    this.spare.push(frame);
  }

  private newFrame(): Uint8Array {
    const reused = this.spare.pop();
    if (reused) return reused.fill(0);
    if (this.slabUsed === FRAMES_PER_SLAB) {
      this.slab = new ArrayBuffer(FRAMES_PER_SLAB * PAGE_SIZE);
      this.slabUsed = 0;
    }
    const frame = new Uint8Array(this.slab!, this.slabUsed * PAGE_SIZE, PAGE_SIZE);
    this.slabUsed++;
    return frame;
  }

  /** Copies `dst.length` bytes starting at physical `addr` into `dst`. */
  read(addr: number, dst: Uint8Array): void {
    let done = 0;
    while (done < dst.length) {
      const a = addr + done;
      const off = a & PAGE_MASK;
      const n = Math.min(PAGE_SIZE - off, dst.length - done);
      const frame = this.peekFrame(Math.floor(a / PAGE_SIZE));
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
    const f = this.peekFrame(Math.floor(addr / PAGE_SIZE));
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
