/**
 * IOMMUFD's VFIO container personality: drivers/iommu/iommufd/vfio_compat.c.
 *
 * An iommufd file answers the legacy container ioctls of `/dev/vfio/vfio` (which iommufd itself
 * provides under CONFIG_IOMMUFD_VFIO_CONTAINER) on a "compat IOAS": the IOAS VFIO's group code
 * creates when the first group joins the container (`iommufdVfioCompatIoasCreate`), or one user
 * space chose with IOMMU_VFIO_IOAS. The type1 backend is emulated on it:
 *
 * | ioctl | what it does here |
 * |---|---|
 * | VFIO_GET_API_VERSION | VFIO_API_VERSION |
 * | VFIO_CHECK_EXTENSION | TYPE1, TYPE1v2, UNMAP_ALL: 1 unless in no-IOMMU mode; NOIOMMU: CONFIG_VFIO_NOIOMMU; DMA_CC_IOMMU: every HWPT of the compat IOAS enforces coherency (ENODEV without one); else 0 |
 * | VFIO_SET_IOMMU | NOIOMMU (no-IOMMU mode) needs CAP_SYS_RAWIO; TYPE1/TYPE1v2 need the compat IOAS; TYPE1 disables large pages so that any range can be cut |
 * | VFIO_IOMMU_MAP_DMA | IOMMU_IOAS_MAP at a fixed IOVA, accounted per the file's RLIMIT mode (MM on /dev/vfio/vfio) |
 * | VFIO_IOMMU_UNMAP_DMA | TYPE1 cuts the range out of larger mappings; TYPE1v2 only removes whole ones (ENOENT); `size` returns the bytes unmapped, even on failure |
 * | VFIO_IOMMU_GET_INFO | page sizes, and a capability chain (DMA_AVAIL, IOVA_RANGE) that never writes past `argsz` |
 *
 * Everything else (VFIO_IOMMU_DIRTY_PAGES, the VADDR flags, sPAPR) is ENOTTY or EINVAL.
 *
 * Caveat:
 * - The xa_lock around `vfio_ioas` and `no_iommu_mode` is not modelled (one syscall at a time).
 * - IOMMU_VFIO_IOAS and get_compat_ioas() live in ioas.ts with the other IOAS ioctls.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import {
  copyFromUser,
  copyToUser,
  IOMMU_CACHE,
  IOMMU_READ,
  IOMMU_WRITE,
  putUser,
  SysError,
  type Task,
  u32,
  VFIO_API_VERSION,
  VFIO_CHECK_EXTENSION,
  VFIO_DMA_CC_IOMMU,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_GET_API_VERSION,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_INFO_PGSIZES,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
  VFIO_IOMMU_UNMAP_DMA,
  VFIO_NOIOMMU_IOMMU,
  VFIO_SET_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
  vfio_info_cap_header,
  vfio_iommu_type1_dma_map,
  vfio_iommu_type1_dma_unmap,
  vfio_iommu_type1_info,
  vfio_iommu_type1_info_cap_iova_range,
  vfio_iommu_type1_info_dma_avail,
  vfio_iova_range,
} from "@vfio-lab/kernel";
import type { IommufdHwptPaging } from "./hw-pagetable.js";
import { spans } from "./interval-tree.js";
import { ULONG_MAX } from "./io-pagetable.js";
import { getCompatIoas, type IommufdIoas, iommufdIoasAlloc } from "./ioas.js";
import type { IommufdCtx } from "./main.js";

const U32_MAX = 0xffff_ffff;
const PAGE_SIZE_B = BigInt(PAGE_SIZE);
/** PAGE_MASK as an unsigned long. */
const PAGE_MASK = ULONG_MAX & ~(PAGE_SIZE_B - 1n);

/** The compat IOAS with a reference (get_compat_ioas()), handed to `fn`, then put. */
function withCompatIoas<T>(ictx: IommufdCtx, fn: (ioas: IommufdIoas) => T): T {
  const ioas = getCompatIoas(ictx);
  try {
    return fn(ioas);
  } finally {
    ictx.objects.put(ioas);
  }
}

// ---------------------------------------------------------------------------------------------
// The in-kernel API VFIO's group code uses (EXPORT_SYMBOL_NS_GPL(..., "IOMMUFD_VFIO")).

/** vfio_compat.c: iommufd_vfio_compat_ioas_get_id() — the compat IOAS's ID, ENODEV if none. */
export function iommufdVfioCompatIoasGetId(ictx: IommufdCtx): number {
  return withCompatIoas(ictx, (ioas) => ioas.id);
}

/**
 * vfio_compat.c: iommufd_vfio_compat_set_no_iommu() — a no-IOMMU group joined the container:
 * from now on only VFIO_NOIOMMU_IOMMU can be set. EINVAL once a compat IOAS exists.
 */
export function iommufdVfioCompatSetNoIommu(ictx: IommufdCtx): void {
  if (ictx.vfioIoas) {
    throw new SysError("EINVAL", "iommufd_vfio_compat_set_no_iommu", "a compat IOAS exists");
  }
  ictx.noIommuMode = true;
}

/**
 * vfio_compat.c: iommufd_vfio_compat_ioas_create() — makes sure a compat IOAS exists, creating
 * one (an ordinary IOAS object user space can learn with IOMMU_VFIO_IOAS and destroy) if not.
 * ENOMEM when it cannot be allocated; EINVAL in no-IOMMU mode.
 */
export function iommufdVfioCompatIoasCreate(ictx: IommufdCtx): void {
  const ioas = iommufdIoasAlloc(ictx);
  // VFIO does not let one container mix IOMMU and no-IOMMU groups.
  if (ictx.noIommuMode) {
    ictx.objects.abort(ioas);
    throw new SysError(
      "EINVAL",
      "iommufd_vfio_compat_ioas_create",
      "container is in no-IOMMU mode",
    );
  }
  const cur = ictx.vfioIoas;
  // iommufd_lock_obj() + put: an existing, live compat IOAS wins.
  if (cur && cur.users !== 0) {
    ictx.objects.abort(ioas);
    return;
  }
  ictx.vfioIoas = ioas;
  ictx.objects.finalize(ioas);
}

// ---------------------------------------------------------------------------------------------
// The container ioctls.

/**
 * vfio_compat.c: iommufd_vfio_ioctl() — the VFIO container ioctls on an iommufd file; any other
 * request is ENOTTY (ENOIOCTLCMD). Returns the ioctl's value.
 */
export function iommufdVfioIoctl(
  ictx: IommufdCtx,
  current: Task,
  cmd: number,
  arg: number,
): number {
  switch (cmd >>> 0) {
    case VFIO_GET_API_VERSION:
      return VFIO_API_VERSION;
    case VFIO_SET_IOMMU:
      return iommufdVfioSetIommu(ictx, current, arg);
    case VFIO_CHECK_EXTENSION:
      return iommufdVfioCheckExtension(ictx, arg);
    case VFIO_IOMMU_GET_INFO:
      return iommufdVfioIommuGetInfo(ictx, current, arg);
    case VFIO_IOMMU_MAP_DMA:
      return iommufdVfioMapDma(ictx, current, arg);
    case VFIO_IOMMU_UNMAP_DMA:
      return iommufdVfioUnmapDma(ictx, current, arg);
    default:
      // VFIO_IOMMU_DIRTY_PAGES included: iommufd's dirty tracking replaced it.
      throw new SysError("ENOTTY", "iommufd_vfio_ioctl", `request 0x${(cmd >>> 0).toString(16)}`);
  }
}

/**
 * vfio_compat.c: iommufd_vfio_map_dma() — VFIO_IOMMU_MAP_DMA: EFAULT for an unreadable
 * struct, EINVAL for a short `argsz` or a flag other than READ/WRITE, ENODEV without a compat
 * IOAS, then IOMMU_IOAS_MAP's errors (always at the given IOVA).
 */
function iommufdVfioMapDma(ictx: IommufdCtx, current: Task, arg: number): number {
  const fn = "iommufd_vfio_map_dma";
  const supportedFlags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
  const minsz = vfio_iommu_type1_dma_map.offsetofend("size");
  const map = vfio_iommu_type1_dma_map.decodePartial(copyFromUser(current.mm, arg, minsz, fn));
  if (map.argsz < minsz || map.flags & ~supportedFlags) {
    throw new SysError("EINVAL", fn, map.argsz < minsz ? `argsz ${map.argsz}` : "flags");
  }
  let iommuProt = IOMMU_CACHE;
  if (map.flags & VFIO_DMA_MAP_FLAG_READ) iommuProt |= IOMMU_READ;
  if (map.flags & VFIO_DMA_MAP_FLAG_WRITE) iommuProt |= IOMMU_WRITE;
  // The file's accounting mode applies: MM (VFIO's) unless user space changed it.
  withCompatIoas(ictx, (ioas) =>
    ioas.iopt.mapUserPages(ictx, current, map.iova, map.vaddr, map.size, iommuProt, 0),
  );
  return 0;
}

/**
 * vfio_compat.c: iommufd_vfio_unmap_dma() — VFIO_IOMMU_UNMAP_DMA: EFAULT, EINVAL (short
 * `argsz`, a flag other than UNMAP_FLAG_ALL — the dirty bitmap is gone), ENODEV, EINVAL for
 * UNMAP_FLAG_ALL with a non-zero iova or size. Under TYPE1 the range is first cut out of larger
 * mappings (the cut stays if the unmap then fails); under TYPE1v2 a range splitting a mapping is
 * ENOENT. `size` is written back with what was unmapped, also when the unmap stopped half way.
 */
function iommufdVfioUnmapDma(ictx: IommufdCtx, current: Task, arg: number): number {
  const fn = "iommufd_vfio_unmap_dma";
  const layout = vfio_iommu_type1_dma_unmap;
  const minsz = layout.offsetofend("size");
  const unmap = layout.decodePartial(copyFromUser(current.mm, arg, minsz, fn));
  if (unmap.argsz < minsz || unmap.flags & ~VFIO_DMA_UNMAP_FLAG_ALL) {
    throw new SysError("EINVAL", fn, unmap.argsz < minsz ? `argsz ${unmap.argsz}` : "flags");
  }
  return withCompatIoas(ictx, (ioas) => {
    const out = { unmapped: 0n };
    let err: unknown = null;
    if (unmap.flags & VFIO_DMA_UNMAP_FLAG_ALL) {
      if (unmap.iova !== 0n || unmap.size !== 0n) {
        throw new SysError("EINVAL", fn, "UNMAP_FLAG_ALL with an iova or size");
      }
      try {
        ioas.iopt.unmapAll(out);
      } catch (e) {
        err = e;
      }
    } else {
      if (ioas.iopt.largePagesDisabled) {
        // Cut at both ends of the range (unsigned long arithmetic); IOVA 0 needs no cut before it.
        const iovas = [
          BigInt.asUintN(64, unmap.iova + unmap.size - 1n),
          BigInt.asUintN(64, unmap.iova - 1n),
        ];
        ioas.iopt.cutIova(unmap.iova !== 0n ? iovas : iovas.slice(0, 1));
      }
      try {
        ioas.iopt.unmapIova(unmap.iova, unmap.size, out);
      } catch (e) {
        err = e;
      }
    }
    if (err !== null && !SysError.isInstance(err)) throw err;
    unmap.size = out.unmapped;
    copyToUser(current.mm, arg, layout.encode(unmap).subarray(0, minsz), fn);
    if (err !== null) throw err;
    return 0;
  });
}

/**
 * vfio_compat.c: iommufd_vfio_cc_iommu() — whether every HWPT on the compat IOAS enforces
 * cache coherency (1 with none); ENODEV without a compat IOAS.
 */
function iommufdVfioCcIommu(ictx: IommufdCtx): number {
  return withCompatIoas(ictx, (ioas) => {
    // hw-pagetable.ts puts only HWPT_PAGING objects on the list.
    for (const hwpt of ioas.hwptList) {
      if (!(hwpt as IommufdHwptPaging).enforceCacheCoherency) return 0;
    }
    return 1;
  });
}

/** vfio_compat.c: iommufd_vfio_check_extension() */
function iommufdVfioCheckExtension(ictx: IommufdCtx, type: number): number {
  switch (type) {
    case VFIO_TYPE1_IOMMU:
    case VFIO_TYPE1v2_IOMMU:
    case VFIO_UNMAP_ALL:
      return ictx.noIommuMode ? 0 : 1;
    case VFIO_NOIOMMU_IOMMU:
      return ictx.kernel.config.CONFIG_VFIO_NOIOMMU ? 1 : 0;
    case VFIO_DMA_CC_IOMMU:
      return iommufdVfioCcIommu(ictx);
    default:
      // __VFIO_RESERVED_TYPE1_NESTING_IOMMU, VFIO_UPDATE_VADDR (not safely implementable), sPAPR.
      return 0;
  }
}

/**
 * vfio_compat.c: iommufd_vfio_set_iommu() — VFIO_SET_IOMMU. In no-IOMMU mode (with
 * CONFIG_VFIO_NOIOMMU) only VFIO_NOIOMMU_IOMMU, which needs CAP_SYS_RAWIO (EPERM); otherwise
 * TYPE1 or TYPE1v2 (EINVAL for anything else or in no-IOMMU mode) on an existing compat IOAS
 * (ENODEV: VFIO needs a group first). TYPE1 disables large pages: EINVAL if domains already
 * hold mappings, EADDRINUSE if a mapping is not PAGE_SIZE aligned.
 */
function iommufdVfioSetIommu(ictx: IommufdCtx, current: Task, type: number): number {
  const fn = "iommufd_vfio_set_iommu";
  const noIommuMode = ictx.noIommuMode;
  // Emulation is loose: the other ioctls keep working but find no IOAS.
  if (ictx.kernel.config.CONFIG_VFIO_NOIOMMU && type === VFIO_NOIOMMU_IOMMU && noIommuMode) {
    if (!current.capable("CAP_SYS_RAWIO")) throw new SysError("EPERM", fn, "needs CAP_SYS_RAWIO");
    return 0;
  }
  if ((type !== VFIO_TYPE1_IOMMU && type !== VFIO_TYPE1v2_IOMMU) || noIommuMode) {
    throw new SysError(
      "EINVAL",
      fn,
      noIommuMode ? "container is in no-IOMMU mode" : `type ${type}`,
    );
  }
  withCompatIoas(ictx, (ioas) => {
    // Type1 may unmap inside a mapping: no IOPTE may be larger than a page.
    if (type === VFIO_TYPE1_IOMMU) ioas.iopt.disableLargePages();
  });
  return 0;
}

/**
 * vfio_compat.c: iommufd_get_pagesizes() — the page sizes every attached domain supports, at
 * least PAGE_SIZE (vfio_update_pgsize_bitmap()), never below the IOAS's alignment.
 */
function iommufdGetPagesizes(ioas: IommufdIoas): bigint {
  let bitmap = ULONG_MAX;
  for (const domain of ioas.iopt.domains) bitmap &= BigInt(domain.pgsizeBitmap);
  if (bitmap & ~PAGE_MASK & ULONG_MAX) {
    bitmap &= PAGE_MASK;
    bitmap |= PAGE_SIZE_B;
  }
  // max() with the alignment (bigints: no Math.max).
  if (bitmap < ioas.iopt.iovaAlignment) bitmap = ioas.iopt.iovaAlignment;
  return bitmap;
}

/** `ALIGN(x, sizeof(u64))`. */
function alignU64(x: number): number {
  return (x + 7) & ~7;
}

/**
 * vfio_compat.c: iommufd_fill_cap_iova() — VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE at `cur` with
 * the holes of the reserved ranges: each range, then the header, is written only if the whole
 * capability up to it fits in `avail`. Returns the full size.
 */
function iommufdFillCapIova(ioas: IommufdIoas, current: Task, cur: number, avail: number): number {
  const fn = "iommufd_fill_cap_iova";
  const cap = vfio_iommu_type1_info_cap_iova_range;
  let nrIovas = 0;
  for (const span of spans(ioas.iopt.reservedItree, 0n, ULONG_MAX)) {
    if (!span.isHole) continue;
    if (avail >= cap.sizeWithFlex(nrIovas + 1)) {
      copyToUser(
        current.mm,
        cur + cap.sizeWithFlex(nrIovas),
        vfio_iova_range.encode({ start: span.start, end: span.last }),
        fn,
      );
    }
    nrIovas++;
  }
  if (avail >= cap.sizeWithFlex(nrIovas)) {
    const header = { id: VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, version: 1, next: 0 };
    copyToUser(
      current.mm,
      cur,
      cap.encode({ header, nr_iovas: nrIovas }).subarray(0, cap.size),
      fn,
    );
  }
  return cap.sizeWithFlex(nrIovas);
}

/**
 * vfio_compat.c: iommufd_fill_cap_dma_avail() — VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, if it fits.
 * iommufd has no mapping count limit (memory cgroups bound it): U32_MAX, which S390 QEMU needs.
 */
function iommufdFillCapDmaAvail(
  _ioas: IommufdIoas,
  current: Task,
  cur: number,
  avail: number,
): number {
  const cap = vfio_iommu_type1_info_dma_avail;
  if (avail >= cap.size) {
    const header = { id: VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, version: 1, next: 0 };
    copyToUser(
      current.mm,
      cur,
      cap.encode({ header, avail: U32_MAX }),
      "iommufd_fill_cap_dma_avail",
    );
  }
  return cap.size;
}

/** The capability fillers of iommufd_vfio_iommu_get_info(), in the order of the chain. */
const FILL_CAP_FNS = [iommufdFillCapDmaAvail, iommufdFillCapIova] as const;

/**
 * vfio_compat.c: iommufd_vfio_iommu_get_info() — VFIO_IOMMU_GET_INFO: EFAULT, EINVAL (`argsz`
 * short of `iova_pgsizes`), ENODEV. Answers the page sizes and the capability chain; with too
 * small an `argsz` only the capabilities that fit are written (and linked), `cap_offset` stays 0
 * unless all fit, and `argsz` comes back as the size needed. Nothing is written past `argsz`.
 */
function iommufdVfioIommuGetInfo(ictx: IommufdCtx, current: Task, arg: number): number {
  const fn = "iommufd_vfio_iommu_get_info";
  const layout = vfio_iommu_type1_info;
  const minsz0 = layout.offsetofend("iova_pgsizes");
  // `info = {}`: only the first minsz bytes come from user space.
  const info = layout.decodePartial(copyFromUser(current.mm, arg, minsz0, fn));
  if (info.argsz < minsz0) throw new SysError("EINVAL", fn, `argsz ${info.argsz}`);
  const minsz = Math.min(info.argsz, layout.size);
  return withCompatIoas(ictx, (ioas) => {
    info.flags = VFIO_IOMMU_INFO_PGSIZES;
    info.iova_pgsizes = iommufdGetPagesizes(ioas);
    info.cap_offset = 0;
    let totalCapSize = layout.size;
    let lastCap: number | null = null;
    for (const fill of FILL_CAP_FNS) {
      const capSize = alignU64(
        info.argsz > totalCapSize
          ? fill(ioas, current, arg + totalCapSize, info.argsz - totalCapSize)
          : fill(ioas, current, 0, 0),
      );
      if (lastCap !== null && info.argsz >= totalCapSize) {
        putUser(current.mm, u32, lastCap + vfio_info_cap_header.offsetof("next"), totalCapSize, fn);
      }
      lastCap = arg + totalCapSize;
      totalCapSize += capSize;
    }
    // Too small a buffer gets only some capabilities, and the size that holds them all.
    if (info.argsz >= totalCapSize) info.cap_offset = layout.size;
    info.argsz = totalCapSize;
    info.flags |= VFIO_IOMMU_INFO_CAPS;
    copyToUser(current.mm, arg, layout.encode(info).subarray(0, minsz), fn);
    return 0;
  });
}
