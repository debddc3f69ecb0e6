/**
 * @vfio-lab/vfio-core — Linux 7.3's VFIO core (drivers/vfio/) as the kernel modules `vfio` and
 * `vfio_iommu_type1`: `/dev/vfio/vfio` and the type1 backend, groups `/dev/vfio/N` and
 * `noiommu-N`, device cdevs `/dev/vfio/devices/vfioN`, the device-fd protocol, no-IOMMU mode,
 * the bus-driver API, and typed user-space wrappers (`VfioContainer`, `VfioGroup`, `VfioDevice`).
 *
 * ```ts
 * import vfio from "@vfio-lab/vfio-core";
 * kernel.modprobe(vfio);            // loads iommufd first and vfio_iommu_type1 after
 * ```
 *
 * @packageDocumentation
 */

import { vfioModule } from "./vfio-modules.js";

export * from "./container.js";
export * from "./device-cdev.js";
export * from "./group.js";
export * from "./ioctl-names.js";
export * from "./iommufd.js";
export * from "./user/index.js";
export * from "./vfio.js";
export * from "./vfio-info-cap.js";
export * from "./vfio-iommu-type1.js";
export * from "./vfio-main.js";
export * from "./vfio-modules.js";
export * from "./vfio-set-irqs.js";
export * from "./virqfd.js";
export default vfioModule;
