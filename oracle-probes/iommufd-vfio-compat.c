/* iommufd-vfio-compat.c - the VFIO type1 ioctls on an iommufd file without a domain (vfio_compat.c): argsz, flags, ENODEV, cut vs ENOENT, GET_INFO at every argsz. */
#include "oracle.h"
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

static int fd;
static char *buf;
#define PS 4096UL
#define IOVA (1UL << 24)

static void unmap(unsigned long iova, unsigned long size, unsigned flags, unsigned argsz)
{
	struct vfio_iommu_type1_dma_unmap u = { .argsz = argsz, .flags = flags, .iova = iova, .size = size };
	ORC_CALL(ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &u), "UNMAP_DMA(iova=%#lx size=%#lx flags=%#x argsz=%u)", iova, size, flags, argsz);
	orc_end("size=%#llx", (unsigned long long)u.size);
}
static void map(unsigned long iova, unsigned long size, unsigned long va, unsigned flags, unsigned argsz)
{
	struct vfio_iommu_type1_dma_map m = { .argsz = argsz, .flags = flags, .vaddr = va, .iova = iova, .size = size };
	ORC(ioctl(fd, VFIO_IOMMU_MAP_DMA, &m), "MAP_DMA(iova=%#lx size=%#lx flags=%#x argsz=%u)", iova, size, flags, argsz);
}
static unsigned char ib[4096];
static void info(unsigned argsz)
{
	memset(ib, 0xaa, sizeof(ib));
	struct vfio_iommu_type1_info *i = (void *)ib;
	i->argsz = argsz; i->flags = 0; i->iova_pgsizes = 0;
	if (argsz >= 24) { i->cap_offset = 0; i->pad = 0; }
	ORC_CALL(ioctl(fd, VFIO_IOMMU_GET_INFO, ib), "GET_INFO(argsz=%u)", argsz);
	orc_end("argsz=%u flags=%#x pgsizes=%#llx cap_offset=%#x", i->argsz, i->flags, (unsigned long long)i->iova_pgsizes, i->cap_offset);
	orc_hexdump("info", ib, 96);
}

int main(void)
{
	orc_modprobe("iommufd", "");
	fd = ORC(open("/dev/iommu", O_RDWR), "open /dev/iommu");
	buf = mmap(0, 64 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ORC(ioctl(fd, VFIO_GET_API_VERSION), "GET_API_VERSION");
	ORC(ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU), "CHECK NOIOMMU");
	ORC(ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_DMA_CC_IOMMU), "CHECK CC no ioas");
	ORC(ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU), "CHECK TYPE1");
	ORC(ioctl(fd, VFIO_CHECK_EXTENSION, 6), "CHECK 6");
	ORC(ioctl(fd, VFIO_IOMMU_DIRTY_PAGES, ib), "DIRTY_PAGES");
	ORC(ioctl(fd, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU), "SET NOIOMMU");
	ORC(ioctl(fd, VFIO_SET_IOMMU, 2), "SET SPAPR");
	ORC(ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU), "SET TYPE1 no ioas");
	ORC(ioctl(fd, VFIO_IOMMU_GET_INFO, 0), "GET_INFO NULL");
	info(15);
	info(24);
	unmap(IOVA, PS, 0, 24);
	unmap(IOVA, PS, 1, 24);
	map(IOVA, PS, (unsigned long)buf, 3, 31);
	map(IOVA, PS, (unsigned long)buf, 4, 32);
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	ORC(ioctl(fd, IOMMU_IOAS_ALLOC, &a), "IOAS_ALLOC");
	struct iommu_vfio_ioas v = { .size = sizeof(v), .op = IOMMU_VFIO_IOAS_SET, .ioas_id = a.out_ioas_id };
	ORC(ioctl(fd, IOMMU_VFIO_IOAS, &v), "VFIO_IOAS SET");
	ORC(ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_DMA_CC_IOMMU), "CHECK CC with ioas");
	for (unsigned s = 16; s <= 76; s += 4) info(s);
	ORC(ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU), "SET TYPE1");
	map(IOVA, 4 * PS, (unsigned long)buf, 3, 32);
	unmap(IOVA + 2 * PS, 0, 0, 24);  /* cut at IOVA+2PS-1, then EINVAL */
	unmap(IOVA, 2 * PS, 0, 24);      /* succeeds only if the cut stayed */
	unmap(IOVA + 3 * PS, PS, 0, 24);
	unmap(IOVA + 2 * PS, 2 * PS, 0, 24);
	map(0, 2 * PS, (unsigned long)buf, 3, 32);
	unmap(0, PS, 0, 24);
	unmap(0, 0, 2, 24);
	unmap(0, PS, 2, 24);
	unmap(0, 0, 2, 24);
	/* TYPE1v2 on a fresh IOAS */
	struct iommu_ioas_alloc a2 = { .size = sizeof(a2) };
	ORC(ioctl(fd, IOMMU_IOAS_ALLOC, &a2), "IOAS_ALLOC 2");
	v.ioas_id = a2.out_ioas_id;
	ORC(ioctl(fd, IOMMU_VFIO_IOAS, &v), "VFIO_IOAS SET 2");
	ORC(ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), "SET TYPE1v2");
	map(IOVA, PS, (unsigned long)buf, 3, 32);
	map(IOVA + PS, 2 * PS, (unsigned long)buf, 3, 32);
	unmap(IOVA + PS, PS, 0, 24);
	unmap(IOVA, 2 * PS, 0, 24);
	unmap(IOVA, 2 * PS, 0, 24);
	map(IOVA + 0x800, PS, (unsigned long)buf + 0x800, 3, 32);
	ORC(ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU), "SET TYPE1 misaligned");
	return 0;
}
