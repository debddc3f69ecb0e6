/*
 * Prints, as JSON, what a C compiler says about Linux 7.3's include/uapi/linux/vfio.h: sizeof,
 * _Alignof and every member's offset and size of each struct declared in vfio.ts, and the value
 * of every constant and ioctl request. vfio.test.ts checks vfio.ts against the saved output, so
 * the test needs no compiler. The sPAPR TCE and EEH part of the header is left out, as in vfio.ts.
 *
 * Run (from this directory; the headers are the oracle kernel's `make headers_install` output):
 *   gcc -std=c11 -Wall -I/tmp/linux-oracle/kernel/7.3/uapi vfio-layout.c -o /tmp/vfio-layout \
 *     && /tmp/vfio-layout > vfio-layout.7.3.json && npx biome format --write vfio-layout.7.3.json
 * The raw source tree works too (-I.../linux-source-7.3/include/uapi -D__user=), with a warning.
 * x86_64 and arm64 are both LP64 with naturally aligned fixed-width types, so the host compiler
 * gives the arm64 numbers; the file was also produced on the 7.3 arm64 oracle and compared.
 */
#include <stddef.h>
#include <stdio.h>
#include <linux/vfio.h>

static const char *sep = "";

static void begin_struct(const char *name, size_t size, size_t align)
{
	printf("%s\n    \"%s\": { \"size\": %zu, \"align\": %zu, \"members\": [", sep, name,
	       size, align);
	sep = "";
}

static void member(const char *name, size_t offset, size_t size)
{
	printf("%s[\"%s\", %zu, %zu]", sep, name, offset, size);
	sep = ", ";
}

static void end_struct(void)
{
	printf("] }");
	sep = ",";
}

static void constant(const char *name, long long value)
{
	printf("%s\n    \"%s\": %lld", sep, name, value);
	sep = ",";
}

static void string(const char *name, const char *value)
{
	printf("%s\n    \"%s\": \"%s\"", sep, name, value);
	sep = ",";
}

#define S(s) begin_struct(#s, sizeof(struct s), _Alignof(struct s));
#define M(s, m) member(#m, offsetof(struct s, m), sizeof(((struct s *)0)->m));
/* A flexible array member has an offset and no size. */
#define FX(s, m) member(#m, offsetof(struct s, m), 0);
#define E end_struct();
/* Signed value of a #define or enumerator. */
#define K(x) constant(#x, (long long)(x));
/* Unsigned 32-bit value: ioctl requests, and flags whose C spelling overflows int (1 << 31). */
#define U(x) constant(#x, (long long)(unsigned int)(x));
#define STR(x) string(#x, x);

int main(void)
{
	printf("{\n  \"source\": \"linux 7.3 include/uapi/linux/vfio.h\",\n  \"structs\": {");
	sep = "";
	S(vfio_info_cap_header) M(vfio_info_cap_header, id) M(vfio_info_cap_header, version)
		M(vfio_info_cap_header, next) E
	S(vfio_group_status) M(vfio_group_status, argsz) M(vfio_group_status, flags) E
	S(vfio_device_info) M(vfio_device_info, argsz) M(vfio_device_info, flags)
		M(vfio_device_info, num_regions) M(vfio_device_info, num_irqs)
		M(vfio_device_info, cap_offset) M(vfio_device_info, pad) E
	S(vfio_device_info_cap_pci_atomic_comp) M(vfio_device_info_cap_pci_atomic_comp, header)
		M(vfio_device_info_cap_pci_atomic_comp, flags)
		M(vfio_device_info_cap_pci_atomic_comp, reserved) E
	S(vfio_region_info) M(vfio_region_info, argsz) M(vfio_region_info, flags)
		M(vfio_region_info, index) M(vfio_region_info, cap_offset) M(vfio_region_info, size)
		M(vfio_region_info, offset) E
	S(vfio_region_sparse_mmap_area) M(vfio_region_sparse_mmap_area, offset)
		M(vfio_region_sparse_mmap_area, size) E
	S(vfio_region_info_cap_sparse_mmap) M(vfio_region_info_cap_sparse_mmap, header)
		M(vfio_region_info_cap_sparse_mmap, nr_areas) M(vfio_region_info_cap_sparse_mmap, reserved)
		FX(vfio_region_info_cap_sparse_mmap, areas) E
	S(vfio_region_info_cap_type) M(vfio_region_info_cap_type, header)
		M(vfio_region_info_cap_type, type) M(vfio_region_info_cap_type, subtype) E
	S(vfio_region_gfx_edid) M(vfio_region_gfx_edid, edid_offset)
		M(vfio_region_gfx_edid, edid_max_size) M(vfio_region_gfx_edid, edid_size)
		M(vfio_region_gfx_edid, max_xres) M(vfio_region_gfx_edid, max_yres)
		M(vfio_region_gfx_edid, link_state) E
	S(vfio_device_migration_info) M(vfio_device_migration_info, device_state)
		M(vfio_device_migration_info, reserved) M(vfio_device_migration_info, pending_bytes)
		M(vfio_device_migration_info, data_offset) M(vfio_device_migration_info, data_size) E
	S(vfio_region_info_cap_nvlink2_ssatgt) M(vfio_region_info_cap_nvlink2_ssatgt, header)
		M(vfio_region_info_cap_nvlink2_ssatgt, tgt) E
	S(vfio_region_info_cap_nvlink2_lnkspd) M(vfio_region_info_cap_nvlink2_lnkspd, header)
		M(vfio_region_info_cap_nvlink2_lnkspd, link_speed)
		M(vfio_region_info_cap_nvlink2_lnkspd, __pad) E
	S(vfio_irq_info) M(vfio_irq_info, argsz) M(vfio_irq_info, flags) M(vfio_irq_info, index)
		M(vfio_irq_info, count) E
	S(vfio_irq_set) M(vfio_irq_set, argsz) M(vfio_irq_set, flags) M(vfio_irq_set, index)
		M(vfio_irq_set, start) M(vfio_irq_set, count) FX(vfio_irq_set, data) E
	/* group_id and devid are the two members of an anonymous union. */
	S(vfio_pci_dependent_device) M(vfio_pci_dependent_device, group_id)
		M(vfio_pci_dependent_device, devid) M(vfio_pci_dependent_device, segment)
		M(vfio_pci_dependent_device, bus) M(vfio_pci_dependent_device, devfn) E
	S(vfio_pci_hot_reset_info) M(vfio_pci_hot_reset_info, argsz) M(vfio_pci_hot_reset_info, flags)
		M(vfio_pci_hot_reset_info, count) FX(vfio_pci_hot_reset_info, devices) E
	S(vfio_pci_hot_reset) M(vfio_pci_hot_reset, argsz) M(vfio_pci_hot_reset, flags)
		M(vfio_pci_hot_reset, count) FX(vfio_pci_hot_reset, group_fds) E
	/* region_index and dmabuf_id are the two members of an anonymous union. */
	S(vfio_device_gfx_plane_info) M(vfio_device_gfx_plane_info, argsz)
		M(vfio_device_gfx_plane_info, flags) M(vfio_device_gfx_plane_info, drm_plane_type)
		M(vfio_device_gfx_plane_info, drm_format) M(vfio_device_gfx_plane_info, drm_format_mod)
		M(vfio_device_gfx_plane_info, width) M(vfio_device_gfx_plane_info, height)
		M(vfio_device_gfx_plane_info, stride) M(vfio_device_gfx_plane_info, size)
		M(vfio_device_gfx_plane_info, x_pos) M(vfio_device_gfx_plane_info, y_pos)
		M(vfio_device_gfx_plane_info, x_hot) M(vfio_device_gfx_plane_info, y_hot)
		M(vfio_device_gfx_plane_info, region_index) M(vfio_device_gfx_plane_info, dmabuf_id)
		M(vfio_device_gfx_plane_info, reserved) E
	S(vfio_device_ioeventfd) M(vfio_device_ioeventfd, argsz) M(vfio_device_ioeventfd, flags)
		M(vfio_device_ioeventfd, offset) M(vfio_device_ioeventfd, data)
		M(vfio_device_ioeventfd, fd) M(vfio_device_ioeventfd, reserved) E
	S(vfio_device_feature) M(vfio_device_feature, argsz) M(vfio_device_feature, flags)
		FX(vfio_device_feature, data) E
	S(vfio_device_bind_iommufd) M(vfio_device_bind_iommufd, argsz)
		M(vfio_device_bind_iommufd, flags) M(vfio_device_bind_iommufd, iommufd)
		M(vfio_device_bind_iommufd, out_devid) M(vfio_device_bind_iommufd, token_uuid_ptr) E
	S(vfio_device_attach_iommufd_pt) M(vfio_device_attach_iommufd_pt, argsz)
		M(vfio_device_attach_iommufd_pt, flags) M(vfio_device_attach_iommufd_pt, pt_id)
		M(vfio_device_attach_iommufd_pt, pasid) E
	S(vfio_device_detach_iommufd_pt) M(vfio_device_detach_iommufd_pt, argsz)
		M(vfio_device_detach_iommufd_pt, flags) M(vfio_device_detach_iommufd_pt, pasid) E
	S(vfio_device_feature_migration) M(vfio_device_feature_migration, flags) E
	S(vfio_device_feature_mig_state) M(vfio_device_feature_mig_state, device_state)
		M(vfio_device_feature_mig_state, data_fd) E
	S(vfio_precopy_info) M(vfio_precopy_info, argsz) M(vfio_precopy_info, flags)
		M(vfio_precopy_info, initial_bytes) M(vfio_precopy_info, dirty_bytes) E
	S(vfio_device_low_power_entry_with_wakeup)
		M(vfio_device_low_power_entry_with_wakeup, wakeup_eventfd)
		M(vfio_device_low_power_entry_with_wakeup, reserved) E
	S(vfio_device_feature_dma_logging_control)
		M(vfio_device_feature_dma_logging_control, page_size)
		M(vfio_device_feature_dma_logging_control, num_ranges)
		M(vfio_device_feature_dma_logging_control, __reserved)
		M(vfio_device_feature_dma_logging_control, ranges) E
	S(vfio_device_feature_dma_logging_range) M(vfio_device_feature_dma_logging_range, iova)
		M(vfio_device_feature_dma_logging_range, length) E
	S(vfio_device_feature_dma_logging_report) M(vfio_device_feature_dma_logging_report, iova)
		M(vfio_device_feature_dma_logging_report, length)
		M(vfio_device_feature_dma_logging_report, page_size)
		M(vfio_device_feature_dma_logging_report, bitmap) E
	S(vfio_device_feature_mig_data_size) M(vfio_device_feature_mig_data_size, stop_copy_length) E
	S(vfio_device_feature_bus_master) M(vfio_device_feature_bus_master, op) E
	S(vfio_region_dma_range) M(vfio_region_dma_range, offset) M(vfio_region_dma_range, length) E
	S(vfio_device_feature_dma_buf) M(vfio_device_feature_dma_buf, region_index)
		M(vfio_device_feature_dma_buf, open_flags) M(vfio_device_feature_dma_buf, flags)
		M(vfio_device_feature_dma_buf, nr_ranges) FX(vfio_device_feature_dma_buf, dma_ranges) E
	S(vfio_device_feature_zpci_err) M(vfio_device_feature_zpci_err, data) E
	S(vfio_iommu_type1_info) M(vfio_iommu_type1_info, argsz) M(vfio_iommu_type1_info, flags)
		M(vfio_iommu_type1_info, iova_pgsizes) M(vfio_iommu_type1_info, cap_offset)
		M(vfio_iommu_type1_info, pad) E
	S(vfio_iova_range) M(vfio_iova_range, start) M(vfio_iova_range, end) E
	S(vfio_iommu_type1_info_cap_iova_range) M(vfio_iommu_type1_info_cap_iova_range, header)
		M(vfio_iommu_type1_info_cap_iova_range, nr_iovas)
		M(vfio_iommu_type1_info_cap_iova_range, reserved)
		FX(vfio_iommu_type1_info_cap_iova_range, iova_ranges) E
	S(vfio_iommu_type1_info_cap_migration) M(vfio_iommu_type1_info_cap_migration, header)
		M(vfio_iommu_type1_info_cap_migration, flags)
		M(vfio_iommu_type1_info_cap_migration, pgsize_bitmap)
		M(vfio_iommu_type1_info_cap_migration, max_dirty_bitmap_size) E
	S(vfio_iommu_type1_info_dma_avail) M(vfio_iommu_type1_info_dma_avail, header)
		M(vfio_iommu_type1_info_dma_avail, avail) E
	S(vfio_iommu_type1_dma_map) M(vfio_iommu_type1_dma_map, argsz)
		M(vfio_iommu_type1_dma_map, flags) M(vfio_iommu_type1_dma_map, vaddr)
		M(vfio_iommu_type1_dma_map, iova) M(vfio_iommu_type1_dma_map, size) E
	S(vfio_bitmap) M(vfio_bitmap, pgsize) M(vfio_bitmap, size) M(vfio_bitmap, data) E
	S(vfio_iommu_type1_dma_unmap) M(vfio_iommu_type1_dma_unmap, argsz)
		M(vfio_iommu_type1_dma_unmap, flags) M(vfio_iommu_type1_dma_unmap, iova)
		M(vfio_iommu_type1_dma_unmap, size) FX(vfio_iommu_type1_dma_unmap, data) E
	S(vfio_iommu_type1_dirty_bitmap) M(vfio_iommu_type1_dirty_bitmap, argsz)
		M(vfio_iommu_type1_dirty_bitmap, flags) FX(vfio_iommu_type1_dirty_bitmap, data) E
	S(vfio_iommu_type1_dirty_bitmap_get) M(vfio_iommu_type1_dirty_bitmap_get, iova)
		M(vfio_iommu_type1_dirty_bitmap_get, size) M(vfio_iommu_type1_dirty_bitmap_get, bitmap) E

	printf("\n  },\n  \"constants\": {");
	sep = "";
	K(VFIO_API_VERSION)
	K(VFIO_TYPE1_IOMMU) K(VFIO_SPAPR_TCE_IOMMU) K(VFIO_TYPE1v2_IOMMU) K(VFIO_DMA_CC_IOMMU)
	K(VFIO_EEH) K(__VFIO_RESERVED_TYPE1_NESTING_IOMMU) K(VFIO_SPAPR_TCE_v2_IOMMU)
	K(VFIO_NOIOMMU_IOMMU) K(VFIO_UNMAP_ALL) K(VFIO_UPDATE_VADDR)
	K(VFIO_TYPE) K(VFIO_BASE)
	U(VFIO_GET_API_VERSION) U(VFIO_CHECK_EXTENSION) U(VFIO_SET_IOMMU)
	K(VFIO_GROUP_FLAGS_VIABLE) K(VFIO_GROUP_FLAGS_CONTAINER_SET)
	U(VFIO_GROUP_GET_STATUS) U(VFIO_GROUP_SET_CONTAINER) U(VFIO_GROUP_UNSET_CONTAINER)
	U(VFIO_GROUP_GET_DEVICE_FD)
	K(VFIO_DEVICE_FLAGS_RESET) K(VFIO_DEVICE_FLAGS_PCI) K(VFIO_DEVICE_FLAGS_PLATFORM)
	K(VFIO_DEVICE_FLAGS_AMBA) K(VFIO_DEVICE_FLAGS_CCW) K(VFIO_DEVICE_FLAGS_AP)
	K(VFIO_DEVICE_FLAGS_FSL_MC) K(VFIO_DEVICE_FLAGS_CAPS) K(VFIO_DEVICE_FLAGS_CDX)
	U(VFIO_DEVICE_GET_INFO)
	STR(VFIO_DEVICE_API_PCI_STRING) STR(VFIO_DEVICE_API_PLATFORM_STRING)
	STR(VFIO_DEVICE_API_AMBA_STRING) STR(VFIO_DEVICE_API_CCW_STRING)
	STR(VFIO_DEVICE_API_AP_STRING)
	K(VFIO_DEVICE_INFO_CAP_ZPCI_BASE) K(VFIO_DEVICE_INFO_CAP_ZPCI_GROUP)
	K(VFIO_DEVICE_INFO_CAP_ZPCI_UTIL) K(VFIO_DEVICE_INFO_CAP_ZPCI_PFIP)
	K(VFIO_DEVICE_INFO_CAP_PCI_ATOMIC_COMP)
	K(VFIO_PCI_ATOMIC_COMP32) K(VFIO_PCI_ATOMIC_COMP64) K(VFIO_PCI_ATOMIC_COMP128)
	K(VFIO_REGION_INFO_FLAG_READ) K(VFIO_REGION_INFO_FLAG_WRITE) K(VFIO_REGION_INFO_FLAG_MMAP)
	K(VFIO_REGION_INFO_FLAG_CAPS)
	U(VFIO_DEVICE_GET_REGION_INFO)
	K(VFIO_REGION_INFO_CAP_SPARSE_MMAP) K(VFIO_REGION_INFO_CAP_TYPE)
	U(VFIO_REGION_TYPE_PCI_VENDOR_TYPE) K(VFIO_REGION_TYPE_PCI_VENDOR_MASK)
	K(VFIO_REGION_TYPE_GFX) K(VFIO_REGION_TYPE_CCW) K(VFIO_REGION_TYPE_MIGRATION_DEPRECATED)
	K(VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION) K(VFIO_REGION_SUBTYPE_INTEL_IGD_HOST_CFG)
	K(VFIO_REGION_SUBTYPE_INTEL_IGD_LPC_CFG)
	K(VFIO_REGION_SUBTYPE_NVIDIA_NVLINK2_RAM)
	K(VFIO_REGION_SUBTYPE_IBM_NVLINK2_ATSD)
	K(VFIO_REGION_SUBTYPE_GFX_EDID)
	K(VFIO_DEVICE_GFX_LINK_STATE_UP) K(VFIO_DEVICE_GFX_LINK_STATE_DOWN)
	K(VFIO_REGION_SUBTYPE_CCW_ASYNC_CMD) K(VFIO_REGION_SUBTYPE_CCW_SCHIB)
	K(VFIO_REGION_SUBTYPE_CCW_CRW)
	K(VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED)
	K(VFIO_DEVICE_STATE_V1_STOP) K(VFIO_DEVICE_STATE_V1_RUNNING) K(VFIO_DEVICE_STATE_V1_SAVING)
	K(VFIO_DEVICE_STATE_V1_RESUMING) K(VFIO_DEVICE_STATE_MASK)
	K(VFIO_REGION_INFO_CAP_MSIX_MAPPABLE)
	K(VFIO_REGION_INFO_CAP_NVLINK2_SSATGT) K(VFIO_REGION_INFO_CAP_NVLINK2_LNKSPD)
	K(VFIO_IRQ_INFO_EVENTFD) K(VFIO_IRQ_INFO_MASKABLE) K(VFIO_IRQ_INFO_AUTOMASKED)
	K(VFIO_IRQ_INFO_NORESIZE)
	U(VFIO_DEVICE_GET_IRQ_INFO)
	K(VFIO_IRQ_SET_DATA_NONE) K(VFIO_IRQ_SET_DATA_BOOL) K(VFIO_IRQ_SET_DATA_EVENTFD)
	K(VFIO_IRQ_SET_ACTION_MASK) K(VFIO_IRQ_SET_ACTION_UNMASK) K(VFIO_IRQ_SET_ACTION_TRIGGER)
	U(VFIO_DEVICE_SET_IRQS)
	K(VFIO_IRQ_SET_DATA_TYPE_MASK) K(VFIO_IRQ_SET_ACTION_TYPE_MASK)
	U(VFIO_DEVICE_RESET)
	K(VFIO_PCI_BAR0_REGION_INDEX) K(VFIO_PCI_BAR1_REGION_INDEX) K(VFIO_PCI_BAR2_REGION_INDEX)
	K(VFIO_PCI_BAR3_REGION_INDEX) K(VFIO_PCI_BAR4_REGION_INDEX) K(VFIO_PCI_BAR5_REGION_INDEX)
	K(VFIO_PCI_ROM_REGION_INDEX) K(VFIO_PCI_CONFIG_REGION_INDEX) K(VFIO_PCI_VGA_REGION_INDEX)
	K(VFIO_PCI_NUM_REGIONS)
	K(VFIO_PCI_INTX_IRQ_INDEX) K(VFIO_PCI_MSI_IRQ_INDEX) K(VFIO_PCI_MSIX_IRQ_INDEX)
	K(VFIO_PCI_ERR_IRQ_INDEX) K(VFIO_PCI_REQ_IRQ_INDEX) K(VFIO_PCI_NUM_IRQS)
	K(VFIO_CCW_CONFIG_REGION_INDEX) K(VFIO_CCW_NUM_REGIONS)
	K(VFIO_CCW_IO_IRQ_INDEX) K(VFIO_CCW_CRW_IRQ_INDEX) K(VFIO_CCW_REQ_IRQ_INDEX)
	K(VFIO_CCW_NUM_IRQS)
	K(VFIO_AP_REQ_IRQ_INDEX) K(VFIO_AP_CFG_CHG_IRQ_INDEX) K(VFIO_AP_NUM_IRQS)
	K(VFIO_PCI_DEVID_OWNED) K(VFIO_PCI_DEVID_NOT_OWNED)
	K(VFIO_PCI_HOT_RESET_FLAG_DEV_ID) K(VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED)
	U(VFIO_DEVICE_GET_PCI_HOT_RESET_INFO) U(VFIO_DEVICE_PCI_HOT_RESET)
	K(VFIO_GFX_PLANE_TYPE_PROBE) K(VFIO_GFX_PLANE_TYPE_DMABUF) K(VFIO_GFX_PLANE_TYPE_REGION)
	U(VFIO_DEVICE_QUERY_GFX_PLANE) U(VFIO_DEVICE_GET_GFX_DMABUF)
	K(VFIO_DEVICE_IOEVENTFD_8) K(VFIO_DEVICE_IOEVENTFD_16) K(VFIO_DEVICE_IOEVENTFD_32)
	K(VFIO_DEVICE_IOEVENTFD_64) K(VFIO_DEVICE_IOEVENTFD_SIZE_MASK)
	U(VFIO_DEVICE_IOEVENTFD)
	K(VFIO_DEVICE_FEATURE_MASK) K(VFIO_DEVICE_FEATURE_GET) K(VFIO_DEVICE_FEATURE_SET)
	K(VFIO_DEVICE_FEATURE_PROBE)
	U(VFIO_DEVICE_FEATURE)
	K(VFIO_DEVICE_BIND_FLAG_TOKEN) U(VFIO_DEVICE_BIND_IOMMUFD)
	K(VFIO_DEVICE_ATTACH_PASID) U(VFIO_DEVICE_ATTACH_IOMMUFD_PT)
	K(VFIO_DEVICE_DETACH_PASID) U(VFIO_DEVICE_DETACH_IOMMUFD_PT)
	K(VFIO_DEVICE_FEATURE_PCI_VF_TOKEN)
	K(VFIO_MIGRATION_STOP_COPY) K(VFIO_MIGRATION_P2P) K(VFIO_MIGRATION_PRE_COPY)
	K(VFIO_DEVICE_FEATURE_MIGRATION) K(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE)
	K(VFIO_DEVICE_STATE_ERROR) K(VFIO_DEVICE_STATE_STOP) K(VFIO_DEVICE_STATE_RUNNING)
	K(VFIO_DEVICE_STATE_STOP_COPY) K(VFIO_DEVICE_STATE_RESUMING)
	K(VFIO_DEVICE_STATE_RUNNING_P2P) K(VFIO_DEVICE_STATE_PRE_COPY)
	K(VFIO_DEVICE_STATE_PRE_COPY_P2P) K(VFIO_DEVICE_STATE_NR)
	K(VFIO_PRECOPY_INFO_REINIT) U(VFIO_MIG_GET_PRECOPY_INFO)
	K(VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY) K(VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP)
	K(VFIO_DEVICE_FEATURE_LOW_POWER_EXIT)
	K(VFIO_DEVICE_FEATURE_DMA_LOGGING_START) K(VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP)
	K(VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT) K(VFIO_DEVICE_FEATURE_MIG_DATA_SIZE)
	K(VFIO_DEVICE_FEATURE_CLEAR_MASTER) K(VFIO_DEVICE_FEATURE_SET_MASTER)
	K(VFIO_DEVICE_FEATURE_BUS_MASTER) K(VFIO_DEVICE_FEATURE_DMA_BUF)
	K(VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2) K(VFIO_DEVICE_FEATURE_ZPCI_ERROR)
	K(VFIO_IOMMU_INFO_PGSIZES) K(VFIO_IOMMU_INFO_CAPS)
	K(VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) K(VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION)
	K(VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL)
	U(VFIO_IOMMU_GET_INFO)
	K(VFIO_DMA_MAP_FLAG_READ) K(VFIO_DMA_MAP_FLAG_WRITE) K(VFIO_DMA_MAP_FLAG_VADDR)
	U(VFIO_IOMMU_MAP_DMA)
	K(VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) K(VFIO_DMA_UNMAP_FLAG_ALL)
	K(VFIO_DMA_UNMAP_FLAG_VADDR)
	U(VFIO_IOMMU_UNMAP_DMA)
	U(VFIO_IOMMU_ENABLE) U(VFIO_IOMMU_DISABLE)
	K(VFIO_IOMMU_DIRTY_PAGES_FLAG_START) K(VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP)
	K(VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP)
	U(VFIO_IOMMU_DIRTY_PAGES)
	printf("\n  }\n}\n");
	return 0;
}
