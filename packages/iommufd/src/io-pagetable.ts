/**
 * The IOVA side of an IOAS: drivers/iommu/iommufd/io_pagetable.c and io_pagetable.h
 * (`struct io_pagetable`, `struct iopt_area`, allowed and reserved ranges, IOVA allocation,
 * map/copy/unmap/cut, domains and accesses joining and leaving, the alignment they impose) plus
 * `iopt_get_phys()` of the no-IOMMU cdev series as 7.3 carries it.
 *
 * IOVAs and lengths are exact u64 `bigint`s here; they become JS numbers only at the IOMMU core
 * (every domain aperture of the board is below 2^48) and as page indexes of an `IoptPages`.
 * Every operation on the area tree is O(log n) in the number of areas (plus the areas it
 * touches); nothing walks all areas except what Linux walks all areas for (domain attach and
 * detach, alignment changes, unmap-all).
 *
 * Caveat:
 * - The locks (domains_rwsem, iova_rwsem, pages->mutex) are not modelled: syscalls run one at a
 *   time, so an area is never seen half-built (`pages === null`) by another thread. The checks
 *   Linux makes for that state are kept.
 * - dma-buf backed areas do not exist (see pages.ts), so their tracking paths are absent.
 * - Test-only reservations (owner `null`, IOMMU_TEST_OP_ADD_RESERVED) are dropped by
 *   destroyTable() as a CONFIG_IOMMUFD_TEST kernel does.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import {
  IOMMU_RESV_DIRECT_RELAXABLE,
  IOMMU_RESV_MSI,
  IOMMU_RESV_SW_MSI,
  IOMMU_WRITE,
  type IommuClient,
  type IommuDomain,
  type Kernel,
  KernelBug,
  SysError,
  type Task,
} from "@vfio-lab/kernel";
import { iommufdAccessNotifyUnmap } from "./access.js";
import { isIommufdNoiommuDomain } from "./hwpt-noiommu.js";
import { findFirstFit, type IntervalNode, IntervalTree, spans } from "./interval-tree.js";
import type { IommufdCtx } from "./main.js";
import {
  IOPT_ADDRESS_USER,
  type IoptPages,
  ioptAllocFilePages,
  ioptAllocUserPages,
  ioptAreaFillDomain,
  ioptAreaFillDomains,
  ioptAreaUnfillDomain,
  ioptAreaUnfillDomains,
  ioptAreaUnmapDomain,
  ioptPutPages,
} from "./pages.js";
import { IOPT_PAGES_ACCOUNT_MM, IOPT_PAGES_ACCOUNT_USER } from "./uapi.js";

/** ULONG_MAX on a 64-bit kernel. */
export const ULONG_MAX = (1n << 64n) - 1n;
const PAGE_SIZE_B = BigInt(PAGE_SIZE);
/** HPAGE_SIZE of arm64 with 4 KiB pages (PMD_SIZE). */
const HPAGE_SIZE_B = 2n * 1024n * 1024n;
/** xa_limit_16b: access ids 0..65535. */
const XA_LIMIT_16B = 0xffff;

/** iommufd_private.h: `iopt_map_*()` flags. */
export const IOPT_ALLOC_IOVA = 1 << 0;

/** What io_pagetable needs of an access object (`struct iommufd_access`). */
export interface IoptAccess {
  /** PAGE_SIZE for drivers that pin pages, 1 for rw-only ones. */
  readonly iovaAlignment: number | bigint;
  /** The id addAccess() gave it in the IOAS's access list. */
  ioptAccessListId: number;
}

/** io_pagetable.h: `struct iopt_reserved` — `owner` is a domain, a device, or null (tests). */
export interface IoptReserved {
  readonly owner: object | null;
}

/** One entry of the pages lists of MAP and COPY (`struct iopt_pages_list`). */
export interface IoptPagesListElm {
  pages: IoptPages | null;
  area: IoptArea | null;
  /** Byte offset of the piece inside `pages`. */
  startByte: bigint;
  length: bigint;
}

function warnOn(cond: boolean, what: string): boolean {
  if (cond) throw new KernelBug(`iommufd: WARN_ON(${what})`);
  return false;
}

/** __ffs() of a non-zero pgsize_bitmap as a bigint power of two. */
function lowestPgsize(bitmap: number): bigint {
  if (bitmap === 0) throw new KernelBug("iommufd: domain without pgsize_bitmap");
  let b = 1;
  while ((bitmap & b) === 0) b *= 2;
  return BigInt(b);
}

/** roundup_pow_of_two() for 0 < v < 2^63. */
function roundupPowOfTwo(v: bigint): bigint {
  let p = 1n;
  while (p < v) p <<= 1n;
  return p;
}

function toBig(v: number | bigint): bigint {
  return typeof v === "bigint" ? v : BigInt(v);
}

/**
 * io_pagetable.h: `struct iopt_area` — one mapped IOVA range `[iova, lastIova]` backed by page
 * indexes `[index, lastIndex]` of `pages`, starting `pageOffset` bytes into page `index`.
 * `pages` is null while the area is being built or torn down.
 */
export class IoptArea {
  /** The node in `iopt.areaItree` (`area->node`); null until inserted. */
  node: IntervalNode<IoptArea> | null = null;
  /** The node in `pages.domainsItree` (`area->pages_node`); null unless it fills domains. */
  pagesNode: IntervalNode<IoptArea> | null = null;
  pages: IoptPages | null = null;
  /** The domain whose page table holds this area's PFNs. */
  storageDomain: IommuDomain | null = null;
  pageOffset = 0;
  /** IOMMU_READ/IOMMU_WRITE/IOMMU_CACHE. */
  iommuProt = 0;
  preventAccess = false;
  numAccesses = 0;
  numLocks = 0;
  iova = 0n;
  lastIova = 0n;
  /** `iova`/`lastIova` as numbers, for the IOMMU core. */
  iovaNum = 0;
  lastIovaNum = 0;
  /** Page indexes of `pages` (`pages_node.start/last`). */
  index = 0;
  lastIndex = 0;

  constructor(readonly iopt: IoPagetable) {}

  get kernel(): Kernel {
    return this.iopt.kernel;
  }

  /** io_pagetable.h: iopt_area_length() */
  get length(): bigint {
    return this.lastIova - this.iova + 1n;
  }

  /** io_pagetable.h: iopt_area_start_byte() — byte of `pages` behind `iova`. */
  startByte(iova: bigint): bigint {
    return iova - this.iova + BigInt(this.pageOffset) + BigInt(this.index) * PAGE_SIZE_B;
  }

  /** io_pagetable.h: iopt_area_iova_to_index() */
  iovaToIndex(iova: bigint): number {
    return Number(this.startByte(iova) / PAGE_SIZE_B);
  }
}

/**
 * io_pagetable.c: iopt_area_contig_init()/_next()/iopt_area_contig_done() — walks the areas
 * that cover [iova, lastIova] back to back; `done()` after the walk says whether they did.
 */
export class IoptAreaContigIter {
  curIova: bigint;
  area: IoptArea | null = null;

  constructor(
    private readonly iopt: IoPagetable,
    iova: bigint,
    readonly lastIova: bigint,
  ) {
    this.curIova = iova;
  }

  /** iopt_area_contig_init() */
  first(): IoptArea | null {
    const node = this.iopt.areaItree.iterFirst(this.curIova, this.curIova);
    this.area = node === undefined || node.value.pages === null ? null : node.value;
    return this.area;
  }

  /** iopt_area_contig_next() */
  next(): IoptArea | null {
    const area = this.area;
    if (area === null) return null;
    if (this.lastIova <= area.lastIova) return null;
    this.curIova = area.lastIova + 1n;
    const node = this.iopt.areaItree.iterNext(area.node!, this.curIova, this.lastIova);
    this.area =
      node === undefined || node.start !== this.curIova || node.value.pages === null
        ? null
        : node.value;
    return this.area;
  }

  /** iopt_area_contig_done() */
  done(): boolean {
    return this.area !== null && this.lastIova <= this.area.lastIova;
  }
}

/** `struct io_pagetable`. */
export class IoPagetable {
  /** Mapped ranges (`area_itree`). */
  readonly areaItree = new IntervalTree<IoptArea>();
  /** IOMMU_IOAS_ALLOW_IOVAS ranges (`allowed_itree`); replaced as a whole by setAllowIova(). */
  allowedItree = new IntervalTree<null>();
  /** Ranges no mapping may use (`reserved_itree`), each tagged with its owner. */
  readonly reservedItree = new IntervalTree<IoptReserved>();
  /** Attached domains, dense from 0 (`domains` xarray; `next_domain_id` is the length). */
  readonly domains: IommuDomain[] = [];
  /** `access_list`: id → access. */
  readonly accesses = new Map<number, IoptAccess>();
  /** `iova_alignment`: every mapping's IOVA, length and page offset are multiples of it. */
  iovaAlignment = 1n;
  /** `disable_large_pages` (IOMMU_OPTION_HUGE_PAGES = 0, VFIO type1). */
  largePagesDisabled = false;

  /** io_pagetable.c: iopt_init_table() */
  constructor(readonly kernel: Kernel) {}

  private shouldFail(site: string): boolean {
    return this.kernel.allocator.shouldFail(site);
  }

  // -------------------------------------------------------------------------------------------
  // IOVA allocation and checks

  /**
   * io_pagetable.c: iopt_alloc_iova() — first fit in the allowed ranges (or the whole space but
   * the first and last page) of a hole in areas and reservations, aligned to the source address'
   * own alignment (at most a huge page) and keeping its sub-page offset. Never returns 0.
   */
  private allocIova(addr: bigint, length: bigint): bigint {
    const fn = "iopt_alloc_iova";
    const pageOffset = addr % PAGE_SIZE_B;
    if (length === 0n || length >= ULONG_MAX / 2n) {
      throw new SysError("EOVERFLOW", fn, `length 0x${length.toString(16)}`);
    }
    let align = roundupPowOfTwo(length);
    if (addr !== 0n) {
      const low = addr & -addr;
      if (low < align) align = low;
    }
    // The cap is HPAGE_SIZE with CONFIG_TRANSPARENT_HUGEPAGE, else PAGE_SIZE (the oracle kernel
    // has no THP and picks IOVA 0x1000 for a 64 KiB map of a 256 MiB-aligned buffer:
    // oracle-probes/iommufd-ioas.7.3.txt).
    const maxAlignment = this.kernel.config.CONFIG_TRANSPARENT_HUGEPAGE
      ? HPAGE_SIZE_B
      : PAGE_SIZE_B;
    if (align >= maxAlignment) align = maxAlignment;
    if (align < this.iovaAlignment) {
      throw new SysError("EINVAL", fn, `alignment 0x${align.toString(16)} below the IOAS's`);
    }
    const first = PAGE_SIZE_B;
    const last = ULONG_MAX - PAGE_SIZE_B;
    if (this.allowedItree.size === 0) {
      const iova = this.allocIovaInAllowed(first, last, length, align, pageOffset);
      if (iova !== undefined) return iova;
    } else {
      for (const span of spans(this.allowedItree, first, last)) {
        if (span.isHole) continue;
        const iova = this.allocIovaInAllowed(span.start, span.last, length, align, pageOffset);
        if (iova !== undefined) return iova;
      }
    }
    throw new SysError("ENOSPC", fn, `no free IOVA for 0x${length.toString(16)} bytes`);
  }

  /** One allowed span: __alloc_iova_check_used() then the hole walk over areas+reserved. */
  private allocIovaInAllowed(
    start: bigint,
    last: bigint,
    length: bigint,
    align: bigint,
    pageOffset: bigint,
  ): bigint | undefined {
    const up = start + align - 1n;
    if (up > ULONG_MAX) return undefined;
    const aligned = (up & ~(align - 1n)) | pageOffset;
    if (aligned >= last || last - aligned < length - 1n) return undefined;
    return findFirstFit(
      this.areaItree,
      this.reservedItree,
      aligned,
      last,
      length,
      align,
      pageOffset,
    );
  }

  /** io_pagetable.c: iopt_check_iova() */
  private checkIova(iova: bigint, length: bigint): void {
    const fn = "iopt_check_iova";
    if (iova & (this.iovaAlignment - 1n)) {
      throw new SysError("EINVAL", fn, `iova 0x${iova.toString(16)} misaligned`);
    }
    const last = iova + length - 1n;
    if (last > ULONG_MAX) throw new SysError("EOVERFLOW", fn, "iova + length wraps");
    if (this.reservedItree.iterFirst(iova, last) !== undefined) {
      throw new SysError("EINVAL", fn, "range is reserved");
    }
    if (this.areaItree.iterFirst(iova, last) !== undefined) {
      throw new SysError("EEXIST", fn, "range is already mapped");
    }
  }

  /** io_pagetable.c: iopt_insert_area() — the area joins the tree with `pages` still null. */
  private insertArea(
    area: IoptArea,
    pages: IoptPages,
    iova: bigint,
    startByte: bigint,
    length: bigint,
    iommuProt: number,
  ): void {
    const fn = "iopt_insert_area";
    if (iommuProt & IOMMU_WRITE && !pages.writable) {
      throw new SysError("EPERM", fn, "writable mapping of read-only pages");
    }
    area.iommuProt = iommuProt;
    area.pageOffset = Number(startByte % PAGE_SIZE_B);
    if (BigInt(area.pageOffset) & (this.iovaAlignment - 1n)) {
      throw new SysError("EINVAL", fn, "sub-page offset misaligned");
    }
    const lastIova = iova + length - 1n;
    if (lastIova > ULONG_MAX) throw new SysError("EOVERFLOW", fn, "iova + length wraps");
    const lastByte = startByte + length - 1n;
    if (lastByte > ULONG_MAX) throw new SysError("EOVERFLOW", fn, "start_byte + length wraps");
    const lastIndex = Number(lastByte / PAGE_SIZE_B);
    if (warnOn(lastIndex >= pages.npages, "pages_node.last >= npages")) return;
    area.iova = iova;
    area.lastIova = lastIova;
    area.iovaNum = Number(iova);
    area.lastIovaNum = Number(lastIova);
    area.index = Number(startByte / PAGE_SIZE_B);
    area.lastIndex = lastIndex;
    area.node = this.areaItree.insert(iova, lastIova, area);
  }

  /** io_pagetable.c: iopt_area_alloc() */
  private areaAlloc(): IoptArea {
    if (this.shouldFail("kzalloc")) {
      throw new SysError("ENOMEM", "iopt_area_alloc", "fault injection");
    }
    return new IoptArea(this);
  }

  /** io_pagetable.c: iopt_alloc_area_pages() — reserves the IOVA with half-built areas. */
  private allocAreaPages(
    list: IoptPagesListElm[],
    length: bigint,
    dstIova: bigint,
    iommuProt: number,
    flags: number,
  ): bigint {
    for (const elm of list) elm.area = this.areaAlloc();
    if (length & (this.iovaAlignment - 1n) || length === 0n) {
      throw new SysError("EINVAL", "iopt_alloc_area_pages", "length misaligned or zero");
    }
    if (flags & IOPT_ALLOC_IOVA) {
      // The first piece's source address guesses the best IOVA alignment.
      const elm = list[0]!;
      const p = elm.pages!;
      const start = elm.startByte + (p.type === IOPT_ADDRESS_USER ? p.uptr : p.start);
      dstIova = this.allocIova(start, length);
    } else {
      this.checkIova(dstIova, length);
    }
    let iova = dstIova;
    for (const elm of list) {
      this.insertArea(elm.area!, elm.pages!, iova, elm.startByte, elm.length, iommuProt);
      iova += elm.length;
    }
    return dstIova;
  }

  /** io_pagetable.c: iopt_abort_area() */
  private abortArea(area: IoptArea): void {
    warnOn(area.pages !== null, "aborting an area with pages");
    if (area.node !== null) {
      this.areaItree.remove(area.node);
      area.node = null;
    }
  }

  /** io_pagetable.c: iopt_free_pages_list() — drops what a failed or finished map left. */
  freePagesList(list: IoptPagesListElm[]): void {
    for (const elm of list) {
      if (elm.area) this.abortArea(elm.area);
      if (elm.pages) ioptPutPages(elm.pages);
      elm.area = null;
      elm.pages = null;
    }
    list.length = 0;
  }

  /** io_pagetable.c: iopt_fill_domains_pages() */
  private fillDomainsPages(list: IoptPagesListElm[]): void {
    let i = 0;
    try {
      for (; i < list.length; i++) ioptAreaFillDomains(list[i]!.area!, list[i]!.pages!);
    } catch (e) {
      for (let j = 0; j < i; j++) ioptAreaUnfillDomains(list[j]!.area!, list[j]!.pages!);
      throw e;
    }
  }

  /**
   * io_pagetable.c: iopt_map_pages() — maps the pieces of `list` back to back at `dstIova` (or
   * at an allocated IOVA with IOPT_ALLOC_IOVA) and returns the IOVA. On success the list's pages
   * references and areas have moved into the IOAS; on failure the caller frees the list.
   */
  mapPages(
    list: IoptPagesListElm[],
    length: bigint,
    dstIova: bigint | undefined,
    iommuProt: number,
    flags: number,
  ): bigint {
    const iova = this.allocAreaPages(list, length, dstIova ?? 0n, iommuProt, flags);
    this.fillDomainsPages(list);
    for (const elm of list) {
      // Set only now, so that a domain added meanwhile fills this area too.
      elm.area!.pages = elm.pages;
      elm.pages = null;
      elm.area = null;
    }
    return iova;
  }

  /** io_pagetable.c: iopt_map_common() */
  private mapCommon(
    ictx: IommufdCtx,
    pages: IoptPages,
    iova: bigint | undefined,
    length: bigint,
    startByte: bigint,
    iommuProt: number,
    flags: number,
  ): bigint {
    const elm: IoptPagesListElm = { pages, area: null, startByte, length };
    if (
      ictx.accountMode === IOPT_PAGES_ACCOUNT_MM &&
      pages.accountMode === IOPT_PAGES_ACCOUNT_USER
    ) {
      pages.accountMode = IOPT_PAGES_ACCOUNT_MM;
    }
    const list = [elm];
    try {
      return this.mapPages(list, length, iova, iommuProt, flags);
    } catch (e) {
      this.freePagesList(list);
      throw e;
    }
  }

  /**
   * io_pagetable.c: iopt_map_user_pages() — maps `length` bytes of `current`'s memory at `uptr`.
   * With domains attached the pages are pinned now; without, nothing is touched until a domain
   * or an access needs them. `iova` is ignored with IOPT_ALLOC_IOVA. Returns the IOVA.
   */
  mapUserPages(
    ictx: IommufdCtx,
    current: Task,
    iova: bigint | undefined,
    uptr: bigint,
    length: bigint,
    iommuProt: number,
    flags: number,
  ): bigint {
    const pages = ioptAllocUserPages(
      this.kernel,
      current,
      uptr,
      length,
      (iommuProt & IOMMU_WRITE) !== 0,
    );
    return this.mapCommon(ictx, pages, iova, length, uptr - pages.uptr, iommuProt, flags);
  }

  /**
   * io_pagetable.c: iopt_map_file_pages() — like mapUserPages() for `length` bytes of the file
   * behind `fd` from byte `start`.
   */
  mapFilePages(
    ictx: IommufdCtx,
    current: Task,
    iova: bigint | undefined,
    fd: number,
    start: bigint,
    length: bigint,
    iommuProt: number,
    flags: number,
  ): bigint {
    const fn = "iopt_map_file_pages";
    if (length === 0n) throw new SysError("EINVAL", fn, "length 0");
    if (start + length - 1n > ULONG_MAX)
      throw new SysError("EOVERFLOW", fn, "start + length wraps");
    const startByte = start % PAGE_SIZE_B;
    // dma_buf_get() fails for every fd of the model (no dma-buf exporter): the file path.
    const file = current.fget(fd);
    if (!file) throw new SysError("EBADF", fn, `fd ${fd}`);
    let pages: IoptPages;
    try {
      pages = ioptAllocFilePages(
        this.kernel,
        current,
        file,
        Number(startByte),
        start,
        length,
        (iommuProt & IOMMU_WRITE) !== 0,
      );
    } finally {
      this.kernel.vfs.fput(file);
    }
    return this.mapCommon(ictx, pages, iova, length, startByte, iommuProt, flags);
  }

  /**
   * io_pagetable.c: iopt_get_pages() — references to the pages behind [iova, iova+length), one
   * piece per area; ENOENT unless fully built areas cover the range back to back.
   */
  getPages(iova: bigint, length: bigint): IoptPagesListElm[] {
    const fn = "iopt_get_pages";
    if (length === 0n) throw new SysError("EINVAL", fn, "length 0");
    const lastIova = iova + length - 1n;
    if (lastIova > ULONG_MAX) throw new SysError("EOVERFLOW", fn, "iova + length wraps");
    const list: IoptPagesListElm[] = [];
    const iter = new IoptAreaContigIter(this, iova, lastIova);
    try {
      for (let area = iter.first(); area; area = iter.next()) {
        const last = lastIova < area.lastIova ? lastIova : area.lastIova;
        if (this.shouldFail("kzalloc")) throw new SysError("ENOMEM", fn, "fault injection");
        const pages = area.pages!;
        pages.refs++;
        list.push({
          pages,
          area: null,
          startByte: area.startByte(iter.curIova),
          length: last - iter.curIova + 1n,
        });
      }
      if (!iter.done()) throw new SysError("ENOENT", fn, "range not fully mapped");
    } catch (e) {
      this.freePagesList(list);
      throw e;
    }
    return list;
  }

  /** IOMMU_IOAS_COPY's iopt part: getPages() on `src`, mapPages() here. Returns the IOVA. */
  copyIova(
    src: IoPagetable,
    srcIova: bigint,
    length: bigint,
    dstIova: bigint | undefined,
    iommuProt: number,
    flags: number,
  ): bigint {
    const list = src.getPages(srcIova, length);
    try {
      return this.mapPages(list, length, dstIova, iommuProt, flags);
    } finally {
      this.freePagesList(list);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Unmap

  /**
   * io_pagetable.c: iopt_unmap_iova_range() — removes every area inside [start, last]. An area
   * sticking out (ENOENT), half built or locked (EBUSY) stops the walk, and the areas already
   * removed stay removed (`out.unmapped` counts them either way). Areas with accesses are
   * announced to the access owners, which must let go, and retried (EDEADLOCK after 100 tries).
   */
  private unmapIovaRange(start: bigint, last: bigint, out?: { unmapped: bigint }): bigint {
    const fn = "iopt_unmap_iova_range";
    let unmapped = 0n;
    let tries = 0;
    try {
      for (;;) {
        const node = this.areaItree.iterFirst(start, last);
        if (node === undefined) break;
        const area = node.value;
        const areaFirst = area.iova;
        const areaLast = area.lastIova;
        if (area.pages === null) throw new SysError("EBUSY", fn, "area is being set up");
        if (area.numLocks) throw new SysError("EBUSY", fn, "area is locked");
        if (areaFirst < start || areaLast > last) {
          throw new SysError("ENOENT", fn, "range splits an area");
        }
        if (areaFirst !== start) tries = 0;
        if (area.numAccesses) {
          start = areaFirst;
          area.preventAccess = true;
          iommufdAccessNotifyUnmap(this, areaFirst, areaLast - areaFirst + 1n);
          // Something is not responding to unmap requests.
          if (++tries > 100) throw new SysError("EDEADLOCK", fn, "accesses do not unmap");
          continue;
        }
        const pages = area.pages;
        area.pages = null;
        ioptAreaUnfillDomains(area, pages);
        this.abortArea(area);
        ioptPutPages(pages);
        unmapped += areaLast - areaFirst + 1n;
        if (areaLast >= last) break;
        start = areaLast + 1n;
      }
    } finally {
      if (out) out.unmapped = unmapped;
    }
    return unmapped;
  }

  /**
   * io_pagetable.c: iopt_unmap_iova() — unmaps the areas inside [iova, iova+length); returns
   * the bytes unmapped (0 when nothing was there). `out`, if given, gets the count even when
   * the walk fails half way (the kernel's `*unmapped`).
   */
  unmapIova(iova: bigint, length: bigint, out?: { unmapped: bigint }): bigint {
    if (length === 0n) throw new SysError("EINVAL", "iopt_unmap_iova", "length 0");
    const last = iova + length - 1n;
    if (last > ULONG_MAX) throw new SysError("EOVERFLOW", "iopt_unmap_iova", "iova + length wraps");
    return this.unmapIovaRange(iova, last, out);
  }

  /** io_pagetable.c: iopt_unmap_all() — succeeds on an empty IOAS. */
  unmapAll(out?: { unmapped: bigint }): bigint {
    return this.unmapIovaRange(0n, ULONG_MAX, out);
  }

  /**
   * io_pagetable.c: iopt_get_phys() (no-IOMMU cdev series) — the physical address behind `iova`
   * in the area's storage domain, which must be the no-IOMMU one, and how many bytes from it are
   * physically contiguous within the area, capped at `length`.
   */
  getPhys(iova: bigint, length: bigint): { phys: bigint; length: bigint } {
    const fn = "iopt_get_phys";
    if (length === 0n) throw new SysError("EINVAL", fn, "length 0");
    const area = this.areaItree.iterFirst(iova, iova)?.value;
    if (area === undefined || area.pages === null) {
      throw new SysError("ENOENT", fn, `nothing mapped at 0x${iova.toString(16)}`);
    }
    const domain = area.storageDomain;
    if (domain === null || !isIommufdNoiommuDomain(domain)) {
      throw new SysError("EOPNOTSUPP", fn, "the IOAS is not stored in a no-IOMMU domain");
    }
    const iommu = this.kernel.iommu;
    const phys = BigInt(iommu.iommuIovaToPhys(domain, Number(iova)));
    const inPage = PAGE_SIZE_B - (iova % PAGE_SIZE_B);
    const toEnd = area.lastIova - iova + 1n;
    let tmpLength = inPage < toEnd ? inPage : toEnd;
    let tmpPhys = phys;
    while (iova < area.lastIova) {
      if (tmpLength >= length) break;
      const nextIova = iova + PAGE_SIZE_B;
      if (nextIova > ULONG_MAX || nextIova > area.lastIova) break;
      const nextPhys = BigInt(iommu.iommuIovaToPhys(domain, Number(nextIova)));
      if (nextPhys === 0n || nextPhys !== tmpPhys + PAGE_SIZE_B) break;
      iova = nextIova;
      tmpPhys += PAGE_SIZE_B;
      tmpLength += PAGE_SIZE_B;
    }
    if (tmpLength > length) tmpLength = length;
    return { phys, length: tmpLength };
  }

  // -------------------------------------------------------------------------------------------
  // Allowed and reserved ranges

  /**
   * io_pagetable.c: iopt_set_allow_iova() — `allowed` replaces the allowed ranges unless one of
   * them is reserved (EADDRINUSE, nothing changes).
   */
  setAllowIova(allowed: IntervalTree<null>): void {
    for (let n = allowed.first(); n; n = allowed.next(n)) {
      if (this.reservedItree.iterFirst(n.start, n.last) !== undefined) {
        throw new SysError("EADDRINUSE", "iopt_set_allow_iova", "allowed range is reserved");
      }
    }
    this.allowedItree = allowed;
  }

  /**
   * io_pagetable.c: iopt_reserve_iova() — EADDRINUSE over a mapping or an allowed range.
   */
  reserveIova(start: bigint, last: bigint, owner: object | null): void {
    const fn = "iopt_reserve_iova";
    if (
      this.areaItree.iterFirst(start, last) !== undefined ||
      this.allowedItree.iterFirst(start, last) !== undefined
    ) {
      throw new SysError("EADDRINUSE", fn, `[0x${start.toString(16)}, 0x${last.toString(16)}]`);
    }
    if (this.shouldFail("kzalloc")) throw new SysError("ENOMEM", fn, "fault injection");
    this.reservedItree.insert(start, last, { owner });
  }

  /** io_pagetable.c: iopt_remove_reserved_iova() — drops every reservation of `owner`. */
  removeReservedIova(owner: object | null): void {
    const t = this.reservedItree;
    let n = t.first();
    while (n) {
      const next = t.next(n);
      if (n.value.owner === owner) t.remove(n);
      n = next;
    }
  }

  /**
   * io_pagetable.c: iopt_table_enforce_dev_resv_regions() — reserves `dev`'s reserved regions
   * (but relaxable direct ones) for it. Returns the SW_MSI window's start, or null when it has
   * none. `noSwMsi` is the kernel's NULL `sw_msi_start` (replace): MSI regions are then neither
   * counted nor reported.
   */
  tableEnforceDevResvRegions(dev: IommuClient, opts?: { noSwMsi?: boolean }): number | null {
    const fn = "iopt_table_enforce_dev_resv_regions";
    if (this.shouldFail(fn)) throw new SysError("EINVAL", fn, "fault injection");
    const wantSwMsi = opts?.noSwMsi !== true;
    let numHwMsi = 0;
    let numSwMsi = 0;
    let swMsiStart: number | null = null;
    try {
      for (const resv of this.kernel.iommu.iommuGetResvRegions(dev)) {
        if (resv.type === IOMMU_RESV_DIRECT_RELAXABLE) continue;
        if (wantSwMsi && resv.type === IOMMU_RESV_MSI) numHwMsi++;
        if (wantSwMsi && resv.type === IOMMU_RESV_SW_MSI) {
          swMsiStart = resv.start;
          numSwMsi++;
        }
        const start = BigInt(resv.start);
        this.reserveIova(start, start + BigInt(resv.length) - 1n, dev);
      }
      // Drivers must not offer a SW_MSI window alongside a HW one, nor two of them.
      if (numSwMsi && numHwMsi) throw new SysError("EINVAL", fn, "SW_MSI and HW MSI regions");
      if (numSwMsi > 1) throw new SysError("EINVAL", fn, "more than one SW_MSI region");
    } catch (e) {
      this.removeReservedIova(dev);
      throw e;
    }
    return swMsiStart;
  }

  // -------------------------------------------------------------------------------------------
  // Domains

  /** io_pagetable.c: iopt_check_iova_alignment() — EADDRINUSE if an area breaks it. */
  private checkIovaAlignment(newAlignment: bigint): void {
    const mask = newAlignment - 1n;
    for (let n = this.areaItree.first(); n; n = this.areaItree.next(n)) {
      const area = n.value;
      if (area.iova & mask || area.length & mask || BigInt(area.pageOffset) & mask) {
        throw new SysError(
          "EADDRINUSE",
          "iopt_check_iova_alignment",
          `area at 0x${area.iova.toString(16)} is not ${newAlignment}-aligned`,
        );
      }
    }
  }

  /** io_pagetable.c: iopt_fill_domain() — every area into a new domain; all or nothing. */
  private fillDomain(domain: IommuDomain): void {
    const t = this.areaItree;
    let n = t.first();
    try {
      for (; n; n = t.next(n)) {
        const area = n.value;
        const pages = area.pages;
        if (pages === null) continue;
        ioptAreaFillDomain(area, domain);
        if (area.storageDomain === null) {
          warnOn(this.domains.length !== 0, "storage domain missing with domains attached");
          area.storageDomain = domain;
          area.pagesNode = pages.domainsItree.insert(
            BigInt(area.index),
            BigInt(area.lastIndex),
            area,
          );
        }
      }
    } catch (e) {
      const endNode = n;
      for (let m = t.first(); m && m !== endNode; m = t.next(m)) {
        const area = m.value;
        const pages = area.pages;
        if (pages === null) continue;
        if (this.domains.length === 0) {
          pages.domainsItree.remove(area.pagesNode!);
          area.pagesNode = null;
          area.storageDomain = null;
        }
        ioptAreaUnfillDomain(area, pages, domain);
      }
      throw e;
    }
  }

  /** io_pagetable.c: iopt_unfill_domain() — `domain` has already left `domains`. */
  private unfillDomain(domain: IommuDomain): void {
    const t = this.areaItree;
    if (this.domains.length !== 0) {
      // Another domain still holds every PFN: only unmap this one.
      const storage = this.domains[0]!;
      for (let n = t.first(); n; n = t.next(n)) {
        const area = n.value;
        if (area.pages === null) continue;
        if (area.storageDomain === domain) area.storageDomain = storage;
        ioptAreaUnmapDomain(area, domain);
      }
      return;
    }
    for (let n = t.first(); n; n = t.next(n)) {
      const area = n.value;
      const pages = area.pages;
      if (pages === null) continue;
      pages.domainsItree.remove(area.pagesNode!);
      area.pagesNode = null;
      warnOn(area.storageDomain !== domain, "storage domain is another one");
      area.storageDomain = null;
      ioptAreaUnfillDomain(area, pages, domain);
    }
  }

  /**
   * io_pagetable.c: iopt_table_add_domain() — the domain gets every mapping (pinning now if it
   * is the first); its page size raises the IOAS alignment and its aperture's complement
   * becomes reserved. EINVAL for a smallest page above PAGE_SIZE, EADDRINUSE when a mapping
   * conflicts with either.
   */
  tableAddDomain(domain: IommuDomain): void {
    const fn = "iopt_table_add_domain";
    if (this.domains.includes(domain)) throw new SysError("EEXIST", fn, "domain already added");
    let newAlignment = lowestPgsize(domain.pgsizeBitmap);
    if (this.iovaAlignment > newAlignment) newAlignment = this.iovaAlignment;
    if (newAlignment > PAGE_SIZE_B) {
      throw new SysError("EINVAL", fn, `smallest page 0x${newAlignment.toString(16)}`);
    }
    if (newAlignment !== this.iovaAlignment) this.checkIovaAlignment(newAlignment);
    const g = domain.geometry;
    try {
      if (g.apertureStart !== 0) this.reserveIova(0n, BigInt(g.apertureStart) - 1n, domain);
      // An aperture reaching 2^64 - 1 (a float above 2^53 rounds up to 2^64) leaves no tail.
      const end = BigInt(g.apertureEnd);
      if (end < ULONG_MAX) this.reserveIova(end + 1n, ULONG_MAX, domain);
      if (this.shouldFail("xa_reserve"))
        throw new SysError("ENOMEM", "xa_reserve", "fault injection");
      this.fillDomain(domain);
    } catch (e) {
      this.removeReservedIova(domain);
      throw e;
    }
    this.iovaAlignment = newAlignment;
    this.domains.push(domain);
  }

  /** io_pagetable.c: iopt_calculate_iova_alignment() — EADDRINUSE if it would rise past an area. */
  calculateIovaAlignment(): void {
    let a = this.largePagesDisabled ? PAGE_SIZE_B : 1n;
    for (const d of this.domains) {
      const p = lowestPgsize(d.pgsizeBitmap);
      if (p > a) a = p;
    }
    for (const access of this.accesses.values()) {
      const p = toBig(access.iovaAlignment);
      if (p > a) a = p;
    }
    if (a > this.iovaAlignment) this.checkIovaAlignment(a);
    this.iovaAlignment = a;
  }

  /**
   * io_pagetable.c: iopt_table_remove_domain() — unmaps everything from `domain` (unpinning if
   * it was the last), drops its reservations and recomputes the alignment.
   */
  tableRemoveDomain(domain: IommuDomain): void {
    const index = this.domains.indexOf(domain);
    if (warnOn(index < 0, "removing a domain that is not in the table")) return;
    // Keep the array dense: the tail entry takes the removed one's slot.
    const tail = this.domains.pop()!;
    if (index !== this.domains.length) this.domains[index] = tail;
    this.unfillDomain(domain);
    this.removeReservedIova(domain);
    this.calculateIovaAlignment();
  }

  // -------------------------------------------------------------------------------------------
  // VFIO type1 splitting

  /** io_pagetable.c: iopt_area_split() — `iova` becomes the last byte of the left half. */
  private areaSplit(area: IoptArea, iova: bigint): void {
    const fn = "iopt_area_split";
    const alignment = this.iovaAlignment;
    const lastIova = area.lastIova;
    const startIova = area.iova;
    const newStart = iova + 1n;
    const pages = area.pages;
    if (iova === startIova || iova === lastIova) return;
    if (pages === null || area.preventAccess) throw new SysError("EBUSY", fn, "area is busy");
    if (newStart & (alignment - 1n) || area.startByte(newStart) & (alignment - 1n)) {
      throw new SysError("EINVAL", fn, "split point misaligned");
    }
    const lhs = this.areaAlloc();
    const rhs = this.areaAlloc();
    // Accesses are not tracked finely enough to be split.
    if (area.numAccesses) throw new SysError("EINVAL", fn, "area has accesses");
    // A domain may have mapped the area with pages larger than the halves.
    if (area.storageDomain !== null && !this.largePagesDisabled) {
      throw new SysError("EINVAL", fn, "area may be mapped with huge pages");
    }
    this.areaItree.remove(area.node!);
    area.node = null;
    this.insertArea(
      lhs,
      pages,
      startIova,
      area.startByte(startIova),
      newStart - startIova,
      area.iommuProt,
    );
    this.insertArea(
      rhs,
      pages,
      newStart,
      area.startByte(newStart),
      lastIova - newStart + 1n,
      area.iommuProt,
    );
    if (area.storageDomain !== null) {
      pages.domainsItree.remove(area.pagesNode!);
      area.pagesNode = null;
      lhs.pagesNode = pages.domainsItree.insert(BigInt(lhs.index), BigInt(lhs.lastIndex), lhs);
      rhs.pagesNode = pages.domainsItree.insert(BigInt(rhs.index), BigInt(rhs.lastIndex), rhs);
    }
    lhs.storageDomain = area.storageDomain;
    lhs.pages = pages;
    rhs.storageDomain = area.storageDomain;
    rhs.pages = pages;
    pages.refs++;
  }

  /** io_pagetable.c: iopt_cut_iova() — splits the areas containing each IOVA after it. */
  cutIova(iovas: readonly bigint[]): void {
    for (const iova of iovas) {
      const area = this.areaItree.iterFirst(iova, iova)?.value;
      if (area === undefined) continue;
      this.areaSplit(area, iova);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Large pages and accesses

  /** io_pagetable.c: iopt_enable_large_pages() */
  enableLargePages(): void {
    this.largePagesDisabled = false;
    this.calculateIovaAlignment();
  }

  /**
   * io_pagetable.c: iopt_disable_large_pages() — EINVAL once domains hold mappings, EADDRINUSE
   * if the PAGE_SIZE alignment it forces conflicts with a mapping.
   */
  disableLargePages(): void {
    if (this.largePagesDisabled) return;
    if (this.domains.length !== 0 && this.areaItree.size !== 0) {
      throw new SysError("EINVAL", "iopt_disable_large_pages", "domains already hold mappings");
    }
    this.largePagesDisabled = true;
    try {
      this.calculateIovaAlignment();
    } catch (e) {
      this.largePagesDisabled = false;
      throw e;
    }
  }

  /** io_pagetable.c: iopt_add_access() — sets `access.ioptAccessListId`. */
  addAccess(access: IoptAccess): void {
    const fn = "iopt_add_access";
    if (this.shouldFail("xa_alloc")) throw new SysError("ENOMEM", "xa_alloc", "fault injection");
    let id = 0;
    while (this.accesses.has(id)) id++;
    if (id > XA_LIMIT_16B) throw new SysError("EBUSY", fn, "access list full");
    this.accesses.set(id, access);
    try {
      this.calculateIovaAlignment();
    } catch (e) {
      this.accesses.delete(id);
      throw e;
    }
    access.ioptAccessListId = id;
  }

  /** io_pagetable.c: iopt_remove_access() */
  removeAccess(access: IoptAccess, ioptAccessListId: number): void {
    warnOn(this.accesses.get(ioptAccessListId) !== access, "access list id");
    this.accesses.delete(ioptAccessListId);
    this.calculateIovaAlignment();
  }

  /** io_pagetable.c: iopt_destroy_table() — everything must be gone but allowed ranges. */
  destroyTable(): void {
    this.removeReservedIova(null);
    this.allowedItree = new IntervalTree<null>();
    warnOn(this.reservedItree.size !== 0, "reserved_itree not empty");
    warnOn(this.domains.length !== 0, "domains not empty");
    warnOn(this.accesses.size !== 0, "access_list not empty");
    warnOn(this.areaItree.size !== 0, "area_itree not empty");
  }
}
