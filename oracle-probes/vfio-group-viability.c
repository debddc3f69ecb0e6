/* vfio-group-viability.c - one IOMMU group, two devices (edu at 00:03.0 and e1000 at 00:03.1, functions of
 * one slot): viability while the e1000 has its kernel driver, SET_CONTAINER and the iommufd paths refused
 * by DMA ownership, a kernel driver probing into a group VFIO owns, two VFIO devices in one group through
 * the group fd and through their cdevs (same and different iommufd contexts). Run with --qemu-extra
 * "-device edu,addr=0x3.0,multifunction=on -device e1000,addr=0x3.1,romfile=". */
#include "oracle.h"
#include <sys/ioctl.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

static void status(int g, const char *why)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	ORC_CALL(ioctl(g, VFIO_GROUP_GET_STATUS, &st), "GROUP_GET_STATUS %s", why);
	orc_end("flags=%#x", st.flags);
}

static long bind(int cd, int ifd, const char *why)
{
	struct vfio_device_bind_iommufd b = { .argsz = sizeof(b), .iommufd = ifd };
	ORC_CALL(ioctl(cd, VFIO_DEVICE_BIND_IOMMUFD, &b), "BIND_IOMMUFD %s", why);
	orc_end("out_devid=%u", b.out_devid);
	return orc_ret;
}

static void find_cdev(const char *bdf, char *out, size_t len)
{
	char p[256];
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	orc_copy(out, len, "/dev/vfio/devices/?");
	DIR *dir = opendir(p);
	for (struct dirent *de; dir && (de = readdir(dir));)
		if (de->d_name[0] != '.')
			snprintf(out, len, "/dev/vfio/devices/%.200s", de->d_name);
	if (dir)
		closedir(dir);
}

int main(void)
{
	char edu[64], nic[64], cur[128], gpath[64], p[256];
	orc_kmsg();
	if (orc_find_pci(0x1234, 0x11e8, edu, sizeof(edu)) || orc_find_pci(0x8086, 0x100e, nic, sizeof(nic))) {
		orc_info("run with --qemu-extra \"-device edu,addr=0x3.0,multifunction=on -device e1000,addr=0x3.1,romfile=\"");
		return 1;
	}
	orc_step("boot state");
	orc_info("edu %s driver=%s group=%d; e1000 %s driver=%s group=%d", edu, orc_driver_of("pci", edu, cur, sizeof(cur)),
		 orc_iommu_group("pci", edu), nic, orc_driver_of("pci", nic, cur + 64, 64), orc_iommu_group("pci", nic));
	snprintf(p, sizeof(p), "/sys/kernel/iommu_groups/%d/devices", orc_iommu_group("pci", edu));
	orc_ls(p);
	snprintf(gpath, sizeof(gpath), "/dev/vfio/%d", orc_iommu_group("pci", edu));

	orc_step("e1000 driver loaded, edu to vfio-pci");
	orc_modprobe("e1000", "");
	orc_kmsg();
	orc_info("e1000 %s driver=%s", nic, orc_driver_of("pci", nic, cur, sizeof(cur)));
	orc_modprobe("vfio_pci", "");
	orc_modprobe("vfio_iommu_type1", "");
	orc_bind("pci", edu, "vfio-pci");
	orc_kmsg();
	orc_ls("/dev/vfio");
	orc_ls("/dev/vfio/devices");
	char ecdev[256], ncdev[256];
	find_cdev(edu, ecdev, sizeof(ecdev));

	orc_step("group not viable");
	int c = ORC(open("/dev/vfio/vfio", O_RDWR), "open(/dev/vfio/vfio)");
	int g = ORC(open(gpath, O_RDWR), "open(%s)", gpath);
	status(g, "with e1000 bound to its driver");
	ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c), "GROUP_SET_CONTAINER(container)");
	status(g, "after the refused SET_CONTAINER");
	int ifd = ORC(open("/dev/iommu", O_RDWR), "open(/dev/iommu)");
	ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &ifd), "GROUP_SET_CONTAINER(iommufd)");
	status(g, "after SET_CONTAINER(iommufd)");
	ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, edu), "GROUP_GET_DEVICE_FD(edu) via iommufd");
	ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, nic), "GROUP_GET_DEVICE_FD(e1000, not a vfio device)");
	orc_kmsg();
	ORC(close(g), "close(group)");
	int cd = ORC(open(ecdev, O_RDWR), "open(%s)", ecdev);
	bind(cd, ifd, "edu while e1000 has its driver");
	orc_kmsg();

	orc_step("e1000 unbound: viable");
	orc_unbind("pci", nic);
	orc_kmsg();
	g = ORC(open(gpath, O_RDWR), "open(%s)", gpath);
	status(g, "with e1000 unbound");
	ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c), "GROUP_SET_CONTAINER(container)");
	ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), "SET_IOMMU(TYPE1v2)");
	int d = ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, edu), "GROUP_GET_DEVICE_FD(edu)");
	orc_kmsg();
	orc_write_file("/sys/bus/pci/drivers/e1000/bind", nic);
	orc_kmsg();
	orc_info("e1000 %s driver=%s", nic, orc_driver_of("pci", nic, cur, sizeof(cur)));
	if (d >= 0)
		ORC(close(d), "close(edu device)");
	ORC(close(g), "close(group)");
	orc_write_file("/sys/bus/pci/drivers/e1000/bind", nic);
	orc_kmsg();
	orc_info("e1000 %s driver=%s", nic, orc_driver_of("pci", nic, cur, sizeof(cur)));
	bind(cd, ifd, "edu while e1000 has its driver again");
	orc_unbind("pci", nic);
	orc_kmsg();
	bind(cd, ifd, "edu with e1000 unbound");
	orc_write_file("/sys/bus/pci/drivers/e1000/bind", nic);
	orc_kmsg();
	orc_info("e1000 %s driver=%s", nic, orc_driver_of("pci", nic, cur, sizeof(cur)));
	ORC(close(cd), "close(edu cdev)");

	orc_step("both devices on vfio-pci");
	orc_bind("pci", nic, "vfio-pci");
	orc_kmsg();
	orc_ls("/dev/vfio/devices");
	find_cdev(nic, ncdev, sizeof(ncdev));
	g = ORC(open(gpath, O_RDWR), "open(%s)", gpath);
	status(g, "both on vfio-pci");
	ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c), "GROUP_SET_CONTAINER(container)");
	ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), "SET_IOMMU(TYPE1v2)");
	int d1 = ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, edu), "GROUP_GET_DEVICE_FD(edu)");
	int d2 = ORC(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, nic), "GROUP_GET_DEVICE_FD(e1000)");
	orc_kmsg();
	int ncd = ORC(open(ncdev, O_RDWR), "open(%s) while the group is open", ncdev);
	bind(ncd, ifd, "e1000 while the group is open");
	close(d1);
	close(d2);
	ORC(close(g), "close(group) and both device fds");
	bind(ncd, ifd, "e1000");
	ORC(open(gpath, O_RDWR), "open(%s) while one device of the group is cdev-bound", gpath);
	cd = ORC(open(ecdev, O_RDWR), "open(%s)", ecdev);
	int ifd2 = ORC(open("/dev/iommu", O_RDWR), "open(/dev/iommu) second context");
	bind(cd, ifd2, "edu to a second iommufd context");
	bind(cd, ifd, "edu to the same context as the e1000");
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	ORC_CALL(ioctl(ifd, IOMMU_IOAS_ALLOC, &a), "IOMMU_IOAS_ALLOC");
	orc_end("out_ioas_id=%u", a.out_ioas_id);
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at), .pt_id = a.out_ioas_id };
	ORC_CALL(ioctl(cd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), "ATTACH_IOMMUFD_PT(edu, ioas %u)", a.out_ioas_id);
	orc_end("pt_id=%u", at.pt_id);
	unsigned hwpt = at.pt_id;
	struct iommu_ioas_alloc a2 = { .size = sizeof(a2) };
	ORC_CALL(ioctl(ifd, IOMMU_IOAS_ALLOC, &a2), "IOMMU_IOAS_ALLOC second");
	orc_end("out_ioas_id=%u", a2.out_ioas_id);
	at.pt_id = a2.out_ioas_id;
	ORC_CALL(ioctl(ncd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), "ATTACH_IOMMUFD_PT(e1000, second ioas %u)", a2.out_ioas_id);
	orc_end("pt_id=%u", at.pt_id);
	at.pt_id = a.out_ioas_id;
	ORC_CALL(ioctl(ncd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), "ATTACH_IOMMUFD_PT(e1000, ioas %u)", a.out_ioas_id);
	orc_end("pt_id=%u (edu got %u)", at.pt_id, hwpt);
	struct vfio_device_detach_iommufd_pt dt = { .argsz = sizeof(dt) };
	ORC(ioctl(cd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &dt), "DETACH_IOMMUFD_PT(edu)");
	at.pt_id = a2.out_ioas_id;
	ORC_CALL(ioctl(ncd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), "ATTACH_IOMMUFD_PT(e1000, second ioas %u) after edu detached", a2.out_ioas_id);
	orc_end("pt_id=%u", at.pt_id);
	ORC(close(cd), "close(edu cdev)");
	ORC(open(gpath, O_RDWR), "open(%s) while the e1000 cdev is still bound", gpath);
	ORC(close(ncd), "close(e1000 cdev)");
	g = ORC(open(gpath, O_RDWR), "open(%s) after both cdevs closed", gpath);
	status(g, "");
	orc_kmsg();
	return 0;
}
