/**
 * Which function handles each IOMMUFD command: the `execute` column of main.c's
 * iommufd_ioctl_ops[]. The numbers, structs and minimum sizes are the UAPI table's
 * (`IOMMUFD_IOCTLS` in uapi.ts); main.ts joins the two.
 */

import { iommufdGetHwInfo } from "./device.js";
import { iommufdFaultAlloc, iommufdVeventqAlloc } from "./eventq.js";
import {
  iommufdHwptAlloc,
  iommufdHwptGetDirtyBitmap,
  iommufdHwptInvalidate,
  iommufdHwptSetDirtyTracking,
} from "./hw-pagetable.js";
import {
  iommufdIoasAllocIoctl,
  iommufdIoasAllowIovas,
  iommufdIoasChangeProcess,
  iommufdIoasCopy,
  iommufdIoasIovaRanges,
  iommufdIoasMap,
  iommufdIoasMapFile,
  iommufdIoasNoiommuGetPa,
  iommufdIoasUnmap,
  iommufdOption,
  iommufdVfioIoas,
} from "./ioas.js";
import { iommufdDestroy } from "./main.js";
import type { Ucmd } from "./ucmd.js";
import {
  iommufdHwQueueAllocIoctl,
  iommufdVdeviceAllocIoctl,
  iommufdViommuAllocIoctl,
} from "./viommu.js";

export const IOMMUFD_HANDLERS: Readonly<Record<string, (ucmd: Ucmd) => void>> = {
  IOMMU_DESTROY: iommufdDestroy,
  IOMMU_IOAS_ALLOC: iommufdIoasAllocIoctl,
  IOMMU_IOAS_ALLOW_IOVAS: iommufdIoasAllowIovas,
  IOMMU_IOAS_COPY: iommufdIoasCopy,
  IOMMU_IOAS_IOVA_RANGES: iommufdIoasIovaRanges,
  IOMMU_IOAS_MAP: iommufdIoasMap,
  IOMMU_IOAS_UNMAP: iommufdIoasUnmap,
  IOMMU_OPTION: iommufdOption,
  IOMMU_VFIO_IOAS: iommufdVfioIoas,
  IOMMU_HWPT_ALLOC: iommufdHwptAlloc,
  IOMMU_GET_HW_INFO: iommufdGetHwInfo,
  IOMMU_HWPT_SET_DIRTY_TRACKING: iommufdHwptSetDirtyTracking,
  IOMMU_HWPT_GET_DIRTY_BITMAP: iommufdHwptGetDirtyBitmap,
  IOMMU_HWPT_INVALIDATE: iommufdHwptInvalidate,
  IOMMU_FAULT_QUEUE_ALLOC: iommufdFaultAlloc,
  IOMMU_IOAS_MAP_FILE: iommufdIoasMapFile,
  IOMMU_VIOMMU_ALLOC: iommufdViommuAllocIoctl,
  IOMMU_VDEVICE_ALLOC: iommufdVdeviceAllocIoctl,
  IOMMU_IOAS_CHANGE_PROCESS: iommufdIoasChangeProcess,
  IOMMU_VEVENTQ_ALLOC: iommufdVeventqAlloc,
  IOMMU_HW_QUEUE_ALLOC: iommufdHwQueueAllocIoctl,
  IOMMU_IOAS_NOIOMMU_GET_PA: iommufdIoasNoiommuGetPa,
};
