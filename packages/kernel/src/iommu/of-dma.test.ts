import { describe, expect, it } from "vitest";
import { DMA_TO_DEVICE } from "./dma-iommu.js";
import { dmaBitMask } from "./dma-mapping.js";
import { iommuWorld } from "./iommu-test-fixture.js";

const DTS = `/dts-v1/;
/ {
	#address-cells = <0x2>;
	#size-cells = <0x2>;
	compatible = "vfio-lab,test";
	memory@40000000 {
		device_type = "memory";
		reg = <0x0 0x40000000 0x0 0x40000000>;
	};
	bus@10000000 {
		compatible = "simple-bus";
		#address-cells = <0x1>;
		#size-cells = <0x1>;
		ranges = <0x0 0x0 0x10000000 0x100000>;
		dma-ranges = <0x0 0x0 0x40000000 0x40000000>;
		dma-coherent;
		ranged@1000 {
			compatible = "vfio-lab,test";
			reg = <0x1000 0x100>;
		};
		noncoh@2000 {
			compatible = "vfio-lab,test";
			reg = <0x2000 0x100>;
			dma-noncoherent;
		};
	};
	plain@20000000 {
		compatible = "vfio-lab,test";
		reg = <0x0 0x20000000 0x0 0x1000>;
	};
	bad-bus@30000000 {
		compatible = "simple-bus";
		#address-cells = <0x1>;
		#size-cells = <0x1>;
		ranges = <0x0 0x0 0x30000000 0x10000>;
		dma-ranges = <0x0 0x0 0x0 0x1000>;
		inner-bus@0 {
			compatible = "simple-bus";
			#address-cells = <0x1>;
			#size-cells = <0x1>;
			ranges = <0x0 0x0 0x1000>;
			dma-ranges = <0x0 0x80000000 0x1000>;
			dev@0 {
				compatible = "vfio-lab,test";
				reg = <0x0 0x100>;
			};
		};
	};
};
`;

function world() {
  return iommuWorld({ dts: DTS, probeSmmu: false });
}

describe("of_dma_configure()", () => {
  it("limits the masks to dma-ranges and translates DMA addresses through it", () => {
    const w = world();
    const dev = w.dev("10001000.ranged");
    w.core.ofDmaConfigure(dev, dev.dtNode, true);
    const dd = w.core.dma.devDma(dev);
    expect(dd.dmaMask).toBe(dmaBitMask(30));
    expect(dd.coherentDmaMask).toBe(dmaBitMask(30));
    expect(dd.busDmaLimit).toBe(0x3fff_ffff);
    expect(dd.dmaRangeMap).toEqual([{ cpuStart: 0x4000_0000, dmaStart: 0, size: 0x4000_0000 }]);
    expect(w.core.dma.dmaMapSingle(dev, 0x4000_1000, 0x100, DMA_TO_DEVICE)).toBe(0x1000);
    // Nothing of a window holds it: a mapping error, warned once.
    expect(() => w.core.dma.dmaMapSingle(dev, 0x9000_0000, 0x100, DMA_TO_DEVICE)).toThrowErrno(
      "ENOMEM",
    );
    expect(w.log().at(-1)).toMatch(/^platform 10001000\.ranged: DMA addr .* overflow /);
  });

  it("takes coherency from the nearest dma-coherent or dma-noncoherent", () => {
    const w = world();
    const ranged = w.dev("10001000.ranged");
    const noncoh = w.dev("10002000.noncoh");
    const plain = w.dev("20000000.plain");
    for (const d of [ranged, noncoh, plain]) w.core.ofDmaConfigure(d, d.dtNode, true);
    expect(w.core.dma.devIsDmaCoherent(ranged)).toBe(true);
    expect(w.core.dma.devIsDmaCoherent(noncoh)).toBe(false);
    // arm64's dma_default_coherent is false.
    expect(w.core.dma.devIsDmaCoherent(plain)).toBe(false);
  });

  it("configures a device without dma-ranges with its default 32-bit masks", () => {
    const w = world();
    const dev = w.dev("20000000.plain");
    w.core.ofDmaConfigure(dev, dev.dtNode, true);
    const dd = w.core.dma.devDma(dev);
    expect(dd.dmaMask).toBe(dmaBitMask(32));
    expect(dd.dmaRangeMap).toBeNull();
    expect(w.core.dma.dmaMapSingle(dev, 0x4000_2000, 8, DMA_TO_DEVICE)).toBe(0x4000_2000);
  });

  it("ignores an untranslatable dma-ranges for a device that must do DMA", () => {
    const w = world();
    const dev = w.dev("30000000.dev");
    w.core.ofDmaConfigure(dev, dev.dtNode, true);
    expect(w.core.dma.devDma(dev).dmaRangeMap).toBeNull();
    expect(w.log().at(-1)).toBe(
      "translation of DMA address(0) to CPU address failed node(/bad-bus@30000000/inner-bus@0)",
    );
  });

  it("fails (EINVAL) an untranslatable dma-ranges when DMA is not forced", () => {
    const w = world();
    const dev = w.dev("30000000.dev");
    expect(() => w.core.ofDmaConfigure(dev, dev.dtNode, false)).toThrowErrno("EINVAL");
  });

  it("leaves a device that need not do DMA unconfigured when nothing says it can", () => {
    const w = world();
    const dev = w.dev("20000000.plain");
    w.core.ofDmaConfigure(dev, dev.dtNode, false);
    expect(w.core.dma.devDma(dev).coherent).toBe(false);
  });

  it("does not touch a range map set before", () => {
    const w = world();
    const dev = w.dev("10001000.ranged");
    w.core.ofDmaConfigure(dev, dev.dtNode, true);
    const map = w.core.dma.devDma(dev).dmaRangeMap;
    w.core.ofDmaConfigure(dev, dev.dtNode, true);
    expect(w.core.dma.devDma(dev).dmaRangeMap).toBe(map);
  });
});
