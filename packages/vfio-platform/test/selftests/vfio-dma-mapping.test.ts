/**
 * tools/testing/selftests/vfio/vfio_dma_mapping_test.c, across the five IOMMU modes of
 * lib/iommu.c, with the board's DMA test engine (c030000.dma-test, behind the SMMU) on
 * vfio-platform in place of the PCI device on vfio-pci.
 *
 * Ported:
 * - vfio_dma_mapping_test.dma_map_unmap, variant `anonymous`: map one page at an IOVA from the
 *   allocator; the page tables the SMMU walks translate it to the buffer's frame (the selftest
 *   reads Intel's debugfs dump instead, and skips elsewhere); unmap returns the size; the
 *   translation is gone.
 * - variants `anonymous_hugetlb_2mb` / `anonymous_hugetlb_1gb`: ported as written, and they
 *   SKIP as the selftest does when the mmap(MAP_HUGETLB) fails — the model has no hugetlbfs
 *   pool (nr_hugepages is 0: ENOMEM), so they always skip.
 * - vfio_dma_map_limit_test.unmap_range / unmap_all / overflow (EOVERFLOW for MAP and UNMAP at
 *   `~0 & ~(page - 1)`, as 7.3's check_add_overflow() gives in every mode).
 *
 * Added: a fast-check property over any set of disjoint mappings (every page translates to its
 * frame, every unmap returns its size, nothing stays mapped or pinned).
 *
 * Not ported: the PTE/PMD/PUD level assertions (they read /sys/kernel/debug/iommu/intel, which
 * an SMMU has no equivalent of; the translation itself is checked instead).
 */

import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, test } from "vitest";
import {
  DMA_TEST,
  type DmaRegion,
  domainOf,
  IovaAllocator,
  iommuIovaRanges,
  iommuMap,
  iommuUnmap,
  iommuUnmapAll,
  MODE_ROWS,
  mmapAnon,
  modeSetup,
  modeTeardown,
  PAGE_SIZE,
  userPhys,
} from "./fixture.js";

/** include/uapi/asm-generic/mman-common.h and linux/mman.h */
const MAP_HUGETLB = 0x40000;
const MAP_HUGE_SHIFT = 26;
const MAP_HUGE_2MB = 21 << MAP_HUGE_SHIFT;
const MAP_HUGE_1GB = 30 << MAP_HUGE_SHIFT;
const SZ_2M = 2 * 1024 * 1024;
const SZ_1G = 1024 * 1024 * 1024;

/** FIXTURE_VARIANT(vfio_dma_mapping_test): size (0: a page) and the extra mmap flags. */
const MAPPING_VARIANTS = [
  { name: "anonymous", size: 0, mmapFlags: 0 },
  { name: "anonymous_hugetlb_2mb", size: SZ_2M, mmapFlags: MAP_HUGETLB | MAP_HUGE_2MB },
  { name: "anonymous_hugetlb_1gb", size: SZ_1G, mmapFlags: MAP_HUGETLB | MAP_HUGE_1GB },
] as const;

describe.each(MODE_ROWS)("vfio_dma_mapping_test.%s", (_name, mode) => {
  test.for(MAPPING_VARIANTS)("dma_map_unmap ($name)", (variant, ctx) => {
    const w = modeSetup(mode);
    const iovas = new IovaAllocator(iommuIovaRanges(w.iommu));
    const size = variant.size || PAGE_SIZE;
    let vaddr: number;
    try {
      vaddr = mmapAnon(w.p, size, variant.mmapFlags);
    } catch (e) {
      // "Skip the test if there aren't enough HugeTLB pages available."
      expect(variant.mmapFlags & MAP_HUGETLB).not.toBe(0);
      modeTeardown(w);
      ctx.skip(`mmap() failed: ${(e as Error).message} (the model has no hugetlbfs pool)`);
      return;
    }
    const region: DmaRegion = { vaddr, iova: iovas.alloc(BigInt(size)), size: BigInt(size) };

    iommuMap(w.iommu, region);

    // What the SMMU walks: the IOVA reaches the buffer's frame.
    const domain = domainOf(w.kernel, DMA_TEST);
    expect(w.kernel.iommu.iommuIovaToPhys(domain, Number(region.iova))).toBe(userPhys(w.p, vaddr));

    expect(iommuUnmap(w.iommu, region)).toBe(region.size);
    expect(w.kernel.iommu.iommuIovaToPhys(domain, Number(region.iova))).toBe(0);

    w.p.munmap(vaddr, size);
    modeTeardown(w);
  });
});

describe.each(MODE_ROWS)("dma mappings, any set (%s)", (_name, mode) => {
  /** Page runs of one 64-page buffer, each mapped into its own 16-page IOVA slot. */
  const runs = fc.uniqueArray(
    fc.record({
      slot: fc.integer({ min: 0, max: 31 }),
      page: fc.integer({ min: 0, max: 60 }),
      npages: fc.integer({ min: 1, max: 4 }),
    }),
    { selector: (r) => r.slot, minLength: 1, maxLength: 6 },
  );

  fcTest.prop([runs], { numRuns: 8 })(
    "every page of every mapping translates to its frame; unmapping leaves nothing",
    (rs) => {
      const w = modeSetup(mode);
      const buf = mmapAnon(w.p, 64 * PAGE_SIZE);
      w.p.poke(buf, new Uint8Array(64 * PAGE_SIZE).fill(1)); // every frame present
      const domain = domainOf(w.kernel, DMA_TEST);
      const regions = rs.map((r) => ({
        vaddr: buf + r.page * PAGE_SIZE,
        iova: 0x100_0000n + BigInt(r.slot * 16 * PAGE_SIZE),
        size: BigInt(r.npages * PAGE_SIZE),
      }));
      for (const region of regions) iommuMap(w.iommu, region);
      for (const region of regions) {
        for (let off = 0; off < Number(region.size); off += PAGE_SIZE) {
          expect(w.kernel.iommu.iommuIovaToPhys(domain, Number(region.iova) + off)).toBe(
            userPhys(w.p, region.vaddr + off),
          );
        }
      }
      for (const region of regions) expect(iommuUnmap(w.iommu, region)).toBe(region.size);
      for (const region of regions) {
        expect(w.kernel.iommu.iommuIovaToPhys(domain, Number(region.iova))).toBe(0);
      }
      modeTeardown(w);
    },
  );
});

describe.each(MODE_ROWS)("vfio_dma_map_limit_test.%s", (_name, mode) => {
  /** FIXTURE_SETUP(vfio_dma_map_limit_test): two pages of VA, one page mapped at the top. */
  function limitSetup() {
    const w = modeSetup(mode);
    const mmapSize = 2 * PAGE_SIZE;
    const vaddr = mmapAnon(w.p, mmapSize);
    const ranges = iommuIovaRanges(w.iommu);
    const lastIova = ranges[ranges.length - 1]!.last;
    // One page prior to the last IOVA.
    const region: DmaRegion = {
      vaddr,
      iova: lastIova & ~BigInt(PAGE_SIZE - 1),
      size: BigInt(PAGE_SIZE),
    };
    return { w, region, mmapSize };
  }

  function limitTeardown(s: ReturnType<typeof limitSetup>) {
    modeTeardown(s.w);
    s.w.p.munmap(s.region.vaddr, s.mmapSize);
  }

  test("unmap_range", () => {
    const s = limitSetup();
    iommuMap(s.w.iommu, s.region);
    expect(iommuUnmap(s.w.iommu, s.region)).toBe(s.region.size);
    limitTeardown(s);
  });

  test("unmap_all", () => {
    const s = limitSetup();
    iommuMap(s.w.iommu, s.region);
    expect(iommuUnmapAll(s.w.iommu)).toBe(s.region.size);
    limitTeardown(s);
  });

  test("overflow", () => {
    const s = limitSetup();
    const region: DmaRegion = {
      vaddr: s.region.vaddr,
      iova: 0xffff_ffff_ffff_ffffn & ~(s.region.size - 1n),
      size: BigInt(s.mmapSize),
    };
    expect(() => iommuMap(s.w.iommu, region)).toThrowErrno("EOVERFLOW");
    expect(() => iommuUnmap(s.w.iommu, region)).toThrowErrno("EOVERFLOW");
    limitTeardown(s);
  });
});
