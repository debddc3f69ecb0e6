/**
 * drivers/iommu/iommufd/viommu.c: the vIOMMU objects — IOMMU_VIOMMU_ALLOC (a slice of a physical
 * IOMMU presented to a guest, over a nest-parent HWPT), IOMMU_VDEVICE_ALLOC (a device as the
 * guest's vIOMMU names it, e.g. its virtual StreamID) and IOMMU_HW_QUEUE_ALLOC (a guest queue
 * the hardware reads directly).
 *
 * The IOMMU driver decides whether a vIOMMU exists: `get_viommu_size()` must answer non-zero and
 * `viommu_init()` must fill in the vIOMMU's ops. The board's arm-smmu-v3 is stage-1 only (no
 * ARM_SMMU_FEAT_NESTING), so get_viommu_size() is 0 for every type and IOMMU_VIOMMU_ALLOC is
 * EOPNOTSUPP before the HWPT is even looked up; a no-IOMMU device has no IOMMU instance
 * (EOPNOTSUPP too). With no vIOMMU, IOMMU_VDEVICE_ALLOC and IOMMU_HW_QUEUE_ALLOC end at the
 * vIOMMU lookup (ENOENT) once their own argument checks pass.
 *
 * Caveat:
 * - The kernel's `IommufdViommuCore` (what viommu_init() receives) has no `ops`; a driver sets
 *   them on that object as `ops` (`IommufdViommuOps` below), which is read back after the call.
 * - IOMMU_HW_QUEUE_ALLOC stops at the vIOMMU's ops: the physically contiguous queue memory
 *   (iommufd_hw_queue_alloc_phys(), an internal access pinning it) is not modelled, because no
 *   driver of the model has `hw_queue_init_phys`; such a driver would get EOPNOTSUPP here.
 */

import {
  type IommuDevice,
  type IommuDomain,
  type IommufdViommuCore,
  type IommuUserData,
  SysError,
} from "@vfio-lab/kernel";
import { type IommufdDevice, iommufdGetDevice } from "./device.js";
import type { IommufdVeventq } from "./eventq.js";
import {
  type IommufdHwptPaging,
  type IommuUserDataArray,
  iommufdDeviceGetIommuDev,
} from "./hw-pagetable.js";
import type { IommufdCtx } from "./main.js";
import { IommufdObject } from "./object.js";
import {
  IOMMU_HW_QUEUE_TYPE_DEFAULT,
  IOMMU_VIOMMU_TYPE_DEFAULT,
  type IommuHwQueueAlloc,
  type IommuVdeviceAlloc,
  type IommuViommuAlloc,
} from "./uapi.js";
import { iommufdObjectAllocUcmd, type Ucmd, ucmdRespond } from "./ucmd.js";

const ULONG_MAX = (1n << 64n) - 1n;

/** `struct iommufd_viommu_ops`: what a driver's viommu_init() installs. */
export interface IommufdViommuOps {
  destroy?(viommu: IommufdViommu): void;
  allocDomainNested?(viommu: IommufdViommu, flags: number, userData: IommuUserData): IommuDomain;
  cacheInvalidate?(viommu: IommufdViommu, array: IommuUserDataArray): void;
  /** `vdevice_size`: a driver that needs more than the core vDEVICE (with vdeviceInit). */
  readonly vdeviceSize?: number;
  vdeviceInit?(vdev: IommufdVdevice): void;
  getHwQueueSize?(viommu: IommufdViommu, type: number): number;
  hwQueueInitPhys?(hwQueue: IommufdObject, index: number, basePa: number): void;
}

/** What viommu_init() is handed: the kernel's view plus the `ops` it sets. */
interface ViommuInitTarget extends IommufdViommuCore {
  ops?: IommufdViommuOps;
}

/** `struct iommufd_viommu` */
export class IommufdViommu extends IommufdObject {
  readonly type = "VIOMMU";
  ops: IommufdViommuOps | null = null;
  /** `vdevs`: vDEVICEs by virtual ID; null marks a slot reserved while one is being made. */
  readonly vdevs = new Map<bigint, IommufdVdevice | null>();
  readonly veventqs: IommufdVeventq[] = [];

  constructor(
    readonly ictx: IommufdCtx,
    /** `enum iommu_viommu_type` */
    readonly viommuType: number,
    readonly hwpt: IommufdHwptPaging,
    readonly iommuDev: IommuDevice,
  ) {
    super();
  }

  /** viommu.c: iommufd_viommu_destroy() */
  destroy(): void {
    this.ops?.destroy?.(this);
    this.hwpt.users--;
    this.vdevs.clear();
  }
}

/** `struct iommufd_vdevice` */
export class IommufdVdevice extends IommufdObject {
  readonly type = "VDEVICE";

  constructor(
    readonly viommu: IommufdViommu,
    readonly idev: IommufdDevice,
    readonly virtId: bigint,
  ) {
    super();
  }

  /** viommu.c: iommufd_vdevice_abort() */
  override abort(): void {
    if (this.viommu.vdevs.get(this.virtId) === this) this.viommu.vdevs.delete(this.virtId);
    this.viommu.users--;
    this.idev.vdev = null;
  }

  /** viommu.c: iommufd_vdevice_destroy() — also returns the reference it held on the device. */
  destroy(): void {
    this.abort();
    this.viommu.ictx.objects.put(this.idev);
  }
}

/**
 * viommu.c: iommufd_viommu_alloc_ioctl() — IOMMU_VIOMMU_ALLOC. EOPNOTSUPP for flags or the
 * DEFAULT type, ENOENT for the device, EOPNOTSUPP when the device's IOMMU cannot make a vIOMMU
 * of the type, ENOENT for the HWPT, EINVAL when it is not a nest parent.
 */
export function iommufdViommuAllocIoctl(ucmd: Ucmd): void {
  const fn = "iommufd_viommu_alloc_ioctl";
  const ictx = ucmd.ictx;
  const cmd = ucmd.cmd as IommuViommuAlloc;
  const userData: IommuUserData = {
    type: cmd.type,
    uptr: Number(cmd.data_uptr),
    len: cmd.data_len,
  };
  if (cmd.flags || cmd.type === IOMMU_VIOMMU_TYPE_DEFAULT) {
    throw new SysError("EOPNOTSUPP", fn, "flags or the DEFAULT type");
  }
  const idev = iommufdGetDevice(ictx, cmd.dev_id, fn);
  try {
    const iommuDev = iommufdDeviceGetIommuDev(idev);
    if (!iommuDev) throw new SysError("EOPNOTSUPP", fn, "device has no IOMMU");
    const ops = iommuDev.ops;
    if (!ops?.getViommuSize || !ops.viommuInit) {
      throw new SysError("EOPNOTSUPP", fn, "IOMMU driver has no vIOMMU support");
    }
    if (!ops.getViommuSize(idev.dev, cmd.type)) {
      throw new SysError("EOPNOTSUPP", fn, `no vIOMMU of type ${cmd.type}`);
    }
    const hwptPaging = ictx.objects.get<IommufdHwptPaging>(
      cmd.hwpt_id,
      "HWPT_PAGING",
      "iommufd_get_hwpt_paging",
    );
    try {
      if (!hwptPaging.nestParent) throw new SysError("EINVAL", fn, "HWPT is not a nest parent");
      const viommu = iommufdObjectAllocUcmd(
        ucmd,
        new IommufdViommu(ictx, cmd.type, hwptPaging, iommuDev),
      );
      hwptPaging.users++;
      const target: ViommuInitTarget = { type: cmd.type, iommuDev };
      ops.viommuInit(target, hwptPaging.domain!, userData.len ? userData : null);
      viommu.ops = target.ops ?? null;
      // A driver that accepts the vIOMMU must give it ops (WARN_ON_ONCE in C).
      if (!viommu.ops) throw new SysError("EOPNOTSUPP", fn, "driver set no vIOMMU ops");
      cmd.out_viommu_id = viommu.id;
      ucmdRespond(ucmd);
    } finally {
      ictx.objects.put(hwptPaging);
    }
  } finally {
    ictx.objects.put(idev);
  }
}

/**
 * viommu.c: iommufd_vdevice_alloc_ioctl() — IOMMU_VDEVICE_ALLOC: ENOENT for the vIOMMU or the
 * device (or a device being unbound), EINVAL for a device behind another IOMMU, EEXIST when the
 * device already has a vDEVICE or the virtual ID is taken. The vDEVICE keeps a reference on the
 * device until it is destroyed (unbind tombstones it).
 */
export function iommufdVdeviceAllocIoctl(ucmd: Ucmd): void {
  const fn = "iommufd_vdevice_alloc_ioctl";
  const ictx = ucmd.ictx;
  const cmd = ucmd.cmd as IommuVdeviceAlloc;
  const virtId = cmd.virt_id;
  // virt_id indexes an xarray.
  if (virtId > ULONG_MAX) throw new SysError("EINVAL", fn, "virt_id");
  const viommu = ictx.objects.get<IommufdViommu>(cmd.viommu_id, "VIOMMU", "iommufd_get_viommu");
  try {
    const idev = iommufdGetDevice(ictx, cmd.dev_id, fn);
    let keepIdev = false;
    try {
      const iommuDev = iommufdDeviceGetIommuDev(idev);
      if (!iommuDev || viommu.iommuDev !== iommuDev) {
        throw new SysError("EINVAL", fn, "device behind another IOMMU");
      }
      if (idev.destroying) throw new SysError("ENOENT", fn, "device is being unbound");
      if (idev.vdev) throw new SysError("EEXIST", fn, "device already has a vDEVICE");
      // A driver that needs a bigger vDEVICE must also initialise it (WARN_ON_ONCE in C).
      if (viommu.ops?.vdeviceSize && !viommu.ops.vdeviceInit) {
        throw new SysError("EOPNOTSUPP", fn, "vdevice_size without vdevice_init");
      }
      const vdev = ictx.objects.alloc(new IommufdVdevice(viommu, idev, virtId));
      viommu.users++;
      idev.vdev = vdev;
      try {
        // xa_insert(): a taken virtual ID is EEXIST.
        if (viommu.vdevs.has(virtId)) throw new SysError("EEXIST", fn, `virt_id ${virtId}`);
        if (ictx.iommufd.shouldFail("xa_insert")) {
          throw new SysError("ENOMEM", "xa_insert", "vdevs");
        }
        viommu.vdevs.set(virtId, null);
        if (viommu.ops?.vdeviceInit) {
          try {
            viommu.ops.vdeviceInit(vdev);
          } catch (e) {
            viommu.vdevs.delete(virtId);
            throw e;
          }
        }
        viommu.vdevs.set(virtId, vdev);
        cmd.out_vdevice_id = vdev.id;
        ucmdRespond(ucmd);
      } catch (e) {
        ictx.objects.abortAndDestroy(vdev);
        throw e;
      }
      ictx.objects.finalize(vdev);
      keepIdev = true;
    } finally {
      if (!keepIdev) ictx.objects.put(idev);
    }
  } finally {
    ictx.objects.put(viommu);
  }
}

/**
 * viommu.c: iommufd_hw_queue_alloc_ioctl() — IOMMU_HW_QUEUE_ALLOC: EOPNOTSUPP for flags or the
 * DEFAULT type, EINVAL for a zero length, EOVERFLOW when the range wraps, ENOENT without the
 * vIOMMU, EOPNOTSUPP when its driver has no HW queues of that type.
 */
export function iommufdHwQueueAllocIoctl(ucmd: Ucmd): void {
  const fn = "iommufd_hw_queue_alloc_ioctl";
  const ictx = ucmd.ictx;
  const cmd = ucmd.cmd as IommuHwQueueAlloc;
  if (cmd.flags || cmd.type === IOMMU_HW_QUEUE_TYPE_DEFAULT) {
    throw new SysError("EOPNOTSUPP", fn, "flags or the DEFAULT type");
  }
  if (!cmd.length) throw new SysError("EINVAL", fn, "length 0");
  if (cmd.nesting_parent_iova + cmd.length - 1n > ULONG_MAX) {
    throw new SysError("EOVERFLOW", fn, "queue range wraps");
  }
  const viommu = ictx.objects.get<IommufdViommu>(cmd.viommu_id, "VIOMMU", "iommufd_get_viommu");
  try {
    const ops = viommu.ops;
    if (!ops?.getHwQueueSize || !ops.hwQueueInitPhys) {
      throw new SysError("EOPNOTSUPP", fn, "vIOMMU has no HW queues");
    }
    if (!ops.getHwQueueSize(viommu, cmd.type)) {
      throw new SysError("EOPNOTSUPP", fn, `no HW queue of type ${cmd.type}`);
    }
    throw new SysError("EOPNOTSUPP", fn, "physical HW queues are not modelled");
  } finally {
    ictx.objects.put(viommu);
  }
}
