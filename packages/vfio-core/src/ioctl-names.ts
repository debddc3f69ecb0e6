/**
 * The names of the ioctls a VFIO or IOMMUFD file answers, for reading syscall traces. The
 * kernel trace bus records a request as its C definition (`_IO(';', 0x66)`, uapi/ioctl.ts
 * `formatIoctl`); turning it back into `VFIO_GROUP_SET_CONTAINER` needs the kind of file the fd
 * is, because the UAPI reuses numbers across files: VFIO_IOMMU_MAP_DMA (container) and
 * VFIO_DEVICE_PCI_HOT_RESET (device) are both `_IO(';', 0x71)`.
 *
 * Shared by the VMM fixture's `normalizeTrace()` (vfio-platform/testing) and viz's sequence
 * diagrams, so both name a request the same way.
 *
 * Caveat: only the VFIO and IOMMUFD ioctls below get names; generic ones (FIONBIO, FIOCLEX…)
 * and those of other files keep the trace's spelling.
 */

import {
  IOMMU_DESTROY,
  IOMMU_GET_HW_INFO,
  IOMMU_HWPT_ALLOC,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_ALLOW_IOVAS,
  IOMMU_IOAS_COPY,
  IOMMU_IOAS_IOVA_RANGES,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_MAP_FILE,
  IOMMU_IOAS_NOIOMMU_GET_PA,
  IOMMU_IOAS_UNMAP,
  IOMMU_OPTION,
  IOMMU_VFIO_IOAS,
} from "@vfio-lab/iommufd";
import { formatIoctl } from "@vfio-lab/kernel";
import {
  VFIO_CHECK_EXTENSION,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  VFIO_DEVICE_FEATURE,
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_GET_REGION_INFO,
  VFIO_DEVICE_RESET,
  VFIO_DEVICE_SET_IRQS,
  VFIO_GET_API_VERSION,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_GET_STATUS,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_GROUP_UNSET_CONTAINER,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_UNMAP_DMA,
  VFIO_SET_IOMMU,
} from "@vfio-lab/kernel/uapi";

/** What an fd is, by the path it was opened from (or the syscall that made it). */
export type VfioFdKind = "container" | "group" | "device" | "iommufd" | "eventfd" | "other";

function names(table: Readonly<Record<string, number>>): ReadonlyMap<string, string> {
  return new Map(Object.entries(table).map(([name, nr]) => [formatIoctl(nr), name]));
}

/** The ioctls each kind of fd answers, by the request as the trace formats it. */
const IOCTL_NAMES: Readonly<Record<VfioFdKind, ReadonlyMap<string, string>>> = {
  container: names({
    VFIO_GET_API_VERSION,
    VFIO_CHECK_EXTENSION,
    VFIO_SET_IOMMU,
    VFIO_IOMMU_GET_INFO,
    VFIO_IOMMU_MAP_DMA,
    VFIO_IOMMU_UNMAP_DMA,
  }),
  group: names({
    VFIO_GROUP_GET_STATUS,
    VFIO_GROUP_SET_CONTAINER,
    VFIO_GROUP_UNSET_CONTAINER,
    VFIO_GROUP_GET_DEVICE_FD,
  }),
  device: names({
    VFIO_DEVICE_GET_INFO,
    VFIO_DEVICE_GET_REGION_INFO,
    VFIO_DEVICE_GET_IRQ_INFO,
    VFIO_DEVICE_SET_IRQS,
    VFIO_DEVICE_RESET,
    VFIO_DEVICE_FEATURE,
    VFIO_DEVICE_BIND_IOMMUFD,
    VFIO_DEVICE_ATTACH_IOMMUFD_PT,
    VFIO_DEVICE_DETACH_IOMMUFD_PT,
  }),
  iommufd: names({
    IOMMU_DESTROY,
    IOMMU_IOAS_ALLOC,
    IOMMU_IOAS_IOVA_RANGES,
    IOMMU_IOAS_ALLOW_IOVAS,
    IOMMU_IOAS_MAP,
    IOMMU_IOAS_MAP_FILE,
    IOMMU_IOAS_COPY,
    IOMMU_IOAS_UNMAP,
    IOMMU_IOAS_NOIOMMU_GET_PA,
    IOMMU_OPTION,
    IOMMU_VFIO_IOAS,
    IOMMU_HWPT_ALLOC,
    IOMMU_GET_HW_INFO,
  }),
  eventfd: new Map(),
  other: new Map(),
};

/**
 * The UAPI name of `request` on a file of `kind`, or undefined. `request` is the number, or the
 * trace's spelling of it (`_IO(';', 0x66)`).
 */
export function vfioIoctlName(kind: VfioFdKind, request: number | string): string | undefined {
  const key = typeof request === "number" ? formatIoctl(request >>> 0) : request;
  return IOCTL_NAMES[kind].get(key);
}

/**
 * The kind of file `open(path)` gives: the container (`/dev/vfio/vfio`), a group
 * (`/dev/vfio/N`, `/dev/vfio/noiommu-N`), a device cdev (`/dev/vfio/devices/…`), `/dev/iommu`,
 * or something else.
 */
export function vfioFdKindOfPath(path: string): VfioFdKind {
  if (path === "/dev/vfio/vfio") return "container";
  if (/^\/dev\/vfio\/(noiommu-)?\d+$/.test(path)) return "group";
  if (path.startsWith("/dev/vfio/devices/")) return "device";
  if (path === "/dev/iommu") return "iommufd";
  return "other";
}
