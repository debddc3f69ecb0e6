/*
 * vfio-platform-irqs.c - vfio_platform_irq.c on QEMU virt, through the device fd: an edge line
 * (a000000.virtio_mmio under vfio-platform, reset_required=0, no-IOMMU) and a level line
 * (9010000.pl031 under vfio-amba; rtc-pl031 is not built, so the PL031 is unbound and its
 * line requestable). GET_IRQ_INFO, /proc/interrupts names, the SET_IRQS action x data matrix
 * with its errnos, loopback on both kinds of line, automasking by the real RTC alarm, UNMASK
 * while still asserted, MASK/UNMASK by eventfd (virqfd), and DEPRECATION after a reload of
 * vfio_amba. Both devices sit behind no IOMMU, so vfio is loaded with
 * enable_unsafe_noiommu_mode=1.
 */
#include "oracle.h"
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/vfio.h>

#define VIRTIO "a000000.virtio_mmio"
#define PL031 "9010000.pl031"

/* The /proc/interrupts rows of VFIO's lines, one INFO line each. */
static void vfio_irq_rows(void)
{
	FILE *f = fopen("/proc/interrupts", "r");
	char l[512];
	int n = 0;
	while (f && fgets(l, sizeof(l), f)) {
		if (!strstr(l, "vfio-irq["))
			continue;
		l[strcspn(l, "\n")] = 0;
		/* Drop the per-CPU counts: keep the IRQ number, then chip, hwirq, type and name. */
		char *colon = strchr(l, ':');
		char *chip = strstr(l, "GICv3");
		orc_info("vfio-irq row: %.*s %s", (int)(colon ? colon - l + 1 : 0), l, chip ? chip : l);
		n++;
	}
	if (f)
		fclose(f);
	if (!n)
		orc_info("vfio-irq rows: none");
}

static int set_irqs(int d, unsigned flags, unsigned index, unsigned start, unsigned count,
		    const void *data, size_t len, const char *what)
{
	struct {
		struct vfio_irq_set s;
		unsigned char data[16];
	} set = { { .argsz = sizeof(struct vfio_irq_set) + len, .flags = flags, .index = index,
		    .start = start, .count = count } };
	memcpy(set.data, data, len);
	return ORC(ioctl(d, VFIO_DEVICE_SET_IRQS, &set), "SET_IRQS %s (flags=%#x index=%u start=%u count=%u)",
		   what, flags, index, start, count);
}

static int set_fd(int d, unsigned action, int fd, const char *what)
{
	return set_irqs(d, VFIO_IRQ_SET_DATA_EVENTFD | action, 0, 0, 1, &fd, 4, what);
}

static int set_none(int d, unsigned action, const char *what)
{
	return set_irqs(d, VFIO_IRQ_SET_DATA_NONE | action, 0, 0, 1, NULL, 0, what);
}

static int set_bool(int d, unsigned action, unsigned char v, const char *what)
{
	return set_irqs(d, VFIO_IRQ_SET_DATA_BOOL | action, 0, 0, 1, &v, 1, what);
}

/* Non-blocking read of an eventfd: its count, or the errno. */
static void drain(int efd, const char *what)
{
	uint64_t v = 0;
	ORC_CALL(read(efd, &v, 8), "read(%s)", what);
	orc_end("value=%llu", (unsigned long long)v);
}

static void wait_efd(int efd, int ms, const char *what)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	ORC_CALL(poll(&p, 1, ms), "poll(%s, %d ms)", what, ms);
	orc_end("revents=%#x", p.revents);
}

static void signal_efd(int efd, const char *what)
{
	uint64_t one = 1;
	ORC(write(efd, &one, 8), "write(%s, 1)", what);
}

/* Group, no-IOMMU container, device fd. */
static int open_dev(const char *bus, const char *dev, int *g, int *c)
{
	char path[64];
	snprintf(path, sizeof(path), "/dev/vfio/noiommu-%d", orc_iommu_group(bus, dev));
	*g = ORC(open(path, O_RDWR), "open(/dev/vfio/noiommu-N)");
	*c = ORC(open("/dev/vfio/vfio", O_RDWR), "open(/dev/vfio/vfio)");
	ORC(ioctl(*g, VFIO_GROUP_SET_CONTAINER, c), "GROUP_SET_CONTAINER");
	ORC(ioctl(*c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU), "SET_IOMMU(NOIOMMU)");
	int d = ORC(ioctl(*g, VFIO_GROUP_GET_DEVICE_FD, dev), "GROUP_GET_DEVICE_FD(%s)", dev);
	struct vfio_device_info di = { .argsz = sizeof(di) };
	ORC_CALL(ioctl(d, VFIO_DEVICE_GET_INFO, &di), "DEVICE_GET_INFO");
	orc_end("flags=%#x num_regions=%u num_irqs=%u", di.flags, di.num_regions, di.num_irqs);
	struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = 0 };
	ORC_CALL(ioctl(d, VFIO_DEVICE_GET_IRQ_INFO, &ii), "DEVICE_GET_IRQ_INFO(0)");
	orc_end("flags=%#x count=%u", ii.flags, ii.count);
	return d;
}

int main(void)
{
	orc_kmsg();
	int g, c, d, efd, efd2, pfd[2];
	const unsigned N = VFIO_IRQ_SET_DATA_NONE, B = VFIO_IRQ_SET_DATA_BOOL, E = VFIO_IRQ_SET_DATA_EVENTFD;
	const unsigned M = VFIO_IRQ_SET_ACTION_MASK, U = VFIO_IRQ_SET_ACTION_UNMASK, T = VFIO_IRQ_SET_ACTION_TRIGGER;
	if (pipe(pfd) < 0)
		return 1;

	orc_step("vfio-platform on the edge line of " VIRTIO);
	orc_modprobe("vfio", "enable_unsafe_noiommu_mode=1");
	orc_modprobe("vfio_platform", "reset_required=0");
	orc_kmsg();
	orc_bind("platform", VIRTIO, "vfio-platform");
	orc_kmsg();
	d = open_dev("platform", VIRTIO, &g, &c);
	orc_kmsg();
	vfio_irq_rows();
	efd = eventfd(0, EFD_NONBLOCK);
	set_none(d, M, "MASK NONE on an edge line");
	set_none(d, U, "UNMASK NONE on an edge line");
	set_fd(d, M, efd, "MASK EVENTFD on an edge line");
	set_irqs(d, N | M | U, 0, 0, 1, NULL, 0, "MASK|UNMASK");
	set_irqs(d, N, 0, 0, 1, NULL, 0, "no action");
	set_irqs(d, 0x40 | N | T, 0, 0, 1, NULL, 0, "unknown flag");
	set_irqs(d, N | T, 1, 0, 1, NULL, 0, "index 1");
	set_irqs(d, N | T, 0, 1, 0, NULL, 0, "start 1 count 0");
	set_irqs(d, B | T, 0, 0, 0, NULL, 0, "BOOL count 0");
	set_irqs(d, E | T, 0, 0, 0, NULL, 0, "EVENTFD count 0");
	set_none(d, T, "loopback without a trigger");
	set_fd(d, T, efd, "TRIGGER eventfd");
	vfio_irq_rows();
	set_none(d, T, "loopback NONE");
	set_bool(d, T, 1, "loopback BOOL 1");
	set_bool(d, T, 0, "loopback BOOL 0");
	drain(efd, "trigger");
	set_fd(d, T, pfd[0], "TRIGGER a pipe");
	set_none(d, T, "loopback after the failed replacement");
	drain(efd, "old trigger");
	set_fd(d, T, efd, "TRIGGER eventfd again");
	set_fd(d, T, 999, "TRIGGER fd 999");
	set_fd(d, T, efd, "TRIGGER eventfd again");
	set_fd(d, T, -1, "TRIGGER fd -1");
	set_fd(d, T, -1, "TRIGGER fd -1 without a trigger");
	set_none(d, T, "loopback after -1");
	drain(efd, "trigger");
	set_fd(d, T, efd, "TRIGGER eventfd again");
	set_irqs(d, N | T, 0, 0, 0, NULL, 0, "teardown (count 0)");
	set_none(d, T, "loopback after teardown");
	drain(efd, "trigger");
	close(d);
	close(c);
	close(g);
	orc_kmsg();

	orc_step("vfio-amba on the level line of " PL031);
	orc_modprobe("vfio_amba", "");
	orc_kmsg();
	orc_bind("amba", PL031, "vfio-amba");
	orc_kmsg();
	d = open_dev("amba", PL031, &g, &c);
	orc_kmsg();
	vfio_irq_rows();
	volatile uint32_t *rtc = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, d, 0);
	orc_info("mmap region 0: %s", rtc == MAP_FAILED ? orc_errname(errno) : "ok");
	if (rtc == MAP_FAILED)
		return 1;
	set_irqs(d, N | M, 0, 0, 0, NULL, 0, "MASK count 0");
	set_fd(d, T, efd, "TRIGGER eventfd");
	vfio_irq_rows();
	set_none(d, T, "loopback NONE");
	set_none(d, T, "loopback NONE while automasked");
	drain(efd, "trigger");
	set_bool(d, U, 0, "UNMASK BOOL 0");
	set_bool(d, T, 1, "loopback BOOL 1 while still masked");
	drain(efd, "trigger");
	set_bool(d, U, 1, "UNMASK BOOL 1");
	set_none(d, M, "MASK NONE");
	set_none(d, M, "MASK NONE again");
	set_none(d, T, "loopback while masked");
	drain(efd, "trigger");
	set_none(d, U, "UNMASK NONE");
	set_none(d, T, "loopback");
	drain(efd, "trigger");
	set_none(d, U, "UNMASK NONE");

	rtc[0x10 / 4] = 0;   /* IMSC */
	rtc[0x1c / 4] = 1;   /* ICR */
	rtc[0x04 / 4] = rtc[0] + 2; /* MR = DR + 2 */
	rtc[0x10 / 4] = 1;
	orc_info("alarm set: MR - DR = %u, IMSC = %u", rtc[1] - rtc[0], rtc[0x10 / 4]);
	wait_efd(efd, 4000, "trigger, alarm in 2 s");
	drain(efd, "trigger");
	orc_info("RIS = %u MIS = %u", rtc[0x14 / 4], rtc[0x18 / 4]);
	set_none(d, U, "UNMASK while the RTC still asserts");
	wait_efd(efd, 1000, "trigger");
	drain(efd, "trigger");
	rtc[0x1c / 4] = 1;   /* ICR */
	orc_info("after ICR: RIS = %u", rtc[0x14 / 4]);
	set_none(d, U, "UNMASK after ICR");
	wait_efd(efd, 1000, "trigger");

	efd2 = eventfd(0, EFD_NONBLOCK);
	set_fd(d, U, efd2, "UNMASK EVENTFD");
	set_fd(d, U, efd, "UNMASK EVENTFD a second one");
	set_fd(d, U, 999, "UNMASK EVENTFD fd 999");
	set_fd(d, M, pfd[0], "MASK EVENTFD a pipe");
	set_fd(d, M, efd, "MASK EVENTFD");
	signal_efd(efd, "mask eventfd");
	drain(efd, "mask eventfd");
	rtc[0x04 / 4] = rtc[0] + 2;
	wait_efd(efd, 4000, "(the mask eventfd) alarm while masked");
	drain(efd, "mask eventfd");
	signal_efd(efd2, "unmask eventfd");
	drain(efd2, "unmask eventfd");
	wait_efd(efd, 1000, "trigger after the unmask eventfd");
	drain(efd, "trigger");
	set_fd(d, M, -1, "MASK EVENTFD -1");
	set_fd(d, M, -1, "MASK EVENTFD -1 again");
	set_fd(d, U, -1, "UNMASK EVENTFD -1");
	rtc[0x10 / 4] = 0;
	rtc[0x1c / 4] = 1;
	munmap((void *)rtc, 4096);
	close(d);
	close(c);
	close(g);
	orc_kmsg();
	vfio_irq_rows();

	orc_step("vfio_amba reloaded: DEPRECATION again");
	orc_unbind("amba", PL031);
	orc_rmmod("vfio_amba");
	orc_modprobe("vfio_amba", "");
	orc_kmsg();
	orc_bind("amba", PL031, "vfio-amba");
	orc_kmsg();
	return 0;
}
