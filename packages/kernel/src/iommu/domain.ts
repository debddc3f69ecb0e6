/**
 * `struct iommu_domain` (include/linux/iommu.h): a translation context that devices attach to —
 * a paging domain (the kernel's DMA domain or one a user owns), the identity (bypass) domain or
 * the blocking domain — and `struct iommu_iotlb_gather`, the range of IOVAs an unmap has left
 * stale in the IOTLB until the next sync.
 */

import type { IommuDmaCookie } from "./dma-iommu.js";
import {
  __IOMMU_DOMAIN_PAGING,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  type IommuDomainOps,
  type IommuOps,
} from "./iommu-defs.js";

/** `domain->geometry`: the IOVA range the domain can translate. */
export interface IommuDomainGeometry {
  apertureStart: number;
  apertureEnd: number;
  /** DMA outside the aperture is not possible at all. */
  forceAperture: boolean;
}

/**
 * `enum iommu_domain_cookie_type`; "iommufd" is IOMMU_COOKIE_IOMMUFD, which iommufd sets on the
 * domain of every HWPT it allocates.
 */
export type IommuCookieType = "none" | "dma-iova" | "dma-msi" | "iommufd";

export class IommuDomain {
  /** `IOMMU_DOMAIN_*`; the core sets it once the driver has built the domain. */
  type: number;
  ops: IommuDomainOps;
  /** The driver that made it (`domain->owner`); undefined for a driver's static domains. */
  owner: IommuOps | undefined;
  /** Page sizes the domain can map, as a bit per size (`pgsize_bitmap`); 0 for non-paging. */
  pgsizeBitmap = 0;
  readonly geometry: IommuDomainGeometry = {
    apertureStart: 0,
    apertureEnd: 0,
    forceAperture: false,
  };
  cookieType: IommuCookieType = "none";
  /** The DMA-API state of a DMA domain (`domain->iova_cookie`). */
  iovaCookie: IommuDmaCookie | null = null;
  /**
   * The iommufd HWPT this domain backs (`domain->iommufd_hwpt`, with cookie type "iommufd"):
   * opaque to the core, which never looks inside; iommufd sets and reads it.
   */
  iommufdHwpt: object | null = null;

  constructor(type: number, ops: IommuDomainOps) {
    this.type = type;
    this.ops = ops;
    this.owner = undefined;
  }

  /** `domain->type & __IOMMU_DOMAIN_PAGING`: iommu_map()/iommu_unmap() work on it. */
  get isPaging(): boolean {
    return (this.type & __IOMMU_DOMAIN_PAGING) !== 0;
  }

  /** The sysfs/trace spelling of the type (`DMA`, `DMA-FQ`, `identity` …). */
  get typeName(): string {
    switch (this.type) {
      case IOMMU_DOMAIN_BLOCKED:
        return "blocked";
      case IOMMU_DOMAIN_IDENTITY:
        return "identity";
      case IOMMU_DOMAIN_UNMANAGED:
        return "unmanaged";
      case IOMMU_DOMAIN_DMA:
        return "DMA";
      case IOMMU_DOMAIN_DMA_FQ:
        return "DMA-FQ";
      default:
        return "unknown";
    }
  }
}

/**
 * `struct iommu_iotlb_gather`: `start` begins at ULONG_MAX (here +Infinity) so that an empty
 * gather has `start > end`. `queued` means the IOVAs go to a flush queue instead of an
 * immediate invalidation (lazy mode).
 */
export class IommuIotlbGather {
  start = Number.POSITIVE_INFINITY;
  end = 0;
  pgsize = 0;
  queued = false;

  /** iommu_iotlb_gather_init() */
  init(): void {
    this.start = Number.POSITIVE_INFINITY;
    this.end = 0;
    this.pgsize = 0;
    this.queued = false;
  }

  /** iommu_iotlb_gather_is_disjoint() */
  isDisjoint(iova: number, size: number): boolean {
    const end = iova + size - 1;
    return this.end !== 0 && (end + 1 < this.start || iova > this.end + 1);
  }

  /** iommu_iotlb_gather_add_range() */
  addRange(iova: number, size: number): void {
    const end = iova + size - 1;
    if (this.start > iova) this.start = iova;
    if (this.end < end) this.end = end;
  }
}

/** include/linux/iommu.h: iommu_iotlb_sync() — flush what the gather holds, then reset it. */
export function iommuIotlbSync(domain: IommuDomain, gather: IommuIotlbGather): void {
  if (domain.ops.iotlbSync && gather.start < gather.end) domain.ops.iotlbSync(domain, gather);
  gather.init();
}

/**
 * include/linux/iommu.h: iommu_iotlb_gather_add_page() — a page of a different size, or one
 * that would leave a hole, forces the gathered range to be flushed first.
 */
export function iommuIotlbGatherAddPage(
  domain: IommuDomain,
  gather: IommuIotlbGather,
  iova: number,
  size: number,
): void {
  if ((gather.pgsize && gather.pgsize !== size) || gather.isDisjoint(iova, size)) {
    iommuIotlbSync(domain, gather);
  }
  gather.pgsize = size;
  gather.addRange(iova, size);
}

/**
 * `struct iommu_attach_handle` (include/linux/iommu.h): what a caller of
 * iommu_attach_group_handle()/iommu_replace_group_handle() leaves in the group's pasid_array
 * for the RID while its domain is attached; the core fills in `domain`. iommufd embeds it in its
 * own `struct iommufd_attach_handle` (here: subclasses it) to find its device again from the
 * group, as iommufd_device_get_attach_handle() does through iommu_attach_handle_get().
 */
export class IommuAttachHandle {
  /** The domain the handle is offered with (the core sets it when the handle is passed in). */
  domain: IommuDomain | null = null;
}
