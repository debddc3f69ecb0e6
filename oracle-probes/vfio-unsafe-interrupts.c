/* vfio-unsafe-interrupts.c - a platform without MSI isolation (GICv2: no ITS, so no isolated MSI): what
 * type1 SET_IOMMU, the iommufd compat group path and the cdev bind answer with the allow_unsafe_interrupts
 * parameters of vfio_iommu_type1 and iommufd off, then on (written at run time), and the log lines.
 * Run with --machine virt,iommu=smmuv3,gic-version=2 --qemu-extra "-device edu". */
#include "oracle.h"
#include <sys/ioctl.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

int main(void)
{
	char bdf[64], gpath[64];
	orc_kmsg();
	if (orc_find_pci(0x1234, 0x11e8, bdf, sizeof(bdf))) {
		orc_info("no edu device: run with --qemu-extra \"-device edu\"");
		return 1;
	}
	snprintf(gpath, sizeof(gpath), "/dev/vfio/%d", orc_iommu_group("pci", bdf));
	orc_modprobe("vfio_pci", "");
	orc_modprobe("vfio_iommu_type1", "");
	orc_bind("pci", bdf, "vfio-pci");
	orc_show_file("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts");
	orc_show_file("/sys/module/iommufd/parameters/allow_unsafe_interrupts");
	orc_kmsg();

	orc_step("type1 without allow_unsafe_interrupts");
	int c = ORC(open("/dev/vfio/vfio", O_RDWR), "open(/dev/vfio/vfio)");
	int g = ORC(open(gpath, O_RDWR), "open(%s)", gpath);
	ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c), "GROUP_SET_CONTAINER(container)");
	ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), "SET_IOMMU(TYPE1v2)");
	orc_kmsg();
	ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU), "SET_IOMMU(TYPE1)");
	orc_kmsg();
	ORC(ioctl(c, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU), "CHECK_EXTENSION(TYPE1v2) after the refusal");
	ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, bdf), "GROUP_GET_DEVICE_FD");
	struct vfio_group_status st = { .argsz = sizeof(st) };
	ORC_CALL(ioctl(g, VFIO_GROUP_GET_STATUS, &st), "GROUP_GET_STATUS");
	orc_end("flags=%#x", st.flags);

	orc_step("type1 with allow_unsafe_interrupts written at run time");
	orc_write_file("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "Y");
	ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), "SET_IOMMU(TYPE1v2)");
	orc_kmsg();
	int d = ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, bdf), "GROUP_GET_DEVICE_FD");
	orc_kmsg();
	if (d >= 0)
		close(d);
	ORC(close(g), "close(group)");
	ORC(close(c), "close(container)");

	orc_step("iommufd compat group path without iommufd.allow_unsafe_interrupts");
	int ifd = ORC(open("/dev/iommu", O_RDWR), "open(/dev/iommu)");
	g = ORC(open(gpath, O_RDWR), "open(%s)", gpath);
	ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &ifd), "GROUP_SET_CONTAINER(iommufd)");
	ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, bdf), "GROUP_GET_DEVICE_FD");
	orc_kmsg();
	ORC(close(g), "close(group)");

	orc_step("cdev bind without iommufd.allow_unsafe_interrupts");
	int cd = ORC(open("/dev/vfio/devices/vfio0", O_RDWR), "open(/dev/vfio/devices/vfio0)");
	struct vfio_device_bind_iommufd b = { .argsz = sizeof(b), .iommufd = ifd };
	ORC_CALL(ioctl(cd, VFIO_DEVICE_BIND_IOMMUFD, &b), "DEVICE_BIND_IOMMUFD");
	orc_end("out_devid=%u", b.out_devid);
	orc_kmsg();

	orc_step("iommufd.allow_unsafe_interrupts written at run time");
	orc_write_file("/sys/module/iommufd/parameters/allow_unsafe_interrupts", "Y");
	ORC_CALL(ioctl(cd, VFIO_DEVICE_BIND_IOMMUFD, &b), "DEVICE_BIND_IOMMUFD");
	orc_end("out_devid=%u", b.out_devid);
	orc_kmsg();
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	ORC_CALL(ioctl(ifd, IOMMU_IOAS_ALLOC, &a), "IOMMU_IOAS_ALLOC");
	orc_end("out_ioas_id=%u", a.out_ioas_id);
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at), .pt_id = a.out_ioas_id };
	ORC_CALL(ioctl(cd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), "DEVICE_ATTACH_IOMMUFD_PT(ioas)");
	orc_end("pt_id=%u", at.pt_id);
	orc_kmsg();
	ORC(close(cd), "close(cdev)");
	g = ORC(open(gpath, O_RDWR), "open(%s)", gpath);
	ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &ifd), "GROUP_SET_CONTAINER(iommufd)");
	d = ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, bdf), "GROUP_GET_DEVICE_FD");
	orc_kmsg();
	if (d >= 0)
		close(d);
	ORC(close(g), "close(group)");
	return 0;
}
