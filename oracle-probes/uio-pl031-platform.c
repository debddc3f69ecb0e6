/* uio-pl031-platform.c - "UIO drives the PL031" on a device tree whose pl031@9010000 node says only
 * compatible = "arm,pl031" (no "arm,primecell"): of_platform_populate() then makes it a platform device
 * 9010000.pl031 and uio_pdrv_genirq can bind it. Records the UIO device, its level interrupt row, an alarm
 * (MR = DR + 2, IMSC = 1) counted by a blocking read(), EAGAIN with O_NONBLOCK, re-enabling with write(1)
 * while the RTC still asserts (it fires again at once) and after ICR.
 *
 * The DTB is QEMU's own with one property changed:
 *   qemu-system-aarch64 -M virt,iommu=smmuv3,gic-version=3,dumpdtb=virt.dtb -cpu cortex-a57 -smp 2 -m 1024 \
 *     -display none -nic none
 *   dtc -I dtb -O dts virt.dtb | sed 's/"arm,pl031\\0arm,primecell"/"arm,pl031"/' | dtc -I dts -O dtb \
 *     -o virt-pl031-plain.dtb
 * Run with --qemu-extra "-dtb virt-pl031-plain.dtb". */
#include "oracle.h"
#include <poll.h>
#include <sys/mman.h>

#define DEV "9010000.pl031"
#define PS 4096UL
/* PL031 registers (ARM DDI 0224): data, match, load, control, interrupt mask/raw/masked/clear. */
#define RTCDR 0x00
#define RTCMR 0x04
#define RTCIMSC 0x10
#define RTCRIS 0x14
#define RTCMIS 0x18
#define RTCICR 0x1c

static volatile uint32_t *rtc;

static void regs(const char *when)
{
	orc_info("%s: RIS=%u MIS=%u IMSC=%u", when, rtc[RTCRIS / 4], rtc[RTCMIS / 4], rtc[RTCIMSC / 4]);
}

static void proc_interrupts(void)
{
	FILE *f = fopen("/proc/interrupts", "r");
	char line[256];
	while (f && fgets(line, sizeof(line), f)) {
		if (!strstr(line, "pl031"))
			continue;
		line[strcspn(line, "\n")] = 0;
		char *chip = strstr(line, "GICv3");
		orc_info("/proc/interrupts row: %s", chip ? chip : line);
	}
	if (f)
		fclose(f);
}

static void rd(int fd, const char *why)
{
	int32_t v = -1;
	ORC_CALL(read(fd, &v, 4), "read(uio, 4) %s", why);
	if (orc_ret == 4)
		orc_end("count=%d", v);
	else
		orc_end(NULL);
}

static void pl(int fd, const char *why)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ORC_CALL(poll(&p, 1, 0), "poll(uio, POLLIN, 0) %s", why);
	orc_end("revents=%#x", p.revents);
}

int main(void)
{
	char cur[128];
	orc_kmsg();

	orc_step("boot state");
	orc_ls("/sys/bus/amba/devices");
	orc_info("platform %s: driver=%s", DEV, orc_driver_of("platform", DEV, cur, sizeof(cur)));
	orc_show_file("/sys/bus/platform/devices/" DEV "/modalias");

	orc_step("bind 9010000.pl031 to uio_pdrv_genirq");
	orc_modprobe("uio_pdrv_genirq", "");
	orc_bind("platform", DEV, "uio_pdrv_genirq");
	orc_kmsg();
	orc_show_file("/sys/class/uio/uio0/name");
	orc_show_file("/sys/class/uio/uio0/maps/map0/name");
	orc_show_file("/sys/class/uio/uio0/maps/map0/addr");
	orc_show_file("/sys/class/uio/uio0/maps/map0/size");
	orc_show_file("/sys/class/uio/uio0/maps/map0/offset");
	proc_interrupts();

	orc_step("alarm");
	int fd = ORC(open("/dev/uio0", O_RDWR), "open(/dev/uio0, O_RDWR)");
	void *m = MAP_FAILED;
	ORC((m = mmap(NULL, PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED ? -1 : 0,
	    "mmap(uio, map 0)");
	if (m == MAP_FAILED)
		return 1;
	rtc = m;
	regs("before");
	rtc[RTCMR / 4] = rtc[RTCDR / 4] + 2;
	rtc[RTCIMSC / 4] = 1;
	pl(fd, "armed");
	rd(fd, "blocking");
	regs("after the alarm");
	orc_show_file("/sys/class/uio/uio0/event");
	ORC(fcntl(fd, F_SETFL, O_NONBLOCK), "fcntl(uio, F_SETFL, O_NONBLOCK)");
	rd(fd, "nonblock, nothing new");
	pl(fd, "nothing new");

	orc_step("re-enable while the RTC still asserts");
	int32_t on = 1;
	ORC(write(fd, &on, 4), "write(uio, 1) with RIS set");
	usleep(10000);
	rd(fd, "nonblock after write(1)");
	orc_show_file("/sys/class/uio/uio0/event");

	orc_step("acknowledge, then re-enable");
	rtc[RTCICR / 4] = 1;
	regs("after ICR");
	ORC(write(fd, &on, 4), "write(uio, 1) after ICR");
	usleep(10000);
	rd(fd, "nonblock after ICR + write(1)");
	orc_show_file("/sys/class/uio/uio0/event");
	proc_interrupts();
	rtc[RTCIMSC / 4] = 0;
	munmap(m, PS);
	ORC(close(fd), "close(uio)");
	orc_write_file("/sys/bus/platform/devices/" DEV "/driver/unbind", DEV);
	orc_kmsg();
	return 0;
}
