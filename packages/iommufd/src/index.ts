/**
 * @vfio-lab/iommufd — Linux's IOMMUFD (drivers/iommu/iommufd/) as a kernel module of the model:
 * `/dev/iommu` with every ioctl, the object table, IOAS and io_pagetable, HWPTs, device binding
 * for VFIO, access objects for emulated-IOMMU devices, the VFIO container personality, the
 * no-IOMMU cdev support of 7.3, and `IommuFd`, a typed user-space wrapper.
 *
 * ```ts
 * import iommufd from "@vfio-lab/iommufd";
 * kernel.modprobe(iommufd);
 * ```
 *
 * @packageDocumentation
 */

import { iommufdModule } from "./main.js";

export * from "./access.js";
export * from "./device.js";
export * from "./eventq.js";
export * from "./hw-pagetable.js";
export * from "./hwpt-noiommu.js";
export * from "./interval-tree.js";
export * from "./io-pagetable.js";
export * from "./ioas.js";
export * from "./iommu-fd.js";
export * from "./main.js";
export * from "./object.js";
export * from "./pages.js";
export * from "./uapi.js";
export * from "./ucmd.js";
export * from "./vfio-compat.js";
export * from "./viommu.js";
export default iommufdModule;
