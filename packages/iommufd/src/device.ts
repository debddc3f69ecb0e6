/**
 * drivers/iommu/iommufd/device.c, the device half (the access objects are access.ts):
 * `struct iommufd_device` (a physical device bound to an iommufd by its driver, VFIO),
 * `struct iommufd_group` (what iommufd keeps per IOMMU group and context), the in-kernel API
 * VFIO calls — bind, attach, replace, detach, unbind — and IOMMU_GET_HW_INFO.
 *
 * The lifecycle of a device, as the C code enforces it:
 *
 *   bind     DMA ownership of the device claimed for the context (the group goes to its
 *            blocking domain); a DEVICE object the driver holds (users 2) and a context ref.
 *   attach   to an IOAS (an automatic HWPT is found or made) or to a HWPT; the device holds
 *            the HWPT and the driver holds the device once more (users 3). The first device of
 *            the group attaches the domain to the whole group; the others only join it and
 *            must use the same HWPT (EINVAL otherwise). Each device's reserved regions (the
 *            SMMU's software MSI window) become reserved IOVA in the IOAS.
 *   replace  moves the group to another HWPT without passing through the blocking domain.
 *   detach   the last device of the group puts it back on the blocking domain; an automatic
 *            HWPT dies with its last device (its ID is freed).
 *   unbind   releases DMA ownership (the last release returns the group to its default domain).
 *
 * With CONFIG_IOMMUFD_NOIOMMU, a device without `dev->iommu` binds without any of that: its
 * igroup has no IOMMU group, no ownership is claimed, attach creates a HWPT over the software
 * page table of hwpt-noiommu.ts (so the IOAS pins its memory) and never touches the device.
 *
 * Caveat:
 * - MSI pages of the software MSI window (`iommufd_sw_msi_install()`) are never installed: the
 *   list of MSI mappings only grows when a device's MSI is set up through an iommufd domain,
 *   and the board has no MSI controller driver (no GICv3 ITS), so it is always empty.
 * - The IOMMU core of the model has no PASID API (iommu_attach_device_pasid() and friends): the
 *   PASID helpers at the end of this file do what 7.3's do for masters without PASID support
 *   (`max_pasids` 0, every master of the board) — record the handle in the group's pasid array
 *   without programming any hardware — and refuse with EOPNOTSUPP for a master that has PASIDs.
 * - Locks (`igroup->lock`, the xarray locks) are not modelled: syscalls run one at a time.
 */

import {
  clearUser,
  copyToUser,
  devLogger,
  IOMMU_CAP_CACHE_COHERENCY,
  IOMMU_CAP_DIRTY_TRACKING,
  IOMMU_CAP_ENFORCE_CACHE_COHERENCY,
  IOMMU_CAP_PCI_ATS_SUPPORTED,
  IOMMU_NO_PASID,
  IommuAttachHandle,
  type IommuClient,
  type IommuDomain,
  type IommuGroup,
  type IommuOps,
  SysError,
} from "@vfio-lab/kernel";
import { iommufdAutoResponseFaults } from "./eventq.js";
import {
  findHwptPaging,
  type IommufdHwPagetable,
  IommufdHwptPaging,
  iommufdHwPagetablePut,
  iommufdHwptPagingAlloc,
} from "./hw-pagetable.js";
import type { IommufdIoas } from "./ioas.js";
import type { IommufdCtx } from "./main.js";
import { IommufdObject, REMOVE_OBJ_TOMBSTONE, REMOVE_WAIT } from "./object.js";
import {
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED,
  IOMMU_HW_INFO_FLAG_INPUT_TYPE,
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_HW_INFO_TYPE_NONE,
  type IommuHwInfo,
} from "./uapi.js";
import { type Ucmd, ucmdRespond } from "./ucmd.js";
import type { IommufdVdevice } from "./viommu.js";

/** The dev_warn() of iommufd_bind_iommu() for a group whose MSIs are not isolated. */
export const MSI_NOT_ISOLATED_WARNING =
  "MSI interrupts are not secure, they cannot be isolated by the platform. " +
  "Check that platform features like interrupt remapping are enabled. " +
  'Use the "allow_unsafe_interrupts" module parameter to override';

/** `struct iommufd_attach`: one PASID's HWPT and the devices of the group attached to it. */
export interface IommufdAttach {
  hwpt: IommufdHwPagetable | null;
  /** `device_array`, indexed by device ID. */
  readonly deviceArray: Map<number, IommufdDevice>;
}

/**
 * `struct iommufd_group`: per (context, IOMMU group). `group` is null for a no-IOMMU device,
 * whose igroup exists only so that the attach code finds one.
 */
export class IommufdGroup {
  /** `struct kref ref` */
  refs = 1;
  /** `pasid_attach`: the published attachments, by PASID. */
  readonly pasidAttach = new Map<number, IommufdAttach>();
  /** `sw_msi_start`: where the SMMU's software MSI window is; null for PHYS_ADDR_MAX (none). */
  swMsiStart: number | null = null;

  constructor(
    readonly ictx: IommufdCtx,
    readonly group: IommuGroup | null,
  ) {}
}

/** `struct iommufd_attach_handle`: the core's attach handle, pointing back at the device. */
export class IommufdAttachHandle extends IommuAttachHandle {
  constructor(readonly idev: IommufdDevice) {
    super();
  }
}

/** `struct iommufd_device` */
export class IommufdDevice extends IommufdObject {
  readonly type = "DEVICE";
  /** Null only while a failed bind is being undone. */
  igroup: IommufdGroup | null = null;
  enforceCacheCoherency = false;
  /** The vDEVICE representing this device in a vIOMMU, if any. */
  vdev: IommufdVdevice | null = null;
  /** Set once unbind starts: no new vDEVICE may take the device. */
  destroying = false;

  constructor(
    readonly ictx: IommufdCtx,
    readonly dev: IommuClient,
  ) {
    super();
  }

  /** device.c: iommufd_device_destroy() */
  destroy(): void {
    const igroup = this.igroup;
    if (!igroup) return;
    if (!iommufdDeviceIsNoiommu(this)) this.ictx.kernel.iommu.iommuDeviceReleaseDmaOwner(this.dev);
    iommufdPutGroup(igroup);
    this.ictx.put();
  }
}

/**
 * device.c: iommufd_device_is_noiommu() — CONFIG_IOMMUFD_NOIOMMU and no `dev->iommu` (not the
 * group: VFIO's group path gives no-IOMMU devices a fake group).
 */
export function iommufdDeviceIsNoiommu(idev: IommufdDevice): boolean {
  const kernel = idev.ictx.kernel;
  return kernel.config.CONFIG_IOMMUFD_NOIOMMU && !kernel.iommu.devIommuGetExisting(idev.dev);
}

/** iommufd_private.h: iommufd_get_device() — the DEVICE `id` with a reference (ENOENT). */
export function iommufdGetDevice(ictx: IommufdCtx, id: number, fn: string): IommufdDevice {
  return ictx.objects.get<IommufdDevice>(id, "DEVICE", fn);
}

// ---------------------------------------------------------------------------------------------
// iommufd_group

/** device.c: iommufd_group_release() (the last kref_put()) */
function iommufdGroupRelease(igroup: IommufdGroup): void {
  const group = igroup.group;
  if (!group) return;
  const groups = igroup.ictx.groups;
  if (groups.get(group.id) === igroup) groups.delete(group.id);
  igroup.ictx.kernel.iommu.iommuGroupPut(group);
}

/** device.c: iommufd_put_group() */
function iommufdPutGroup(igroup: IommufdGroup): void {
  if (--igroup.refs === 0) iommufdGroupRelease(igroup);
}

/** device.c: iommufd_alloc_group() — the group reference moves into the new igroup. */
function iommufdAllocGroup(ictx: IommufdCtx, group: IommuGroup | null): IommufdGroup {
  if (ictx.iommufd.shouldFail("kzalloc")) {
    throw new SysError("ENOMEM", "iommufd_alloc_group", "kzalloc");
  }
  return new IommufdGroup(ictx, group);
}

/**
 * device.c: iommufd_get_group() — the context's igroup for the device's IOMMU group, made on
 * first use (ENODEV without a group).
 */
function iommufdGetGroup(ictx: IommufdCtx, dev: IommuClient): IommufdGroup {
  const iommu = ictx.kernel.iommu;
  const group = iommu.iommuGroupGet(dev);
  if (!group) throw new SysError("ENODEV", "iommufd_get_group", `${dev.name} has no IOMMU group`);
  const cur = ictx.groups.get(group.id);
  // iommufd_group_try_get(): an igroup whose last reference is going is not reused.
  if (cur && cur.group === group && cur.refs > 0) {
    cur.refs++;
    iommu.iommuGroupPut(group);
    return cur;
  }
  let igroup: IommufdGroup;
  try {
    igroup = iommufdAllocGroup(ictx, group);
  } catch (e) {
    iommu.iommuGroupPut(group);
    throw e;
  }
  // xa_cmpxchg() may need memory for the new slot.
  if (ictx.iommufd.shouldFail("xa_cmpxchg")) {
    iommufdPutGroup(igroup);
    throw new SysError("ENOMEM", "xa_cmpxchg", "ictx->groups");
  }
  ictx.groups.set(group.id, igroup);
  return igroup;
}

// ---------------------------------------------------------------------------------------------
// Bind and unbind

/** device.c: iommufd_bind_iommu() */
function iommufdBindIommu(idev: IommufdDevice): void {
  const ictx = idev.ictx;
  const dev = idev.dev;
  const iommu = ictx.kernel.iommu;
  const fn = "iommufd_bind_iommu";
  // iommufd always maps with IOMMU_CACHE: user space has no way to restore coherency.
  if (!iommu.deviceIommuCapable(dev, IOMMU_CAP_CACHE_COHERENCY)) {
    throw new SysError("EINVAL", fn, `${dev.name}: no IOMMU_CAP_CACHE_COHERENCY`);
  }
  const igroup = iommufdGetGroup(ictx, dev);
  try {
    // A DMA write that can raise an interrupt outside this context is tolerated only with the
    // VFIO-compatible module parameter.
    if (!iommu.iommuGroupHasIsolatedMsi(igroup.group!)) {
      if (!ictx.iommufd.params.allow_unsafe_interrupts) {
        throw new SysError("EPERM", fn, `${dev.name}: MSI interrupts are not isolated`);
      }
      devLogger(ictx.kernel.printk, dev).warn(MSI_NOT_ISOLATED_WARNING);
    }
    iommu.iommuDeviceClaimDmaOwner(dev, ictx);
  } catch (e) {
    iommufdPutGroup(igroup);
    throw e;
  }
  idev.igroup = igroup;
  idev.enforceCacheCoherency = iommu.deviceIommuCapable(dev, IOMMU_CAP_ENFORCE_CACHE_COHERENCY);
}

/** device.c: iommufd_bind_noiommu() — an igroup without an IOMMU group. */
function iommufdBindNoiommu(idev: IommufdDevice): void {
  idev.igroup = iommufdAllocGroup(idev.ictx, null);
}

/**
 * device.c: iommufd_device_bind() — binds a physical device to the context and claims its DMA
 * ownership. The DEVICE object's ID (`obj.id`) is what user space calls the dev_id. Errors, in
 * order: ENOMEM (the object), EINVAL (no cache-coherent IOMMU), ENODEV (no IOMMU group),
 * EPERM (MSIs not isolated, allow_unsafe_interrupts off), EPERM/EBUSY (DMA ownership). A device
 * without an IOMMU under CONFIG_IOMMUFD_NOIOMMU skips all but the first.
 */
export function iommufdDeviceBind(ictx: IommufdCtx, dev: IommuClient): IommufdDevice {
  const idev = ictx.objects.alloc(new IommufdDevice(ictx, dev));
  try {
    if (!iommufdDeviceIsNoiommu(idev)) iommufdBindIommu(idev);
    else iommufdBindNoiommu(idev);
  } catch (e) {
    // iommufd_device_destroy() copes with the half-made device (no igroup).
    ictx.objects.abortAndDestroy(idev);
    throw e;
  }
  ictx.get();
  // The calling driver holds the device until iommufd_device_unbind().
  idev.users++;
  ictx.objects.finalize(idev);
  return idev;
}

/**
 * device.c: iommufd_device_remove_vdev() (the DEVICE's pre_destroy) — a vDEVICE still using
 * the device is destroyed and its ID left as a tombstone.
 */
function iommufdDeviceRemoveVdev(idev: IommufdDevice): void {
  idev.destroying = true;
  const vdev = idev.vdev;
  if (!vdev) return;
  try {
    idev.ictx.objects.tryIncUsers(vdev);
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
    // A DESTROY of the vDEVICE is already under way.
    return;
  }
  try {
    idev.ictx.removeObject(vdev, vdev.id, REMOVE_WAIT | REMOVE_OBJ_TOMBSTONE);
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
  }
}

/**
 * device.c: iommufd_device_unbind() — undoes the bind. The caller must have detached the
 * device (if it did not, Linux WARNs and the device stays until the context is closed).
 */
export function iommufdDeviceUnbind(idev: IommufdDevice): void {
  iommufdDeviceRemoveVdev(idev);
  try {
    idev.ictx.removeObject(idev, idev.id, REMOVE_WAIT);
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
  }
}

/** device.c: iommufd_device_to_ictx() */
export function iommufdDeviceToIctx(idev: IommufdDevice): IommufdCtx {
  return idev.ictx;
}

/** device.c: iommufd_device_to_id() */
export function iommufdDeviceToId(idev: IommufdDevice): number {
  return idev.id;
}

/** device.c: iommufd_ctx_has_group() — whether a device of `group` is bound to `ictx`. */
export function iommufdCtxHasGroup(ictx: IommufdCtx | null, group: IommuGroup | null): boolean {
  if (!ictx || !group) return false;
  return ictx.objects
    .objects()
    .some((obj) => obj instanceof IommufdDevice && obj.igroup?.group === group);
}

// ---------------------------------------------------------------------------------------------
// Attach, replace, detach

/** device.c: iommufd_group_device_num() */
function iommufdGroupDeviceNum(igroup: IommufdGroup, pasid: number): number {
  return igroup.pasidAttach.get(pasid)?.deviceArray.size ?? 0;
}

/**
 * device.c: iommufd_group_setup_msi() — installs the MSI pages the group's devices use into the
 * new domain. The list of such pages is always empty in the model (see the Caveat).
 */
function iommufdGroupSetupMsi(igroup: IommufdGroup, _hwptPaging: IommufdHwptPaging): void {
  if (igroup.swMsiStart === null) return;
}

/** device.c: iommufd_group_first_attach() */
function iommufdGroupFirstAttach(igroup: IommufdGroup, pasid: number): boolean {
  return !igroup.pasidAttach.has(pasid);
}

/** device.c: iommufd_device_attach_reserved_iova() */
function iommufdDeviceAttachReservedIova(idev: IommufdDevice, hwptPaging: IommufdHwptPaging): void {
  const igroup = idev.igroup!;
  const iopt = hwptPaging.ioas.iopt;
  const swMsiStart = iopt.tableEnforceDevResvRegions(idev.dev);
  if (swMsiStart !== null) igroup.swMsiStart = swMsiStart;
  if (iommufdGroupFirstAttach(igroup, IOMMU_NO_PASID)) {
    try {
      iommufdGroupSetupMsi(igroup, hwptPaging);
    } catch (e) {
      iopt.removeReservedIova(idev.dev);
      throw e;
    }
  }
}

/** device.c: iommufd_device_is_attached() */
function iommufdDeviceIsAttached(idev: IommufdDevice, pasid: number): boolean {
  return idev.igroup!.pasidAttach.get(pasid)?.deviceArray.has(idev.id) ?? false;
}

/**
 * device.c: iommufd_hwpt_pasid_compat() — a PASID needs a PASID-capable HWPT, and so does the
 * RID while PASIDs are attached.
 */
function iommufdHwptPasidCompat(
  hwpt: IommufdHwPagetable,
  idev: IommufdDevice,
  pasid: number,
): void {
  const fn = "iommufd_hwpt_pasid_compat";
  const igroup = idev.igroup!;
  if (pasid === IOMMU_NO_PASID) {
    const otherPasids = [...igroup.pasidAttach.keys()].some((p) => p !== IOMMU_NO_PASID);
    if (!hwpt.pasidCompat && otherPasids) {
      throw new SysError("EINVAL", fn, "PASIDs are attached: the RID needs a PASID-capable HWPT");
    }
  } else {
    if (!hwpt.pasidCompat) throw new SysError("EINVAL", fn, "HWPT is not PASID-capable");
    const rid = igroup.pasidAttach.get(IOMMU_NO_PASID);
    if (rid?.hwpt && !rid.hwpt.pasidCompat) {
      throw new SysError("EINVAL", fn, "the RID's HWPT is not PASID-capable");
    }
  }
}

/**
 * device.c: iommufd_hwpt_compatible_device() — only a PCI VF with PRI cannot take a HWPT with a
 * fault queue; no device of the board is PCI.
 */
function iommufdHwptCompatibleDevice(_hwpt: IommufdHwPagetable, _idev: IommufdDevice): boolean {
  return true;
}

/** device.c: iommufd_hwpt_attach_device() — the first device of the group attaches the domain. */
function iommufdHwptAttachDevice(
  hwpt: IommufdHwPagetable,
  idev: IommufdDevice,
  pasid: number,
): void {
  const fn = "iommufd_hwpt_attach_device";
  if (!iommufdHwptCompatibleDevice(hwpt, idev)) throw new SysError("EINVAL", fn, "PCI VF/PRI");
  iommufdHwptPasidCompat(hwpt, idev, pasid);
  if (iommufdDeviceIsNoiommu(idev)) return;
  if (idev.ictx.iommufd.shouldFail("kzalloc")) throw new SysError("ENOMEM", fn, "attach handle");
  const handle = new IommufdAttachHandle(idev);
  const iommu = idev.ictx.kernel.iommu;
  if (pasid === IOMMU_NO_PASID) {
    iommu.iommuAttachGroupHandle(hwpt.domain!, idev.igroup!.group!, handle);
  } else {
    iommuAttachDevicePasid(idev, hwpt.domain!, pasid, handle);
  }
}

/** device.c: iommufd_device_get_attach_handle() — null when the PASID has none. */
function iommufdDeviceGetAttachHandle(
  idev: IommufdDevice,
  pasid: number,
): IommufdAttachHandle | null {
  const group = idev.igroup!.group;
  if (!group) return null;
  try {
    const handle = idev.ictx.kernel.iommu.iommuAttachHandleGet(group, pasid, 0);
    return handle instanceof IommufdAttachHandle ? handle : null;
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
    return null;
  }
}

/** device.c: iommufd_hwpt_detach_device() — the last device of the group detaches the domain. */
function iommufdHwptDetachDevice(hwpt: IommufdHwPagetable, idev: IommufdDevice, pasid: number) {
  if (iommufdDeviceIsNoiommu(idev)) return;
  const handle = iommufdDeviceGetAttachHandle(idev, pasid);
  if (pasid === IOMMU_NO_PASID) {
    idev.ictx.kernel.iommu.iommuDetachGroupHandle(hwpt.domain!, idev.igroup!.group!);
  } else {
    iommuDetachDevicePasid(idev, pasid);
  }
  iommufdAutoResponseFaults(hwpt, handle);
}

/** device.c: iommufd_hwpt_replace_device() — the group moves to the new domain in one step. */
function iommufdHwptReplaceDevice(
  idev: IommufdDevice,
  pasid: number,
  hwpt: IommufdHwPagetable,
  old: IommufdHwPagetable,
): void {
  const fn = "iommufd_hwpt_replace_device";
  if (!iommufdHwptCompatibleDevice(hwpt, idev)) throw new SysError("EINVAL", fn, "PCI VF/PRI");
  iommufdHwptPasidCompat(hwpt, idev, pasid);
  if (iommufdDeviceIsNoiommu(idev)) return;
  const oldHandle = iommufdDeviceGetAttachHandle(idev, pasid);
  if (idev.ictx.iommufd.shouldFail("kzalloc")) throw new SysError("ENOMEM", fn, "attach handle");
  const handle = new IommufdAttachHandle(idev);
  const iommu = idev.ictx.kernel.iommu;
  if (pasid === IOMMU_NO_PASID) {
    iommu.iommuReplaceGroupHandle(idev.igroup!.group!, hwpt.domain!, handle);
  } else {
    iommuReplaceDevicePasid(idev, hwpt.domain!, pasid, handle);
  }
  iommufdAutoResponseFaults(old, oldHandle);
}

/**
 * device.c: iommufd_hw_pagetable_attach() — `idev` joins `hwpt` for `pasid`: EBUSY if it is
 * attached already, EINVAL if its group uses another HWPT; the device's reserved regions go
 * into the IOAS first (EADDRINUSE where they meet a mapping). The device holds the HWPT.
 */
export function iommufdHwPagetableAttach(
  hwpt: IommufdHwPagetable,
  idev: IommufdDevice,
  pasid: number,
): void {
  const fn = "iommufd_hw_pagetable_attach";
  const hwptPaging = findHwptPaging(hwpt);
  const attachResv =
    hwptPaging !== null && pasid === IOMMU_NO_PASID && !iommufdDeviceIsNoiommu(idev);
  const igroup = idev.igroup!;
  const shouldFail = (site: string) => idev.ictx.iommufd.shouldFail(site);

  // xa_cmpxchg() reserving the PASID slot, then the attach itself for a first device.
  const published = igroup.pasidAttach.get(pasid);
  if (!published && shouldFail("xa_cmpxchg")) {
    throw new SysError("ENOMEM", "xa_cmpxchg", "pasid_attach");
  }
  if (!published && shouldFail("kzalloc")) throw new SysError("ENOMEM", fn, "iommufd_attach");
  const attach: IommufdAttach = published ?? { hwpt: null, deviceArray: new Map() };
  const oldHwpt = attach.hwpt;

  // xa_insert() into device_array: a device already there is EBUSY.
  if (attach.deviceArray.has(idev.id)) throw new SysError("EBUSY", "xa_insert", "already attached");
  if (shouldFail("xa_insert")) throw new SysError("ENOMEM", "xa_insert", "device_array");
  if (oldHwpt && oldHwpt !== hwpt) {
    throw new SysError("EINVAL", fn, "the group is attached to another HWPT");
  }
  if (attachResv) iommufdDeviceAttachReservedIova(idev, hwptPaging);

  // Only the first device of the group attaches; the others follow it, but each must be
  // attached on its own so that its reserved regions are enforced.
  if (iommufdGroupFirstAttach(igroup, pasid)) {
    try {
      iommufdHwptAttachDevice(hwpt, idev, pasid);
    } catch (e) {
      if (attachResv) hwptPaging.ioas.iopt.removeReservedIova(idev.dev);
      throw e;
    }
    attach.hwpt = hwpt;
    igroup.pasidAttach.set(pasid, attach);
  }
  hwpt.users++;
  attach.deviceArray.set(idev.id, idev);
}

/**
 * device.c: iommufd_hw_pagetable_detach() — `idev` leaves its HWPT for `pasid`; the last device
 * of the group detaches the domain. Returns the HWPT (its reference already dropped), or null
 * when nothing was attached.
 */
export function iommufdHwPagetableDetach(
  idev: IommufdDevice,
  pasid: number,
): IommufdHwPagetable | null {
  const igroup = idev.igroup!;
  const attach = igroup.pasidAttach.get(pasid);
  if (!attach) return null;
  const hwpt = attach.hwpt!;
  const hwptPaging = findHwptPaging(hwpt);
  attach.deviceArray.delete(idev.id);
  if (attach.deviceArray.size === 0) {
    iommufdHwptDetachDevice(hwpt, idev, pasid);
    igroup.pasidAttach.delete(pasid);
  }
  if (hwptPaging && pasid === IOMMU_NO_PASID) hwptPaging.ioas.iopt.removeReservedIova(idev.dev);
  iommufdHwPagetablePut(idev.ictx, hwpt);
  return hwpt;
}

/** The attach or replace step of iommufd_device_change_pt(): returns a HWPT to put, or null. */
type AttachFn = (
  idev: IommufdDevice,
  pasid: number,
  hwpt: IommufdHwPagetable,
) => IommufdHwPagetable | null;

/** device.c: iommufd_device_do_attach() */
const iommufdDeviceDoAttach: AttachFn = (idev, pasid, hwpt) => {
  iommufdHwPagetableAttach(hwpt, idev, pasid);
  return null;
};

/** Device IDs of an attachment in xarray (ascending) order. */
function devicesOf(attach: IommufdAttach): IommufdDevice[] {
  return [...attach.deviceArray.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
}

/** device.c: iommufd_group_remove_reserved_iova() — every device of the RID attachment. */
function iommufdGroupRemoveReservedIova(igroup: IommufdGroup, hwptPaging: IommufdHwptPaging) {
  const attach = igroup.pasidAttach.get(IOMMU_NO_PASID);
  if (!attach) return;
  for (const cur of devicesOf(attach)) hwptPaging.ioas.iopt.removeReservedIova(cur.dev);
}

/**
 * device.c: iommufd_group_do_replace_reserved_iova() — moving to another IOAS enforces every
 * attached device's reserved regions in the new one (all or nothing).
 */
function iommufdGroupDoReplaceReservedIova(igroup: IommufdGroup, hwptPaging: IommufdHwptPaging) {
  const attach = igroup.pasidAttach.get(IOMMU_NO_PASID)!;
  const oldHwptPaging = attach.hwpt ? findHwptPaging(attach.hwpt) : null;
  try {
    if (!oldHwptPaging || hwptPaging.ioas !== oldHwptPaging.ioas) {
      for (const cur of devicesOf(attach)) {
        hwptPaging.ioas.iopt.tableEnforceDevResvRegions(cur.dev, { noSwMsi: true });
      }
    }
    iommufdGroupSetupMsi(igroup, hwptPaging);
  } catch (e) {
    iommufdGroupRemoveReservedIova(igroup, hwptPaging);
    throw e;
  }
}

/**
 * device.c: iommufd_device_do_replace() — EINVAL unless `idev` is attached for `pasid`; the
 * same HWPT is a no-op. Every device reference of the group moves to the new HWPT; the old one
 * is returned for the caller to put.
 */
const iommufdDeviceDoReplace: AttachFn = (idev, pasid, hwpt) => {
  const fn = "iommufd_device_do_replace";
  const hwptPaging = findHwptPaging(hwpt);
  const attachResv =
    hwptPaging !== null && pasid === IOMMU_NO_PASID && !iommufdDeviceIsNoiommu(idev);
  const igroup = idev.igroup!;
  const attach = igroup.pasidAttach.get(pasid);
  if (!attach) throw new SysError("EINVAL", fn, "not attached");
  const oldHwpt = attach.hwpt!;
  if (!iommufdDeviceIsAttached(idev, pasid)) throw new SysError("EINVAL", fn, "not attached");
  if (hwpt === oldHwpt) return null;

  if (attachResv) iommufdGroupDoReplaceReservedIova(igroup, hwptPaging);
  try {
    iommufdHwptReplaceDevice(idev, pasid, hwpt, oldHwpt);
  } catch (e) {
    // Linux removes the group's reservations from the new IOAS even when it is the old one.
    if (attachResv) iommufdGroupRemoveReservedIova(igroup, hwptPaging);
    throw e;
  }

  const oldHwptPaging = findHwptPaging(oldHwpt);
  if (
    oldHwptPaging &&
    pasid === IOMMU_NO_PASID &&
    (!hwptPaging || hwptPaging.ioas !== oldHwptPaging.ioas)
  ) {
    iommufdGroupRemoveReservedIova(igroup, oldHwptPaging);
  }
  attach.hwpt = hwpt;
  // Each device's reference moves to the new HWPT; one stays on the old for the caller to put.
  const numDevices = iommufdGroupDeviceNum(igroup, pasid);
  hwpt.users += numDevices;
  if (numDevices > 1) oldHwpt.users -= numDevices - 1;
  return oldHwpt;
};

/** iommufd_private.h: iommufd_lock_obj() — a reference unless the object is being destroyed. */
function iommufdLockObj(obj: IommufdObject): boolean {
  if (obj.users === 0) return false;
  obj.users++;
  return true;
}

/**
 * device.c: iommufd_device_auto_get_domain() — the first automatic HWPT of the IOAS the device
 * can use (EINVAL from the attach means "incompatible, try the next"), else a new one. Manual
 * HWPTs are never picked. `ptId.value` becomes the HWPT used.
 */
function iommufdDeviceAutoGetDomain(
  idev: IommufdDevice,
  pasid: number,
  ioas: IommufdIoas,
  ptId: { value: number },
  doAttach: AttachFn,
): IommufdHwPagetable | null {
  const ictx = idev.ictx;
  // Attach-time allocation lets drivers that finish a domain only at attach take part.
  const immediateAttach = doAttach === iommufdDeviceDoAttach;
  for (const hwptPaging of [...ioas.hwptList]) {
    if (!(hwptPaging instanceof IommufdHwptPaging) || !hwptPaging.autoDomain) continue;
    if (!iommufdLockObj(hwptPaging)) continue;
    let destroyHwpt: IommufdHwPagetable | null;
    try {
      destroyHwpt = doAttach(idev, pasid, hwptPaging);
    } catch (e) {
      ictx.objects.put(hwptPaging);
      if (SysError.isInstance(e) && e.code === "EINVAL") continue;
      throw e;
    }
    ptId.value = hwptPaging.id;
    ictx.objects.put(hwptPaging);
    return destroyHwpt;
  }

  const hwptPaging = iommufdHwptPagingAlloc(ictx, ioas, idev, pasid, 0, immediateAttach, null);
  let destroyHwpt: IommufdHwPagetable | null = null;
  if (!immediateAttach) {
    try {
      destroyHwpt = doAttach(idev, pasid, hwptPaging);
    } catch (e) {
      ictx.objects.abortAndDestroy(hwptPaging);
      throw e;
    }
  }
  hwptPaging.autoDomain = true;
  ptId.value = hwptPaging.id;
  ictx.objects.finalize(hwptPaging);
  return destroyHwpt;
}

/**
 * device.c: iommufd_device_change_pt() — `ptId` names a HWPT (used as is), an IOAS (an
 * automatic HWPT) or anything else (EINVAL); ENOENT when it names nothing.
 */
function iommufdDeviceChangePt(
  idev: IommufdDevice,
  pasid: number,
  ptId: number,
  doAttach: AttachFn,
): number {
  const ictx = idev.ictx;
  const fn = "iommufd_device_change_pt";
  const id = { value: ptId };
  const ptObj = ictx.objects.get(ptId, "ANY", fn);
  let destroyHwpt: IommufdHwPagetable | null;
  try {
    if (ptObj.type === "HWPT_PAGING" || ptObj.type === "HWPT_NESTED") {
      destroyHwpt = doAttach(idev, pasid, ptObj as IommufdHwPagetable);
    } else if (ptObj.type === "IOAS") {
      destroyHwpt = iommufdDeviceAutoGetDomain(idev, pasid, ptObj as IommufdIoas, id, doAttach);
    } else {
      throw new SysError("EINVAL", fn, `object ${ptId} is a ${ptObj.type}`);
    }
  } finally {
    ictx.objects.put(ptObj);
  }
  // Destroying the old HWPT comes after everything else is settled.
  if (destroyHwpt) iommufdHwPagetablePut(ictx, destroyHwpt);
  return id.value;
}

/**
 * device.c: iommufd_device_attach() — attaches the device (or one of its PASIDs) to an IOAS or
 * a HWPT; returns the ID of the HWPT in use, which the caller reports to user space.
 */
export function iommufdDeviceAttach(idev: IommufdDevice, pasid: number, ptId: number): number {
  const id = iommufdDeviceChangePt(idev, pasid, ptId, iommufdDeviceDoAttach);
  // Paired with iommufd_device_detach(): unbinding an attached device is a caller bug.
  idev.users++;
  return id;
}

/**
 * device.c: iommufd_device_replace() — as detach + attach, but with no window in which the
 * device is blocked, and nothing changed on failure. Only for an attached device.
 */
export function iommufdDeviceReplace(idev: IommufdDevice, pasid: number, ptId: number): number {
  return iommufdDeviceChangePt(idev, pasid, ptId, iommufdDeviceDoReplace);
}

/** device.c: iommufd_device_detach() — back to blocked DMA. */
export function iommufdDeviceDetach(idev: IommufdDevice, pasid: number): void {
  const hwpt = iommufdHwPagetableDetach(idev, pasid);
  if (!hwpt) return;
  idev.users--;
}

// ---------------------------------------------------------------------------------------------
// IOMMU_GET_HW_INFO

/** include/linux/log2.h: ilog2() */
function ilog2(n: number): number {
  return Math.floor(Math.log2(n));
}

/**
 * device.c: iommufd_get_hw_info() — IOMMU_GET_HW_INFO: the driver's hardware description
 * (min(data_len, its size) bytes, the rest of the user buffer zeroed), its real length in
 * `data_len`, its type, the capability bits and the PASID width. Errors: EOPNOTSUPP (flags,
 * reserved bytes, a no-IOMMU device, a type the driver cannot report), ENOENT (dev_id), EFAULT.
 */
export function iommufdGetHwInfo(ucmd: Ucmd): void {
  const fn = "iommufd_get_hw_info";
  const cmd = ucmd.cmd as IommuHwInfo;
  const ictx = ucmd.ictx;
  const iommu = ictx.kernel.iommu;
  if (cmd.flags & ~IOMMU_HW_INFO_FLAG_INPUT_TYPE) {
    throw new SysError("EOPNOTSUPP", fn, `flags 0x${(cmd.flags >>> 0).toString(16)}`);
  }
  if (cmd.__reserved.some((b) => b !== 0)) throw new SysError("EOPNOTSUPP", fn, "__reserved");
  // A driver is never handed a type the user did not ask for with INPUT_TYPE.
  if (!(cmd.flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE)) cmd.out_data_type = IOMMU_HW_INFO_TYPE_DEFAULT;

  const idev = iommufdGetDevice(ictx, cmd.dev_id, fn);
  try {
    if (iommufdDeviceIsNoiommu(idev)) throw new SysError("EOPNOTSUPP", fn, "no IOMMU");
    const dev = idev.dev;
    const ops: IommuOps = iommu.devIommuOps(dev);
    let data: Uint8Array;
    if (ops.hwInfo) {
      const info = ops.hwInfo(dev, cmd.out_data_type);
      data = info.data;
      cmd.out_data_type = info.type;
      // A driver with hw_info() must report a type of its own (WARN_ON_ONCE in C).
      if (info.type === IOMMU_HW_INFO_TYPE_NONE) {
        throw new SysError("EOPNOTSUPP", fn, "driver reported no type");
      }
    } else {
      cmd.out_data_type = IOMMU_HW_INFO_TYPE_NONE;
      data = new Uint8Array(0);
    }

    const uptr = Number(cmd.data_uptr);
    const copyLen = Math.min(cmd.data_len, data.length);
    copyToUser(ucmd.current.mm, uptr, data.subarray(0, copyLen), "copy_to_user");
    // A bigger user buffer than the kernel's data is zero-filled past it.
    if (copyLen < cmd.data_len) {
      clearUser(ucmd.current.mm, uptr + copyLen, cmd.data_len - copyLen, "clear_user");
    }
    // The kernel's length, which may exceed the user's buffer: the user learns what exists.
    cmd.data_len = data.length;

    let caps = 0n;
    if (iommu.deviceIommuCapable(dev, IOMMU_CAP_DIRTY_TRACKING)) {
      caps |= BigInt(IOMMU_HW_CAP_DIRTY_TRACKING);
    }
    if (!iommu.deviceIommuCapable(dev, IOMMU_CAP_PCI_ATS_SUPPORTED)) {
      caps |= BigInt(IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED);
    }
    cmd.out_capabilities = caps;
    // dev->iommu->max_pasids is non-zero only when PASIDs are supported and enabled; the PCI
    // PASID control bits (EXEC, PRIV) have no platform counterpart.
    const maxPasids = iommu.devIommuGetExisting(dev)?.maxPasids ?? 0;
    cmd.out_max_pasid_log2 = maxPasids ? ilog2(maxPasids) : 0;
    ucmdRespond(ucmd);
  } finally {
    ictx.objects.put(idev);
  }
}

// ---------------------------------------------------------------------------------------------
// The IOMMU core's PASID attach API (iommu.c), for masters without PASID support

/** iommu.c: domain_iommu_ops_compatible() */
function domainIommuOpsCompatible(ops: IommuOps, domain: IommuDomain): boolean {
  return domain.owner === ops || domain === ops.blockedDomain || domain === ops.identityDomain;
}

/** The group of a device with an IOMMU (iommufd only calls these for such a device). */
function pasidGroupOf(idev: IommufdDevice, fn: string): IommuGroup {
  const group = idev.ictx.kernel.iommu.deviceGroup(idev.dev);
  if (!group) throw new SysError("ENODEV", fn, `${idev.dev.name} has no IOMMU group`);
  return group;
}

/**
 * iommu.c: __iommu_set_group_pasid() — programs the PASID into every member that supports
 * PASIDs; members without (max_pasids 0) are skipped, which on the board is all of them.
 */
function iommuSetGroupPasid(idev: IommufdDevice, group: IommuGroup, fn: string): void {
  const iommu = idev.ictx.kernel.iommu;
  for (const gdev of group.devices) {
    if ((iommu.devIommuGetExisting(gdev.dev)?.maxPasids ?? 0) > 0) {
      throw new SysError("EOPNOTSUPP", fn, "PASID programming is not modelled");
    }
  }
}

/** iommu.c: iommu_attach_device_pasid() */
function iommuAttachDevicePasid(
  idev: IommufdDevice,
  domain: IommuDomain,
  pasid: number,
  handle: IommuAttachHandle,
): void {
  const fn = "iommu_attach_device_pasid";
  const iommu = idev.ictx.kernel.iommu;
  const group = pasidGroupOf(idev, fn);
  const ops = iommu.devIommuOps(idev.dev);
  if (!domainIommuOpsCompatible(ops, domain) || pasid === IOMMU_NO_PASID) {
    throw new SysError("EINVAL", fn, "domain of another driver, or the RID");
  }
  for (const gdev of group.devices) {
    const max = iommu.devIommuGetExisting(gdev.dev)?.maxPasids ?? 0;
    if (max > 0 && pasid >= max) throw new SysError("EINVAL", fn, `PASID ${pasid} out of range`);
  }
  handle.domain = domain;
  if (group.pasidArray.has(pasid)) throw new SysError("EBUSY", "xa_insert", `PASID ${pasid}`);
  iommuSetGroupPasid(idev, group, fn);
  group.pasidArray.set(pasid, handle);
}

/** iommu.c: iommu_replace_device_pasid() */
function iommuReplaceDevicePasid(
  idev: IommufdDevice,
  domain: IommuDomain,
  pasid: number,
  handle: IommuAttachHandle,
): void {
  const fn = "iommu_replace_device_pasid";
  const iommu = idev.ictx.kernel.iommu;
  const group = pasidGroupOf(idev, fn);
  if (!domainIommuOpsCompatible(iommu.devIommuOps(idev.dev), domain) || pasid === IOMMU_NO_PASID) {
    throw new SysError("EINVAL", fn, "domain of another driver, or the RID");
  }
  handle.domain = domain;
  const curr = group.pasidArray.get(pasid);
  if (!curr) throw new SysError("EINVAL", fn, `PASID ${pasid} is not attached`);
  if (curr === handle) throw new SysError("EINVAL", fn, "handle reused");
  if (curr.domain !== domain) iommuSetGroupPasid(idev, group, fn);
  group.pasidArray.set(pasid, handle);
}

/** iommu.c: iommu_detach_device_pasid() */
function iommuDetachDevicePasid(idev: IommufdDevice, pasid: number): void {
  idev.ictx.kernel.iommu.deviceGroup(idev.dev)?.pasidArray.delete(pasid);
}
