/**
 * @vfio-lab/kernel — the Linux core model: errno, UAPI codec, processes and the syscall facade,
 * VFS (devtmpfs, sysfs, procfs), memory management, eventfd and poll, printk, taint, modules and
 * the trace bus. `Kernel.boot(soc)` is the entry point.
 *
 * @packageDocumentation
 */

export * from "./base/index.js";
export * from "./capability.js";
export * from "./drivers/index.js";
export {
  ARM_SMMU_FEAT,
  ArmSmmuDevice,
  ArmSmmuDomain,
  ArmSmmuMaster,
  type ArmSmmuProbeArgs,
  ArmSmmuV3Driver,
  type ArmSmmuV3DriverOptions,
  type IommuIrqRequester,
  MSI_IOVA_BASE,
  MSI_IOVA_LENGTH,
} from "./drivers/iommu/arm-smmu-v3.js";
export { iommu_hw_info_arm_smmuv3 } from "./drivers/iommu/arm-smmu-v3-iommufd.js";
export { armSmmuV3PlatformDriver } from "./drivers/iommu/arm-smmu-v3-platform.js";
export * from "./errno.js";
export * from "./fdtable.js";
export * from "./fs/eventfd.js";
export * from "./fs/file.js";
export * from "./fs/index.js";
export * from "./fs/memfd-file.js";
export * from "./fs/poll.js";
export type * from "./fs/sysfs-api.js";
export {
  DMA_BIDIRECTIONAL,
  DMA_FROM_DEVICE,
  DMA_NONE,
  DMA_TO_DEVICE,
  type DmaDataDirection,
} from "./iommu/dma-iommu.js";
export * from "./iommu/dma-mapping.js";
export * from "./iommu/domain.js";
export * from "./iommu/group.js";
export { Ida } from "./iommu/ida.js";
export * from "./iommu/iommu.js";
export * from "./iommu/iommu-defs.js";
export { IovaDomain } from "./iommu/iova.js";
export * from "./irq/index.js";
export * from "./kconfig.js";
export * from "./kernel.js";
export * from "./mm/index.js";
export * from "./module/index.js";
export * from "./printk/index.js";
export * from "./process.js";
export * from "./sched/wait.js";
export * from "./taint.js";
export type * from "./task.js";
export * from "./trace/index.js";
export * from "./uaccess.js";
export * from "./uapi/ioctl.js";
export * from "./uapi/struct.js";
export * from "./uapi/vfio.js";
