/**
 * The type1 IOMMU backend of the VFIO container: drivers/vfio/vfio_iommu_type1.c as the kernel
 * module `vfio_iommu_type1`.
 *
 * A container that did VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU or VFIO_TYPE1v2_IOMMU) owns one
 * `VfioIommu` (`struct vfio_iommu`): the IOMMU domains its groups are attached to, the user's DMA
 * mappings (`struct vfio_dma`, in an interval tree keyed by IOVA), the valid IOVA ranges (every
 * domain's aperture minus every group's reserved regions), and the groups of emulated-IOMMU
 * devices that reach memory only through vfio_pin_pages()/vfio_dma_rw().
 *
 * A mapping pins the user pages as it goes, in physically contiguous runs (batches of
 * VFIO_BATCH_MAX_CAPACITY pages from pin_user_pages), charges them to `locked_vm` of the mm
 * (ENOMEM past RLIMIT_MEMLOCK unless CAP_IPC_LOCK) and maps each run into every domain. As in
 * Linux, no per-page state is kept for a mapping: the physical addresses to unpin are read back
 * from the first domain's page table (iommu_iova_to_phys()). Only pages an emulated device pinned
 * are tracked (`pfnList`), and the dirty bitmaps are byte arrays.
 *
 * v1 (VFIO_TYPE1_IOMMU) keeps the old unmap semantics: an unmap that starts inside a mapping
 * unmaps nothing and succeeds; v2 refuses an unmap that splits a mapping (EINVAL).
 *
 * Caveat:
 * - Locks, cond_resched() and the mmap lock are not modelled (one syscall at a time), so the
 *   lock dance of vfio_notify_dma_unmap() reduces to calling each device's dma_unmap.
 * - WARN_ON()s of invariants the model must never reach throw KernelBug, as iommufd's model
 *   does; the WARNs a user or a driver can reach (pin_pages/dma_rw during VFIO_UPDATE_VADDR,
 *   unpin_pages misuse) print the kernel's WARNING and taint, as 7.3 does.
 * - Kept from 7.3 as it is: an iommu_get_msi_cookie() failure after vfio_iommu_replay() pinned
 *   mappings for the first domain frees the domain without unpinning them (a leak in Linux).
 * - attach_group has no `current` in the ops interface: replay (vfio_iommu_replay()) pins from
 *   `kernel.current` (the task in the syscall), or the `current` given to
 *   VfioIommuType1.attachGroup(); with neither it fails with ENODEV as a kernel thread would.
 * - VM_PFNMAP ranges (another device's mmap'd MMIO) are mapped as Linux does, one PTE-sized pfn
 *   at a time (the model has no huge PFN maps), and are never pinned or accounted.
 * - iommu_get_msi_cookie() is modelled here (the kernel package has no helper for it): it only
 *   marks the domain's cookie type; no MSI doorbell is ever mapped through it on this board.
 * - vfio_dma_rw() from a kernel thread (kthread_use_mm()) is not reachable: the ops pass a task.
 * - group_iommu_domain's ERR_PTR(-ENODEV) is null.
 * - IOVAs reach the IOMMU core as JS numbers: a domain's aperture is below 2^53.
 * - Faults are injected through the page allocator's `shouldFail()` at the same allocations as
 *   the C ("kzalloc", "kmalloc", "kvzalloc", "__get_free_page").
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { type IntervalNode, IntervalTree } from "@vfio-lab/iommufd";
import {
  __accountLockedVm,
  __VFIO_RESERVED_TYPE1_NESTING_IOMMU,
  type AddressSpace,
  accessOk,
  copyFromUser,
  copyToUser,
  IOMMU_CACHE,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_READ,
  IOMMU_RESV_DIRECT_RELAXABLE,
  IOMMU_RESV_MSI,
  IOMMU_RESV_SW_MSI,
  IOMMU_WRITE,
  type IommuDomain,
  type IommuGroup,
  IommuIotlbGather,
  type IommuResvRegion,
  iommuIotlbSync,
  type Kernel,
  KernelBug,
  type ParamValues,
  pinUserPages,
  SysError,
  type Task,
  unpinUserPages,
  VFIO_CHECK_EXTENSION,
  VFIO_DMA_CC_IOMMU,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_VADDR,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
  VFIO_DMA_UNMAP_FLAG_VADDR,
  VFIO_IOMMU_DIRTY_PAGES,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_START,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_INFO_PGSIZES,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION,
  VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
  VFIO_IOMMU_UNMAP_DMA,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
  VFIO_UPDATE_VADDR,
  VM_PFNMAP,
  VM_WRITE,
  vfio_bitmap,
  vfio_iommu_type1_dirty_bitmap,
  vfio_iommu_type1_dirty_bitmap_get,
  vfio_iommu_type1_dma_map,
  vfio_iommu_type1_dma_unmap,
  vfio_iommu_type1_info,
  vfio_iommu_type1_info_cap_iova_range,
  vfio_iommu_type1_info_cap_migration,
  vfio_iommu_type1_info_dma_avail,
} from "@vfio-lab/kernel";
import { vfioRegisterIommuDriver, vfioUnregisterIommuDriver } from "./container.js";
import {
  VFIO_EMULATED_IOMMU,
  type VfioCoreDevice,
  type VfioGroupType,
  type VfioIommuDriverOps,
} from "./vfio.js";
import { VfioInfoCap, vfioInfoAddCapability, vfioInfoCapShift } from "./vfio-info-cap.js";
import { vfioOf } from "./vfio-main.js";
import { type VFIO_IOMMU_TYPE1_PARAMS, vfioIommuType1Module } from "./vfio-modules.js";

const TYPE1_C = "drivers/vfio/vfio_iommu_type1.c";

const PAGE_SHIFT = 12;
const PAGE_SIZE_B = BigInt(PAGE_SIZE);
const U64_MAX = (1n << 64n) - 1n;
/** PAGE_MASK as an unsigned long. */
const PAGE_MASK = U64_MAX & ~(PAGE_SIZE_B - 1n);

/** vfio_iommu_type1.c: VFIO_BATCH_MAX_CAPACITY — the `struct page *`s one page holds. */
export const VFIO_BATCH_MAX_CAPACITY = PAGE_SIZE / 8;
/** vfio_iommu_type1.c: VFIO_IOMMU_TLB_SYNC_MAX — fast unmaps gathered before one IOTLB sync. */
export const VFIO_IOMMU_TLB_SYNC_MAX = 512;
/** vfio_iommu_type1.c: DIRTY_BITMAP_PAGES_MAX (INT_MAX: bitmap_set() takes an int). */
export const DIRTY_BITMAP_PAGES_MAX = 0x7fff_ffffn;
/** vfio_iommu_type1.c: DIRTY_BITMAP_SIZE_MAX — 256 MiB, 8 TiB of 4 KiB pages. */
export const DIRTY_BITMAP_SIZE_MAX = dirtyBitmapBytes(DIRTY_BITMAP_PAGES_MAX);

/** vfio_iommu_type1.c: DIRTY_BITMAP_BYTES() — whole u64s. */
function dirtyBitmapBytes(npages: bigint): bigint {
  return ((npages + 63n) / 64n) * 8n;
}

/** `__ffs()` of a non-zero unsigned long: the index of its lowest set bit. */
function ffs(x: bigint): number {
  let n = 0;
  while (x !== 0n && (x & 1n) === 0n) {
    x >>= 1n;
    n++;
  }
  // __ffs(0) is undefined; arm64's rbit/clz answers 64, which shifts every size to 0.
  return x === 0n ? 64 : n;
}

/** `__fls()`: the index of the highest set bit (-1 for 0, as arm64's clz gives). */
function fls(x: number): number {
  return x === 0 ? -1 : 31 - Math.clz32(x);
}

/** An IOVA handed to the IOMMU core: always inside a domain's aperture (< 2^52). */
function iovaNum(iova: bigint): number {
  const n = Number(iova);
  if (!Number.isSafeInteger(n))
    throw new KernelBug(`vfio_iommu_type1: IOVA 0x${iova.toString(16)}`);
  return n;
}

/** A model invariant the kernel only WARNs about: reaching it means the model is wrong. */
function warnOn(cond: boolean, what: string): boolean {
  if (cond) throw new KernelBug(`vfio_iommu_type1: WARN_ON(${what})`);
  return false;
}

/** mmget_not_zero(): the task's address space is still alive. */
function mmgetNotZero(task: Task): boolean {
  return (task as Partial<{ readonly hasExited: boolean }>).hasExited !== true;
}

/** `rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT` of a task. */
function memlockPages(task: Task | null): number {
  return task ? Math.floor(task.rlimit("RLIMIT_MEMLOCK") / PAGE_SIZE) : 0;
}

/** The module's parameters, live: a write under /sys/module/vfio_iommu_type1/ changes them. */
export type VfioIommuType1Params = ParamValues<typeof VFIO_IOMMU_TYPE1_PARAMS>;

// ---------------------------------------------------------------------------------------------
// The objects

/** vfio_iommu_type1.c: struct vfio_iommu_group — a group attached to the container. */
export class VfioIommuGroup {
  /** The group can only dirty pages it pinned (emulated, or it used vfio_pin_pages()). */
  pinnedPageDirtyScope = false;
  constructor(readonly iommuGroup: IommuGroup) {}
}

/** vfio_iommu_type1.c: struct vfio_domain — one IOMMU domain and the groups attached to it. */
export class VfioDomain {
  /** Newest first (list_add()). */
  readonly groupList: VfioIommuGroup[] = [];
  enforceCacheCoherency = false;
  constructor(readonly domain: IommuDomain) {}
}

/** vfio_iommu_type1.c: struct vfio_iova — a valid IOVA range, `end` inclusive. */
export interface VfioIova {
  start: bigint;
  end: bigint;
}

/** vfio_iommu_type1.c: struct vfio_pfn — a page an emulated device pinned. */
export class VfioPfn {
  refCount = 1;
  constructor(
    readonly iova: bigint,
    readonly pfn: number,
  ) {}
}

/** vfio_iommu_type1.c: struct vfio_dma — one VFIO_IOMMU_MAP_DMA. */
export class VfioDma {
  /** Bytes pinned and mapped so far: grows from 0 while the mapping is built. */
  size = 0n;
  iommuMapped = false;
  vaddrInvalid = false;
  /** One or more pfns are not struct-page backed (a VM_PFNMAP range). */
  hasRsvd = false;
  /** Pages pinned through vfio_pin_pages(), by IOVA (`pfn_list`). */
  readonly pfnList = new Map<bigint, VfioPfn>();
  /** The dirty bitmap while dirty tracking runs: a bit per smallest page, plus one u64. */
  bitmap: Uint8Array | null = null;
  /** Pages this mapping charged to `mm.lockedVm`. */
  lockedVm = 0;
  /** @internal The node in `VfioIommu.dmaList`. */
  node: IntervalNode<VfioDma> | null = null;

  constructor(
    readonly iova: bigint,
    public vaddr: bigint,
    readonly prot: number,
    /** The group leader that mapped it: its RLIMIT_MEMLOCK applies. */
    public task: Task,
    public mm: AddressSpace,
    /** capable(CAP_IPC_LOCK) of `task` when mapped. */
    public lockCap: boolean,
  ) {}

  /** The last IOVA mapped (`iova + size - 1`). */
  get last(): bigint {
    return this.iova + this.size - 1n;
  }
}

/** vfio_iommu_type1.c: struct vfio_iommu — the backend state of one container. */
export class VfioIommu {
  /** Newest first (list_add()): the first one is where physical addresses are looked up. */
  readonly domainList: VfioDomain[] = [];
  /** Sorted, disjoint. */
  iovaList: VfioIova[] = [];
  /** The mappings (`dma_list`), keyed by the IOVA range each was asked for. */
  readonly dmaList = new IntervalTree<VfioDma>();
  /** Emulated-IOMMU devices with a dma_unmap op, newest first. */
  readonly deviceList: VfioCoreDevice[] = [];
  dmaAvail: number;
  vaddrInvalidCount = 0;
  pgsizeBitmap = PAGE_MASK;
  /** Groups with a domain that have not shown they only dirty what they pin. */
  numNonPinnedGroups = 0;
  dirtyPageTracking = false;
  /** Newest first. */
  readonly emulatedIommuGroups: VfioIommuGroup[] = [];

  constructor(
    readonly type1: VfioIommuType1,
    readonly v2: boolean,
  ) {
    this.dmaAvail = type1.params.dma_entry_limit;
  }

  get kernel(): Kernel {
    return this.type1.kernel;
  }

  /** The mappings in IOVA order (a snapshot). */
  dmas(): VfioDma[] {
    const out: VfioDma[] = [];
    for (let n = this.dmaList.first(); n; n = this.dmaList.next(n)) out.push(n.value);
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// The dma tree

/** vfio_iommu_type1.c: vfio_find_dma() — a mapping overlapping [start, start + size). */
function vfioFindDma(iommu: VfioIommu, start: bigint, size: bigint): VfioDma | undefined {
  warnOn(size === 0n, "!size");
  let last = start + size - 1n;
  if (last > U64_MAX) last = U64_MAX;
  return iommu.dmaList.iterFirst(start, last)?.value;
}

/** vfio_iommu_type1.c: vfio_find_dma_first_node() — the lowest mapping in [start, end]. */
function vfioFindDmaFirstNode(
  iommu: VfioIommu,
  start: bigint,
  end: bigint,
): IntervalNode<VfioDma> | undefined {
  return iommu.dmaList.iterFirst(start, end);
}

/**
 * vfio_iommu_type1.c: vfio_link_dma() — the C links a zero-sized node and grows it while
 * pinning; nothing looks the tree up meanwhile, so the node takes the asked range at once.
 */
function vfioLinkDma(iommu: VfioIommu, dma: VfioDma, size: bigint): void {
  dma.node = iommu.dmaList.insert(dma.iova, dma.iova + size - 1n, dma);
}

/** vfio_iommu_type1.c: vfio_unlink_dma() */
function vfioUnlinkDma(iommu: VfioIommu, dma: VfioDma): void {
  if (dma.node) iommu.dmaList.remove(dma.node);
  dma.node = null;
}

// ---------------------------------------------------------------------------------------------
// Dirty bitmaps: little-endian u64 words as bytes, bit i of the mapping is page i.

function bitmapSet(bm: Uint8Array, start: number, n: number): void {
  for (let i = start; i < start + n; i++) bm[i >> 3] = (bm[i >> 3] as number) | (1 << (i & 7));
}

/** bitmap_clear() */
function bitmapClear(bm: Uint8Array, start: number, n: number): void {
  for (let i = start; i < start + n; i++) bm[i >> 3] = (bm[i >> 3] as number) & ~(1 << (i & 7));
}

/**
 * lib/bitmap.c: __bitmap_shift_left() in place, on the u64 words covering `nbits` — like the C,
 * it does not clear what lands above `nbits` in the last word.
 */
function bitmapShiftLeft(bm: Uint8Array, shift: number, nbits: number): void {
  const v = new DataView(bm.buffer, bm.byteOffset, bm.byteLength);
  const word = (k: number) => v.getBigUint64(k * 8, true);
  const lim = Math.ceil(nbits / 64);
  const off = Math.floor(shift / 64);
  const rem = BigInt(shift % 64);
  for (let k = lim - off - 1; k >= 0; k--) {
    const lower = rem && k > 0 ? word(k - 1) >> (64n - rem) : 0n;
    const upper = BigInt.asUintN(64, word(k) << rem);
    v.setBigUint64((k + off) * 8, lower | upper, true);
  }
  bm.fill(0, 0, off * 8);
}

/** vfio_iommu_type1.c: vfio_dma_bitmap_alloc() */
function vfioDmaBitmapAlloc(iommu: VfioIommu, dma: VfioDma, pgsize: bigint): void {
  const npages = dma.size / pgsize;
  if (npages > DIRTY_BITMAP_PAGES_MAX) {
    throw new SysError("EINVAL", "vfio_dma_bitmap_alloc", "mapping too large to track");
  }
  if (iommu.type1.shouldFail("kvzalloc")) {
    throw new SysError("ENOMEM", "vfio_dma_bitmap_alloc", "fault injection");
  }
  // The extra u64 absorbs the shift update_user_bitmap() applies.
  dma.bitmap = new Uint8Array(Number(dirtyBitmapBytes(npages)) + 8);
}

/** vfio_iommu_type1.c: vfio_dma_bitmap_free() */
function vfioDmaBitmapFree(dma: VfioDma): void {
  dma.bitmap = null;
}

/** vfio_iommu_type1.c: vfio_dma_populate_bitmap() — pinned pages are dirty. */
function vfioDmaPopulateBitmap(dma: VfioDma, pgsize: bigint): void {
  const pgshift = BigInt(ffs(pgsize));
  for (const vpfn of dma.pfnList.values()) {
    bitmapSet(dma.bitmap!, Number((vpfn.iova - dma.iova) >> pgshift), 1);
  }
}

/** vfio_iommu_type1.c: vfio_iommu_populate_bitmap_full() */
function vfioIommuPopulateBitmapFull(iommu: VfioIommu): void {
  const pgshift = BigInt(ffs(iommu.pgsizeBitmap));
  for (const dma of iommu.dmas()) bitmapSet(dma.bitmap!, 0, Number(dma.size >> pgshift));
}

/** vfio_iommu_type1.c: vfio_dma_bitmap_alloc_all() — all or none. */
function vfioDmaBitmapAllocAll(iommu: VfioIommu, pgsize: bigint): void {
  const dmas = iommu.dmas();
  for (let i = 0; i < dmas.length; i++) {
    const dma = dmas[i]!;
    try {
      vfioDmaBitmapAlloc(iommu, dma, pgsize);
    } catch (e) {
      for (let j = i - 1; j >= 0; j--) vfioDmaBitmapFree(dmas[j]!);
      throw e;
    }
    vfioDmaPopulateBitmap(dma, pgsize);
  }
}

/** vfio_iommu_type1.c: vfio_dma_bitmap_free_all() */
function vfioDmaBitmapFreeAll(iommu: VfioIommu): void {
  for (const dma of iommu.dmas()) vfioDmaBitmapFree(dma);
}

// ---------------------------------------------------------------------------------------------
// Pages pinned by emulated devices (pfn_list)

/** vfio_iommu_type1.c: vfio_find_vpfn() */
function vfioFindVpfn(dma: VfioDma, iova: bigint): VfioPfn | undefined {
  return dma.pfnList.get(iova);
}

/** vfio_iommu_type1.c: vpfn_pages() — how many of `nrPages` pages from `iova` are in pfn_list. */
function vpfnPages(dma: VfioDma, iova: bigint, nrPages: number): number {
  const list = dma.pfnList;
  if (list.size === 0) return 0;
  let n = 0;
  if (nrPages <= list.size) {
    for (let i = 0; i < nrPages; i++) if (list.has(iova + BigInt(i) * PAGE_SIZE_B)) n++;
  } else {
    const end = iova + BigInt(nrPages) * PAGE_SIZE_B;
    for (const k of list.keys()) if (k >= iova && k < end) n++;
  }
  return n;
}

/** vfio_iommu_type1.c: vfio_add_to_pfn_list() */
function vfioAddToPfnList(iommu: VfioIommu, dma: VfioDma, iova: bigint, pfn: number): void {
  if (iommu.type1.shouldFail("kzalloc")) {
    throw new SysError("ENOMEM", "vfio_add_to_pfn_list", "fault injection");
  }
  dma.pfnList.set(iova, new VfioPfn(iova, pfn));
}

/** vfio_iommu_type1.c: vfio_iova_get_vfio_pfn() — one more reference, if pinned already. */
function vfioIovaGetVfioPfn(dma: VfioDma, iova: bigint): VfioPfn | undefined {
  const vpfn = vfioFindVpfn(dma, iova);
  if (vpfn) vpfn.refCount++;
  return vpfn;
}

/** vfio_iommu_type1.c: vfio_iova_put_vfio_pfn() — returns the pages unpinned (0 or 1). */
function vfioIovaPutVfioPfn(iommu: VfioIommu, dma: VfioDma, vpfn: VfioPfn): number {
  let ret = 0;
  if (--vpfn.refCount === 0) {
    ret = putPfn(iommu, vpfn.pfn, dma.prot);
    dma.pfnList.delete(vpfn.iova);
  }
  return ret;
}

// ---------------------------------------------------------------------------------------------
// Accounting and pfn helpers

/** vfio_iommu_type1.c: mm_lock_acct() — __account_locked_vm() against `task`'s limit. */
function mmLockAcct(task: Task, mm: AddressSpace, lockCap: boolean, npage: number): void {
  __accountLockedVm(
    mm,
    Math.abs(npage),
    npage > 0,
    { rlimitMemlock: task.rlimit("RLIMIT_MEMLOCK"), capIpcLock: lockCap },
    lockCap,
  );
}

/**
 * vfio_iommu_type1.c: vfio_lock_acct() — charges (or with a negative count uncharges) the
 * mapping's mm. `async`: the mm may be gone (ESRCH).
 */
function vfioLockAcct(dma: VfioDma, npage: number, async: boolean): void {
  if (npage === 0) return;
  if (async && !mmgetNotZero(dma.task)) {
    throw new SysError("ESRCH", "vfio_lock_acct", "process exited");
  }
  mmLockAcct(dma.task, dma.mm, dma.lockCap, npage);
  dma.lockedVm += npage;
}

/** vfio_lock_acct() where the C ignores its result. */
function vfioLockAcctNoFail(dma: VfioDma, npage: number): void {
  try {
    vfioLockAcct(dma, npage, true);
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
  }
}

/**
 * vfio_iommu_type1.c: is_invalid_reserved_pfn() — not RAM with a struct page (the model has
 * no PageReserved() RAM).
 */
function isInvalidReservedPfn(iommu: VfioIommu, pfn: number): boolean {
  return !iommu.kernel.allocator.pfnValid(pfn);
}

/** vfio_iommu_type1.c: put_pfn() — unpins a page-backed pfn; returns 1 if it did. */
function putPfn(iommu: VfioIommu, pfn: number, prot: number): number {
  if (isInvalidReservedPfn(iommu, pfn)) return 0;
  unpinUserPages(iommu.kernel.allocator, [pfn], (prot & IOMMU_WRITE) !== 0);
  return 1;
}

/** vfio_iommu_type1.c: put_valid_unreserved_pfns() — unpin_user_page_range_dirty_lock(). */
function putValidUnreservedPfns(iommu: VfioIommu, startPfn: number, npage: number, prot: number) {
  const pfns = new Float64Array(npage);
  for (let i = 0; i < npage; i++) pfns[i] = startPfn + i;
  unpinUserPages(iommu.kernel.allocator, pfns, (prot & IOMMU_WRITE) !== 0);
}

/** vfio_iommu_type1.c: struct vfio_batch — pfns pinned but not yet consumed. */
class VfioBatch {
  pages: number[] = [];
  size = 0;
  offset = 0;
  constructor(readonly capacity: number) {}
}

/** vfio_iommu_type1.c: __vfio_batch_init() — one page of pointers, or a single slot. */
function vfioBatchInit(iommu: VfioIommu, single = false): VfioBatch {
  if (single || iommu.type1.params.disable_hugepages) return new VfioBatch(1);
  if (iommu.type1.shouldFail("__get_free_page")) return new VfioBatch(1);
  return new VfioBatch(VFIO_BATCH_MAX_CAPACITY);
}

/** vfio_iommu_type1.c: vfio_batch_unpin() — drops what the batch still holds. */
function vfioBatchUnpin(iommu: VfioIommu, batch: VfioBatch, dma: VfioDma): void {
  while (batch.size) {
    putPfn(iommu, batch.pages[batch.offset]!, dma.prot);
    batch.offset++;
    batch.size--;
  }
}

/**
 * vfio_iommu_type1.c: follow_fault_pfn() — the pfn a VM_PFNMAP VMA maps at `vaddr`, faulting
 * it in first if needed; EFAULT for a write through a read-only mapping.
 */
function followFaultPfn(
  mm: AddressSpace,
  vma: NonNullable<ReturnType<AddressSpace["vmaLookup"]>>,
  vaddr: number,
  writeFault: boolean,
): number {
  let pfn = mm.translate(vaddr);
  if (pfn < 0) pfn = mm.handleMmFault(vma, vaddr, writeFault);
  if (writeFault && !(vma.flags & VM_WRITE)) {
    throw new SysError("EFAULT", "follow_fault_pfn", "read-only PFN map");
  }
  return pfn;
}

/**
 * vfio_iommu_type1.c: vaddr_get_pfns() — pins up to `npages` (the batch's capacity) from
 * `vaddr` into the batch and returns how many, with the first pfn. A VM_PFNMAP range gives its
 * pfn without pinning (the batch stays empty); anything else that cannot be pinned is EFAULT
 * or GUP's error.
 */
function vaddrGetPfns(
  iommu: VfioIommu,
  mm: AddressSpace,
  vaddr: bigint,
  npages: number,
  prot: number,
  batch: VfioBatch,
): { count: number; pfn: number } {
  const pinPages = Math.min(npages, batch.capacity);
  const write = (prot & IOMMU_WRITE) !== 0;
  const va = Number(vaddr);
  let err: SysError = new SysError("EFAULT", "vaddr_get_pfns", "nothing pinned");
  if (Number.isSafeInteger(va)) {
    try {
      const pfns = pinUserPages(mm, va, pinPages, { write, longterm: true });
      if (pfns.length > 0) {
        batch.pages = pfns;
        batch.size = pfns.length;
        batch.offset = 0;
        return { count: pfns.length, pfn: pfns[0]! };
      }
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      err = e;
    }
    const vma = mm.vmaLookup(va);
    if (vma && vma.flags & VM_PFNMAP) {
      const pfn = followFaultPfn(mm, vma, va, write);
      if (!isInvalidReservedPfn(iommu, pfn)) {
        throw new SysError("EFAULT", "vaddr_get_pfns", "PFN map of RAM");
      }
      // A PTE-level map: addr_mask is PAGE_MASK, so the run ends with this pfn.
      return { count: Math.min(npages, 1), pfn };
    }
  }
  throw err;
}

/** mm_inline.h: num_pages_contiguous() over the batch from its offset. */
function numPagesContiguous(batch: VfioBatch): number {
  const pages = batch.pages;
  const first = pages[batch.offset]!;
  let i = 1;
  while (i < batch.size && pages[batch.offset + i] === first + i) i++;
  return i;
}

/**
 * vfio_iommu_type1.c: vfio_pin_pages_remote() — pins one physically contiguous run of at most
 * `npage` pages from `vaddr` (refilling the batch as needed), charges it to the mapping's mm
 * and returns its length and first pfn. Pages left in the batch start the next run. ENOMEM,
 * with a warning, when the run would take `current`'s mm past `limit` pages (unless the mapping
 * has CAP_IPC_LOCK); on any failure everything this call pinned is released.
 */
function vfioPinPagesRemote(
  iommu: VfioIommu,
  current: Task | null,
  dma: VfioDma,
  vaddr: bigint,
  npage: number,
  limit: number,
  batch: VfioBatch,
): { pinned: number; pfnBase: number } {
  const fn = "vfio_pin_pages_remote";
  const mm = current?.mm;
  if (!mm) throw new SysError("ENODEV", fn, "no mm (kernel thread)");
  let iova = vaddr - dma.vaddr + dma.iova;
  let pinned = 0;
  let lockAcct = 0;
  let rsvd = false;
  let pfnBase = 0;
  let pfn = 0;
  let err: unknown = null;
  if (batch.size) {
    pfnBase = batch.pages[batch.offset]!;
    pfn = pfnBase;
    rsvd = isInvalidReservedPfn(iommu, pfnBase);
  }
  if (iommu.type1.params.disable_hugepages) npage = 1;

  let unpinOut = false;
  out: while (npage) {
    if (!batch.size) {
      let got: { count: number; pfn: number };
      try {
        got = vaddrGetPfns(iommu, mm, vaddr, npage, dma.prot, batch);
      } catch (e) {
        err = e;
        unpinOut = true;
        break;
      }
      pfn = got.pfn;
      if (!pfnBase) {
        pfnBase = pfn;
        rsvd = isInvalidReservedPfn(iommu, pfnBase);
      }
      // A pfnmap: nothing in the batch, the pfns are contiguous by construction.
      if (!batch.size) {
        if (pfn !== pfnBase + pinned || !rsvd) break;
        pinned += got.count;
        npage -= got.count;
        vaddr += PAGE_SIZE_B * BigInt(got.count);
        iova += PAGE_SIZE_B * BigInt(got.count);
        continue;
      }
    }
    for (;;) {
      if (pfn !== pfnBase + pinned || rsvd !== isInvalidReservedPfn(iommu, pfn)) break out;
      const nrPages = numPagesContiguous(batch);
      let acctPages = 0;
      // Reserved pages are not charged, pages an emulated device pinned already are.
      if (!rsvd) acctPages = nrPages - vpfnPages(dma, iova, nrPages);
      if (acctPages) {
        if (!dma.lockCap && mm.lockedVm + lockAcct + acctPages > limit) {
          iommu.kernel.printk.pr("").warn(`${fn}: RLIMIT_MEMLOCK (${limit * PAGE_SIZE}) exceeded`);
          err = new SysError("ENOMEM", fn, "RLIMIT_MEMLOCK exceeded");
          unpinOut = true;
          break out;
        }
        lockAcct += acctPages;
      }
      pinned += nrPages;
      npage -= nrPages;
      vaddr += PAGE_SIZE_B * BigInt(nrPages);
      iova += PAGE_SIZE_B * BigInt(nrPages);
      batch.offset += nrPages;
      batch.size -= nrPages;
      if (!batch.size) break;
      pfn = batch.pages[batch.offset]!;
    }
  }

  if (!unpinOut) {
    dma.hasRsvd ||= rsvd;
    try {
      vfioLockAcct(dma, lockAcct, false);
    } catch (e) {
      err = e;
    }
  }
  if (err !== null) {
    if (pinned && !rsvd) {
      for (let p = pfnBase; pinned; p++, pinned--) putPfn(iommu, p, dma.prot);
    }
    vfioBatchUnpin(iommu, batch, dma);
    throw err;
  }
  return { pinned, pfnBase };
}

/**
 * vfio_iommu_type1.c: vfio_unpin_pages_remote() — unpins a run the mapping pinned; with
 * `doAccounting` uncharges it, except pages an emulated device still holds. Returns the pages
 * unpinned.
 */
function vfioUnpinPagesRemote(
  iommu: VfioIommu,
  dma: VfioDma,
  iova: bigint,
  pfn: number,
  npage: number,
  doAccounting: boolean,
): number {
  let unlocked = 0;
  const locked = vpfnPages(dma, iova, npage);
  if (dma.hasRsvd) {
    for (let i = 0; i < npage; i++) if (putPfn(iommu, pfn + i, dma.prot)) unlocked++;
  } else {
    putValidUnreservedPfns(iommu, pfn, npage, dma.prot);
    unlocked = npage;
  }
  if (doAccounting) vfioLockAcctNoFail(dma, locked - unlocked);
  return unlocked;
}

/**
 * vfio_iommu_type1.c: vfio_pin_page_external() — pins the one page at `vaddr` of the
 * mapping's mm for an emulated device, charging it when `doAccounting`.
 */
function vfioPinPageExternal(
  iommu: VfioIommu,
  dma: VfioDma,
  vaddr: bigint,
  doAccounting: boolean,
): number {
  const fn = "vfio_pin_page_external";
  if (!mmgetNotZero(dma.task)) throw new SysError("ENODEV", fn, "process exited");
  const batch = vfioBatchInit(iommu, true);
  const { pfn } = vaddrGetPfns(iommu, dma.mm, vaddr, 1, dma.prot, batch);
  if (doAccounting && !isInvalidReservedPfn(iommu, pfn)) {
    try {
      vfioLockAcct(dma, 1, false);
    } catch (e) {
      putPfn(iommu, pfn, dma.prot);
      if (SysError.isInstance(e) && e.code === "ENOMEM") {
        iommu.kernel.printk
          .pr("")
          .warn(
            `${fn}: Task ${dma.task.comm} (${dma.task.pid}) RLIMIT_MEMLOCK (${dma.task.rlimit("RLIMIT_MEMLOCK")}) exceeded`,
          );
      }
      throw e;
    }
  }
  return pfn;
}

/** vfio_iommu_type1.c: vfio_unpin_page_external() — returns the pages unpinned. */
function vfioUnpinPageExternal(
  iommu: VfioIommu,
  dma: VfioDma,
  iova: bigint,
  doAccounting: boolean,
): number {
  const vpfn = vfioFindVpfn(dma, iova);
  if (!vpfn) return 0;
  const unlocked = vfioIovaPutVfioPfn(iommu, dma, vpfn);
  if (doAccounting) vfioLockAcctNoFail(dma, -unlocked);
  return unlocked;
}

// ---------------------------------------------------------------------------------------------
// Unmapping

interface VfioRegion {
  iova: bigint;
  phys: number;
  len: number;
}

/** vfio_iommu_type1.c: vfio_sync_unpin() — flush the IOTLB, then unpin what was unmapped. */
function vfioSyncUnpin(
  iommu: VfioIommu,
  dma: VfioDma,
  domain: VfioDomain,
  regions: VfioRegion[],
  gather: IommuIotlbGather,
): number {
  let unlocked = 0;
  iommuIotlbSync(domain.domain, gather);
  for (const entry of regions) {
    unlocked += vfioUnpinPagesRemote(
      iommu,
      dma,
      entry.iova,
      entry.phys / PAGE_SIZE,
      entry.len / PAGE_SIZE,
      false,
    );
  }
  regions.length = 0;
  return unlocked;
}

/** vfio_iommu_type1.c: vfio_unmap_unpin() — unmaps a mapping everywhere and unpins it. */
function vfioUnmapUnpin(iommu: VfioIommu, dma: VfioDma, doAccounting: boolean): number {
  if (!dma.size) return 0;
  if (iommu.domainList.length === 0) return 0;
  const core = iommu.kernel.iommu;
  // The first domain tells the pfns to unpin; the others go first so that no translation
  // remains anywhere when a page is unpinned.
  const domain = iommu.domainList[0]!;
  for (const d of iommu.domainList.slice(1))
    core.iommuUnmap(d.domain, iovaNum(dma.iova), Number(dma.size));

  const gather = new IommuIotlbGather();
  const regions: VfioRegion[] = [];
  let unlocked = 0;
  let pos = 0n;
  while (pos < dma.size) {
    const iova = dma.iova + pos;
    const phys = core.iommuIovaToPhys(domain.domain, iovaNum(iova));
    if (warnOn(!phys, "!phys")) continue;
    // The longest physically contiguous run, to unmap in as few calls as possible.
    let len = PAGE_SIZE;
    while (pos + BigInt(len) < dma.size) {
      const next = core.iommuIovaToPhys(domain.domain, iovaNum(iova) + len);
      if (next !== phys + len) break;
      len += PAGE_SIZE;
    }
    // unmap_unpin_fast(), falling back to unmap_unpin_slow().
    let unmapped = 0;
    if (!iommu.type1.shouldFail("kzalloc")) {
      unmapped = core.iommuUnmapFast(domain.domain, iovaNum(iova), len, gather);
      if (unmapped) regions.push({ iova, phys, len: unmapped });
    }
    if (regions.length >= VFIO_IOMMU_TLB_SYNC_MAX || !unmapped) {
      unlocked += vfioSyncUnpin(iommu, dma, domain, regions, gather);
    }
    if (!unmapped) {
      unmapped = core.iommuUnmap(domain.domain, iovaNum(iova), len);
      if (unmapped) {
        unlocked += vfioUnpinPagesRemote(
          iommu,
          dma,
          iova,
          phys / PAGE_SIZE,
          unmapped / PAGE_SIZE,
          false,
        );
      }
      if (warnOn(!unmapped, "!unmapped")) break;
    }
    pos += BigInt(unmapped);
  }
  dma.iommuMapped = false;
  if (regions.length) unlocked += vfioSyncUnpin(iommu, dma, domain, regions, gather);
  if (doAccounting) {
    vfioLockAcctNoFail(dma, -unlocked);
    return 0;
  }
  return unlocked;
}

/** vfio_iommu_type1.c: vfio_remove_dma() */
function vfioRemoveDma(iommu: VfioIommu, dma: VfioDma): void {
  warnOn(dma.pfnList.size !== 0, "pfn_list not empty");
  vfioUnmapUnpin(iommu, dma, true);
  vfioUnlinkDma(iommu, dma);
  vfioDmaBitmapFree(dma);
  if (dma.vaddrInvalid) iommu.vaddrInvalidCount--;
  iommu.dmaAvail++;
}

/** vfio_iommu_type1.c: vfio_update_pgsize_bitmap() — never below PAGE_SIZE. */
function vfioUpdatePgsizeBitmap(iommu: VfioIommu): void {
  let bitmap = U64_MAX;
  for (const d of iommu.domainList) bitmap &= BigInt(d.domain.pgsizeBitmap);
  // Sub-page IOMMU pages stay hidden: pinning works in whole pages.
  if (bitmap & ~PAGE_MASK & U64_MAX) {
    bitmap &= PAGE_MASK;
    bitmap |= PAGE_SIZE_B;
  }
  iommu.pgsizeBitmap = bitmap;
}

/**
 * vfio_iommu_type1.c: update_user_bitmap() — ORs the mapping's dirty bits into the user's
 * bitmap at the mapping's bit offset from `baseIova`. Every page counts as dirty while a group
 * that can DMA on its own has not promised to pin what it dirties.
 */
function updateUserBitmap(
  current: Task,
  bitmap: bigint,
  iommu: VfioIommu,
  dma: VfioDma,
  baseIova: bigint,
  pgsize: bigint,
): void {
  const fn = "update_user_bitmap";
  const pgshift = BigInt(ffs(pgsize));
  const nbits = Number(dma.size >> pgshift);
  const bitOffset = Number((dma.iova - baseIova) >> pgshift);
  const copyOffset = Math.floor(bitOffset / 64);
  const shift = bitOffset % 64;
  const bm = dma.bitmap!;
  if (iommu.numNonPinnedGroups && dma.iommuMapped) bitmapSet(bm, 0, nbits);
  const dst = Number(bitmap) + copyOffset * 8;
  if (shift) {
    bitmapShiftLeft(bm, shift, nbits + shift);
    const leftover = copyFromUser(current.mm, dst, 8, fn);
    // __bitmap_or() over BITS_TO_LONGS(shift) words: the whole first u64.
    for (let i = 0; i < 8; i++) bm[i] = (bm[i] as number) | (leftover[i] as number);
  }
  const bytes = Number(dirtyBitmapBytes(BigInt(nbits + shift)));
  copyToUser(current.mm, dst, bm.subarray(0, bytes), fn);
}

/**
 * vfio_iommu_type1.c: vfio_iova_dirty_bitmap() — reports the mappings inside [iova, iovaEnd],
 * which must not cut one (EINVAL), and restarts each bitmap from the pinned pages.
 */
function vfioIovaDirtyBitmap(
  current: Task,
  bitmap: bigint,
  iommu: VfioIommu,
  iova: bigint,
  iovaEnd: bigint,
  pgsize: bigint,
): void {
  const fn = "vfio_iova_dirty_bitmap";
  const pgshift = BigInt(ffs(pgsize));
  let dma = vfioFindDma(iommu, iova, 1n);
  if (dma && dma.iova !== iova) throw new SysError("EINVAL", fn, "range starts inside a mapping");
  dma = vfioFindDma(iommu, iovaEnd, 1n);
  if (dma && dma.last !== iovaEnd) throw new SysError("EINVAL", fn, "range ends inside a mapping");
  for (const d of iommu.dmas()) {
    if (d.iova < iova) continue;
    if (d.iova > iovaEnd) break;
    updateUserBitmap(current, bitmap, iommu, d, iova, pgsize);
    bitmapClear(d.bitmap!, 0, Number(d.size >> pgshift));
    vfioDmaPopulateBitmap(d, pgsize);
  }
}

/** vfio_iommu_type1.c: verify_bitmap_size() */
function verifyBitmapSize(npages: bigint, bitmapSize: bigint, fn: string): void {
  if (
    !npages ||
    !bitmapSize ||
    bitmapSize > DIRTY_BITMAP_SIZE_MAX ||
    bitmapSize < dirtyBitmapBytes(npages)
  ) {
    throw new SysError("EINVAL", fn, `bitmap of ${bitmapSize} bytes for ${npages} pages`);
  }
}

/**
 * vfio_iommu_type1.c: vfio_notify_dma_unmap() — asks every emulated device to unpin what it
 * holds in the mapping (each must call vfio_unpin_pages()).
 */
function vfioNotifyDmaUnmap(iommu: VfioIommu, dma: VfioDma): void {
  for (const device of [...iommu.deviceList]) {
    device.coreOps.dmaUnmap?.(device, dma.iova, dma.size);
  }
}

/** `struct vfio_iommu_type1_dma_unmap` as vfio_dma_do_unmap() reads and updates it. */
interface DmaUnmapArgs {
  flags: number;
  iova: bigint;
  size: bigint;
}

/**
 * vfio_iommu_type1.c: vfio_dma_do_unmap() — in the kernel's order: EBUSY (VADDR with an
 * emulated group), EINVAL (unaligned iova; UNMAP_ALL with an iova or size; zero or unaligned
 * size), EOVERFLOW (range wraps), EINVAL (dirty bitmap without tracking or of another page
 * size; v2 range cutting a mapping). v1 stops at a mapping starting before `iova`. `unmap.size`
 * becomes the bytes unmapped (or invalidated), whatever the outcome.
 */
function vfioDmaDoUnmap(
  iommu: VfioIommu,
  current: Task,
  unmap: DmaUnmapArgs,
  bitmap: { pgsize: bigint; data: bigint },
): void {
  const fn = "vfio_dma_do_unmap";
  const iova = unmap.iova;
  const size = unmap.size;
  const unmapAll = (unmap.flags & VFIO_DMA_UNMAP_FLAG_ALL) !== 0;
  const invalidateVaddr = (unmap.flags & VFIO_DMA_UNMAP_FLAG_VADDR) !== 0;
  let unmapped = 0n;
  try {
    // Mediated devices cannot pin or rw while vaddrs are being updated.
    if (invalidateVaddr && iommu.emulatedIommuGroups.length) {
      throw new SysError("EBUSY", fn, "emulated IOMMU groups present");
    }
    // `iova != unmap->iova || size != unmap->size`: never on a 64-bit kernel.
    const pgsize = 1n << BigInt(ffs(iommu.pgsizeBitmap));
    if (iova & (pgsize - 1n)) throw new SysError("EINVAL", fn, "unaligned iova");
    let iovaEnd: bigint;
    if (unmapAll) {
      if (iova || size) throw new SysError("EINVAL", fn, "UNMAP_FLAG_ALL with an iova or size");
      iovaEnd = U64_MAX;
    } else {
      if (!size || size & (pgsize - 1n)) throw new SysError("EINVAL", fn, "zero or unaligned size");
      iovaEnd = iova + size - 1n;
      if (iovaEnd > U64_MAX) throw new SysError("EOVERFLOW", fn, "iova + size wraps");
    }
    if (
      unmap.flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP &&
      (!iommu.dirtyPageTracking || bitmap.pgsize !== pgsize)
    ) {
      throw new SysError("EINVAL", fn, "dirty bitmap without tracking, or of another page size");
    }

    let dmaLast: VfioDma | null = null;
    let retries = 0;
    again: for (;;) {
      // v2 unmaps whole mappings only; v1 keeps its "partial unmap unmaps nothing" behaviour.
      if (iommu.v2 && !unmapAll) {
        let dma = vfioFindDma(iommu, iova, 1n);
        if (dma && dma.iova !== iova) throw new SysError("EINVAL", fn, "iova inside a mapping");
        dma = vfioFindDma(iommu, iovaEnd, 1n);
        if (dma && dma.last !== iovaEnd) throw new SysError("EINVAL", fn, "end inside a mapping");
      }
      const firstN = vfioFindDmaFirstNode(iommu, iova, iovaEnd);
      let n = firstN;
      while (n) {
        const dma = n.value;
        if (dma.iova > iovaEnd) break;
        if (!iommu.v2 && iova > dma.iova) break;
        if (invalidateVaddr) {
          if (dma.vaddrInvalid) {
            // Undo what this call invalidated: all or nothing.
            for (let m = firstN; m && m !== n; m = iommu.dmaList.next(m)) {
              m.value.vaddrInvalid = false;
              iommu.vaddrInvalidCount--;
            }
            unmapped = 0n;
            throw new SysError("EINVAL", fn, "vaddr already invalid");
          }
          dma.vaddrInvalid = true;
          iommu.vaddrInvalidCount++;
          unmapped += dma.size;
          n = iommu.dmaList.next(n);
          continue;
        }
        if (dma.pfnList.size) {
          if (dmaLast === dma) {
            if (++retries > 10) throw new KernelBug(`${fn}: BUG_ON(++retries > 10)`);
          } else {
            dmaLast = dma;
            retries = 0;
          }
          vfioNotifyDmaUnmap(iommu, dma);
          continue again;
        }
        if (unmap.flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) {
          updateUserBitmap(current, bitmap.data, iommu, dma, iova, pgsize);
        }
        unmapped += dma.size;
        n = iommu.dmaList.next(n);
        vfioRemoveDma(iommu, dma);
      }
      break;
    }
  } finally {
    unmap.size = unmapped;
  }
}

// ---------------------------------------------------------------------------------------------
// Mapping

/**
 * vfio_iommu_type1.c: vfio_iommu_map() — maps a pinned run into every domain, or into none
 * (what was mapped is unmapped again, newest domain last).
 */
function vfioIommuMap(iommu: VfioIommu, iova: bigint, pfn: number, npage: number, prot: number) {
  const core = iommu.kernel.iommu;
  const done: VfioDomain[] = [];
  try {
    for (const d of iommu.domainList) {
      core.iommuMap(
        d.domain,
        iovaNum(iova),
        pfn * PAGE_SIZE,
        npage * PAGE_SIZE,
        prot | IOMMU_CACHE,
      );
      done.push(d);
    }
  } catch (e) {
    for (const d of done.reverse()) core.iommuUnmap(d.domain, iovaNum(iova), npage * PAGE_SIZE);
    throw e;
  }
}

/**
 * vfio_iommu_type1.c: vfio_pin_map_dma() — pins and maps `mapSize` bytes run by run; on
 * failure the whole mapping is removed again.
 */
function vfioPinMapDma(iommu: VfioIommu, current: Task, dma: VfioDma, mapSize: bigint): void {
  const limit = memlockPages(current);
  const batch = vfioBatchInit(iommu);
  let size = mapSize;
  let err: unknown = null;
  while (size) {
    let run: { pinned: number; pfnBase: number };
    try {
      run = vfioPinPagesRemote(
        iommu,
        current,
        dma,
        dma.vaddr + dma.size,
        Number(size >> BigInt(PAGE_SHIFT)),
        limit,
        batch,
      );
    } catch (e) {
      err = e;
      break;
    }
    try {
      vfioIommuMap(iommu, dma.iova + dma.size, run.pfnBase, run.pinned, dma.prot);
    } catch (e) {
      vfioUnpinPagesRemote(iommu, dma, dma.iova + dma.size, run.pfnBase, run.pinned, true);
      vfioBatchUnpin(iommu, batch, dma);
      err = e;
      break;
    }
    const bytes = BigInt(run.pinned) * PAGE_SIZE_B;
    size -= bytes;
    dma.size += bytes;
  }
  dma.iommuMapped = true;
  if (err !== null) {
    vfioRemoveDma(iommu, dma);
    throw err;
  }
}

/**
 * vfio_iommu_type1.c: vfio_iommu_iova_dma_valid() — inside one valid range; anything goes
 * while the list is empty (a container with only emulated groups).
 */
function vfioIommuIovaDmaValid(iommu: VfioIommu, start: bigint, end: bigint): boolean {
  for (const node of iommu.iovaList) if (start >= node.start && end <= node.end) return true;
  return iommu.iovaList.length === 0;
}

/**
 * vfio_iommu_type1.c: vfio_change_dma_owner() — VADDR update from another process: its mm
 * takes over the charge (ENOMEM past its limit) and the mapping's accounting from now on.
 */
function vfioChangeDmaOwner(current: Task, dma: VfioDma): void {
  const mm = current.mm;
  const npage = dma.lockedVm;
  if (mm === dma.mm) return;
  const lockCap = current.capable("CAP_IPC_LOCK");
  mmLockAcct(current, mm, lockCap, npage);
  if (mmgetNotZero(dma.task)) mmLockAcct(dma.task, dma.mm, dma.lockCap, -npage);
  dma.task = current;
  dma.mm = mm;
  dma.lockCap = lockCap;
}

/**
 * vfio_iommu_type1.c: vfio_dma_do_map() — in the kernel's order: EINVAL (zero size),
 * EOVERFLOW (iova or vaddr range wraps), EINVAL (no R/W permission, or R/W with VADDR;
 * size/iova/vaddr not aligned to the smallest page size). With VADDR: ENOENT (no mapping),
 * EINVAL (not an invalidated mapping of exactly this range), then the owner change's ENOMEM.
 * Otherwise: EEXIST (overlap), ENOSPC (dma_entry_limit reached), EINVAL (outside the valid
 * IOVA ranges), ENOMEM, then pinning's errors (EFAULT, ENOMEM for RLIMIT_MEMLOCK) and mapping's.
 */
function vfioDmaDoMap(
  iommu: VfioIommu,
  current: Task,
  map: { flags: number; vaddr: bigint; iova: bigint; size: bigint },
): void {
  const fn = "vfio_dma_do_map";
  const setVaddr = (map.flags & VFIO_DMA_MAP_FLAG_VADDR) !== 0;
  const { iova, vaddr, size } = map;
  // The u64 → dma_addr_t/unsigned long/size_t truncation check never fires on a 64-bit kernel.
  if (!size) throw new SysError("EINVAL", fn, "zero size");
  if (iova + size - 1n > U64_MAX || vaddr + size - 1n > U64_MAX) {
    throw new SysError("EOVERFLOW", fn, "iova or vaddr range wraps");
  }
  // READ/WRITE from the device's point of view.
  let prot = 0;
  if (map.flags & VFIO_DMA_MAP_FLAG_WRITE) prot |= IOMMU_WRITE;
  if (map.flags & VFIO_DMA_MAP_FLAG_READ) prot |= IOMMU_READ;
  if ((prot && setVaddr) || (!prot && !setVaddr)) {
    throw new SysError("EINVAL", fn, setVaddr ? "VADDR with READ/WRITE" : "no READ/WRITE");
  }
  const pgsize = 1n << BigInt(ffs(iommu.pgsizeBitmap));
  warnOn(((pgsize - 1n) & PAGE_MASK) !== 0n, "(pgsize - 1) & PAGE_MASK");
  if ((size | iova | vaddr) & (pgsize - 1n)) {
    throw new SysError("EINVAL", fn, `not aligned to 0x${pgsize.toString(16)}`);
  }
  let dma = vfioFindDma(iommu, iova, size);
  if (setVaddr) {
    if (!dma) throw new SysError("ENOENT", fn, "no mapping to update");
    if (!dma.vaddrInvalid || dma.iova !== iova || dma.size !== size) {
      throw new SysError("EINVAL", fn, "not an invalidated mapping of exactly this range");
    }
    vfioChangeDmaOwner(current, dma);
    dma.vaddr = vaddr;
    dma.vaddrInvalid = false;
    iommu.vaddrInvalidCount--;
    return;
  }
  if (dma) throw new SysError("EEXIST", fn, "overlaps an existing mapping");
  if (!iommu.dmaAvail) throw new SysError("ENOSPC", fn, "dma_entry_limit reached");
  if (!vfioIommuIovaDmaValid(iommu, iova, iova + size - 1n)) {
    throw new SysError("EINVAL", fn, "iova outside the valid ranges");
  }
  if (iommu.type1.shouldFail("kzalloc")) throw new SysError("ENOMEM", fn, "fault injection");
  iommu.dmaAvail--;
  // The group leader's task and mm: pinning may happen later, for an emulated device.
  dma = new VfioDma(iova, vaddr, prot, current, current.mm, current.capable("CAP_IPC_LOCK"));
  vfioLinkDma(iommu, dma, size);
  // Without an IOMMU domain there is nothing to pin into: emulated devices pin on demand.
  if (iommu.domainList.length === 0) dma.size = size;
  else vfioPinMapDma(iommu, current, dma, size);
  if (iommu.dirtyPageTracking) {
    try {
      vfioDmaBitmapAlloc(iommu, dma, pgsize);
    } catch (e) {
      vfioRemoveDma(iommu, dma);
      throw e;
    }
  }
}

/**
 * vfio_iommu_type1.c: vfio_iommu_replay() — maps every existing mapping into a new domain:
 * from the first domain's page table when mapped already, else pinning it now (the container
 * had only emulated groups). On failure the new domain is emptied and the new pins released.
 */
function vfioIommuReplay(iommu: VfioIommu, current: Task | null, domain: VfioDomain): void {
  const core = iommu.kernel.iommu;
  const d = iommu.domainList[0] ?? null;
  const limit = memlockPages(current);
  const batch = vfioBatchInit(iommu);
  let n = iommu.dmaList.first();
  let err: unknown = null;
  outer: for (; n; n = iommu.dmaList.next(n)) {
    const dma = n.value;
    let pos = 0n;
    while (pos < dma.size) {
      const iova = dma.iova + pos;
      let phys: number;
      let size: number;
      if (dma.iommuMapped) {
        if (!d) {
          err = new KernelBug("vfio_iommu_replay: WARN_ON(!d) mapped without a domain");
          break outer;
        }
        phys = core.iommuIovaToPhys(d.domain, iovaNum(iova));
        if (warnOn(!phys, "!phys")) continue;
        size = PAGE_SIZE;
        while (
          pos + BigInt(size) < dma.size &&
          core.iommuIovaToPhys(d.domain, iovaNum(iova) + size) === phys + size
        ) {
          size += PAGE_SIZE;
        }
      } else {
        try {
          const run = vfioPinPagesRemote(
            iommu,
            current,
            dma,
            dma.vaddr + pos,
            Number((dma.size - pos) >> BigInt(PAGE_SHIFT)),
            limit,
            batch,
          );
          phys = run.pfnBase * PAGE_SIZE;
          size = run.pinned * PAGE_SIZE;
        } catch (e) {
          err = e;
          break outer;
        }
      }
      try {
        core.iommuMap(domain.domain, iovaNum(iova), phys, size, dma.prot | IOMMU_CACHE);
      } catch (e) {
        if (!dma.iommuMapped) {
          vfioUnpinPagesRemote(iommu, dma, iova, phys / PAGE_SIZE, size / PAGE_SIZE, true);
          vfioBatchUnpin(iommu, batch, dma);
        }
        err = e;
        break outer;
      }
      pos += BigInt(size);
    }
  }
  if (err === null) {
    // Every mapping is in; only now may a later failure count on the flag.
    for (const dma of iommu.dmas()) dma.iommuMapped = true;
    return;
  }
  // unwind: from the mapping that failed back to the first.
  for (; n; n = iommu.dmaList.prev(n)) {
    const dma = n.value;
    if (dma.iommuMapped) {
      core.iommuUnmap(domain.domain, iovaNum(dma.iova), Number(dma.size));
      continue;
    }
    let pos = 0n;
    while (pos < dma.size) {
      const iova = dma.iova + pos;
      const phys = core.iommuIovaToPhys(domain.domain, iovaNum(iova));
      if (!phys) {
        pos += PAGE_SIZE_B;
        continue;
      }
      let size = PAGE_SIZE;
      while (
        pos + BigInt(size) < dma.size &&
        core.iommuIovaToPhys(domain.domain, iovaNum(iova) + size) === phys + size
      ) {
        size += PAGE_SIZE;
      }
      // The C does not advance `pos` here: the next lookup finds the hole it just made.
      core.iommuUnmap(domain.domain, iovaNum(iova), size);
      vfioUnpinPagesRemote(iommu, dma, iova, phys / PAGE_SIZE, size / PAGE_SIZE, true);
    }
  }
  throw err;
}

// ---------------------------------------------------------------------------------------------
// Groups, apertures and reserved regions

/** vfio_iommu_type1.c: find_iommu_group() */
function findIommuGroup(domain: VfioDomain, iommuGroup: IommuGroup): VfioIommuGroup | undefined {
  return domain.groupList.find((g) => g.iommuGroup === iommuGroup);
}

/** vfio_iommu_type1.c: vfio_iommu_find_iommu_group() */
function vfioIommuFindIommuGroup(
  iommu: VfioIommu,
  iommuGroup: IommuGroup,
): VfioIommuGroup | undefined {
  for (const domain of iommu.domainList) {
    const g = findIommuGroup(domain, iommuGroup);
    if (g) return g;
  }
  return iommu.emulatedIommuGroups.find((g) => g.iommuGroup === iommuGroup);
}

/**
 * vfio_iommu_type1.c: vfio_iommu_has_sw_msi() — the SW_MSI window's base, unless the IOMMU
 * also reports a hardware MSI region (which wins).
 */
function vfioIommuHasSwMsi(regions: readonly IommuResvRegion[]): number | null {
  let base: number | null = null;
  for (const region of regions) {
    if (region.type === IOMMU_RESV_MSI) return null;
    if (region.type === IOMMU_RESV_SW_MSI) base = region.start;
  }
  return base;
}

/** vfio_iommu_type1.c: vfio_iommu_iova_insert() — appends a range (kmalloc may fail). */
function vfioIommuIovaInsert(
  iommu: VfioIommu,
  list: VfioIova[],
  at: number,
  start: bigint,
  end: bigint,
): void {
  if (iommu.type1.shouldFail("kmalloc")) {
    throw new SysError("ENOMEM", "vfio_iommu_iova_insert", "fault injection");
  }
  list.splice(at, 0, { start, end });
}

/**
 * vfio_iommu_type1.c: vfio_iommu_aper_conflict() — a new aperture disjoint from the current
 * one, or cutting off an existing mapping, conflicts.
 */
function vfioIommuAperConflict(iommu: VfioIommu, start: bigint, end: bigint): boolean {
  const list = iommu.iovaList;
  if (list.length === 0) return false;
  const first = list[0]!;
  const last = list[list.length - 1]!;
  if (start > last.end || end < first.start) return true;
  if (start > first.start && vfioFindDma(iommu, first.start, start - first.start)) return true;
  if (end < last.end && vfioFindDma(iommu, end + 1n, last.end - end)) return true;
  return false;
}

/** vfio_iommu_type1.c: vfio_iommu_aper_resize() — clips the list to [start, end]. */
function vfioIommuAperResize(iommu: VfioIommu, list: VfioIova[], start: bigint, end: bigint) {
  if (list.length === 0) {
    vfioIommuIovaInsert(iommu, list, 0, start, end);
    return;
  }
  while (list.length) {
    const node = list[0]!;
    if (start < node.start) break;
    if (start >= node.start && start < node.end) {
      node.start = start;
      break;
    }
    list.shift();
  }
  for (let i = 0; i < list.length; ) {
    const node = list[i]!;
    if (end > node.end) {
      i++;
      continue;
    }
    if (end > node.start && end <= node.end) {
      node.end = end;
      i++;
      continue;
    }
    list.splice(i, 1);
  }
}

/** vfio_iommu_type1.c: vfio_iommu_resv_conflict() — a reserved region over a mapping. */
function vfioIommuResvConflict(iommu: VfioIommu, regions: readonly IommuResvRegion[]): boolean {
  for (const region of regions) {
    if (region.type === IOMMU_RESV_DIRECT_RELAXABLE) continue;
    if (vfioFindDma(iommu, BigInt(region.start), BigInt(region.length))) return true;
  }
  return false;
}

/**
 * vfio_iommu_type1.c: vfio_iommu_resv_exclude() — cuts the reserved regions out of the list;
 * EINVAL when nothing is left.
 */
function vfioIommuResvExclude(
  iommu: VfioIommu,
  list: VfioIova[],
  regions: readonly IommuResvRegion[],
): void {
  for (const resv of regions) {
    if (resv.type === IOMMU_RESV_DIRECT_RELAXABLE) continue;
    const start = BigInt(resv.start);
    const end = BigInt(resv.start) + BigInt(resv.length) - 1n;
    for (let i = 0; i < list.length; ) {
      const n = list[i]!;
      if (start > n.end || end < n.start) {
        i++;
        continue;
      }
      // The pieces go in before the node, which then goes: the list stays sorted.
      let at = i;
      if (start > n.start) vfioIommuIovaInsert(iommu, list, at++, n.start, start - 1n);
      if (end < n.end) vfioIommuIovaInsert(iommu, list, at++, end + 1n, n.end);
      list.splice(at, 1);
      i = at;
    }
  }
  if (list.length === 0) throw new SysError("EINVAL", "vfio_iommu_resv_exclude", "no IOVA left");
}

/** vfio_iommu_type1.c: vfio_iommu_iova_get_copy() — all or nothing. */
function vfioIommuIovaGetCopy(iommu: VfioIommu): VfioIova[] {
  const copy: VfioIova[] = [];
  for (const n of iommu.iovaList) vfioIommuIovaInsert(iommu, copy, copy.length, n.start, n.end);
  return copy;
}

/**
 * vfio_iommu_type1.c: iommu_get_msi_cookie() (drivers/iommu/dma-iommu.c) — reserves the
 * domain for software-managed MSI mappings at `base`.
 */
function iommuGetMsiCookie(iommu: VfioIommu, domain: IommuDomain, _base: number): void {
  const fn = "iommu_get_msi_cookie";
  if (domain.type !== IOMMU_DOMAIN_UNMANAGED) throw new SysError("EINVAL", fn, "not unmanaged");
  if (domain.cookieType !== "none") throw new SysError("EEXIST", fn, "domain has a cookie");
  if (iommu.type1.shouldFail("kzalloc")) throw new SysError("ENOMEM", fn, "fault injection");
  domain.cookieType = "dma-msi";
}

/**
 * vfio_iommu_type1.c: vfio_iommu_type1_attach_group() — see VfioIommuType1.ops.attachGroup.
 */
function vfioIommuType1AttachGroup(
  iommu: VfioIommu,
  iommuGroup: IommuGroup,
  type: VfioGroupType,
  current: Task | null,
): void {
  const fn = "vfio_iommu_type1_attach_group";
  const t1 = iommu.type1;
  const core = iommu.kernel.iommu;
  // Attaching may have to pin, which needs valid vaddrs.
  if (iommu.vaddrInvalidCount) throw new SysError("EBUSY", fn, "vaddrs are invalidated");
  if (vfioIommuFindIommuGroup(iommu, iommuGroup)) {
    throw new SysError("EINVAL", fn, `group ${iommuGroup.id} already attached`);
  }
  if (t1.shouldFail("kzalloc")) throw new SysError("ENOMEM", fn, "fault injection");
  const group = new VfioIommuGroup(iommuGroup);

  if (type === VFIO_EMULATED_IOMMU) {
    // It can only dirty memory through interfaces that track it.
    group.pinnedPageDirtyScope = true;
    iommu.emulatedIommuGroups.unshift(group);
    return;
  }

  if (t1.shouldFail("kzalloc")) throw new SysError("ENOMEM", fn, "fault injection");
  // vfio_iommu_domain_alloc() through iommu_group_for_each_dev(): the first device decides.
  const domain = new VfioDomain(core.iommuPagingDomainAlloc(iommuGroup.firstDev()));
  try {
    core.iommuAttachGroup(domain.domain, iommuGroup);
  } catch (e) {
    core.iommuDomainFree(domain.domain);
    throw e;
  }
  // out_detach while the group is on the new domain, out_domain once it is on none.
  let attached = true;
  try {
    const geo = domain.domain.geometry;
    const apStart = BigInt(geo.apertureStart);
    const apEnd = BigInt(geo.apertureEnd);
    if (vfioIommuAperConflict(iommu, apStart, apEnd)) {
      throw new SysError("EINVAL", fn, "aperture conflicts with the IOVA ranges or a mapping");
    }
    const groupResvRegions = core.iommuGetGroupResvRegions(iommuGroup);
    if (vfioIommuResvConflict(iommu, groupResvRegions)) {
      throw new SysError("EINVAL", fn, "a reserved region overlaps a mapping");
    }
    // Worked on a copy, so that a failure leaves the container's list as it was.
    const iovaCopy = vfioIommuIovaGetCopy(iommu);
    vfioIommuAperResize(iommu, iovaCopy, apStart, apEnd);
    vfioIommuResvExclude(iommu, iovaCopy, groupResvRegions);
    const resvMsiBase = vfioIommuHasSwMsi(groupResvRegions);

    domain.groupList.unshift(group);

    if (!t1.params.allow_unsafe_interrupts && !core.iommuGroupHasIsolatedMsi(iommuGroup)) {
      iommu.kernel.printk
        .pr("")
        .warn(
          `${fn}: No interrupt remapping support.  Use the module param "allow_unsafe_interrupts" to enable VFIO IOMMU support on this platform`,
        );
      throw new SysError("EPERM", fn, "no MSI isolation");
    }

    // VFIO always asks for no-snoop blocking where the IOMMU can enforce it.
    const enforce = domain.domain.ops.enforceCacheCoherency;
    if (enforce) domain.enforceCacheCoherency = enforce(domain.domain);

    // An existing domain of the same driver and coherency takes the group if it can.
    for (const d of iommu.domainList) {
      if (
        d.domain.ops !== domain.domain.ops ||
        d.enforceCacheCoherency !== domain.enforceCacheCoherency
      ) {
        continue;
      }
      core.iommuDetachGroup(domain.domain, iommuGroup);
      attached = false;
      let joined = true;
      try {
        core.iommuAttachGroup(d.domain, iommuGroup);
      } catch (e) {
        if (!SysError.isInstance(e)) throw e;
        joined = false;
      }
      if (joined) {
        d.groupList.unshift(group);
        core.iommuDomainFree(domain.domain);
        attachDone(iommu, iovaCopy);
        return;
      }
      core.iommuAttachGroup(domain.domain, iommuGroup);
      attached = true;
    }

    vfioIommuReplay(iommu, current, domain);
    if (resvMsiBase !== null) {
      try {
        iommuGetMsiCookie(iommu, domain.domain, resvMsiBase);
      } catch (e) {
        if (!SysError.isInstance(e) || e.code !== "ENODEV") throw e;
      }
    }
    iommu.domainList.unshift(domain);
    vfioUpdatePgsizeBitmap(iommu);
    attachDone(iommu, iovaCopy);
  } catch (e) {
    if (attached) core.iommuDetachGroup(domain.domain, iommuGroup);
    core.iommuDomainFree(domain.domain);
    throw e;
  }
}

/** The `done:` tail of attach_group: the new IOVA list, one more group that can dirty pages. */
function attachDone(iommu: VfioIommu, iovaCopy: VfioIova[]): void {
  iommu.iovaList = iovaCopy;
  iommu.numNonPinnedGroups++;
}

/** vfio_iommu_type1.c: vfio_iommu_unmap_unpin_all() */
function vfioIommuUnmapUnpinAll(iommu: VfioIommu): void {
  for (let n = iommu.dmaList.first(); n; n = iommu.dmaList.first()) vfioRemoveDma(iommu, n.value);
}

/**
 * vfio_iommu_type1.c: vfio_iommu_unmap_unpin_reaccount() — the last domain goes but emulated
 * groups stay: the mappings lose their pins, and only what emulated devices pinned stays
 * charged.
 */
function vfioIommuUnmapUnpinReaccount(iommu: VfioIommu): void {
  for (const dma of iommu.dmas()) {
    const unlocked = vfioUnmapUnpin(iommu, dma, false);
    let locked = 0;
    for (const vpfn of dma.pfnList.values()) if (!isInvalidReservedPfn(iommu, vpfn.pfn)) locked++;
    vfioLockAcctNoFail(dma, locked - unlocked);
  }
}

/**
 * vfio_iommu_type1.c: vfio_iommu_aper_expand() — after a domain went: the aperture is the
 * intersection of the remaining domains' (everything when none remains).
 */
function vfioIommuAperExpand(iommu: VfioIommu, iovaCopy: VfioIova[]): void {
  if (iovaCopy.length === 0) return;
  let start = 0n;
  let end = U64_MAX;
  for (const d of iommu.domainList) {
    const geo = d.domain.geometry;
    if (BigInt(geo.apertureStart) > start) start = BigInt(geo.apertureStart);
    if (BigInt(geo.apertureEnd) < end) end = BigInt(geo.apertureEnd);
  }
  iovaCopy[0]!.start = start;
  iovaCopy[iovaCopy.length - 1]!.end = end;
}

/**
 * vfio_iommu_type1.c: vfio_iommu_resv_refresh() — rebuilds the list from its outer bounds
 * minus the reserved regions of the groups left (regions may be shared between groups).
 */
function vfioIommuResvRefresh(iommu: VfioIommu, iovaCopy: VfioIova[]): void {
  const fn = "vfio_iommu_resv_refresh";
  if (iovaCopy.length === 0) throw new SysError("EINVAL", fn, "empty list");
  const core = iommu.kernel.iommu;
  const resvRegions: IommuResvRegion[] = [];
  for (const d of iommu.domainList) {
    for (const g of d.groupList) resvRegions.push(...core.iommuGetGroupResvRegions(g.iommuGroup));
  }
  const start = iovaCopy[0]!.start;
  const end = iovaCopy[iovaCopy.length - 1]!.end;
  iovaCopy.length = 0;
  vfioIommuAperResize(iommu, iovaCopy, start, end);
  vfioIommuResvExclude(iommu, iovaCopy, resvRegions);
}

/** vfio_iommu_type1.c: vfio_iommu_type1_detach_group() */
function vfioIommuType1DetachGroup(iommu: VfioIommu, iommuGroup: IommuGroup): void {
  const core = iommu.kernel.iommu;
  let updateDirtyScope = false;
  const emulated = iommu.emulatedIommuGroups.findIndex((g) => g.iommuGroup === iommuGroup);
  if (emulated >= 0) {
    const group = iommu.emulatedIommuGroups[emulated]!;
    updateDirtyScope = !group.pinnedPageDirtyScope;
    iommu.emulatedIommuGroups.splice(emulated, 1);
    if (iommu.emulatedIommuGroups.length === 0 && iommu.domainList.length === 0) {
      warnOn(iommu.deviceList.length !== 0, "!list_empty(&iommu->device_list)");
      vfioIommuUnmapUnpinAll(iommu);
    }
  } else {
    // A failed copy leaves the list as it is (resv_refresh refuses an empty copy).
    let iovaCopy: VfioIova[] = [];
    try {
      iovaCopy = vfioIommuIovaGetCopy(iommu);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
    }
    for (let i = 0; i < iommu.domainList.length; i++) {
      const domain = iommu.domainList[i]!;
      const group = findIommuGroup(domain, iommuGroup);
      if (!group) continue;
      core.iommuDetachGroup(domain.domain, iommuGroup);
      updateDirtyScope = !group.pinnedPageDirtyScope;
      domain.groupList.splice(domain.groupList.indexOf(group), 1);
      // Group ownership is the privilege: the domain, and with the last one every
      // mapping (or only its pins, when emulated groups remain), goes with the last group.
      if (domain.groupList.length === 0) {
        if (iommu.domainList.length === 1) {
          if (iommu.emulatedIommuGroups.length === 0) {
            warnOn(iommu.deviceList.length !== 0, "!list_empty(&iommu->device_list)");
            vfioIommuUnmapUnpinAll(iommu);
          } else {
            vfioIommuUnmapUnpinReaccount(iommu);
          }
        }
        core.iommuDomainFree(domain.domain);
        iommu.domainList.splice(i, 1);
        vfioIommuAperExpand(iommu, iovaCopy);
        vfioUpdatePgsizeBitmap(iommu);
      }
      break;
    }
    try {
      vfioIommuResvRefresh(iommu, iovaCopy);
      iommu.iovaList = iovaCopy;
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
    }
  }
  // Without a group that can dirty anything, the scope may be promoted.
  if (updateDirtyScope) {
    iommu.numNonPinnedGroups--;
    if (iommu.dirtyPageTracking) vfioIommuPopulateBitmapFull(iommu);
  }
}

// ---------------------------------------------------------------------------------------------
// The container ioctls

/** vfio_iommu_type1.c: vfio_domains_have_enforce_cache_coherency() */
function vfioDomainsHaveEnforceCacheCoherency(iommu: VfioIommu): number {
  return iommu.domainList.every((d) => d.enforceCacheCoherency) ? 1 : 0;
}

/**
 * vfio_iommu_type1.c: vfio_iommu_type1_check_extension() — asked with no instance before
 * VFIO_SET_IOMMU. UPDATE_VADDR needs an instance without emulated groups (mediated devices
 * cannot pin while vaddrs change); DMA_CC_IOMMU an instance whose domains all enforce it.
 */
function vfioIommuType1CheckExtension(iommu: VfioIommu | null, arg: number): number {
  switch (arg) {
    case VFIO_TYPE1_IOMMU:
    case VFIO_TYPE1v2_IOMMU:
    case VFIO_UNMAP_ALL:
      return 1;
    case VFIO_UPDATE_VADDR:
      return iommu && iommu.emulatedIommuGroups.length === 0 ? 1 : 0;
    case VFIO_DMA_CC_IOMMU:
      return iommu ? vfioDomainsHaveEnforceCacheCoherency(iommu) : 0;
    default:
      // __VFIO_RESERVED_TYPE1_NESTING_IOMMU included: nesting is gone.
      return 0;
  }
}

/**
 * vfio_iommu_type1.c: vfio_iommu_iova_build_caps() and vfio_iommu_iova_add_cap() — none
 * while the list is empty (a container with only emulated groups).
 */
function vfioIommuIovaBuildCaps(iommu: VfioIommu, caps: VfioInfoCap): void {
  if (iommu.iovaList.length === 0) return;
  vfioInfoAddCapability(
    caps,
    vfio_iommu_type1_info_cap_iova_range.encode({
      header: { id: VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, version: 1, next: 0 },
      nr_iovas: iommu.iovaList.length,
      iova_ranges: iommu.iovaList.map((n) => ({ start: n.start, end: n.end })),
    }),
  );
}

/** vfio_iommu_type1.c: vfio_iommu_migration_build_caps() — the smallest page size only. */
function vfioIommuMigrationBuildCaps(iommu: VfioIommu, caps: VfioInfoCap): void {
  vfioInfoAddCapability(
    caps,
    vfio_iommu_type1_info_cap_migration.encode({
      header: { id: VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, version: 1, next: 0 },
      flags: 0,
      pgsize_bitmap: 1n << BigInt(ffs(iommu.pgsizeBitmap)),
      max_dirty_bitmap_size: DIRTY_BITMAP_SIZE_MAX,
    }),
  );
}

/** vfio_iommu_type1.c: vfio_iommu_dma_avail_build_caps() */
function vfioIommuDmaAvailBuildCaps(iommu: VfioIommu, caps: VfioInfoCap): void {
  vfioInfoAddCapability(
    caps,
    vfio_iommu_type1_info_dma_avail.encode({
      header: { id: VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, version: 1, next: 0 },
      avail: iommu.dmaAvail,
    }),
  );
}

/**
 * vfio_iommu_type1.c: vfio_iommu_type1_get_info() — VFIO_IOMMU_GET_INFO: EFAULT, EINVAL
 * (`argsz` short of `iova_pgsizes`). The chain (MIGRATION, DMA_AVAIL, IOVA_RANGE) is copied
 * behind the struct only if `argsz` holds all of it; otherwise `argsz` comes back as the size
 * needed and `cap_offset` as 0. At most `argsz` bytes of the struct itself are written.
 */
function vfioIommuType1GetInfo(iommu: VfioIommu, current: Task, arg: number): number {
  const fn = "vfio_iommu_type1_get_info";
  const layout = vfio_iommu_type1_info;
  let minsz = layout.offsetofend("iova_pgsizes");
  const info = layout.decodePartial(copyFromUser(current.mm, arg, minsz, fn));
  if (info.argsz < minsz) throw new SysError("EINVAL", fn, `argsz ${info.argsz}`);
  minsz = Math.min(info.argsz, layout.size);
  info.cap_offset = 0;
  info.pad = 0;
  info.flags = VFIO_IOMMU_INFO_PGSIZES;
  info.iova_pgsizes = iommu.pgsizeBitmap;
  const caps = new VfioInfoCap();
  vfioIommuMigrationBuildCaps(iommu, caps);
  vfioIommuDmaAvailBuildCaps(iommu, caps);
  vfioIommuIovaBuildCaps(iommu, caps);
  if (caps.size) {
    info.flags |= VFIO_IOMMU_INFO_CAPS;
    if (info.argsz < layout.size + caps.size) {
      info.argsz = layout.size + caps.size;
    } else {
      vfioInfoCapShift(caps, layout.size);
      copyToUser(current.mm, arg + layout.size, caps.bytes(), fn);
      info.cap_offset = layout.size;
    }
  }
  copyToUser(current.mm, arg, layout.encode(info).subarray(0, minsz), fn);
  return 0;
}

/**
 * vfio_iommu_type1.c: vfio_iommu_type1_map_dma() — VFIO_IOMMU_MAP_DMA: EFAULT, EINVAL (short
 * `argsz`, unknown flags), then vfio_dma_do_map()'s errors.
 */
function vfioIommuType1MapDma(iommu: VfioIommu, current: Task, arg: number): number {
  const fn = "vfio_iommu_type1_map_dma";
  const mask = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE | VFIO_DMA_MAP_FLAG_VADDR;
  const minsz = vfio_iommu_type1_dma_map.offsetofend("size");
  const map = vfio_iommu_type1_dma_map.decodePartial(copyFromUser(current.mm, arg, minsz, fn));
  if (map.argsz < minsz || map.flags & ~mask) {
    throw new SysError("EINVAL", fn, map.argsz < minsz ? `argsz ${map.argsz}` : "flags");
  }
  vfioDmaDoMap(iommu, current, map);
  return 0;
}

/**
 * vfio_iommu_type1.c: vfio_iommu_type1_unmap_dma() — VFIO_IOMMU_UNMAP_DMA: EFAULT, EINVAL
 * (short `argsz`, unknown flags, GET_DIRTY_BITMAP with ALL or VADDR, no room for the
 * `vfio_bitmap`), EFAULT (bitmap struct), EINVAL (bitmap beyond user space or of the wrong
 * size), then vfio_dma_do_unmap()'s errors. `size` is copied back only on success.
 */
function vfioIommuType1UnmapDma(iommu: VfioIommu, current: Task, arg: number): number {
  const fn = "vfio_iommu_type1_unmap_dma";
  const layout = vfio_iommu_type1_dma_unmap;
  const mask =
    VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP | VFIO_DMA_UNMAP_FLAG_VADDR | VFIO_DMA_UNMAP_FLAG_ALL;
  const minsz = layout.offsetofend("size");
  const unmap = layout.decodePartial(copyFromUser(current.mm, arg, minsz, fn));
  if (unmap.argsz < minsz || unmap.flags & ~mask) {
    throw new SysError("EINVAL", fn, unmap.argsz < minsz ? `argsz ${unmap.argsz}` : "flags");
  }
  const dirty = (unmap.flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) !== 0;
  if (dirty && unmap.flags & (VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR)) {
    throw new SysError("EINVAL", fn, "GET_DIRTY_BITMAP with ALL or VADDR");
  }
  let bitmap = { pgsize: 0n, size: 0n, data: 0n };
  if (dirty) {
    if (unmap.argsz < minsz + vfio_bitmap.size) {
      throw new SysError("EINVAL", fn, `argsz ${unmap.argsz} has no vfio_bitmap`);
    }
    bitmap = vfio_bitmap.decode(copyFromUser(current.mm, arg + minsz, vfio_bitmap.size, fn));
    if (!bitmapAccessOk(bitmap.data, bitmap.size)) {
      throw new SysError("EINVAL", fn, "bitmap beyond user space");
    }
    verifyBitmapSize(unmap.size >> BigInt(ffs(bitmap.pgsize)), bitmap.size, fn);
  }
  const args: DmaUnmapArgs = { flags: unmap.flags, iova: unmap.iova, size: unmap.size };
  vfioDmaDoUnmap(iommu, current, args, bitmap);
  const reply = layout.encode({
    argsz: unmap.argsz,
    flags: unmap.flags,
    iova: unmap.iova,
    size: args.size,
  });
  copyToUser(current.mm, arg, reply.subarray(0, minsz), fn);
  return 0;
}

/** access_ok() of a u64 user pointer and size. */
function bitmapAccessOk(data: bigint, size: bigint): boolean {
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  return data <= max && size <= max && accessOk(Number(data), Number(size));
}

/**
 * vfio_iommu_type1.c: vfio_iommu_type1_dirty_pages() — VFIO_IOMMU_DIRTY_PAGES, v2 only
 * (EACCES, before anything is read). EFAULT, EINVAL (short `argsz`, unknown flags, not exactly
 * one flag). START allocates a bitmap per mapping (pinned pages start dirty); STOP frees them;
 * GET_BITMAP: EINVAL (no room for the range), EFAULT, EINVAL (zero size), EOVERFLOW, EINVAL
 * (bitmap beyond user space or too small; page size not the smallest; unaligned; not tracking;
 * range cutting a mapping).
 */
function vfioIommuType1DirtyPages(iommu: VfioIommu, current: Task, arg: number): number {
  const fn = "vfio_iommu_type1_dirty_pages";
  const mask =
    VFIO_IOMMU_DIRTY_PAGES_FLAG_START |
    VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP |
    VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
  if (!iommu.v2) throw new SysError("EACCES", fn, "dirty tracking needs TYPE1v2");
  const minsz = vfio_iommu_type1_dirty_bitmap.offsetofend("flags");
  const dirty = vfio_iommu_type1_dirty_bitmap.decodePartial(
    copyFromUser(current.mm, arg, minsz, fn),
  );
  if (dirty.argsz < minsz || dirty.flags & ~mask) {
    throw new SysError("EINVAL", fn, dirty.argsz < minsz ? `argsz ${dirty.argsz}` : "flags");
  }
  // Exactly one flag (__ffs() != __fls() also refuses 0).
  if (ffs(BigInt(dirty.flags)) !== fls(dirty.flags)) throw new SysError("EINVAL", fn, "flags");

  if (dirty.flags & VFIO_IOMMU_DIRTY_PAGES_FLAG_START) {
    const pgsize = 1n << BigInt(ffs(iommu.pgsizeBitmap));
    if (!iommu.dirtyPageTracking) {
      vfioDmaBitmapAllocAll(iommu, pgsize);
      iommu.dirtyPageTracking = true;
    }
    return 0;
  }
  if (dirty.flags & VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP) {
    if (iommu.dirtyPageTracking) {
      iommu.dirtyPageTracking = false;
      vfioDmaBitmapFreeAll(iommu);
    }
    return 0;
  }
  // VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP
  const rangeLayout = vfio_iommu_type1_dirty_bitmap_get;
  const dataSize = dirty.argsz - minsz;
  if (!dataSize || dataSize < rangeLayout.size) {
    throw new SysError("EINVAL", fn, `argsz ${dirty.argsz} has no range`);
  }
  const range = rangeLayout.decode(copyFromUser(current.mm, arg + minsz, rangeLayout.size, fn));
  const { iova, size } = range;
  if (!size) throw new SysError("EINVAL", fn, "zero size");
  const iovaEnd = iova + size - 1n;
  if (iovaEnd > U64_MAX) throw new SysError("EOVERFLOW", fn, "iova + size wraps");
  if (!bitmapAccessOk(range.bitmap.data, range.bitmap.size)) {
    throw new SysError("EINVAL", fn, "bitmap beyond user space");
  }
  verifyBitmapSize(size >> BigInt(ffs(range.bitmap.pgsize)), range.bitmap.size, fn);
  const iommuPgsize = 1n << BigInt(ffs(iommu.pgsizeBitmap));
  if (range.bitmap.pgsize !== iommuPgsize) {
    throw new SysError("EINVAL", fn, "bitmap page size is not the smallest IOMMU page");
  }
  if (iova & (iommuPgsize - 1n)) throw new SysError("EINVAL", fn, "unaligned iova");
  if (size & (iommuPgsize - 1n)) throw new SysError("EINVAL", fn, "unaligned size");
  if (!iommu.dirtyPageTracking) throw new SysError("EINVAL", fn, "dirty tracking is off");
  vfioIovaDirtyBitmap(current, range.bitmap.data, iommu, iova, iovaEnd, range.bitmap.pgsize);
  return 0;
}

/** vfio_iommu_type1.c: vfio_iommu_type1_ioctl() — unknown requests are ENOTTY. */
function vfioIommuType1Ioctl(
  iommu: VfioIommu | null,
  current: Task,
  cmd: number,
  arg: number,
): number {
  // Only CHECK_EXTENSION is ever asked without an instance (before VFIO_SET_IOMMU).
  const instance = (): VfioIommu => {
    if (!iommu) throw new KernelBug("vfio_iommu_type1_ioctl: NULL iommu_data");
    return iommu;
  };
  switch (cmd >>> 0) {
    case VFIO_CHECK_EXTENSION:
      return vfioIommuType1CheckExtension(iommu, arg);
    case VFIO_IOMMU_GET_INFO:
      return vfioIommuType1GetInfo(instance(), current, arg);
    case VFIO_IOMMU_MAP_DMA:
      return vfioIommuType1MapDma(instance(), current, arg);
    case VFIO_IOMMU_UNMAP_DMA:
      return vfioIommuType1UnmapDma(instance(), current, arg);
    case VFIO_IOMMU_DIRTY_PAGES:
      return vfioIommuType1DirtyPages(instance(), current, arg);
    default:
      throw new SysError(
        "ENOTTY",
        "vfio_iommu_type1_ioctl",
        `request 0x${(cmd >>> 0).toString(16)}`,
      );
  }
}

// ---------------------------------------------------------------------------------------------
// The emulated-device interfaces

/**
 * vfio_iommu_type1.c: vfio_iommu_type1_pin_pages() — pins `npage` pages of mapped IOVA for an
 * emulated device of `iommuGroup`, in order: EINVAL (npage <= 0), EACCES (v1), EOVERFLOW,
 * EBUSY (vaddrs invalidated), EINVAL (no device with dma_unmap registered), then per page
 * EINVAL (not mapped), EPERM (mapping lacks `prot`), the pin's errors (ENOMEM for
 * RLIMIT_MEMLOCK when no domain already charged it), EINVAL (not RAM). On failure the pages
 * this call pinned are released. Returns their page frame numbers (the C's `struct page *`s).
 */
function vfioIommuType1PinPages(
  iommu: VfioIommu,
  iommuGroup: IommuGroup,
  userIova: bigint,
  npage: number,
  prot: number,
): number[] {
  const fn = "vfio_iommu_type1_pin_pages";
  if (!(npage > 0)) throw new SysError("EINVAL", fn, `npage ${npage}`);
  if (!iommu.v2) throw new SysError("EACCES", fn, "pinning needs TYPE1v2");
  if (userIova + BigInt(npage) * PAGE_SIZE_B - 1n > U64_MAX) {
    throw new SysError("EOVERFLOW", fn, "iova range wraps");
  }
  if (iommu.vaddrInvalidCount) {
    iommu.kernel.irq.bug.warnOnce(
      { file: TYPE1_C, line: 921, fn },
      "vfio_pin_pages not allowed with VFIO_UPDATE_VADDR",
    );
    throw new SysError("EBUSY", fn, "vaddrs are invalidated");
  }
  // Without a dma_unmap notifier a pin could never be asked back.
  if (iommu.deviceList.length === 0) throw new SysError("EINVAL", fn, "no device to notify");
  // With a domain every mapped page is pinned and charged already.
  const doAccounting = iommu.domainList.length === 0;
  const pages: number[] = [];
  let i = 0;
  try {
    for (; i < npage; i++) {
      const iova = userIova + PAGE_SIZE_B * BigInt(i);
      const dma = vfioFindDma(iommu, iova, PAGE_SIZE_B);
      if (!dma) throw new SysError("EINVAL", fn, `iova 0x${iova.toString(16)} not mapped`);
      if ((dma.prot & prot) !== prot) throw new SysError("EPERM", fn, "mapping lacks the access");
      const vpfn = vfioIovaGetVfioPfn(dma, iova);
      if (vpfn) {
        pages.push(vpfn.pfn);
        continue;
      }
      const physPfn = vfioPinPageExternal(iommu, dma, dma.vaddr + (iova - dma.iova), doAccounting);
      if (!iommu.kernel.allocator.pfnValid(physPfn)) {
        throw new SysError("EINVAL", fn, "not RAM");
      }
      try {
        vfioAddToPfnList(iommu, dma, iova, physPfn);
      } catch (e) {
        if (putPfn(iommu, physPfn, dma.prot) && doAccounting) vfioLockAcctNoFail(dma, -1);
        throw e;
      }
      pages.push(physPfn);
      if (iommu.dirtyPageTracking) {
        const pgshift = BigInt(ffs(iommu.pgsizeBitmap));
        bitmapSet(dma.bitmap!, Number((iova - dma.iova) >> pgshift), 1);
      }
    }
  } catch (e) {
    // pin_unwind
    for (let j = 0; j < i; j++) {
      const iova = userIova + PAGE_SIZE_B * BigInt(j);
      const dma = vfioFindDma(iommu, iova, PAGE_SIZE_B);
      if (dma) vfioUnpinPageExternal(iommu, dma, iova, doAccounting);
    }
    throw e;
  }
  const group = vfioIommuFindIommuGroup(iommu, iommuGroup);
  if (group && !group.pinnedPageDirtyScope) {
    group.pinnedPageDirtyScope = true;
    iommu.numNonPinnedGroups--;
  }
  return pages;
}

/**
 * vfio_iommu_type1.c: vfio_iommu_type1_unpin_pages() — a driver's misuse (v1, no pages, a
 * wrapping range, an unmapped page, where it stops) is a kernel WARNING, not an error.
 */
function vfioIommuType1UnpinPages(iommu: VfioIommu, userIova: bigint, npage: number): void {
  const fn = "vfio_iommu_type1_unpin_pages";
  const bug = iommu.kernel.irq.bug;
  const refused = !iommu.v2
    ? 1029
    : !(npage > 0)
      ? 1032
      : userIova + BigInt(npage) * PAGE_SIZE_B - 1n > U64_MAX
        ? 1035
        : 0;
  if (refused) {
    bug.warnOn({ file: TYPE1_C, line: refused, fn });
    return;
  }
  const doAccounting = iommu.domainList.length === 0;
  let i = 0;
  for (; i < npage; i++) {
    const iova = userIova + PAGE_SIZE_B * BigInt(i);
    const dma = vfioFindDma(iommu, iova, PAGE_SIZE_B);
    if (!dma) break;
    vfioUnpinPageExternal(iommu, dma, iova, doAccounting);
  }
  if (i !== npage) bug.warnOn({ file: TYPE1_C, line: 1055, fn });
}

/**
 * vfio_iommu_type1.c: vfio_iommu_type1_dma_rw() — copies to or from mapped IOVA through the
 * mapping's user address (no pinning): EBUSY (vaddrs invalidated), then per chunk EINVAL (not
 * mapped), EPERM (mapping lacks the access, or its process is gone), EFAULT (another process's
 * mapping, or the user address faults).
 */
function vfioIommuType1DmaRw(
  iommu: VfioIommu,
  current: Task,
  userIova: bigint,
  data: Uint8Array,
  write: boolean,
): void {
  const fn = "vfio_iommu_type1_dma_rw";
  if (iommu.vaddrInvalidCount) {
    iommu.kernel.irq.bug.warnOnce(
      { file: TYPE1_C, line: 3207, fn },
      "vfio_dma_rw not allowed with VFIO_UPDATE_VADDR",
    );
    throw new SysError("EBUSY", fn, "vaddrs are invalidated");
  }
  let done = 0;
  let iova = userIova;
  while (done < data.length) {
    // vfio_iommu_type1_dma_rw_chunk()
    const dma = vfioFindDma(iommu, iova, 1n);
    if (!dma) throw new SysError("EINVAL", fn, `iova 0x${iova.toString(16)} not mapped`);
    if ((write && !(dma.prot & IOMMU_WRITE)) || !(dma.prot & IOMMU_READ)) {
      throw new SysError("EPERM", fn, "mapping lacks the access");
    }
    if (!mmgetNotZero(dma.task)) throw new SysError("EPERM", fn, "process exited");
    if (current.mm !== dma.mm) throw new SysError("EFAULT", fn, "mapping of another mm");
    const offset = iova - dma.iova;
    let count = data.length - done;
    if (BigInt(count) > dma.size - offset) count = Number(dma.size - offset);
    const vaddr = Number(dma.vaddr + offset);
    const chunk = data.subarray(done, done + count);
    try {
      if (write) dma.mm.writeUser(vaddr, chunk);
      else dma.mm.readUser(vaddr, chunk);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      throw new SysError("EFAULT", fn, e.message);
    }
    if (write && iommu.dirtyPageTracking) {
      const pgshift = BigInt(ffs(iommu.pgsizeBitmap));
      const first = Number(offset >> pgshift);
      const last = Number((offset + BigInt(count) - 1n) >> pgshift);
      bitmapSet(dma.bitmap!, first, last - first + 1);
    }
    done += count;
    iova += BigInt(count);
  }
}

// ---------------------------------------------------------------------------------------------
// The loaded module

/**
 * The loaded `vfio_iommu_type1`: its parameters and `vfio_iommu_driver_ops_type1`, which init
 * registers with the VFIO container code.
 */
export class VfioIommuType1 {
  readonly ops: VfioIommuDriverOps<VfioIommu>;

  constructor(
    readonly kernel: Kernel,
    readonly params: VfioIommuType1Params,
  ) {
    this.ops = {
      name: "vfio-iommu-type1",
      owner: vfioIommuType1Module,
      open: (_current, arg) => this.open(arg),
      release: (iommu) => this.release(iommu),
      ioctl: (iommu, current, cmd, arg) => vfioIommuType1Ioctl(iommu, current, cmd, arg),
      attachGroup: (iommu, group, type) => this.attachGroup(iommu, group, type),
      detachGroup: (iommu, group) => vfioIommuType1DetachGroup(iommu, group),
      pinPages: (iommu, group, iova, npage, prot) =>
        vfioIommuType1PinPages(iommu, group, iova, npage, prot),
      unpinPages: (iommu, iova, npage) => vfioIommuType1UnpinPages(iommu, iova, npage),
      registerDevice: (iommu, vdev) => this.registerDevice(iommu, vdev),
      unregisterDevice: (iommu, vdev) => this.unregisterDevice(iommu, vdev),
      dmaRw: (iommu, current, iova, buf, write) =>
        vfioIommuType1DmaRw(iommu, current, iova, buf, write),
      groupIommuDomain: (iommu, group) => this.groupIommuDomain(iommu, group),
    };
  }

  /**
   * vfio_iommu_type1.c: vfio_iommu_type1_attach_group() — in the kernel's order: EBUSY
   * (vaddrs invalidated), EINVAL (attached already), ENOMEM; an emulated group is only
   * recorded. Otherwise a paging domain is allocated for the group's first device and attached
   * (the IOMMU core's errors), then EINVAL (aperture or reserved region against the IOVA
   * ranges and mappings), ENOMEM/EINVAL (IOVA list), EPERM with a warning (no MSI isolation
   * and allow_unsafe_interrupts off). An existing domain of the same driver and coherency takes
   * the group if it attaches; else the mappings are replayed into the new domain (pinning from
   * `current`, by default the task in the syscall). Every failure undoes it all.
   */
  attachGroup(iommu: VfioIommu, group: IommuGroup, type: VfioGroupType, current?: Task): void {
    vfioIommuType1AttachGroup(iommu, group, type, current ?? this.kernel.current);
  }

  /** The page allocator's fault-injection point. */
  shouldFail(site: string): boolean {
    return this.kernel.allocator.shouldFail(site);
  }

  /**
   * vfio_iommu_type1.c: vfio_iommu_type1_open() — ENOMEM, EINVAL for any type but TYPE1
   * (v1) and TYPE1v2 (or the reserved nesting number, which still opens as v2).
   */
  open(arg: number): VfioIommu {
    const fn = "vfio_iommu_type1_open";
    if (this.shouldFail("kzalloc")) throw new SysError("ENOMEM", fn, "fault injection");
    switch (arg) {
      case VFIO_TYPE1_IOMMU:
        return new VfioIommu(this, false);
      case __VFIO_RESERVED_TYPE1_NESTING_IOMMU:
      case VFIO_TYPE1v2_IOMMU:
        return new VfioIommu(this, true);
      default:
        throw new SysError("EINVAL", fn, `type ${arg}`);
    }
  }

  /** vfio_iommu_type1.c: vfio_iommu_type1_release() — everything unmapped, domains freed. */
  release(iommu: VfioIommu): void {
    const core = this.kernel.iommu;
    iommu.emulatedIommuGroups.length = 0;
    vfioIommuUnmapUnpinAll(iommu);
    for (const domain of iommu.domainList) {
      // vfio_release_domain()
      for (const g of domain.groupList) core.iommuDetachGroup(domain.domain, g.iommuGroup);
      domain.groupList.length = 0;
      core.iommuDomainFree(domain.domain);
    }
    iommu.domainList.length = 0;
    iommu.iovaList = [];
  }

  /** vfio_iommu_type1.c: vfio_iommu_type1_register_device() — only devices with dma_unmap. */
  registerDevice(iommu: VfioIommu, vdev: VfioCoreDevice): void {
    if (!vdev.coreOps.dmaUnmap) return;
    iommu.deviceList.unshift(vdev);
  }

  /** vfio_iommu_type1.c: vfio_iommu_type1_unregister_device() */
  unregisterDevice(iommu: VfioIommu, vdev: VfioCoreDevice): void {
    if (!vdev.coreOps.dmaUnmap) return;
    const i = iommu.deviceList.indexOf(vdev);
    if (i >= 0) iommu.deviceList.splice(i, 1);
  }

  /**
   * vfio_iommu_type1.c: vfio_iommu_type1_group_iommu_domain() — the domain the group is
   * attached to; null where the C answers ERR_PTR(-ENODEV).
   */
  groupIommuDomain(iommu: VfioIommu, group: IommuGroup): IommuDomain | null {
    for (const d of iommu.domainList) if (findIommuGroup(d, group)) return d.domain;
    return null;
  }
}

const type1Instances = new WeakMap<Kernel, VfioIommuType1>();

/** The loaded vfio_iommu_type1 of `kernel`. */
export function vfioIommuType1Of(kernel: Kernel): VfioIommuType1 {
  const t = type1Instances.get(kernel);
  if (!t) throw new SysError("ENOENT", "vfio_iommu_type1", "the module is not loaded");
  return t;
}

/** vfio_iommu_type1.c: vfio_iommu_type1_init() — registers the backend with vfio's containers. */
export function vfioIommuType1Init(kernel: Kernel, params: VfioIommuType1Params): void {
  // Kconfig builds this module only inside `if VFIO_CONTAINER`: there is no .ko to load.
  if (!kernel.config.CONFIG_VFIO_CONTAINER) {
    throw new SysError(
      "ENOENT",
      "modprobe",
      "vfio_iommu_type1 is not built without CONFIG_VFIO_CONTAINER",
    );
  }
  const t = new VfioIommuType1(kernel, params);
  vfioRegisterIommuDriver(vfioOf(kernel), t.ops as VfioIommuDriverOps);
  type1Instances.set(kernel, t);
}

/** vfio_iommu_type1.c: vfio_iommu_type1_cleanup() */
export function vfioIommuType1Cleanup(kernel: Kernel): void {
  const t = type1Instances.get(kernel);
  if (!t) return;
  vfioUnregisterIommuDriver(vfioOf(kernel), t.ops as VfioIommuDriverOps);
  type1Instances.delete(kernel);
}
