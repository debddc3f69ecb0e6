/**
 * drivers/iommu/iommufd/hw_pagetable.c: HWPT objects — an iommu_domain owned by iommufd —
 * and the ioctls on them: IOMMU_HWPT_ALLOC, IOMMU_HWPT_SET_DIRTY_TRACKING,
 * IOMMU_HWPT_GET_DIRTY_BITMAP and IOMMU_HWPT_INVALIDATE.
 *
 * A HWPT_PAGING is a paging domain linked to one IOAS: iopt_table_add_domain() maps every area
 * of the IOAS into it (pinning what is not pinned yet) and keeps it in step; it holds the IOAS.
 * It is either automatic (made by a device attach to an IOAS, reused by later attaches to the
 * same IOAS, destroyed when its last device leaves) or manual (IOMMU_HWPT_ALLOC, destroyed by
 * IOMMU_DESTROY once no device uses it). A HWPT_NESTED is a stage-1 domain over a nest-parent
 * HWPT_PAGING or a vIOMMU.
 *
 * What the board's IOMMU answers (arm-smmu-v3 over the stage-1-only SMMU model):
 * - IOMMU_HWPT_ALLOC on an IOAS: flags 0, IOMMU_HWPT_ALLOC_PASID and IOMMU_HWPT_FAULT_ID_VALID
 *   (a fault object) succeed; NEST_PARENT is EOPNOTSUPP (no ARM_SMMU_FEAT_NESTING), and
 *   DIRTY_TRACKING is EOPNOTSUPP (no HTTU, so no IOMMU_CAP_DIRTY_TRACKING); driver data is
 *   EOPNOTSUPP. So no HWPT has dirty ops (SET_DIRTY_TRACKING and GET_DIRTY_BITMAP answer
 *   EOPNOTSUPP after their own checks) and no nest parent, vIOMMU or HWPT_NESTED can exist.
 * - For a no-IOMMU device (CONFIG_IOMMUFD_NOIOMMU) the ops are `iommufd_noiommu_ops`
 *   (hwpt-noiommu.ts): only flags 0 and no data.
 *
 * Caveat:
 * - `ioas->mutex` is not modelled: syscalls run one at a time.
 * - The model's `IommuDomain` has no `iopf_handler`, `dirty_ops` or `cache_invalidate_user`
 *   fields; they are read through the optional members of `HwptDomainOps`/`DirtyCapableDomain`
 *   below, which no driver of the model fills in (what 7.3 does when a driver lacks them).
 */

import {
  IOMMU_CAP_DIRTY_TRACKING,
  IOMMU_DOMAIN_NESTED,
  IOMMU_NO_PASID,
  type IommuDomain,
  type IommuDomainOps,
  type IommuOps,
  type IommuUserData,
  SysError,
} from "@vfio-lab/kernel";
import {
  type IommufdDevice,
  iommufdGetDevice,
  iommufdHwPagetableAttach,
  iommufdHwPagetableDetach,
} from "./device.js";
import type { IommufdFault } from "./eventq.js";
import { makeIommufdNoiommuOps } from "./hwpt-noiommu.js";
import type { IommufdIoas } from "./ioas.js";
import type { Iommufd, IommufdCtx } from "./main.js";
import { type IommufdObject, IommufdObject as IommufdObjectBase } from "./object.js";
import {
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_DIRTY_TRACKING_ENABLE,
  IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR,
  type IommuHwptAlloc,
  type IommuHwptGetDirtyBitmap,
  type IommuHwptInvalidate,
  type IommuHwptSetDirtyTracking,
} from "./uapi.js";
import { type Ucmd, ucmdRespond } from "./ucmd.js";
import type { IommufdViommu } from "./viommu.js";

/** arm64's PAGE_SIZE, the bound of one invalidation entry. */
const PAGE_SIZE = 4096;
/** hw_pagetable.c: IOMMU_HWPT_INVALIDATE_ENTRY_NUM_MAX. */
export const IOMMU_HWPT_INVALIDATE_ENTRY_NUM_MAX = 1 << 19;
const ULONG_MAX = (1n << 64n) - 1n;

/** `struct iommu_user_data_array`: what cache_invalidate_user() consumes; it updates `entryNum`. */
export interface IommuUserDataArray {
  readonly type: number;
  readonly uptr: number;
  readonly entryLen: number;
  entryNum: number;
}

/**
 * The members of `struct iommu_domain_ops` that only nested domains have; no driver of the
 * model provides them.
 */
export interface HwptDomainOps extends IommuDomainOps {
  cacheInvalidateUser?(domain: IommuDomain, array: IommuUserDataArray): void;
}

/** `struct iommu_dirty_ops`, which a domain with dirty tracking carries (`domain->dirty_ops`). */
export interface IommuDirtyOps {
  setDirtyTracking(domain: IommuDomain, enable: boolean): void;
  readAndClearDirty?(domain: IommuDomain, iova: bigint, size: bigint, flags: number): void;
}

/** A domain as iopt_set_dirty_tracking() reads it: `dirty_ops` may be absent. */
export type DirtyCapableDomain = IommuDomain & { readonly dirtyOps?: IommuDirtyOps };

/** `struct iommufd_hw_pagetable`: what both HWPT kinds share. */
export abstract class IommufdHwPagetable extends IommufdObjectBase {
  abstract override readonly type: "HWPT_PAGING" | "HWPT_NESTED";
  domain: IommuDomain | null = null;
  fault: IommufdFault | null = null;
  pasidCompat = false;

  constructor(readonly ictx: IommufdCtx) {
    super();
  }

  /** __iommufd_hwpt_destroy() */
  protected destroyCommon(): void {
    if (this.domain) this.ictx.kernel.iommu.iommuDomainFree(this.domain);
    this.domain = null;
    if (this.fault) this.fault.users--;
    this.fault = null;
  }
}

/** `struct iommufd_hwpt_paging` */
export class IommufdHwptPaging extends IommufdHwPagetable {
  readonly type = "HWPT_PAGING";
  autoDomain = false;
  enforceCacheCoherency = false;
  nestParent = false;
  /** `!list_empty(&hwpt_item)`: on the IOAS's `hwpt_list`, its domain in the io_pagetable. */
  inHwptList = false;

  constructor(
    ictx: IommufdCtx,
    readonly ioas: IommufdIoas,
  ) {
    super(ictx);
  }

  /** hw_pagetable.c: iommufd_hwpt_paging_destroy() */
  destroy(): void {
    if (this.inHwptList) this.unlinkFromIoas();
    this.destroyCommon();
    this.ioas.users--;
  }

  /** hw_pagetable.c: iommufd_hwpt_paging_abort() */
  override abort(): void {
    if (this.inHwptList) this.unlinkFromIoas();
    this.destroy();
  }

  private unlinkFromIoas(): void {
    const list = this.ioas.hwptList;
    const at = list.indexOf(this);
    if (at >= 0) list.splice(at, 1);
    this.inHwptList = false;
    this.ioas.iopt.tableRemoveDomain(this.domain!);
  }
}

/** `struct iommufd_hwpt_nested` */
export class IommufdHwptNested extends IommufdHwPagetable {
  readonly type = "HWPT_NESTED";
  viommu: IommufdViommu | null = null;

  constructor(
    ictx: IommufdCtx,
    readonly parent: IommufdHwptPaging,
  ) {
    super(ictx);
  }

  /** hw_pagetable.c: iommufd_hwpt_nested_destroy() (also its abort) */
  destroy(): void {
    this.destroyCommon();
    if (this.viommu) this.viommu.users--;
    else this.parent.users--;
  }
}

/** iommufd_private.h: find_hwpt_paging() — the paging HWPT behind a HWPT (the parent of a nested one). */
export function findHwptPaging(hwpt: IommufdHwPagetable): IommufdHwptPaging | null {
  if (hwpt instanceof IommufdHwptPaging) return hwpt;
  if (hwpt instanceof IommufdHwptNested) return hwpt.parent;
  return null;
}

/**
 * iommufd_private.h: iommufd_hw_pagetable_put() — an automatic HWPT is destroyed with its last
 * user; any other just loses the reference.
 */
export function iommufdHwPagetablePut(ictx: IommufdCtx, hwpt: IommufdHwPagetable): void {
  if (hwpt instanceof IommufdHwptPaging && hwpt.autoDomain) {
    // iommufd_object_put_and_try_destroy(): EBUSY (other users) is the expected outcome too.
    try {
      ictx.removeObject(hwpt, hwpt.id, 0);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
    }
    return;
  }
  hwpt.users--;
}

const noiommuOps = new WeakMap<Iommufd, IommuOps>();

/** The module's `iommufd_noiommu_ops` (one per loaded iommufd: it carries the fault hook). */
export function iommufdNoiommuOps(iommufd: Iommufd): IommuOps {
  let ops = noiommuOps.get(iommufd);
  if (!ops) {
    ops = makeIommufdNoiommuOps((site) => iommufd.shouldFail(site));
    noiommuOps.set(iommufd, ops);
  }
  return ops;
}

/**
 * hw_pagetable.c: get_iommu_ops() — the noiommu ops for a device bound without an IOMMU group,
 * else its IOMMU driver's (null when it has none: a WARN in C).
 */
export function getIommuOps(idev: IommufdDevice): IommuOps | null {
  const kernel = idev.ictx.kernel;
  if (kernel.config.CONFIG_IOMMUFD_NOIOMMU && !idev.igroup!.group) {
    return iommufdNoiommuOps(idev.ictx.iommufd);
  }
  if (!kernel.iommu.devIommuGetExisting(idev.dev)) return null;
  return kernel.iommu.devIommuOps(idev.dev);
}

/** hw_pagetable.c: iommufd_hwpt_paging_enforce_cc() */
function iommufdHwptPagingEnforceCc(hwptPaging: IommufdHwptPaging): void {
  if (hwptPaging.enforceCacheCoherency) return;
  const domain = hwptPaging.domain!;
  if (domain.ops.enforceCacheCoherency) {
    hwptPaging.enforceCacheCoherency = domain.ops.enforceCacheCoherency(domain);
  }
  if (!hwptPaging.enforceCacheCoherency) {
    throw new SysError("EINVAL", "iommufd_hwpt_paging_enforce_cc", "cannot enforce coherency");
  }
}

const HWPT_PAGING_VALID_FLAGS =
  IOMMU_HWPT_ALLOC_NEST_PARENT |
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING |
  IOMMU_HWPT_FAULT_ID_VALID |
  IOMMU_HWPT_ALLOC_PASID;

/**
 * hw_pagetable.c: iommufd_hwpt_paging_alloc() — a HWPT_PAGING for `idev` linked to `ioas`,
 * its domain filled with every area of the IOAS. The object is allocated but not finalized:
 * the caller finalizes it or aborts it. With `immediateAttach` the device is attached before the
 * domain is added to the IOAS (and detached again if that fails).
 */
export function iommufdHwptPagingAlloc(
  ictx: IommufdCtx,
  ioas: IommufdIoas,
  idev: IommufdDevice,
  pasid: number,
  flags: number,
  immediateAttach: boolean,
  userData: IommuUserData | null,
): IommufdHwptPaging {
  const fn = "iommufd_hwpt_paging_alloc";
  const ops = getIommuOps(idev);
  if (!ops) throw new SysError("ENODEV", fn, `${idev.dev.name} has no IOMMU ops`);
  if ((flags || userData) && !ops.domainAllocPagingFlags) {
    throw new SysError("EOPNOTSUPP", fn, "driver takes no flags or data");
  }
  if (flags & ~HWPT_PAGING_VALID_FLAGS) {
    throw new SysError("EOPNOTSUPP", fn, `flags 0x${(flags >>> 0).toString(16)}`);
  }
  if (
    flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING &&
    !ictx.kernel.iommu.deviceIommuCapable(idev.dev, IOMMU_CAP_DIRTY_TRACKING)
  ) {
    throw new SysError("EOPNOTSUPP", fn, "no dirty tracking for this device");
  }
  if (flags & IOMMU_HWPT_FAULT_ID_VALID && flags & IOMMU_HWPT_ALLOC_NEST_PARENT) {
    throw new SysError("EOPNOTSUPP", fn, "a nest parent takes no fault queue");
  }

  const hwptPaging = ictx.objects.alloc(new IommufdHwptPaging(ictx, ioas));
  hwptPaging.pasidCompat = (flags & IOMMU_HWPT_ALLOC_PASID) !== 0;
  // Paired with the decrement in iommufd_hwpt_paging_destroy().
  ioas.users++;
  hwptPaging.nestParent = (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0;

  const abort = (e: unknown): never => {
    ictx.objects.abortAndDestroy(hwptPaging);
    throw e;
  };
  let domain: IommuDomain;
  try {
    if (ops.domainAllocPagingFlags) {
      domain = ops.domainAllocPagingFlags(idev.dev, flags & ~IOMMU_HWPT_FAULT_ID_VALID, userData);
      domain.owner = ops;
    } else {
      domain = ictx.kernel.iommu.iommuPagingDomainAlloc(idev.dev);
    }
  } catch (e) {
    return abort(e);
  }
  hwptPaging.domain = domain;
  domain.iommufdHwpt = hwptPaging;
  domain.cookieType = "iommufd";

  // The coherency mode must be fixed before the first map (a per-PTE bit on some IOMMUs).
  if (idev.enforceCacheCoherency) {
    try {
      iommufdHwptPagingEnforceCc(hwptPaging);
    } catch (e) {
      return abort(e);
    }
  }

  if (immediateAttach) {
    try {
      iommufdHwPagetableAttach(hwptPaging, idev, pasid);
    } catch (e) {
      return abort(e);
    }
  }

  try {
    ioas.iopt.tableAddDomain(domain);
  } catch (e) {
    if (immediateAttach) iommufdHwPagetableDetach(idev, pasid);
    return abort(e);
  }
  ioas.hwptList.push(hwptPaging);
  hwptPaging.inHwptList = true;
  return hwptPaging;
}

/**
 * hw_pagetable.c: iommufd_hwpt_nested_alloc() — a nested domain over a nest-parent HWPT. No
 * driver of the model has domain_alloc_nested(), so this ends in EOPNOTSUPP on the board.
 */
function iommufdHwptNestedAlloc(
  ictx: IommufdCtx,
  parent: IommufdHwptPaging,
  idev: IommufdDevice,
  flags: number,
  userData: IommuUserData,
): IommufdHwptNested {
  const fn = "iommufd_hwpt_nested_alloc";
  const ops = getIommuOps(idev);
  if (
    flags & ~(IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID) ||
    !userData.len ||
    !ops?.domainAllocNested
  ) {
    throw new SysError("EOPNOTSUPP", fn, "no nested domain for this device");
  }
  if (parent.autoDomain || !parent.nestParent || parent.domain!.owner !== ops) {
    throw new SysError("EINVAL", fn, "not a nest parent of this IOMMU");
  }
  const hwptNested = ictx.objects.alloc(new IommufdHwptNested(ictx, parent));
  hwptNested.pasidCompat = (flags & IOMMU_HWPT_ALLOC_PASID) !== 0;
  parent.users++;
  try {
    const domain = ops.domainAllocNested(
      idev.dev,
      parent.domain!,
      flags & ~IOMMU_HWPT_FAULT_ID_VALID,
      userData,
    );
    hwptNested.domain = domain;
    domain.owner = ops;
    domain.iommufdHwpt = hwptNested;
    domain.cookieType = "iommufd";
    if (domain.type !== IOMMU_DOMAIN_NESTED) {
      throw new SysError("EOPNOTSUPP", fn, "driver made a domain that is not nested");
    }
  } catch (e) {
    ictx.objects.abortAndDestroy(hwptNested);
    throw e;
  }
  return hwptNested;
}

/**
 * hw_pagetable.c: iommufd_viommu_alloc_hwpt_nested() — a nested domain made by a vIOMMU's
 * driver ops. Unreachable on the board: no vIOMMU can be allocated.
 */
function iommufdViommuAllocHwptNested(
  viommu: IommufdViommu,
  flags: number,
  userData: IommuUserData,
): IommufdHwptNested {
  const fn = "iommufd_viommu_alloc_hwpt_nested";
  if (flags & ~(IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID)) {
    throw new SysError("EOPNOTSUPP", fn, `flags 0x${(flags >>> 0).toString(16)}`);
  }
  if (!userData.len) throw new SysError("EOPNOTSUPP", fn, "no driver data");
  const allocDomainNested = viommu.ops?.allocDomainNested;
  if (!allocDomainNested) throw new SysError("EOPNOTSUPP", fn, "vIOMMU makes no nested domains");
  const ictx = viommu.ictx;
  const hwptNested = ictx.objects.alloc(new IommufdHwptNested(ictx, viommu.hwpt));
  hwptNested.pasidCompat = (flags & IOMMU_HWPT_ALLOC_PASID) !== 0;
  hwptNested.viommu = viommu;
  viommu.users++;
  try {
    const domain = allocDomainNested(viommu, flags & ~IOMMU_HWPT_FAULT_ID_VALID, userData);
    hwptNested.domain = domain;
    domain.iommufdHwpt = hwptNested;
    domain.owner = viommu.iommuDev.ops ?? undefined;
    domain.cookieType = "iommufd";
    if (domain.type !== IOMMU_DOMAIN_NESTED) {
      throw new SysError("EOPNOTSUPP", fn, "driver made a domain that is not nested");
    }
  } catch (e) {
    ictx.objects.abortAndDestroy(hwptNested);
    throw e;
  }
  return hwptNested;
}

/** iommufd_private.h: iommufd_device_get_iommu_dev() — null for a no-IOMMU device. */
export function iommufdDeviceGetIommuDev(idev: IommufdDevice) {
  const kernel = idev.ictx.kernel;
  if (kernel.config.CONFIG_IOMMUFD_NOIOMMU && !idev.igroup!.group) return null;
  return kernel.iommu.devIommuGetExisting(idev.dev)?.iommuDev ?? null;
}

/** hw_pagetable.c: iommufd_hwpt_alloc() — IOMMU_HWPT_ALLOC. */
export function iommufdHwptAlloc(ucmd: Ucmd): void {
  const fn = "iommufd_hwpt_alloc";
  const ictx = ucmd.ictx;
  const cmd = ucmd.cmd as IommuHwptAlloc;
  const userData: IommuUserData = {
    type: cmd.data_type,
    uptr: Number(cmd.data_uptr),
    len: cmd.data_len,
  };
  if (cmd.__reserved) throw new SysError("EOPNOTSUPP", fn, "__reserved");
  if (
    (cmd.data_type === IOMMU_HWPT_DATA_NONE && cmd.data_len) ||
    (cmd.data_type !== IOMMU_HWPT_DATA_NONE && !cmd.data_len)
  ) {
    throw new SysError("EINVAL", fn, "data_type and data_len disagree");
  }

  const idev = iommufdGetDevice(ictx, cmd.dev_id, fn);
  try {
    let ptObj: IommufdObject;
    try {
      ptObj = ictx.objects.get(cmd.pt_id, "ANY", fn);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      // Not ENOENT: an unusable pt_id is an invalid argument here.
      throw new SysError("EINVAL", fn, `pt_id ${cmd.pt_id}`);
    }
    try {
      let hwpt: IommufdHwPagetable;
      if (ptObj.type === "IOAS") {
        hwpt = iommufdHwptPagingAlloc(
          ictx,
          ptObj as IommufdIoas,
          idev,
          IOMMU_NO_PASID,
          cmd.flags,
          false,
          userData.len ? userData : null,
        );
      } else if (ptObj instanceof IommufdHwptPaging) {
        hwpt = iommufdHwptNestedAlloc(ictx, ptObj, idev, cmd.flags, userData);
      } else if (ptObj.type === "VIOMMU") {
        const viommu = ptObj as IommufdViommu;
        const iommuDev = iommufdDeviceGetIommuDev(idev);
        if (!iommuDev || viommu.iommuDev !== iommuDev) {
          throw new SysError("EINVAL", fn, "vIOMMU of another IOMMU");
        }
        hwpt = iommufdViommuAllocHwptNested(viommu, cmd.flags, userData);
      } else {
        throw new SysError("EINVAL", fn, `object ${cmd.pt_id} is a ${ptObj.type}`);
      }

      try {
        if (cmd.flags & IOMMU_HWPT_FAULT_ID_VALID) {
          const fault = ictx.objects.get<IommufdFault>(cmd.fault_id, "FAULT", "iommufd_get_fault");
          hwpt.fault = fault;
          // domain->iopf_handler = iommufd_fault_iopf_handler: the model's domain has no such
          // member; the fault pointer on the HWPT is what the model consults.
          fault.users++;
          ictx.objects.put(fault);
        }
        cmd.out_hwpt_id = hwpt.id;
        ucmdRespond(ucmd);
      } catch (e) {
        ictx.objects.abortAndDestroy(hwpt);
        throw e;
      }
      ictx.objects.finalize(hwpt);
    } finally {
      ictx.objects.put(ptObj);
    }
  } finally {
    ictx.objects.put(idev);
  }
}

/**
 * io_pagetable.c: iopt_set_dirty_tracking() — EOPNOTSUPP for a domain without dirty ops, which
 * is every domain of the model (with them, enabling would first clear every area's dirty bits).
 */
function ioptSetDirtyTracking(domain: IommuDomain, enable: boolean): void {
  const ops = (domain as DirtyCapableDomain).dirtyOps;
  if (!ops) throw new SysError("EOPNOTSUPP", "iopt_set_dirty_tracking", "no dirty tracking");
  ops.setDirtyTracking(domain, enable);
}

/** hw_pagetable.c: iommufd_hwpt_set_dirty_tracking() — IOMMU_HWPT_SET_DIRTY_TRACKING. */
export function iommufdHwptSetDirtyTracking(ucmd: Ucmd): void {
  const fn = "iommufd_hwpt_set_dirty_tracking";
  const cmd = ucmd.cmd as IommuHwptSetDirtyTracking;
  if (cmd.flags & ~IOMMU_HWPT_DIRTY_TRACKING_ENABLE) {
    throw new SysError("EOPNOTSUPP", fn, `flags 0x${(cmd.flags >>> 0).toString(16)}`);
  }
  const hwptPaging = ucmd.ictx.objects.get<IommufdHwptPaging>(cmd.hwpt_id, "HWPT_PAGING", fn);
  try {
    ioptSetDirtyTracking(hwptPaging.domain!, (cmd.flags & IOMMU_HWPT_DIRTY_TRACKING_ENABLE) !== 0);
  } finally {
    ucmd.ictx.objects.put(hwptPaging);
  }
}

/**
 * io_pagetable.c: iommufd_check_iova_range() — the bitmap's range must not wrap, must fit in an
 * unsigned long, and must be aligned to the IOAS's alignment and to `page_size`.
 */
export function iommufdCheckIovaRange(
  iovaAlignment: bigint,
  bitmap: { readonly iova: bigint; readonly length: bigint; readonly page_size: bigint },
): void {
  const fn = "iommufd_check_iova_range";
  const lastIova = bitmap.iova + ((bitmap.length - 1n) & ULONG_MAX);
  if (lastIova > ULONG_MAX) throw new SysError("EOVERFLOW", fn, "range wraps");
  const end = (lastIova + 1n) & ULONG_MAX;
  if (bitmap.iova & (iovaAlignment - 1n) || end & (iovaAlignment - 1n)) {
    throw new SysError("EINVAL", fn, "not aligned to the IOAS");
  }
  if (!bitmap.page_size) throw new SysError("EINVAL", fn, "page_size 0");
  const pgMask = (bitmap.page_size - 1n) & ULONG_MAX;
  if (bitmap.iova & pgMask || end & pgMask) {
    throw new SysError("EINVAL", fn, "not aligned to page_size");
  }
}

/** hw_pagetable.c: iommufd_hwpt_get_dirty_bitmap() — IOMMU_HWPT_GET_DIRTY_BITMAP. */
export function iommufdHwptGetDirtyBitmap(ucmd: Ucmd): void {
  const fn = "iommufd_hwpt_get_dirty_bitmap";
  const cmd = ucmd.cmd as IommuHwptGetDirtyBitmap;
  if (cmd.flags & ~IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR || cmd.__reserved) {
    throw new SysError("EOPNOTSUPP", fn, "flags or __reserved");
  }
  const hwptPaging = ucmd.ictx.objects.get<IommufdHwptPaging>(cmd.hwpt_id, "HWPT_PAGING", fn);
  try {
    // io_pagetable.c: iopt_read_and_clear_dirty_data()
    iommufdCheckIovaRange(BigInt(hwptPaging.ioas.iopt.iovaAlignment), cmd);
    const domain = hwptPaging.domain as DirtyCapableDomain;
    if (!domain.dirtyOps?.readAndClearDirty) {
      throw new SysError("EOPNOTSUPP", "iommu_read_and_clear_dirty", "no dirty tracking");
    }
    domain.dirtyOps.readAndClearDirty(domain, cmd.iova, cmd.length, cmd.flags);
  } finally {
    ucmd.ictx.objects.put(hwptPaging);
  }
}

/**
 * hw_pagetable.c: iommufd_hwpt_invalidate() — IOMMU_HWPT_INVALIDATE, for nested HWPTs and
 * vIOMMUs only. `entry_num` is written back with how many entries were handled, whatever the
 * outcome.
 */
export function iommufdHwptInvalidate(ucmd: Ucmd): void {
  const fn = "iommufd_hwpt_invalidate";
  const cmd = ucmd.cmd as IommuHwptInvalidate;
  const dataArray: IommuUserDataArray = {
    type: cmd.data_type,
    uptr: Number(cmd.data_uptr),
    entryLen: cmd.entry_len,
    entryNum: cmd.entry_num,
  };
  let doneNum = 0;
  let error: unknown = null;
  try {
    if (cmd.__reserved) throw new SysError("EOPNOTSUPP", fn, "__reserved");
    // Bounded so that one call cannot keep the CPU (and the trailing-zero scan) busy.
    if (
      cmd.entry_num &&
      (!cmd.data_uptr ||
        !cmd.entry_len ||
        cmd.entry_len > PAGE_SIZE ||
        cmd.entry_num > IOMMU_HWPT_INVALIDATE_ENTRY_NUM_MAX)
    ) {
      throw new SysError("EINVAL", fn, "bad entry array");
    }
    const ptObj = ucmd.ictx.objects.get(cmd.hwpt_id, "ANY", fn);
    try {
      if (ptObj instanceof IommufdHwptNested) {
        const domain = ptObj.domain!;
        const ops = domain.ops as HwptDomainOps;
        if (!ops.cacheInvalidateUser) {
          throw new SysError("EOPNOTSUPP", fn, "domain has no cache_invalidate_user");
        }
        ops.cacheInvalidateUser(domain, dataArray);
      } else if (ptObj.type === "VIOMMU") {
        const viommu = ptObj as IommufdViommu;
        if (!viommu.ops?.cacheInvalidate) {
          throw new SysError("EOPNOTSUPP", fn, "vIOMMU has no cache_invalidate");
        }
        viommu.ops.cacheInvalidate(viommu, dataArray);
      } else {
        throw new SysError("EINVAL", fn, `object ${cmd.hwpt_id} is a ${ptObj.type}`);
      }
      doneNum = dataArray.entryNum;
    } finally {
      ucmd.ictx.objects.put(ptObj);
    }
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
    error = e;
  }
  cmd.entry_num = doneNum;
  try {
    ucmdRespond(ucmd);
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
    throw new SysError("EFAULT", fn, "entry_num write-back");
  }
  if (error) throw error;
}
