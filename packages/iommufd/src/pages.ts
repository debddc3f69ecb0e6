/**
 * The PFN store under every IOAS mapping: drivers/iommu/iommufd/pages.c (`struct iopt_pages`,
 * the pfn_batch/pfn_reader machinery, pinning and locked-memory accounting, filling and
 * unfilling iommu_domains, in-kernel accesses and their xarray, `iopt_pages_rw_access()`) and the
 * double span walk of drivers/iommu/iommufd/double_span.h.
 *
 * One `IoptPages` is a linear array of `npages` page indexes backed by a user VA range or a memfd
 * range. A page is pinned exactly once while anything uses its index: an area filling a domain
 * (`domainsItree`, the PFN then lives in that domain's page table and is read back with
 * iommu_iova_to_phys()) or an in-kernel access (`accessItree`, the PFN lives in `pinnedPfns`).
 * It is unpinned and unaccounted when its last user goes. Per-page state lives in chunked typed
 * arrays (`PfnXarray`, `PfnBatch`), never in a JS object per page.
 *
 * Caveat:
 * - dma-buf sources (IOPT_ADDRESS_DMABUF) are not modelled: the board has no dma-buf exporter,
 *   so MAP_FILE always takes the fget() path.
 * - Folios are single pages in the model (no THP, no hugetlbfs), so folio_add_pins() never runs.
 * - `TEMP_MEMORY_LIMIT` is 64 KiB as in a non-test kernel unless a test lowers it
 *   (`setTempMemoryLimit`, CONFIG_IOMMUFD_TEST's knob); kmalloc's retry at PAGE_SIZE is kept, as
 *   it changes how many pages one pin call takes.
 * - "mm is gone" (mmget_not_zero() failing) is read from the source task having exited.
 * - IOVAs handed to the IOMMU core are JS numbers: exact below 2^53, which every domain aperture
 *   of the board is.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import {
  __accountLockedVm,
  type AddressSpace,
  type File,
  IOMMU_WRITE,
  type IommuDomain,
  type Kernel,
  KernelBug,
  memfdObjectOf,
  memfdPinFolios,
  type PageAllocator,
  PG,
  pinUserPages,
  SysError,
  type Task,
  type UserStruct,
} from "@vfio-lab/kernel";
import { doubleSpans, type IntervalNode, IntervalTree, type Span } from "./interval-tree.js";
import type { IoptArea } from "./io-pagetable.js";
import {
  IOMMUFD_ACCESS_RW_KTHREAD,
  IOMMUFD_ACCESS_RW_WRITE,
  IOPT_PAGES_ACCOUNT_MM,
  IOPT_PAGES_ACCOUNT_NONE,
  IOPT_PAGES_ACCOUNT_USER,
} from "./uapi.js";

/** pages.c: TEMP_MEMORY_LIMIT — the most one temporary PFN array may take. */
export const TEMP_MEMORY_LIMIT = 65536;

/**
 * The limit in force: TEMP_MEMORY_LIMIT, or what a test set (CONFIG_IOMMUFD_TEST's global
 * `iommufd_test_memory_limit`, like it shared by every kernel in the process).
 */
let tempMemoryLimit = TEMP_MEMORY_LIMIT;

/**
 * selftest.c: IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT — smaller temporary arrays, so that pinning
 * runs in many small batches (the selftests' `mock_domain_limit` variant). EINVAL below one
 * batch element (12 bytes). Tests restore it with `setTempMemoryLimit(TEMP_MEMORY_LIMIT)`.
 */
export function setTempMemoryLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < BATCH_ELM_SIZE) {
    throw new SysError("EINVAL", "iommufd_test", `memory limit ${limit}`);
  }
  tempMemoryLimit = limit;
}
/** pages.c: BATCH_BACKUP_SIZE u64s of stack for destroy paths that cannot fail. */
const BATCH_BACKUP_BYTES = 32 * 8;
/** `type_max(u32)`: the longest run one batch entry can hold. */
const MAX_NPFNS = 0xffff_ffff;
/** sizeof(unsigned long) + sizeof(u32): one batch entry. */
const BATCH_ELM_SIZE = 12;
/** sizeof(struct page *). */
const PTR_SIZE = 8;

/** io_pagetable.h: `enum iopt_address_type`. */
export const IOPT_ADDRESS_USER = 0;
export const IOPT_ADDRESS_FILE = 1;
export const IOPT_ADDRESS_DMABUF = 2;
export type IoptAddressType = typeof IOPT_ADDRESS_USER | typeof IOPT_ADDRESS_FILE;

/** io_pagetable.h: IOPT_PAGES_ACCOUNT_MODE_NUM. */
export const IOPT_PAGES_ACCOUNT_MODE_NUM = 3;

/** A writable list of PFNs (`struct page **` of the C API). */
export interface PfnArray {
  [index: number]: number;
  readonly length: number;
}

/** A model invariant the kernel only WARNs about: reaching it means the model is wrong. */
function warnOn(cond: boolean, what: string): boolean {
  if (cond) throw new KernelBug(`iommufd: WARN_ON(${what})`);
  return false;
}

/** Whether the source mm can still be used (mmget_not_zero()). */
export function mmgetNotZero(task: Task): boolean {
  return (task as Partial<{ readonly hasExited: boolean }>).hasExited !== true;
}

// ---------------------------------------------------------------------------------------------
// The pinned_pfns xarray: index → PFN, in chunks of typed arrays.

const XA_CHUNK_SHIFT = 10;
const XA_CHUNK = 1 << XA_CHUNK_SHIFT;
const XA_CHUNK_MASK = XA_CHUNK - 1;

/**
 * `struct xarray pinned_pfns` holding `xa_mk_value(pfn)`: sparse chunks of 1024 Float64 slots,
 * -1 for an empty slot; a chunk goes away with its last entry.
 */
export class PfnXarray {
  /** Created on first store: most pages objects never hold an access. */
  private chunks: Map<number, { pfns: Float64Array; used: number }> | null = null;
  private count = 0;

  /** Entries stored. */
  get size(): number {
    return this.count;
  }

  isEmpty(): boolean {
    return this.count === 0;
  }

  /** xa_load(): the PFN at `index`, or -1. */
  load(index: number): number {
    const c = this.chunks?.get(Math.floor(index / XA_CHUNK));
    return c === undefined ? -1 : c.pfns[index & XA_CHUNK_MASK]!;
  }

  /** xa_store(): returns the old PFN or -1. */
  store(index: number, pfn: number): number {
    const key = Math.floor(index / XA_CHUNK);
    this.chunks ??= new Map();
    let c = this.chunks.get(key);
    if (c === undefined) {
      c = { pfns: new Float64Array(XA_CHUNK).fill(-1), used: 0 };
      this.chunks.set(key, c);
    }
    const slot = index & XA_CHUNK_MASK;
    const old = c.pfns[slot]!;
    c.pfns[slot] = pfn;
    if (old < 0) {
      c.used++;
      this.count++;
    }
    return old;
  }

  /** xa_erase(): returns the old PFN or -1. */
  erase(index: number): number {
    const key = Math.floor(index / XA_CHUNK);
    const c = this.chunks?.get(key);
    if (c === undefined) return -1;
    const slot = index & XA_CHUNK_MASK;
    const old = c.pfns[slot]!;
    if (old < 0) return -1;
    c.pfns[slot] = -1;
    this.count--;
    if (--c.used === 0) this.chunks?.delete(key);
    return old;
  }
}

// ---------------------------------------------------------------------------------------------
// The double span walk (double_span.h) with Linux's is_used values.

/** `is_used` of interval_tree_double_span_iter. */
const SPAN_DONE = -1;
const SPAN_HOLE = 0;
const SPAN_USED_A = 1;
const SPAN_USED_B = 2;

/**
 * interval_tree_double_span_iter over page indexes (numbers): `kind` is 0 for a hole, 1 for a
 * span used by the first tree, 2 for one used by the second, -1 once done. When both trees are
 * empty (every fresh MAP) the single hole is produced without walking anything.
 */
class DoubleSpanIter {
  kind = SPAN_DONE;
  start = 0;
  last = 0;
  private gen: Generator<Span> | null = null;
  private a: IntervalTree<unknown> | null = null;

  first(a: IntervalTree<unknown>, b: IntervalTree<unknown>, first: number, last: number): this {
    this.a = a;
    if (a.size === 0 && b.size === 0) {
      this.gen = null;
      this.kind = SPAN_HOLE;
      this.start = first;
      this.last = last;
      return this;
    }
    this.gen = doubleSpans(a, b, BigInt(first), BigInt(last));
    this.advance();
    return this;
  }

  get done(): boolean {
    return this.kind === SPAN_DONE;
  }

  next(): void {
    if (this.gen === null) this.kind = SPAN_DONE;
    else this.advance();
  }

  private advance(): void {
    const r = (this.gen as Generator<Span>).next();
    if (r.done === true) {
      this.kind = SPAN_DONE;
      return;
    }
    const s = r.value;
    this.start = Number(s.start);
    this.last = Number(s.last);
    if (s.isHole) this.kind = SPAN_HOLE;
    else {
      // The first tree wins where both are used, so a used span starting inside one of its
      // nodes is its span.
      this.kind =
        (this.a as IntervalTree<unknown>).iterFirst(s.start, s.start) !== undefined
          ? SPAN_USED_A
          : SPAN_USED_B;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// struct iopt_pages

/** Never written: stands in for a tree a pages object has not needed yet. */
const EMPTY_TREE = new IntervalTree<never>();

/** io_pagetable.h: `struct iopt_pages_access` — one interval of pages held for accesses. */
export interface IoptPagesAccess {
  node: IntervalNode<IoptPagesAccess> | null;
  users: number;
}

/** What iopt_pages_update_pinned() charges: an iopt_pages, or change_process's stand-in. */
export interface PinAccountTarget {
  accountMode: number;
  sourceMm: AddressSpace;
  sourceTask: Task;
  sourceUser: UserStruct;
  npinned: number;
  lastNpinned: number;
}

/**
 * io_pagetable.h: `struct iopt_pages` — the pinned-memory source of one MAP (or MAP_FILE), shared
 * by the areas COPY makes from it.
 */
export class IoptPages implements PinAccountTarget {
  /** `kref`. */
  refs = 1;
  /** Pages the source covers (DIV_ROUND_UP(start_byte + length, PAGE_SIZE)). */
  readonly npages: number;
  npinned = 0;
  /** What the accounting was last charged for. */
  lastNpinned = 0;
  sourceTask: Task;
  sourceMm: AddressSpace;
  sourceUser: UserStruct;
  readonly type: IoptAddressType;
  /** IOPT_ADDRESS_USER: the page-aligned user VA of index 0. */
  readonly uptr: bigint;
  /** IOPT_ADDRESS_FILE: the file (a reference is held) and the page-aligned offset of index 0. */
  readonly file: File | null;
  readonly start: bigint;
  readonly writable: boolean;
  accountMode: number;
  readonly pinnedPfns = new PfnXarray();
  // The two trees are created on first use: most pages objects of a large IOAS never need one.
  private accessTree: IntervalTree<IoptPagesAccess> | null = null;
  private domainsTree: IntervalTree<IoptArea> | null = null;

  /** @internal use ioptAllocUserPages() / ioptAllocFilePages(). */
  constructor(
    readonly kernel: Kernel,
    current: Task,
    init: {
      npages: number;
      writable: boolean;
      type: IoptAddressType;
      uptr?: bigint;
      file?: File;
      start?: bigint;
    },
  ) {
    this.npages = init.npages;
    this.writable = init.writable;
    this.type = init.type;
    this.uptr = init.uptr ?? 0n;
    this.file = init.file ?? null;
    this.start = init.start ?? 0n;
    this.sourceMm = current.mm;
    this.sourceTask = current;
    this.sourceUser = kernel.users.allocUid(current.uid);
    this.accountMode = current.capable("CAP_IPC_LOCK")
      ? IOPT_PAGES_ACCOUNT_NONE
      : IOPT_PAGES_ACCOUNT_USER;
  }

  /** Of IoptPagesAccess (`iopt_pages_access::node`). */
  get accessItree(): IntervalTree<IoptPagesAccess> {
    this.accessTree ??= new IntervalTree();
    return this.accessTree;
  }

  /** Of IoptArea (`iopt_area::pages_node`): areas whose storage domain holds their PFNs. */
  get domainsItree(): IntervalTree<IoptArea> {
    this.domainsTree ??= new IntervalTree();
    return this.domainsTree;
  }

  /** The access tree for reading only (a shared empty tree until one exists). */
  get accessItreeRO(): IntervalTree<IoptPagesAccess> {
    return this.accessTree ?? (EMPTY_TREE as IntervalTree<IoptPagesAccess>);
  }

  /** The domains tree for reading only. */
  get domainsItreeRO(): IntervalTree<IoptArea> {
    return this.domainsTree ?? (EMPTY_TREE as IntervalTree<IoptArea>);
  }

  get allocator(): PageAllocator {
    return this.kernel.allocator;
  }

  /** The fault-injection point (`iommufd_should_fail()` and the slab allocator's). */
  shouldFail(site: string): boolean {
    return this.kernel.allocator.shouldFail(site);
  }
}

/** pages.c: iopt_alloc_pages() */
function ioptAllocPages(
  kernel: Kernel,
  current: Task,
  startByte: number,
  length: bigint,
  writable: boolean,
  init: { type: IoptAddressType; uptr?: bigint; file?: File; start?: bigint },
): IoptPages {
  // size_t lengths: the DIV_ROUND_UP below must not overflow.
  if (length > SIZE_MAX - PAGE_SIZE_B || length === 0n) {
    throw new SysError("EINVAL", "iopt_alloc_pages", `length 0x${length.toString(16)}`);
  }
  if (kernel.allocator.shouldFail("kzalloc")) {
    throw new SysError("ENOMEM", "iopt_alloc_pages", "fault injection");
  }
  const npages = Number((length + BigInt(startByte) + PAGE_SIZE_B - 1n) / PAGE_SIZE_B);
  return new IoptPages(kernel, current, { npages, writable, ...init });
}

const U64_MAX = (1n << 64n) - 1n;
const SIZE_MAX = U64_MAX;
const PAGE_SIZE_B = BigInt(PAGE_SIZE);

/** pages.c: iopt_alloc_user_pages() — `uptr` may be any u64, it is only read when pinning. */
export function ioptAllocUserPages(
  kernel: Kernel,
  current: Task,
  uptr: bigint,
  length: bigint,
  writable: boolean,
): IoptPages {
  if (uptr + length > U64_MAX) {
    throw new SysError("EOVERFLOW", "iopt_alloc_user_pages", "user_va + length wraps");
  }
  const startByte = Number(uptr % PAGE_SIZE_B);
  return ioptAllocPages(kernel, current, startByte, length, writable, {
    type: IOPT_ADDRESS_USER,
    uptr: uptr - BigInt(startByte),
  });
}

/** pages.c: iopt_alloc_file_pages() — takes its own reference on `file`. */
export function ioptAllocFilePages(
  kernel: Kernel,
  current: Task,
  file: File,
  startByte: number,
  start: bigint,
  length: bigint,
  writable: boolean,
): IoptPages {
  const pages = ioptAllocPages(kernel, current, startByte, length, writable, {
    type: IOPT_ADDRESS_FILE,
    file,
    start: start - BigInt(startByte),
  });
  kernel.vfs.fget(file);
  return pages;
}

/** io_pagetable.h: iopt_put_pages() — the last reference releases the pages. */
export function ioptPutPages(pages: IoptPages): void {
  if (--pages.refs === 0) ioptReleasePages(pages);
}

/** pages.c: iopt_release_pages() */
function ioptReleasePages(pages: IoptPages): void {
  warnOn(pages.accessItreeRO.size !== 0, "access_itree not empty");
  warnOn(pages.domainsItreeRO.size !== 0, "domains_itree not empty");
  warnOn(pages.npinned !== 0, "npinned");
  warnOn(!pages.pinnedPfns.isEmpty(), "pinned_pfns not empty");
  if (pages.type === IOPT_ADDRESS_FILE && pages.file) pages.kernel.vfs.fput(pages.file);
}

// ---------------------------------------------------------------------------------------------
// Accounting

/** pages.c: incr_user_locked_vm() — the io_uring-style per-user charge. */
function incrUserLockedVm(t: PinAccountTarget, npages: number): void {
  const limit = Math.floor(t.sourceTask.rlimit("RLIMIT_MEMLOCK") / PAGE_SIZE);
  if (t.sourceUser.lockedVm + npages > limit) {
    throw new SysError("ENOMEM", "incr_user_locked_vm", "RLIMIT_MEMLOCK exceeded");
  }
  t.sourceUser.lockedVm += npages;
}

/** pages.c: decr_user_locked_vm() */
function decrUserLockedVm(t: PinAccountTarget, npages: number): void {
  if (warnOn(t.sourceUser.lockedVm < npages, "user locked_vm underflow")) return;
  t.sourceUser.lockedVm -= npages;
}

/** pages.c: update_mm_locked_vm() — VFIO's accounting on the source mm's locked_vm. */
function updateMmLockedVm(t: PinAccountTarget, npages: number, inc: boolean): void {
  if (!mmgetNotZero(t.sourceTask)) {
    throw new SysError("EINVAL", "update_mm_locked_vm", "source mm is gone");
  }
  __accountLockedVm(
    t.sourceMm,
    npages,
    inc,
    { rlimitMemlock: t.sourceTask.rlimit("RLIMIT_MEMLOCK"), capIpcLock: false },
    false,
  );
}

/**
 * pages.c: iopt_pages_update_pinned() — charges (inc) or uncharges `npages` in the target's
 * mode; VmPin (`mm.pinnedVm`) follows in every mode. Leaves everything unchanged on failure.
 */
export function ioptPagesUpdatePinned(t: PinAccountTarget, npages: number, inc: boolean): void {
  switch (t.accountMode) {
    case IOPT_PAGES_ACCOUNT_NONE:
      break;
    case IOPT_PAGES_ACCOUNT_USER:
      if (inc) incrUserLockedVm(t, npages);
      else decrUserLockedVm(t, npages);
      break;
    case IOPT_PAGES_ACCOUNT_MM:
      updateMmLockedVm(t, npages, inc);
      break;
  }
  t.lastNpinned = t.npinned;
  if (inc) t.sourceMm.pinnedVm += npages;
  else t.sourceMm.pinnedVm -= npages;
}

/** pages.c: update_unpinned() — uncharges what was unpinned since the last charge. */
function updateUnpinned(pages: IoptPages): void {
  if (warnOn(pages.npinned > pages.lastNpinned, "npinned > last_npinned")) return;
  if (pages.npinned === pages.lastNpinned) return;
  try {
    ioptPagesUpdatePinned(pages, pages.lastNpinned - pages.npinned, false);
  } catch (e) {
    // The kernel ignores an uncharge it cannot do (the source mm is gone).
    if (!SysError.isInstance(e)) throw e;
  }
}

/**
 * pages.c: pfn_reader_user_update_pinned() — after pinning, charge the difference (failure
 * point "account update" → ENOMEM).
 */
function pfnReaderUserUpdatePinned(pages: IoptPages): void {
  if (pages.npinned === pages.lastNpinned) return;
  let npages: number;
  let inc: boolean;
  if (pages.npinned < pages.lastNpinned) {
    npages = pages.lastNpinned - pages.npinned;
    inc = false;
  } else {
    if (pages.shouldFail("pfn_reader_user_update_pinned")) {
      throw new SysError("ENOMEM", "pfn_reader_user_update_pinned", "fault injection");
    }
    npages = pages.npinned - pages.lastNpinned;
    inc = true;
  }
  ioptPagesUpdatePinned(pages, npages, inc);
}

// ---------------------------------------------------------------------------------------------
// Temporary memory

/**
 * pages.c: temp_kmalloc() — how many bytes a temporary array gets: capped at TEMP_MEMORY_LIMIT,
 * PAGE_SIZE when the big allocation fails, `backupLen` (never fails) when a backup exists.
 * Returns 0 on failure.
 */
function tempKmalloc(pages: IoptPages, size: number, backupLen: number): number {
  if (warnOn(size === 0, "temp_kmalloc size 0")) return 0;
  if (size < backupLen) return size;
  if (backupLen === 0 && pages.shouldFail("temp_kmalloc")) return 0;
  size = Math.min(size, tempMemoryLimit);
  if (!pages.shouldFail("kmalloc")) return size;
  if (backupLen !== 0) {
    if (!pages.shouldFail("kmalloc")) return PAGE_SIZE;
    return backupLen;
  }
  return pages.shouldFail("kmalloc") ? 0 : PAGE_SIZE;
}

// ---------------------------------------------------------------------------------------------
// struct pfn_batch: runs of contiguous PFNs.

class PfnBatch {
  pfns: Float64Array;
  npfns: Uint32Array;
  arraySize: number;
  end = 0;
  totalPfns = 0;

  constructor(arraySize: number) {
    this.arraySize = arraySize;
    this.pfns = new Float64Array(arraySize);
    this.npfns = new Uint32Array(arraySize);
  }

  /** pages.c: batch_clear() */
  clear(): void {
    this.totalPfns = 0;
    this.end = 0;
    this.pfns[0] = 0;
    this.npfns[0] = 0;
  }

  /** pages.c: batch_clear_carry() — keeps the last `keep` PFNs at the front. */
  clearCarry(keep: number): void {
    if (keep === 0) {
      this.clear();
      return;
    }
    const e = this.end - 1;
    this.pfns[0] = this.pfns[e]! + (this.npfns[e]! - keep);
    this.npfns[0] = keep;
    this.totalPfns = keep;
    this.end = 1;
  }

  /** pages.c: batch_skip_carry() */
  skipCarry(skip: number): void {
    if (this.totalPfns === 0) return;
    skip = Math.min(this.totalPfns, skip);
    this.pfns[0] = this.pfns[0]! + skip;
    this.npfns[0] = this.npfns[0]! - skip;
    this.totalPfns -= skip;
  }

  /** pages.c: batch_add_pfn_num() — false when the batch is full. */
  addPfnNum(pfn: number, nr: number): boolean {
    const end = this.end;
    if (
      end !== 0 &&
      pfn === this.pfns[end - 1]! + this.npfns[end - 1]! &&
      nr <= MAX_NPFNS - this.npfns[end - 1]!
    ) {
      this.npfns[end - 1] = this.npfns[end - 1]! + nr;
    } else if (end < this.arraySize) {
      this.pfns[end] = pfn;
      this.npfns[end] = nr;
      this.end++;
    } else {
      return false;
    }
    this.totalPfns += nr;
    return true;
  }

  /** pages.c: batch_add_pfn() */
  addPfn(pfn: number): boolean {
    return this.addPfnNum(pfn, 1);
  }
}

/** pages.c: __batch_init() — ENOMEM when no memory at all could be had. */
function batchInit(pages: IoptPages, maxPages: number, backupLen = 0): PfnBatch {
  const size = tempKmalloc(pages, maxPages * BATCH_ELM_SIZE, backupLen);
  if (size === 0) throw new SysError("ENOMEM", "batch_init", "temp_kmalloc failed");
  const batch = new PfnBatch(Math.max(1, Math.floor(size / BATCH_ELM_SIZE)));
  batch.clear();
  return batch;
}

/** pages.c: batch_init_backup() — cannot fail. */
function batchInitBackup(pages: IoptPages, maxPages: number): PfnBatch {
  return batchInit(pages, maxPages, BATCH_BACKUP_BYTES);
}

// ---------------------------------------------------------------------------------------------
// Index ↔ IOVA of an area (numbers: what the IOMMU core takes).

/** pages.c: iopt_area_index_to_iova() */
function areaIndexToIova(area: IoptArea, index: number): number {
  if (index === area.index) return area.iovaNum;
  return area.iovaNum - area.pageOffset + (index - area.index) * PAGE_SIZE;
}

/** pages.c: iopt_area_index_to_iova_last() */
function areaIndexToIovaLast(area: IoptArea, index: number): number {
  if (index === area.lastIndex) return area.lastIovaNum;
  return area.iovaNum - area.pageOffset + (index - area.index + 1) * PAGE_SIZE - 1;
}

/** pages.c: iommu_unmap_nofail() */
function iommuUnmapNofail(kernel: Kernel, domain: IommuDomain, iova: number, size: number): void {
  const ret = kernel.iommu.iommuUnmap(domain, iova, size);
  warnOn(ret !== size, `iommu_unmap 0x${iova.toString(16)}+0x${size.toString(16)} gave ${ret}`);
}

/** pages.c: iopt_area_unmap_domain_range() */
function areaUnmapDomainRange(
  area: IoptArea,
  domain: IommuDomain,
  startIndex: number,
  lastIndex: number,
): void {
  const startIova = areaIndexToIova(area, startIndex);
  iommuUnmapNofail(
    area.kernel,
    domain,
    startIova,
    areaIndexToIovaLast(area, lastIndex) - startIova + 1,
  );
}

/** pages.c: iopt_pages_find_domain_area() */
function pagesFindDomainArea(pages: IoptPages, index: number): IoptArea | undefined {
  const b = BigInt(index);
  return pages.domainsItreeRO.iterFirst(b, b)?.value;
}

/** pages.c: batch_from_domain() — reads PFNs back from the domain's page table. */
function batchFromDomain(
  batch: PfnBatch,
  domain: IommuDomain,
  area: IoptArea,
  startIndex: number,
  lastIndex: number,
): void {
  const iommu = area.kernel.iommu;
  let pageOffset = startIndex === area.index ? area.pageOffset : 0;
  let iova = areaIndexToIova(area, startIndex);
  while (startIndex <= lastIndex) {
    const phys = iommu.iommuIovaToPhys(domain, iova) - pageOffset;
    if (!batch.addPfn(Math.floor(phys / PAGE_SIZE))) return;
    iova += PAGE_SIZE - pageOffset;
    pageOffset = 0;
    startIndex++;
  }
}

/** pages.c: raw_pages_from_domain() */
function rawPagesFromDomain(
  domain: IommuDomain,
  area: IoptArea,
  startIndex: number,
  lastIndex: number,
  out: PfnArray,
  outAt: number,
): number {
  const iommu = area.kernel.iommu;
  let pageOffset = startIndex === area.index ? area.pageOffset : 0;
  let iova = areaIndexToIova(area, startIndex);
  while (startIndex <= lastIndex) {
    const phys = iommu.iommuIovaToPhys(domain, iova) - pageOffset;
    out[outAt++] = Math.floor(phys / PAGE_SIZE);
    iova += PAGE_SIZE - pageOffset;
    pageOffset = 0;
    startIndex++;
  }
  return outAt;
}

/** pages.c: batch_from_domain_continue() — only extends the last run. */
function batchFromDomainContinue(
  batch: PfnBatch,
  domain: IommuDomain,
  area: IoptArea,
  startIndex: number,
  lastIndex: number,
): void {
  const arraySize = batch.arraySize;
  batch.arraySize = batch.end;
  batchFromDomain(batch, domain, area, startIndex, lastIndex);
  batch.arraySize = arraySize;
}

/**
 * pages.c: batch_iommu_map_small() — with large pages disabled (VFIO type1 compat) every page
 * is its own iommu_map(), so any page can later be cut out again.
 */
function batchIommuMapSmall(
  kernel: Kernel,
  domain: IommuDomain,
  iova: number,
  paddr: number,
  size: number,
  prot: number,
): void {
  const startIova = iova;
  try {
    while (size) {
      kernel.iommu.iommuMap(domain, iova, paddr, PAGE_SIZE, prot);
      iova += PAGE_SIZE;
      paddr += PAGE_SIZE;
      size -= PAGE_SIZE;
    }
  } catch (e) {
    if (startIova !== iova) iommuUnmapNofail(kernel, domain, startIova, iova - startIova);
    throw e;
  }
}

/** pages.c: batch_to_domain() — one iommu_map() per run of contiguous PFNs. */
function batchToDomain(
  batch: PfnBatch,
  domain: IommuDomain,
  area: IoptArea,
  startIndex: number,
): void {
  const kernel = area.kernel;
  const disableLargePages = area.iopt.largePagesDisabled;
  const lastIova = area.lastIovaNum;
  const iommuProt = area.iommuProt;
  let pageOffset = startIndex === area.index ? area.pageOffset : 0;
  const startIova = areaIndexToIova(area, startIndex);
  let iova = startIova;
  let nextIova = startIova;
  let cur = 0;
  try {
    while (cur < batch.end) {
      nextIova = Math.min(lastIova + 1, nextIova + batch.npfns[cur]! * PAGE_SIZE - pageOffset);
      const paddr = batch.pfns[cur]! * PAGE_SIZE + pageOffset;
      if (disableLargePages) {
        batchIommuMapSmall(kernel, domain, iova, paddr, nextIova - iova, iommuProt);
      } else {
        kernel.iommu.iommuMap(domain, iova, paddr, nextIova - iova, iommuProt);
      }
      iova = nextIova;
      pageOffset = 0;
      cur++;
    }
  } catch (e) {
    if (startIova !== iova) iommuUnmapNofail(kernel, domain, startIova, iova - startIova);
    throw e;
  }
}

/** pages.c: batch_from_xarray() */
function batchFromXarray(batch: PfnBatch, xa: PfnXarray, startIndex: number, lastIndex: number) {
  for (;;) {
    const pfn = xa.load(startIndex);
    warnOn(pfn < 0, `xarray hole at ${startIndex}`);
    if (!batch.addPfn(pfn) || startIndex === lastIndex) break;
    startIndex++;
  }
}

/** pages.c: batch_from_xarray_clear() */
function batchFromXarrayClear(
  batch: PfnBatch,
  xa: PfnXarray,
  startIndex: number,
  lastIndex: number,
): void {
  for (;;) {
    const pfn = xa.load(startIndex);
    warnOn(pfn < 0, `xarray hole at ${startIndex}`);
    if (!batch.addPfn(pfn)) break;
    xa.erase(startIndex);
    if (startIndex === lastIndex) break;
    startIndex++;
  }
}

/** pages.c: clear_xarray() */
function clearXarray(xa: PfnXarray, startIndex: number, lastIndex: number): void {
  for (let i = startIndex; i <= lastIndex; i++) xa.erase(i);
}

/**
 * pages.c: pages_to_xarray() — stores `pfns[at..]` at [startIndex, lastIndex]; the fault point
 * half-way (→ EINVAL) clears what was stored.
 */
function pagesToXarray(
  pages: IoptPages,
  startIndex: number,
  lastIndex: number,
  pfns: PfnArray,
  at: number,
): void {
  const n = lastIndex - startIndex + 1;
  const half = Math.floor(n / 2);
  for (let i = 0; i < n; i++) {
    if (i === half && pages.shouldFail("pages_to_xarray")) {
      if (i !== 0) clearXarray(pages.pinnedPfns, startIndex, startIndex + i - 1);
      throw new SysError("EINVAL", "pages_to_xarray", "fault injection");
    }
    const old = pages.pinnedPfns.store(startIndex + i, pfns[at + i]!);
    warnOn(old >= 0, `xarray slot ${startIndex + i} in use`);
  }
}

/** mm/gup.c: unpin_user_page_range_dirty_lock() for a run of `n` PFNs. */
function unpinPfnRange(pages: IoptPages, pfn: number, n: number, dirty: boolean): void {
  const a = pages.allocator;
  for (let i = 0; i < n; i++) {
    if (dirty) a.setPageFlags(pfn + i, PG.dirty);
    a.unpin(pfn + i);
  }
}

/** pages.c: batch_unpin() — unpins `npages` PFNs of the batch from `firstPageOff`. */
function batchUnpin(batch: PfnBatch, pages: IoptPages, firstPageOff: number, npages: number) {
  let cur = 0;
  while (firstPageOff) {
    if (batch.npfns[cur]! > firstPageOff) break;
    firstPageOff -= batch.npfns[cur]!;
    cur++;
  }
  while (npages) {
    const toUnpin = Math.min(npages, batch.npfns[cur]! - firstPageOff);
    unpinPfnRange(pages, batch.pfns[cur]! + firstPageOff, toUnpin, pages.writable);
    pages.npinned -= toUnpin;
    cur++;
    firstPageOff = 0;
    npages -= toUnpin;
  }
}

/** pages.c: copy_data_page() */
function copyDataPage(
  pages: IoptPages,
  pfn: number,
  data: Uint8Array,
  offset: number,
  flags: number,
): void {
  const mem = pages.allocator.memory;
  const phys = pfn * PAGE_SIZE + offset;
  if (flags & IOMMUFD_ACCESS_RW_WRITE) {
    mem.write(phys, data);
    pages.allocator.setPageFlags(pfn, PG.dirty);
  } else {
    mem.read(phys, data);
  }
}

/** pages.c: batch_rw() — returns the bytes copied. */
function batchRw(
  pages: IoptPages,
  batch: PfnBatch,
  data: Uint8Array,
  offset: number,
  flags: number,
): number {
  let copied = 0;
  let npage = 0;
  let cur = 0;
  let length = data.length;
  while (cur < batch.end) {
    const bytes = Math.min(length, PAGE_SIZE - offset);
    copyDataPage(
      pages,
      batch.pfns[cur]! + npage,
      data.subarray(copied, copied + bytes),
      offset,
      flags,
    );
    offset = 0;
    length -= bytes;
    copied += bytes;
    npage++;
    if (npage === batch.npfns[cur]) {
      npage = 0;
      cur++;
    }
    if (!length) break;
  }
  return copied;
}

// ---------------------------------------------------------------------------------------------
// struct pfn_reader_user: the pin_user_pages() / memfd_pin_folios() path.

class PfnReaderUser {
  /** PFNs pinned by the last pin call, for indexes [upagesStart, upagesEnd). */
  upages: number[] | null = null;
  /** Capacity in pages (`upages_len / sizeof(ptr)`); 0 until allocated. */
  upagesCap = 0;
  upagesStart = 0;
  upagesEnd = 0;
  /** -1: no mm reference yet; 0: held (the model has no mmap_lock to take). */
  locked = -1;
  readonly write: boolean;

  constructor(pages: IoptPages) {
    this.write = pages.writable;
  }

  /** pages.c: pfn_reader_user_destroy() */
  destroy(): void {
    this.locked = -1;
    this.upages = null;
    this.upagesCap = 0;
  }
}

/**
 * pages.c: pfn_reader_user_pin() — pins up to a temporary array's worth of pages from
 * `startIndex`, recording them as [upagesStart, upagesEnd).
 */
function pfnReaderUserPin(
  user: PfnReaderUser,
  pages: IoptPages,
  startIndex: number,
  lastIndex: number,
): void {
  let npages = lastIndex - startIndex + 1;
  if (user.upagesCap === 0) {
    const bytes = tempKmalloc(pages, npages * PTR_SIZE, 0);
    if (bytes === 0) throw new SysError("ENOMEM", "pfn_reader_user_pin", "temp_kmalloc failed");
    user.upagesCap = Math.max(1, Math.floor(bytes / PTR_SIZE));
  }
  if (user.locked === -1) {
    if (pages.type === IOPT_ADDRESS_USER && !mmgetNotZero(pages.sourceTask)) {
      throw new SysError("EFAULT", "pfn_reader_user_pin", "source mm is gone");
    }
    user.locked = 0;
  }
  npages = Math.min(npages, user.upagesCap);
  if (pages.shouldFail("pfn_reader_user_pin")) {
    throw new SysError("EFAULT", "pfn_reader_user_pin", "fault injection");
  }
  let pfns: number[];
  if (pages.type === IOPT_ADDRESS_FILE) {
    pfns = pinMemfdPages(pages, pages.start + BigInt(startIndex) * PAGE_SIZE_B, npages);
  } else {
    const uptr = pages.uptr + BigInt(startIndex) * PAGE_SIZE_B;
    if (uptr > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new SysError("EFAULT", "pin_user_pages", "beyond TASK_SIZE");
    }
    pfns = pinUserPages(pages.sourceMm, Number(uptr), npages, {
      write: user.write,
      longterm: true,
    });
  }
  if (pfns.length === 0) throw new SysError("EFAULT", "pfn_reader_user_pin", "nothing pinned");
  pages.npinned += pfns.length;
  user.upages = pfns;
  user.upagesStart = startIndex;
  user.upagesEnd = startIndex + pfns.length;
}

/** pages.c: pin_memfd_pages() */
function pinMemfdPages(pages: IoptPages, start: bigint, npages: number): number[] {
  const obj = pages.file ? memfdObjectOf(pages.file) : undefined;
  // memfd_pin_folios() takes shmem and hugetlbfs files only.
  if (obj === undefined) throw new SysError("EINVAL", "memfd_pin_folios", "not a memfd");
  const end = start + BigInt(npages) * PAGE_SIZE_B - 1n;
  if (end > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new SysError("EINVAL", "memfd_pin_folios", "beyond EOF");
  }
  return memfdPinFolios(obj, Number(start), Number(end), npages).pfns;
}

// ---------------------------------------------------------------------------------------------
// struct pfn_reader: PFNs of an index range from the xarray, a domain or the source.

class PfnReader {
  readonly span = new DoubleSpanIter();
  batch!: PfnBatch;
  batchStartIndex: number;
  batchEndIndex: number;
  readonly user: PfnReaderUser;

  constructor(
    readonly pages: IoptPages,
    startIndex: number,
    readonly lastIndex: number,
  ) {
    this.batchStartIndex = startIndex;
    this.batchEndIndex = startIndex;
    this.user = new PfnReaderUser(pages);
  }

  /** pages.c: pfn_reader_init() */
  init(): void {
    this.batch = batchInit(this.pages, this.lastIndex - this.batchStartIndex + 1);
    this.span.first(
      this.pages.accessItreeRO,
      this.pages.domainsItreeRO,
      this.batchStartIndex,
      this.lastIndex,
    );
  }

  /** pages.c: pfn_reader_fill_span() */
  fillSpan(): void {
    const span = this.span;
    const pages = this.pages;
    let startIndex = this.batchEndIndex;
    if (span.kind === SPAN_USED_A) {
      batchFromXarray(this.batch, pages.pinnedPfns, startIndex, span.last);
      return;
    }
    if (span.kind === SPAN_USED_B) {
      // Take as much as the first domain area here holds; the next call finds the next area.
      const area = pagesFindDomainArea(pages, startIndex);
      if (area === undefined || area.storageDomain === null) {
        throw new KernelBug("iommufd: pfn_reader_fill_span: no domain area");
      }
      batchFromDomain(
        this.batch,
        area.storageDomain,
        area,
        startIndex,
        Math.min(area.lastIndex, span.last),
      );
      return;
    }
    const user = this.user;
    if (startIndex >= user.upagesEnd) pfnReaderUserPin(user, pages, startIndex, span.last);
    const npages = user.upagesEnd - startIndex;
    startIndex -= user.upagesStart;
    const upages = user.upages as number[];
    for (let i = 0; i < npages; i++) {
      if (!this.batch.addPfn(upages[startIndex + i]!)) break;
    }
  }

  /** pages.c: pfn_reader_done() */
  get done(): boolean {
    return this.batchStartIndex === this.lastIndex + 1;
  }

  /** pages.c: pfn_reader_next() — fills the next batch. */
  next(): void {
    this.batch.clear();
    this.batchStartIndex = this.batchEndIndex;
    while (this.batchEndIndex !== this.lastIndex + 1) {
      const npfns = this.batch.totalPfns;
      warnOn(this.span.done, "span iterator done early");
      this.fillSpan();
      warnOn(this.batch.totalPfns === 0, "empty batch");
      this.batchEndIndex = this.batchStartIndex + this.batch.totalPfns;
      if (this.batchEndIndex === this.span.last + 1) this.span.next();
      if (npfns === this.batch.totalPfns) return;
    }
  }

  /** pages.c: pfn_reader_update_pinned() */
  updatePinned(): void {
    pfnReaderUserUpdatePinned(this.pages);
  }

  /** pages.c: pfn_reader_unpin() — unpins the batch's pages nothing else holds. */
  unpin(): void {
    const start = this.batchStartIndex;
    const last = this.batchEndIndex - 1;
    const pages = this.pages;
    const span = new DoubleSpanIter().first(pages.accessItreeRO, pages.domainsItreeRO, start, last);
    for (; !span.done; span.next()) {
      if (span.kind !== SPAN_HOLE) continue;
      batchUnpin(this.batch, pages, span.start - start, span.last - span.start + 1);
    }
  }

  /** pages.c: pfn_reader_release_pins() */
  releasePins(): void {
    const user = this.user;
    if (user.upagesEnd > this.batchEndIndex) {
      // Pinned but never moved into the batch: just unpin.
      const npages = user.upagesEnd - this.batchEndIndex;
      const at = this.batchEndIndex - user.upagesStart;
      const upages = user.upages as number[];
      const a = this.pages.allocator;
      for (let i = 0; i < npages; i++) a.unpin(upages[at + i]!);
      this.pages.npinned -= npages;
      user.upagesEnd = this.batchEndIndex;
    }
    if (this.batchStartIndex !== this.batchEndIndex) {
      this.unpin();
      this.batchStartIndex = this.batchEndIndex;
    }
  }

  /** pages.c: pfn_reader_destroy() */
  destroy(): void {
    this.releasePins();
    this.user.destroy();
    warnOn(this.pages.lastNpinned !== this.pages.npinned, "last_npinned != npinned");
  }
}

/** pages.c: pfn_reader_first() — a reader holding its first batch. */
function pfnReaderFirst(pages: IoptPages, startIndex: number, lastIndex: number): PfnReader {
  const pfns = new PfnReader(pages, startIndex, lastIndex);
  pfns.init();
  try {
    pfns.next();
  } catch (e) {
    pfns.destroy();
    throw e;
  }
  return pfns;
}

// ---------------------------------------------------------------------------------------------
// Domains

/**
 * pages.c: iopt_area_unpin_domain() — unmaps then unpins [startIndex, lastIndex] of a hole,
 * reading ahead to a PFN discontinuity so that no unmap cuts through one iommu_map().
 */
function areaUnpinDomain(
  batch: PfnBatch,
  area: IoptArea,
  pages: IoptPages,
  domain: IommuDomain,
  startIndex: number,
  lastIndex: number,
  unmappedEnd: { value: number },
  realLastIndex: number,
): void {
  while (startIndex <= lastIndex) {
    let batchLastIndex: number;
    if (unmappedEnd.value <= lastIndex) {
      const start = Math.max(startIndex, unmappedEnd.value);
      batchFromDomain(batch, domain, area, start, lastIndex);
      batchLastIndex = startIndex + batch.totalPfns - 1;
    } else {
      batchLastIndex = lastIndex;
    }
    if (batchLastIndex === lastIndex && lastIndex !== realLastIndex) {
      batchFromDomainContinue(batch, domain, area, lastIndex + 1, realLastIndex);
    }
    if (unmappedEnd.value <= batchLastIndex) {
      areaUnmapDomainRange(area, domain, unmappedEnd.value, startIndex + batch.totalPfns - 1);
      unmappedEnd.value = startIndex + batch.totalPfns;
    }
    // Unpinning follows the unmap: nothing still DMA-mapped is ever unpinned.
    batchUnpin(batch, pages, 0, batchLastIndex - startIndex + 1);
    startIndex = batchLastIndex + 1;
    batch.clearCarry(unmappedEnd.value - batchLastIndex - 1);
  }
}

/** pages.c: __iopt_area_unfill_domain() */
function __areaUnfillDomain(
  area: IoptArea,
  pages: IoptPages,
  domain: IommuDomain,
  lastIndex: number,
): void {
  const startIndex = area.index;
  const unmappedEnd = { value: startIndex };
  const batch = batchInitBackup(pages, lastIndex + 1);
  const span = new DoubleSpanIter().first(
    pages.domainsItreeRO,
    pages.accessItreeRO,
    startIndex,
    lastIndex,
  );
  for (; !span.done; span.next()) {
    if (span.kind !== SPAN_HOLE) {
      batch.skipCarry(span.last - span.start + 1);
      continue;
    }
    areaUnpinDomain(batch, area, pages, domain, span.start, span.last, unmappedEnd, lastIndex);
  }
  // A range that ends under an access still has to leave the domain, without unpinning.
  if (unmappedEnd.value !== lastIndex + 1) {
    areaUnmapDomainRange(area, domain, unmappedEnd.value, lastIndex);
  }
  warnOn(batch.totalPfns !== 0, "batch carry left over");
  updateUnpinned(pages);
}

/** pages.c: iopt_area_unfill_partial_domain() */
function areaUnfillPartialDomain(
  area: IoptArea,
  pages: IoptPages,
  domain: IommuDomain,
  endIndex: number,
): void {
  if (endIndex !== area.index) __areaUnfillDomain(area, pages, domain, endIndex - 1);
}

/** pages.c: iopt_area_unmap_domain() — unmap only; some other domain keeps the pins. */
export function ioptAreaUnmapDomain(area: IoptArea, domain: IommuDomain): void {
  iommuUnmapNofail(area.kernel, domain, area.iovaNum, area.lastIovaNum - area.iovaNum + 1);
}

/**
 * pages.c: iopt_area_unfill_domain() — unmaps the area from `domain` and unpins what nothing
 * else holds. The area must already be out of `domainsItree`.
 */
export function ioptAreaUnfillDomain(area: IoptArea, pages: IoptPages, domain: IommuDomain) {
  __areaUnfillDomain(area, pages, domain, area.lastIndex);
}

/**
 * pages.c: iopt_area_fill_domain() — maps the area's PFNs into one more domain (attaching a
 * domain to an IOAS). All or nothing.
 */
export function ioptAreaFillDomain(area: IoptArea, domain: IommuDomain): void {
  const pages = area.pages as IoptPages;
  const pfns = pfnReaderFirst(pages, area.index, area.lastIndex);
  let doneEndIndex = pfns.batchStartIndex;
  try {
    while (!pfns.done) {
      doneEndIndex = pfns.batchStartIndex;
      batchToDomain(pfns.batch, domain, area, pfns.batchStartIndex);
      doneEndIndex = pfns.batchEndIndex;
      pfns.next();
    }
    pfns.updatePinned();
  } catch (e) {
    pfns.releasePins();
    areaUnfillPartialDomain(area, pages, domain, doneEndIndex);
    pfns.destroy();
    throw e;
  }
  pfns.destroy();
}

/**
 * pages.c: iopt_area_fill_domains() — a new area's PFNs into every domain of its IOAS; the area
 * joins `domainsItree` with domain 0 as its storage. All or nothing.
 */
export function ioptAreaFillDomains(area: IoptArea, pages: IoptPages): void {
  const iopt = area.iopt;
  const domains = iopt.domains;
  if (domains.length === 0) return;
  const pfns = pfnReaderFirst(pages, area.index, area.lastIndex);
  let doneFirstEnd = area.index;
  let doneAllEnd = area.index;
  let index = 0;
  try {
    while (!pfns.done) {
      doneFirstEnd = pfns.batchEndIndex;
      doneAllEnd = pfns.batchStartIndex;
      for (index = 0; index < domains.length; index++) {
        batchToDomain(pfns.batch, domains[index]!, area, pfns.batchStartIndex);
      }
      index = domains.length - 1;
      doneAllEnd = doneFirstEnd;
      pfns.next();
    }
    pfns.updatePinned();
  } catch (e) {
    pfns.releasePins();
    for (let unmapIndex = 0; unmapIndex < domains.length; unmapIndex++) {
      const domain = domains[unmapIndex]!;
      const endIndex = unmapIndex < index ? doneFirstEnd : doneAllEnd;
      // The area is not in domains_itree yet: the last domain unpins, the others only unmap.
      if (unmapIndex !== domains.length - 1) {
        if (endIndex !== area.index) areaUnmapDomainRange(area, domain, area.index, endIndex - 1);
      } else {
        areaUnfillPartialDomain(area, pages, domain, endIndex);
      }
    }
    pfns.destroy();
    throw e;
  }
  pfns.destroy();
  area.storageDomain = domains[0]!;
  area.pagesNode = pages.domainsItree.insert(BigInt(area.index), BigInt(area.lastIndex), area);
}

/**
 * pages.c: iopt_area_unfill_domains() — an area going away: unmapped from every domain, its
 * PFNs unpinned unless an access still holds them.
 */
export function ioptAreaUnfillDomains(area: IoptArea, pages: IoptPages): void {
  const storage = area.storageDomain;
  if (storage === null) return;
  for (const domain of area.iopt.domains) {
    if (domain === storage) continue;
    areaUnmapDomainRange(area, domain, area.index, area.lastIndex);
  }
  pages.domainsItree.remove(area.pagesNode as IntervalNode<IoptArea>);
  area.pagesNode = null;
  ioptAreaUnfillDomain(area, pages, storage);
  area.storageDomain = null;
}

// ---------------------------------------------------------------------------------------------
// In-kernel accesses

/** pages.c: iopt_pages_unpin_xarray() */
function pagesUnpinXarray(
  batch: PfnBatch,
  pages: IoptPages,
  startIndex: number,
  endIndex: number,
): void {
  while (startIndex <= endIndex) {
    batchFromXarrayClear(batch, pages.pinnedPfns, startIndex, endIndex);
    batchUnpin(batch, pages, 0, batch.totalPfns);
    startIndex += batch.totalPfns;
    batch.clear();
  }
}

/**
 * pages.c: iopt_pages_unfill_xarray() — after an access interval went away: unpin what nothing
 * holds, drop from the xarray what a domain still stores.
 */
export function ioptPagesUnfillXarray(pages: IoptPages, startIndex: number, lastIndex: number) {
  let batch: PfnBatch | null = null;
  const span = new DoubleSpanIter().first(
    pages.accessItreeRO,
    pages.domainsItreeRO,
    startIndex,
    lastIndex,
  );
  for (; !span.done; span.next()) {
    if (span.kind === SPAN_HOLE) {
      batch ??= batchInitBackup(pages, lastIndex - startIndex + 1);
      pagesUnpinXarray(batch, pages, span.start, span.last);
    } else if (span.kind === SPAN_USED_B) {
      clearXarray(pages.pinnedPfns, span.start, span.last);
    }
  }
  updateUnpinned(pages);
}

/** pages.c: iopt_pages_fill_from_xarray() — the fast path of an already filled access. */
export function ioptPagesFillFromXarray(
  pages: IoptPages,
  startIndex: number,
  lastIndex: number,
  out: PfnArray,
  outAt = 0,
): void {
  for (let i = startIndex; i <= lastIndex; i++) {
    const pfn = pages.pinnedPfns.load(i);
    warnOn(pfn < 0, `xarray hole at ${i}`);
    out[outAt++] = pfn;
  }
}

/** pages.c: iopt_pages_fill_from_domain() */
function pagesFillFromDomain(
  pages: IoptPages,
  startIndex: number,
  lastIndex: number,
  out: PfnArray,
  outAt: number,
): void {
  while (startIndex !== lastIndex + 1) {
    const area = pagesFindDomainArea(pages, startIndex);
    if (area === undefined || area.storageDomain === null) {
      throw new SysError("EINVAL", "iopt_pages_fill_from_domain", "no domain area");
    }
    const domainLast = Math.min(area.lastIndex, lastIndex);
    outAt = rawPagesFromDomain(area.storageDomain, area, startIndex, domainLast, out, outAt);
    startIndex = domainLast + 1;
  }
}

/** pages.c: iopt_pages_fill() — pins [startIndex, lastIndex] straight into `out`. */
function pagesFill(
  pages: IoptPages,
  user: PfnReaderUser,
  startIndex: number,
  lastIndex: number,
  out: PfnArray,
  outAt: number,
): void {
  let cur = startIndex;
  try {
    while (cur !== lastIndex + 1) {
      pfnReaderUserPin(user, pages, cur, lastIndex);
      const upages = user.upages as number[];
      for (let i = 0; i < upages.length; i++) out[outAt + (cur - startIndex) + i] = upages[i]!;
      cur = user.upagesEnd;
    }
  } catch (e) {
    if (startIndex !== cur) pagesErrUnpin(pages, startIndex, cur - 1, out, outAt);
    throw e;
  }
}

/** pages.c: iopt_pages_err_unpin() */
function pagesErrUnpin(
  pages: IoptPages,
  startIndex: number,
  lastIndex: number,
  pfns: PfnArray,
  at: number,
): void {
  const n = lastIndex - startIndex + 1;
  for (let i = 0; i < n; i++) pages.allocator.unpin(pfns[at + i]!);
  pages.npinned -= n;
}

/**
 * pages.c: iopt_pages_fill_xarray() — makes [startIndex, lastIndex] present in the xarray
 * (copying from the xarray, a domain or by pinning) and returns the PFNs in `out`. On failure
 * the xarray is left as it was.
 */
export function ioptPagesFillXarray(
  pages: IoptPages,
  startIndex: number,
  lastIndex: number,
  out: PfnArray,
): void {
  let xaEnd = startIndex;
  const user = new PfnReaderUser(pages);
  // The output array is the pin buffer of user memory; memfd folios still need a temporary one.
  if (pages.type === IOPT_ADDRESS_USER) user.upagesCap = lastIndex - startIndex + 1;
  try {
    const span = new DoubleSpanIter().first(
      pages.accessItreeRO,
      pages.domainsItreeRO,
      startIndex,
      lastIndex,
    );
    for (; !span.done; span.next()) {
      const at = span.start - startIndex;
      if (span.kind === SPAN_USED_A) {
        ioptPagesFillFromXarray(pages, span.start, span.last, out, at);
        continue;
      }
      if (span.kind === SPAN_USED_B) {
        pagesFillFromDomain(pages, span.start, span.last, out, at);
        pagesToXarray(pages, span.start, span.last, out, at);
        xaEnd = span.last + 1;
        continue;
      }
      pagesFill(pages, user, span.start, span.last, out, at);
      try {
        pagesToXarray(pages, span.start, span.last, out, at);
      } catch (e) {
        pagesErrUnpin(pages, span.start, span.last, out, at);
        throw e;
      }
      xaEnd = span.last + 1;
    }
    pfnReaderUserUpdatePinned(pages);
  } catch (e) {
    if (startIndex !== xaEnd) ioptPagesUnfillXarray(pages, startIndex, xaEnd - 1);
    user.destroy();
    throw e;
  }
  user.destroy();
}

/** pages.c: iopt_pages_get_exact_access() */
function pagesGetExactAccess(
  pages: IoptPages,
  index: number,
  last: number,
): IoptPagesAccess | undefined {
  const s = BigInt(index);
  const l = BigInt(last);
  const t = pages.accessItreeRO;
  for (let n = t.iterFirst(s, l); n; n = t.iterNext(n, s, l)) {
    if (n.start === s && n.last === l) return n.value;
  }
  return undefined;
}

/**
 * pages.c: iopt_area_add_access() — records an in-kernel access to page indexes
 * [startIndex, lastIndex] of the area's pages, pins them and returns their PFNs in `outPfns`.
 * `lockArea` makes IOAS_UNMAP of the area fail with EBUSY until the access is removed.
 */
export function ioptAreaAddAccess(
  area: IoptArea,
  startIndex: number,
  lastIndex: number,
  outPfns: PfnArray,
  flags: number,
  lockArea: boolean,
): void {
  const pages = area.pages as IoptPages;
  const fn = "iopt_area_add_access";
  if (flags & IOMMUFD_ACCESS_RW_WRITE && !pages.writable) {
    throw new SysError("EPERM", fn, "write access to read-only pages");
  }
  const existing = pagesGetExactAccess(pages, startIndex, lastIndex);
  if (existing) {
    area.numAccesses++;
    if (lockArea) area.numLocks++;
    existing.users++;
    ioptPagesFillFromXarray(pages, startIndex, lastIndex, outPfns);
    return;
  }
  if (pages.shouldFail("kzalloc")) throw new SysError("ENOMEM", fn, "fault injection");
  ioptPagesFillXarray(pages, startIndex, lastIndex, outPfns);
  const access: IoptPagesAccess = { node: null, users: 1 };
  area.numAccesses++;
  if (lockArea) area.numLocks++;
  access.node = pages.accessItree.insert(BigInt(startIndex), BigInt(lastIndex), access);
}

/**
 * pages.c: iopt_area_remove_access() — undoes one ioptAreaAddAccess() of exactly the same
 * range; the last user of the interval unpins what nothing else holds.
 */
export function ioptAreaRemoveAccess(
  area: IoptArea,
  startIndex: number,
  lastIndex: number,
  unlockArea: boolean,
): void {
  const pages = area.pages as IoptPages;
  const access = pagesGetExactAccess(pages, startIndex, lastIndex);
  if (warnOn(access === undefined, "no such access")) return;
  const a = access as IoptPagesAccess;
  warnOn(area.numAccesses === 0 || a.users === 0, "access counts");
  if (unlockArea) {
    warnOn(area.numLocks === 0, "num_locks");
    area.numLocks--;
  }
  area.numAccesses--;
  a.users--;
  if (a.users) return;
  pages.accessItree.remove(a.node as IntervalNode<IoptPagesAccess>);
  a.node = null;
  ioptPagesUnfillXarray(pages, startIndex, lastIndex);
}

/** pages.c: iopt_pages_rw_slow() — through the pfn_reader, exactly as a device would see it. */
function pagesRwSlow(
  pages: IoptPages,
  startIndex: number,
  lastIndex: number,
  offset: number,
  data: Uint8Array,
  flags: number,
): void {
  const pfns = pfnReaderFirst(pages, startIndex, lastIndex);
  let done = 0;
  try {
    while (!pfns.done) {
      done += batchRw(pages, pfns.batch, data.subarray(done), offset, flags);
      offset = 0;
      pfns.unpin();
      pfns.next();
    }
    if (done !== data.length) throw new SysError("EINVAL", "iopt_pages_rw_slow", "short copy");
  } finally {
    pfns.destroy();
  }
}

/** pages.c: iopt_pages_rw_page() — one page through a short-term remote pin. */
function pagesRwPage(
  pages: IoptPages,
  index: number,
  offset: number,
  data: Uint8Array,
  flags: number,
): void {
  if (!mmgetNotZero(pages.sourceTask)) {
    pagesRwSlow(pages, index, index, offset, data, flags);
    return;
  }
  if (pages.shouldFail("iopt_pages_rw_page")) {
    throw new SysError("EINVAL", "iopt_pages_rw_page", "fault injection");
  }
  const uptr = pages.uptr + BigInt(index) * PAGE_SIZE_B;
  if (uptr > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new SysError("EFAULT", "pin_user_pages_remote", "beyond TASK_SIZE");
  }
  const [pfn] = pinUserPages(pages.sourceMm, Number(uptr), 1, {
    write: (flags & IOMMUFD_ACCESS_RW_WRITE) !== 0,
  });
  copyDataPage(pages, pfn as number, data, offset, flags);
  pages.allocator.unpin(pfn as number);
}

/**
 * pages.c: iopt_pages_rw_access() — copies `data.length` bytes to (IOMMUFD_ACCESS_RW_WRITE) or
 * from the pages at byte `startByte`. `current` is the calling task (its mm decides the fast
 * copy_to_user path); omit it for a kernel thread.
 */
export function ioptPagesRwAccess(
  pages: IoptPages,
  startByte: number,
  data: Uint8Array,
  flags: number,
  current?: Task,
): void {
  const length = data.length;
  const startIndex = Math.floor(startByte / PAGE_SIZE);
  const lastIndex = Math.floor((startByte + length - 1) / PAGE_SIZE);
  const changeMm = current?.mm !== pages.sourceMm;
  const offset = startByte % PAGE_SIZE;
  if (flags & IOMMUFD_ACCESS_RW_WRITE && !pages.writable) {
    throw new SysError("EPERM", "iopt_pages_rw_access", "pages are read-only");
  }
  if (pages.type !== IOPT_ADDRESS_USER) {
    pagesRwSlow(pages, startIndex, lastIndex, offset, data, flags);
    return;
  }
  if (!(flags & IOMMUFD_ACCESS_RW_KTHREAD) && changeMm) {
    if (startIndex === lastIndex) pagesRwPage(pages, startIndex, offset, data, flags);
    else pagesRwSlow(pages, startIndex, lastIndex, offset, data, flags);
    return;
  }
  // copy_to_user()/copy_from_user() on the source mm: fast, ignoring pinning as the kernel does.
  if (changeMm && !mmgetNotZero(pages.sourceTask)) {
    pagesRwSlow(pages, startIndex, lastIndex, offset, data, flags);
    return;
  }
  const va = pages.uptr + BigInt(startByte);
  if (va + BigInt(length) > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new SysError("EFAULT", "iopt_pages_rw_access", "beyond TASK_SIZE");
  }
  if (flags & IOMMUFD_ACCESS_RW_WRITE) pages.sourceMm.writeUser(Number(va), data);
  else pages.sourceMm.readUser(Number(va), data);
}

/** For IoptArea's use: the write permission check of iopt_insert_area(). */
export function ioptPagesAllowsProt(pages: IoptPages, iommuProt: number): boolean {
  return !(iommuProt & IOMMU_WRITE) || pages.writable;
}
