/* vfio-cdev.c - the device cdev /dev/vfio/devices/vfio0 of the QEMU edu device (device_cdev.c, vfio_main.c,
 * iommufd.c): every ioctl and read/write/mmap before BIND, BIND_IOMMUFD argsz/flags/fd errors and their
 * order, exclusivity against the group fd and a second cdev fd, ATTACH/DETACH_IOMMUFD_PT argsz, flags,
 * ids, replace, and close/reopen. Run with --qemu-extra "-device edu". */
#include "oracle.h"
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#define CDEV "/dev/vfio/devices/vfio0"
static int ifd;
static unsigned char ab[8192];

static long bind(int cd, unsigned argsz, unsigned flags, int fd, unsigned long long token, unsigned tail, const char *why)
{
	memset(ab, 0, sizeof(ab));
	struct vfio_device_bind_iommufd *b = (void *)ab;
	b->argsz = argsz;
	b->flags = flags;
	b->iommufd = fd;
	b->out_devid = 0xeeeeeeee;
	b->token_uuid_ptr = token;
	if (tail)
		ab[24 + tail - 1] = 1;
	ORC_CALL(ioctl(cd, VFIO_DEVICE_BIND_IOMMUFD, ab), "BIND_IOMMUFD(argsz=%u flags=%#x iommufd=%d%s) %s", argsz, flags, fd,
		 tail ? " non-zero byte past 24" : "", why);
	orc_end("out_devid=%#x", b->out_devid);
	return orc_ret;
}

static long attach(int cd, unsigned argsz, unsigned flags, unsigned pt, unsigned pasid, const char *why)
{
	struct vfio_device_attach_iommufd_pt a = { .argsz = argsz, .flags = flags, .pt_id = pt, .pasid = pasid };
	ORC_CALL(ioctl(cd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a), "ATTACH_IOMMUFD_PT(argsz=%u flags=%#x pt_id=%u pasid=%u) %s", argsz, flags,
		 pt, pasid, why);
	orc_end("pt_id=%u", a.pt_id);
	return orc_ret;
}

static long detach(int cd, unsigned argsz, unsigned flags, unsigned pasid, const char *why)
{
	struct vfio_device_detach_iommufd_pt d = { .argsz = argsz, .flags = flags, .pasid = pasid };
	return ORC(ioctl(cd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &d), "DETACH_IOMMUFD_PT(argsz=%u flags=%#x pasid=%u) %s", argsz, flags, pasid, why);
}

static unsigned ioas_alloc(void)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	ORC_CALL(ioctl(ifd, IOMMU_IOAS_ALLOC, &a), "IOMMU_IOAS_ALLOC");
	orc_end("out_ioas_id=%u", a.out_ioas_id);
	return a.out_ioas_id;
}

static void destroy(unsigned id, const char *why)
{
	struct iommu_destroy d = { .size = sizeof(d), .id = id };
	ORC(ioctl(ifd, IOMMU_DESTROY, &d), "IOMMU_DESTROY(id=%u) %s", id, why);
}

static void dev_info(int cd, const char *why)
{
	struct vfio_device_info di = { .argsz = sizeof(di) };
	ORC_CALL(ioctl(cd, VFIO_DEVICE_GET_INFO, &di), "DEVICE_GET_INFO %s", why);
	orc_end("flags=%#x num_regions=%u num_irqs=%u", di.flags, di.num_regions, di.num_irqs);
}

static void hw_info(unsigned devid, const char *why)
{
	struct iommu_hw_info h = { .size = sizeof(h), .dev_id = devid };
	ORC_CALL(ioctl(ifd, IOMMU_GET_HW_INFO, &h), "IOMMU_GET_HW_INFO(dev_id=%u) %s", devid, why);
	orc_end("out_data_type=%u out_capabilities=%#llx", h.out_data_type, (unsigned long long)h.out_capabilities);
}

static void before_bind(int cd)
{
	unsigned char z[256];
	memset(z, 0, sizeof(z));
	*(unsigned *)z = sizeof(z);
	ORC(ioctl(cd, VFIO_DEVICE_GET_INFO, z), "DEVICE_GET_INFO");
	ORC(ioctl(cd, VFIO_DEVICE_GET_REGION_INFO, z), "DEVICE_GET_REGION_INFO");
	ORC(ioctl(cd, VFIO_DEVICE_GET_IRQ_INFO, z), "DEVICE_GET_IRQ_INFO");
	ORC(ioctl(cd, VFIO_DEVICE_SET_IRQS, z), "DEVICE_SET_IRQS");
	ORC(ioctl(cd, VFIO_DEVICE_RESET), "DEVICE_RESET");
	ORC(ioctl(cd, VFIO_DEVICE_FEATURE, z), "DEVICE_FEATURE");
	ORC(ioctl(cd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, z), "DEVICE_ATTACH_IOMMUFD_PT");
	ORC(ioctl(cd, VFIO_DEVICE_DETACH_IOMMUFD_PT, z), "DEVICE_DETACH_IOMMUFD_PT");
	ORC(ioctl(cd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, z), "DEVICE_GET_PCI_HOT_RESET_INFO");
	ORC(ioctl(cd, VFIO_GET_API_VERSION), "GET_API_VERSION (nr 100)");
	ORC(ioctl(cd, VFIO_GROUP_GET_STATUS, z), "GROUP_GET_STATUS (nr 103)");
	ORC(ioctl(cd, 0x1234), "ioctl 0x1234");
	ORC(ioctl(cd, IOMMU_IOAS_ALLOC, z), "IOMMU_IOAS_ALLOC on the cdev");
	ORC(read(cd, z, 4), "read(4)");
	ORC(write(cd, z, 4), "write(4)");
	ORC(pread(cd, z, 4, 7ULL << 40), "pread(4, config region offset)");
	ORC(pwrite(cd, z, 4, 7ULL << 40), "pwrite(4, config region offset)");
	ORC_CALL(mmap(0, 4096, PROT_READ, MAP_SHARED, cd, 0) == MAP_FAILED ? -1 : 0, "mmap(4096, MAP_SHARED, offset 0)");
	orc_end(NULL);
	ORC(lseek(cd, 0, SEEK_SET), "lseek(0)");
}

int main(void)
{
	char bdf[64], gpath[64], p[256];
	orc_kmsg();
	if (orc_find_pci(0x1234, 0x11e8, bdf, sizeof(bdf))) {
		orc_info("no edu device: run with --qemu-extra \"-device edu\"");
		return 1;
	}
	snprintf(gpath, sizeof(gpath), "/dev/vfio/%d", orc_iommu_group("pci", bdf));
	orc_modprobe("vfio_pci", "");
	orc_bind("pci", bdf, "vfio-pci");
	orc_kmsg();
	ifd = ORC(open("/dev/iommu", O_RDWR), "open(/dev/iommu)");

	orc_step("open, and everything before BIND");
	int cd = ORC(open(CDEV, O_RDWR), "open(%s)", CDEV);
	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", cd);
	orc_show_file(p);
	before_bind(cd);
	orc_kmsg();

	orc_step("BIND_IOMMUFD errors");
	ORC(ioctl(cd, VFIO_DEVICE_BIND_IOMMUFD, NULL), "BIND_IOMMUFD(NULL)");
	bind(cd, 0, 0, ifd, 0, 0, "argsz 0");
	bind(cd, 15, 0, ifd, 0, 0, "argsz 15");
	bind(cd, 32, 0, ifd, 0, 8, "argsz 32");
	bind(cd, 25, 0, ifd, 0, 1, "argsz 25");
	bind(cd, 4096, 0, ifd, 0, 4072, "argsz 4096, byte 4095 non-zero");
	bind(cd, 4096, 2, ifd, 0, 0, "argsz 4096, zero tail, flag bit 1");
	bind(cd, 16, 2, ifd, 0, 0, "flag bit 1");
	bind(cd, 16, 0x80000000u, ifd, 0, 0, "flag bit 31");
	bind(cd, 16, 0, -1, 0, 0, "iommufd -1");
	bind(cd, 16, 0, -2, 0, 0, "iommufd -2");
	bind(cd, 16, 2, -1, 0, 0, "flag bit 1 and iommufd -1");
	bind(cd, 32, 2, -1, 0, 8, "argsz 32 non-zero tail, flag bit 1 and iommufd -1");
	bind(cd, 16, 0, 999, 0, 0, "iommufd 999 (not open)");
	int efd = eventfd(0, 0);
	bind(cd, 16, 0, efd, 0, 0, "eventfd");
	int c = open("/dev/vfio/vfio", O_RDWR);
	bind(cd, 16, 0, c, 0, 0, "a /dev/vfio/vfio container fd");
	bind(cd, 16, 0, cd, 0, 0, "the cdev itself");
	static unsigned char uuid[16];
	bind(cd, 24, VFIO_DEVICE_BIND_FLAG_TOKEN, ifd, (unsigned long)uuid, 0, "FLAG_TOKEN, nil uuid, not a PF/VF");
	bind(cd, 24, VFIO_DEVICE_BIND_FLAG_TOKEN, ifd, 0x10, 0, "FLAG_TOKEN, token_uuid_ptr 0x10");
	bind(cd, 16, VFIO_DEVICE_BIND_FLAG_TOKEN, ifd, 0, 0, "FLAG_TOKEN with argsz 16");
	bind(cd, 24, VFIO_DEVICE_BIND_FLAG_TOKEN, 999, (unsigned long)uuid, 0, "FLAG_TOKEN, nil uuid, iommufd 999");
	orc_kmsg();
	dev_info(cd, "after the failed binds");

	orc_step("group against cdev");
	int g = ORC(open(gpath, O_RDWR), "open(%s) while the cdev is open, unbound", gpath);
	bind(cd, 16, 0, ifd, 0, 0, "while the group is open");
	bind(cd, 16, 0, -1, 0, 0, "iommufd -1 while the group is open");
	bind(cd, 16, 0, 999, 0, 0, "iommufd 999 while the group is open");
	ORC(close(g), "close(group)");

	orc_step("BIND argsz 16");
	bind(cd, 16, 0, ifd, 0, 0, "argsz 16");
	unsigned devid = ((struct vfio_device_bind_iommufd *)ab)->out_devid;
	orc_kmsg();
	bind(cd, 16, 0, ifd, 0, 0, "bound twice");
	bind(cd, 16, 0, 999, 0, 0, "bound twice, iommufd 999");
	bind(cd, 16, 2, ifd, 0, 0, "bound twice, flag bit 1");
	ORC(open(gpath, O_RDWR), "open(%s) while the cdev is bound", gpath);
	int cd2 = ORC(open(CDEV, O_RDWR), "open(%s) a second time while bound", CDEV);
	bind(cd2, 16, 0, ifd, 0, 0, "second cdev fd");
	bind(cd2, 16, 0, 999, 0, 0, "second cdev fd, iommufd 999");
	dev_info(cd2, "on the second, unbound cdev fd");
	ORC(close(cd2), "close(second cdev fd)");
	dev_info(cd, "after bind");
	unsigned cfg;
	ORC_CALL(pread(cd, &cfg, 4, 7ULL << 40), "pread(4, config region offset 0)");
	orc_end("vendor:device=%04x:%04x", cfg & 0xffff, cfg >> 16);
	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", cd);
	orc_show_file(p);
	hw_info(devid, "bound, not attached");

	orc_step("ATTACH / DETACH");
	detach(cd, 8, 0, 0, "when not attached");
	attach(cd, 12, 0, 100, 0, "pt_id 100 before any IOAS exists");
	attach(cd, 12, 0, devid, 0, "pt_id = the device id");
	attach(cd, 12, 0, 0xffffffffu, 0, "pt_id UINT32_MAX");
	attach(cd, 12, 0, 0, 0, "pt_id 0");
	unsigned ioas = ioas_alloc();
	attach(cd, 11, 0, ioas, 0, "argsz 11");
	attach(cd, 0, 0, ioas, 0, "argsz 0");
	attach(cd, 12, 2, ioas, 0, "flag bit 1");
	attach(cd, 12, VFIO_DEVICE_ATTACH_PASID, ioas, 1, "PASID flag with argsz 12");
	attach(cd, 15, VFIO_DEVICE_ATTACH_PASID, ioas, 1, "PASID flag with argsz 15");
	attach(cd, 16, VFIO_DEVICE_ATTACH_PASID, ioas, 1, "PASID flag, pasid 1");
	orc_kmsg();
	ORC(ioctl(cd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, NULL), "ATTACH_IOMMUFD_PT(NULL)");
	attach(cd, 12, 0, ioas, 0, "the IOAS, argsz 12");
	unsigned hwpt = 0;
	{
		struct vfio_device_attach_iommufd_pt a = { .argsz = 16, .pt_id = ioas };
		ORC_CALL(ioctl(cd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a), "ATTACH_IOMMUFD_PT(argsz=16 pt_id=%u) the IOAS again (replace)", ioas);
		orc_end("pt_id=%u", a.pt_id);
		hwpt = a.pt_id;
	}
	attach(cd, 64, 0, ioas, 0, "the IOAS again, argsz 64");
	attach(cd, 12, 0, hwpt, 0, "the HWPT the IOAS attach returned");
	hw_info(devid, "attached");
	destroy(ioas, "IOAS while attached");
	destroy(hwpt, "HWPT while attached");
	unsigned ioas2 = ioas_alloc();
	attach(cd, 12, 0, ioas2, 0, "a second IOAS (replace)");
	destroy(ioas, "first IOAS after the device moved");
	destroy(hwpt, "first HWPT after the device moved");
	ioas = ioas_alloc();
	detach(cd, 7, 0, 0, "argsz 7");
	detach(cd, 8, 2, 0, "flag bit 1");
	detach(cd, 8, VFIO_DEVICE_DETACH_PASID, 1, "PASID flag with argsz 8");
	detach(cd, 12, VFIO_DEVICE_DETACH_PASID, 1, "PASID flag, pasid 1, never attached");
	ORC(ioctl(cd, VFIO_DEVICE_DETACH_IOMMUFD_PT, NULL), "DETACH_IOMMUFD_PT(NULL)");
	detach(cd, 8, 0, 0, "argsz 8");
	detach(cd, 8, 0, 0, "again, not attached");
	destroy(ioas2, "second IOAS after detach");
	attach(cd, 12, 0, ioas, 0, "re-attach to a third IOAS");
	dev_info(cd, "attached");
	orc_kmsg();

	orc_step("close and reopen");
	ORC(close(cd), "close(cdev) while attached");
	orc_kmsg();
	destroy(ioas, "third IOAS after close");
	g = ORC(open(gpath, O_RDWR), "open(%s) after the cdev closed", gpath);
	cd = ORC(open(CDEV, O_RDWR), "open(%s) while the group is open", CDEV);
	bind(cd, 16, 0, ifd, 0, 0, "while the group is open");
	ORC(close(g), "close(group)");
	bind(cd, 24, 0, ifd, 0, 0, "argsz 24");
	dev_info(cd, "after rebind");
	ORC(close(cd), "close(cdev)");
	cd = ORC(open(CDEV, O_RDWR), "open(%s)", CDEV);
	bind(cd, 32, 0, ifd, 0, 0, "argsz 32, zero tail");
	ORC(close(cd), "close(cdev)");
	cd = ORC(open(CDEV, O_RDWR), "open(%s)", CDEV);
	bind(cd, 4096, 0, ifd, 0, 0, "argsz 4096, zero tail");
	int ifd2 = ORC(open("/dev/iommu", O_RDWR), "open(/dev/iommu) second context");
	ORC(close(cd), "close(cdev)");
	cd = ORC(open(CDEV, O_RDWR), "open(%s)", CDEV);
	bind(cd, 16, 0, ifd2, 0, 0, "to a second iommufd context");
	ORC(close(ifd2), "close(second iommufd) while the device is bound to it");
	dev_info(cd, "after its iommufd fd closed");
	ORC(close(cd), "close(cdev)");
	orc_kmsg();

	orc_step("PASID flag with pasid 0 (IOMMU_NO_PASID)");
	cd = ORC(open(CDEV, O_RDWR), "open(%s)", CDEV);
	bind(cd, 16, 0, ifd, 0, 0, "argsz 16");
	ioas = ioas_alloc();
	attach(cd, 16, VFIO_DEVICE_ATTACH_PASID, ioas, 0, "PASID flag, pasid 0");
	attach(cd, 16, VFIO_DEVICE_ATTACH_PASID, ioas, 0, "PASID flag, pasid 0 again (replace)");
	attach(cd, 12, 0, ioas, 0, "without PASID flag");
	detach(cd, 8, 0, 0, "without PASID flag");
	attach(cd, 12, 0, ioas, 0, "without PASID flag, after the plain detach");
	detach(cd, 12, VFIO_DEVICE_DETACH_PASID, 0, "PASID flag, pasid 0");
	attach(cd, 12, 0, ioas, 0, "without PASID flag, after the PASID detach");
	detach(cd, 8, 0, 0, "without PASID flag");
	attach(cd, 16, VFIO_DEVICE_ATTACH_PASID, ioas, 0, "PASID flag, pasid 0, then close");
	ORC(close(cd), "close(cdev) with pasid 0 attached");
	destroy(ioas, "IOAS after close");
	orc_kmsg();
	return 0;
}
