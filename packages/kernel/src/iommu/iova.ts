/**
 * drivers/iommu/iova.c: the IOVA allocator of the DMA-API domains. Allocated ranges are kept
 * in address order behind an anchor node above the address space; an allocation walks
 * downwards from a cached node (one for the 32-bit space, one above it) to the first gap that
 * fits below the limit, aligned to the allocation's size, so IOVAs come out top-down from the
 * device's DMA mask and deterministically. Sizes below 2^(IOVA_RANGE_CACHE_MAX_SIZE − 1) pages
 * are rounded up to a power of two and recycled through per-order "magazine" caches (one CPU's
 * `loaded`/`prev` pair and a global depot), which is why a just-freed IOVA is handed out again.
 *
 * Caveat: one CPU. The rbtree is a sorted array (same order, same neighbours, so the same
 * results); iova_find_limit() picks the first range ending at or above the limit, which is what
 * the kernel's descent finds for non-overlapping ranges. The depot trimming work runs on the
 * virtual clock when one is given, otherwise never.
 */

import type { VirtualClock } from "@vfio-lab/hw-soc";

/** log2 of the largest cached range size, in pages, plus one. */
export const IOVA_RANGE_CACHE_MAX_SIZE = 6;
/** PFNs per magazine (so that a magazine is 1 KiB). */
export const IOVA_MAG_SIZE = 127;
/** How long a surplus depot magazine waits before it is freed. */
export const IOVA_DEPOT_DELAY_NS = 100_000_000;
/** The anchor sits above every usable address (`IOVA_ANCHOR` is ~0UL). */
const IOVA_ANCHOR = Number.POSITIVE_INFINITY;
const NUM_ONLINE_CPUS = 1;

/** `struct iova`: an allocated (or reserved) range of page frames, inclusive. */
export class Iova {
  constructor(
    public pfnLo: number,
    public pfnHi: number,
  ) {}
}

/** The number of bits needed for `x` (fls_long()): 0 for 0. */
export function flsLong(x: number): number {
  if (x <= 0) return 0;
  if (x < 2 ** 32) return 32 - Math.clz32(x);
  return 32 + flsLong(Math.floor(x / 2 ** 32));
}

/** order_base_2() */
function orderBase2(n: number): number {
  return n <= 1 ? 0 : flsLong(n - 1);
}

/** roundup_pow_of_two() */
function roundupPowOfTwo(n: number): number {
  return 2 ** orderBase2(n);
}

class IovaMagazine {
  size = 0;
  readonly pfns = new Array<number>(IOVA_MAG_SIZE).fill(0);

  get full(): boolean {
    return this.size === IOVA_MAG_SIZE;
  }

  get empty(): boolean {
    return this.size === 0;
  }

  /** iova_magazine_pop(): the newest PFN at or below `limitPfn`, or 0. */
  pop(limitPfn: number): number {
    let i = this.size - 1;
    // Only fall back to the tree when no cached PFN fits at all.
    while (this.pfns[i]! > limitPfn) {
      if (i === 0) return 0;
      i--;
    }
    const pfn = this.pfns[i]!;
    this.size--;
    this.pfns[i] = this.pfns[this.size]!;
    return pfn;
  }

  push(pfn: number): void {
    this.pfns[this.size++] = pfn;
  }
}

/** `struct iova_rcache` with the one CPU's `iova_cpu_rcache`. */
class IovaRcache {
  loaded: IovaMagazine | null = null;
  prev: IovaMagazine | null = null;
  /** Full magazines, newest last. */
  readonly depot: IovaMagazine[] = [];
  workPending = false;
}

export interface IovaDomainOptions {
  /** Runs the depot trimming work (iova_depot_work_func()) after IOVA_DEPOT_DELAY. */
  readonly clock?: VirtualClock;
}

export class IovaDomain {
  readonly granule: number;
  readonly startPfn: number;
  /** The first PFN above the 32-bit space. */
  readonly dma32bitPfn: number;
  /** The smallest 32-bit allocation known to fail (reset when a 32-bit range is freed). */
  max32AllocSize: number;
  /** Allocated ranges in address order; the anchor is always last. */
  private readonly ranges: Iova[];
  private readonly anchor: Iova;
  private cachedNode: Iova;
  private cached32Node: Iova;
  rcaches: IovaRcache[] | null = null;
  private readonly clock: VirtualClock | undefined;

  /** iova.c: init_iova_domain() */
  constructor(granule: number, startPfn: number, opts: IovaDomainOptions = {}) {
    if (!(granule > 0 && granule <= 4096 && (granule & (granule - 1)) === 0)) {
      throw new RangeError(`init_iova_domain: bad granule ${granule}`);
    }
    this.granule = granule;
    this.startPfn = startPfn;
    this.dma32bitPfn = 2 ** (32 - this.shift);
    this.max32AllocSize = this.dma32bitPfn;
    this.anchor = new Iova(IOVA_ANCHOR, IOVA_ANCHOR);
    this.ranges = [this.anchor];
    this.cachedNode = this.anchor;
    this.cached32Node = this.anchor;
    this.clock = opts.clock;
  }

  /** iova_shift() */
  get shift(): number {
    return flsLong(this.granule) - 1;
  }

  /** iova_pfn() */
  iovaPfn(addr: number): number {
    return Math.floor(addr / this.granule);
  }

  /** iova_offset() */
  iovaOffset(addr: number): number {
    return addr % this.granule;
  }

  /** iova_align(): `size` rounded up to the granule. */
  iovaAlign(size: number): number {
    return Math.ceil(size / this.granule) * this.granule;
  }

  /** The allocated ranges in address order (anchor excluded), for tests and pictures. */
  allocated(): readonly Iova[] {
    return this.ranges.slice(0, -1);
  }

  /** iova_domain_init_rcaches() */
  initRcaches(): void {
    this.rcaches = Array.from({ length: IOVA_RANGE_CACHE_MAX_SIZE }, () => new IovaRcache());
  }

  // -------------------------------------------------------------------------------------------
  // The ordered range set (the kernel's rbtree)

  private indexOf(iova: Iova): number {
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.ranges[mid]!;
      if (r === iova) return mid;
      if (r.pfnLo < iova.pfnLo) lo = mid + 1;
      else hi = mid - 1;
    }
    throw new RangeError(`iova [${iova.pfnLo}, ${iova.pfnHi}] is not in the tree`);
  }

  private rbPrev(iova: Iova): Iova | null {
    return this.ranges[this.indexOf(iova) - 1] ?? null;
  }

  private rbNext(iova: Iova): Iova | null {
    return this.ranges[this.indexOf(iova) + 1] ?? null;
  }

  private insert(iova: Iova): void {
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ranges[mid]!.pfnLo < iova.pfnLo) lo = mid + 1;
      else hi = mid;
    }
    this.ranges.splice(lo, 0, iova);
  }

  /** private_find_iova(): the range holding `pfn`. */
  private privateFindIova(pfn: number): Iova | undefined {
    let lo = 0;
    let hi = this.ranges.length - 2;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.ranges[mid]!;
      if (pfn < r.pfnLo) hi = mid - 1;
      else if (pfn > r.pfnHi) lo = mid + 1;
      else return r;
    }
    return undefined;
  }

  /** find_iova() */
  findIova(pfn: number): Iova | undefined {
    return this.privateFindIova(pfn);
  }

  private getCachedRbnode(limitPfn: number): Iova {
    return limitPfn <= this.dma32bitPfn ? this.cached32Node : this.cachedNode;
  }

  /** __cached_rbnode_insert_update() */
  private cachedRbnodeInsertUpdate(iova: Iova): void {
    if (iova.pfnHi < this.dma32bitPfn) this.cached32Node = iova;
    else this.cachedNode = iova;
  }

  /** __cached_rbnode_delete_update(): must run while `free` is still in the tree. */
  private cachedRbnodeDeleteUpdate(free: Iova): void {
    let cached = this.cached32Node;
    if (free === cached || (free.pfnHi < this.dma32bitPfn && free.pfnLo >= cached.pfnLo)) {
      this.cached32Node = this.rbNext(free)!;
    }
    if (free.pfnLo < this.dma32bitPfn) this.max32AllocSize = this.dma32bitPfn;
    cached = this.cachedNode;
    if (free.pfnLo >= cached.pfnLo) this.cachedNode = this.rbNext(free)!;
  }

  /** iova_find_limit(): where a walk that must stay below `limitPfn` starts. */
  private iovaFindLimit(limitPfn: number): Iova {
    if (limitPfn > this.dma32bitPfn) return this.anchor;
    return this.ranges.find((r) => r.pfnHi >= limitPfn) ?? this.anchor;
  }

  /** remove_iova() */
  private removeIova(iova: Iova): void {
    this.cachedRbnodeDeleteUpdate(iova);
    this.ranges.splice(this.indexOf(iova), 1);
  }

  /**
   * __alloc_and_insert_iova_range(): walks down from the cached node for a gap of `size` PFNs
   * below `limitPfn` (exclusive); retries from the limit once if the cached node skipped space.
   */
  private allocAndInsertIovaRange(size: number, limitPfn: number, sizeAligned: boolean) {
    const alignShift = sizeAligned ? flsLong(size - 1) : 0;
    const align = (pfn: number) =>
      pfn < 0 ? pfn : Math.floor(pfn / 2 ** alignShift) * 2 ** alignShift;
    let highPfn = limitPfn;
    let lowPfn = this.startPfn;

    if (limitPfn <= this.dma32bitPfn && size >= this.max32AllocSize) return null;

    let curr: Iova | null = this.getCachedRbnode(limitPfn);
    const retryPfn = curr.pfnHi;
    let newPfn: number;
    for (;;) {
      do {
        highPfn = Math.min(highPfn, curr!.pfnLo);
        newPfn = align(highPfn - size);
        curr = this.rbPrev(curr!);
      } while (curr && newPfn <= curr.pfnHi && newPfn >= lowPfn);

      if (highPfn < size || newPfn < lowPfn) {
        if (lowPfn === this.startPfn && retryPfn < limitPfn) {
          highPfn = limitPfn;
          lowPfn = retryPfn + 1;
          curr = this.iovaFindLimit(limitPfn);
          continue;
        }
        this.max32AllocSize = size;
        return null;
      }
      break;
    }
    const iova = new Iova(newPfn, newPfn + size - 1);
    this.insert(iova);
    this.cachedRbnodeInsertUpdate(iova);
    return iova;
  }

  /**
   * alloc_iova(): `size` PFNs ending at or below `limitPfn` (inclusive), searching top-down;
   * aligned to the size rounded up to a power of two when `sizeAligned`. Null when full.
   */
  allocIova(size: number, limitPfn: number, sizeAligned: boolean): Iova | null {
    return this.allocAndInsertIovaRange(size, limitPfn + 1, sizeAligned);
  }

  /** free_iova(): frees the range holding `pfn`, if any. */
  freeIova(pfn: number): void {
    const iova = this.privateFindIova(pfn);
    if (iova) this.removeIova(iova);
  }

  /** reserve_iova(): keeps [pfnLo, pfnHi] out of every allocation, merging with overlaps. */
  reserveIova(pfnLo: number, pfnHi: number): Iova {
    let overlap = false;
    for (let i = 0; i < this.ranges.length - 1; i++) {
      const r = this.ranges[i]!;
      if (pfnLo <= r.pfnHi && pfnHi >= r.pfnLo) {
        if (pfnLo < r.pfnLo) r.pfnLo = pfnLo;
        if (pfnHi > r.pfnHi) pfnLo = r.pfnHi + 1;
        if (pfnLo >= r.pfnLo && pfnHi <= r.pfnHi) return r;
        overlap = true;
      } else if (overlap) {
        break;
      }
    }
    const iova = new Iova(pfnLo, pfnHi);
    this.insert(iova);
    return iova;
  }

  /**
   * alloc_iova_fast(): a cached range when one fits below the limit, else a tree allocation;
   * on failure with `flushRcache`, every cached range is freed and the tree tried once more.
   * Returns the first PFN, or 0 when nothing fits.
   */
  allocIovaFast(size: number, limitPfn: number, flushRcache: boolean): number {
    // Cached ranges must come back in the same power-of-two size they were freed in.
    if (size < 2 ** (IOVA_RANGE_CACHE_MAX_SIZE - 1)) size = roundupPowOfTwo(size);
    const cached = this.iovaRcacheGet(size, limitPfn + 1);
    if (cached) return cached;
    for (;;) {
      const iova = this.allocIova(size, limitPfn, true);
      if (iova) return iova.pfnLo;
      if (!flushRcache) return 0;
      flushRcache = false;
      this.freeCpuCachedIovas();
      this.freeGlobalCachedIovas();
    }
  }

  /** free_iova_fast(): into the range cache when it has room, else back to the tree. */
  freeIovaFast(pfn: number, size: number): void {
    if (this.iovaRcacheInsert(pfn, size)) return;
    this.freeIova(pfn);
  }

  /** put_iova_domain() */
  putIovaDomain(): void {
    this.rcaches = null;
    this.ranges.splice(0, this.ranges.length - 1);
    this.cachedNode = this.anchor;
    this.cached32Node = this.anchor;
  }

  // -------------------------------------------------------------------------------------------
  // Range caches

  private iovaMagazineFreePfns(mag: IovaMagazine | null): void {
    if (!mag) return;
    for (let i = 0; i < mag.size; i++) {
      const iova = this.privateFindIova(mag.pfns[i]!);
      if (iova) this.removeIova(iova);
    }
    mag.size = 0;
  }

  /** __iova_rcache_insert() */
  private iovaRcacheInsert(pfn: number, size: number): boolean {
    const logSize = orderBase2(size);
    if (!this.rcaches || logSize >= IOVA_RANGE_CACHE_MAX_SIZE) return false;
    const rc = this.rcaches[logSize]!;
    if (rc.loaded && !rc.loaded.full) {
      // room in the loaded magazine
    } else if (rc.prev && !rc.prev.full) {
      [rc.prev, rc.loaded] = [rc.loaded, rc.prev];
    } else {
      const mag = new IovaMagazine();
      if (rc.loaded && !rc.prev) {
        rc.prev = rc.loaded;
      } else if (rc.loaded) {
        rc.depot.push(rc.loaded);
        this.scheduleDepotWork(rc);
      }
      rc.loaded = mag;
    }
    rc.loaded!.push(pfn);
    return true;
  }

  /** iova_rcache_get() + __iova_rcache_get() */
  private iovaRcacheGet(size: number, limitPfn: number): number {
    const logSize = orderBase2(size);
    if (!this.rcaches || logSize >= IOVA_RANGE_CACHE_MAX_SIZE) return 0;
    const rc = this.rcaches[logSize]!;
    let hasPfn = false;
    if (rc.loaded && !rc.loaded.empty) {
      hasPfn = true;
    } else if (rc.prev && !rc.prev.empty) {
      [rc.prev, rc.loaded] = [rc.loaded, rc.prev];
      hasPfn = true;
    } else if (rc.depot.length > 0) {
      rc.loaded = rc.depot.pop()!;
      hasPfn = true;
    }
    return hasPfn ? rc.loaded!.pop(limitPfn - size) : 0;
  }

  /** free_cpu_cached_iovas() */
  private freeCpuCachedIovas(): void {
    for (const rc of this.rcaches ?? []) {
      this.iovaMagazineFreePfns(rc.loaded);
      this.iovaMagazineFreePfns(rc.prev);
    }
  }

  /** free_global_cached_iovas() */
  private freeGlobalCachedIovas(): void {
    for (const rc of this.rcaches ?? []) {
      while (rc.depot.length > 0) this.iovaMagazineFreePfns(rc.depot.pop()!);
    }
  }

  /** schedule_delayed_work(&rcache->work, IOVA_DEPOT_DELAY) */
  private scheduleDepotWork(rc: IovaRcache): void {
    if (!this.clock || rc.workPending) return;
    rc.workPending = true;
    this.clock.schedule(IOVA_DEPOT_DELAY_NS, "iova_depot_work_func", () => {
      rc.workPending = false;
      if (this.rcaches === null || rc.depot.length <= NUM_ONLINE_CPUS) return;
      // The magazine on top of the depot goes back to the tree, one per delay.
      this.iovaMagazineFreePfns(rc.depot.pop()!);
      this.scheduleDepotWork(rc);
    });
  }
}
