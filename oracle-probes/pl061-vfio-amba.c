/*
 * pl061-vfio-amba.c - the 2024 "non-DMA device assignment" RFC scenario on QEMU virt:
 * hand the PL061 (behind no IOMMU) to vfio-amba with and without no-IOMMU mode, and to
 * uio_pdrv_genirq is not built here; record return values, dmesg lines, groups and taint.
 */
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <linux/vfio.h>
#include <dirent.h>
#include "oracle.h"

#define DEV "9030000.pl061"

int main(void)
{
	char cur[128];
	orc_kmsg();
	orc_step("boot state");
	orc_info("amba %s: driver=%s iommu_group=%d", DEV, orc_driver_of("amba", DEV, cur, sizeof(cur)),
		 orc_iommu_group("amba", DEV));
	orc_ls("/sys/bus/amba/devices");
	orc_ls("/sys/bus/amba/drivers");
	orc_show_file("/sys/bus/amba/devices/" DEV "/driver_override");
	orc_show_file("/sys/bus/amba/devices/" DEV "/id");
	orc_tainted();

	orc_step("vfio-amba without no-IOMMU mode");
	orc_modprobe("vfio_amba", "");
	orc_kmsg();
	orc_bind("amba", DEV, "vfio-amba");
	orc_kmsg();
	orc_ls("/dev/vfio");
	orc_show_file("/sys/bus/amba/devices/" DEV "/driver_override");
	orc_write_file("/sys/bus/amba/devices/" DEV "/driver_override", "\n");
	orc_show_file("/sys/bus/amba/devices/" DEV "/driver_override");

	orc_step("give it back to pl061_gpio");
	orc_write_file("/sys/bus/amba/drivers_probe", DEV);
	orc_info("driver=%s", orc_driver_of("amba", DEV, cur, sizeof(cur)));
	orc_kmsg();

	orc_step("vfio-amba with enable_unsafe_noiommu_mode");
	orc_write_file("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "1");
	orc_bind("amba", DEV, "vfio-amba");
	orc_kmsg();
	orc_ls("/dev/vfio");
	orc_tainted();
	char gpath[64] = "/dev/vfio/noiommu-?";
	DIR *dir = opendir("/dev/vfio");
	for (struct dirent *de; dir && (de = readdir(dir));)
		if (!strncmp(de->d_name, "noiommu-", 8))
			snprintf(gpath, sizeof(gpath), "/dev/vfio/%s", de->d_name);
	if (dir)
		closedir(dir);
	int g = ORC(open(gpath, O_RDWR), "open(%s)", gpath);
	if (g >= 0) {
		struct vfio_group_status st = { .argsz = sizeof(st) };
		ORC_CALL(ioctl(g, VFIO_GROUP_GET_STATUS, &st), "ioctl(group, VFIO_GROUP_GET_STATUS)");
		orc_end("flags=0x%x", st.flags);
		int c = ORC(open("/dev/vfio/vfio", O_RDWR), "open(/dev/vfio/vfio)");
		ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c), "ioctl(group, VFIO_GROUP_SET_CONTAINER)");
		ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU), "ioctl(container, VFIO_SET_IOMMU, NOIOMMU)");
		int d = ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, DEV), "ioctl(group, VFIO_GROUP_GET_DEVICE_FD)");
		orc_kmsg();
		if (d >= 0) {
			struct vfio_device_info di = { .argsz = sizeof(di) };
			ORC_CALL(ioctl(d, VFIO_DEVICE_GET_INFO, &di), "ioctl(dev, VFIO_DEVICE_GET_INFO)");
			orc_end("flags=0x%x num_regions=%u num_irqs=%u", di.flags, di.num_regions, di.num_irqs);
			struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = 0 };
			ORC_CALL(ioctl(d, VFIO_DEVICE_GET_IRQ_INFO, &ii), "ioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, 0)");
			orc_end("flags=0x%x count=%u", ii.flags, ii.count);
			orc_show_file("/proc/interrupts");
			int efd = eventfd(0, EFD_NONBLOCK);
			struct { struct vfio_irq_set s; int32_t fd; } set = {
				{ .argsz = sizeof(set), .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				  .index = 0, .start = 0, .count = 1 }, efd };
			ORC(ioctl(d, VFIO_DEVICE_SET_IRQS, &set), "ioctl(dev, VFIO_DEVICE_SET_IRQS, TRIGGER eventfd)");
			orc_kmsg();
			orc_show_file("/proc/interrupts");
			close(d);
		}
		close(c);
		close(g);
	}
	orc_kmsg();
	return 0;
}
