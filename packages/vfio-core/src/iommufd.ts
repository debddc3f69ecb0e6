/**
 * VFIO's side of IOMMUFD (drivers/vfio/iommufd.c): binding a device file's device to an iommufd
 * context when it is opened (cdev BIND_IOMMUFD, or the group path with an iommufd as container),
 * attaching it to the compat IOAS on the legacy path, the dev_id lookups PCI hot reset asks for,
 * and the two sets of iommufd operations bus drivers plug into `VfioDeviceOps`:
 *
 *   physical  the device itself is bound (iommufd_device_bind()) and attached to an IOAS or a
 *             HWPT, per PASID too; for devices registered with vfioRegisterGroupDev().
 *   emulated  an iommufd access object stands for the device, whose "DMA" is the driver pinning
 *             pages (vfio_pin_pages()) or copying (vfio_dma_rw()); for
 *             vfioRegisterEmulatedIommuDev(). Unmaps reach the driver's `dmaUnmap`.
 *
 * A no-IOMMU device opened through its group with an iommufd (VFIO compat no-iommu) is neither
 * bound nor attached: the group path lets user space drive it without any IOAS. Through its
 * cdev (7.3's CONFIG_IOMMUFD_NOIOMMU) it binds like any other device; iommufd gives it a
 * software-only page table.
 *
 * Caveat:
 * - `dev_set->lock` (what the lockdep assertions check) is not modelled: syscalls run one at
 *   a time.
 * - ida_alloc_range() of a PASID cannot fail for want of memory here; only the range rule
 *   (a PASID above INT_MAX is ENOSPC) is kept.
 */

import {
  type IommufdAccessOps,
  type IommufdCtx,
  iommufdAccessAttach,
  iommufdAccessCreate,
  iommufdAccessDestroy,
  iommufdAccessDetach,
  iommufdAccessReplace,
  iommufdCtxHasGroup,
  iommufdDeviceAttach,
  iommufdDeviceBind,
  iommufdDeviceDetach,
  iommufdDeviceReplace,
  iommufdDeviceToIctx,
  iommufdDeviceToId,
  iommufdDeviceUnbind,
  iommufdVfioCompatIoasGetId,
} from "@vfio-lab/iommufd";
import { errno, IOMMU_NO_PASID, SysError } from "@vfio-lab/kernel";
import type { VfioCoreDevice, VfioDeviceFile } from "./vfio.js";
import { vfioDeviceIsNoiommu } from "./vfio-main.js";

const IOMMUFD_C = "drivers/vfio/iommufd.c";
const INT_MAX = 0x7fff_ffff;

/** WARN_ON(cond) at `line` of iommufd.c; returns `cond`. */
function warnOn(vdev: VfioCoreDevice, cond: boolean, line: number, fn: string): boolean {
  if (cond) vdev.kernel.irq.bug.warnOn({ file: IOMMUFD_C, line, fn });
  return cond;
}

/** iommufd.c: vfio_iommufd_device_has_compat_ioas() */
export function vfioIommufdDeviceHasCompatIoas(_vdev: VfioCoreDevice, ictx: IommufdCtx): boolean {
  try {
    iommufdVfioCompatIoasGetId(ictx);
    return true;
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
    return false;
  }
}

/**
 * iommufd.c: vfio_df_iommufd_bind() — the driver's `bind_iommufd` with the file's context; the
 * id it returns is the file's `devid`. A no-IOMMU device opened through its group binds nothing.
 */
export function vfioDfIommufdBind(df: VfioDeviceFile): void {
  const vdev = df.device;
  if (df.group && vfioDeviceIsNoiommu(vdev)) return;
  df.devid = vdev.coreOps.bindIommufd!(vdev, df.iommufd!);
}

/**
 * iommufd.c: vfio_iommufd_compat_attach_ioas() — the legacy group path attaches to the
 * context's compat IOAS (ENODEV without one); a no-IOMMU device has nothing to attach.
 */
export function vfioIommufdCompatAttachIoas(vdev: VfioCoreDevice, ictx: IommufdCtx): void {
  if (vfioDeviceIsNoiommu(vdev)) return;
  const ioasId = iommufdVfioCompatIoasGetId(ictx);
  // The group path cannot tell user space which HWPT it got: the id is dropped.
  vdev.coreOps.attachIoas!(vdev, ioasId);
}

/** iommufd.c: vfio_df_iommufd_unbind() */
export function vfioDfIommufdUnbind(df: VfioDeviceFile): void {
  const vdev = df.device;
  if (df.group && vfioDeviceIsNoiommu(vdev)) return;
  vdev.coreOps.unbindIommufd?.(vdev);
}

/** iommufd.c: vfio_iommufd_device_ictx() — the context a physical device is bound to. */
export function vfioIommufdDeviceIctx(vdev: VfioCoreDevice): IommufdCtx | null {
  return vdev.iommufdDevice ? iommufdDeviceToIctx(vdev.iommufdDevice) : null;
}

/** iommufd.c: vfio_iommufd_device_id() */
function vfioIommufdDeviceId(vdev: VfioCoreDevice): number {
  return vdev.iommufdDevice ? iommufdDeviceToId(vdev.iommufdDevice) : -errno("EINVAL");
}

/**
 * iommufd.c: vfio_iommufd_get_dev_id() — for PCI hot-reset ownership, in the C's encoding: the
 * device's id when it is bound to `ictx`; -ENOENT when `ictx` owns its IOMMU group through
 * another device (owned, but no id to report); -ENODEV (or another negative errno) otherwise.
 */
export function vfioIommufdGetDevId(vdev: VfioCoreDevice, ictx: IommufdCtx): number {
  if (vfioIommufdDeviceIctx(vdev) === ictx) return vfioIommufdDeviceId(vdev);
  const group = vdev.kernel.iommu.deviceGroup(vdev.dev);
  if (!group) return -errno("ENODEV");
  return iommufdCtxHasGroup(ictx, group) ? -errno("ENOENT") : -errno("ENODEV");
}

// ---------------------------------------------------------------------------------------------
// The physical operations

/**
 * iommufd.c: vfio_iommufd_physical_bind() — binds `vdev.dev` itself (DMA ownership claimed for
 * the context); returns the DEVICE object's id. Errors are iommufd_device_bind()'s.
 */
export function vfioIommufdPhysicalBind(vdev: VfioCoreDevice, ictx: IommufdCtx): number {
  const idev = iommufdDeviceBind(ictx, vdev.dev);
  vdev.iommufdDevice = idev;
  vdev.pasids.clear();
  return iommufdDeviceToId(idev);
}

/**
 * iommufd.c: vfio_iommufd_physical_unbind() — detaches every PASID (lowest first, as
 * ida_find_first() walks) and the device itself before unbinding.
 */
export function vfioIommufdPhysicalUnbind(vdev: VfioCoreDevice): void {
  const idev = vdev.iommufdDevice!;
  for (const pasid of [...vdev.pasids].sort((a, b) => a - b)) {
    iommufdDeviceDetach(idev, pasid);
    vdev.pasids.delete(pasid);
  }
  if (vdev.iommufdAttached) {
    iommufdDeviceDetach(idev, IOMMU_NO_PASID);
    vdev.iommufdAttached = false;
  }
  iommufdDeviceUnbind(idev);
  vdev.iommufdDevice = null;
}

/**
 * iommufd.c: vfio_iommufd_physical_attach_ioas() — attaches to `ptId`, or replaces the current
 * attachment without a blocked window; returns the id actually attached (the automatic HWPT
 * for an IOAS).
 */
export function vfioIommufdPhysicalAttachIoas(vdev: VfioCoreDevice, ptId: number): number {
  const fn = "vfio_iommufd_physical_attach_ioas";
  if (warnOn(vdev, !vdev.iommufdDevice, 161, fn)) throw new SysError("EINVAL", fn, "not bound");
  const idev = vdev.iommufdDevice!;
  const id = vdev.iommufdAttached
    ? iommufdDeviceReplace(idev, IOMMU_NO_PASID, ptId)
    : iommufdDeviceAttach(idev, IOMMU_NO_PASID, ptId);
  vdev.iommufdAttached = true;
  return id;
}

/** iommufd.c: vfio_iommufd_physical_detach_ioas() — a no-op when not attached. */
export function vfioIommufdPhysicalDetachIoas(vdev: VfioCoreDevice): void {
  const fn = "vfio_iommufd_physical_detach_ioas";
  if (warnOn(vdev, !vdev.iommufdDevice, 181, fn) || !vdev.iommufdAttached) return;
  iommufdDeviceDetach(vdev.iommufdDevice!, IOMMU_NO_PASID);
  vdev.iommufdAttached = false;
}

/**
 * iommufd.c: vfio_iommufd_physical_pasid_attach_ioas() — a PASID already attached is
 * replaced; a new one is reserved in `pasids` first (ENOSPC above INT_MAX, ida_alloc_range()'s
 * rule) and released again if the attach fails.
 */
export function vfioIommufdPhysicalPasidAttachIoas(
  vdev: VfioCoreDevice,
  pasid: number,
  ptId: number,
): number {
  const fn = "vfio_iommufd_physical_pasid_attach_ioas";
  if (warnOn(vdev, !vdev.iommufdDevice, 196, fn)) throw new SysError("EINVAL", fn, "not bound");
  const idev = vdev.iommufdDevice!;
  if (vdev.pasids.has(pasid)) return iommufdDeviceReplace(idev, pasid, ptId);
  if (pasid > INT_MAX) throw new SysError("ENOSPC", "ida_alloc_range", `pasid ${pasid}`);
  vdev.pasids.add(pasid);
  try {
    return iommufdDeviceAttach(idev, pasid, ptId);
  } catch (e) {
    vdev.pasids.delete(pasid);
    throw e;
  }
}

/** iommufd.c: vfio_iommufd_physical_pasid_detach_ioas() — a no-op for a PASID not attached. */
export function vfioIommufdPhysicalPasidDetachIoas(vdev: VfioCoreDevice, pasid: number): void {
  const fn = "vfio_iommufd_physical_pasid_detach_ioas";
  if (warnOn(vdev, !vdev.iommufdDevice, 220, fn)) return;
  if (!vdev.pasids.has(pasid)) return;
  iommufdDeviceDetach(vdev.iommufdDevice!, pasid);
  vdev.pasids.delete(pasid);
}

// ---------------------------------------------------------------------------------------------
// The emulated operations

/**
 * iommufd.c: vfio_user_ops — the driver pins pages, so the IOAS keeps mappings page aligned;
 * an unmap reaches the driver's `dma_unmap` (vfio_emulated_unmap()), which must unpin.
 */
const vfioUserOps: IommufdAccessOps<VfioCoreDevice> = {
  needsPinPages: true,
  unmap(vdev, iova, length) {
    vdev.coreOps.dmaUnmap?.(vdev, iova, length);
  },
};

/** iommufd.c: vfio_iommufd_emulated_bind() — an access object; its id is the dev_id. */
export function vfioIommufdEmulatedBind(vdev: VfioCoreDevice, ictx: IommufdCtx): number {
  const access = iommufdAccessCreate(ictx, vfioUserOps, vdev);
  vdev.iommufdAccess = access;
  return access.id;
}

/** iommufd.c: vfio_iommufd_emulated_unbind() — destroying the access detaches it. */
export function vfioIommufdEmulatedUnbind(vdev: VfioCoreDevice): void {
  if (!vdev.iommufdAccess) return;
  iommufdAccessDestroy(vdev.iommufdAccess);
  vdev.iommufdAttached = false;
  vdev.iommufdAccess = null;
}

/**
 * iommufd.c: vfio_iommufd_emulated_attach_ioas() — an access attaches only to an IOAS (ENOENT
 * for anything else), so the id reported back is `ptId` itself.
 */
export function vfioIommufdEmulatedAttachIoas(vdev: VfioCoreDevice, ptId: number): number {
  const access = vdev.iommufdAccess!;
  if (vdev.iommufdAttached) iommufdAccessReplace(access, ptId);
  else iommufdAccessAttach(access, ptId);
  vdev.iommufdAttached = true;
  return ptId;
}

/** iommufd.c: vfio_iommufd_emulated_detach_ioas() — a no-op when not attached. */
export function vfioIommufdEmulatedDetachIoas(vdev: VfioCoreDevice): void {
  const fn = "vfio_iommufd_emulated_detach_ioas";
  if (warnOn(vdev, !vdev.iommufdAccess, 300, fn) || !vdev.iommufdAttached) return;
  iommufdAccessDetach(vdev.iommufdAccess!);
  vdev.iommufdAttached = false;
}
