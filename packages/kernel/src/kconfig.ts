/**
 * The build-time options that change what user space sees (Kconfig), chosen at boot.
 *
 * A real kernel fixes these when it is built; the model takes them as a boot option so that one
 * notebook can compare, say, the VFIO container with IOMMUFD's emulation of it. Names are
 * Linux's. Unset options take the value of the oracle kernel (`../shared/oracle/`, Linux 7.3 with
 * VFIO and IOMMUFD as modules) except where noted, and the options that Kconfig derives are derived the way
 * drivers/vfio/Kconfig and drivers/iommu/iommufd/Kconfig derive them: an option can only be set
 * when its `depends on` holds, `default` expressions follow the options they name, and `select`
 * forces the selected option on. A combination Kconfig could never produce is refused.
 */

/** The options a caller may set. */
export interface KernelConfigInput {
  /** VFIO group support: `/dev/vfio/$GROUP` (default y). */
  readonly CONFIG_VFIO_GROUP?: boolean;
  /** VFIO's own container `/dev/vfio/vfio` and the type1 backend (default y; needs VFIO_GROUP). */
  readonly CONFIG_VFIO_CONTAINER?: boolean;
  /** The device cdev `/dev/vfio/devices/vfioN` (y in the oracle kernel). */
  readonly CONFIG_VFIO_DEVICE_CDEV?: boolean;
  /** No-IOMMU mode (y in the oracle kernel). */
  readonly CONFIG_VFIO_NOIOMMU?: boolean;
  /**
   * IOMMUFD serves `/dev/vfio/vfio` (vfio_compat.c). Kconfig: depends on VFIO_GROUP &&
   * !VFIO_CONTAINER, and defaults to exactly that — so turning VFIO_CONTAINER off turns it on.
   */
  readonly CONFIG_IOMMUFD_VFIO_CONTAINER?: boolean;
  /**
   * arm-smmu-v3's IOMMUFD support (hw_info, vIOMMU sizing). Debian's arm64 kernels build it, so
   * it defaults to y here although the oracle's minimal configuration leaves it off (there it
   * makes IOMMU_GET_HW_INFO report IOMMU_HW_INFO_TYPE_NONE).
   */
  readonly CONFIG_ARM_SMMU_V3_IOMMUFD?: boolean;
  /**
   * Transparent huge pages. Debian's kernels build them, so the default is y; the oracle's
   * minimal kernel has them off. The model's mm never makes a huge page either way: the option
   * only changes what code outside mm derives from it — iommufd's automatic IOVA choice aligns
   * up to HPAGE_SIZE (2 MiB) with it and up to PAGE_SIZE without.
   */
  readonly CONFIG_TRANSPARENT_HUGEPAGE?: boolean;
}

/** The resolved configuration. */
export interface KernelConfig extends Required<KernelConfigInput> {
  /** The software-only IO page table for no-IOMMU cdevs: selected by VFIO_NOIOMMU && VFIO_DEVICE_CDEV. */
  readonly CONFIG_IOMMUFD_NOIOMMU: boolean;
}

/** Thrown for an option set Kconfig cannot produce. */
export class KconfigError extends Error {
  override readonly name = "KconfigError";
}

/** Resolves `input` as `make olddefconfig` would on top of the oracle kernel's choices. */
export function resolveKernelConfig(input: KernelConfigInput = {}): KernelConfig {
  const group = input.CONFIG_VFIO_GROUP ?? true;
  const container = input.CONFIG_VFIO_CONTAINER ?? group;
  if (container && !group) {
    throw new KconfigError("CONFIG_VFIO_CONTAINER depends on CONFIG_VFIO_GROUP");
  }
  const iommufdContainer = input.CONFIG_IOMMUFD_VFIO_CONTAINER ?? (group && !container);
  if (iommufdContainer && !(group && !container)) {
    throw new KconfigError(
      "CONFIG_IOMMUFD_VFIO_CONTAINER depends on CONFIG_VFIO_GROUP && !CONFIG_VFIO_CONTAINER",
    );
  }
  // VFIO selects VFIO_DEVICE_CDEV when there is no group interface at all.
  const cdev = input.CONFIG_VFIO_DEVICE_CDEV ?? true;
  if (!group && !cdev) {
    throw new KconfigError("CONFIG_VFIO selects CONFIG_VFIO_DEVICE_CDEV when !CONFIG_VFIO_GROUP");
  }
  const noiommu = input.CONFIG_VFIO_NOIOMMU ?? true;
  if (noiommu && group && !(container || iommufdContainer)) {
    throw new KconfigError(
      "CONFIG_VFIO_NOIOMMU depends on !CONFIG_VFIO_GROUP || CONFIG_VFIO_CONTAINER || CONFIG_IOMMUFD_VFIO_CONTAINER",
    );
  }
  return {
    CONFIG_VFIO_GROUP: group,
    CONFIG_VFIO_CONTAINER: container,
    CONFIG_VFIO_DEVICE_CDEV: cdev,
    CONFIG_VFIO_NOIOMMU: noiommu,
    CONFIG_IOMMUFD_VFIO_CONTAINER: iommufdContainer,
    CONFIG_IOMMUFD_NOIOMMU: noiommu && cdev,
    CONFIG_ARM_SMMU_V3_IOMMUFD: input.CONFIG_ARM_SMMU_V3_IOMMUFD ?? true,
    CONFIG_TRANSPARENT_HUGEPAGE: input.CONFIG_TRANSPARENT_HUGEPAGE ?? true,
  };
}
