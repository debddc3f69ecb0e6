/* misc-class.c - what a misc device (/dev/iommu, /dev/vfio/vfio) shows in sysfs on 7.3. */
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include "oracle.h"

static void show_link(const char *path)
{
	char buf[512];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	if (n < 0) { orc_info("readlink %s: %s", path, orc_errname(errno)); return; }
	buf[n] = 0;
	orc_info("%s -> %s", path, buf);
}

int main(void)
{
	struct stat st;
	orc_modprobe("iommufd", "");
	orc_modprobe("vfio", "");
	orc_kmsg();
	orc_ls("/sys/class/misc");
	show_link("/sys/class/misc/iommu");
	orc_ls("/sys/class/misc/iommu/");
	orc_show_file("/sys/class/misc/iommu/dev");
	orc_show_file("/sys/class/misc/iommu/uevent");
	show_link("/sys/class/misc/iommu/subsystem");
	show_link("/sys/class/misc/vfio");
	orc_show_file("/sys/class/misc/vfio/uevent");
	if (stat("/dev/iommu", &st) == 0) orc_info("/dev/iommu mode %o rdev %u:%u", st.st_mode, major(st.st_rdev), minor(st.st_rdev));
	if (stat("/dev/vfio/vfio", &st) == 0) orc_info("/dev/vfio/vfio mode %o rdev %u:%u", st.st_mode, major(st.st_rdev), minor(st.st_rdev));
	orc_ls("/sys/module/iommufd/parameters");
	orc_show_file("/sys/module/iommufd/parameters/allow_unsafe_interrupts");
	orc_ls("/sys/devices/virtual/misc");
	return 0;
}
