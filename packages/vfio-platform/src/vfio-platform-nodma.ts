/**
 * RFC (a) of the 2024 thread "Simple device assignment with VFIO platform" (seed 000): a
 * platform or AMBA device that platform_dma_capable() finds unable to DMA is registered with
 * vfio_register_emulated_iommu_dev() instead of vfio_register_group_dev(), so it needs no IOMMU
 * group, does not taint, and its user needs no CAP_SYS_RAWIO. **Not in Linux**; off unless
 * `vfio_platform_base.assign_dma_incapable=1`, so the default system is mainline 7.3.
 *
 * vfio-platform and vfio-amba call vfioPlatformSelectOps() before vfio_alloc_device() (the
 * iommufd ops differ, and the core reads them at registration) and vfioPlatformRegisterDev()
 * where mainline calls vfio_register_group_dev().
 *
 * What "DMA mapping refused" means here (the lead's decision Q1: mdev semantics, core
 * unchanged): the emulated ops have no `dma_unmap`, so vfio_pin_pages() fails EINVAL for the
 * device; type1 MAP_DMA and IOMMU_IOAS_MAP still succeed on a container or IOAS that holds
 * only such devices but pin nothing (no IOMMU domain, no access pins); and the device itself
 * has no DMA port. The RFC's promise is only as good as platform_dma_capable()'s rule (see
 * platform-dma-capable.ts).
 *
 * Caveat:
 * - The fake group is the one every emulated registration gets: named `vfio-noiommu` (as Linux
 *   names all of them), announced by `Adding to iommu group N`, exposed as `/dev/vfio/N`.
 * - One line is the model's own, not Linux's (dev_info, with vfio-platform's `VFIO: ` prefix):
 *   `VFIO: cannot DMA (platform_dma_capable), using an emulated IOMMU`.
 * - A device that has an IOMMU group takes the mainline path even when R1 says it cannot DMA:
 *   the emulated registration would try to put it in a second group and fail with EEXIST.
 */

import type { Device, Kernel } from "@vfio-lab/kernel";
import {
  type VfioCoreDevice,
  type VfioDeviceOps,
  vfioIommufdEmulatedAttachIoas,
  vfioIommufdEmulatedBind,
  vfioIommufdEmulatedDetachIoas,
  vfioIommufdEmulatedUnbind,
  vfioRegisterEmulatedIommuDev,
  vfioRegisterGroupDev,
} from "@vfio-lab/vfio-core";
import { platformDmaCapable } from "./platform-dma-capable.js";
import { vfioPlatformBaseOf } from "./vfio-platform-base.js";
import type { VfioPlatformDevice } from "./vfio-platform-private.js";

/** The model-only line RFC (a) prints when it takes the emulated path. */
export const VFIO_PLATFORM_NODMA_LINE =
  "VFIO: cannot DMA (platform_dma_capable), using an emulated IOMMU";

/**
 * vfio_iommufd_emulated_{bind,unbind,attach_ioas,detach_ioas}: an iommufd access object stands
 * for the device. Deliberately no `dma_unmap` beside them: a driver without one cannot pin
 * (vfio_pin_pages() → EINVAL), which is how a device that cannot DMA should look to the core.
 */
export const vfioPlatformEmulatedIommufdOps: Pick<
  VfioDeviceOps,
  "bindIommufd" | "unbindIommufd" | "attachIoas" | "detachIoas"
> = {
  bindIommufd: vfioIommufdEmulatedBind,
  unbindIommufd: vfioIommufdEmulatedUnbind,
  attachIoas: vfioIommufdEmulatedAttachIoas,
  detachIoas: vfioIommufdEmulatedDetachIoas,
};

/**
 * The emulated ops RFC (a)'s rule chose for a device at its last probe — so that the model's
 * line is printed for (a) only, never for a variant driver that registers emulated on its own
 * knowledge (its ops are another object).
 */
const chosenByRule = new WeakMap<Device, object>();

/**
 * RFC (a): the ops a vfio-platform/vfio-amba probe allocates its device with — `emulated` when
 * `assign_dma_incapable` is on, platform_dma_capable() says the device cannot DMA, and the
 * device has no IOMMU group; `physical` (mainline) otherwise.
 */
export function vfioPlatformSelectOps<D extends VfioCoreDevice>(
  kernel: Kernel,
  dev: Device,
  physical: VfioDeviceOps<D>,
  emulated: VfioDeviceOps<D>,
): VfioDeviceOps<D> {
  chosenByRule.delete(dev);
  if (!vfioPlatformBaseOf(kernel).params.assign_dma_incapable) return physical;
  if (platformDmaCapable(dev)) return physical;
  if (kernel.iommu.deviceGroup(dev)) return physical;
  chosenByRule.set(dev, emulated);
  return emulated;
}

/** The device was allocated with the emulated iommufd ops (RFC a or b). */
export function vfioPlatformIsEmulated(vdev: VfioCoreDevice): boolean {
  return vdev.coreOps.bindIommufd === vfioIommufdEmulatedBind;
}

/**
 * Where mainline's probe calls vfio_register_group_dev(): a device with the emulated ops is
 * registered with vfio_register_emulated_iommu_dev() (a private fake group, no taint), any other
 * with vfio_register_group_dev() (EINVAL without a group, or a tainting no-IOMMU group).
 */
export function vfioPlatformRegisterDev(vdev: VfioPlatformDevice): void {
  if (!vfioPlatformIsEmulated(vdev)) {
    vfioRegisterGroupDev(vdev);
    return;
  }
  if (chosenByRule.get(vdev.dev) === vdev.ops) vdev.dev.log.info(VFIO_PLATFORM_NODMA_LINE);
  vfioRegisterEmulatedIommuDev(vdev);
}
