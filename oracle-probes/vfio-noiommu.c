/* vfio-noiommu.c - no-IOMMU mode (vfio.enable_unsafe_noiommu_mode=1): the PL061 (behind no IOMMU) bound to
 * vfio-amba gets /dev/vfio/noiommu-N and /dev/vfio/devices/noiommu-vfioN; taint and log lines; the noiommu
 * container backend (container.c), the iommufd compat no-iommu mode (vfio_compat.c), the noiommu cdev bound
 * to an iommufd with NOIOMMU_GET_PA, mixing with the edu device's real group, CAP_SYS_RAWIO, and turning the
 * parameter off at run time. The modules are loaded with finit_module() and their parameters, because
 * module parameters on the kernel command line reach only modprobe. Run with --qemu-extra "-device edu". */
#include "oracle.h"
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <linux/capability.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#define DEV "9030000.pl061"
#define PS 4096UL
static unsigned char sb[256];

static void stat_node(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		orc_info("stat %s: %s", path, orc_errname(errno));
		return;
	}
	orc_info("stat %s: %s mode=%04o rdev=%u:%u", path, S_ISCHR(st.st_mode) ? "char" : "other", st.st_mode & 07777,
		 major(st.st_rdev), minor(st.st_rdev));
}

static void show_link(const char *path)
{
	char t[512];
	ssize_t n = readlink(path, t, sizeof(t) - 1);
	if (n < 0) {
		orc_info("readlink %s: %s", path, orc_errname(errno));
		return;
	}
	t[n] = 0;
	orc_info("readlink %s = %s", path, t);
}

static void checks(int c, const char *when)
{
	char line[256];
	size_t k = 0;
	for (unsigned long e = 0; e <= 11; e++) {
		errno = 0;
		long r = ioctl(c, VFIO_CHECK_EXTENSION, e);
		k += snprintf(line + k, sizeof(line) - k, " %lu=%ld%s%s", e, r, r < 0 ? "/" : "", r < 0 ? orc_errname(errno) : "");
	}
	orc_info("CHECK_EXTENSION 0..11 %s:%s", when, line);
}

static void status(int g, const char *why)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	ORC_CALL(ioctl(g, VFIO_GROUP_GET_STATUS, &st), "GROUP_GET_STATUS %s", why);
	orc_end("flags=%#x", st.flags);
}

static void container_ioctls(int c, const char *what)
{
	memset(sb, 0, sizeof(sb));
	*(unsigned *)sb = 120;
	ORC(ioctl(c, VFIO_IOMMU_GET_INFO, sb), "%s IOMMU_GET_INFO", what);
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m), .flags = 3, .vaddr = (unsigned long)sb & ~(PS - 1), .iova = 1UL << 32, .size = PS };
	ORC(ioctl(c, VFIO_IOMMU_MAP_DMA, &m), "%s IOMMU_MAP_DMA", what);
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = 1UL << 32, .size = PS };
	ORC(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &u), "%s IOMMU_UNMAP_DMA", what);
	struct vfio_iommu_type1_dirty_bitmap d = { .argsz = sizeof(d), .flags = 1 };
	ORC(ioctl(c, VFIO_IOMMU_DIRTY_PAGES, &d), "%s IOMMU_DIRTY_PAGES", what);
	ORC(ioctl(c, 0x1234), "%s ioctl 0x1234", what);
}

static void dev_info(int d, const char *why)
{
	struct vfio_device_info di = { .argsz = sizeof(di) };
	ORC_CALL(ioctl(d, VFIO_DEVICE_GET_INFO, &di), "DEVICE_GET_INFO %s", why);
	orc_end("flags=%#x num_regions=%u num_irqs=%u", di.flags, di.num_regions, di.num_irqs);
}

static void rawio(int on)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];
	syscall(SYS_capget, &h, d);
	if (on)
		d[0].effective |= 1u << CAP_SYS_RAWIO;
	else
		d[0].effective &= ~(1u << CAP_SYS_RAWIO);
	ORC(syscall(SYS_capset, &h, d), "capset(%s CAP_SYS_RAWIO in effective set)", on ? "raise" : "drop");
}

static unsigned ioas_alloc(int ifd)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	ORC_CALL(ioctl(ifd, IOMMU_IOAS_ALLOC, &a), "IOMMU_IOAS_ALLOC");
	orc_end("out_ioas_id=%u", a.out_ioas_id);
	return a.out_ioas_id;
}

static void get_pa(int ifd, unsigned ioas, unsigned long long iova, unsigned long long len, unsigned flags, const char *why)
{
	struct iommu_ioas_noiommu_get_pa q = { .size = sizeof(q), .flags = flags, .ioas_id = ioas, .iova = iova, .length = len };
	ORC_CALL(ioctl(ifd, IOMMU_IOAS_NOIOMMU_GET_PA, &q), "IOAS_NOIOMMU_GET_PA(ioas=%u iova=%#llx length=%#llx flags=%#x) %s", ioas, iova,
		 len, flags, why);
	orc_end("length=%#llx out_phys %s, page offset %#llx", (unsigned long long)q.length,
		q.out_phys >= 0x40000000ULL && q.out_phys < 0x80000000ULL ? "in RAM" : q.out_phys ? "outside RAM" : "0",
		(unsigned long long)(q.out_phys & (PS - 1)));
}

int main(void)
{
	char bdf[64], cur[128], npath[64] = "/dev/vfio/noiommu-?", gpath[64] = "/dev/vfio/?";
	orc_kmsg();
	int have_edu = orc_find_pci(0x1234, 0x11e8, bdf, sizeof(bdf)) == 0;

	orc_step("boot state");
	orc_show_file("/proc/cmdline");
	orc_tainted();
	orc_info("amba %s: driver=%s iommu_group=%d", DEV, orc_driver_of("amba", DEV, cur, sizeof(cur)), orc_iommu_group("amba", DEV));
	orc_ls("/sys/kernel/iommu_groups");

	orc_step("load vfio (enable_unsafe_noiommu_mode=1), vfio_amba, vfio_pci, vfio_iommu_type1");
	orc_modprobe("iommufd", "allow_unsafe_interrupts=1");
	orc_modprobe("vfio", "enable_unsafe_noiommu_mode=1");
	orc_modprobe("vfio_amba", "");
	orc_modprobe("vfio_pci", "");
	orc_modprobe("vfio_iommu_type1", "allow_unsafe_interrupts=1");
	orc_kmsg();
	orc_show_file("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode");
	orc_show_file("/sys/module/iommufd/parameters/allow_unsafe_interrupts");
	orc_show_file("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts");
	orc_tainted();
	if (have_edu) {
		orc_bind("pci", bdf, "vfio-pci");
		snprintf(gpath, sizeof(gpath), "/dev/vfio/%d", orc_iommu_group("pci", bdf));
		orc_kmsg();
		orc_tainted();
	}

	orc_step("bind the PL061 to vfio-amba");
	orc_bind("amba", DEV, "vfio-amba");
	orc_kmsg();
	orc_tainted();
	int ng = orc_iommu_group("amba", DEV);
	snprintf(npath, sizeof(npath), "/dev/vfio/noiommu-%d", ng);
	char p[600];
	orc_ls("/dev/vfio");
	orc_ls("/dev/vfio/devices");
	stat_node(npath);
	orc_ls("/sys/class/vfio");
	snprintf(p, sizeof(p), "/sys/class/vfio/noiommu-%d", ng);
	show_link(p);
	snprintf(p, sizeof(p), "/sys/class/vfio/noiommu-%d/dev", ng);
	orc_show_file(p);
	snprintf(p, sizeof(p), "/sys/class/vfio/noiommu-%d/uevent", ng);
	orc_show_file(p);
	orc_ls("/sys/kernel/iommu_groups");
	snprintf(p, sizeof(p), "/sys/kernel/iommu_groups/%d", ng);
	orc_ls(p);
	snprintf(p, sizeof(p), "/sys/kernel/iommu_groups/%d/name", ng);
	orc_show_file(p);
	snprintf(p, sizeof(p), "/sys/kernel/iommu_groups/%d/type", ng);
	orc_show_file(p);
	snprintf(p, sizeof(p), "/sys/kernel/iommu_groups/%d/reserved_regions", ng);
	orc_show_file(p);
	show_link("/sys/bus/amba/devices/" DEV "/iommu_group");
	orc_ls("/sys/bus/amba/devices/" DEV);
	orc_ls("/sys/bus/amba/devices/" DEV "/vfio-dev");
	orc_ls("/sys/class/vfio-dev");
	char cdev[300] = "/dev/vfio/devices/?", cname[256] = "?";
	{
		DIR *dir = opendir("/sys/bus/amba/devices/" DEV "/vfio-dev");
		for (struct dirent *de; dir && (de = readdir(dir));)
			if (de->d_name[0] != '.') {
				orc_copy(cname, sizeof(cname), de->d_name);
				snprintf(cdev, sizeof(cdev), "/dev/vfio/devices/%s", de->d_name);
			}
		if (dir)
			closedir(dir);
	}
	stat_node(cdev);
	snprintf(p, sizeof(p), "/sys/class/vfio-dev/%s", cname);
	show_link(p);
	snprintf(p, sizeof(p), "/sys/class/vfio-dev/%s/dev", cname);
	orc_show_file(p);
	snprintf(p, sizeof(p), "/sys/class/vfio-dev/%s/uevent", cname);
	orc_show_file(p);

	orc_step("noiommu group with the legacy container");
	int c = ORC(open("/dev/vfio/vfio", O_RDWR), "open(/dev/vfio/vfio)");
	checks(c, "no group");
	int g = ORC(open(npath, O_RDWR), "open(%s)", npath);
	ORC(open(npath, O_RDWR), "open(%s) again", npath);
	status(g, "before SET_CONTAINER");
	ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, DEV), "GROUP_GET_DEVICE_FD before SET_CONTAINER");
	ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c), "GROUP_SET_CONTAINER(container)");
	status(g, "after SET_CONTAINER");
	checks(c, "noiommu group attached");
	ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, DEV), "GROUP_GET_DEVICE_FD before SET_IOMMU");
	container_ioctls(c, "container before SET_IOMMU");
	int eg = -1;
	if (have_edu) {
		eg = ORC(open(gpath, O_RDWR), "open(%s) (edu, real group)", gpath);
		ORC(ioctl(eg, VFIO_GROUP_SET_CONTAINER, &c), "edu GROUP_SET_CONTAINER(noiommu container)");
	}
	ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), "SET_IOMMU(TYPE1v2)");
	ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU), "SET_IOMMU(TYPE1)");
	ORC(ioctl(c, VFIO_SET_IOMMU, 99), "SET_IOMMU(99)");
	ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU), "SET_IOMMU(NOIOMMU)");
	ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU), "SET_IOMMU(NOIOMMU) again");
	checks(c, "after SET_IOMMU(NOIOMMU)");
	container_ioctls(c, "noiommu container");
	if (have_edu)
		ORC(ioctl(eg, VFIO_GROUP_SET_CONTAINER, &c), "edu GROUP_SET_CONTAINER(noiommu container) after SET_IOMMU");
	orc_kmsg();
	int d = ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, DEV), "GROUP_GET_DEVICE_FD");
	orc_kmsg();
	int d2 = ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, DEV), "GROUP_GET_DEVICE_FD second");
	orc_kmsg();
	if (d >= 0)
		dev_info(d, "");
	ORC(ioctl(g, VFIO_GROUP_UNSET_CONTAINER), "GROUP_UNSET_CONTAINER with device fds open");
	if (d2 >= 0)
		close(d2);
	if (d >= 0)
		ORC(close(d), "close(device)");
	orc_kmsg();
	ORC(ioctl(g, VFIO_GROUP_UNSET_CONTAINER), "GROUP_UNSET_CONTAINER");
	checks(c, "after UNSET_CONTAINER");
	if (have_edu) {
		ORC(ioctl(eg, VFIO_GROUP_SET_CONTAINER, &c), "edu GROUP_SET_CONTAINER(the emptied container)");
		ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c), "noiommu GROUP_SET_CONTAINER(container holding the edu group)");
		ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU), "SET_IOMMU(NOIOMMU) with the edu group");
		ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), "SET_IOMMU(TYPE1v2) with the edu group");
		ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c), "noiommu GROUP_SET_CONTAINER(type1 container)");
		ORC(close(eg), "close(edu group)");
	}
	ORC(close(c), "close(container)");

	orc_step("noiommu group with iommufd (compat no-iommu mode)");
	int ifd = ORC(open("/dev/iommu", O_RDWR), "open(/dev/iommu)");
	checks(ifd, "iommufd before SET_CONTAINER");
	ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &ifd), "GROUP_SET_CONTAINER(iommufd)");
	status(g, "after SET_CONTAINER(iommufd)");
	checks(ifd, "iommufd in no-iommu mode");
	ORC(ioctl(ifd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), "iommufd SET_IOMMU(TYPE1v2)");
	ORC(ioctl(ifd, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU), "iommufd SET_IOMMU(NOIOMMU)");
	container_ioctls(ifd, "iommufd in no-iommu mode");
	if (have_edu) {
		eg = ORC(open(gpath, O_RDWR), "open(%s) (edu)", gpath);
		ORC(ioctl(eg, VFIO_GROUP_SET_CONTAINER, &ifd), "edu GROUP_SET_CONTAINER(iommufd in no-iommu mode)");
		ORC(close(eg), "close(edu group)");
	}
	d = ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, DEV), "GROUP_GET_DEVICE_FD via iommufd");
	orc_kmsg();
	if (d >= 0) {
		dev_info(d, "via iommufd");
		struct iommu_vfio_ioas v = { .size = sizeof(v), .op = IOMMU_VFIO_IOAS_GET };
		ORC_CALL(ioctl(ifd, IOMMU_VFIO_IOAS, &v), "IOMMU_VFIO_IOAS(GET)");
		orc_end("ioas_id=%u", v.ioas_id);
		ORC(close(d), "close(device)");
	}
	unsigned ioas = ioas_alloc(ifd);
	struct iommu_vfio_ioas v = { .size = sizeof(v), .op = IOMMU_VFIO_IOAS_SET, .ioas_id = ioas };
	ORC(ioctl(ifd, IOMMU_VFIO_IOAS, &v), "IOMMU_VFIO_IOAS(SET %u) in no-iommu mode", ioas);
	ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, DEV), "GROUP_GET_DEVICE_FD with a compat IOAS set");
	ORC(ioctl(g, VFIO_GROUP_UNSET_CONTAINER), "GROUP_UNSET_CONTAINER");
	ORC(close(ifd), "close(iommufd)");
	ifd = ORC(open("/dev/iommu", O_RDWR), "open(/dev/iommu) fresh");
	ioas = ioas_alloc(ifd);
	v.ioas_id = ioas;
	ORC(ioctl(ifd, IOMMU_VFIO_IOAS, &v), "IOMMU_VFIO_IOAS(SET %u) before any group", ioas);
	ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &ifd), "GROUP_SET_CONTAINER(iommufd with a compat IOAS)");
	ORC(close(g), "close(noiommu group)");
	orc_kmsg();

	orc_step("noiommu cdev");
	int cd = ORC(open(cdev, O_RDWR), "open(%s)", cdev);
	orc_kmsg();
	ORC(ioctl(cd, VFIO_DEVICE_GET_INFO, sb), "DEVICE_GET_INFO before BIND");
	g = ORC(open(npath, O_RDWR), "open(%s) with the cdev open, unbound", npath);
	struct vfio_device_bind_iommufd b = { .argsz = sizeof(b), .iommufd = ifd };
	ORC(ioctl(cd, VFIO_DEVICE_BIND_IOMMUFD, &b), "BIND_IOMMUFD while the group is open");
	ORC(close(g), "close(group)");
	int ifd2 = ORC(open("/dev/iommu", O_RDWR), "open(/dev/iommu) second");
	b.iommufd = ifd2;
	ORC_CALL(ioctl(cd, VFIO_DEVICE_BIND_IOMMUFD, &b), "BIND_IOMMUFD");
	orc_end("out_devid=%u", b.out_devid);
	orc_kmsg();
	ORC(open(npath, O_RDWR), "open(%s) while the cdev is bound", npath);
	dev_info(cd, "after BIND");
	struct iommu_hw_info h = { .size = sizeof(h), .dev_id = b.out_devid };
	ORC_CALL(ioctl(ifd2, IOMMU_GET_HW_INFO, &h), "IOMMU_GET_HW_INFO(dev_id=%u)", b.out_devid);
	orc_end("out_data_type=%u out_capabilities=%#llx", h.out_data_type, (unsigned long long)h.out_capabilities);
	unsigned ia = ioas_alloc(ifd2);
	struct iommu_iova_range r[4];
	struct iommu_ioas_iova_ranges q = { .size = sizeof(q), .ioas_id = ia, .num_iovas = 4, .allowed_iovas = (uintptr_t)r };
	ORC_CALL(ioctl(ifd2, IOMMU_IOAS_IOVA_RANGES, &q), "IOMMU_IOAS_IOVA_RANGES before attach");
	orc_end("num=%u align=%#llx r0=[%#llx,%#llx]", q.num_iovas, (unsigned long long)q.out_iova_alignment, (unsigned long long)r[0].start,
		(unsigned long long)r[0].last);
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at), .pt_id = ia };
	ORC_CALL(ioctl(cd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), "ATTACH_IOMMUFD_PT(ioas %u)", ia);
	orc_end("pt_id=%u", at.pt_id);
	orc_kmsg();
	q.num_iovas = 4;
	ORC_CALL(ioctl(ifd2, IOMMU_IOAS_IOVA_RANGES, &q), "IOMMU_IOAS_IOVA_RANGES after attach");
	orc_end("num=%u align=%#llx r0=[%#llx,%#llx] r1=[%#llx,%#llx]", q.num_iovas, (unsigned long long)q.out_iova_alignment,
		(unsigned long long)r[0].start, (unsigned long long)r[0].last, (unsigned long long)r[1].start, (unsigned long long)r[1].last);
	char *buf = mmap(0, 4 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	struct iommu_ioas_map m = { .size = sizeof(m), .flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_FIXED_IOVA,
				    .ioas_id = ia, .user_va = (uintptr_t)buf, .length = 4 * PS, .iova = 1UL << 32 };
	ORC_CALL(ioctl(ifd2, IOMMU_IOAS_MAP, &m), "IOMMU_IOAS_MAP(4 pages at iova 1<<32, FIXED_IOVA)");
	orc_end("iova=%#llx", (unsigned long long)m.iova);
	m.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
	m.iova = 0;
	ORC_CALL(ioctl(ifd2, IOMMU_IOAS_MAP, &m), "IOMMU_IOAS_MAP(4 pages, kernel-chosen iova)");
	orc_end("iova=%#llx", (unsigned long long)m.iova);
	get_pa(ifd2, ia, 1ULL << 32, 4 * PS, 0, "mapped");
	get_pa(ifd2, ia, (1ULL << 32) + 0x80, PS, 0, "+0x80, length one page");
	get_pa(ifd2, ia, 1ULL << 32, 0, 0, "length 0");
	get_pa(ifd2, ia, 1ULL << 32, ~0ULL, 0, "length UINT64_MAX");
	get_pa(ifd2, ia, 1ULL << 40, PS, 0, "unmapped iova");
	get_pa(ifd2, ia, 1ULL << 32, PS, 1, "flags 1");
	get_pa(ifd2, ia, ~0ULL, PS, 0, "iova UINT64_MAX");
	get_pa(ifd2, 999, 1ULL << 32, PS, 0, "ioas 999");
	get_pa(ifd2, b.out_devid, 1ULL << 32, PS, 0, "ioas = device id");
	get_pa(ifd, ioas, 1ULL << 32, PS, 0, "another context's IOAS without mappings");
	ORC(ioctl(cd, VFIO_DEVICE_RESET), "DEVICE_RESET");
	struct vfio_device_detach_iommufd_pt dt = { .argsz = sizeof(dt) };
	ORC(ioctl(cd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &dt), "DETACH_IOMMUFD_PT");
	at.pt_id = ia;
	ORC_CALL(ioctl(cd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), "ATTACH_IOMMUFD_PT(ioas %u) again", ia);
	orc_end("pt_id=%u", at.pt_id);
	ORC(close(cd), "close(cdev)");
	orc_kmsg();

	orc_step("without CAP_SYS_RAWIO");
	c = ORC(open("/dev/vfio/vfio", O_RDWR), "open(/dev/vfio/vfio)");
	g = ORC(open(npath, O_RDWR), "open(%s) (with RAWIO)", npath);
	rawio(0);
	ORC(open(npath, O_RDWR), "open(%s) while the group is open", npath);
	ORC(open(cdev, O_RDWR), "open(%s)", cdev);
	ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c), "GROUP_SET_CONTAINER(container)");
	rawio(1);
	ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c), "GROUP_SET_CONTAINER(container) with RAWIO");
	rawio(0);
	ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU), "SET_IOMMU(NOIOMMU)");
	ORC(ioctl(c, VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU), "CHECK_EXTENSION(NOIOMMU)");
	rawio(1);
	ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU), "SET_IOMMU(NOIOMMU) with RAWIO");
	rawio(0);
	ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, DEV), "GROUP_GET_DEVICE_FD");
	ORC(ioctl(g, VFIO_GROUP_UNSET_CONTAINER), "GROUP_UNSET_CONTAINER");
	ifd2 = ORC(open("/dev/iommu", O_RDWR), "open(/dev/iommu)");
	ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &ifd2), "GROUP_SET_CONTAINER(iommufd)");
	ORC(ioctl(ifd2, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU), "iommufd SET_IOMMU(NOIOMMU)");
	ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, DEV), "GROUP_GET_DEVICE_FD via iommufd");
	get_pa(ifd2, 1, 0, PS, 0, "without RAWIO");
	rawio(1);
	ORC(close(g), "close(group)");
	ORC(close(c), "close(container)");
	orc_kmsg();

	orc_step("enable_unsafe_noiommu_mode written to 0 at run time");
	orc_write_file("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "0");
	orc_show_file("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode");
	orc_ls("/dev/vfio");
	orc_ls("/dev/vfio/devices");
	c = ORC(open("/dev/vfio/vfio", O_RDWR), "open(/dev/vfio/vfio)");
	checks(c, "parameter off, no group");
	g = ORC(open(npath, O_RDWR), "open(%s)", npath);
	ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c), "GROUP_SET_CONTAINER(container)");
	checks(c, "parameter off, noiommu group attached");
	ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU), "SET_IOMMU(NOIOMMU)");
	ORC(ioctl(g, VFIO_GROUP_UNSET_CONTAINER), "GROUP_UNSET_CONTAINER");
	int ifd3 = ORC(open("/dev/iommu", O_RDWR), "open(/dev/iommu)");
	ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &ifd3), "GROUP_SET_CONTAINER(iommufd)");
	checks(ifd3, "parameter off, iommufd in no-iommu mode");
	d = ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, DEV), "GROUP_GET_DEVICE_FD via iommufd");
	orc_kmsg();
	if (d >= 0)
		close(d);
	ORC(close(g), "close(group)");
	cd = ORC(open(cdev, O_RDWR), "open(%s)", cdev);
	b.iommufd = ifd3;
	ORC_CALL(ioctl(cd, VFIO_DEVICE_BIND_IOMMUFD, &b), "BIND_IOMMUFD");
	orc_end("out_devid=%u", b.out_devid);
	ORC(close(cd), "close(cdev)");
	orc_tainted();
	orc_kmsg();

	orc_step("rebind with the parameter off");
	orc_unbind("amba", DEV);
	orc_kmsg();
	orc_ls("/dev/vfio");
	orc_ls("/sys/kernel/iommu_groups");
	orc_write_file("/sys/bus/amba/drivers_probe", DEV);
	orc_write_file("/sys/bus/amba/drivers/vfio-amba/bind", DEV);
	orc_info("driver=%s", orc_driver_of("amba", DEV, cur, sizeof(cur)));
	orc_kmsg();
	orc_ls("/dev/vfio");
	orc_tainted();
	orc_write_file("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "1");
	orc_write_file("/sys/bus/amba/drivers/vfio-amba/bind", DEV);
	orc_kmsg();
	orc_ls("/dev/vfio");
	orc_ls("/dev/vfio/devices");
	orc_tainted();
	return 0;
}
