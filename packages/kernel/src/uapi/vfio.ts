/**
 * The VFIO user ABI of Linux 7.3: include/uapi/linux/vfio.h as declarative tables — extension
 * numbers, every ioctl request, and each struct with its flag bits — for the container
 * (`/dev/vfio/vfio`), group, device-fd and cdev protocols and the type1 IOMMU backend.
 *
 * Every request is `_IO(';', 100 + n)`: the struct size travels in the leading `argsz` field, and
 * INFO ioctls extend themselves with a capability chain (`vfio_info_cap_header`, offsets from the
 * start of the user buffer). Layouts are checked against a C compiler's answer for the 7.3
 * headers (vfio-layout.c → vfio-layout.7.3.json, identical on the 7.3 arm64 oracle).
 *
 * Caveat:
 * - The sPAPR TCE and EEH part (POWER only) is left out: `vfio_iommu_spapr_tce_*`,
 *   `vfio_iommu_spapr_register_memory`, `vfio_eeh_pe_*`, `VFIO_IOMMU_SPAPR_*`, `VFIO_EEH_PE_*`.
 *   Its requests reuse the type1 numbers (`VFIO_IOMMU_SPAPR_TCE_GET_INFO` is
 *   `VFIO_IOMMU_GET_INFO`'s 100 + 12). The extension numbers `VFIO_SPAPR_TCE_IOMMU`,
 *   `VFIO_SPAPR_TCE_v2_IOMMU` and `VFIO_EEH` stay, since `VFIO_CHECK_EXTENSION` answers them.
 * - 7.3 retired `VFIO_TYPE1_NESTING_IOMMU`; number 6 survives as
 *   `__VFIO_RESERVED_TYPE1_NESTING_IOMMU`, and 7.3 answers 0 for it.
 * - The function-like macros of the deprecated v1 migration region
 *   (`VFIO_DEVICE_STATE_VALID`, `_IS_ERROR`, `_SET_ERROR`) are not provided.
 * - No unions in the codec: `vfio_pci_dependent_device`'s `group_id`/`devid` is declared as
 *   `group_id`, `vfio_device_gfx_plane_info`'s `region_index`/`dmabuf_id` as `region_index`.
 * - User pointers (`vfio_bitmap.data`) are `u64`, their arm64 size.
 * - The header has no region or IRQ index enum for vfio-platform/vfio-amba: their indices are
 *   the resource order, and their offset encoding lives in the driver, not in the UAPI.
 */
import { _IO } from "./ioctl.js";
import { defineStruct, flex, type StructValue, s32, u8, u16, u32, u64 } from "./struct.js";

// ---------------------------------------------------------------------------------------------
// API version and extensions (`VFIO_CHECK_EXTENSION` arguments, `VFIO_SET_IOMMU` types).

export const VFIO_API_VERSION = 0;

export const VFIO_TYPE1_IOMMU = 1;
export const VFIO_SPAPR_TCE_IOMMU = 2;
export const VFIO_TYPE1v2_IOMMU = 3;
/** The IOMMU enforces DMA cache coherence; may change as groups come and go. */
export const VFIO_DMA_CC_IOMMU = 4;
export const VFIO_EEH = 5;
/** Was `VFIO_TYPE1_NESTING_IOMMU`; kept reserved so the number is never reused. */
export const __VFIO_RESERVED_TYPE1_NESTING_IOMMU = 6;
export const VFIO_SPAPR_TCE_v2_IOMMU = 7;
/** No translation, no isolation; using it taints the kernel. */
export const VFIO_NOIOMMU_IOMMU = 8;
/** `VFIO_DMA_UNMAP_FLAG_ALL` is supported. */
export const VFIO_UNMAP_ALL = 9;
/** `VFIO_DMA_MAP_FLAG_VADDR`/`VFIO_DMA_UNMAP_FLAG_VADDR` are supported. */
export const VFIO_UPDATE_VADDR = 10;

export const VFIO_TYPE = ";";
export const VFIO_BASE = 100;

/** The header of every capability in an INFO ioctl's chain; `next` 0 ends the chain. */
export const vfio_info_cap_header = defineStruct("vfio_info_cap_header", [
  ["id", u16],
  ["version", u16],
  ["next", u32],
]);
export type VfioInfoCapHeader = StructValue<typeof vfio_info_cap_header>;

// ---------------------------------------------------------------------------------------------
// Container: /dev/vfio/vfio.

export const VFIO_GET_API_VERSION = _IO(VFIO_TYPE, VFIO_BASE + 0);
export const VFIO_CHECK_EXTENSION = _IO(VFIO_TYPE, VFIO_BASE + 1);
export const VFIO_SET_IOMMU = _IO(VFIO_TYPE, VFIO_BASE + 2);

// ---------------------------------------------------------------------------------------------
// Group: /dev/vfio/$GROUP.

export const VFIO_GROUP_FLAGS_VIABLE = 1 << 0;
export const VFIO_GROUP_FLAGS_CONTAINER_SET = 1 << 1;

export const vfio_group_status = defineStruct("vfio_group_status", [
  ["argsz", u32],
  ["flags", u32],
]);
export type VfioGroupStatus = StructValue<typeof vfio_group_status>;
export const VFIO_GROUP_GET_STATUS = _IO(VFIO_TYPE, VFIO_BASE + 3);
/** The argument is a pointer to the container fd (`__s32`). */
export const VFIO_GROUP_SET_CONTAINER = _IO(VFIO_TYPE, VFIO_BASE + 4);
export const VFIO_GROUP_UNSET_CONTAINER = _IO(VFIO_TYPE, VFIO_BASE + 5);
/** The argument is a pointer to the NUL-terminated device name. */
export const VFIO_GROUP_GET_DEVICE_FD = _IO(VFIO_TYPE, VFIO_BASE + 6);

// ---------------------------------------------------------------------------------------------
// Device: VFIO_DEVICE_GET_INFO.

export const VFIO_DEVICE_FLAGS_RESET = 1 << 0;
export const VFIO_DEVICE_FLAGS_PCI = 1 << 1;
export const VFIO_DEVICE_FLAGS_PLATFORM = 1 << 2;
export const VFIO_DEVICE_FLAGS_AMBA = 1 << 3;
export const VFIO_DEVICE_FLAGS_CCW = 1 << 4;
export const VFIO_DEVICE_FLAGS_AP = 1 << 5;
export const VFIO_DEVICE_FLAGS_FSL_MC = 1 << 6;
export const VFIO_DEVICE_FLAGS_CAPS = 1 << 7;
export const VFIO_DEVICE_FLAGS_CDX = 1 << 8;

export const vfio_device_info = defineStruct("vfio_device_info", [
  ["argsz", u32],
  ["flags", u32],
  ["num_regions", u32],
  ["num_irqs", u32],
  ["cap_offset", u32],
  ["pad", u32],
]);
export type VfioDeviceInfo = StructValue<typeof vfio_device_info>;
export const VFIO_DEVICE_GET_INFO = _IO(VFIO_TYPE, VFIO_BASE + 7);

/** The `device_api` strings a mediated device type reports, one per device flag. */
export const VFIO_DEVICE_API_PCI_STRING = "vfio-pci";
export const VFIO_DEVICE_API_PLATFORM_STRING = "vfio-platform";
export const VFIO_DEVICE_API_AMBA_STRING = "vfio-amba";
export const VFIO_DEVICE_API_CCW_STRING = "vfio-ccw";
export const VFIO_DEVICE_API_AP_STRING = "vfio-ap";

/** Device-info capability ids; the zPCI ones are s390's (contents in vfio_zdev.h). */
export const VFIO_DEVICE_INFO_CAP_ZPCI_BASE = 1;
export const VFIO_DEVICE_INFO_CAP_ZPCI_GROUP = 2;
export const VFIO_DEVICE_INFO_CAP_ZPCI_UTIL = 3;
export const VFIO_DEVICE_INFO_CAP_ZPCI_PFIP = 4;
export const VFIO_DEVICE_INFO_CAP_PCI_ATOMIC_COMP = 5;

export const VFIO_PCI_ATOMIC_COMP32 = 1 << 0;
export const VFIO_PCI_ATOMIC_COMP64 = 1 << 1;
export const VFIO_PCI_ATOMIC_COMP128 = 1 << 2;

export const vfio_device_info_cap_pci_atomic_comp = defineStruct(
  "vfio_device_info_cap_pci_atomic_comp",
  [
    ["header", vfio_info_cap_header],
    ["flags", u32],
    ["reserved", u32],
  ],
);

// ---------------------------------------------------------------------------------------------
// Device: VFIO_DEVICE_GET_REGION_INFO and its capabilities.

export const VFIO_REGION_INFO_FLAG_READ = 1 << 0;
export const VFIO_REGION_INFO_FLAG_WRITE = 1 << 1;
export const VFIO_REGION_INFO_FLAG_MMAP = 1 << 2;
export const VFIO_REGION_INFO_FLAG_CAPS = 1 << 3;

/** `offset` is where the region starts in the device fd, for pread/pwrite/mmap. */
export const vfio_region_info = defineStruct("vfio_region_info", [
  ["argsz", u32],
  ["flags", u32],
  ["index", u32],
  ["cap_offset", u32],
  ["size", u64],
  ["offset", u64],
]);
export type VfioRegionInfo = StructValue<typeof vfio_region_info>;
export const VFIO_DEVICE_GET_REGION_INFO = _IO(VFIO_TYPE, VFIO_BASE + 8);

export const VFIO_REGION_INFO_CAP_SPARSE_MMAP = 1;

export const vfio_region_sparse_mmap_area = defineStruct("vfio_region_sparse_mmap_area", [
  ["offset", u64],
  ["size", u64],
]);
export type VfioRegionSparseMmapArea = StructValue<typeof vfio_region_sparse_mmap_area>;

export const vfio_region_info_cap_sparse_mmap = defineStruct("vfio_region_info_cap_sparse_mmap", [
  ["header", vfio_info_cap_header],
  ["nr_areas", u32],
  ["reserved", u32],
  ["areas", flex(vfio_region_sparse_mmap_area)],
]);

export const VFIO_REGION_INFO_CAP_TYPE = 2;

export const vfio_region_info_cap_type = defineStruct("vfio_region_info_cap_type", [
  ["header", vfio_info_cap_header],
  ["type", u32],
  ["subtype", u32],
]);

/**
 * Region types. C spells the vendor bit `(1 << 31)`, an `int` that is negative; it is given here
 * as the unsigned value the `__u32 type` field holds.
 */
export const VFIO_REGION_TYPE_PCI_VENDOR_TYPE = 0x8000_0000;
export const VFIO_REGION_TYPE_PCI_VENDOR_MASK = 0xffff;
export const VFIO_REGION_TYPE_GFX = 1;
export const VFIO_REGION_TYPE_CCW = 2;
export const VFIO_REGION_TYPE_MIGRATION_DEPRECATED = 3;

/** Subtypes of Intel's vendor type (0x8086). */
export const VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION = 1;
export const VFIO_REGION_SUBTYPE_INTEL_IGD_HOST_CFG = 2;
export const VFIO_REGION_SUBTYPE_INTEL_IGD_LPC_CFG = 3;
/** Subtype of NVIDIA's vendor type (0x10de). */
export const VFIO_REGION_SUBTYPE_NVIDIA_NVLINK2_RAM = 1;
/** Subtype of IBM's vendor type (0x1014). */
export const VFIO_REGION_SUBTYPE_IBM_NVLINK2_ATSD = 1;
/** Subtype of `VFIO_REGION_TYPE_GFX`. */
export const VFIO_REGION_SUBTYPE_GFX_EDID = 1;

export const VFIO_DEVICE_GFX_LINK_STATE_UP = 1;
export const VFIO_DEVICE_GFX_LINK_STATE_DOWN = 2;

export const vfio_region_gfx_edid = defineStruct("vfio_region_gfx_edid", [
  ["edid_offset", u32],
  ["edid_max_size", u32],
  ["edid_size", u32],
  ["max_xres", u32],
  ["max_yres", u32],
  ["link_state", u32],
]);

/** Subtypes of `VFIO_REGION_TYPE_CCW`. */
export const VFIO_REGION_SUBTYPE_CCW_ASYNC_CMD = 1;
export const VFIO_REGION_SUBTYPE_CCW_SCHIB = 2;
export const VFIO_REGION_SUBTYPE_CCW_CRW = 3;

/** Subtype of `VFIO_REGION_TYPE_MIGRATION_DEPRECATED`: the v1 migration region, no longer used. */
export const VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED = 1;

export const VFIO_DEVICE_STATE_V1_STOP = 0;
export const VFIO_DEVICE_STATE_V1_RUNNING = 1 << 0;
export const VFIO_DEVICE_STATE_V1_SAVING = 1 << 1;
export const VFIO_DEVICE_STATE_V1_RESUMING = 1 << 2;
export const VFIO_DEVICE_STATE_MASK =
  VFIO_DEVICE_STATE_V1_RUNNING | VFIO_DEVICE_STATE_V1_SAVING | VFIO_DEVICE_STATE_V1_RESUMING;

export const vfio_device_migration_info = defineStruct("vfio_device_migration_info", [
  ["device_state", u32],
  ["reserved", u32],
  ["pending_bytes", u64],
  ["data_offset", u64],
  ["data_size", u64],
]);

/** The MSI-X table's page may be mmapped (capability with a bare header). */
export const VFIO_REGION_INFO_CAP_MSIX_MAPPABLE = 3;
export const VFIO_REGION_INFO_CAP_NVLINK2_SSATGT = 4;
export const VFIO_REGION_INFO_CAP_NVLINK2_LNKSPD = 5;

export const vfio_region_info_cap_nvlink2_ssatgt = defineStruct(
  "vfio_region_info_cap_nvlink2_ssatgt",
  [
    ["header", vfio_info_cap_header],
    ["tgt", u64],
  ],
);

export const vfio_region_info_cap_nvlink2_lnkspd = defineStruct(
  "vfio_region_info_cap_nvlink2_lnkspd",
  [
    ["header", vfio_info_cap_header],
    ["link_speed", u32],
    ["__pad", u32],
  ],
);

// ---------------------------------------------------------------------------------------------
// Device: interrupts and reset.

export const VFIO_IRQ_INFO_EVENTFD = 1 << 0;
export const VFIO_IRQ_INFO_MASKABLE = 1 << 1;
export const VFIO_IRQ_INFO_AUTOMASKED = 1 << 2;
export const VFIO_IRQ_INFO_NORESIZE = 1 << 3;

export const vfio_irq_info = defineStruct("vfio_irq_info", [
  ["argsz", u32],
  ["flags", u32],
  ["index", u32],
  ["count", u32],
]);
export type VfioIrqInfo = StructValue<typeof vfio_irq_info>;
export const VFIO_DEVICE_GET_IRQ_INFO = _IO(VFIO_TYPE, VFIO_BASE + 9);

/** `flags` is one DATA bit, saying what `data[]` holds, and the ACTION. */
export const VFIO_IRQ_SET_DATA_NONE = 1 << 0;
export const VFIO_IRQ_SET_DATA_BOOL = 1 << 1;
export const VFIO_IRQ_SET_DATA_EVENTFD = 1 << 2;
export const VFIO_IRQ_SET_ACTION_MASK = 1 << 3;
export const VFIO_IRQ_SET_ACTION_UNMASK = 1 << 4;
export const VFIO_IRQ_SET_ACTION_TRIGGER = 1 << 5;

/** `data[]` holds `count` u8 bools or s32 eventfds, by the DATA flag; the codec sees bytes. */
export const vfio_irq_set = defineStruct("vfio_irq_set", [
  ["argsz", u32],
  ["flags", u32],
  ["index", u32],
  ["start", u32],
  ["count", u32],
  ["data", flex(u8)],
]);
export type VfioIrqSet = StructValue<typeof vfio_irq_set>;
export const VFIO_DEVICE_SET_IRQS = _IO(VFIO_TYPE, VFIO_BASE + 10);

export const VFIO_IRQ_SET_DATA_TYPE_MASK =
  VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_DATA_EVENTFD;
export const VFIO_IRQ_SET_ACTION_TYPE_MASK =
  VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK | VFIO_IRQ_SET_ACTION_TRIGGER;

export const VFIO_DEVICE_RESET = _IO(VFIO_TYPE, VFIO_BASE + 11);

// ---------------------------------------------------------------------------------------------
// Fixed region and IRQ indices of the PCI, CCW and AP bus drivers.

export const VFIO_PCI_BAR0_REGION_INDEX = 0;
export const VFIO_PCI_BAR1_REGION_INDEX = 1;
export const VFIO_PCI_BAR2_REGION_INDEX = 2;
export const VFIO_PCI_BAR3_REGION_INDEX = 3;
export const VFIO_PCI_BAR4_REGION_INDEX = 4;
export const VFIO_PCI_BAR5_REGION_INDEX = 5;
export const VFIO_PCI_ROM_REGION_INDEX = 6;
export const VFIO_PCI_CONFIG_REGION_INDEX = 7;
export const VFIO_PCI_VGA_REGION_INDEX = 8;
/** Fixed ABI: indices from here on are device-specific, described by a type capability. */
export const VFIO_PCI_NUM_REGIONS = 9;

export const VFIO_PCI_INTX_IRQ_INDEX = 0;
export const VFIO_PCI_MSI_IRQ_INDEX = 1;
export const VFIO_PCI_MSIX_IRQ_INDEX = 2;
export const VFIO_PCI_ERR_IRQ_INDEX = 3;
export const VFIO_PCI_REQ_IRQ_INDEX = 4;
export const VFIO_PCI_NUM_IRQS = 5;

export const VFIO_CCW_CONFIG_REGION_INDEX = 0;
export const VFIO_CCW_NUM_REGIONS = 1;

export const VFIO_CCW_IO_IRQ_INDEX = 0;
export const VFIO_CCW_CRW_IRQ_INDEX = 1;
export const VFIO_CCW_REQ_IRQ_INDEX = 2;
export const VFIO_CCW_NUM_IRQS = 3;

export const VFIO_AP_REQ_IRQ_INDEX = 0;
export const VFIO_AP_CFG_CHG_IRQ_INDEX = 1;
export const VFIO_AP_NUM_IRQS = 2;

// ---------------------------------------------------------------------------------------------
// PCI hot reset.

/** `devid` values other than a real id; NOT_OWNED is C's `-1`, 0xffffffff in the u32 field. */
export const VFIO_PCI_DEVID_OWNED = 0;
export const VFIO_PCI_DEVID_NOT_OWNED = -1;

export const vfio_pci_dependent_device = defineStruct("vfio_pci_dependent_device", [
  // C: `union { __u32 group_id; __u32 devid; }`: devid when the device was opened as a cdev
  // (VFIO_PCI_HOT_RESET_FLAG_DEV_ID), the group number otherwise.
  ["group_id", u32],
  ["segment", u16],
  ["bus", u8],
  ["devfn", u8],
]);

export const VFIO_PCI_HOT_RESET_FLAG_DEV_ID = 1 << 0;
export const VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED = 1 << 1;

export const vfio_pci_hot_reset_info = defineStruct("vfio_pci_hot_reset_info", [
  ["argsz", u32],
  ["flags", u32],
  ["count", u32],
  ["devices", flex(vfio_pci_dependent_device)],
]);
export const VFIO_DEVICE_GET_PCI_HOT_RESET_INFO = _IO(VFIO_TYPE, VFIO_BASE + 12);

export const vfio_pci_hot_reset = defineStruct("vfio_pci_hot_reset", [
  ["argsz", u32],
  ["flags", u32],
  ["count", u32],
  ["group_fds", flex(s32)],
]);
export const VFIO_DEVICE_PCI_HOT_RESET = _IO(VFIO_TYPE, VFIO_BASE + 13);

// ---------------------------------------------------------------------------------------------
// Mediated graphics planes and ioeventfds.

export const VFIO_GFX_PLANE_TYPE_PROBE = 1 << 0;
export const VFIO_GFX_PLANE_TYPE_DMABUF = 1 << 1;
export const VFIO_GFX_PLANE_TYPE_REGION = 1 << 2;

export const vfio_device_gfx_plane_info = defineStruct("vfio_device_gfx_plane_info", [
  ["argsz", u32],
  ["flags", u32],
  ["drm_plane_type", u32],
  ["drm_format", u32],
  ["drm_format_mod", u64],
  ["width", u32],
  ["height", u32],
  ["stride", u32],
  ["size", u32],
  ["x_pos", u32],
  ["y_pos", u32],
  ["x_hot", u32],
  ["y_hot", u32],
  // C: `union { __u32 region_index; __u32 dmabuf_id; }`, by the plane type flag.
  ["region_index", u32],
  ["reserved", u32],
]);
export const VFIO_DEVICE_QUERY_GFX_PLANE = _IO(VFIO_TYPE, VFIO_BASE + 14);
/** The argument is a pointer to the `__u32` dmabuf id. */
export const VFIO_DEVICE_GET_GFX_DMABUF = _IO(VFIO_TYPE, VFIO_BASE + 15);

export const VFIO_DEVICE_IOEVENTFD_8 = 1 << 0;
export const VFIO_DEVICE_IOEVENTFD_16 = 1 << 1;
export const VFIO_DEVICE_IOEVENTFD_32 = 1 << 2;
export const VFIO_DEVICE_IOEVENTFD_64 = 1 << 3;
export const VFIO_DEVICE_IOEVENTFD_SIZE_MASK = 0xf;

export const vfio_device_ioeventfd = defineStruct("vfio_device_ioeventfd", [
  ["argsz", u32],
  ["flags", u32],
  ["offset", u64],
  ["data", u64],
  ["fd", s32],
  ["reserved", u32],
]);
export const VFIO_DEVICE_IOEVENTFD = _IO(VFIO_TYPE, VFIO_BASE + 16);

// ---------------------------------------------------------------------------------------------
// Device features: VFIO_DEVICE_FEATURE and the payloads of each feature.

/** The low 16 bits of `flags` pick the feature; GET and SET exclude each other unless PROBE. */
export const VFIO_DEVICE_FEATURE_MASK = 0xffff;
export const VFIO_DEVICE_FEATURE_GET = 1 << 16;
export const VFIO_DEVICE_FEATURE_SET = 1 << 17;
export const VFIO_DEVICE_FEATURE_PROBE = 1 << 18;

export const vfio_device_feature = defineStruct("vfio_device_feature", [
  ["argsz", u32],
  ["flags", u32],
  ["data", flex(u8)],
]);
export type VfioDeviceFeature = StructValue<typeof vfio_device_feature>;
export const VFIO_DEVICE_FEATURE = _IO(VFIO_TYPE, VFIO_BASE + 17);

// ---------------------------------------------------------------------------------------------
// Device cdev (/dev/vfio/devices/vfioN): bind to an iommufd, attach and detach a page table.

/** `token_uuid_ptr` is valid (the PCI VF token, a user pointer to 16 bytes). */
export const VFIO_DEVICE_BIND_FLAG_TOKEN = 1 << 0;

export const vfio_device_bind_iommufd = defineStruct("vfio_device_bind_iommufd", [
  ["argsz", u32],
  ["flags", u32],
  ["iommufd", s32],
  ["out_devid", u32],
  ["token_uuid_ptr", u64],
]);
export type VfioDeviceBindIommufd = StructValue<typeof vfio_device_bind_iommufd>;
export const VFIO_DEVICE_BIND_IOMMUFD = _IO(VFIO_TYPE, VFIO_BASE + 18);

export const VFIO_DEVICE_ATTACH_PASID = 1 << 0;

/** `pt_id` names an IOAS or HWPT and is written back with the HWPT actually attached. */
export const vfio_device_attach_iommufd_pt = defineStruct("vfio_device_attach_iommufd_pt", [
  ["argsz", u32],
  ["flags", u32],
  ["pt_id", u32],
  ["pasid", u32],
]);
export type VfioDeviceAttachIommufdPt = StructValue<typeof vfio_device_attach_iommufd_pt>;
export const VFIO_DEVICE_ATTACH_IOMMUFD_PT = _IO(VFIO_TYPE, VFIO_BASE + 19);

export const VFIO_DEVICE_DETACH_PASID = 1 << 0;

export const vfio_device_detach_iommufd_pt = defineStruct("vfio_device_detach_iommufd_pt", [
  ["argsz", u32],
  ["flags", u32],
  ["pasid", u32],
]);
export type VfioDeviceDetachIommufdPt = StructValue<typeof vfio_device_detach_iommufd_pt>;
export const VFIO_DEVICE_DETACH_IOMMUFD_PT = _IO(VFIO_TYPE, VFIO_BASE + 20);

// Feature numbers and their payloads (the `data[]` of `vfio_device_feature`).

/** SET only: a 16-byte UUID, the VF token of a PCI SR-IOV PF. */
export const VFIO_DEVICE_FEATURE_PCI_VF_TOKEN = 0;

export const VFIO_MIGRATION_STOP_COPY = 1 << 0;
export const VFIO_MIGRATION_P2P = 1 << 1;
export const VFIO_MIGRATION_PRE_COPY = 1 << 2;

export const vfio_device_feature_migration = defineStruct("vfio_device_feature_migration", [
  ["flags", u64],
]);
export const VFIO_DEVICE_FEATURE_MIGRATION = 1;

export const vfio_device_feature_mig_state = defineStruct("vfio_device_feature_mig_state", [
  ["device_state", u32],
  ["data_fd", s32],
]);
export const VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE = 2;

/** `enum vfio_device_mig_state`. */
export const VFIO_DEVICE_STATE_ERROR = 0;
export const VFIO_DEVICE_STATE_STOP = 1;
export const VFIO_DEVICE_STATE_RUNNING = 2;
export const VFIO_DEVICE_STATE_STOP_COPY = 3;
export const VFIO_DEVICE_STATE_RESUMING = 4;
export const VFIO_DEVICE_STATE_RUNNING_P2P = 5;
export const VFIO_DEVICE_STATE_PRE_COPY = 6;
export const VFIO_DEVICE_STATE_PRE_COPY_P2P = 7;
export const VFIO_DEVICE_STATE_NR = 8;

export const VFIO_PRECOPY_INFO_REINIT = 1 << 0;

/** Issued on the migration data fd, not on the device fd. */
export const vfio_precopy_info = defineStruct("vfio_precopy_info", [
  ["argsz", u32],
  ["flags", u32],
  ["initial_bytes", u64],
  ["dirty_bytes", u64],
]);
export const VFIO_MIG_GET_PRECOPY_INFO = _IO(VFIO_TYPE, VFIO_BASE + 21);

export const VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY = 3;

export const vfio_device_low_power_entry_with_wakeup = defineStruct(
  "vfio_device_low_power_entry_with_wakeup",
  [
    ["wakeup_eventfd", s32],
    ["reserved", u32],
  ],
);
export const VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP = 4;
export const VFIO_DEVICE_FEATURE_LOW_POWER_EXIT = 5;

/** `ranges` is a user pointer to `num_ranges` `vfio_device_feature_dma_logging_range`s. */
export const vfio_device_feature_dma_logging_control = defineStruct(
  "vfio_device_feature_dma_logging_control",
  [
    ["page_size", u64],
    ["num_ranges", u32],
    ["__reserved", u32],
    ["ranges", u64],
  ],
);

export const vfio_device_feature_dma_logging_range = defineStruct(
  "vfio_device_feature_dma_logging_range",
  [
    ["iova", u64],
    ["length", u64],
  ],
);
export const VFIO_DEVICE_FEATURE_DMA_LOGGING_START = 6;
export const VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP = 7;

/** `bitmap` is a user pointer, one bit per `page_size` from `iova`. */
export const vfio_device_feature_dma_logging_report = defineStruct(
  "vfio_device_feature_dma_logging_report",
  [
    ["iova", u64],
    ["length", u64],
    ["page_size", u64],
    ["bitmap", u64],
  ],
);
export const VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT = 8;

export const vfio_device_feature_mig_data_size = defineStruct("vfio_device_feature_mig_data_size", [
  ["stop_copy_length", u64],
]);
export const VFIO_DEVICE_FEATURE_MIG_DATA_SIZE = 9;

export const VFIO_DEVICE_FEATURE_CLEAR_MASTER = 0;
export const VFIO_DEVICE_FEATURE_SET_MASTER = 1;

export const vfio_device_feature_bus_master = defineStruct("vfio_device_feature_bus_master", [
  ["op", u32],
]);
export const VFIO_DEVICE_FEATURE_BUS_MASTER = 10;

export const VFIO_DEVICE_FEATURE_DMA_BUF = 11;

export const vfio_region_dma_range = defineStruct("vfio_region_dma_range", [
  ["offset", u64],
  ["length", u64],
]);

/** `dma_ranges` holds `nr_ranges` entries (`__counted_by(nr_ranges)`). */
export const vfio_device_feature_dma_buf = defineStruct("vfio_device_feature_dma_buf", [
  ["region_index", u32],
  ["open_flags", u32],
  ["flags", u32],
  ["nr_ranges", u32],
  ["dma_ranges", flex(vfio_region_dma_range)],
]);

/** SET enables the v2 `vfio_precopy_info`, whose `flags` is then an output. */
export const VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 = 12;

export const vfio_device_feature_zpci_err = defineStruct("vfio_device_feature_zpci_err", [
  ["data", u64],
]);
export const VFIO_DEVICE_FEATURE_ZPCI_ERROR = 13;

// ---------------------------------------------------------------------------------------------
// Type1 IOMMU backend: VFIO_IOMMU_GET_INFO and its capabilities.

export const VFIO_IOMMU_INFO_PGSIZES = 1 << 0;
export const VFIO_IOMMU_INFO_CAPS = 1 << 1;

export const vfio_iommu_type1_info = defineStruct("vfio_iommu_type1_info", [
  ["argsz", u32],
  ["flags", u32],
  ["iova_pgsizes", u64],
  ["cap_offset", u32],
  ["pad", u32],
]);
export type VfioIommuType1Info = StructValue<typeof vfio_iommu_type1_info>;

export const VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = 1;

/** One usable IOVA interval; `end` is inclusive. */
export const vfio_iova_range = defineStruct("vfio_iova_range", [
  ["start", u64],
  ["end", u64],
]);
export type VfioIovaRange = StructValue<typeof vfio_iova_range>;

export const vfio_iommu_type1_info_cap_iova_range = defineStruct(
  "vfio_iommu_type1_info_cap_iova_range",
  [
    ["header", vfio_info_cap_header],
    ["nr_iovas", u32],
    ["reserved", u32],
    ["iova_ranges", flex(vfio_iova_range)],
  ],
);
export type VfioIommuType1InfoCapIovaRange = StructValue<
  typeof vfio_iommu_type1_info_cap_iova_range
>;

export const VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION = 2;

/** Note the hole at 12: `pgsize_bitmap` is a naturally aligned `__u64`. */
export const vfio_iommu_type1_info_cap_migration = defineStruct(
  "vfio_iommu_type1_info_cap_migration",
  [
    ["header", vfio_info_cap_header],
    ["flags", u32],
    ["pgsize_bitmap", u64],
    ["max_dirty_bitmap_size", u64],
  ],
);

export const VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL = 3;

/** How many more DMA mappings the container allows (`dma_entry_limit` minus those in use). */
export const vfio_iommu_type1_info_dma_avail = defineStruct("vfio_iommu_type1_info_dma_avail", [
  ["header", vfio_info_cap_header],
  ["avail", u32],
]);
export type VfioIommuType1InfoDmaAvail = StructValue<typeof vfio_iommu_type1_info_dma_avail>;

export const VFIO_IOMMU_GET_INFO = _IO(VFIO_TYPE, VFIO_BASE + 12);

// ---------------------------------------------------------------------------------------------
// Type1 IOMMU backend: map, unmap, dirty pages.

export const VFIO_DMA_MAP_FLAG_READ = 1 << 0;
export const VFIO_DMA_MAP_FLAG_WRITE = 1 << 1;
/** Only replace the user address of an existing mapping (needs `VFIO_UPDATE_VADDR`). */
export const VFIO_DMA_MAP_FLAG_VADDR = 1 << 2;

export const vfio_iommu_type1_dma_map = defineStruct("vfio_iommu_type1_dma_map", [
  ["argsz", u32],
  ["flags", u32],
  ["vaddr", u64],
  ["iova", u64],
  ["size", u64],
]);
export type VfioIommuType1DmaMap = StructValue<typeof vfio_iommu_type1_dma_map>;
export const VFIO_IOMMU_MAP_DMA = _IO(VFIO_TYPE, VFIO_BASE + 13);

/** `data` is a user pointer (`__u64 __user *`). */
export const vfio_bitmap = defineStruct("vfio_bitmap", [
  ["pgsize", u64],
  ["size", u64],
  ["data", u64],
]);
export type VfioBitmap = StructValue<typeof vfio_bitmap>;

/** A `vfio_bitmap` follows in `data[]` with GET_DIRTY_BITMAP. */
export const VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP = 1 << 0;
/** Unmap everything; `iova` and `size` must be 0 (needs `VFIO_UNMAP_ALL`). */
export const VFIO_DMA_UNMAP_FLAG_ALL = 1 << 1;
/** Invalidate the user address only, keeping the mapping (needs `VFIO_UPDATE_VADDR`). */
export const VFIO_DMA_UNMAP_FLAG_VADDR = 1 << 2;

/** `size` is written back with the bytes unmapped. */
export const vfio_iommu_type1_dma_unmap = defineStruct("vfio_iommu_type1_dma_unmap", [
  ["argsz", u32],
  ["flags", u32],
  ["iova", u64],
  ["size", u64],
  ["data", flex(u8)],
]);
export type VfioIommuType1DmaUnmap = StructValue<typeof vfio_iommu_type1_dma_unmap>;
export const VFIO_IOMMU_UNMAP_DMA = _IO(VFIO_TYPE, VFIO_BASE + 14);

/** No argument; only the sPAPR backend implements them. */
export const VFIO_IOMMU_ENABLE = _IO(VFIO_TYPE, VFIO_BASE + 15);
export const VFIO_IOMMU_DISABLE = _IO(VFIO_TYPE, VFIO_BASE + 16);

/** Exactly one of START, STOP and GET_BITMAP. */
export const VFIO_IOMMU_DIRTY_PAGES_FLAG_START = 1 << 0;
export const VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP = 1 << 1;
export const VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP = 1 << 2;

/** With GET_BITMAP, a `vfio_iommu_type1_dirty_bitmap_get` follows in `data[]`. */
export const vfio_iommu_type1_dirty_bitmap = defineStruct("vfio_iommu_type1_dirty_bitmap", [
  ["argsz", u32],
  ["flags", u32],
  ["data", flex(u8)],
]);
export type VfioIommuType1DirtyBitmap = StructValue<typeof vfio_iommu_type1_dirty_bitmap>;

export const vfio_iommu_type1_dirty_bitmap_get = defineStruct("vfio_iommu_type1_dirty_bitmap_get", [
  ["iova", u64],
  ["size", u64],
  ["bitmap", vfio_bitmap],
]);
export type VfioIommuType1DirtyBitmapGet = StructValue<typeof vfio_iommu_type1_dirty_bitmap_get>;

export const VFIO_IOMMU_DIRTY_PAGES = _IO(VFIO_TYPE, VFIO_BASE + 17);
