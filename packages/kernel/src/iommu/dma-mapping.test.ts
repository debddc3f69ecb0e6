import { boards } from "@vfio-lab/hw-soc";
import { describe, expect, it } from "vitest";
import { DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_TO_DEVICE } from "./dma-iommu.js";
import { dmaBitMask, type ScatterlistEntry } from "./dma-mapping.js";
import { dmaTestCopy, type IommuWorld, iommuWorld } from "./iommu-test-fixture.js";

const DMA_TEST0 = 0xc03_0000;

function page(w: IommuWorld): number {
  return w.allocator.allocPage({ kind: "kernel" }) * 4096;
}

function fwCfg(w: IommuWorld) {
  const dev = w.dev("9020000.fw-cfg");
  w.core.ofDmaConfigure(dev, dev.dtNode, true);
  return dev;
}

describe("DMA API without an IOMMU (dma-direct)", () => {
  it("gives the physical address as the DMA address", () => {
    const w = iommuWorld();
    const dev = fwCfg(w);
    expect(w.core.dma.useDmaIommu(dev)).toBe(false);
    expect(w.core.dma.devIsDmaCoherent(dev)).toBe(true);
    const pa = page(w) + 0x40;
    expect(w.core.dma.dmaMapSingle(dev, pa, 16, DMA_TO_DEVICE)).toBe(pa);
  });

  it("fails (ENOMEM) an address beyond the DMA mask, warning once", () => {
    const w = iommuWorld({ dts: boards.virtLab({ ramSize: 4 * 1024 ** 3 }) });
    const dev = fwCfg(w);
    const mark = w.log().length;
    expect(() => w.core.dma.dmaMapSingle(dev, 0x1_0000_0000, 4096, DMA_TO_DEVICE)).toThrowErrno(
      "ENOMEM",
    );
    expect(() => w.core.dma.dmaMapSingle(dev, 0x1_0000_0000, 4096, DMA_TO_DEVICE)).toThrowErrno(
      "ENOMEM",
    );
    expect(w.log().slice(mark)).toEqual([
      "platform 9020000.fw-cfg: DMA addr 0x0000000100000000+4096 overflow (mask ffffffff, bus limit 0).",
    ]);
    w.core.dma.dmaSetMask(dev, dmaBitMask(64));
    expect(w.core.dma.dmaMapSingle(dev, 0x1_0000_0000, 4096, DMA_TO_DEVICE)).toBe(0x1_0000_0000);
  });

  it("allocates coherent memory as contiguous zeroed pages at their physical address", () => {
    const w = iommuWorld();
    const dev = fwCfg(w);
    const used = w.allocator.usedPages;
    const buf = w.core.dma.dmaAllocCoherent(dev, 3 * 4096);
    expect(buf.pfns).toHaveLength(4);
    expect(buf.pfns.every((p, i) => p === buf.pfns[0]! + i)).toBe(true);
    expect(buf.dmaHandle).toBe(buf.pfns[0]! * 4096);
    expect(buf.read(0, 3 * 4096).every((b) => b === 0)).toBe(true);
    w.core.dma.dmaFreeCoherent(dev, buf);
    expect(w.allocator.usedPages).toBe(used);
  });

  it("refuses masks too small for RAM (EIO)", () => {
    const w = iommuWorld();
    const dev = fwCfg(w);
    expect(() => w.core.dma.dmaSetMask(dev, dmaBitMask(24))).toThrowErrno("EIO");
    expect(() => w.core.dma.dmaSetCoherentMask(dev, dmaBitMask(24))).toThrowErrno("EIO");
    expect(w.core.dma.dmaGetMask(dev)).toBe(dmaBitMask(32));
  });
});

describe("DMA API through the IOMMU (dma-iommu)", () => {
  it("maps top-down below the 32-bit default mask, keeping the offset in the page", () => {
    const w = iommuWorld();
    const dev = w.dev("c030000.dma-test");
    expect(w.core.dma.useDmaIommu(dev)).toBe(true);
    const pa = page(w);
    const a = w.core.dma.dmaMapSingle(dev, pa + 0x123, 0x10, DMA_BIDIRECTIONAL);
    expect(a).toBe(0xffff_f123);
    expect(w.core.iommuIovaToPhys(w.core.iommuGetDmaDomain(dev), a)).toBe(pa + 0x123);
    // A buffer crossing a page boundary takes two pages of IOVA, aligned to two pages.
    expect(w.core.dma.dmaMapSingle(dev, pa + 0xff0, 0x20, DMA_BIDIRECTIONAL)).toBe(0xffff_cff0);
  });

  it("hands an unmapped IOVA out again and unmaps it first", () => {
    const w = iommuWorld();
    const dev = w.dev("c030000.dma-test");
    const domain = w.core.iommuGetDmaDomain(dev);
    const a = w.core.dma.dmaMapSingle(dev, page(w), 4096, DMA_TO_DEVICE);
    w.core.dma.dmaUnmapSingle(dev, a, 4096, DMA_TO_DEVICE);
    expect(w.core.iommuIovaToPhys(domain, a)).toBe(0);
    const pb = page(w);
    expect(w.core.dma.dmaMapSingle(dev, pb, 4096, DMA_TO_DEVICE)).toBe(a);
    expect(w.core.iommuIovaToPhys(domain, a)).toBe(pb);
  });

  it("accepts any mask and allocates below it", () => {
    const w = iommuWorld();
    const dev = w.dev("c030000.dma-test");
    w.core.dma.dmaSetMask(dev, dmaBitMask(24));
    expect(w.core.dma.dmaMapSingle(dev, page(w), 4096, DMA_TO_DEVICE)).toBe(0xff_f000);
  });

  it("allocates coherent memory from separate pages mapped at one IOVA range", () => {
    const w = iommuWorld();
    const dev = w.dev("c030000.dma-test");
    const domain = w.core.iommuGetDmaDomain(dev);
    // The destination first: its mapping also builds the page tables both share.
    const dst = w.core.dma.dmaMapSingle(dev, page(w), 4096, DMA_FROM_DEVICE);
    const used = w.allocator.usedPages;
    const buf = w.core.dma.dmaAllocCoherent(dev, 3 * 4096);
    // Three pages round up to four, aligned to four, below the destination.
    expect(buf.dmaHandle).toBe(0xffff_8000);
    expect(buf.pfns).toHaveLength(3);
    buf.pfns.forEach((pfn, i) => {
      expect(w.core.iommuIovaToPhys(domain, buf.dmaHandle + i * 4096)).toBe(pfn * 4096);
    });
    // The device sees what the CPU wrote.
    buf.write(0x1ffe, new Uint8Array([0xaa, 0xbb, 0xcc, 0xdd]));
    expect(dmaTestCopy(w.soc, DMA_TEST0, buf.dmaHandle + 0x1ffe, dst, 4).ok).toBe(true);
    w.core.dma.dmaFreeCoherent(dev, buf);
    expect(w.core.iommuIovaToPhys(domain, buf.dmaHandle)).toBe(0);
    expect(w.allocator.usedPages).toBe(used);
  });

  it("maps a scatterlist into one IOVA range and unmaps it whole", () => {
    const w = iommuWorld();
    const dev = w.dev("c030000.dma-test");
    const domain = w.core.iommuGetDmaDomain(dev);
    const p0 = page(w);
    const p1 = page(w);
    const sg: ScatterlistEntry[] = [
      { phys: p0 + 0x100, length: 0x200 },
      { phys: p1, length: 0x1000 },
    ];
    expect(w.core.dma.dmaMapSg(dev, sg, DMA_TO_DEVICE)).toBe(2);
    expect(sg.map((s) => s.dmaAddress)).toEqual([0xffff_e100, 0xffff_f000]);
    expect(w.core.iommuIovaToPhys(domain, sg[1]!.dmaAddress!)).toBe(p1);
    w.core.dma.dmaUnmapSg(dev, sg, DMA_TO_DEVICE);
    expect(w.core.iommuIovaToPhys(domain, 0xffff_e100)).toBe(0);
    expect(sg[0]!.dmaAddress).toBeUndefined();
  });

  it("goes direct once the group is switched to the identity domain", () => {
    const w = iommuWorld({ cmdline: "iommu.passthrough=on" });
    const dev = w.dev("c030000.dma-test");
    expect(w.core.dma.useDmaIommu(dev)).toBe(false);
    const pa = page(w);
    expect(w.core.dma.dmaMapSingle(dev, pa, 4096, DMA_TO_DEVICE)).toBe(pa);
  });

  it("warns about a malformed iommu.passthrough and keeps the default", () => {
    const w = iommuWorld({ cmdline: "iommu.passthrough=maybe" });
    expect(w.log()[0]).toBe("Malformed early option 'iommu.passthrough'");
    expect(w.log()[1]).toBe("iommu: Default domain type: Translated");
  });
});
