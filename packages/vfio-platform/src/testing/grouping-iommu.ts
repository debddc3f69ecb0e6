/**
 * A grouping IOMMU driver for the shared-group board (boards.ts `sharedGroup()`): every device
 * behind it lands in one IOMMU group, as drivers that call generic_single_device_group() do
 * (rockchip-iommu, sun50i-iommu, ipmmu-vmsa in drivers/iommu/). arm-smmu-v3 never groups two
 * platform devices (it refuses aliasing StreamIDs instead), so the scenarios need this to show
 * what a shared group means for VFIO ownership.
 *
 * It registers after boot, as a modular IOMMU driver would; the driver core's deferred probes
 * of the devices behind it (which waited on `of_iommu_configure`) then finish with the group in
 * place.
 *
 * Caveat:
 * - The `vfio-lab,mock-iommu` node has no hardware model, so its domains translate nothing and
 *   an engine's DMA behind it reaches physical memory untranslated: scenarios on this board
 *   assert ownership and viability only, never DMA isolation.
 * - It claims IOMMU_CAP_CACHE_COHERENCY so that VFIO accepts its devices (vfio_register_group_dev
 *   refuses a group without it).
 */

import {
  IOMMU_CAP_CACHE_COHERENCY,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  IommuDevice,
  IommuDomain,
  type IommuDomainOps,
  type IommuOps,
  type Kernel,
  type PlatformDevice,
  PlatformDriver,
} from "@vfio-lab/kernel";

/** The IOMMU driver's name (`/sys/bus/platform/drivers/<name>`). */
export const GROUPING_IOMMU_DRIVER = "vfio-lab-grouping-iommu";

/** iommu_ops of the grouping IOMMU for the IOMMU device `iommu` (probed at `hw`). */
function groupingIommuOps(kernel: Kernel, iommu: IommuDevice): IommuOps {
  const core = kernel.iommu;
  const domainOps: IommuDomainOps = {
    attachDev: () => {},
    mapPages: () => {},
    unmapPages: () => 0,
  };
  return {
    name: GROUPING_IOMMU_DRIVER,
    identityDomain: new IommuDomain(IOMMU_DOMAIN_IDENTITY, domainOps),
    blockedDomain: new IommuDomain(IOMMU_DOMAIN_BLOCKED, domainOps),
    defaultDomainOps: domainOps,
    capable: (_dev, cap) => cap === IOMMU_CAP_CACHE_COHERENCY,
    probeDevice: () => iommu,
    // One group for every device behind this IOMMU: the point of the board.
    deviceGroup: (dev) => core.genericSingleDeviceGroup(dev),
    ofXlate: (dev, args) => core.iommuFwspecAddIds(dev, args),
    domainAllocPaging: () => {
      const d = new IommuDomain(IOMMU_DOMAIN_UNMANAGED, domainOps);
      d.pgsizeBitmap = 0x1000;
      d.geometry.apertureEnd = 2 ** 32 - 1;
      return d;
    },
  };
}

/**
 * Registers the grouping IOMMU's platform driver (`vfio-lab,mock-iommu`); its probe registers
 * the IOMMU with the IOMMU core, and its successful bind retriggers the deferred probes of the
 * devices behind it, as any driver bind does in Linux (dd.c: driver_bound()).
 */
export function registerGroupingIommu(kernel: Kernel): PlatformDriver {
  const drv = new PlatformDriver({
    name: GROUPING_IOMMU_DRIVER,
    ofMatchTable: [{ compatible: "vfio-lab,mock-iommu" }],
    probe: (pdev: PlatformDevice) => {
      const iommu = new IommuDevice(pdev);
      kernel.iommu.iommuDeviceRegister(iommu, groupingIommuOps(kernel, iommu), pdev);
      pdev.driverData = iommu;
    },
  });
  kernel.drivers.registerDriver(drv);
  return drv;
}
