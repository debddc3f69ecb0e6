/* vfio-platform-common.c - vfio_platform_common.c and the Calxeda reset module on a real 7.3 kernel.
 * The PL061 node of QEMU virt is turned into a "calxeda,hb-xgmac" platform device 9030000.pl061 (4 KiB
 * window, level SPI 7, no IOMMU), so vfio-platform with vfio_platform_calxedaxgmac can bind it in no-IOMMU
 * mode: reset lookup (ENOENT without the module, request_module has no modprobe here), the module's
 * reference while bound, VFIO: reset / DEPRECATION order at open, RESET ioctl, the deprecation after a
 * reload; GET_INFO/GET_REGION_INFO/GET_IRQ_INFO edges, read/write clamping, mmap refusals, ENOTTY.
 * Then a000000.virtio_mmio (0x200 window) with reset_required=0: region flags, read at the end, mmap.
 *
 * The DTB is QEMU's own with one property changed:
 *   qemu-system-aarch64 -M virt,iommu=smmuv3,gic-version=3,dumpdtb=virt.dtb -cpu cortex-a57 -smp 2 -m 1024 \
 *     -display none -nic none
 *   dtc -I dtb -O dts virt.dtb | sed 's/"arm,pl061\\0arm,primecell"/"calxeda,hb-xgmac"/' | dtc -I dts -O dtb \
 *     -o virt-pl061-xgmac.dtb
 * Run with --qemu-extra "-dtb virt-pl061-xgmac.dtb". */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/vfio.h>
#include "oracle.h"

#define DEV "9030000.pl061"
#define VIRTIO "a000000.virtio_mmio"
#define PS 4096UL

static int open_noiommu(const char *bus, const char *dev, int *gout, int *cout)
{
	char gpath[64];
	snprintf(gpath, sizeof(gpath), "/dev/vfio/noiommu-%d", orc_iommu_group(bus, dev));
	int g = ORC(open(gpath, O_RDWR), "open(%s)", gpath);
	int c = ORC(open("/dev/vfio/vfio", O_RDWR), "open(/dev/vfio/vfio)");
	ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c), "ioctl(group, VFIO_GROUP_SET_CONTAINER)");
	ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU), "ioctl(container, VFIO_SET_IOMMU, NOIOMMU)");
	int d = ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, dev), "ioctl(group, VFIO_GROUP_GET_DEVICE_FD, %s)", dev);
	*gout = g;
	*cout = c;
	return d;
}

/* mmap() as an int for ORC(): 0 or -1 with errno; a successful mapping's address in *out. */
static int try_mmap(size_t len, int prot, int flags, int fd, off_t off, void **out)
{
	void *m = mmap(NULL, len, prot, flags, fd, off);
	if (out)
		*out = m;
	return m == MAP_FAILED ? -1 : 0;
}

static void refcnt(void)
{
	orc_show_file("/sys/module/vfio_platform_calxedaxgmac/refcnt");
}

int main(void)
{
	char cur[128];
	orc_kmsg();
	orc_step("boot state");
	orc_info("platform %s: driver=%s iommu_group=%d", DEV, orc_driver_of("platform", DEV, cur, sizeof(cur)),
		 orc_iommu_group("platform", DEV));

	orc_step("vfio_platform, no reset module loaded, noiommu on");
	orc_modprobe("vfio", "enable_unsafe_noiommu_mode=1");
	orc_modprobe("vfio_platform", "");
	orc_kmsg();
	orc_bind("platform", DEV, "vfio-platform");
	orc_kmsg();

	orc_step("with vfio_platform_calxedaxgmac loaded");
	orc_modprobe("vfio_platform_calxedaxgmac", "");
	orc_kmsg();
	refcnt();
	orc_bind("platform", DEV, "vfio-platform");
	orc_kmsg();
	refcnt();
	ORC(syscall(SYS_delete_module, "vfio_platform_calxedaxgmac", O_NONBLOCK),
	    "delete_module(vfio_platform_calxedaxgmac) while bound");

	orc_step("open: reset order");
	int g, c;
	int d = open_noiommu("platform", DEV, &g, &c);
	orc_kmsg();
	if (d >= 0) {
		unsigned char raw[64];
		memset(raw, 0xee, sizeof(raw));
		struct vfio_device_info *di = (void *)raw;
		di->argsz = sizeof(*di);
		ORC_CALL(ioctl(d, VFIO_DEVICE_GET_INFO, di), "ioctl(dev, VFIO_DEVICE_GET_INFO, argsz=%zu)", sizeof(*di));
		orc_end("flags=0x%x num_regions=%u num_irqs=%u", di->flags, di->num_regions, di->num_irqs);
		orc_hexdump("info", raw, sizeof(*di));
		di->argsz = 15;
		ORC(ioctl(d, VFIO_DEVICE_GET_INFO, di), "ioctl(dev, VFIO_DEVICE_GET_INFO, argsz=15)");
		struct vfio_region_info ri = { .argsz = sizeof(ri), .index = 0 };
		ORC_CALL(ioctl(d, VFIO_DEVICE_GET_REGION_INFO, &ri), "ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, 0)");
		orc_end("flags=0x%x size=0x%llx offset=0x%llx cap_offset=%u", ri.flags,
			(unsigned long long)ri.size, (unsigned long long)ri.offset, ri.cap_offset);
		ri.index = 1;
		ORC(ioctl(d, VFIO_DEVICE_GET_REGION_INFO, &ri), "ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, 1)");
		struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = 0 };
		ORC_CALL(ioctl(d, VFIO_DEVICE_GET_IRQ_INFO, &ii), "ioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, 0)");
		orc_end("flags=0x%x count=%u", ii.flags, ii.count);
		ii.index = 1;
		ORC(ioctl(d, VFIO_DEVICE_GET_IRQ_INFO, &ii), "ioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, 1)");
		ii.argsz = 15;
		ii.index = 0;
		ORC(ioctl(d, VFIO_DEVICE_GET_IRQ_INFO, &ii), "ioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, argsz=15)");
		ORC(ioctl(d, VFIO_DEVICE_RESET), "ioctl(dev, VFIO_DEVICE_RESET)");
		orc_kmsg();
		ORC(ioctl(d, VFIO_DEVICE_FEATURE, 0), "ioctl(dev, VFIO_DEVICE_FEATURE, NULL)");
		ORC(ioctl(d, _IO(VFIO_TYPE, VFIO_BASE + 40)), "ioctl(dev, VFIO_BASE+40)");

		unsigned char buf[16];
		ORC(pread(d, buf, 8, 0xffc), "pread(dev, 8, 0xffc)");
		ORC(pread(d, buf, 4, 0x1000), "pread(dev, 4, 0x1000)");
		ORC(pread(d, buf, 4, 1ULL << 40), "pread(dev, 4, region 1)");
		ORC(pread(d, buf, 7, 0xfe1), "pread(dev, 7, 0xfe1)");
		orc_hexdump("periphid", buf, 7);
		ORC(read(d, buf, 4), "read(dev, 4) at f_pos 0");
		ORC(lseek(d, 0, SEEK_CUR), "lseek(dev, 0, SEEK_CUR)");
		ORC(pread(d, buf, 4, 0xfe0), "pread(dev, 4, 0xfe0)");
		ORC(pread(d, (void *)8, 4, 0xfe0), "pread(dev, buf=0x8, 4, 0xfe0)");

		void *m;
		const int rw = PROT_READ | PROT_WRITE;
		ORC(try_mmap(PS, rw, MAP_PRIVATE, d, 0, NULL), "mmap(dev, 4096, MAP_PRIVATE, 0)");
		ORC(try_mmap(2 * PS, rw, MAP_SHARED, d, 0, NULL), "mmap(dev, 8192, MAP_SHARED, 0)");
		ORC(try_mmap(PS, rw, MAP_SHARED, d, PS, NULL), "mmap(dev, 4096, MAP_SHARED, 4096)");
		ORC(try_mmap(PS, rw, MAP_SHARED, d, 1LL << 40, NULL), "mmap(dev, 4096, MAP_SHARED, region 1)");
		if (ORC(try_mmap(PS, rw, MAP_SHARED, d, 0, &m), "mmap(dev, 4096, MAP_SHARED, 0)") == 0) {
			orc_info("periphid0 via mmap = 0x%x", ((volatile uint32_t *)m)[0xfe0 / 4]);
			munmap(m, PS);
		}
		close(d);
		orc_kmsg();
	}
	close(c);
	close(g);

	orc_step("second open: no second deprecation");
	d = open_noiommu("platform", DEV, &g, &c);
	orc_kmsg();
	close(d);
	close(c);
	close(g);
	orc_kmsg();

	orc_step("unbind, rmmod, reload: deprecation again");
	orc_unbind("platform", DEV);
	orc_kmsg();
	refcnt();
	ORC(syscall(SYS_delete_module, "vfio_platform_calxedaxgmac", O_NONBLOCK),
	    "delete_module(vfio_platform_calxedaxgmac) after unbind");
	orc_kmsg();
	orc_modprobe("vfio_platform_calxedaxgmac", "");
	orc_write_file("/sys/bus/platform/drivers_probe", DEV);
	orc_info("driver=%s", orc_driver_of("platform", DEV, cur, sizeof(cur)));
	d = open_noiommu("platform", DEV, &g, &c);
	close(d);
	close(c);
	close(g);
	orc_kmsg();

	orc_step("virtio_mmio 0x200 window with reset_required=0");
	orc_unbind("platform", DEV);
	orc_bind("platform", VIRTIO, "vfio-platform");
	orc_kmsg();
	ORC(syscall(SYS_delete_module, "vfio_platform", O_NONBLOCK), "delete_module(vfio_platform)");
	orc_modprobe("vfio_platform", "reset_required=0");
	orc_show_file("/sys/module/vfio_platform/parameters/reset_required");
	orc_bind("platform", VIRTIO, "vfio-platform");
	orc_kmsg();
	d = open_noiommu("platform", VIRTIO, &g, &c);
	orc_kmsg();
	if (d >= 0) {
		struct vfio_device_info di = { .argsz = sizeof(di) };
		ORC_CALL(ioctl(d, VFIO_DEVICE_GET_INFO, &di), "ioctl(dev, VFIO_DEVICE_GET_INFO)");
		orc_end("flags=0x%x num_regions=%u num_irqs=%u", di.flags, di.num_regions, di.num_irqs);
		struct vfio_region_info ri = { .argsz = sizeof(ri), .index = 0 };
		ORC_CALL(ioctl(d, VFIO_DEVICE_GET_REGION_INFO, &ri), "ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, 0)");
		orc_end("flags=0x%x size=0x%llx offset=0x%llx", ri.flags, (unsigned long long)ri.size,
			(unsigned long long)ri.offset);
		unsigned char buf[16];
		ORC(pread(d, buf, 8, 0x1fe), "pread(dev, 8, 0x1fe)");
		ORC(pread(d, buf, 1, 0x200), "pread(dev, 1, 0x200)");
		ORC(pread(d, buf, 7, 1), "pread(dev, 7, 1)");
		ORC(pread(d, buf, 4, 0), "pread(dev, 4, 0)");
		orc_hexdump("magic", buf, 4);
		ORC(try_mmap(PS, PROT_READ, MAP_SHARED, d, 0, NULL), "mmap(dev, 4096, PROT_READ, MAP_SHARED, 0)");
		ORC(ioctl(d, VFIO_DEVICE_RESET), "ioctl(dev, VFIO_DEVICE_RESET)");
		orc_kmsg();
		close(d);
	}
	close(c);
	close(g);
	orc_kmsg();
	return 0;
}
