/**
 * include/linux/iommu.h: the constants of the IOMMU API (mapping protections, domain types,
 * capabilities, reserved-region types) and the interfaces between the IOMMU core, the IOMMU
 * drivers and the devices they translate for.
 *
 * The driver core owns `struct device`; the IOMMU layer needs only what it reads of one, so a
 * device is an `IommuClient`. Everything the IOMMU layer keeps per device (`dev->iommu`,
 * `dev->iommu_group`, the DMA masks) lives in the IOMMU core's own tables, keyed by the client
 * object, so the driver core never has to carry IOMMU fields.
 */

import type { DtNode } from "@vfio-lab/hw-soc";
import type { PrintkDevice } from "../printk/dev-printk.js";
import type { DeviceDmaParams } from "./dma-mapping.js";
import type { IommuDomain, IommuIotlbGather } from "./domain.js";
import type { IommuGroup } from "./group.js";

/** Mapping protections (`IOMMU_READ` …). */
export const IOMMU_READ = 1 << 0;
export const IOMMU_WRITE = 1 << 1;
/** DMA cache coherency. */
export const IOMMU_CACHE = 1 << 2;
export const IOMMU_NOEXEC = 1 << 3;
/** MMIO targets, e.g. MSI doorbells. */
export const IOMMU_MMIO = 1 << 4;
export const IOMMU_PRIV = 1 << 5;

/** Domain type bits (`__IOMMU_DOMAIN_*`). */
export const __IOMMU_DOMAIN_PAGING = 1 << 0;
export const __IOMMU_DOMAIN_DMA_API = 1 << 1;
export const __IOMMU_DOMAIN_PT = 1 << 2;
export const __IOMMU_DOMAIN_DMA_FQ = 1 << 3;
export const __IOMMU_DOMAIN_SVA = 1 << 4;
export const __IOMMU_DOMAIN_PLATFORM = 1 << 5;
export const __IOMMU_DOMAIN_NESTED = 1 << 6;

/** Domain types. */
export const IOMMU_DOMAIN_BLOCKED = 0;
export const IOMMU_DOMAIN_IDENTITY = __IOMMU_DOMAIN_PT;
export const IOMMU_DOMAIN_UNMANAGED = __IOMMU_DOMAIN_PAGING;
export const IOMMU_DOMAIN_DMA = __IOMMU_DOMAIN_PAGING | __IOMMU_DOMAIN_DMA_API;
export const IOMMU_DOMAIN_DMA_FQ =
  __IOMMU_DOMAIN_PAGING | __IOMMU_DOMAIN_DMA_API | __IOMMU_DOMAIN_DMA_FQ;
export const IOMMU_DOMAIN_SVA = __IOMMU_DOMAIN_SVA;
export const IOMMU_DOMAIN_PLATFORM = __IOMMU_DOMAIN_PLATFORM;
export const IOMMU_DOMAIN_NESTED = __IOMMU_DOMAIN_NESTED;

/** `enum iommu_cap`. */
export const IOMMU_CAP_CACHE_COHERENCY = 0;
export const IOMMU_CAP_NOEXEC = 1;
export const IOMMU_CAP_PRE_BOOT_PROTECTION = 2;
export const IOMMU_CAP_ENFORCE_CACHE_COHERENCY = 3;
export const IOMMU_CAP_DEFERRED_FLUSH = 4;
export const IOMMU_CAP_DIRTY_TRACKING = 5;
export const IOMMU_CAP_PCI_ATS_SUPPORTED = 6;
export type IommuCap = 0 | 1 | 2 | 3 | 4 | 5 | 6;

/** `enum iommu_resv_type`. */
export const IOMMU_RESV_DIRECT = 0;
export const IOMMU_RESV_DIRECT_RELAXABLE = 1;
export const IOMMU_RESV_RESERVED = 2;
export const IOMMU_RESV_MSI = 3;
export const IOMMU_RESV_SW_MSI = 4;
export type IommuResvType = 0 | 1 | 2 | 3 | 4;

/** The sysfs names of the reserved-region types (`iommu_group_resv_type_string`). */
export const IOMMU_RESV_TYPE_NAMES: readonly string[] = [
  "direct",
  "direct-relaxable",
  "reserved",
  "msi",
  "msi",
];

/** `enum iommufd_hwpt_alloc_flags` (include/uapi/linux/iommufd.h), as domain_alloc takes them. */
export const IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0;
export const IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1;
export const IOMMU_HWPT_ALLOC_PASID = 1 << 3;

/** Reserved for DMA without a PASID. */
export const IOMMU_NO_PASID = 0;

/** `enum iommu_hw_info_type` (include/uapi/linux/iommufd.h): what `hw_info()` returns. */
export const IOMMU_HW_INFO_TYPE_NONE = 0;
/** As an input: "the driver's own type" (same value as NONE). */
export const IOMMU_HW_INFO_TYPE_DEFAULT = 0;
export const IOMMU_HW_INFO_TYPE_INTEL_VTD = 1;
export const IOMMU_HW_INFO_TYPE_ARM_SMMUV3 = 2;
export const IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV = 3;
export const IOMMU_HW_INFO_TYPE_AMD = 4;

/** `enum iommu_hw_info_arm_smmuv3_flags`. */
export const IOMMU_HW_INFO_ARM_SMMUV3_ERRATA_REPEAT_TLBI_CFGI = 1 << 0;

/** `enum iommu_viommu_type`: what `get_viommu_size()`/`viommu_init()` are asked for. */
export const IOMMU_VIOMMU_TYPE_DEFAULT = 0;
export const IOMMU_VIOMMU_TYPE_ARM_SMMUV3 = 1;
export const IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV = 2;

/**
 * A device as the IOMMU layer sees it (what it reads of `struct device`): dev_name(), the bus
 * name, the bound driver's name (`dev->driver`, undefined while unbound), its sysfs directory
 * and its device-tree node. The driver core's `Device` has exactly these members, so it can be
 * passed as is. The object is the key of every per-device table here (`dev->iommu`,
 * `dev->iommu_group`, the DMA masks), so a device must always be the same object.
 */
export interface IommuClient extends PrintkDevice {
  /** dev_name(): `c030000.dma-test`. */
  readonly name: string;
  /** The device's sysfs directory (`/sys/devices/platform/…`), null before device_add(). */
  readonly kobjPath: string | null;
  /** The device-tree node (`dev->of_node`), or null for a device the tree does not describe. */
  readonly dtNode: DtNode | null;
  /** The DMA masks and coherency, when the driver core keeps them in the device. */
  readonly dma?: DeviceDmaParams;
}

/**
 * `struct iommu_user_data`: a driver-specific user structure iommufd passes through to
 * domain_alloc_paging_flags()/viommu_init() — its type (`enum iommu_hwpt_data_type`), user
 * address and length in the calling process.
 */
export interface IommuUserData {
  readonly type: number;
  readonly uptr: number;
  readonly len: number;
}

/**
 * What `hw_info()` returns: the payload (its length is C's `*length`) and the payload's
 * `enum iommu_hw_info_type` (C's in/out `*type` on the way out).
 */
export interface IommuHwInfo {
  readonly data: Uint8Array;
  readonly type: number;
}

/**
 * The part of `struct iommufd_viommu` an IOMMU driver's viommu_init() reads: the vIOMMU type
 * the user asked for and the IOMMU instance it sits on (`viommu->iommu_dev`). iommufd owns the
 * object; the kernel side never imports iommufd.
 */
export interface IommufdViommuCore {
  readonly type: number;
  readonly iommuDev: IommuDevice;
}

/** `struct iommu_resv_region`. */
export interface IommuResvRegion {
  readonly start: number;
  readonly length: number;
  readonly prot: number;
  readonly type: IommuResvType;
}

/** `struct iommu_fwspec`: which IOMMU translates for a device, and its IDs there. */
export interface IommuFwspec {
  /** The IOMMU's firmware node (`iommu_fwnode`): its device-tree node. */
  readonly iommuFwnode: DtNode;
  /** StreamIDs (for an SMMU), in the order of the `iommus` entries. */
  readonly ids: number[];
}

/**
 * `struct iommu_device`: one registered IOMMU instance. Drivers create it and hand it to
 * `iommuDeviceRegister()`; the core fills in `ops`, `fwnode` and `ready`.
 */
export class IommuDevice {
  ops: IommuOps | null = null;
  /** The hardware's firmware node, which `iommus` phandles point at. */
  fwnode: DtNode | null = null;
  /** Set once every bus has been probed (iommu_device_register()). */
  ready = false;
  /** The most PASIDs a device behind it may use. */
  maxPasids = 0;
  /** The group shared by every device for generic_single_device_group(). */
  singletonGroup: IommuGroup | null = null;
  /** The class device `/sys/class/iommu/<name>`, once iommu_device_sysfs_add() made it. */
  sysfsPath: string | null = null;

  constructor(
    /** The IOMMU's own (platform) device. */
    readonly hwdev: IommuClient,
  ) {}
}

/** The arguments of one `iommus` entry (`struct of_phandle_args` without the node). */
export type OfPhandleArgs = readonly number[];

/** `struct iommu_domain_ops`: what a domain can do. Failing calls throw `SysError`. */
export interface IommuDomainOps {
  /** attach_dev(): make `dev` translate through `domain` (`old` is its current domain). */
  attachDev(domain: IommuDomain, dev: IommuClient, old: IommuDomain | null): void;
  /**
   * map_pages(): map `pgcount` pages of `pgsize` bytes. `mapped.value` grows by what was mapped
   * even when it throws (iommu_map() unmaps that much again).
   */
  mapPages?(
    domain: IommuDomain,
    iova: number,
    paddr: number,
    pgsize: number,
    pgcount: number,
    prot: number,
    mapped: { value: number },
  ): void;
  /** unmap_pages(): returns the bytes unmapped (0 when nothing was mapped there). */
  unmapPages?(
    domain: IommuDomain,
    iova: number,
    pgsize: number,
    pgcount: number,
    gather: IommuIotlbGather,
  ): number;
  flushIotlbAll?(domain: IommuDomain): void;
  iotlbSync?(domain: IommuDomain, gather: IommuIotlbGather): void;
  /** iova_to_phys(): 0 when unmapped. */
  iovaToPhys?(domain: IommuDomain, iova: number): number;
  enforceCacheCoherency?(domain: IommuDomain): boolean;
  free?(domain: IommuDomain): void;
}

/** `struct iommu_ops`: an IOMMU driver. Failing calls throw `SysError`. */
export interface IommuOps {
  /** The driver's name, for logs and traces (`arm-smmu-v3`). */
  readonly name: string;
  readonly identityDomain?: IommuDomain;
  readonly blockedDomain?: IommuDomain;
  /** Attached before release_device() so the device stops using the freed domain. */
  readonly releaseDomain?: IommuDomain;
  readonly defaultDomainOps: IommuDomainOps;
  capable?(dev: IommuClient, cap: IommuCap): boolean;
  /**
   * hw_info(): the IOMMU's hardware description for IOMMU_GET_HW_INFO. `type` is the requested
   * `IOMMU_HW_INFO_TYPE_*` (DEFAULT for "yours"); EOPNOTSUPP for a type the driver cannot
   * report.
   */
  hwInfo?(dev: IommuClient, type: number): IommuHwInfo;
  domainAllocPaging?(dev: IommuClient): IommuDomain;
  /**
   * domain_alloc_paging_flags(): `flags` are `IOMMU_HWPT_ALLOC_*` (iommufd strips
   * IOMMU_HWPT_FAULT_ID_VALID first); `userData` is the driver-specific data of IOMMU_HWPT_ALLOC,
   * null or absent for none.
   */
  domainAllocPagingFlags?(
    dev: IommuClient,
    flags: number,
    userData?: IommuUserData | null,
  ): IommuDomain;
  /** domain_alloc_nested(): a nested domain on a nest-parent `parent` (no driver here has it). */
  domainAllocNested?(
    dev: IommuClient,
    parent: IommuDomain,
    flags: number,
    userData: IommuUserData,
  ): IommuDomain;
  probeDevice(dev: IommuClient): IommuDevice;
  releaseDevice?(dev: IommuClient): void;
  deviceGroup(dev: IommuClient): IommuGroup;
  ofXlate?(dev: IommuClient, args: OfPhandleArgs): void;
  getResvRegions?(dev: IommuClient): IommuResvRegion[];
  /** def_domain_type(): 0 for "no preference". */
  defDomainType?(dev: IommuClient): number;
  /** get_viommu_size(): 0 when the driver cannot make a vIOMMU of `viommuType` for `dev`. */
  getViommuSize?(dev: IommuClient, viommuType: number): number;
  /** viommu_init(): sets up the driver's part of a vIOMMU on the nest parent `parentDomain`. */
  viommuInit?(
    viommu: IommufdViommuCore,
    parentDomain: IommuDomain,
    userData: IommuUserData | null,
  ): void;
  /**
   * `user_pasid_table`: the PASID table can be user-managed (a vSMMU's CD table), so there is
   * no user domain per PASID and I/O page faults go through the RID's domain (io-pgfault.c).
   */
  readonly userPasidTable?: boolean;
}

/** The name of a domain type as the core logs it (`iommu_domain_type_str()`). */
export function iommuDomainTypeStr(type: number): string {
  switch (type) {
    case IOMMU_DOMAIN_BLOCKED:
      return "Blocked";
    case IOMMU_DOMAIN_IDENTITY:
      return "Passthrough";
    case IOMMU_DOMAIN_UNMANAGED:
      return "Unmanaged";
    case IOMMU_DOMAIN_DMA:
    case IOMMU_DOMAIN_DMA_FQ:
      return "Translated";
    case IOMMU_DOMAIN_PLATFORM:
      return "Platform";
    default:
      return "Unknown";
  }
}

/** True for the two DMA-API domain types (`iommu_is_dma_domain()`). */
export function iommuIsDmaDomain(type: number): boolean {
  return (type & __IOMMU_DOMAIN_DMA_API) !== 0;
}
