/* uio-amba.c - uio_pdrv_genirq is a platform driver: it cannot take the PrimeCells of QEMU virt, which
 * of_platform_populate() makes AMBA devices. driver_override = uio_pdrv_genirq on 9010000.pl031 (no driver)
 * and on 9030000.pl061 (pl061_gpio unbound first, given back after), by override and with
 * of_id=arm,pl031 / of_id=arm,pl061: the writes succeed, nothing binds, the kernel logs nothing.
 * Run with no extra options. */
#include "oracle.h"

#define PL031 "9010000.pl031"
#define PL061 "9030000.pl061"

static void state(const char *dev)
{
	char cur[128];
	orc_info("amba %s: driver=%s", dev, orc_driver_of("amba", dev, cur, sizeof(cur)));
}

int main(void)
{
	orc_kmsg();

	orc_step("boot state");
	state(PL031);
	state(PL061);
	orc_ls("/sys/bus/amba/drivers");

	orc_step("load uio_pdrv_genirq");
	orc_modprobe("uio_pdrv_genirq", "");
	orc_kmsg();
	orc_ls("/sys/bus/amba/drivers");
	orc_ls("/sys/bus/platform/drivers/uio_pdrv_genirq");

	orc_step("override on 9010000.pl031");
	orc_write_file("/sys/bus/amba/devices/" PL031 "/driver_override", "uio_pdrv_genirq");
	orc_show_file("/sys/bus/amba/devices/" PL031 "/driver_override");
	orc_write_file("/sys/bus/amba/drivers_probe", PL031);
	state(PL031);
	orc_write_file("/sys/bus/platform/drivers/uio_pdrv_genirq/bind", PL031);
	/* orc_write_file() prints the errno of a failed open as OK(0): open it here instead. */
	ORC(open("/sys/bus/amba/drivers/uio_pdrv_genirq/bind", O_WRONLY), "open(\"/sys/bus/amba/drivers/uio_pdrv_genirq/bind\", O_WRONLY)");
	orc_ls("/sys/class/uio");
	orc_kmsg();

	orc_step("override on 9030000.pl061");
	orc_write_file("/sys/bus/amba/devices/" PL061 "/driver_override", "uio_pdrv_genirq");
	orc_write_file("/sys/bus/amba/devices/" PL061 "/driver/unbind", PL061);
	orc_write_file("/sys/bus/amba/drivers_probe", PL061);
	state(PL061);
	orc_ls("/sys/class/uio");
	orc_kmsg();

	orc_step("give 9030000.pl061 back");
	orc_write_file("/sys/bus/amba/devices/" PL061 "/driver_override", "\n");
	orc_write_file("/sys/bus/amba/drivers_probe", PL061);
	state(PL061);
	orc_kmsg();

	orc_step("of_id=arm,pl031 on a fresh module");
	orc_write_file("/sys/bus/amba/devices/" PL031 "/driver_override", "\n");
	orc_rmmod("uio_pdrv_genirq");
	orc_modprobe("uio_pdrv_genirq", "of_id=arm,pl031");
	state(PL031);
	orc_write_file("/sys/bus/amba/drivers_probe", PL031);
	state(PL031);
	orc_ls("/sys/bus/platform/drivers/uio_pdrv_genirq");
	orc_ls("/sys/class/uio");
	orc_kmsg();
	return 0;
}
