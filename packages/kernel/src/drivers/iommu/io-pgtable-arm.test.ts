import { fc, test } from "@fast-check/vitest";
import { decodeDescriptor, PhysicalMemory } from "@vfio-lab/hw-soc";
import { describe, expect, it } from "vitest";
import { IommuIotlbGather } from "../../iommu/domain.js";
import {
  IOMMU_CACHE,
  IOMMU_MMIO,
  IOMMU_NOEXEC,
  IOMMU_PRIV,
  IOMMU_READ,
  IOMMU_WRITE,
} from "../../iommu/iommu-defs.js";
import { PageAllocator } from "../../mm/page-allocator.js";
import { ArmLpaeS1Pgtable } from "./io-pgtable-arm.js";

const SZ_4K = 0x1000;
const SZ_2M = 0x20_0000;
const SZ_1G = 0x4000_0000;
const RW = IOMMU_READ | IOMMU_WRITE;

interface Flush {
  kind: string;
  iova?: number;
  size?: number;
}

function table(opts: { coherent?: boolean } = {}) {
  const memory = new PhysicalMemory();
  const allocator = new PageAllocator(memory, [{ base: 0x4000_0000, size: 64 * 1024 * 1024 }]);
  const flushes: Flush[] = [];
  const pt = new ArmLpaeS1Pgtable(
    {
      pgsizeBitmap: SZ_4K + SZ_2M + SZ_1G,
      ias: 48,
      oas: 48,
      coherentWalk: opts.coherent ?? true,
      tlb: {
        tlbFlushAll: () => flushes.push({ kind: "all" }),
        tlbFlushWalk: (iova, size) => flushes.push({ kind: "walk", iova, size }),
        tlbAddPage: (gather, iova, granule) => {
          flushes.push({ kind: "page", iova, size: granule });
          gather.pgsize = granule;
          gather.addRange(iova, granule);
        },
      },
    },
    allocator,
  );
  const map = (iova: number, pa: number, pgsize: number, count = 1, prot = RW) => {
    const mapped = { value: 0 };
    pt.mapPages(iova, pa, pgsize, count, prot, mapped);
    return mapped.value;
  };
  const leaf = (iova: number) => {
    const walk = pt.pgtableWalk(iova);
    const level = (walk.length - 1) as 0 | 1 | 2 | 3;
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, walk[walk.length - 1]!, true);
    return { level, d: decodeDescriptor(bytes, level) };
  };
  return { pt, memory, allocator, flushes, map, leaf };
}

describe("io-pgtable-arm stage 1, 4 KiB granule", () => {
  it("configures a 4-level, 48-bit walk with the kernel's TCR and MAIR", () => {
    const { pt } = table();
    expect(pt.startLevel).toBe(0);
    expect(pt.tcr).toEqual({ tsz: 16, tg: 0, irgn: 1, orgn: 1, sh: 3, ips: 5 });
    expect(pt.mair).toBe(0xf404ff44);
    expect(pt.ttbr % SZ_4K).toBe(0);
    expect(table({ coherent: false }).pt.tcr).toMatchObject({ irgn: 0, orgn: 0, sh: 2 });
  });

  it("writes a page descriptor with AF, nG, AP, shareability and attribute index", () => {
    const { map, leaf, pt } = table();
    expect(map(0x1000, 0x4200_0000, SZ_4K, 1, RW | IOMMU_CACHE)).toBe(SZ_4K);
    const { level, d } = leaf(0x1000);
    expect(level).toBe(3);
    expect(d).toMatchObject({
      kind: "page",
      OutputAddress: 0x4200_0000,
      AF: 1,
      nG: 1,
      AP: 0b01,
      SH: 3,
      AttrIndx: 1,
      XN: 0,
    });
    expect(pt.iovaToPhys(0x1abc)).toBe(0x4200_0abc);
  });

  it("maps read-only, privileged, device and no-exec as the kernel encodes them", () => {
    const { map, leaf } = table();
    map(0x1000, 0x5000, SZ_4K, 1, IOMMU_READ);
    map(0x2000, 0x6000, SZ_4K, 1, RW | IOMMU_PRIV);
    map(0x3000, 0x7000, SZ_4K, 1, IOMMU_WRITE | IOMMU_MMIO | IOMMU_NOEXEC);
    expect(leaf(0x1000).d).toMatchObject({ AP: 0b11, SH: 2, AttrIndx: 0 });
    expect(leaf(0x2000).d).toMatchObject({ AP: 0b00 });
    expect(leaf(0x3000).d).toMatchObject({ AP: 0b01, AttrIndx: 2, PXN: 1, XN: 1 });
  });

  it("uses 2 MiB and 1 GiB blocks at levels 2 and 1", () => {
    const { map, leaf, pt } = table();
    map(SZ_1G, 0x4000_0000, SZ_1G);
    map(2 * SZ_1G, 0x4020_0000, SZ_2M, 3);
    expect(leaf(SZ_1G + 0x1234).level).toBe(1);
    expect(leaf(SZ_1G).d.kind).toBe("block");
    expect(leaf(2 * SZ_1G + SZ_2M).level).toBe(2);
    expect(pt.iovaToPhys(SZ_1G + 0x12_3456)).toBe(0x4012_3456);
    expect(pt.iovaToPhys(2 * SZ_1G + 2 * SZ_2M + 5)).toBe(0x4060_0005);
  });

  it("maps no further than the end of the table holding the first entry", () => {
    const { map } = table();
    // Index 510 of a level-3 table: only two entries are left in it.
    expect(map(510 * SZ_4K, 0x4000_0000, SZ_4K, 8)).toBe(2 * SZ_4K);
  });

  it("refuses to map over a leaf (EEXIST) and leaves it alone", () => {
    const { map, pt } = table();
    map(0x1000, 0x5000, SZ_4K);
    expect(() => map(0x1000, 0x9000, SZ_4K)).toThrowErrno("EEXIST");
    map(SZ_2M * 4, 0x4000_0000, SZ_2M);
    expect(() => map(SZ_2M * 4 + SZ_4K, 0x9000, SZ_4K)).toThrowErrno("EEXIST");
    expect(pt.iovaToPhys(0x1000)).toBe(0x5000);
  });

  it("refuses addresses beyond 48 bits (ERANGE), no access and odd sizes (EINVAL)", () => {
    const { map } = table();
    expect(() => map(2 ** 48, 0x1000, SZ_4K)).toThrowErrno("ERANGE");
    expect(() => map(0x1000, 2 ** 48, SZ_4K)).toThrowErrno("ERANGE");
    expect(() => map(0x1000, 0x1000, SZ_4K, 1, IOMMU_CACHE)).toThrowErrno("EINVAL");
    expect(() => map(0x1000, 0x1000, 0x2000)).toThrowErrno("EINVAL");
    expect(() => map(0x1000, 0x1000, 0x10000)).toThrowErrno("EINVAL");
  });

  it("gathers leaf invalidations on unmap, and none for a flush queue", () => {
    const { map, pt, flushes } = table();
    map(0x10_0000, 0x4000_0000, SZ_4K, 4);
    const gather = new IommuIotlbGather();
    expect(pt.unmapPages(0x10_0000, SZ_4K, 2, gather)).toBe(2 * SZ_4K);
    expect(flushes.map((f) => f.iova)).toEqual([0x10_0000, 0x10_1000]);
    const queued = new IommuIotlbGather();
    queued.queued = true;
    expect(pt.unmapPages(0x10_2000, SZ_4K, 2, queued)).toBe(2 * SZ_4K);
    expect(flushes).toHaveLength(2);
    expect(pt.iovaToPhys(0x10_3000)).toBe(0);
  });

  it("unmaps nothing over a hole or a part of a block", () => {
    const { map, pt } = table();
    expect(pt.unmapPages(0x5000, SZ_4K, 1, null)).toBe(0);
    map(0, 0x4000_0000, SZ_2M);
    expect(pt.unmapPages(0x1000, SZ_4K, 1, null)).toBe(0);
    expect(pt.iovaToPhys(0x1000)).toBe(0x4000_1000);
    expect(pt.unmapPages(0, SZ_2M, 1, null)).toBe(SZ_2M);
  });

  it("replaces an empty table with a block, flushing the walk and freeing the table", () => {
    const { map, pt, flushes, allocator } = table();
    map(SZ_2M, 0x4000_0000, SZ_4K);
    pt.unmapPages(SZ_2M, SZ_4K, 1, null);
    const used = allocator.usedPages;
    map(SZ_2M, 0x4040_0000, SZ_2M);
    expect(allocator.usedPages).toBe(used - 1);
    expect(flushes).toContainEqual({ kind: "walk", iova: SZ_2M, size: SZ_2M });
    expect(pt.iovaToPhys(SZ_2M + 8)).toBe(0x4040_0008);
  });

  it("frees every table page and flushes everything when freed", () => {
    const { map, pt, allocator, flushes } = table();
    const before = allocator.usedPages;
    map(0x1000, 0x5000, SZ_4K);
    map(SZ_1G * 3, 0x4000_0000, SZ_2M);
    map(2 ** 47, 0x4000_0000, SZ_4K);
    expect(allocator.usedPages).toBeGreaterThan(before);
    pt.free();
    expect(allocator.usedPages).toBe(before - 1);
    expect(flushes.at(-1)).toEqual({ kind: "all" });
  });

  test.prop([
    fc.uniqueArray(fc.integer({ min: 0, max: 4095 }), { minLength: 1, maxLength: 40 }),
    fc.integer({ min: 0, max: 2 ** 20 }),
  ])(
    "iova_to_phys agrees with every page mapped, and with nothing once unmapped",
    (pages, base) => {
      const { map, pt } = table();
      const iova = (p: number) => (base + p * 37) * SZ_4K;
      const pa = (p: number) => 0x4000_0000 + p * SZ_4K;
      for (const p of pages) map(iova(p), pa(p), SZ_4K);
      for (const p of pages) expect(pt.iovaToPhys(iova(p) + 0x10)).toBe(pa(p) + 0x10);
      for (const p of pages) expect(pt.unmapPages(iova(p), SZ_4K, 1, null)).toBe(SZ_4K);
      for (const p of pages) expect(pt.iovaToPhys(iova(p))).toBe(0);
    },
  );
});
