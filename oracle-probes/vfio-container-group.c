/* vfio-container-group.c - the legacy container (/dev/vfio/vfio) and group (/dev/vfio/N) state machines on the
 * QEMU edu device's IOMMU group (container.c, group.c): CHECK_EXTENSION before/after each step, SET_IOMMU
 * types, GET_STATUS argsz, GET_DEVICE_FD names and ordering, SET/UNSET_CONTAINER errors (container and
 * iommufd), unknown ioctls, close order, and the sysfs/devtmpfs nodes. Run with --qemu-extra "-device edu". */
#include "oracle.h"
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/sysmacros.h>
#include <linux/vfio.h>

static char bdf[64];
static unsigned char sb[64];

static void stat_node(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		orc_info("stat %s: %s", path, orc_errname(errno));
		return;
	}
	orc_info("stat %s: %s mode=%04o rdev=%u:%u", path, S_ISCHR(st.st_mode) ? "char" : S_ISDIR(st.st_mode) ? "dir" : "other",
		 st.st_mode & 07777, major(st.st_rdev), minor(st.st_rdev));
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

static void status(int g, unsigned argsz)
{
	memset(sb, 0xaa, sizeof(sb));
	struct vfio_group_status *s = (void *)sb;
	s->argsz = argsz;
	ORC_CALL(ioctl(g, VFIO_GROUP_GET_STATUS, sb), "GROUP_GET_STATUS(argsz=%u)", argsz);
	orc_end("flags=%#x", s->flags);
	orc_hexdump("status", sb, 16);
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

static int set_container(int g, int fd, const char *what)
{
	return ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &fd), "GROUP_SET_CONTAINER(%s fd=%d)", what, fd);
}

static int get_device(int g, const char *name, const char *what)
{
	return ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, name), "GROUP_GET_DEVICE_FD(%s)", what);
}

static void fd_facts(int d)
{
	char p[64], t[256];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", d);
	ssize_t n = readlink(p, t, sizeof(t) - 1);
	t[n < 0 ? 0 : n] = 0;
	orc_info("device fd %d -> '%s' fd_flags=%#x fl_flags=%#x", d, t, fcntl(d, F_GETFD), fcntl(d, F_GETFL));
	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", d);
	orc_show_file(p);
}

int main(void)
{
	char cur[128], p[512];
	orc_kmsg();
	if (orc_find_pci(0x1234, 0x11e8, bdf, sizeof(bdf))) {
		orc_info("no edu device: run with --qemu-extra \"-device edu\"");
		return 1;
	}
	int grp = orc_iommu_group("pci", bdf);
	char gpath[64];
	snprintf(gpath, sizeof(gpath), "/dev/vfio/%d", grp);

	orc_step("boot state");
	orc_info("pci %s: driver=%s iommu_group=%d", bdf, orc_driver_of("pci", bdf, cur, sizeof(cur)), grp);
	orc_ls("/sys/kernel/iommu_groups");
	orc_ls("/dev/vfio");

	orc_step("load vfio only: container without any IOMMU backend");
	orc_modprobe("vfio", "");
	orc_kmsg();
	orc_ls("/dev/vfio");
	stat_node("/dev/vfio/vfio");
	orc_ls("/sys/class/vfio");
	orc_ls("/sys/class/vfio-dev");
	orc_ls("/sys/module/vfio/parameters");
	orc_show_file("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode");
	int c = ORC(open("/dev/vfio/vfio", O_RDWR), "open(/dev/vfio/vfio)");
	int c2 = ORC(open("/dev/vfio/vfio", O_RDWR), "open(/dev/vfio/vfio) again");
	ORC(ioctl(c, VFIO_GET_API_VERSION), "GET_API_VERSION");
	checks(c, "no backend, no group");
	ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), "SET_IOMMU(TYPE1v2) no backend, no group");
	ORC(ioctl(c, VFIO_IOMMU_GET_INFO, sb), "IOMMU_GET_INFO no backend");

	orc_step("load vfio_iommu_type1");
	orc_modprobe("vfio_iommu_type1", "");
	orc_kmsg();
	orc_ls("/sys/module/vfio_iommu_type1/parameters");
	orc_show_file("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts");
	orc_show_file("/sys/module/vfio_iommu_type1/parameters/disable_hugepages");
	orc_show_file("/sys/module/vfio_iommu_type1/parameters/dma_entry_limit");
	checks(c, "type1 loaded, no group");
	unsigned long types[] = { 1, 3, 6, 2, 8, 99, 0 };
	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		ORC(ioctl(c, VFIO_SET_IOMMU, types[i]), "SET_IOMMU(%lu) before any group", types[i]);
	ORC(ioctl(c, VFIO_IOMMU_GET_INFO, sb), "container IOMMU_GET_INFO before SET_IOMMU");
	ORC(ioctl(c, VFIO_IOMMU_MAP_DMA, sb), "container IOMMU_MAP_DMA before SET_IOMMU");
	ORC(ioctl(c, VFIO_GROUP_GET_STATUS, sb), "container GROUP_GET_STATUS (nr 103)");
	ORC(ioctl(c, _IO(VFIO_TYPE, 130)), "container _IO(';', 130) before SET_IOMMU");
	ORC(ioctl(c, 0x1234), "container ioctl 0x1234 before SET_IOMMU");

	orc_step("vfio-pci takes the edu device");
	orc_modprobe("vfio_pci", "");
	orc_kmsg();
	orc_bind("pci", bdf, "vfio-pci");
	orc_kmsg();
	orc_ls("/dev/vfio");
	orc_ls("/dev/vfio/devices");
	stat_node(gpath);
	stat_node("/dev/vfio/devices/vfio0");
	orc_ls("/sys/class/vfio");
	snprintf(p, sizeof(p), "/sys/class/vfio/%d", grp);
	show_link(p);
	orc_ls(p);
	snprintf(p, sizeof(p), "/sys/class/vfio/%d/dev", grp);
	orc_show_file(p);
	snprintf(p, sizeof(p), "/sys/class/vfio/%d/uevent", grp);
	orc_show_file(p);
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	orc_ls(p);
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/vfio-dev/vfio0", bdf);
	orc_ls(p);
	orc_ls("/sys/class/vfio-dev");
	show_link("/sys/class/vfio-dev/vfio0");
	orc_show_file("/sys/class/vfio-dev/vfio0/dev");
	orc_show_file("/sys/class/vfio-dev/vfio0/uevent");
	show_link("/sys/class/vfio-dev/vfio0/device");
	show_link("/sys/class/vfio-dev/vfio0/subsystem");
	orc_show_file("/proc/devices");
	orc_show_file("/proc/misc");

	orc_step("group open");
	int g = ORC(open(gpath, O_RDWR), "open(%s)", gpath);
	ORC(open(gpath, O_RDWR), "open(%s) again", gpath);
	ORC(open(gpath, O_RDONLY), "open(%s, O_RDONLY) again", gpath);
	status(g, 0);
	status(g, 7);
	status(g, 8);
	status(g, 16);
	ORC(ioctl(g, VFIO_GROUP_GET_STATUS, NULL), "GROUP_GET_STATUS(NULL)");

	orc_step("group unknown ioctls");
	ORC(ioctl(g, VFIO_GET_API_VERSION), "group GET_API_VERSION");
	ORC(ioctl(g, VFIO_CHECK_EXTENSION, 1), "group CHECK_EXTENSION(1)");
	ORC(ioctl(g, VFIO_DEVICE_GET_INFO, sb), "group DEVICE_GET_INFO");
	ORC(ioctl(g, 0x1234), "group ioctl 0x1234");

	orc_step("GET_DEVICE_FD before SET_CONTAINER");
	get_device(g, bdf, "bdf");
	get_device(g, "nope", "\"nope\"");
	get_device(g, "", "\"\"");
	ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, NULL), "GROUP_GET_DEVICE_FD(NULL)");
	static char big[8192];
	memset(big, 'a', 4095);
	get_device(g, big, "4095 x 'a'");
	memset(big, 'a', 4096);
	get_device(g, big, "4096 x 'a'");
	memset(big, 'a', 5000);
	get_device(g, big, "5000 x 'a'");
	snprintf(big, sizeof(big), "%s ", bdf);
	get_device(g, big, "bdf + ' '");
	snprintf(big, sizeof(big), "%sx", bdf);
	get_device(g, big, "bdf + 'x'");
	snprintf(big, sizeof(big), "%s foo", bdf);
	get_device(g, big, "bdf + ' foo'");
	snprintf(big, sizeof(big), "%s vf_token=00000000-0000-0000-0000-000000000000", bdf);
	get_device(g, big, "bdf + ' vf_token=<nil uuid>'");
	snprintf(big, sizeof(big), "%s", bdf + 5);
	get_device(g, big, "bdf without domain");
	orc_kmsg();

	orc_step("SET_CONTAINER errors");
	ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, NULL), "GROUP_SET_CONTAINER(NULL)");
	set_container(g, -1, "-1");
	set_container(g, 999, "999 (not open)");
	int efd = eventfd(0, 0);
	set_container(g, efd, "eventfd");
	int nul = open("/dev/null", O_RDWR);
	set_container(g, nul, "/dev/null");
	set_container(g, g, "the group itself");
	ORC(ioctl(g, VFIO_GROUP_UNSET_CONTAINER), "GROUP_UNSET_CONTAINER without container");
	status(g, 8);

	orc_step("SET_CONTAINER with /dev/iommu (iommufd compat)");
	int ifd = ORC(open("/dev/iommu", O_RDWR), "open(/dev/iommu)");
	set_container(g, ifd, "iommufd");
	status(g, 8);
	set_container(g, ifd, "iommufd again");
	set_container(g, c, "container while iommufd set");
	checks(ifd, "on the iommufd");
	int d = get_device(g, bdf, "bdf via iommufd");
	orc_kmsg();
	int d2 = get_device(g, bdf, "bdf via iommufd, second");
	if (d >= 0) {
		struct vfio_device_info di = { .argsz = sizeof(di) };
		ORC_CALL(ioctl(d, VFIO_DEVICE_GET_INFO, &di), "DEVICE_GET_INFO");
		orc_end("flags=%#x num_regions=%u num_irqs=%u", di.flags, di.num_regions, di.num_irqs);
		struct vfio_device_bind_iommufd b = { .argsz = sizeof(b), .iommufd = ifd };
		ORC(ioctl(d, VFIO_DEVICE_BIND_IOMMUFD, &b), "DEVICE_BIND_IOMMUFD on a group-obtained fd");
		struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at), .pt_id = 1 };
		ORC(ioctl(d, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), "DEVICE_ATTACH_IOMMUFD_PT on a group-obtained fd");
		struct vfio_device_detach_iommufd_pt dt = { .argsz = sizeof(dt) };
		ORC(ioctl(d, VFIO_DEVICE_DETACH_IOMMUFD_PT, &dt), "DEVICE_DETACH_IOMMUFD_PT on a group-obtained fd");
	}
	ORC(ioctl(g, VFIO_GROUP_UNSET_CONTAINER), "GROUP_UNSET_CONTAINER (iommufd) with device fds open");
	status(g, 8);
	ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, bdf), "GROUP_GET_DEVICE_FD after unset, device still open");
	if (d2 >= 0)
		ORC(close(d2), "close(device fd 2)");
	if (d >= 0)
		ORC(close(d), "close(device fd 1)");
	orc_kmsg();
	status(g, 8);
	set_container(g, ifd, "iommufd after unset");
	ORC(ioctl(g, VFIO_GROUP_UNSET_CONTAINER), "GROUP_UNSET_CONTAINER (iommufd)");
	ORC(ioctl(g, VFIO_GROUP_UNSET_CONTAINER), "GROUP_UNSET_CONTAINER again");

	orc_step("SET_CONTAINER with the legacy container");
	set_container(g, c, "container");
	status(g, 8);
	set_container(g, c, "container again");
	set_container(g, c2, "another container");
	set_container(g, ifd, "iommufd while container set");
	checks(c, "group attached, no SET_IOMMU");
	checks(c2, "second container, no group");
	get_device(g, bdf, "bdf before SET_IOMMU");
	get_device(g, "nope", "\"nope\" before SET_IOMMU");
	ORC(ioctl(c, VFIO_IOMMU_GET_INFO, sb), "container IOMMU_GET_INFO before SET_IOMMU");
	ORC(ioctl(c2, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), "second container SET_IOMMU(TYPE1v2), no group");
	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i] != 1 && types[i] != 3)
			ORC(ioctl(c, VFIO_SET_IOMMU, types[i]), "SET_IOMMU(%lu)", types[i]);
	orc_kmsg();
	ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), "SET_IOMMU(TYPE1v2)");
	orc_kmsg();
	ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), "SET_IOMMU(TYPE1v2) again");
	ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU), "SET_IOMMU(TYPE1) after TYPE1v2");
	checks(c, "after SET_IOMMU(TYPE1v2)");
	ORC(ioctl(c, VFIO_GET_API_VERSION), "GET_API_VERSION after SET_IOMMU");
	ORC(ioctl(c, _IO(VFIO_TYPE, 130)), "container _IO(';', 130) after SET_IOMMU");
	ORC(ioctl(c, 0x1234), "container ioctl 0x1234 after SET_IOMMU");
	ORC(ioctl(c, VFIO_GROUP_GET_STATUS, sb), "container GROUP_GET_STATUS (nr 103) after SET_IOMMU");
	ORC(ioctl(c, VFIO_IOMMU_ENABLE), "container VFIO_IOMMU_ENABLE (spapr nr 115) after SET_IOMMU");
	status(g, 8);

	orc_step("devices");
	d = get_device(g, bdf, "bdf");
	orc_kmsg();
	d2 = get_device(g, bdf, "bdf, second");
	get_device(g, "nope", "\"nope\"");
	snprintf(big, sizeof(big), "%s ", bdf);
	int d3 = get_device(g, big, "bdf + ' '");
	if (d3 >= 0)
		close(d3);
	if (d >= 0)
		fd_facts(d);
	ORC(ioctl(g, VFIO_GROUP_UNSET_CONTAINER), "GROUP_UNSET_CONTAINER with device fds open");
	if (d2 >= 0)
		ORC(close(d2), "close(device fd 2)");
	ORC(ioctl(g, VFIO_GROUP_UNSET_CONTAINER), "GROUP_UNSET_CONTAINER with one device fd open");
	status(g, 8);

	orc_step("close the group first, then the device");
	ORC(close(g), "close(group)");
	g = ORC(open(gpath, O_RDWR), "open(%s) while a device fd is open", gpath);
	struct vfio_iommu_type1_info info = { .argsz = sizeof(info) };
	ORC_CALL(ioctl(c, VFIO_IOMMU_GET_INFO, &info), "container IOMMU_GET_INFO(argsz=24) after group close");
	orc_end("flags=%#x argsz=%u", info.flags, info.argsz);
	checks(c, "group fd closed, device fd open");
	if (d >= 0) {
		struct vfio_device_info di = { .argsz = sizeof(di) };
		ORC_CALL(ioctl(d, VFIO_DEVICE_GET_INFO, &di), "DEVICE_GET_INFO after group close");
		orc_end("flags=%#x num_regions=%u num_irqs=%u", di.flags, di.num_regions, di.num_irqs);
		ORC(close(d), "close(last device fd)");
	}
	orc_kmsg();
	checks(c, "after last device fd closed");
	ORC(ioctl(c, VFIO_IOMMU_GET_INFO, &info), "container IOMMU_GET_INFO after last close");
	ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), "SET_IOMMU(TYPE1v2) after last close");
	g = ORC(open(gpath, O_RDWR), "open(%s) after last device fd closed", gpath);
	status(g, 8);

	orc_step("close the container fd while the group holds it");
	set_container(g, c, "container");
	ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU), "SET_IOMMU(TYPE1)");
	ORC(close(c), "close(container)");
	status(g, 8);
	d = get_device(g, bdf, "bdf after container fd closed");
	if (d >= 0)
		ORC(close(d), "close(device)");
	ORC(ioctl(g, VFIO_GROUP_UNSET_CONTAINER), "GROUP_UNSET_CONTAINER");
	status(g, 8);
	set_container(g, c2, "second container");
	ORC(ioctl(c2, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), "second container SET_IOMMU(TYPE1v2)");
	ORC(close(g), "close(group) with container set, no device");
	checks(c2, "after group close released it");
	ORC(ioctl(c2, VFIO_IOMMU_GET_INFO, &info), "second container IOMMU_GET_INFO after group close");
	orc_kmsg();

	orc_step("unbind from vfio-pci");
	orc_unbind("pci", bdf);
	orc_kmsg();
	orc_ls("/dev/vfio");
	orc_ls("/sys/class/vfio");
	orc_ls("/sys/class/vfio-dev");
	ORC(open(gpath, O_RDWR), "open(%s) after unbind", gpath);
	orc_bind("pci", bdf, "vfio-pci");
	orc_kmsg();
	orc_ls("/dev/vfio/devices");
	return 0;
}
