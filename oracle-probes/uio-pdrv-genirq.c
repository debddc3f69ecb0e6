/* uio-pdrv-genirq.c - the UIO core (drivers/uio/uio.c) and uio_pdrv_genirq on QEMU virt's platform devices:
 * a000200.virtio_mmio (one 0x200 window at a non-page-aligned address, one edge SPI, no driver) bound by
 * driver_override, then every virtio_mmio by the of_id parameter of a freshly loaded module; and
 * 9020000.fw-cfg (0x18 window, no interrupt). Records the class device and its sysfs files, /dev/uioN,
 * /proc/interrupts and /proc/devices, every fop's errors (read/write sizes, O_NONBLOCK, poll, mmap by map
 * index and length, MAP_PRIVATE), module references, and what an open fd sees after the device is unbound.
 * Run with no extra options. */
#include "oracle.h"
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define VIRTIO "a000200.virtio_mmio"
#define FWCFG "9020000.fw-cfg"
#define PS 4096UL

static void stat_node(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		orc_info("stat %s: %s", path, orc_errname(errno));
		return;
	}
	orc_info("stat %s: %s mode=%04o rdev=%u:%u", path, S_ISCHR(st.st_mode) ? "char" : "other", st.st_mode & 07777,
		 major(st.st_rdev), minor(st.st_rdev));
}

static void show_link(const char *path)
{
	char t[512];
	ssize_t n = readlink(path, t, sizeof(t) - 1);
	if (n < 0) {
		orc_info("readlink %s: %s", path, orc_errname(errno));
		return;
	}
	t[n] = 0;
	orc_info("readlink %s = %s", path, t);
}

/* The /proc/devices line of "uio" (the major is dynamic). */
static void proc_devices_uio(void)
{
	FILE *f = fopen("/proc/devices", "r");
	char line[128];
	int found = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned maj;
		char name[64];
		if (sscanf(line, "%u %63s", &maj, name) == 2 && !strcmp(name, "uio")) {
			orc_info("/proc/devices: %u uio", maj);
			found = 1;
		}
	}
	if (f)
		fclose(f);
	if (!found)
		orc_info("/proc/devices: no uio");
}

/* The /proc/interrupts rows naming `what`, trimmed to the columns after the counts. */
static void proc_interrupts(const char *what)
{
	FILE *f = fopen("/proc/interrupts", "r");
	char line[256];
	int found = 0;
	while (f && fgets(line, sizeof(line), f)) {
		if (!strstr(line, what))
			continue;
		line[strcspn(line, "\n")] = 0;
		char *chip = strstr(line, "GICv3");
		char *colon = strchr(line, ':');
		if (colon)
			*colon = 0;
		char *irq = line;
		while (*irq == ' ')
			irq++;
		orc_info("/proc/interrupts %s: %s", irq, chip ? chip : "?");
		found = 1;
	}
	if (f)
		fclose(f);
	if (!found)
		orc_info("/proc/interrupts: no row for %s", what);
}

static void class_dev(const char *uio)
{
	char p[256];
	static const char *const files[] = { "name", "version", "event", "dev", "uevent" };
	snprintf(p, sizeof(p), "/sys/class/uio/%s", uio);
	orc_ls(p);
	for (unsigned i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "/sys/class/uio/%s/%s", uio, files[i]);
		orc_show_file(p);
	}
	snprintf(p, sizeof(p), "/sys/class/uio/%s", uio);
	show_link(p);
	snprintf(p, sizeof(p), "/sys/class/uio/%s/device", uio);
	show_link(p);
	snprintf(p, sizeof(p), "/sys/class/uio/%s/subsystem", uio);
	show_link(p);
	snprintf(p, sizeof(p), "/sys/class/uio/%s/maps", uio);
	orc_ls(p);
	for (int m = 0; m < 5; m++) {
		static const char *const mf[] = { "name", "addr", "size", "offset" };
		snprintf(p, sizeof(p), "/sys/class/uio/%s/maps/map%d", uio, m);
		if (access(p, F_OK))
			break;
		orc_ls(p);
		for (unsigned i = 0; i < 4; i++) {
			snprintf(p, sizeof(p), "/sys/class/uio/%s/maps/map%d/%s", uio, m, mf[i]);
			orc_show_file(p);
		}
	}
	snprintf(p, sizeof(p), "/sys/class/uio/%s/portio", uio);
	orc_ls(p);
}

static void rd(int fd, size_t n, const char *why)
{
	int32_t v = -1;
	char big[8] = { 0 };
	ORC_CALL(read(fd, n <= 4 ? (void *)&v : (void *)big, n), "read(uio, %zu) %s", n, why);
	if (orc_ret == 4)
		orc_end("count=%d", v);
	else
		orc_end(NULL);
}

static void wr(int fd, int32_t v, size_t n, const char *why)
{
	char buf[8] = { 0 };
	memcpy(buf, &v, sizeof(v));
	ORC(write(fd, buf, n), "write(uio, %d, %zu) %s", v, n, why);
}

static void pl(int fd, const char *why)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDNORM };
	ORC_CALL(poll(&p, 1, 0), "poll(uio, POLLIN, 0) %s", why);
	orc_end("revents=%#x", p.revents);
}

static void *mp(int fd, unsigned long len, int prot, int flags, unsigned long off, const char *why)
{
	void *a = MAP_FAILED;
	ORC((a = mmap(NULL, len, prot, flags, fd, off)) == MAP_FAILED ? -1 : 0, "mmap(uio, len=%#lx, off=%#lx, %s) %s",
	    len, off, flags & MAP_SHARED ? "MAP_SHARED" : "MAP_PRIVATE", why);
	return a == MAP_FAILED ? NULL : a;
}

static void fops(int fd, const char *why)
{
	char w[96];
	rd(fd, 3, why);
	rd(fd, 8, why);
	rd(fd, 4, why);
	wr(fd, 1, 3, why);
	wr(fd, 1, 4, why);
	wr(fd, 0, 4, why);
	wr(fd, 1, 4, why);
	ORC(write(fd, (void *)8, 4), "write(uio, bad address, 4) %s", why);
	pl(fd, why);
	void *a = mp(fd, PS, PROT_READ | PROT_WRITE, MAP_SHARED, 0, why);
	if (a)
		munmap(a, PS);
	snprintf(w, sizeof(w), "%s", why);
	a = mp(fd, 2 * PS, PROT_READ, MAP_SHARED, 0, w);
	if (a)
		munmap(a, 2 * PS);
	a = mp(fd, PS, PROT_READ, MAP_SHARED, PS, w);
	if (a)
		munmap(a, PS);
	a = mp(fd, PS, PROT_READ, MAP_SHARED, 5 * PS, w);
	if (a)
		munmap(a, PS);
	a = mp(fd, PS, PROT_READ, MAP_PRIVATE, 0, w);
	if (a)
		munmap(a, PS);
}

int main(void)
{
	char cur[128];
	orc_kmsg();

	orc_step("boot state");
	orc_info("platform %s: driver=%s iommu_group=%d", VIRTIO, orc_driver_of("platform", VIRTIO, cur, sizeof(cur)),
		 orc_iommu_group("platform", VIRTIO));
	orc_info("platform %s: driver=%s iommu_group=%d", FWCFG, orc_driver_of("platform", FWCFG, cur, sizeof(cur)),
		 orc_iommu_group("platform", FWCFG));
	orc_ls("/sys/class/uio");

	orc_step("load uio_pdrv_genirq");
	orc_modprobe("uio_pdrv_genirq", "");
	orc_kmsg();
	orc_ls("/sys/module/uio_pdrv_genirq");
	orc_ls("/sys/module/uio_pdrv_genirq/parameters");
	orc_show_file("/sys/module/uio/refcnt");
	orc_show_file("/sys/module/uio_pdrv_genirq/refcnt");
	orc_ls("/sys/module/uio/holders");
	orc_ls("/sys/class/uio");
	orc_ls("/sys/bus/platform/drivers/uio_pdrv_genirq");
	proc_devices_uio();

	orc_step("nothing binds without override or of_id");
	orc_write_file("/sys/bus/platform/drivers_probe", VIRTIO);
	orc_info("driver=%s", orc_driver_of("platform", VIRTIO, cur, sizeof(cur)));
	orc_kmsg();

	orc_step("bind a000200.virtio_mmio by driver_override");
	orc_bind("platform", VIRTIO, "uio_pdrv_genirq");
	orc_kmsg();
	orc_ls("/sys/class/uio");
	orc_ls("/sys/bus/platform/devices/" VIRTIO);
	orc_ls("/sys/bus/platform/devices/" VIRTIO "/uio");
	class_dev("uio0");
	orc_ls("/dev");
	stat_node("/dev/uio0");
	proc_interrupts("virtio_mmio@a000200");
	orc_show_file("/sys/module/uio_pdrv_genirq/refcnt");

	orc_step("fops on uio0 (virtio_mmio, edge irq)");
	int fd = ORC(open("/dev/uio0", O_RDWR), "open(/dev/uio0, O_RDWR)");
	orc_show_file("/sys/module/uio/refcnt");
	orc_show_file("/sys/module/uio_pdrv_genirq/refcnt");
	int fd2 = ORC(open("/dev/uio0", O_RDWR | O_NONBLOCK), "open(/dev/uio0, O_RDWR|O_NONBLOCK)");
	orc_show_file("/sys/module/uio/refcnt");
	orc_show_file("/sys/module/uio_pdrv_genirq/refcnt");
	fops(fd2, "nonblock");
	ORC(lseek(fd2, 4, SEEK_SET), "lseek(uio, 4, SEEK_SET)");
	ORC(pread(fd2, cur, 4, 0), "pread(uio, 4, 0)");
	/* The first page maps the window's page from its start: the transport at a000000 comes first. */
	volatile uint32_t *m = mp(fd2, PS, PROT_READ | PROT_WRITE, MAP_SHARED, 0, "keep");
	if (m)
		orc_info("mapping: +0x000=%#x +0x200=%#x +0x204=%#x +0x20c=%#x +0x400=%#x", m[0], m[0x200 / 4],
			 m[0x204 / 4], m[0x20c / 4], m[0x400 / 4]);
	orc_show_file("/sys/class/uio/uio0/event");
	ORC(syscall(SYS_delete_module, "uio_pdrv_genirq", O_NONBLOCK), "delete_module(uio_pdrv_genirq) while open");
	ORC(syscall(SYS_delete_module, "uio", O_NONBLOCK), "delete_module(uio) while open");

	orc_step("unbind while open");
	orc_write_file("/sys/bus/platform/devices/" VIRTIO "/driver/unbind", VIRTIO);
	orc_kmsg();
	orc_ls("/sys/class/uio");
	orc_ls("/dev");
	orc_show_file("/sys/module/uio_pdrv_genirq/refcnt");
	proc_interrupts("virtio_mmio@a000200");
	rd(fd2, 4, "after unbind");
	rd(fd2, 3, "after unbind");
	wr(fd2, 1, 4, "after unbind");
	wr(fd2, 1, 3, "after unbind");
	ORC(write(fd2, (void *)8, 4), "write(uio, bad address, 4) after unbind");
	pl(fd2, "after unbind");
	void *a = mp(fd2, PS, PROT_READ, MAP_SHARED, 0, "after unbind");
	if (a)
		munmap(a, PS);
	if (m)
		orc_info("old mapping after unbind: +0x200=%#x", m[0x200 / 4]);
	ORC(open("/dev/uio0", O_RDWR), "open(/dev/uio0) after unbind");
	ORC(close(fd), "close(fd)");
	orc_show_file("/sys/module/uio_pdrv_genirq/refcnt");
	ORC(close(fd2), "close(fd2)");
	orc_show_file("/sys/module/uio_pdrv_genirq/refcnt");
	orc_show_file("/sys/module/uio/refcnt");
	if (m)
		orc_info("old mapping after close: +0x200=%#x", m[0x200 / 4]);
	if (m)
		munmap((void *)m, PS);
	orc_show_file("/sys/module/uio_pdrv_genirq/refcnt");
	orc_kmsg();

	orc_step("a device without an interrupt: 9020000.fw-cfg");
	orc_bind("platform", FWCFG, "uio_pdrv_genirq");
	orc_kmsg();
	orc_ls("/sys/class/uio");
	class_dev("uio0");
	proc_interrupts("fw-cfg");
	fd = ORC(open("/dev/uio0", O_RDWR | O_NONBLOCK), "open(/dev/uio0, O_RDWR|O_NONBLOCK)");
	fops(fd, "no irq");
	ORC(close(fd), "close(fd)");
	orc_write_file("/sys/bus/platform/devices/" FWCFG "/driver/unbind", FWCFG);
	orc_write_file("/sys/bus/platform/devices/" FWCFG "/driver_override", "\n");
	orc_write_file("/sys/bus/platform/devices/" VIRTIO "/driver_override", "\n");
	orc_kmsg();

	orc_step("bind errors");
	orc_write_file("/sys/bus/platform/drivers/uio_pdrv_genirq/bind", VIRTIO);
	orc_write_file("/sys/bus/platform/drivers/uio_pdrv_genirq/bind", "9010000.pl031");
	orc_write_file("/sys/bus/platform/drivers/uio_pdrv_genirq/unbind", VIRTIO);
	orc_kmsg();

	orc_step("of_id=virtio,mmio on a fresh module");
	orc_rmmod("uio_pdrv_genirq");
	orc_kmsg();
	orc_modprobe("uio_pdrv_genirq", "of_id=virtio,mmio");
	orc_kmsg();
	orc_ls("/sys/module/uio_pdrv_genirq");
	orc_ls("/sys/bus/platform/drivers/uio_pdrv_genirq");
	orc_ls("/sys/class/uio");
	orc_show_file("/sys/class/uio/uio0/name");
	orc_show_file("/sys/class/uio/uio1/name");
	orc_show_file("/sys/class/uio/uio31/name");
	show_link("/sys/class/uio/uio0/device");
	show_link("/sys/class/uio/uio1/device");
	show_link("/sys/class/uio/uio31/device");
	orc_show_file("/sys/class/uio/uio1/maps/map0/addr");
	orc_show_file("/sys/class/uio/uio1/maps/map0/offset");
	orc_info("fw-cfg driver=%s", orc_driver_of("platform", FWCFG, cur, sizeof(cur)));
	stat_node("/dev/uio31");
	proc_interrupts("virtio_mmio@a003e00");
	orc_rmmod("uio_pdrv_genirq");
	orc_kmsg();
	orc_ls("/sys/class/uio");
	orc_rmmod("uio");
	orc_ls("/sys/class");
	proc_devices_uio();
	orc_kmsg();
	return 0;
}
