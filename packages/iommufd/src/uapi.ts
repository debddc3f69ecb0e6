/**
 * The IOMMUFD user ABI of Linux 7.3: include/uapi/linux/iommufd.h as declarative tables — every
 * struct layout, enum and flag value and ioctl request — plus `IOMMUFD_IOCTLS`, the command
 * table of drivers/iommu/iommufd/main.c (`iommufd_ioctl_ops[]`) from which the dispatcher, docs
 * and fuzzers derive the size protocol.
 *
 * Every request is `_IO(';', nr)`: the struct size travels in the struct's leading `size` field,
 * not in the request. Layouts are checked against a C compiler's answer for the 7.3 headers
 * (uapi-layout.c → uapi-layout.7.3.json, identical on the 7.3 arm64 oracle).
 *
 * Caveat:
 * - The codec has no unions: `iommu_hw_info`'s union of `in_data_type`/`out_data_type` is declared
 *   as `out_data_type`, the member the kernel writes; both are the same `__u32` at offset 24.
 * - `__aligned_le64` is declared `u64`: the model is little-endian, as arm64 Linux is.
 * - `IOMMU_TEST_CMD` (0xa0) and its structs belong to the self-test header
 *   (drivers/iommu/iommufd/iommufd_test.h), not to this UAPI, and are not declared here.
 * - `IOMMU_IOAS_NOIOMMU_GET_PA` (0x95) is the no-IOMMU cdev series' command, as 7.3 carries it.
 */
import {
  _IO,
  array,
  defineStruct,
  type FieldDecl,
  type FieldName,
  type StructLayout,
  type StructValue,
  s32,
  u8,
  u16,
  u32,
  u64,
} from "@vfio-lab/kernel";

// ---------------------------------------------------------------------------------------------
// ioctl numbering: one type character, command numbers from 0x80.

export const IOMMUFD_TYPE = ";";

export const IOMMUFD_CMD_BASE = 0x80;
export const IOMMUFD_CMD_DESTROY = IOMMUFD_CMD_BASE;
export const IOMMUFD_CMD_IOAS_ALLOC = 0x81;
export const IOMMUFD_CMD_IOAS_ALLOW_IOVAS = 0x82;
export const IOMMUFD_CMD_IOAS_COPY = 0x83;
export const IOMMUFD_CMD_IOAS_IOVA_RANGES = 0x84;
export const IOMMUFD_CMD_IOAS_MAP = 0x85;
export const IOMMUFD_CMD_IOAS_UNMAP = 0x86;
export const IOMMUFD_CMD_OPTION = 0x87;
export const IOMMUFD_CMD_VFIO_IOAS = 0x88;
export const IOMMUFD_CMD_HWPT_ALLOC = 0x89;
export const IOMMUFD_CMD_GET_HW_INFO = 0x8a;
export const IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING = 0x8b;
export const IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP = 0x8c;
export const IOMMUFD_CMD_HWPT_INVALIDATE = 0x8d;
export const IOMMUFD_CMD_FAULT_QUEUE_ALLOC = 0x8e;
export const IOMMUFD_CMD_IOAS_MAP_FILE = 0x8f;
export const IOMMUFD_CMD_VIOMMU_ALLOC = 0x90;
export const IOMMUFD_CMD_VDEVICE_ALLOC = 0x91;
export const IOMMUFD_CMD_IOAS_CHANGE_PROCESS = 0x92;
export const IOMMUFD_CMD_VEVENTQ_ALLOC = 0x93;
export const IOMMUFD_CMD_HW_QUEUE_ALLOC = 0x94;
export const IOMMUFD_CMD_IOAS_NOIOMMU_GET_PA = 0x95;

// ---------------------------------------------------------------------------------------------
// IOMMU_DESTROY: drop any object by id.

export const iommu_destroy = defineStruct("iommu_destroy", [
  ["size", u32],
  ["id", u32],
]);
export type IommuDestroy = StructValue<typeof iommu_destroy>;
export const IOMMU_DESTROY = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_DESTROY);

// ---------------------------------------------------------------------------------------------
// IOAS: allocation, allowed and usable ranges, map/unmap/copy.

export const iommu_ioas_alloc = defineStruct("iommu_ioas_alloc", [
  ["size", u32],
  ["flags", u32],
  ["out_ioas_id", u32],
]);
export type IommuIoasAlloc = StructValue<typeof iommu_ioas_alloc>;
export const IOMMU_IOAS_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOC);

/** One IOVA interval; `last` is inclusive, so a range can reach `U64_MAX`. */
export const iommu_iova_range = defineStruct("iommu_iova_range", [
  ["start", u64],
  ["last", u64],
]);
export type IommuIovaRange = StructValue<typeof iommu_iova_range>;

/** `allowed_iovas` is a user pointer to `num_iovas` `iommu_iova_range`s. */
export const iommu_ioas_iova_ranges = defineStruct("iommu_ioas_iova_ranges", [
  ["size", u32],
  ["ioas_id", u32],
  ["num_iovas", u32],
  ["__reserved", u32],
  ["allowed_iovas", u64],
  ["out_iova_alignment", u64],
]);
export type IommuIoasIovaRanges = StructValue<typeof iommu_ioas_iova_ranges>;
export const IOMMU_IOAS_IOVA_RANGES = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_IOVA_RANGES);

export const iommu_ioas_allow_iovas = defineStruct("iommu_ioas_allow_iovas", [
  ["size", u32],
  ["ioas_id", u32],
  ["num_iovas", u32],
  ["__reserved", u32],
  ["allowed_iovas", u64],
]);
export type IommuIoasAllowIovas = StructValue<typeof iommu_ioas_allow_iovas>;
export const IOMMU_IOAS_ALLOW_IOVAS = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOW_IOVAS);

/** `enum iommufd_ioas_map_flags`, shared by MAP, MAP_FILE and COPY. */
export const IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0;
export const IOMMU_IOAS_MAP_WRITEABLE = 1 << 1;
export const IOMMU_IOAS_MAP_READABLE = 1 << 2;

export const iommu_ioas_map = defineStruct("iommu_ioas_map", [
  ["size", u32],
  ["flags", u32],
  ["ioas_id", u32],
  ["__reserved", u32],
  ["user_va", u64],
  ["length", u64],
  ["iova", u64],
]);
export type IommuIoasMap = StructValue<typeof iommu_ioas_map>;
export const IOMMU_IOAS_MAP = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_MAP);

/** No-IOMMU cdev series: the physical address behind an IOVA of a no-IOMMU IOAS. */
export const iommu_ioas_noiommu_get_pa = defineStruct("iommu_ioas_noiommu_get_pa", [
  ["size", u32],
  ["flags", u32],
  ["ioas_id", u32],
  ["__reserved", u32],
  ["iova", u64],
  ["length", u64],
  ["out_phys", u64],
]);
export type IommuIoasNoiommuGetPa = StructValue<typeof iommu_ioas_noiommu_get_pa>;
export const IOMMU_IOAS_NOIOMMU_GET_PA = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_NOIOMMU_GET_PA);

/** Like `iommu_ioas_map`, but the memory is `length` bytes of file `fd` from `start`. */
export const iommu_ioas_map_file = defineStruct("iommu_ioas_map_file", [
  ["size", u32],
  ["flags", u32],
  ["ioas_id", u32],
  ["fd", s32],
  ["start", u64],
  ["length", u64],
  ["iova", u64],
]);
export type IommuIoasMapFile = StructValue<typeof iommu_ioas_map_file>;
export const IOMMU_IOAS_MAP_FILE = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_MAP_FILE);

export const iommu_ioas_copy = defineStruct("iommu_ioas_copy", [
  ["size", u32],
  ["flags", u32],
  ["dst_ioas_id", u32],
  ["src_ioas_id", u32],
  ["length", u64],
  ["dst_iova", u64],
  ["src_iova", u64],
]);
export type IommuIoasCopy = StructValue<typeof iommu_ioas_copy>;
export const IOMMU_IOAS_COPY = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_COPY);

/** `length` is written back with the bytes actually unmapped. */
export const iommu_ioas_unmap = defineStruct("iommu_ioas_unmap", [
  ["size", u32],
  ["ioas_id", u32],
  ["iova", u64],
  ["length", u64],
]);
export type IommuIoasUnmap = StructValue<typeof iommu_ioas_unmap>;
export const IOMMU_IOAS_UNMAP = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_UNMAP);

// ---------------------------------------------------------------------------------------------
// IOMMU_OPTION and the VFIO-compatibility IOAS.

/** `enum iommufd_option`. */
export const IOMMU_OPTION_RLIMIT_MODE = 0;
export const IOMMU_OPTION_HUGE_PAGES = 1;

/** `enum iommufd_option_ops`. */
export const IOMMU_OPTION_OP_SET = 0;
export const IOMMU_OPTION_OP_GET = 1;

export const iommu_option = defineStruct("iommu_option", [
  ["size", u32],
  ["option_id", u32],
  ["op", u16],
  ["__reserved", u16],
  ["object_id", u32],
  ["val64", u64],
]);
export type IommuOption = StructValue<typeof iommu_option>;
export const IOMMU_OPTION = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_OPTION);

/** `enum iommufd_vfio_ioas_op`. */
export const IOMMU_VFIO_IOAS_GET = 0;
export const IOMMU_VFIO_IOAS_SET = 1;
export const IOMMU_VFIO_IOAS_CLEAR = 2;

export const iommu_vfio_ioas = defineStruct("iommu_vfio_ioas", [
  ["size", u32],
  ["ioas_id", u32],
  ["op", u16],
  ["__reserved", u16],
]);
export type IommuVfioIoas = StructValue<typeof iommu_vfio_ioas>;
export const IOMMU_VFIO_IOAS = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VFIO_IOAS);

// ---------------------------------------------------------------------------------------------
// IOMMU_HWPT_ALLOC and the driver-specific nested (stage-1) page table data.

/** `enum iommufd_hwpt_alloc_flags`. */
export const IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0;
export const IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1;
export const IOMMU_HWPT_FAULT_ID_VALID = 1 << 2;
export const IOMMU_HWPT_ALLOC_PASID = 1 << 3;

/** `enum iommu_hwpt_vtd_s1_flags`. */
export const IOMMU_VTD_S1_SRE = 1 << 0;
export const IOMMU_VTD_S1_EAFE = 1 << 1;
export const IOMMU_VTD_S1_WPE = 1 << 2;

export const iommu_hwpt_vtd_s1 = defineStruct("iommu_hwpt_vtd_s1", [
  ["flags", u64],
  ["pgtbl_addr", u64],
  ["addr_width", u32],
  ["__reserved", u32],
]);
export type IommuHwptVtdS1 = StructValue<typeof iommu_hwpt_vtd_s1>;

/** The guest's Stream Table Entry, two little-endian 64-bit words. */
export const iommu_hwpt_arm_smmuv3 = defineStruct("iommu_hwpt_arm_smmuv3", [
  ["ste", array(u64, 2)],
]);
export type IommuHwptArmSmmuv3 = StructValue<typeof iommu_hwpt_arm_smmuv3>;

export const iommu_hwpt_amd_guest = defineStruct("iommu_hwpt_amd_guest", [["dte", array(u64, 4)]]);
export type IommuHwptAmdGuest = StructValue<typeof iommu_hwpt_amd_guest>;

/** `enum iommu_hwpt_data_type`. */
export const IOMMU_HWPT_DATA_NONE = 0;
export const IOMMU_HWPT_DATA_VTD_S1 = 1;
export const IOMMU_HWPT_DATA_ARM_SMMUV3 = 2;
export const IOMMU_HWPT_DATA_AMD_GUEST = 3;

export const iommu_hwpt_alloc = defineStruct("iommu_hwpt_alloc", [
  ["size", u32],
  ["flags", u32],
  ["dev_id", u32],
  ["pt_id", u32],
  ["out_hwpt_id", u32],
  ["__reserved", u32],
  ["data_type", u32],
  ["data_len", u32],
  ["data_uptr", u64],
  ["fault_id", u32],
  ["__reserved2", u32],
]);
export type IommuHwptAlloc = StructValue<typeof iommu_hwpt_alloc>;
export const IOMMU_HWPT_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_ALLOC);

// ---------------------------------------------------------------------------------------------
// IOMMU_GET_HW_INFO and the per-driver data it copies out.

/** `enum iommu_hw_info_vtd_flags`. */
export const IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 = 1 << 0;

export const iommu_hw_info_vtd = defineStruct("iommu_hw_info_vtd", [
  ["flags", u32],
  ["__reserved", u32],
  ["cap_reg", u64],
  ["ecap_reg", u64],
]);
export type IommuHwInfoVtd = StructValue<typeof iommu_hw_info_vtd>;

/** `enum iommu_hw_info_arm_smmuv3_flags`. */
export const IOMMU_HW_INFO_ARM_SMMUV3_ERRATA_REPEAT_TLBI_CFGI = 1 << 0;

/** The SMMU's ID registers IDR0..IDR5, IIDR and AIDR as the driver reports them. */
export const iommu_hw_info_arm_smmuv3 = defineStruct("iommu_hw_info_arm_smmuv3", [
  ["flags", u32],
  ["__reserved", u32],
  ["idr", array(u32, 6)],
  ["iidr", u32],
  ["aidr", u32],
]);
export type IommuHwInfoArmSmmuv3 = StructValue<typeof iommu_hw_info_arm_smmuv3>;

export const iommu_hw_info_tegra241_cmdqv = defineStruct("iommu_hw_info_tegra241_cmdqv", [
  ["flags", u32],
  ["version", u8],
  ["log2vcmdqs", u8],
  ["log2vsids", u8],
  ["__reserved", u8],
]);
export type IommuHwInfoTegra241Cmdqv = StructValue<typeof iommu_hw_info_tegra241_cmdqv>;

export const iommu_hw_info_amd = defineStruct("iommu_hw_info_amd", [
  ["efr", u64],
  ["efr2", u64],
]);
export type IommuHwInfoAmd = StructValue<typeof iommu_hw_info_amd>;

/** `enum iommu_hw_info_type`; `DEFAULT` is the input spelling of `NONE`. */
export const IOMMU_HW_INFO_TYPE_NONE = 0;
export const IOMMU_HW_INFO_TYPE_DEFAULT = 0;
export const IOMMU_HW_INFO_TYPE_INTEL_VTD = 1;
export const IOMMU_HW_INFO_TYPE_ARM_SMMUV3 = 2;
export const IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV = 3;
export const IOMMU_HW_INFO_TYPE_AMD = 4;

/** `enum iommufd_hw_capabilities`, reported in `out_capabilities`. */
export const IOMMU_HW_CAP_DIRTY_TRACKING = 1 << 0;
export const IOMMU_HW_CAP_PCI_PASID_EXEC = 1 << 1;
export const IOMMU_HW_CAP_PCI_PASID_PRIV = 1 << 2;
export const IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED = 1 << 3;

/** `enum iommufd_hw_info_flags`: with INPUT_TYPE the union at offset 24 is an input. */
export const IOMMU_HW_INFO_FLAG_INPUT_TYPE = 1 << 0;

export const iommu_hw_info = defineStruct("iommu_hw_info", [
  ["size", u32],
  ["flags", u32],
  ["dev_id", u32],
  ["data_len", u32],
  ["data_uptr", u64],
  // C: `union { __u32 in_data_type; __u32 out_data_type; }`. The kernel reads the requested type
  // from here when IOMMU_HW_INFO_FLAG_INPUT_TYPE is set and always writes the reported type back.
  ["out_data_type", u32],
  ["out_max_pasid_log2", u8],
  ["__reserved", array(u8, 3)],
  ["out_capabilities", u64],
]);
export type IommuHwInfo = StructValue<typeof iommu_hw_info>;
export const IOMMU_GET_HW_INFO = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_GET_HW_INFO);

// ---------------------------------------------------------------------------------------------
// Dirty tracking.

/** `enum iommufd_hwpt_set_dirty_tracking_flags`. */
export const IOMMU_HWPT_DIRTY_TRACKING_ENABLE = 1;

export const iommu_hwpt_set_dirty_tracking = defineStruct("iommu_hwpt_set_dirty_tracking", [
  ["size", u32],
  ["flags", u32],
  ["hwpt_id", u32],
  ["__reserved", u32],
]);
export type IommuHwptSetDirtyTracking = StructValue<typeof iommu_hwpt_set_dirty_tracking>;
export const IOMMU_HWPT_SET_DIRTY_TRACKING = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING);

/** `enum iommufd_hwpt_get_dirty_bitmap_flags`. */
export const IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR = 1;

/** `data` is a user pointer to the bitmap, one bit per `page_size` bytes from `iova`. */
export const iommu_hwpt_get_dirty_bitmap = defineStruct("iommu_hwpt_get_dirty_bitmap", [
  ["size", u32],
  ["hwpt_id", u32],
  ["flags", u32],
  ["__reserved", u32],
  ["iova", u64],
  ["length", u64],
  ["page_size", u64],
  ["data", u64],
]);
export type IommuHwptGetDirtyBitmap = StructValue<typeof iommu_hwpt_get_dirty_bitmap>;
export const IOMMU_HWPT_GET_DIRTY_BITMAP = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP);

// ---------------------------------------------------------------------------------------------
// Cache invalidation of nested HWPTs and vIOMMUs.

/** `enum iommu_hwpt_invalidate_data_type`. */
export const IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 = 0;
export const IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 = 1;

/** `enum iommu_hwpt_vtd_s1_invalidate_flags`. */
export const IOMMU_VTD_INV_FLAGS_LEAF = 1 << 0;

export const iommu_hwpt_vtd_s1_invalidate = defineStruct("iommu_hwpt_vtd_s1_invalidate", [
  ["addr", u64],
  ["npages", u64],
  ["flags", u32],
  ["__reserved", u32],
]);
export type IommuHwptVtdS1Invalidate = StructValue<typeof iommu_hwpt_vtd_s1_invalidate>;

/** One SMMUv3 command-queue entry, two little-endian 64-bit words. */
export const iommu_viommu_arm_smmuv3_invalidate = defineStruct(
  "iommu_viommu_arm_smmuv3_invalidate",
  [["cmd", array(u64, 2)]],
);
export type IommuViommuArmSmmuv3Invalidate = StructValue<typeof iommu_viommu_arm_smmuv3_invalidate>;

/** `data_uptr` points at `entry_num` entries of `entry_len` bytes; `entry_num` is written back. */
export const iommu_hwpt_invalidate = defineStruct("iommu_hwpt_invalidate", [
  ["size", u32],
  ["hwpt_id", u32],
  ["data_uptr", u64],
  ["data_type", u32],
  ["entry_len", u32],
  ["entry_num", u32],
  ["__reserved", u32],
]);
export type IommuHwptInvalidate = StructValue<typeof iommu_hwpt_invalidate>;
export const IOMMU_HWPT_INVALIDATE = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_INVALIDATE);

// ---------------------------------------------------------------------------------------------
// I/O page faults: the records read from, and the responses written to, a fault queue fd.

/** `enum iommu_hwpt_pgfault_flags`. */
export const IOMMU_PGFAULT_FLAGS_PASID_VALID = 1 << 0;
export const IOMMU_PGFAULT_FLAGS_LAST_PAGE = 1 << 1;

/** `enum iommu_hwpt_pgfault_perm`. */
export const IOMMU_PGFAULT_PERM_READ = 1 << 0;
export const IOMMU_PGFAULT_PERM_WRITE = 1 << 1;
export const IOMMU_PGFAULT_PERM_EXEC = 1 << 2;
export const IOMMU_PGFAULT_PERM_PRIV = 1 << 3;

export const iommu_hwpt_pgfault = defineStruct("iommu_hwpt_pgfault", [
  ["flags", u32],
  ["dev_id", u32],
  ["pasid", u32],
  ["grpid", u32],
  ["perm", u32],
  ["__reserved", u32],
  ["addr", u64],
  ["length", u32],
  ["cookie", u32],
]);
export type IommuHwptPgfault = StructValue<typeof iommu_hwpt_pgfault>;

/** `enum iommufd_page_response_code`. */
export const IOMMUFD_PAGE_RESP_SUCCESS = 0;
export const IOMMUFD_PAGE_RESP_INVALID = 1;

export const iommu_hwpt_page_response = defineStruct("iommu_hwpt_page_response", [
  ["cookie", u32],
  ["code", u32],
]);
export type IommuHwptPageResponse = StructValue<typeof iommu_hwpt_page_response>;

export const iommu_fault_alloc = defineStruct("iommu_fault_alloc", [
  ["size", u32],
  ["flags", u32],
  ["out_fault_id", u32],
  ["out_fault_fd", u32],
]);
export type IommuFaultAlloc = StructValue<typeof iommu_fault_alloc>;
export const IOMMU_FAULT_QUEUE_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_FAULT_QUEUE_ALLOC);

// ---------------------------------------------------------------------------------------------
// vIOMMU and vDEVICE.

/** `enum iommu_viommu_type`. */
export const IOMMU_VIOMMU_TYPE_DEFAULT = 0;
export const IOMMU_VIOMMU_TYPE_ARM_SMMUV3 = 1;
export const IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV = 2;

export const iommu_viommu_tegra241_cmdqv = defineStruct("iommu_viommu_tegra241_cmdqv", [
  ["out_vintf_mmap_offset", u64],
  ["out_vintf_mmap_length", u64],
]);
export type IommuViommuTegra241Cmdqv = StructValue<typeof iommu_viommu_tegra241_cmdqv>;

export const iommu_viommu_alloc = defineStruct("iommu_viommu_alloc", [
  ["size", u32],
  ["flags", u32],
  ["type", u32],
  ["dev_id", u32],
  ["hwpt_id", u32],
  ["out_viommu_id", u32],
  ["data_len", u32],
  ["__reserved", u32],
  ["data_uptr", u64],
]);
export type IommuViommuAlloc = StructValue<typeof iommu_viommu_alloc>;
export const IOMMU_VIOMMU_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VIOMMU_ALLOC);

/** `virt_id` is the device's id as the guest sees it (a vSID on SMMUv3). */
export const iommu_vdevice_alloc = defineStruct("iommu_vdevice_alloc", [
  ["size", u32],
  ["viommu_id", u32],
  ["dev_id", u32],
  ["out_vdevice_id", u32],
  ["virt_id", u64],
]);
export type IommuVdeviceAlloc = StructValue<typeof iommu_vdevice_alloc>;
export const IOMMU_VDEVICE_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VDEVICE_ALLOC);

// ---------------------------------------------------------------------------------------------
// IOMMU_IOAS_CHANGE_PROCESS: move pinned-page accounting to the calling process.

export const iommu_ioas_change_process = defineStruct("iommu_ioas_change_process", [
  ["size", u32],
  ["__reserved", u32],
]);
export type IommuIoasChangeProcess = StructValue<typeof iommu_ioas_change_process>;
export const IOMMU_IOAS_CHANGE_PROCESS = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_CHANGE_PROCESS);

// ---------------------------------------------------------------------------------------------
// vEVENTQ: virtual event queues, read() as a header followed by a type-specific record.

/** `enum iommu_veventq_flag`. */
export const IOMMU_VEVENTQ_FLAG_LOST_EVENTS = 1 << 0;

export const iommufd_vevent_header = defineStruct("iommufd_vevent_header", [
  ["flags", u32],
  ["sequence", u32],
]);
export type IommufdVeventHeader = StructValue<typeof iommufd_vevent_header>;

/** `enum iommu_veventq_type`. */
export const IOMMU_VEVENTQ_TYPE_DEFAULT = 0;
export const IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 = 1;
export const IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV = 2;

/** One SMMUv3 event-queue record, four little-endian 64-bit words. */
export const iommu_vevent_arm_smmuv3 = defineStruct("iommu_vevent_arm_smmuv3", [
  ["evt", array(u64, 4)],
]);
export type IommuVeventArmSmmuv3 = StructValue<typeof iommu_vevent_arm_smmuv3>;

export const iommu_vevent_tegra241_cmdqv = defineStruct("iommu_vevent_tegra241_cmdqv", [
  ["lvcmdq_err_map", array(u64, 2)],
]);
export type IommuVeventTegra241Cmdqv = StructValue<typeof iommu_vevent_tegra241_cmdqv>;

export const iommu_veventq_alloc = defineStruct("iommu_veventq_alloc", [
  ["size", u32],
  ["flags", u32],
  ["viommu_id", u32],
  ["type", u32],
  ["veventq_depth", u32],
  ["out_veventq_id", u32],
  ["out_veventq_fd", u32],
  ["__reserved", u32],
]);
export type IommuVeventqAlloc = StructValue<typeof iommu_veventq_alloc>;
export const IOMMU_VEVENTQ_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VEVENTQ_ALLOC);

// ---------------------------------------------------------------------------------------------
// HW queues: guest queues the hardware reads directly.

/** `enum iommu_hw_queue_type`. */
export const IOMMU_HW_QUEUE_TYPE_DEFAULT = 0;
export const IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV = 1;

export const iommu_hw_queue_alloc = defineStruct("iommu_hw_queue_alloc", [
  ["size", u32],
  ["flags", u32],
  ["viommu_id", u32],
  ["type", u32],
  ["index", u32],
  ["out_hw_queue_id", u32],
  ["nesting_parent_iova", u64],
  ["length", u64],
]);
export type IommuHwQueueAlloc = StructValue<typeof iommu_hw_queue_alloc>;
export const IOMMU_HW_QUEUE_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HW_QUEUE_ALLOC);

// ---------------------------------------------------------------------------------------------
// Kernel-internal values that the UAPI's behaviour (and the selftests) depend on.

/**
 * drivers/iommu/iommufd/io_pagetable.h: how pinned pages are charged, the value of
 * `IOMMU_OPTION_RLIMIT_MODE` (`USER` charges the user's locked_vm, `MM` the mm's pinned_vm).
 */
export const IOPT_PAGES_ACCOUNT_NONE = 0;
export const IOPT_PAGES_ACCOUNT_USER = 1;
export const IOPT_PAGES_ACCOUNT_MM = 2;

/** include/linux/iommufd.h: `flags` of `iommufd_access_rw()`. */
export const IOMMUFD_ACCESS_RW_READ = 0;
export const IOMMUFD_ACCESS_RW_WRITE = 1 << 0;
export const IOMMUFD_ACCESS_RW_KTHREAD = 1 << 1;

// ---------------------------------------------------------------------------------------------
// The command table of drivers/iommu/iommufd/main.c.

/** One entry of `iommufd_ioctl_ops[]`, with what the C table leaves to macros spelled out. */
export interface IommufdIoctl {
  /** `_IOC_NR(request)`, 0x80..0x95. */
  readonly nr: number;
  /** The request macro's name, `"IOMMU_IOAS_MAP"`. */
  readonly name: string;
  readonly request: number;
  /** The argument struct; `struct.size` is the most the kernel copies in (`op->size`). */
  readonly struct: StructLayout;
  /** The last member the command cannot do without: `IOCTL_OP()`'s `_last`. */
  readonly minSizeField: string;
  /** `offsetofend(struct, minSizeField)`: a shorter `size` fails with EINVAL. */
  readonly minSize: number;
  /** The handler main.c calls, the function a refusal is reported from. */
  readonly handler: string;
}

function ioctlOp<const F extends readonly FieldDecl[]>(
  name: string,
  request: number,
  struct: StructLayout<F>,
  minSizeField: FieldName<F>,
  handler: string,
): IommufdIoctl {
  return Object.freeze({
    nr: request & 0xff,
    name,
    request,
    // Each concrete layout widens to StructLayout; TypeScript cannot show it for a generic F.
    struct: struct as unknown as StructLayout,
    minSizeField,
    minSize: struct.offsetofend(minSizeField),
    handler,
  });
}

/**
 * drivers/iommu/iommufd/main.c: `iommufd_ioctl_ops[]`, in command order so that entry `i` is
 * command `IOMMUFD_CMD_BASE + i`, as the C array is indexed. Note the short minimums: HWPT_ALLOC
 * stops at `__reserved` (24 of 48 bytes), GET_HW_INFO at `__reserved` (32 of 40), VIOMMU_ALLOC
 * at `out_viommu_id` (24 of 40) and VEVENTQ_ALLOC at `out_veventq_fd` (28 of 32). What follows
 * is optional — members added in later releases, or trailing padding — and a shorter user struct
 * leaves it zero, as `copy_struct_from_user()` does.
 */
export const IOMMUFD_IOCTLS: readonly IommufdIoctl[] = Object.freeze([
  ioctlOp("IOMMU_DESTROY", IOMMU_DESTROY, iommu_destroy, "id", "iommufd_destroy"),
  ioctlOp(
    "IOMMU_IOAS_ALLOC",
    IOMMU_IOAS_ALLOC,
    iommu_ioas_alloc,
    "out_ioas_id",
    "iommufd_ioas_alloc_ioctl",
  ),
  ioctlOp(
    "IOMMU_IOAS_ALLOW_IOVAS",
    IOMMU_IOAS_ALLOW_IOVAS,
    iommu_ioas_allow_iovas,
    "allowed_iovas",
    "iommufd_ioas_allow_iovas",
  ),
  ioctlOp("IOMMU_IOAS_COPY", IOMMU_IOAS_COPY, iommu_ioas_copy, "src_iova", "iommufd_ioas_copy"),
  ioctlOp(
    "IOMMU_IOAS_IOVA_RANGES",
    IOMMU_IOAS_IOVA_RANGES,
    iommu_ioas_iova_ranges,
    "out_iova_alignment",
    "iommufd_ioas_iova_ranges",
  ),
  ioctlOp("IOMMU_IOAS_MAP", IOMMU_IOAS_MAP, iommu_ioas_map, "iova", "iommufd_ioas_map"),
  ioctlOp("IOMMU_IOAS_UNMAP", IOMMU_IOAS_UNMAP, iommu_ioas_unmap, "length", "iommufd_ioas_unmap"),
  ioctlOp("IOMMU_OPTION", IOMMU_OPTION, iommu_option, "val64", "iommufd_option"),
  ioctlOp("IOMMU_VFIO_IOAS", IOMMU_VFIO_IOAS, iommu_vfio_ioas, "__reserved", "iommufd_vfio_ioas"),
  ioctlOp(
    "IOMMU_HWPT_ALLOC",
    IOMMU_HWPT_ALLOC,
    iommu_hwpt_alloc,
    "__reserved",
    "iommufd_hwpt_alloc",
  ),
  ioctlOp(
    "IOMMU_GET_HW_INFO",
    IOMMU_GET_HW_INFO,
    iommu_hw_info,
    "__reserved",
    "iommufd_get_hw_info",
  ),
  ioctlOp(
    "IOMMU_HWPT_SET_DIRTY_TRACKING",
    IOMMU_HWPT_SET_DIRTY_TRACKING,
    iommu_hwpt_set_dirty_tracking,
    "__reserved",
    "iommufd_hwpt_set_dirty_tracking",
  ),
  ioctlOp(
    "IOMMU_HWPT_GET_DIRTY_BITMAP",
    IOMMU_HWPT_GET_DIRTY_BITMAP,
    iommu_hwpt_get_dirty_bitmap,
    "data",
    "iommufd_hwpt_get_dirty_bitmap",
  ),
  ioctlOp(
    "IOMMU_HWPT_INVALIDATE",
    IOMMU_HWPT_INVALIDATE,
    iommu_hwpt_invalidate,
    "__reserved",
    "iommufd_hwpt_invalidate",
  ),
  ioctlOp(
    "IOMMU_FAULT_QUEUE_ALLOC",
    IOMMU_FAULT_QUEUE_ALLOC,
    iommu_fault_alloc,
    "out_fault_fd",
    "iommufd_fault_alloc",
  ),
  ioctlOp(
    "IOMMU_IOAS_MAP_FILE",
    IOMMU_IOAS_MAP_FILE,
    iommu_ioas_map_file,
    "iova",
    "iommufd_ioas_map_file",
  ),
  ioctlOp(
    "IOMMU_VIOMMU_ALLOC",
    IOMMU_VIOMMU_ALLOC,
    iommu_viommu_alloc,
    "out_viommu_id",
    "iommufd_viommu_alloc_ioctl",
  ),
  ioctlOp(
    "IOMMU_VDEVICE_ALLOC",
    IOMMU_VDEVICE_ALLOC,
    iommu_vdevice_alloc,
    "virt_id",
    "iommufd_vdevice_alloc_ioctl",
  ),
  ioctlOp(
    "IOMMU_IOAS_CHANGE_PROCESS",
    IOMMU_IOAS_CHANGE_PROCESS,
    iommu_ioas_change_process,
    "__reserved",
    "iommufd_ioas_change_process",
  ),
  ioctlOp(
    "IOMMU_VEVENTQ_ALLOC",
    IOMMU_VEVENTQ_ALLOC,
    iommu_veventq_alloc,
    "out_veventq_fd",
    "iommufd_veventq_alloc",
  ),
  ioctlOp(
    "IOMMU_HW_QUEUE_ALLOC",
    IOMMU_HW_QUEUE_ALLOC,
    iommu_hw_queue_alloc,
    "length",
    "iommufd_hw_queue_alloc_ioctl",
  ),
  ioctlOp(
    "IOMMU_IOAS_NOIOMMU_GET_PA",
    IOMMU_IOAS_NOIOMMU_GET_PA,
    iommu_ioas_noiommu_get_pa,
    "out_phys",
    "iommufd_ioas_noiommu_get_pa",
  ),
]);

/**
 * The table entry at `nr`, as `iommufd_fops_ioctl()` indexes it; undefined outside the table
 * (main.c hands those numbers to the VFIO compatibility ioctls). The caller still compares the
 * full request with `entry.request`: a mismatch in type, direction or size is ENOIOCTLCMD.
 */
export function iommufdIoctlByNr(nr: number): IommufdIoctl | undefined {
  if (nr < IOMMUFD_CMD_BASE) return undefined;
  return IOMMUFD_IOCTLS[nr - IOMMUFD_CMD_BASE];
}
