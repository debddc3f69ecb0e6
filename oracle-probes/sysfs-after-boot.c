/*
 * sysfs-after-boot.c - what a virt guest's driver core looks like right after boot: the devices
 * on the platform and AMBA buses, their drivers, IOMMU groups and a few attributes.
 */
#include <dirent.h>
#include "oracle.h"

static void devices(const char *bus)
{
	char p[256], cur[128];
	snprintf(p, sizeof(p), "/sys/bus/%s/devices", bus);
	DIR *d = opendir(p);
	for (struct dirent *de; d && (de = readdir(d));) {
		if (de->d_name[0] == '.')
			continue;
		orc_info("%s %s driver=%s iommu_group=%d", bus, de->d_name,
			 orc_driver_of(bus, de->d_name, cur, sizeof(cur)), orc_iommu_group(bus, de->d_name));
	}
	if (d)
		closedir(d);
}

int main(void)
{
	orc_step("buses");
	orc_ls("/sys/bus/platform/devices");
	orc_ls("/sys/bus/amba/devices");
	orc_ls("/sys/bus/platform/drivers");
	orc_ls("/sys/bus/amba/drivers");
	orc_step("devices");
	devices("amba");
	devices("platform");
	orc_step("attributes");
	orc_ls("/sys/bus/amba/devices/9000000.pl011");
	orc_ls("/sys/bus/platform/devices/9050000.smmuv3");
	char l[256];
	orc_info("9000000.pl011 -> %s", orc_link_name("/sys/bus/amba/devices/9000000.pl011", l, sizeof(l)));
	orc_info("9050000.smmuv3 -> %s", orc_link_name("/sys/bus/platform/devices/9050000.smmuv3", l, sizeof(l)));
	orc_show_file("/sys/bus/amba/devices/9000000.pl011/id");
	orc_show_file("/sys/bus/amba/devices/9000000.pl011/resource");
	orc_show_file("/sys/bus/platform/devices/9050000.smmuv3/modalias");
	orc_ls("/sys/kernel/iommu_groups");
	orc_ls("/sys/devices/platform");
	return 0;
}
