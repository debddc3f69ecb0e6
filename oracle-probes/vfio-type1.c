/* vfio-type1.c - vfio_iommu_type1 on the QEMU edu device's group behind the SMMUv3 (vfio_iommu_type1.c):
 * GET_INFO at every argsz with the cap chain, MAP_DMA/UNMAP_DMA errors for TYPE1v2 and TYPE1 (v1),
 * VADDR invalidation, DIRTY_PAGES, dma_entry_limit, RLIMIT_MEMLOCK with and without CAP_IPC_LOCK.
 * Run with --qemu-extra "-device edu". */
#include "oracle.h"
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <linux/capability.h>
#include <linux/vfio.h>

#define PS 4096UL
#define MB (1UL << 20)
static int c, g;
static char bdf[64], gpath[64];
static char *buf, *ro;
static unsigned char ib[512];

static unsigned long off(unsigned long va)
{
	return va - (unsigned long)buf;
}

static void info(unsigned argsz, unsigned dump)
{
	memset(ib, 0xaa, sizeof(ib));
	struct vfio_iommu_type1_info *i = (void *)ib;
	i->argsz = argsz;
	ORC_CALL(ioctl(c, VFIO_IOMMU_GET_INFO, ib), "GET_INFO(argsz=%u)", argsz);
	orc_end("argsz=%u flags=%#x pgsizes=%#llx cap_offset=%#x", i->argsz, i->flags, (unsigned long long)i->iova_pgsizes,
		argsz >= 20 ? i->cap_offset : 0xaaaaaaaa);
	if (dump)
		orc_hexdump("info", ib, dump);
}

/* walk the cap chain of a complete GET_INFO answer */
static void caps(void)
{
	memset(ib, 0, sizeof(ib));
	struct vfio_iommu_type1_info *i = (void *)ib;
	i->argsz = sizeof(ib);
	if (ioctl(c, VFIO_IOMMU_GET_INFO, ib) < 0 || !(i->flags & VFIO_IOMMU_INFO_CAPS))
		return;
	for (unsigned o = i->cap_offset; o && o < sizeof(ib); ) {
		struct vfio_info_cap_header *h = (void *)(ib + o);
		if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
			struct vfio_iommu_type1_info_cap_iova_range *r = (void *)h;
			orc_info("cap@%#x IOVA_RANGE v%u next=%#x nr_iovas=%u", o, h->version, h->next, r->nr_iovas);
			for (unsigned k = 0; k < r->nr_iovas; k++)
				orc_info("  iova range %u: [%#llx, %#llx]", k, (unsigned long long)r->iova_ranges[k].start,
					 (unsigned long long)r->iova_ranges[k].end);
		} else if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION) {
			struct vfio_iommu_type1_info_cap_migration *m = (void *)h;
			orc_info("cap@%#x MIGRATION v%u next=%#x flags=%#x pgsize_bitmap=%#llx max_dirty_bitmap_size=%#llx", o,
				 h->version, h->next, m->flags, (unsigned long long)m->pgsize_bitmap,
				 (unsigned long long)m->max_dirty_bitmap_size);
		} else if (h->id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL) {
			struct vfio_iommu_type1_info_dma_avail *a = (void *)h;
			orc_info("cap@%#x DMA_AVAIL v%u next=%#x avail=%u", o, h->version, h->next, a->avail);
		} else {
			orc_info("cap@%#x id=%u v%u next=%#x", o, h->id, h->version, h->next);
		}
		o = h->next;
	}
}

static unsigned dma_avail(void)
{
	memset(ib, 0, sizeof(ib));
	struct vfio_iommu_type1_info *i = (void *)ib;
	i->argsz = sizeof(ib);
	if (ioctl(c, VFIO_IOMMU_GET_INFO, ib) < 0)
		return ~0u;
	for (unsigned o = i->cap_offset; o && o < sizeof(ib); o = ((struct vfio_info_cap_header *)(ib + o))->next)
		if (((struct vfio_info_cap_header *)(ib + o))->id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL)
			return ((struct vfio_iommu_type1_info_dma_avail *)(ib + o))->avail;
	return ~0u;
}

static long map(unsigned long long iova, unsigned long long size, unsigned long va, unsigned flags, unsigned argsz, const char *why)
{
	struct vfio_iommu_type1_dma_map m = { .argsz = argsz, .flags = flags, .vaddr = va, .iova = iova, .size = size };
	char vs[40];
	/* addresses near the buffer are printed relative to it: user addresses change from run to run */
	if (va + MB - (unsigned long)buf < 2 * MB)
		snprintf(vs, sizeof(vs), "buf%+ld", (long)off(va));
	else
		snprintf(vs, sizeof(vs), "%#lx", va);
	return ORC(ioctl(c, VFIO_IOMMU_MAP_DMA, &m), "MAP_DMA(iova=%#llx size=%#llx va=%s flags=%#x argsz=%u) %s", iova, size, vs,
		   flags, argsz, why);
}

static long unmap(unsigned long long iova, unsigned long long size, unsigned flags, unsigned argsz, const char *why)
{
	unsigned char u[64];
	memset(u, 0xaa, sizeof(u));
	struct vfio_iommu_type1_dma_unmap *p = (void *)u;
	p->argsz = argsz;
	p->flags = flags;
	p->iova = iova;
	p->size = size;
	ORC_CALL(ioctl(c, VFIO_IOMMU_UNMAP_DMA, u), "UNMAP_DMA(iova=%#llx size=%#llx flags=%#x argsz=%u) %s", iova, size, flags, argsz, why);
	orc_end("size=%#llx", (unsigned long long)p->size);
	orc_hexdump("unmap", u, 32);
	return orc_ret;
}

static void dirty(unsigned flags, unsigned argsz, const char *why)
{
	struct vfio_iommu_type1_dirty_bitmap d = { .argsz = argsz, .flags = flags };
	ORC(ioctl(c, VFIO_IOMMU_DIRTY_PAGES, &d), "DIRTY_PAGES(flags=%#x argsz=%u) %s", flags, argsz, why);
}

static uint64_t bm[8];
static void get_bitmap(unsigned long long iova, unsigned long long size, unsigned long long pgsize, unsigned long long bsize,
		       unsigned argsz, const char *why)
{
	struct {
		struct vfio_iommu_type1_dirty_bitmap d;
		struct vfio_iommu_type1_dirty_bitmap_get r;
	} q = { { .argsz = argsz, .flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP },
		{ .iova = iova, .size = size, .bitmap = { .pgsize = pgsize, .size = bsize, .data = (void *)bm } } };
	memset(bm, 0, sizeof(bm));
	ORC_CALL(ioctl(c, VFIO_IOMMU_DIRTY_PAGES, &q), "DIRTY_PAGES(GET_BITMAP iova=%#llx size=%#llx pgsize=%#llx bitmap.size=%llu argsz=%u) %s",
		 iova, size, pgsize, bsize, argsz, why);
	orc_end("bitmap=%016llx %016llx", (unsigned long long)bm[0], (unsigned long long)bm[1]);
}

static void unmap_bitmap(unsigned long long iova, unsigned long long size, unsigned long long pgsize, unsigned long long bsize,
			 unsigned argsz, const char *why)
{
	struct {
		struct vfio_iommu_type1_dma_unmap u;
		struct vfio_bitmap b;
	} q = { { .argsz = argsz, .flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, .iova = iova, .size = size },
		{ .pgsize = pgsize, .size = bsize, .data = (void *)bm } };
	memset(bm, 0, sizeof(bm));
	ORC_CALL(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &q), "UNMAP_DMA(GET_DIRTY_BITMAP iova=%#llx size=%#llx pgsize=%#llx bitmap.size=%llu argsz=%u) %s",
		 iova, size, pgsize, bsize, argsz, why);
	orc_end("size=%#llx bitmap=%016llx", (unsigned long long)q.u.size, (unsigned long long)bm[0]);
}

static void vmlck(const char *when)
{
	char b[4096];
	if (orc_read_file("/proc/self/status", b, sizeof(b)) < 0)
		return;
	char *l = strstr(b, "VmLck:");
	if (l) {
		l[strcspn(l, "\n")] = 0;
		for (char *t = l; *t; t++)
			if (*t == '\t')
				*t = ' ';
		orc_info("%s: %s", when, l);
	}
}

static void cap_ipc_lock(int on)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];
	syscall(SYS_capget, &h, d);
	if (on)
		d[0].effective |= 1u << CAP_IPC_LOCK;
	else
		d[0].effective &= ~(1u << CAP_IPC_LOCK);
	ORC(syscall(SYS_capset, &h, d), "capset(%s CAP_IPC_LOCK in effective set)", on ? "raise" : "drop");
}

static void setup(unsigned long type)
{
	c = ORC(open("/dev/vfio/vfio", O_RDWR), "open(/dev/vfio/vfio)");
	g = ORC(open(gpath, O_RDWR), "open(%s)", gpath);
	ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c), "GROUP_SET_CONTAINER");
	ORC(ioctl(c, VFIO_SET_IOMMU, type), "SET_IOMMU(%lu)", type);
}

static void teardown(void)
{
	ORC(close(g), "close(group)");
	ORC(close(c), "close(container)");
}

/* the MAP/UNMAP error matrix shared by both interface versions */
static void matrix(int v2)
{
	unsigned long b = (unsigned long)buf;
	unsigned long long I = 1ULL << 32;

	orc_step("%s: GET_INFO", v2 ? "TYPE1v2" : "TYPE1");
	info(0, 0);
	info(15, 0);
	info(16, 32);
	info(20, 32);
	info(24, 32);
	struct vfio_iommu_type1_info *i = (void *)ib;
	unsigned need = i->argsz;
	info(need - 1, need + 16);
	info(need, need + 16);
	info(need + 40, need + 48);
	ORC(ioctl(c, VFIO_IOMMU_GET_INFO, NULL), "GET_INFO(NULL)");
	caps();

	orc_step("%s: MAP_DMA errors", v2 ? "TYPE1v2" : "TYPE1");
	map(I, PS, b, 3, 31, "argsz 31");
	map(I, PS, b, 3, 0, "argsz 0");
	map(I, PS, b, 3 | 8, 32, "flag bit 3");
	map(I, PS, b, 0x80000000u | 3, 32, "flag bit 31");
	map(I, PS, b, 0, 32, "no READ/WRITE/VADDR");
	map(I, PS, b, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_VADDR, 32, "READ|VADDR");
	map(I, 0, b, 3, 32, "size 0");
	map(I + 0x800, PS, b, 3, 32, "iova not page aligned");
	map(I, PS + 0x800, b, 3, 32, "size not page aligned");
	map(I, PS, b + 0x800, 3, 32, "vaddr not page aligned");
	map(I, 0x200, b, 3, 32, "size 0x200");
	map(~0ULL & ~(PS - 1), 2 * PS, b, 3, 32, "iova+size-1 wraps");
	map(I, 2 * PS, ~0UL & ~(PS - 1), 3, 32, "vaddr+size-1 wraps");
	map(~0ULL & ~(PS - 1), PS, b, 3, 32, "iova at the top page (outside ranges)");
	map(1ULL << 48, PS, b, 3, 32, "iova 1<<48");
	map(0x8000000, PS, b, 3, 32, "iova in the MSI window 0x8000000");
	map(0x80ff000, 2 * PS, b, 3, 32, "iova straddling the end of the MSI window");
	map(0x7fff000, 2 * PS, b, 3, 32, "iova straddling the start of the MSI window");
	map(I, PS, 0x10000, 3, 32, "vaddr 0x10000 not mapped");
	map(I, PS, (unsigned long)ro, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE, 32, "read-only page with WRITE");
	map(I, 4 * PS, b + 126 * PS, 3, 32, "last 2 pages of the buffer and 2 unmapped pages");
	orc_kmsg();
	info(24, 0);

	orc_step("%s: MAP_DMA success and overlap", v2 ? "TYPE1v2" : "TYPE1");
	map(I, 4 * PS, b, 3, 32, "A = [I, I+4P)");
	map(I, 4 * PS, b, 3, 32, "same again");
	map(I + PS, PS, b, 3, 32, "inside A");
	map(I - PS, 2 * PS, b, 3, 32, "overlapping A's start");
	map(I + 3 * PS, 2 * PS, b, 3, 32, "overlapping A's end");
	map(I - PS, 6 * PS, b, 3, 32, "covering A");
	map(I + 4 * PS, 2 * PS, b + 4 * PS, VFIO_DMA_MAP_FLAG_READ, 32, "B = [I+4P, I+6P) READ only, adjacent");
	map(I + 8 * PS, PS, (unsigned long)ro, VFIO_DMA_MAP_FLAG_READ, 32, "C = read-only page READ");
	map(I + 9 * PS, PS, b + 9 * PS, VFIO_DMA_MAP_FLAG_WRITE, 32, "D = WRITE only");
	map(0, PS, b, 3, 32, "E = iova 0");
	map(0x8100000, PS, b, 3, 32, "F = first page after the MSI window");
	map(I + 16 * PS, PS, b + 16 * PS, 3, 64, "G = argsz 64");
	orc_info("dma_avail=%u", dma_avail());
	caps();

	orc_step("%s: UNMAP_DMA", v2 ? "TYPE1v2" : "TYPE1");
	unmap(I, 4 * PS, 0, 23, "argsz 23");
	unmap(I, 4 * PS, 8, 24, "flag bit 3");
	unmap(I, 4 * PS, VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP | VFIO_DMA_UNMAP_FLAG_ALL, 24, "DIRTY|ALL");
	unmap(I, 4 * PS, VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP | VFIO_DMA_UNMAP_FLAG_VADDR, 24, "DIRTY|VADDR");
	unmap(I, 4 * PS, VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, 24, "DIRTY argsz 24");
	unmap(I, 4 * PS, VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, 48, "DIRTY argsz 48, bitmap zero, not tracking");
	unmap(I + 0x800, PS, 0, 24, "iova not aligned");
	unmap(I, 0x800, 0, 24, "size not aligned");
	unmap(I, 0, 0, 24, "size 0");
	unmap(~0ULL & ~(PS - 1), 2 * PS, 0, 24, "iova+size-1 wraps");
	unmap(PS, PS, VFIO_DMA_UNMAP_FLAG_ALL, 24, "ALL with iova != 0");
	unmap(0, PS, VFIO_DMA_UNMAP_FLAG_ALL, 24, "ALL with size != 0");
	unmap(I + PS, PS, 0, 24, "inside A (bisects)");
	unmap(I + PS, 3 * PS, 0, 24, "A's tail");
	unmap(I, 2 * PS, 0, 24, "A's head");
	unmap(I + 0x100000, PS, 0, 24, "nothing mapped there");
	if (v2) {
		unmap(I, 6 * PS, 0, 24, "A and B together");
	} else {
		unmap(I + 4 * PS, 2 * PS, 0, 24, "B exactly");
	}
	unmap(I + 8 * PS, PS, 0, 32, "C, argsz 32");
	orc_info("dma_avail=%u", dma_avail());

	orc_step("%s: VADDR", v2 ? "TYPE1v2" : "TYPE1");
	map(I + 32 * PS, 2 * PS, b + 32 * PS, 3, 32, "H = [I+32P, I+34P)");
	map(I + 32 * PS, 2 * PS, b + 40 * PS, VFIO_DMA_MAP_FLAG_VADDR, 32, "VADDR on H while its vaddr is valid");
	map(I + 48 * PS, 2 * PS, b + 40 * PS, VFIO_DMA_MAP_FLAG_VADDR, 32, "VADDR where nothing is mapped");
	unmap(I + 32 * PS, 2 * PS, VFIO_DMA_UNMAP_FLAG_VADDR, 24, "VADDR invalidate H");
	unmap(I + 32 * PS, 2 * PS, VFIO_DMA_UNMAP_FLAG_VADDR, 24, "VADDR invalidate H again");
	map(I + 32 * PS, PS, b + 40 * PS, VFIO_DMA_MAP_FLAG_VADDR, 32, "VADDR on H with a smaller size");
	map(I + 32 * PS, 2 * PS, b + 40 * PS, VFIO_DMA_MAP_FLAG_VADDR | VFIO_DMA_MAP_FLAG_READ, 32, "VADDR|READ on H");
	map(I + 32 * PS, 2 * PS, b + 40 * PS, VFIO_DMA_MAP_FLAG_VADDR, 32, "VADDR on H: new vaddr");
	map(I + 32 * PS, 2 * PS, b + 40 * PS, VFIO_DMA_MAP_FLAG_VADDR, 32, "VADDR on H again");
	unmap(0, 0, VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR, 24, "ALL|VADDR");
	map(I + 64 * PS, PS, b, 3, 32, "plain MAP while vaddrs are invalid");
	unmap(0, 0, VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR, 24, "ALL|VADDR again (some already invalid)");
	orc_info("dma_avail=%u", dma_avail());

	orc_step("%s: UNMAP ALL", v2 ? "TYPE1v2" : "TYPE1");
	unmap(0, 0, VFIO_DMA_UNMAP_FLAG_ALL, 24, "ALL");
	unmap(0, 0, VFIO_DMA_UNMAP_FLAG_ALL, 24, "ALL on empty");
	orc_info("dma_avail=%u", dma_avail());
}

int main(void)
{
	char cur[128];
	orc_kmsg();
	if (orc_find_pci(0x1234, 0x11e8, bdf, sizeof(bdf))) {
		orc_info("no edu device: run with --qemu-extra \"-device edu\"");
		return 1;
	}
	snprintf(gpath, sizeof(gpath), "/dev/vfio/%d", orc_iommu_group("pci", bdf));
	/* the read-only page first, then 128 pages followed by a 2-page hole */
	ro = mmap(0, PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	buf = mmap(0, 130 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	munmap(buf + 128 * PS, 2 * PS);
	orc_modprobe("vfio_pci", "");
	orc_modprobe("vfio_iommu_type1", "");
	orc_bind("pci", bdf, "vfio-pci");
	(void)cur;
	orc_show_file("/sys/kernel/iommu_groups/1/reserved_regions");
	orc_show_file("/sys/kernel/iommu_groups/1/type");
	orc_kmsg();

	orc_step("TYPE1v2 container");
	setup(VFIO_TYPE1v2_IOMMU);
	orc_kmsg();
	matrix(1);
	unsigned long b = (unsigned long)buf;
	unsigned long long I = 1ULL << 32;
	orc_step("TYPE1v2: DIRTY_PAGES");
	dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START, 7, "argsz 7");
	dirty(0, 8, "no flag");
	dirty(8, 8, "flag bit 3");
	dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START | VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP, 8, "START|STOP");
	dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP, 8, "STOP while not tracking");
	get_bitmap(I, 4 * PS, PS, 8, 48, "while not tracking");
	map(I, 4 * PS, b, 3, 32, "A = [I, I+4P)");
	map(I + 4 * PS, 2 * PS, b + 4 * PS, 3, 32, "B = [I+4P, I+6P)");
	dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START, 8, "START");
	dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START, 8, "START again");
	dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP, 8, "GET_BITMAP argsz 8");
	get_bitmap(I, 4 * PS, PS, 8, 47, "argsz 47");
	get_bitmap(I, 4 * PS, PS, 8, 48, "A");
	get_bitmap(I, 6 * PS, PS, 8, 48, "A and B");
	get_bitmap(I, 2 * PS, PS, 8, 48, "bisects A");
	get_bitmap(I + PS, 3 * PS, PS, 8, 48, "A's tail");
	get_bitmap(I, 4 * PS, 2 * PS, 8, 48, "pgsize 8K");
	get_bitmap(I, 4 * PS, PS, 0, 48, "bitmap.size 0");
	get_bitmap(I, 4 * PS, 0, 8, 48, "pgsize 0");
	get_bitmap(I, 0, PS, 8, 48, "size 0");
	get_bitmap(I + 0x800, 4 * PS, PS, 8, 48, "iova not aligned");
	get_bitmap(I, 4 * PS + 0x800, PS, 8, 48, "size not aligned");
	get_bitmap(~0ULL & ~(PS - 1), 2 * PS, PS, 8, 48, "iova+size-1 wraps");
	get_bitmap(I + 0x100000, 4 * PS, PS, 8, 48, "nothing mapped there");
	map(I + 8 * PS, 2 * PS, b + 8 * PS, 3, 32, "C = [I+8P, I+10P) mapped while tracking");
	get_bitmap(I, 16 * PS, PS, 8, 48, "A, B and C");
	unmap(I, 4 * PS, VFIO_DMA_UNMAP_FLAG_ALL, 24, "ALL with size while tracking");
	unmap_bitmap(I, 4 * PS, PS, 8, 24, "argsz 24");
	unmap_bitmap(I, 4 * PS, PS, 8, 47, "argsz 47");
	unmap_bitmap(I, 4 * PS, 2 * PS, 8, 48, "pgsize 8K");
	unmap_bitmap(I, 4 * PS, PS, 0, 48, "bitmap.size 0");
	unmap_bitmap(I, 4 * PS, PS, 8, 48, "A");
	unmap(I + 4 * PS, 2 * PS, 0, 24, "B plain while tracking");
	dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP, 8, "STOP");
	dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP, 8, "STOP again");
	get_bitmap(I + 8 * PS, 2 * PS, PS, 8, 48, "C after STOP");
	unmap_bitmap(I + 8 * PS, 2 * PS, PS, 8, 48, "C after STOP");
	unmap(0, 0, VFIO_DMA_UNMAP_FLAG_ALL, 24, "ALL");
	orc_kmsg();

	orc_step("TYPE1v2: RLIMIT_MEMLOCK");
	struct rlimit rl;
	getrlimit(RLIMIT_MEMLOCK, &rl);
	orc_info("RLIMIT_MEMLOCK cur=%llu max=%llu", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
	struct rlimit small = { 16 * PS, rl.rlim_max };
	ORC(setrlimit(RLIMIT_MEMLOCK, &small), "setrlimit(RLIMIT_MEMLOCK, 64 KiB)");
	vmlck("before");
	map(I, 32 * PS, b, 3, 32, "128 KiB with CAP_IPC_LOCK");
	vmlck("after 128 KiB with CAP_IPC_LOCK");
	unmap(I, 32 * PS, 0, 24, "128 KiB");
	vmlck("after unmap");
	cap_ipc_lock(0);
	map(I, 8 * PS, b, 3, 32, "32 KiB without CAP_IPC_LOCK");
	vmlck("after 32 KiB");
	map(I + 8 * PS, 16 * PS, b + 8 * PS, 3, 32, "64 KiB more without CAP_IPC_LOCK");
	orc_kmsg();
	vmlck("after refused 64 KiB");
	map(I + 8 * PS, 8 * PS, b + 8 * PS, 3, 32, "32 KiB more (exactly at the limit)");
	map(I + 16 * PS, PS, b + 16 * PS, 3, 32, "one page over the limit");
	orc_kmsg();
	vmlck("at the limit");
	cap_ipc_lock(1);
	map(I + 16 * PS, PS, b + 16 * PS, 3, 32, "one page over the limit with CAP_IPC_LOCK again");
	vmlck("over the limit with CAP_IPC_LOCK");
	unmap(0, 0, VFIO_DMA_UNMAP_FLAG_ALL, 24, "ALL");
	vmlck("after ALL");
	ORC(setrlimit(RLIMIT_MEMLOCK, &rl), "setrlimit(RLIMIT_MEMLOCK, back)");
	teardown();
	orc_kmsg();

	orc_step("dma_entry_limit");
	orc_write_file("/sys/module/vfio_iommu_type1/parameters/dma_entry_limit", "2");
	orc_show_file("/sys/module/vfio_iommu_type1/parameters/dma_entry_limit");
	setup(VFIO_TYPE1v2_IOMMU);
	orc_info("dma_avail=%u", dma_avail());
	map(I, PS, b, 3, 32, "1st");
	map(I + PS, PS, b, 3, 32, "2nd");
	orc_info("dma_avail=%u", dma_avail());
	map(I + 2 * PS, PS, b, 3, 32, "3rd");
	map(I, PS, b, 3, 32, "1st again (overlap with limit reached)");
	map(1ULL << 50, PS, b, 3, 32, "3rd outside the ranges");
	orc_write_file("/sys/module/vfio_iommu_type1/parameters/dma_entry_limit", "65535");
	map(I + 2 * PS, PS, b, 3, 32, "3rd after raising the parameter (container keeps its count)");
	unmap(I, PS, 0, 24, "1st");
	orc_info("dma_avail=%u", dma_avail());
	map(I + 2 * PS, PS, b, 3, 32, "3rd after an unmap");
	unmap(0, 0, VFIO_DMA_UNMAP_FLAG_ALL, 24, "ALL");
	orc_info("dma_avail=%u", dma_avail());
	teardown();
	orc_write_file("/sys/module/vfio_iommu_type1/parameters/dma_entry_limit", "0");
	setup(VFIO_TYPE1v2_IOMMU);
	orc_info("dma_avail=%u", dma_avail());
	map(I, PS, b, 3, 32, "with dma_entry_limit 0");
	teardown();
	orc_write_file("/sys/module/vfio_iommu_type1/parameters/dma_entry_limit", "65535");
	orc_kmsg();

	orc_step("TYPE1 (v1) container");
	setup(VFIO_TYPE1_IOMMU);
	matrix(0);
	orc_step("TYPE1: v1 unmap semantics and DIRTY_PAGES");
	map(I, 4 * PS, b, 3, 32, "A = [I, I+4P)");
	map(I + 4 * PS, 4 * PS, b + 4 * PS, 3, 32, "B = [I+4P, I+8P)");
	unmap(I + PS, PS, 0, 24, "inside A");
	unmap(I + 2 * PS, 4 * PS, 0, 24, "A's tail and B's head");
	unmap(I - PS, 2 * PS, 0, 24, "covering A's first page");
	unmap(I + 4 * PS, PS, 0, 24, "B's first page");
	dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START, 8, "START on v1");
	dirty(0, 0, "argsz 0 on v1");
	orc_info("dma_avail=%u", dma_avail());
	teardown();
	orc_kmsg();

	orc_step("nesting type 6 (reserved) is refused");
	c = ORC(open("/dev/vfio/vfio", O_RDWR), "open(/dev/vfio/vfio)");
	g = ORC(open(gpath, O_RDWR), "open(%s)", gpath);
	ORC(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c), "GROUP_SET_CONTAINER");
	ORC(ioctl(c, VFIO_SET_IOMMU, 6), "SET_IOMMU(6)");
	ORC(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU), "SET_IOMMU(1)");
	info(24, 0);
	teardown();
	orc_kmsg();
	return 0;
}
