import { boards, Soc } from "@vfio-lab/hw-soc";
import {
  IOMMU_CACHE,
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuDomain,
  type IommuOps,
  Kernel,
} from "@vfio-lab/kernel";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  isIommufdNoiommuDomain,
  makeIommufdNoiommuOps,
  NOIOMMU_PGSIZE_BITMAP,
} from "./hwpt-noiommu.js";

const RW = IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE;
const SZ_4K = 4096;
const SZ_2M = 2 * 1024 * 1024;

let booted: Kernel | null = null;
/** One booted kernel is enough: the domains never touch the board. */
function kernel(): Kernel {
  booted ??= Kernel.boot(Soc.fromDeviceTree(boards.virtLab({ ramSize: 0x4000_0000 })));
  return booted;
}

function pl061(k: Kernel) {
  const dev = k.drivers.findDevice("amba", "9030000.pl061");
  if (!dev) throw new Error("no PL061");
  return dev;
}

/** A noiommu domain as iommufd_hwpt_paging_alloc() leaves it (owner set). */
function noiommuDomain(failAt: (site: string) => boolean = () => false): {
  ops: IommuOps;
  domain: IommuDomain;
} {
  const k = kernel();
  const ops = makeIommufdNoiommuOps(failAt);
  const domain = ops.domainAllocPagingFlags!(pl061(k), 0, null);
  domain.owner = ops;
  return { ops, domain };
}

describe("noiommu_alloc_paging_flags()", () => {
  it("makes a paging domain over the whole 64-bit space with the AMDv1 page sizes", () => {
    const { domain } = noiommuDomain();
    expect(domain.isPaging).toBe(true);
    expect(domain.geometry.apertureStart).toBe(0);
    expect(BigInt(domain.geometry.apertureEnd)).toBeGreaterThanOrEqual((1n << 64n) - 1n);
    expect(domain.geometry.forceAperture).toBe(true);
    // Every power of two from 4 KiB to 2^51 but 512 GiB.
    const sizes: number[] = [];
    for (let e = 0; e < 53; e++) if (Math.floor(NOIOMMU_PGSIZE_BITMAP / 2 ** e) % 2) sizes.push(e);
    expect(sizes).toEqual(
      [...Array.from({ length: 40 }, (_, i) => i + 12)].filter((e) => e !== 39),
    );
    expect(domain.pgsizeBitmap).toBe(NOIOMMU_PGSIZE_BITMAP);
  });

  it("is EOPNOTSUPP for any flag", () => {
    const ops = makeIommufdNoiommuOps(() => false);
    expect(() => ops.domainAllocPagingFlags!(pl061(kernel()), 1, null)).toThrowErrno("EOPNOTSUPP");
  });

  it("is EOPNOTSUPP for driver data", () => {
    const ops = makeIommufdNoiommuOps(() => false);
    const data = { type: 1, uptr: 0x1000, len: 8 };
    expect(() => ops.domainAllocPagingFlags!(pl061(kernel()), 0, data)).toThrowErrno("EOPNOTSUPP");
  });

  it("is ENOMEM when the domain or its top table cannot be allocated", () => {
    for (const site of ["kzalloc", "alloc_pages"]) {
      const ops = makeIommufdNoiommuOps((s) => s === site);
      expect(() => ops.domainAllocPagingFlags!(pl061(kernel()), 0, null)).toThrowErrno("ENOMEM");
    }
  });

  it("is recognised as a noiommu domain by its owner; an SMMU domain is not", () => {
    const { domain } = noiommuDomain();
    expect(isIommufdNoiommuDomain(domain)).toBe(true);
    const k = kernel();
    const xgmac = k.drivers.findDevice("platform", "c010000.ethernet")!;
    const smmuDomain = k.iommu.iommuPagingDomainAlloc(xgmac);
    expect(isIommufdNoiommuDomain(smmuDomain)).toBe(false);
    k.iommu.iommuDomainFree(smmuDomain);
  });
});

describe("the software AMDv1 table through the IOMMU core", () => {
  it("translates a mapped range, with the offset into the page, and 0 elsewhere", () => {
    const iommu = kernel().iommu;
    const { domain } = noiommuDomain();
    iommu.iommuMap(domain, 0x10_0000, 0x4567_8000, 3 * SZ_4K, RW);
    expect(iommu.iommuIovaToPhys(domain, 0x10_0000)).toBe(0x4567_8000);
    expect(iommu.iommuIovaToPhys(domain, 0x10_2abc)).toBe(0x4567_aabc);
    expect(iommu.iommuIovaToPhys(domain, 0x10_3000)).toBe(0);
    expect(iommu.iommuIovaToPhys(domain, 0xf_f000)).toBe(0);
  });

  it("maps an aligned 2 MiB run as one large page, unmapped only as a whole", () => {
    const iommu = kernel().iommu;
    const { domain } = noiommuDomain();
    iommu.iommuMap(domain, SZ_2M, 0x4020_0000, SZ_2M, RW);
    expect(iommu.iommuIovaToPhys(domain, SZ_2M + 0x1234)).toBe(0x4020_1234);
    // A request starting inside the leaf unmaps nothing.
    expect(iommu.iommuUnmap(domain, SZ_2M + SZ_4K, SZ_4K)).toBe(0);
    // A request covering only the leaf's start takes the whole leaf.
    expect(iommu.iommuUnmap(domain, SZ_2M, SZ_4K)).toBe(SZ_2M);
    expect(iommu.iommuIovaToPhys(domain, SZ_2M)).toBe(0);
  });

  it("stops an unmap at the first hole", () => {
    const iommu = kernel().iommu;
    const { domain } = noiommuDomain();
    iommu.iommuMap(domain, 0x1000, 0x4000_1000, SZ_4K, RW);
    iommu.iommuMap(domain, 0x3000, 0x4000_3000, SZ_4K, RW);
    expect(iommu.iommuUnmap(domain, 0x1000, 3 * SZ_4K)).toBe(SZ_4K);
    expect(iommu.iommuIovaToPhys(domain, 0x3000)).toBe(0x4000_3000);
  });

  it("is EADDRINUSE over a present leaf, and the core undoes what it had mapped", () => {
    const iommu = kernel().iommu;
    const { domain } = noiommuDomain();
    iommu.iommuMap(domain, 0x3000, 0x5000_0000, SZ_4K, RW);
    expect(() => iommu.iommuMap(domain, 0x1000, 0x4000_0000, 3 * SZ_4K, RW)).toThrowErrno(
      "EADDRINUSE",
    );
    expect(iommu.iommuIovaToPhys(domain, 0x1000)).toBe(0);
    expect(iommu.iommuIovaToPhys(domain, 0x3000)).toBe(0x5000_0000);
  });

  it("is EINVAL without IOMMU_READ or IOMMU_WRITE", () => {
    const { domain } = noiommuDomain();
    expect(() => kernel().iommu.iommuMap(domain, 0, 0x4000_0000, SZ_4K, IOMMU_CACHE)).toThrowErrno(
      "EINVAL",
    );
  });

  it("is ERANGE for an output address beyond 52 bits", () => {
    const { domain } = noiommuDomain();
    expect(() => kernel().iommu.iommuMap(domain, 0, 2 ** 52, SZ_4K, RW)).toThrowErrno("ERANGE");
  });

  it("is ENOMEM when a table level cannot be allocated, leaving nothing mapped", () => {
    let fail = false;
    const { domain } = noiommuDomain((s) => fail && s === "alloc_pages");
    fail = true;
    expect(() => kernel().iommu.iommuMap(domain, 0, 0x4000_0000, SZ_4K, RW)).toThrowErrno("ENOMEM");
    expect(kernel().iommu.iommuIovaToPhys(domain, 0)).toBe(0);
  });

  it("maps page-aligned IOVAs above 2^53 exactly", () => {
    const iommu = kernel().iommu;
    const { domain } = noiommuDomain();
    const high = 2 ** 63 + 2 ** 40;
    iommu.iommuMap(domain, high, 0x4000_0000, 2 * SZ_4K, RW);
    expect(iommu.iommuIovaToPhys(domain, high + SZ_4K)).toBe(0x4000_1000);
    expect(iommu.iommuIovaToPhys(domain, high - SZ_4K)).toBe(0);
    // The top page of the 64-bit space.
    iommu.iommuMap(domain, 2 ** 64 - SZ_4K, 0x4100_0000, SZ_4K, RW);
    expect(iommu.iommuIovaToPhys(domain, 2 ** 64 - SZ_4K)).toBe(0x4100_0000);
    expect(iommu.iommuUnmap(domain, 2 ** 64 - SZ_4K, SZ_4K)).toBe(SZ_4K);
  });

  it("keeps a physically contiguous run as one node however many pages it spans", () => {
    const iommu = kernel().iommu;
    const { domain } = noiommuDomain();
    for (let i = 0; i < 512; i++)
      iommu.iommuMap(domain, i * SZ_4K, 0x4000_0000 + i * SZ_4K, SZ_4K, RW);
    expect((domain as unknown as { table: { size: number } }).table.size).toBe(1);
    expect(iommu.iommuUnmap(domain, 0, 512 * SZ_4K)).toBe(512 * SZ_4K);
    expect((domain as unknown as { table: { size: number } }).table.size).toBe(0);
  });

  it("refuses a map inside a run that began before it, leaving the run whole", () => {
    // Found by the property below: the run [17, 18] and a map of page 18 alone.
    const iommu = kernel().iommu;
    const { domain } = noiommuDomain();
    iommu.iommuMap(domain, 17 * SZ_4K, 0x4000_0000, 2 * SZ_4K, RW);
    expect(() => iommu.iommuMap(domain, 18 * SZ_4K, 0x4000_1000, SZ_4K, RW)).toThrowErrno(
      "EADDRINUSE",
    );
    expect(iommu.iommuIovaToPhys(domain, 18 * SZ_4K)).toBe(0x4000_1000);
    expect(iommu.iommuUnmap(domain, 17 * SZ_4K, 2 * SZ_4K)).toBe(2 * SZ_4K);
  });

  it("agrees with a page-by-page reference for any sequence of maps and whole unmaps", () => {
    const iommu = kernel().iommu;
    const op = fc.record({
      map: fc.boolean(),
      page: fc.integer({ min: 0, max: 31 }),
      npages: fc.integer({ min: 1, max: 6 }),
      pfn: fc.integer({ min: 0x40000, max: 0x40100 }),
      pick: fc.nat(),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 25 }), (ops) => {
        const { domain } = noiommuDomain();
        const ref = new Map<number, number>();
        // What was mapped, as the IOAS unmaps it: whole mappings (leaves may be any size).
        const maps: { page: number; npages: number }[] = [];
        for (const o of ops) {
          if (o.map || maps.length === 0) {
            const free = Array.from({ length: o.npages }, (_, i) => !ref.has(o.page + i));
            let ok = true;
            try {
              iommu.iommuMap(domain, o.page * SZ_4K, o.pfn * SZ_4K, o.npages * SZ_4K, RW);
            } catch {
              ok = false;
            }
            expect(ok).toBe(free.every((f) => f));
            if (!ok) continue;
            for (let i = 0; i < o.npages; i++) ref.set(o.page + i, (o.pfn + i) * SZ_4K);
            maps.push({ page: o.page, npages: o.npages });
          } else {
            const [m] = maps.splice(o.pick % maps.length, 1);
            expect(iommu.iommuUnmap(domain, m!.page * SZ_4K, m!.npages * SZ_4K)).toBe(
              m!.npages * SZ_4K,
            );
            for (let i = 0; i < m!.npages; i++) ref.delete(m!.page + i);
          }
          for (let p = 0; p < 40; p++) {
            expect(iommu.iommuIovaToPhys(domain, p * SZ_4K + 8)).toBe(
              ref.has(p) ? ref.get(p)! + 8 : 0,
            );
          }
        }
      }),
      { numRuns: 60 },
    );
  });
});
