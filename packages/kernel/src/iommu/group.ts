/**
 * `struct iommu_group` (drivers/iommu/iommu.c): the smallest set of devices the IOMMU can
 * isolate from each other. The group holds the domain its devices currently translate
 * through, its default (kernel DMA-API) domain, its blocking domain, and the DMA-ownership
 * state: `ownerCnt` users and, when user space owns the group, the opaque `owner`.
 *
 * Its sysfs directory is `/sys/kernel/iommu_groups/<id>` with `devices/` (a link per member),
 * `reserved_regions` and `type`. The group lives while references remain (one per member device
 * plus any `iommu_group_get()`); the last put frees the id and the directory.
 */

import type { IommuAttachHandle, IommuDomain } from "./domain.js";
import type { IommuClient } from "./iommu-defs.js";

/** `struct group_device`: a member, and the name of its link under `devices/`. */
export interface GroupDevice {
  readonly dev: IommuClient;
  readonly name: string;
  /** Blocked for a pending recovery (PCI reset); never set for platform devices. */
  blocked: boolean;
}

/** The sysfs root of every group (`iommu_group_kset`, made by iommu_init()). */
export const IOMMU_GROUPS_SYSFS = "/sys/kernel/iommu_groups";

export class IommuGroup {
  readonly devices: GroupDevice[] = [];
  /** The current translation of every member (`group->domain`). */
  domain: IommuDomain | null = null;
  defaultDomain: IommuDomain | null = null;
  blockingDomain: IommuDomain | null = null;
  /** DMA-API users or user-space claims (`owner_cnt`). */
  ownerCnt = 0;
  /** The user-space owner (an iommufd context, a VFIO group), or null for kernel use. */
  owner: object | null = null;
  /**
   * `pasid_array`: attach handles by PASID. Only the RID's entry (IOMMU_NO_PASID) is ever made,
   * by iommu_attach_group_handle()/iommu_replace_group_handle(); the ownership rules refuse to
   * change hands while it is non-empty (`!xa_empty()`).
   */
  readonly pasidArray = new Map<number, IommuAttachHandle>();
  /** `group->name`, set only by iommu_group_set_name(). */
  name: string | null = null;
  /** Opaque data a driver stores on the group (`iommu_data`). */
  iommuData: unknown = null;
  /** References (`devices_kobj` refcount): members plus iommu_group_get()s. */
  refs = 1;

  constructor(readonly id: number) {}

  /** `/sys/kernel/iommu_groups/<id>`. */
  get sysfsPath(): string {
    return `${IOMMU_GROUPS_SYSFS}/${this.id}`;
  }

  /** iommu_group_first_dev() */
  firstDev(): IommuClient {
    const gdev = this.devices[0];
    if (!gdev) throw new RangeError(`iommu group ${this.id} has no devices`);
    return gdev.dev;
  }

  /** __dev_to_gdev() */
  gdevOf(dev: IommuClient): GroupDevice | undefined {
    return this.devices.find((g) => g.dev === dev);
  }

  /** How many PASIDs (the RID included) have an attachment: non-zero is `!xa_empty(&pasid_array)`. */
  get pasidCount(): number {
    return this.pasidArray.size;
  }

  /** iommu_group_id() */
  iommuGroupId(): number {
    return this.id;
  }
}
