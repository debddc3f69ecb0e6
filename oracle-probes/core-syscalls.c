/*
 * core-syscalls.c - facts of kernel part 1 settled on a real kernel:
 * delete_module() while in use, finit_module() twice, /dev/kmsg with a short buffer,
 * eventfd edge cases, lseek on an eventfd, F_GETFL flags, pagemap without CAP_SYS_ADMIN.
 */
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include "oracle.h"

int main(void)
{
	char buf[8192];
	orc_kmsg();

	orc_step("modules: load twice, unload while depended on and while open");
	orc_modprobe("vfio_iommu_type1", "");
	int mfd = open("/lib/oracle-modules/vfio.ko", O_RDONLY | O_CLOEXEC);
	ORC(syscall(SYS_finit_module, mfd, "", 0), "finit_module(vfio) again");
	close(mfd);
	ORC(syscall(SYS_delete_module, "vfio", O_NONBLOCK), "delete_module(\"vfio\") with vfio_iommu_type1 loaded");
	int cfd = ORC(open("/dev/vfio/vfio", O_RDWR), "open(\"/dev/vfio/vfio\")");
	orc_rmmod("vfio_iommu_type1");
	ORC(syscall(SYS_delete_module, "vfio", O_NONBLOCK), "delete_module(\"vfio\") while /dev/vfio/vfio is open");
	orc_show_file("/sys/module/vfio/refcnt");
	ORC(close(cfd), "close(container)");
	orc_rmmod("vfio");
	ORC(syscall(SYS_delete_module, "vfio", O_NONBLOCK), "delete_module(\"vfio\") not loaded");

	orc_step("/dev/kmsg");
	int k = ORC(open("/dev/kmsg", O_RDONLY | O_NONBLOCK), "open(\"/dev/kmsg\", O_RDONLY|O_NONBLOCK)");
	ORC(read(k, buf, 8), "read(kmsg, buf, 8)");
	long n = ORC(read(k, buf, sizeof(buf)), "read(kmsg, buf, 8192)");
	if (n > 0) {
		buf[n] = 0;
		char *sc = strchr(buf, ';');
		orc_info("first record header: %.*s", (int)(sc ? sc - buf : 0), buf);
	}
	ORC(lseek(k, 0, SEEK_END), "lseek(kmsg, 0, SEEK_END)");
	ORC(read(k, buf, sizeof(buf)), "read(kmsg) after SEEK_END");
	close(k);

	orc_step("eventfd");
	int e = ORC(eventfd(0, EFD_NONBLOCK), "eventfd(0, EFD_NONBLOCK)");
	ORC(read(e, buf, 8), "read(efd) empty");
	ORC(read(e, buf, 4), "read(efd, 4)");
	uint64_t v = ~0ULL;
	ORC(write(e, &v, 8), "write(efd, 0xffffffffffffffff)");
	v = 3;
	ORC(write(e, &v, 8), "write(efd, 3)");
	ORC(lseek(e, 5, SEEK_SET), "lseek(efd, 5, SEEK_SET)");
	ORC(pread(e, buf, 8, 0), "pread(efd)");
	ORC(eventfd(0, 0x40), "eventfd(0, 0x40)");
	ORC(fcntl(e, F_GETFL), "fcntl(efd, F_GETFL)");
	close(e);
	int nul = open("/dev/null", O_RDONLY);
	ORC(fcntl(nul, F_GETFL), "fcntl(/dev/null O_RDONLY, F_GETFL)");
	ORC(ioctl(nul, 0x5421, NULL), "ioctl(/dev/null, FIONBIO, NULL)");
	ORC(ioctl(nul, _IOWR('t', 1, uint64_t), buf), "ioctl(/dev/null, _IOWR('t',1,u64))");
	ORC(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, open("/proc/cmdline", O_RDONLY), 0) == MAP_FAILED ? -1 : 0,
	    "mmap(/proc/cmdline)");

	orc_step("pagemap without CAP_SYS_ADMIN");
	char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	page[0] = 1;
	int pm = open("/proc/self/pagemap", O_RDONLY);
	uint64_t ent = 0;
	ORC(pread(pm, &ent, 8, ((uintptr_t)page / 4096) * 8), "pread(pagemap) as root");
	orc_info("entry present=%d pfn_nonzero=%d", (int)(ent >> 63), (ent & ((1ULL << 55) - 1)) != 0);
	close(pm);
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = { 0 };
	ORC(syscall(SYS_capset, &h, d), "capset(all empty)");
	pm = open("/proc/self/pagemap", O_RDONLY);
	ORC(pread(pm, &ent, 8, ((uintptr_t)page / 4096) * 8), "pread(pagemap) without caps");
	orc_info("entry present=%d pfn_nonzero=%d", (int)(ent >> 63), (ent & ((1ULL << 55) - 1)) != 0);
	ORC(open("/proc/sys/kernel/tainted", O_WRONLY), "open(/proc/sys/kernel/tainted, O_WRONLY) without caps");
	return 0;
}
