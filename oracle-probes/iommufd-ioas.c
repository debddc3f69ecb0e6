/* iommufd-ioas.c - /dev/iommu without a device: the dispatcher's size protocol, IOAS ids,
 * IOVA_RANGES, ALLOW_IOVAS, automatic IOVA choice, MAP/COPY/UNMAP errors, OPTION, VFIO_IOAS,
 * MAP_FILE, CHANGE_PROCESS and NOIOMMU_GET_PA without a no-IOMMU domain. */
#include "oracle.h"
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/iommufd.h>

#define PS 4096UL
#define VA ((void *)0x10000000UL)
static int fd;
static unsigned char arg[4096];

static long raw(unsigned long req, const char *what)
{
	return ORC(ioctl(fd, req, arg), "%s", what);
}

static unsigned long long map(unsigned ioas, unsigned flags, unsigned long va, unsigned long len, unsigned long long iova, unsigned rsv)
{
	struct iommu_ioas_map m = { .size = sizeof(m), .flags = flags, .ioas_id = ioas, .__reserved = rsv,
				    .user_va = va, .length = len, .iova = iova };
	ORC_CALL(ioctl(fd, IOMMU_IOAS_MAP, &m), "MAP(ioas=%u flags=%#x va=%#lx len=%#lx iova=%#llx rsv=%u)", ioas, flags, va, len, iova, rsv);
	orc_end("iova=%#llx", (unsigned long long)m.iova);
	return m.iova;
}
static void unmap(unsigned ioas, unsigned long long iova, unsigned long long len)
{
	struct iommu_ioas_unmap u = { .size = sizeof(u), .ioas_id = ioas, .iova = iova, .length = len };
	ORC_CALL(ioctl(fd, IOMMU_IOAS_UNMAP, &u), "UNMAP(ioas=%u iova=%#llx len=%#llx)", ioas, iova, len);
	orc_end("length=%#llx", (unsigned long long)u.length);
}
static void copy(unsigned dst, unsigned src, unsigned flags, unsigned long long len, unsigned long long dst_iova, unsigned long long src_iova)
{
	struct iommu_ioas_copy c = { .size = sizeof(c), .flags = flags, .dst_ioas_id = dst, .src_ioas_id = src,
				     .length = len, .dst_iova = dst_iova, .src_iova = src_iova };
	ORC_CALL(ioctl(fd, IOMMU_IOAS_COPY, &c), "COPY(dst=%u src=%u flags=%#x len=%#llx dst_iova=%#llx src_iova=%#llx)", dst, src, flags, len, dst_iova, src_iova);
	orc_end("dst_iova=%#llx", (unsigned long long)c.dst_iova);
}
static void ranges(unsigned ioas, unsigned num)
{
	struct iommu_iova_range r[4];
	memset(r, 0xaa, sizeof(r));
	struct iommu_ioas_iova_ranges q = { .size = sizeof(q), .ioas_id = ioas, .num_iovas = num, .allowed_iovas = (uintptr_t)r };
	ORC_CALL(ioctl(fd, IOMMU_IOAS_IOVA_RANGES, &q), "IOVA_RANGES(ioas=%u num=%u)", ioas, num);
	orc_end("num=%u align=%#llx r0=[%#llx,%#llx] r1=[%#llx,%#llx]", q.num_iovas, (unsigned long long)q.out_iova_alignment,
		(unsigned long long)r[0].start, (unsigned long long)r[0].last, (unsigned long long)r[1].start, (unsigned long long)r[1].last);
}
static void allow(unsigned ioas, unsigned num, unsigned long long a0, unsigned long long l0, unsigned long long a1, unsigned long long l1)
{
	struct iommu_iova_range r[2] = { { a0, l0 }, { a1, l1 } };
	struct iommu_ioas_allow_iovas q = { .size = sizeof(q), .ioas_id = ioas, .num_iovas = num, .allowed_iovas = (uintptr_t)r };
	ORC(ioctl(fd, IOMMU_IOAS_ALLOW_IOVAS, &q), "ALLOW_IOVAS(ioas=%u num=%u [%#llx,%#llx] [%#llx,%#llx])", ioas, num, a0, l0, a1, l1);
}
static void option(unsigned id, unsigned op, unsigned obj, unsigned long long val)
{
	struct iommu_option o = { .size = sizeof(o), .option_id = id, .op = op, .object_id = obj, .val64 = val };
	ORC_CALL(ioctl(fd, IOMMU_OPTION, &o), "OPTION(id=%u op=%u obj=%u val=%llu)", id, op, obj, val);
	orc_end("val64=%llu", (unsigned long long)o.val64);
}
static unsigned ioas_alloc(unsigned flags)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a), .flags = flags };
	ORC_CALL(ioctl(fd, IOMMU_IOAS_ALLOC, &a), "IOAS_ALLOC(flags=%#x)", flags);
	orc_end("id=%u", a.out_ioas_id);
	return a.out_ioas_id;
}
static void destroy(unsigned id)
{
	struct iommu_destroy d = { .size = sizeof(d), .id = id };
	ORC(ioctl(fd, IOMMU_DESTROY, &d), "DESTROY(%u)", id);
}
/* TEST_LENGTH: size min-1, sizeof+8 with a non-zero tail, and with a zero tail. */
static void length(unsigned long req, const char *name, unsigned min, unsigned sz)
{
	memset(arg, 0, sizeof(arg));
	*(unsigned *)arg = min - 1;
	raw(req, name);
	memset(arg, 0, sizeof(arg));
	*(unsigned *)arg = sz + 8;
	arg[sz + 7] = 0xaa;
	raw(req, name);
	arg[sz + 7] = 0;
	raw(req, name);
}

int main(void)
{
	orc_modprobe("iommufd", "");
	fd = ORC(open("/dev/iommu", O_RDWR), "open /dev/iommu");
	char *buf = mmap(VA, 64 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	orc_info("buf=%p", buf);
	ORC(ioctl(fd, IOMMU_DESTROY, NULL), "DESTROY(NULL)");
	ORC(ioctl(fd, _IO(IOMMUFD_TYPE, 0x7f), arg), "ioctl nr 0x7f");
	ORC(ioctl(fd, _IOR(IOMMUFD_TYPE, 0x80, 8), arg), "ioctl _IOR nr 0x80");
	destroy(0);
	length(IOMMU_DESTROY, "len DESTROY", 8, 8);
	length(IOMMU_IOAS_ALLOC, "len IOAS_ALLOC", 12, 12);
	length(IOMMU_IOAS_IOVA_RANGES, "len IOVA_RANGES", 32, 32);
	length(IOMMU_IOAS_ALLOW_IOVAS, "len ALLOW_IOVAS", 24, 24);
	length(IOMMU_IOAS_MAP, "len MAP", 40, 40);
	length(IOMMU_IOAS_COPY, "len COPY", 40, 40);
	length(IOMMU_IOAS_UNMAP, "len UNMAP", 24, 24);
	length(IOMMU_OPTION, "len OPTION", 24, 24);
	length(IOMMU_VFIO_IOAS, "len VFIO_IOAS", 12, 12);
	length(IOMMU_HWPT_ALLOC, "len HWPT_ALLOC", 24, 48);
	length(IOMMU_GET_HW_INFO, "len GET_HW_INFO", 32, 40);
	length(IOMMU_IOAS_MAP_FILE, "len MAP_FILE", 40, 40);
	length(IOMMU_IOAS_CHANGE_PROCESS, "len CHANGE_PROCESS", 8, 8);
	length(IOMMU_IOAS_NOIOMMU_GET_PA, "len NOIOMMU_GET_PA", 40, 40);
	ioas_alloc(1);
	unsigned a = ioas_alloc(0), b = ioas_alloc(0);
	ranges(a, 0);
	ranges(a, 2);
	allow(a, 1, 0x100000, 0x100000, 0, 0);
	allow(a, 2, 0x100000, 0x1fffff, 0x180000, 0x2fffff);
	allow(a, 2, 0x1000000, 0x1ffffff, 0x4000000, 0x7ffffff);
	ranges(a, 2);
	unsigned long long i1 = map(a, 6, (unsigned long)buf, 16 * PS, 0, 0);
	unsigned long long i2 = map(a, 6, (unsigned long)buf + PS, 3 * PS, 0, 0);
	map(a, 6, (unsigned long)buf + 0x80, 0x100, 0, 0);
	allow(a, 0, 0, 0, 0, 0);
	map(a, 6, (unsigned long)buf, 16 * PS, 0, 0);
	map(a, 7, (unsigned long)buf, PS, i1 + PS, 0);
	map(a, 7, (unsigned long)buf, PS, 0xffffffffffffffffULL, 0);
	map(a, 7, (unsigned long)buf, 0, 0x40000000, 0);
	map(a, 1, (unsigned long)buf, PS, 0x40000000, 0);
	map(a, 7, (unsigned long)buf, PS, 0x40000000, 1);
	map(a, 0x17, (unsigned long)buf, PS, 0x40000000, 0);
	map(99, 7, (unsigned long)buf, PS, 0x40000000, 0);
	map(a, 7, 0x7000000000UL, 2 * PS, 0x50000000, 0); /* unmapped VA: lazy without a domain */
	copy(b, a, 6, 2 * PS, 0, i1 + PS);
	copy(b, a, 6, 2 * PS, 0, i2 + 2 * PS);
	copy(b, a, 7, 2 * PS, 0x9000000, 0x70000000);
	copy(b, a, 0, 2 * PS, 0x9000000, i1);
	unmap(a, i1 + PS, PS);
	unmap(a, i1, 8 * PS);
	unmap(a, 0x60000000, PS);
	unmap(a, i2, 3 * PS);
	unmap(a, 0, 0xffffffffffffffffULL);
	unmap(a, 0, 0xffffffffffffffffULL);
	unmap(a, 0, 0);
	unmap(77, 0, PS);
	option(0, 1, 0, 0);
	option(0, 0, 0, 1);
	option(0, 0, 0, 2);
	option(0, 1, 0, 0);
	option(0, 1, a, 0);
	option(1, 1, 0, 0);
	option(1, 1, a, 0);
	option(1, 0, a, 0);
	option(1, 1, a, 0);
	option(1, 0, a, 2);
	option(2, 1, a, 0);
	{
		struct iommu_vfio_ioas v = { .size = sizeof(v), .op = IOMMU_VFIO_IOAS_GET };
		ORC_CALL(ioctl(fd, IOMMU_VFIO_IOAS, &v), "VFIO_IOAS GET"); orc_end("id=%u", v.ioas_id);
		v.op = IOMMU_VFIO_IOAS_SET; v.ioas_id = 55;
		ORC(ioctl(fd, IOMMU_VFIO_IOAS, &v), "VFIO_IOAS SET 55");
		v.ioas_id = b;
		ORC(ioctl(fd, IOMMU_VFIO_IOAS, &v), "VFIO_IOAS SET b");
		v.op = IOMMU_VFIO_IOAS_GET; v.ioas_id = 0;
		ORC_CALL(ioctl(fd, IOMMU_VFIO_IOAS, &v), "VFIO_IOAS GET"); orc_end("id=%u", v.ioas_id);
		v.op = 3;
		ORC(ioctl(fd, IOMMU_VFIO_IOAS, &v), "VFIO_IOAS op 3");
	}
	{
		int mfd = ORC(memfd_create("ram", 0), "memfd_create");
		ORC(ftruncate(mfd, 8 * PS), "ftruncate");
		struct iommu_ioas_map_file m = { .size = sizeof(m), .flags = 6, .ioas_id = a, .fd = mfd, .start = PS, .length = 4 * PS };
		ORC_CALL(ioctl(fd, IOMMU_IOAS_MAP_FILE, &m), "MAP_FILE(start=PS len=4PS)"); orc_end("iova=%#llx", (unsigned long long)m.iova);
		m.start = 6 * PS; m.length = 4 * PS;
		ORC(ioctl(fd, IOMMU_IOAS_MAP_FILE, &m), "MAP_FILE beyond EOF");
		m.fd = 1000;
		ORC(ioctl(fd, IOMMU_IOAS_MAP_FILE, &m), "MAP_FILE bad fd");
		m.fd = fd; m.start = 0; m.length = PS;
		ORC(ioctl(fd, IOMMU_IOAS_MAP_FILE, &m), "MAP_FILE of the iommufd");
		struct iommu_ioas_change_process cp = { .size = sizeof(cp) };
		ORC(ioctl(fd, IOMMU_IOAS_CHANGE_PROCESS, &cp), "CHANGE_PROCESS (file map only)");
		map(b, 6, (unsigned long)buf, PS, 0, 0);
		ORC(ioctl(fd, IOMMU_IOAS_CHANGE_PROCESS, &cp), "CHANGE_PROCESS (with a VA map)");
	}
	{
		struct iommu_ioas_noiommu_get_pa g = { .size = sizeof(g), .ioas_id = b, .iova = 0x9000000, .length = PS };
		ORC(ioctl(fd, IOMMU_IOAS_NOIOMMU_GET_PA, &g), "NOIOMMU_GET_PA no domain");
		g.iova = 0x123;
		ORC(ioctl(fd, IOMMU_IOAS_NOIOMMU_GET_PA, &g), "NOIOMMU_GET_PA unmapped");
	}
	destroy(a);
	destroy(a);
	ioas_alloc(0);
	return 0;
}
