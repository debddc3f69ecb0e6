/**
 * Typed user-space wrappers over the VFIO files, in the spirit of rust-vmm's `vfio-ioctls`:
 * `VfioContainer` (`/dev/vfio/vfio`, or `/dev/iommu` in its VFIO personality), `VfioGroup`
 * (`/dev/vfio/<N>`) and `VfioDevice` (a group's device fd or `/dev/vfio/devices/vfioN`). They
 * drive the model only through a `Process`'s syscalls, so what they do is what a C program
 * does, trace included.
 *
 * ```ts
 * const container = VfioContainer.open(p);
 * const group = VfioGroup.open(p, 1);
 * group.setContainer(container);
 * container.setIommu(VFIO_TYPE1v2_IOMMU);
 * const dev = group.deviceFd("c030000.dma-test");
 * container.mapDma({ vaddr: buf, iova: 0x10000n, size: 4096 });
 * ```
 *
 * @packageDocumentation
 */

export {
  VfioContainer,
  type VfioDmaMap,
  type VfioDmaUnmap,
  type VfioInfoCapability,
  type VfioIommuInfo,
  type VfioIovaRange,
} from "./vfio-container.js";
export {
  regionOffset,
  VfioDevice,
  type VfioDeviceInfo,
  type VfioIrq,
  type VfioIrqData,
  type VfioIrqSet,
  type VfioRegion,
} from "./vfio-device.js";
export { VfioGroup, type VfioGroupStatus } from "./vfio-group.js";
