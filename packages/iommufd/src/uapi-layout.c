/*
 * Prints, as JSON, what a C compiler says about Linux 7.3's include/uapi/linux/iommufd.h: sizeof,
 * _Alignof and every member's offset and size of each struct declared in uapi.ts, the value of
 * every constant and ioctl request, and the minimum size main.c's IOCTL_OP table derives.
 * uapi.test.ts checks uapi.ts against the saved output, so the test needs no compiler.
 *
 * Run (from this directory; the headers are the oracle kernel's `make headers_install` output):
 *   gcc -std=c11 -Wall -I/tmp/linux-oracle/kernel/7.3/uapi uapi-layout.c -o /tmp/iommufd-layout \
 *     && /tmp/iommufd-layout > uapi-layout.7.3.json && npx biome format --write uapi-layout.7.3.json
 * The raw source tree works too (-I.../linux-source-7.3/include/uapi), with a warning.
 * x86_64 and arm64 are both LP64 with naturally aligned fixed-width types, so the host compiler
 * gives the arm64 numbers; the file was also produced on the 7.3 arm64 oracle and compared.
 */
#include <stddef.h>
#include <stdio.h>
#include <linux/iommufd.h>

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

#define S(s) begin_struct(#s, sizeof(struct s), _Alignof(struct s));
#define M(s, m) member(#m, offsetof(struct s, m), sizeof(((struct s *)0)->m));
#define E end_struct();
/* Signed value of an enumerator or #define. */
#define K(x) constant(#x, (long long)(x));
/* An ioctl request: the unsigned int an ioctl handler receives. */
#define R(x) constant(#x, (long long)(unsigned int)(x));
/* main.c: IOCTL_OP(_ioctl, _fn, _struct, _last) gives min_size = offsetofend(_struct, _last). */
#define MIN(req, s, last) \
	constant(#req, (long long)(offsetof(struct s, last) + sizeof(((struct s *)0)->last)));

int main(void)
{
	printf("{\n  \"source\": \"linux 7.3 include/uapi/linux/iommufd.h\",\n  \"structs\": {");
	sep = "";
	S(iommu_destroy) M(iommu_destroy, size) M(iommu_destroy, id) E
	S(iommu_ioas_alloc) M(iommu_ioas_alloc, size) M(iommu_ioas_alloc, flags)
		M(iommu_ioas_alloc, out_ioas_id) E
	S(iommu_iova_range) M(iommu_iova_range, start) M(iommu_iova_range, last) E
	S(iommu_ioas_iova_ranges) M(iommu_ioas_iova_ranges, size) M(iommu_ioas_iova_ranges, ioas_id)
		M(iommu_ioas_iova_ranges, num_iovas) M(iommu_ioas_iova_ranges, __reserved)
		M(iommu_ioas_iova_ranges, allowed_iovas) M(iommu_ioas_iova_ranges, out_iova_alignment) E
	S(iommu_ioas_allow_iovas) M(iommu_ioas_allow_iovas, size) M(iommu_ioas_allow_iovas, ioas_id)
		M(iommu_ioas_allow_iovas, num_iovas) M(iommu_ioas_allow_iovas, __reserved)
		M(iommu_ioas_allow_iovas, allowed_iovas) E
	S(iommu_ioas_map) M(iommu_ioas_map, size) M(iommu_ioas_map, flags) M(iommu_ioas_map, ioas_id)
		M(iommu_ioas_map, __reserved) M(iommu_ioas_map, user_va) M(iommu_ioas_map, length)
		M(iommu_ioas_map, iova) E
	S(iommu_ioas_noiommu_get_pa) M(iommu_ioas_noiommu_get_pa, size)
		M(iommu_ioas_noiommu_get_pa, flags) M(iommu_ioas_noiommu_get_pa, ioas_id)
		M(iommu_ioas_noiommu_get_pa, __reserved) M(iommu_ioas_noiommu_get_pa, iova)
		M(iommu_ioas_noiommu_get_pa, length) M(iommu_ioas_noiommu_get_pa, out_phys) E
	S(iommu_ioas_map_file) M(iommu_ioas_map_file, size) M(iommu_ioas_map_file, flags)
		M(iommu_ioas_map_file, ioas_id) M(iommu_ioas_map_file, fd) M(iommu_ioas_map_file, start)
		M(iommu_ioas_map_file, length) M(iommu_ioas_map_file, iova) E
	S(iommu_ioas_copy) M(iommu_ioas_copy, size) M(iommu_ioas_copy, flags)
		M(iommu_ioas_copy, dst_ioas_id) M(iommu_ioas_copy, src_ioas_id) M(iommu_ioas_copy, length)
		M(iommu_ioas_copy, dst_iova) M(iommu_ioas_copy, src_iova) E
	S(iommu_ioas_unmap) M(iommu_ioas_unmap, size) M(iommu_ioas_unmap, ioas_id)
		M(iommu_ioas_unmap, iova) M(iommu_ioas_unmap, length) E
	S(iommu_option) M(iommu_option, size) M(iommu_option, option_id) M(iommu_option, op)
		M(iommu_option, __reserved) M(iommu_option, object_id) M(iommu_option, val64) E
	S(iommu_vfio_ioas) M(iommu_vfio_ioas, size) M(iommu_vfio_ioas, ioas_id) M(iommu_vfio_ioas, op)
		M(iommu_vfio_ioas, __reserved) E
	S(iommu_hwpt_vtd_s1) M(iommu_hwpt_vtd_s1, flags) M(iommu_hwpt_vtd_s1, pgtbl_addr)
		M(iommu_hwpt_vtd_s1, addr_width) M(iommu_hwpt_vtd_s1, __reserved) E
	S(iommu_hwpt_arm_smmuv3) M(iommu_hwpt_arm_smmuv3, ste) E
	S(iommu_hwpt_amd_guest) M(iommu_hwpt_amd_guest, dte) E
	S(iommu_hwpt_alloc) M(iommu_hwpt_alloc, size) M(iommu_hwpt_alloc, flags)
		M(iommu_hwpt_alloc, dev_id) M(iommu_hwpt_alloc, pt_id) M(iommu_hwpt_alloc, out_hwpt_id)
		M(iommu_hwpt_alloc, __reserved) M(iommu_hwpt_alloc, data_type)
		M(iommu_hwpt_alloc, data_len) M(iommu_hwpt_alloc, data_uptr)
		M(iommu_hwpt_alloc, fault_id) M(iommu_hwpt_alloc, __reserved2) E
	S(iommu_hw_info_vtd) M(iommu_hw_info_vtd, flags) M(iommu_hw_info_vtd, __reserved)
		M(iommu_hw_info_vtd, cap_reg) M(iommu_hw_info_vtd, ecap_reg) E
	S(iommu_hw_info_arm_smmuv3) M(iommu_hw_info_arm_smmuv3, flags)
		M(iommu_hw_info_arm_smmuv3, __reserved) M(iommu_hw_info_arm_smmuv3, idr)
		M(iommu_hw_info_arm_smmuv3, iidr) M(iommu_hw_info_arm_smmuv3, aidr) E
	S(iommu_hw_info_tegra241_cmdqv) M(iommu_hw_info_tegra241_cmdqv, flags)
		M(iommu_hw_info_tegra241_cmdqv, version) M(iommu_hw_info_tegra241_cmdqv, log2vcmdqs)
		M(iommu_hw_info_tegra241_cmdqv, log2vsids) M(iommu_hw_info_tegra241_cmdqv, __reserved) E
	S(iommu_hw_info_amd) M(iommu_hw_info_amd, efr) M(iommu_hw_info_amd, efr2) E
	/* in_data_type and out_data_type are the two members of an anonymous union. */
	S(iommu_hw_info) M(iommu_hw_info, size) M(iommu_hw_info, flags) M(iommu_hw_info, dev_id)
		M(iommu_hw_info, data_len) M(iommu_hw_info, data_uptr) M(iommu_hw_info, in_data_type)
		M(iommu_hw_info, out_data_type) M(iommu_hw_info, out_max_pasid_log2)
		M(iommu_hw_info, __reserved) M(iommu_hw_info, out_capabilities) E
	S(iommu_hwpt_set_dirty_tracking) M(iommu_hwpt_set_dirty_tracking, size)
		M(iommu_hwpt_set_dirty_tracking, flags) M(iommu_hwpt_set_dirty_tracking, hwpt_id)
		M(iommu_hwpt_set_dirty_tracking, __reserved) E
	S(iommu_hwpt_get_dirty_bitmap) M(iommu_hwpt_get_dirty_bitmap, size)
		M(iommu_hwpt_get_dirty_bitmap, hwpt_id) M(iommu_hwpt_get_dirty_bitmap, flags)
		M(iommu_hwpt_get_dirty_bitmap, __reserved) M(iommu_hwpt_get_dirty_bitmap, iova)
		M(iommu_hwpt_get_dirty_bitmap, length) M(iommu_hwpt_get_dirty_bitmap, page_size)
		M(iommu_hwpt_get_dirty_bitmap, data) E
	S(iommu_hwpt_vtd_s1_invalidate) M(iommu_hwpt_vtd_s1_invalidate, addr)
		M(iommu_hwpt_vtd_s1_invalidate, npages) M(iommu_hwpt_vtd_s1_invalidate, flags)
		M(iommu_hwpt_vtd_s1_invalidate, __reserved) E
	S(iommu_viommu_arm_smmuv3_invalidate) M(iommu_viommu_arm_smmuv3_invalidate, cmd) E
	S(iommu_hwpt_invalidate) M(iommu_hwpt_invalidate, size) M(iommu_hwpt_invalidate, hwpt_id)
		M(iommu_hwpt_invalidate, data_uptr) M(iommu_hwpt_invalidate, data_type)
		M(iommu_hwpt_invalidate, entry_len) M(iommu_hwpt_invalidate, entry_num)
		M(iommu_hwpt_invalidate, __reserved) E
	S(iommu_hwpt_pgfault) M(iommu_hwpt_pgfault, flags) M(iommu_hwpt_pgfault, dev_id)
		M(iommu_hwpt_pgfault, pasid) M(iommu_hwpt_pgfault, grpid) M(iommu_hwpt_pgfault, perm)
		M(iommu_hwpt_pgfault, __reserved) M(iommu_hwpt_pgfault, addr)
		M(iommu_hwpt_pgfault, length) M(iommu_hwpt_pgfault, cookie) E
	S(iommu_hwpt_page_response) M(iommu_hwpt_page_response, cookie)
		M(iommu_hwpt_page_response, code) E
	S(iommu_fault_alloc) M(iommu_fault_alloc, size) M(iommu_fault_alloc, flags)
		M(iommu_fault_alloc, out_fault_id) M(iommu_fault_alloc, out_fault_fd) E
	S(iommu_viommu_tegra241_cmdqv) M(iommu_viommu_tegra241_cmdqv, out_vintf_mmap_offset)
		M(iommu_viommu_tegra241_cmdqv, out_vintf_mmap_length) E
	S(iommu_viommu_alloc) M(iommu_viommu_alloc, size) M(iommu_viommu_alloc, flags)
		M(iommu_viommu_alloc, type) M(iommu_viommu_alloc, dev_id) M(iommu_viommu_alloc, hwpt_id)
		M(iommu_viommu_alloc, out_viommu_id) M(iommu_viommu_alloc, data_len)
		M(iommu_viommu_alloc, __reserved) M(iommu_viommu_alloc, data_uptr) E
	S(iommu_vdevice_alloc) M(iommu_vdevice_alloc, size) M(iommu_vdevice_alloc, viommu_id)
		M(iommu_vdevice_alloc, dev_id) M(iommu_vdevice_alloc, out_vdevice_id)
		M(iommu_vdevice_alloc, virt_id) E
	S(iommu_ioas_change_process) M(iommu_ioas_change_process, size)
		M(iommu_ioas_change_process, __reserved) E
	S(iommufd_vevent_header) M(iommufd_vevent_header, flags) M(iommufd_vevent_header, sequence) E
	S(iommu_vevent_arm_smmuv3) M(iommu_vevent_arm_smmuv3, evt) E
	S(iommu_vevent_tegra241_cmdqv) M(iommu_vevent_tegra241_cmdqv, lvcmdq_err_map) E
	S(iommu_veventq_alloc) M(iommu_veventq_alloc, size) M(iommu_veventq_alloc, flags)
		M(iommu_veventq_alloc, viommu_id) M(iommu_veventq_alloc, type)
		M(iommu_veventq_alloc, veventq_depth) M(iommu_veventq_alloc, out_veventq_id)
		M(iommu_veventq_alloc, out_veventq_fd) M(iommu_veventq_alloc, __reserved) E
	S(iommu_hw_queue_alloc) M(iommu_hw_queue_alloc, size) M(iommu_hw_queue_alloc, flags)
		M(iommu_hw_queue_alloc, viommu_id) M(iommu_hw_queue_alloc, type)
		M(iommu_hw_queue_alloc, index) M(iommu_hw_queue_alloc, out_hw_queue_id)
		M(iommu_hw_queue_alloc, nesting_parent_iova) M(iommu_hw_queue_alloc, length) E

	printf("\n  },\n  \"constants\": {");
	sep = "";
	K(IOMMUFD_TYPE)
	K(IOMMUFD_CMD_BASE) K(IOMMUFD_CMD_DESTROY) K(IOMMUFD_CMD_IOAS_ALLOC)
	K(IOMMUFD_CMD_IOAS_ALLOW_IOVAS) K(IOMMUFD_CMD_IOAS_COPY) K(IOMMUFD_CMD_IOAS_IOVA_RANGES)
	K(IOMMUFD_CMD_IOAS_MAP) K(IOMMUFD_CMD_IOAS_UNMAP) K(IOMMUFD_CMD_OPTION)
	K(IOMMUFD_CMD_VFIO_IOAS) K(IOMMUFD_CMD_HWPT_ALLOC) K(IOMMUFD_CMD_GET_HW_INFO)
	K(IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING) K(IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP)
	K(IOMMUFD_CMD_HWPT_INVALIDATE) K(IOMMUFD_CMD_FAULT_QUEUE_ALLOC) K(IOMMUFD_CMD_IOAS_MAP_FILE)
	K(IOMMUFD_CMD_VIOMMU_ALLOC) K(IOMMUFD_CMD_VDEVICE_ALLOC) K(IOMMUFD_CMD_IOAS_CHANGE_PROCESS)
	K(IOMMUFD_CMD_VEVENTQ_ALLOC) K(IOMMUFD_CMD_HW_QUEUE_ALLOC)
	K(IOMMUFD_CMD_IOAS_NOIOMMU_GET_PA)
	R(IOMMU_DESTROY) R(IOMMU_IOAS_ALLOC) R(IOMMU_IOAS_ALLOW_IOVAS) R(IOMMU_IOAS_COPY)
	R(IOMMU_IOAS_IOVA_RANGES) R(IOMMU_IOAS_MAP) R(IOMMU_IOAS_UNMAP) R(IOMMU_OPTION)
	R(IOMMU_VFIO_IOAS) R(IOMMU_HWPT_ALLOC) R(IOMMU_GET_HW_INFO)
	R(IOMMU_HWPT_SET_DIRTY_TRACKING) R(IOMMU_HWPT_GET_DIRTY_BITMAP) R(IOMMU_HWPT_INVALIDATE)
	R(IOMMU_FAULT_QUEUE_ALLOC) R(IOMMU_IOAS_MAP_FILE) R(IOMMU_VIOMMU_ALLOC)
	R(IOMMU_VDEVICE_ALLOC) R(IOMMU_IOAS_CHANGE_PROCESS) R(IOMMU_VEVENTQ_ALLOC)
	R(IOMMU_HW_QUEUE_ALLOC) R(IOMMU_IOAS_NOIOMMU_GET_PA)
	K(IOMMU_IOAS_MAP_FIXED_IOVA) K(IOMMU_IOAS_MAP_WRITEABLE) K(IOMMU_IOAS_MAP_READABLE)
	K(IOMMU_OPTION_RLIMIT_MODE) K(IOMMU_OPTION_HUGE_PAGES)
	K(IOMMU_OPTION_OP_SET) K(IOMMU_OPTION_OP_GET)
	K(IOMMU_VFIO_IOAS_GET) K(IOMMU_VFIO_IOAS_SET) K(IOMMU_VFIO_IOAS_CLEAR)
	K(IOMMU_HWPT_ALLOC_NEST_PARENT) K(IOMMU_HWPT_ALLOC_DIRTY_TRACKING)
	K(IOMMU_HWPT_FAULT_ID_VALID) K(IOMMU_HWPT_ALLOC_PASID)
	K(IOMMU_VTD_S1_SRE) K(IOMMU_VTD_S1_EAFE) K(IOMMU_VTD_S1_WPE)
	K(IOMMU_HWPT_DATA_NONE) K(IOMMU_HWPT_DATA_VTD_S1) K(IOMMU_HWPT_DATA_ARM_SMMUV3)
	K(IOMMU_HWPT_DATA_AMD_GUEST)
	K(IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17)
	K(IOMMU_HW_INFO_ARM_SMMUV3_ERRATA_REPEAT_TLBI_CFGI)
	K(IOMMU_HW_INFO_TYPE_NONE) K(IOMMU_HW_INFO_TYPE_DEFAULT) K(IOMMU_HW_INFO_TYPE_INTEL_VTD)
	K(IOMMU_HW_INFO_TYPE_ARM_SMMUV3) K(IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV)
	K(IOMMU_HW_INFO_TYPE_AMD)
	K(IOMMU_HW_CAP_DIRTY_TRACKING) K(IOMMU_HW_CAP_PCI_PASID_EXEC) K(IOMMU_HW_CAP_PCI_PASID_PRIV)
	K(IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED)
	K(IOMMU_HW_INFO_FLAG_INPUT_TYPE)
	K(IOMMU_HWPT_DIRTY_TRACKING_ENABLE)
	K(IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR)
	K(IOMMU_HWPT_INVALIDATE_DATA_VTD_S1) K(IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3)
	K(IOMMU_VTD_INV_FLAGS_LEAF)
	K(IOMMU_PGFAULT_FLAGS_PASID_VALID) K(IOMMU_PGFAULT_FLAGS_LAST_PAGE)
	K(IOMMU_PGFAULT_PERM_READ) K(IOMMU_PGFAULT_PERM_WRITE) K(IOMMU_PGFAULT_PERM_EXEC)
	K(IOMMU_PGFAULT_PERM_PRIV)
	K(IOMMUFD_PAGE_RESP_SUCCESS) K(IOMMUFD_PAGE_RESP_INVALID)
	K(IOMMU_VIOMMU_TYPE_DEFAULT) K(IOMMU_VIOMMU_TYPE_ARM_SMMUV3)
	K(IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV)
	K(IOMMU_VEVENTQ_FLAG_LOST_EVENTS)
	K(IOMMU_VEVENTQ_TYPE_DEFAULT) K(IOMMU_VEVENTQ_TYPE_ARM_SMMUV3)
	K(IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV)
	K(IOMMU_HW_QUEUE_TYPE_DEFAULT) K(IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV)

	/* The same (request, struct, last member) triples as main.c's iommufd_ioctl_ops[]. */
	printf("\n  },\n  \"ioctlMinSize\": {");
	sep = "";
	MIN(IOMMU_DESTROY, iommu_destroy, id)
	MIN(IOMMU_IOAS_ALLOC, iommu_ioas_alloc, out_ioas_id)
	MIN(IOMMU_IOAS_ALLOW_IOVAS, iommu_ioas_allow_iovas, allowed_iovas)
	MIN(IOMMU_IOAS_COPY, iommu_ioas_copy, src_iova)
	MIN(IOMMU_IOAS_IOVA_RANGES, iommu_ioas_iova_ranges, out_iova_alignment)
	MIN(IOMMU_IOAS_MAP, iommu_ioas_map, iova)
	MIN(IOMMU_IOAS_UNMAP, iommu_ioas_unmap, length)
	MIN(IOMMU_OPTION, iommu_option, val64)
	MIN(IOMMU_VFIO_IOAS, iommu_vfio_ioas, __reserved)
	MIN(IOMMU_HWPT_ALLOC, iommu_hwpt_alloc, __reserved)
	MIN(IOMMU_GET_HW_INFO, iommu_hw_info, __reserved)
	MIN(IOMMU_HWPT_SET_DIRTY_TRACKING, iommu_hwpt_set_dirty_tracking, __reserved)
	MIN(IOMMU_HWPT_GET_DIRTY_BITMAP, iommu_hwpt_get_dirty_bitmap, data)
	MIN(IOMMU_HWPT_INVALIDATE, iommu_hwpt_invalidate, __reserved)
	MIN(IOMMU_FAULT_QUEUE_ALLOC, iommu_fault_alloc, out_fault_fd)
	MIN(IOMMU_IOAS_MAP_FILE, iommu_ioas_map_file, iova)
	MIN(IOMMU_VIOMMU_ALLOC, iommu_viommu_alloc, out_viommu_id)
	MIN(IOMMU_VDEVICE_ALLOC, iommu_vdevice_alloc, virt_id)
	MIN(IOMMU_IOAS_CHANGE_PROCESS, iommu_ioas_change_process, __reserved)
	MIN(IOMMU_VEVENTQ_ALLOC, iommu_veventq_alloc, out_veventq_fd)
	MIN(IOMMU_HW_QUEUE_ALLOC, iommu_hw_queue_alloc, length)
	MIN(IOMMU_IOAS_NOIOMMU_GET_PA, iommu_ioas_noiommu_get_pa, out_phys)
	printf("\n  }\n}\n");
	return 0;
}
