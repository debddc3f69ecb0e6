import { describe, expect, it } from "vitest";
import { KconfigError, resolveKernelConfig } from "./kconfig.js";

describe("Kconfig resolution", () => {
  it("defaults to the oracle kernel: VFIO's own container, cdev, no-IOMMU with its IOMMUFD page table", () => {
    expect(resolveKernelConfig()).toEqual({
      CONFIG_VFIO_GROUP: true,
      CONFIG_VFIO_CONTAINER: true,
      CONFIG_VFIO_DEVICE_CDEV: true,
      CONFIG_VFIO_NOIOMMU: true,
      CONFIG_IOMMUFD_VFIO_CONTAINER: false,
      CONFIG_IOMMUFD_NOIOMMU: true,
      CONFIG_ARM_SMMU_V3_IOMMUFD: true,
      CONFIG_TRANSPARENT_HUGEPAGE: true,
    });
  });

  it("turning VFIO_CONTAINER off makes IOMMUFD provide /dev/vfio/vfio (its Kconfig default)", () => {
    const c = resolveKernelConfig({ CONFIG_VFIO_CONTAINER: false });
    expect(c.CONFIG_IOMMUFD_VFIO_CONTAINER).toBe(true);
  });

  it("IOMMUFD_NOIOMMU is selected only with both no-IOMMU and the cdev", () => {
    expect(resolveKernelConfig({ CONFIG_VFIO_DEVICE_CDEV: false }).CONFIG_IOMMUFD_NOIOMMU).toBe(
      false,
    );
    expect(resolveKernelConfig({ CONFIG_VFIO_NOIOMMU: false }).CONFIG_IOMMUFD_NOIOMMU).toBe(false);
  });

  it("refuses combinations Kconfig cannot produce", () => {
    expect(() => resolveKernelConfig({ CONFIG_IOMMUFD_VFIO_CONTAINER: true })).toThrow(
      KconfigError,
    );
    expect(() =>
      resolveKernelConfig({ CONFIG_VFIO_GROUP: false, CONFIG_VFIO_CONTAINER: true }),
    ).toThrow(KconfigError);
    expect(() =>
      resolveKernelConfig({ CONFIG_VFIO_GROUP: false, CONFIG_VFIO_DEVICE_CDEV: false }),
    ).toThrow(KconfigError);
    expect(() =>
      resolveKernelConfig({
        CONFIG_VFIO_CONTAINER: false,
        CONFIG_IOMMUFD_VFIO_CONTAINER: false,
        CONFIG_VFIO_NOIOMMU: true,
      }),
    ).toThrow(KconfigError);
  });

  it("a kernel without the group interface still has the cdev and no-IOMMU", () => {
    const c = resolveKernelConfig({ CONFIG_VFIO_GROUP: false });
    expect(c.CONFIG_VFIO_CONTAINER).toBe(false);
    expect(c.CONFIG_IOMMUFD_VFIO_CONTAINER).toBe(false);
    expect(c.CONFIG_IOMMUFD_NOIOMMU).toBe(true);
  });
});
