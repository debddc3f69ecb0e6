/**
 * drivers/iommu/iommu.c: DMA ownership of IOMMU groups (iommufd.md §8, platform-and-hw.md §B.6),
 * the rules that decide whether a group may be handed to user space.
 *
 * A group is in one of three states:
 *   unused       ownerCnt = 0, owner = null, on its default domain
 *   kernel DMA   ownerCnt = n, owner = null, on its default domain — n drivers that do DMA
 *                through the kernel's DMA API (iommu_device_use_default_domain() at bind)
 *   user owned   ownerCnt = n, owner = X,    on its blocking domain (or a user domain X
 *                attached) — claimed by VFIO (whole group) or iommufd (per device, same X)
 * Transitions refuse with the kernel's errno: a kernel driver cannot bind to a user-owned group
 * (EBUSY), user space cannot claim a group a kernel driver uses or another owner holds (EPERM),
 * and ownership cannot be taken while the group is off its default domain (EBUSY). The last
 * release puts the group back on its default domain. Drivers with `driver_managed_dma`
 * (vfio-platform, vfio-amba) never call use/unuse.
 */

import { SysError } from "../errno.js";
import type { IommuGroup } from "./group.js";
import type { IommuCore } from "./iommu.js";
import type { IommuClient } from "./iommu-defs.js";

function traceOwner(core: IommuCore, group: IommuGroup, action: string): void {
  core.emit({
    type: "iommu:owner",
    group: group.id,
    action,
    ownerCnt: group.ownerCnt,
    userOwned: group.owner !== null,
  });
}

/**
 * iommu.c: iommu_device_use_default_domain() — the driver core before probing a driver that
 * does DMA through the kernel API: no group is fine, a group still without a default domain
 * defers (EPROBE_DEFER), a group owned by user space or off its default domain is EBUSY.
 */
export function iommuDeviceUseDefaultDomain(core: IommuCore, dev: IommuClient): void {
  const fn = "iommu_device_use_default_domain";
  const group = core.deviceGroup(dev);
  if (!group) return;
  if (!group.defaultDomain) {
    throw new SysError("EPROBE_DEFER", fn, `group ${group.id} has no default domain yet`);
  }
  if (group.ownerCnt) {
    if (group.domain !== group.defaultDomain || group.owner || group.pasidCount) {
      throw new SysError("EBUSY", fn, `group ${group.id} is owned by user space`);
    }
  }
  group.ownerCnt++;
  traceOwner(core, group, "use");
}

/** iommu.c: iommu_device_unuse_default_domain() — after the driver's remove. */
export function iommuDeviceUnuseDefaultDomain(core: IommuCore, dev: IommuClient): void {
  const group = core.deviceGroup(dev);
  if (!group) return;
  // WARN_ON(): an unbalanced unuse changes nothing.
  if (!group.ownerCnt || group.pasidCount) return;
  group.ownerCnt--;
  traceOwner(core, group, "unuse");
}

/** iommu.c: __iommu_group_alloc_blocking_domain() */
function iommuGroupAllocBlockingDomain(core: IommuCore, group: IommuGroup): void {
  if (group.blockingDomain) return;
  const dev = group.firstDev();
  const ops = core.devIommuOps(dev);
  if (ops.blockedDomain) {
    group.blockingDomain = ops.blockedDomain;
    return;
  }
  // A driver without a BLOCKED domain gets an empty paging domain instead.
  group.blockingDomain = core.iommuPagingDomainAlloc(dev);
}

/** iommu.c: __iommu_take_dma_ownership() — the group moves to its blocking domain. */
function iommuTakeDmaOwnership(core: IommuCore, group: IommuGroup, owner: object): void {
  if ((group.domain && group.domain !== group.defaultDomain) || group.pasidCount) {
    throw new SysError(
      "EBUSY",
      "__iommu_take_dma_ownership",
      `group ${group.id} is not in its default domain`,
    );
  }
  iommuGroupAllocBlockingDomain(core, group);
  core.iommuGroupSetDomain(group, group.blockingDomain!);
  group.owner = owner;
  group.ownerCnt++;
}

/**
 * iommu.c: iommu_group_claim_dma_owner() — legacy VFIO's whole-group claim: EINVAL without an
 * owner, EPERM while any user (a kernel driver, or a claim) holds the group.
 */
export function iommuGroupClaimDmaOwner(
  core: IommuCore,
  group: IommuGroup,
  owner: object | null,
): void {
  const fn = "iommu_group_claim_dma_owner";
  if (!owner) throw new SysError("EINVAL", fn, "no owner");
  if (group.ownerCnt) throw new SysError("EPERM", fn, `group ${group.id} is in use`);
  iommuTakeDmaOwnership(core, group, owner);
  traceOwner(core, group, "claim");
}

/**
 * iommu.c: iommu_device_claim_dma_owner() — iommufd's per-device claim: EINVAL without an
 * owner, ENODEV without a group, EPERM when another owner (or a kernel driver) holds the
 * group; the same owner just counts one more user.
 */
export function iommuDeviceClaimDmaOwner(
  core: IommuCore,
  dev: IommuClient,
  owner: object | null,
): void {
  const fn = "iommu_device_claim_dma_owner";
  if (!owner) throw new SysError("EINVAL", fn, "no owner");
  const group = core.deviceGroup(dev);
  if (!group) throw new SysError("ENODEV", fn, `${dev.name} has no IOMMU group`);
  if (group.ownerCnt) {
    if (group.owner !== owner) {
      throw new SysError("EPERM", fn, `group ${group.id} is used by someone else`);
    }
    group.ownerCnt++;
  } else {
    iommuTakeDmaOwnership(core, group, owner);
  }
  traceOwner(core, group, "claim");
}

/** iommu.c: __iommu_release_dma_ownership() — back to the default domain. */
function iommuReleaseDmaOwnership(core: IommuCore, group: IommuGroup): void {
  // WARN_ON(): releasing what nobody claimed changes nothing.
  if (!group.ownerCnt || !group.owner || group.pasidCount) return;
  group.ownerCnt = 0;
  group.owner = null;
  if (group.defaultDomain) core.iommuGroupSetDomainNofail(group, group.defaultDomain);
}

/** iommu.c: iommu_group_release_dma_owner() */
export function iommuGroupReleaseDmaOwner(core: IommuCore, group: IommuGroup): void {
  iommuReleaseDmaOwnership(core, group);
  traceOwner(core, group, "release");
}

/** iommu.c: iommu_device_release_dma_owner() — the last user gives the group back. */
export function iommuDeviceReleaseDmaOwner(core: IommuCore, dev: IommuClient): void {
  const group = core.deviceGroup(dev);
  if (!group) return;
  if (group.ownerCnt > 1) group.ownerCnt--;
  else iommuReleaseDmaOwnership(core, group);
  traceOwner(core, group, "release");
}
