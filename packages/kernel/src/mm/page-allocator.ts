/**
 * The page allocator and `struct page` metadata for the RAM banks the device tree declares
 * (mm/page_alloc.c, include/linux/page-flags.h, include/linux/mm.h page refcounting).
 *
 * Frames are numbered by pfn (`phys >> PAGE_SHIFT`). Allocation is deterministic: the lowest free
 * frame first, from a never-used "bump" range plus a min-heap of frames given back; compaction
 * targets come from the top of RAM downward (mm/compaction.c's free scanner runs from the zone
 * end). Per-page metadata (refcount, FOLL_PIN count, mapcount, flags, rmap owner and index) lives
 * in typed arrays allocated lazily per 512-page section, so a board may declare a terabyte of RAM
 * and pay only for the sections it touches.
 *
 * Caveat: there is no buddy system. `allocPages(order)` carves naturally aligned blocks from the
 * bump range only and never coalesces freed frames; no zones, no watermarks, no per-cpu lists.
 * A refcount underflow or double free is a model invariant broken (Linux would BUG()): it throws
 * `KernelBug`, not a `SysError`.
 */

import { PAGE_SHIFT, PAGE_SIZE, type PhysicalMemory } from "@vfio-lab/hw-soc";
import { SysError } from "../errno.js";

/** Frames per metadata section (one PTE table's worth, as Linux's PMD-sized chunks). */
export const SECTION_PAGES = 512;

/** What a frame is allocated for; decides its flags and whether compaction may move it. */
export type PageKind = "anon" | "shmem" | "kernel" | "pagetable";

/** Page flags (the subset of include/linux/page-flags.h the model needs). */
export const PG = {
  /** Not in the free pool (Linux: !PageBuddy). */
  allocated: 1 << 0,
  /** PageAnon: mapped privately by one address space; the rmap owner is that mm. */
  anon: 1 << 1,
  /** Allocated __GFP_MOVABLE and on the LRU: compaction may migrate it. */
  movable: 1 << 2,
  /** PG_mlocked: mapped by a VM_LOCKED VMA. Migration keeps the flag on the new frame. */
  mlocked: 1 << 3,
  /** PG_dirty. */
  dirty: 1 << 4,
  /** Held by a shmem object's page cache (which owns one reference). */
  pagecache: 1 << 5,
  /** A page-table page (PageTable). */
  pagetable: 1 << 6,
} as const;

const KIND_FLAGS: Record<PageKind, number> = {
  anon: PG.anon | PG.movable,
  shmem: PG.movable,
  kernel: 0,
  pagetable: PG.pagetable,
};

/** A RAM bank from the device tree's `memory` node. */
export interface MemoryBank {
  readonly base: number;
  readonly size: number;
}

/** Who maps a page: the reverse map that lets migration rewrite page tables. */
export interface RmapOwner {
  /** Re-points every mapping of the owner's page `index` from `oldPfn` to `newPfn`. */
  rmapMigrate(index: number, oldPfn: number, newPfn: number): void;
}

/** Consulted at every fallible allocation or pin site; true makes that site fail. */
export type FailHook = (site: string) => boolean;

/** A model invariant broke where Linux would BUG(): a refcount underflow, a double free. */
export class KernelBug extends Error {
  constructor(message: string) {
    super(`BUG: ${message}`);
    this.name = "KernelBug";
  }
}

export interface AllocOptions {
  readonly kind: PageKind;
  /** __GFP_ZERO: the frame must read as zeros (it already does unless a device wrote it free). */
  readonly zero?: boolean;
}

/** Per-section `struct page` fields, one typed array per field (19 bytes a page). */
class Section {
  readonly refcount = new Uint32Array(SECTION_PAGES);
  /** FOLL_PIN count; saturating at 0xffff refuses the pin, as a refcount overflow does. */
  readonly pincount = new Uint16Array(SECTION_PAGES);
  readonly mapcount = new Uint16Array(SECTION_PAGES);
  readonly flags = new Uint8Array(SECTION_PAGES);
  readonly owner = new Uint32Array(SECTION_PAGES);
  /** page->index, split: low 32 bits and high 16 bits (virtual page numbers need 36). */
  readonly indexLo = new Uint32Array(SECTION_PAGES);
  readonly indexHi = new Uint16Array(SECTION_PAGES);
  used = 0;

  index(i: number): number {
    return this.indexHi[i]! * 2 ** 32 + this.indexLo[i]!;
  }

  setIndex(i: number, index: number): void {
    this.indexLo[i] = index % 2 ** 32;
    this.indexHi[i] = Math.floor(index / 2 ** 32);
  }
}

const COUNT_MAX = 0xffff;

interface Bank {
  readonly startPfn: number;
  readonly pages: number;
  /** Frame index of `startPfn` when all banks are laid end to end. */
  readonly firstIndex: number;
}

/** Storage that can drop a frame outright (a later hw-soc `discardFrame`). */
type DiscardingMemory = PhysicalMemory & { discardFrame?: (pfn: number) => void };

export class PageAllocator {
  readonly totalPages: number;
  private readonly banks: readonly Bank[];
  private lastBank: Bank | undefined;
  private readonly sections = new Map<number, Section>();
  private lastSectionKey = -1;
  private lastSection: Section | undefined;
  /** Frame indices [low, high) were never handed out. */
  private low = 0;
  private high: number;
  /** Min-heap of freed frame indices, all outside [low, high). */
  private heap = new Uint32Array(64);
  private heapSize = 0;
  private used = 0;
  private pins = 0;
  private failHook: FailHook | undefined;
  private readonly owners: (RmapOwner | undefined)[] = [undefined];

  constructor(
    readonly memory: PhysicalMemory,
    banks: readonly MemoryBank[],
  ) {
    const sorted = [...banks].sort((a, b) => a.base - b.base);
    const out: Bank[] = [];
    let index = 0;
    for (const b of sorted) {
      // memblock keeps only whole frames inside a bank.
      const startPfn = Math.ceil(b.base / PAGE_SIZE);
      const endPfn = Math.floor((b.base + b.size) / PAGE_SIZE);
      if (endPfn <= startPfn) continue;
      const prev = out[out.length - 1];
      if (prev && startPfn < prev.startPfn + prev.pages) {
        throw new RangeError(`page allocator: RAM bank at 0x${b.base.toString(16)} overlaps`);
      }
      out.push({ startPfn, pages: endPfn - startPfn, firstIndex: index });
      index += endPfn - startPfn;
    }
    this.banks = out;
    this.totalPages = index;
    this.high = index;
  }

  /** Pages currently allocated. */
  get usedPages(): number {
    return this.used;
  }

  /** FOLL_PIN pins held on all frames together (leak checks: 0 once every pinner let go). */
  get totalPins(): number {
    return this.pins;
  }

  get freePages(): number {
    return this.totalPages - this.used;
  }

  /** Installs (or removes) the fault-injection hook. */
  setFailHook(hook: FailHook | undefined): void {
    this.failHook = hook;
  }

  /** The fault-injection point: every fallible allocation or pin site asks it first. */
  shouldFail(site: string): boolean {
    return this.failHook?.(site) === true;
  }

  /** mm/page_alloc.c: pfn_valid() for RAM — true when `pfn` is a frame of a declared bank. */
  pfnValid(pfn: number): boolean {
    return this.bankOfPfn(pfn) !== undefined;
  }

  /** alloc_page(gfp): the lowest free frame, refcount 1. */
  allocPage(opts: AllocOptions): number {
    if (this.shouldFail("alloc_pages")) {
      throw new SysError("ENOMEM", "alloc_pages", "fault injection");
    }
    const idx = this.takeLowest();
    if (idx < 0) throw new SysError("ENOMEM", "alloc_pages", "out of memory");
    return this.initPage(this.indexToPfn(idx), opts);
  }

  /**
   * alloc_pages(gfp, order) + split_page(): `2^order` contiguous frames aligned to their size,
   * each with refcount 1. Returns the first pfn. Only never-used frames are considered.
   */
  allocPages(order: number, opts: AllocOptions): number {
    if (!Number.isInteger(order) || order < 0 || order > 20) {
      throw new SysError("EINVAL", "alloc_pages", `order ${order}`);
    }
    if (this.shouldFail("alloc_pages")) {
      throw new SysError("ENOMEM", "alloc_pages", "fault injection");
    }
    const n = 2 ** order;
    let idx = this.low;
    while (idx < this.high) {
      const bank = this.bankOfIndex(idx);
      if (!bank) break;
      const pfn = bank.startPfn + (idx - bank.firstIndex);
      const aligned = Math.ceil(pfn / n) * n;
      const startIdx = idx + (aligned - pfn);
      if (aligned + n <= bank.startPfn + bank.pages && startIdx + n <= this.high) {
        for (let i = this.low; i < startIdx; i++) this.heapPush(i);
        this.low = startIdx + n;
        for (let i = 0; i < n; i++) this.initPage(aligned + i, opts);
        return aligned;
      }
      idx = bank.firstIndex + bank.pages;
    }
    throw new SysError("ENOMEM", "alloc_pages", `no free block of order ${order}`);
  }

  /**
   * mm/migrate.c: alloc_migration_target() — a frame from the top of RAM downward, so compaction
   * moves pages away from the low frames. Falls back to the lowest freed frame once the
   * never-used range is gone.
   */
  allocMigrationTarget(opts: AllocOptions): number {
    if (this.shouldFail("alloc_pages")) {
      throw new SysError("ENOMEM", "alloc_migration_target", "fault injection");
    }
    let idx: number;
    if (this.low < this.high) idx = --this.high;
    else if (this.heapSize > 0) idx = this.heapPop();
    else throw new SysError("ENOMEM", "alloc_migration_target", "out of memory");
    return this.initPage(this.indexToPfn(idx), opts);
  }

  /** get_page(): one more reference. */
  getPage(pfn: number): void {
    const [s, i] = this.slot(pfn, "get_page");
    s.refcount[i] = s.refcount[i]! + 1;
  }

  /** put_page(): drop a reference; the frame returns to the free pool at zero. */
  putPage(pfn: number): void {
    const [s, i] = this.slot(pfn, "put_page");
    const ref = s.refcount[i]!;
    if (ref === 0) throw new KernelBug(`put_page of pfn 0x${pfn.toString(16)} with refcount 0`);
    s.refcount[i] = ref - 1;
    if (ref === 1) this.freeFrame(pfn, s, i);
  }

  /** try_grab_folio(FOLL_PIN): a pin holds a reference and raises the pin count. */
  pin(pfn: number): void {
    const [s, i] = this.slot(pfn, "try_grab_folio");
    if (s.pincount[i] === COUNT_MAX) {
      throw new SysError("ENOMEM", "try_grab_folio", "pin count would overflow");
    }
    s.refcount[i] = s.refcount[i]! + 1;
    s.pincount[i] = s.pincount[i]! + 1;
    this.pins++;
  }

  /** gup_put_folio(FOLL_PIN): drop a pin and its reference. */
  unpin(pfn: number): void {
    const [s, i] = this.slot(pfn, "unpin_user_page");
    if (s.pincount[i] === 0) throw new KernelBug(`unpin of unpinned pfn 0x${pfn.toString(16)}`);
    s.pincount[i] = s.pincount[i]! - 1;
    this.pins--;
    this.putPage(pfn);
  }

  /** folio_add_*_rmap_pte(): a page table now maps the frame (mapcount and a reference). */
  mapAdd(pfn: number): void {
    const [s, i] = this.slot(pfn, "folio_add_rmap");
    if (s.mapcount[i] === COUNT_MAX)
      throw new KernelBug(`mapcount overflow on pfn 0x${pfn.toString(16)}`);
    s.mapcount[i] = s.mapcount[i]! + 1;
    s.refcount[i] = s.refcount[i]! + 1;
  }

  /** folio_remove_rmap_pte() + put: a page table stopped mapping the frame. */
  mapRemove(pfn: number): void {
    const [s, i] = this.slot(pfn, "folio_remove_rmap");
    if (s.mapcount[i] === 0) throw new KernelBug(`mapcount underflow on pfn 0x${pfn.toString(16)}`);
    s.mapcount[i] = s.mapcount[i]! - 1;
    this.putPage(pfn);
  }

  refCount(pfn: number): number {
    const s = this.section(pfn);
    return s ? s.refcount[pfn % SECTION_PAGES]! : 0;
  }

  /** The FOLL_PIN count (folio_maybe_dma_pinned() is `pinCount > 0`). */
  pinCount(pfn: number): number {
    const s = this.section(pfn);
    return s ? s.pincount[pfn % SECTION_PAGES]! : 0;
  }

  mapCount(pfn: number): number {
    const s = this.section(pfn);
    return s ? s.mapcount[pfn % SECTION_PAGES]! : 0;
  }

  /** The page's `PG` flags (0 for a free or unknown frame). */
  pageFlags(pfn: number): number {
    const s = this.section(pfn);
    return s ? s.flags[pfn % SECTION_PAGES]! : 0;
  }

  isAllocated(pfn: number): boolean {
    return (this.pageFlags(pfn) & PG.allocated) !== 0;
  }

  setPageFlags(pfn: number, mask: number): void {
    const [s, i] = this.slot(pfn, "SetPageFlag");
    s.flags[i] = s.flags[i]! | mask;
  }

  clearPageFlags(pfn: number, mask: number): void {
    const [s, i] = this.slot(pfn, "ClearPageFlag");
    s.flags[i] = s.flags[i]! & ~mask;
  }

  /** Records who maps the frame (page->mapping) and at which index (page->index). */
  setRmap(pfn: number, ownerId: number, index: number): void {
    const [s, i] = this.slot(pfn, "page_set_rmap");
    s.owner[i] = ownerId;
    s.setIndex(i, index);
  }

  /** The frame's rmap owner id (0 for none) and index. */
  rmapOf(pfn: number): { owner: number; index: number } {
    const s = this.section(pfn);
    if (!s) return { owner: 0, index: 0 };
    const i = pfn % SECTION_PAGES;
    return { owner: s.owner[i]!, index: s.index(i) };
  }

  /** Registers an rmap owner (an address space or a shmem object); ids are lowest-free from 1. */
  registerOwner(owner: RmapOwner): number {
    let id = 1;
    while (id < this.owners.length && this.owners[id] !== undefined) id++;
    this.owners[id] = owner;
    return id;
  }

  unregisterOwner(id: number): void {
    this.owners[id] = undefined;
  }

  owner(id: number): RmapOwner | undefined {
    return this.owners[id];
  }

  /**
   * Every allocated pfn (accepted by `filter`, if given) in ascending order: what a compaction
   * scanner walks.
   */
  allocatedPfns(filter?: (pfn: number) => boolean): number[] {
    const keys = [...this.sections.keys()].sort((a, b) => a - b);
    const out: number[] = [];
    for (const k of keys) {
      const s = this.sections.get(k)!;
      for (let i = 0; i < SECTION_PAGES; i++) {
        const pfn = k * SECTION_PAGES + i;
        if (s.flags[i]! & PG.allocated && (!filter || filter(pfn))) out.push(pfn);
      }
    }
    return out;
  }

  /**
   * mm/migrate.c: folio_migrate_mapping() + folio_migrate_flags() — `newPfn` (just allocated)
   * takes over the references, mapcount, flags and rmap of `oldPfn`, which is left holding only
   * the migration's own reference. The caller copies the contents and rewrites the PTEs.
   */
  migrateFolio(oldPfn: number, newPfn: number): void {
    const [os, oi] = this.slot(oldPfn, "folio_migrate_mapping");
    const [ns, ni] = this.slot(newPfn, "folio_migrate_mapping");
    ns.refcount[ni] = os.refcount[oi]!;
    ns.mapcount[ni] = os.mapcount[oi]!;
    ns.flags[ni] = os.flags[oi]!;
    ns.owner[ni] = os.owner[oi]!;
    ns.setIndex(ni, os.index(oi));
    os.refcount[oi] = 1;
    os.mapcount[oi] = 0;
    os.flags[oi] = PG.allocated;
    os.owner[oi] = 0;
    os.setIndex(oi, 0);
  }

  /** Copies one frame's contents to another without materialising storage for a zero frame. */
  copyFrame(dstPfn: number, srcPfn: number): void {
    const src = this.memory.peekFrame(srcPfn);
    if (src) this.memory.frameForWrite(dstPfn).set(src);
    else this.dropStorage(dstPfn);
  }

  private initPage(pfn: number, opts: AllocOptions): number {
    const key = Math.floor(pfn / SECTION_PAGES);
    let s = this.sections.get(key);
    if (!s) {
      s = new Section();
      this.sections.set(key, s);
    }
    const i = pfn % SECTION_PAGES;
    s.refcount[i] = 1;
    s.pincount[i] = 0;
    s.mapcount[i] = 0;
    s.flags[i] = PG.allocated | KIND_FLAGS[opts.kind];
    s.owner[i] = 0;
    s.setIndex(i, 0);
    s.used++;
    this.used++;
    if (opts.zero) this.dropStorage(pfn);
    return pfn;
  }

  private freeFrame(pfn: number, s: Section, i: number): void {
    if (!(s.flags[i]! & PG.allocated))
      throw new KernelBug(`double free of pfn 0x${pfn.toString(16)}`);
    if (s.mapcount[i] !== 0 || s.pincount[i] !== 0) {
      throw new KernelBug(`freeing mapped or pinned pfn 0x${pfn.toString(16)}`);
    }
    s.flags[i] = 0;
    s.owner[i] = 0;
    s.setIndex(i, 0);
    // A freed frame must read as zeros when it is handed out again.
    this.dropStorage(pfn);
    this.used--;
    if (--s.used === 0) {
      this.sections.delete(Math.floor(pfn / SECTION_PAGES));
      this.lastSectionKey = -1;
      this.lastSection = undefined;
    }
    const idx = this.pfnToIndex(pfn);
    if (idx === this.low - 1) this.low--;
    else if (idx === this.high) this.high++;
    else this.heapPush(idx);
  }

  /** Drops a frame's storage, or zeroes it where the memory cannot drop storage. */
  private dropStorage(pfn: number): void {
    const mem = this.memory as DiscardingMemory;
    if (typeof mem.discardFrame === "function") mem.discardFrame(pfn);
    else mem.peekFrame(pfn)?.fill(0);
  }

  private slot(pfn: number, fn: string): [Section, number] {
    const s = this.section(pfn);
    const i = pfn % SECTION_PAGES;
    if (!s || !(s.flags[i]! & PG.allocated)) {
      throw new KernelBug(`${fn} on free pfn 0x${pfn.toString(16)}`);
    }
    return [s, i];
  }

  private section(pfn: number): Section | undefined {
    const key = Math.floor(pfn / SECTION_PAGES);
    if (key === this.lastSectionKey) return this.lastSection;
    const s = this.sections.get(key);
    if (s) {
      this.lastSectionKey = key;
      this.lastSection = s;
    }
    return s;
  }

  private takeLowest(): number {
    const heapMin = this.heapSize > 0 ? this.heap[0]! : Number.POSITIVE_INFINITY;
    if (this.low < this.high && this.low < heapMin) return this.low++;
    if (this.heapSize > 0) return this.heapPop();
    return -1;
  }

  private heapPush(v: number): void {
    if (this.heapSize === this.heap.length) {
      const grown = new Uint32Array(this.heap.length * 2);
      grown.set(this.heap);
      this.heap = grown;
    }
    const h = this.heap;
    let i = this.heapSize++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]! <= v) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = v;
  }

  private heapPop(): number {
    const h = this.heap;
    const top = h[0]!;
    const last = h[--this.heapSize]!;
    let i = 0;
    const n = this.heapSize;
    while (true) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && h[child + 1]! < h[child]!) child++;
      if (h[child]! >= last) break;
      h[i] = h[child]!;
      i = child;
    }
    if (n > 0) h[i] = last;
    return top;
  }

  private bankOfIndex(idx: number): Bank | undefined {
    const bs = this.banks;
    let lo = 0;
    let hi = bs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const b = bs[mid]!;
      if (idx < b.firstIndex) hi = mid - 1;
      else if (idx >= b.firstIndex + b.pages) lo = mid + 1;
      else return b;
    }
    return undefined;
  }

  private bankOfPfn(pfn: number): Bank | undefined {
    const last = this.lastBank;
    if (last && pfn >= last.startPfn && pfn < last.startPfn + last.pages) return last;
    const bs = this.banks;
    let lo = 0;
    let hi = bs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const b = bs[mid]!;
      if (pfn < b.startPfn) hi = mid - 1;
      else if (pfn >= b.startPfn + b.pages) lo = mid + 1;
      else {
        this.lastBank = b;
        return b;
      }
    }
    return undefined;
  }

  private indexToPfn(idx: number): number {
    const b = this.bankOfIndex(idx);
    if (!b) throw new KernelBug(`frame index ${idx} outside RAM`);
    return b.startPfn + (idx - b.firstIndex);
  }

  private pfnToIndex(pfn: number): number {
    const b = this.bankOfPfn(pfn);
    if (!b) throw new KernelBug(`pfn 0x${pfn.toString(16)} outside RAM`);
    return b.firstIndex + (pfn - b.startPfn);
  }
}

/** The physical address of a pfn. */
export function pfnToPhys(pfn: number): number {
  return pfn * PAGE_SIZE;
}

/** The pfn of a physical address. */
export function physToPfn(phys: number): number {
  return Math.floor(phys / 2 ** PAGE_SHIFT);
}
