import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { virtLab, virtLabMap } from "./boards/virt-lab.js";
import { DmaTestEngine } from "./devices/dma-test.js";
import { GicV3 } from "./devices/gic-v3.js";
import { Pl061 } from "./devices/pl061.js";
import { Pl330 } from "./devices/pl330.js";
import { SmmuV3 } from "./devices/smmu-v3.js";
import { UnimplementedDevice } from "./devices/unimplemented.js";
import { DtsSyntaxError } from "./devicetree/dts-parser.js";
import { decodeFdt } from "./devicetree/fdt.js";
import { Soc } from "./soc.js";

const qemuDtb = new Uint8Array(
  readFileSync(new URL("../test/fixtures/qemu-virt-smmuv3-gicv3.dtb", import.meta.url)),
);

/** What a device looks like from the outside: enough to compare two boards. */
function summary(soc: Soc) {
  return new Map(
    soc.devices.map((d) => [
      d.name,
      {
        compatible: d.compatible.join(","),
        windows: d.windows.map((w) => `${w.base.toString(16)}+${w.size.toString(16)}`).join(" "),
        irqs: soc.irqRoutes
          .filter((r) => r.device === d.name)
          .map((r) => `${r.intid}/${r.flags}`)
          .join(" "),
        model: d.constructor.name,
      },
    ]),
  );
}

describe("Soc.fromDeviceTree", () => {
  it("boots QEMU's own virt DTB: RAM, GIC, SMMU, PrimeCells, virtio-mmio and the unmodelled rest", () => {
    const soc = Soc.fromDeviceTree(qemuDtb);
    expect(soc.ram).toEqual([{ base: 0x4000_0000, size: 0x4000_0000 }]);
    expect(soc.device("intc@8000000")).toBeInstanceOf(GicV3);
    expect(soc.device("smmuv3@9050000")).toBeInstanceOf(SmmuV3);
    expect(soc.device("pl061@9030000")).toBeInstanceOf(Pl061);
    expect(soc.devicesOf(UnimplementedDevice).map((d) => d.name)).toEqual([
      "pcie@10000000",
      "its@8080000",
      "flash@0",
    ]);
    expect(soc.devices.filter((d) => d.compatible[0] === "virtio,mmio")).toHaveLength(32);
    expect(soc.warnings).toEqual([]);
  });

  it("gives virtLab() the same devices, names, windows and interrupts as QEMU for every node they share", () => {
    const qemu = summary(Soc.fromDeviceTree(qemuDtb));
    const lab = summary(Soc.fromDeviceTree(virtLab()));
    for (const [name, q] of qemu) expect(lab.get(name), name).toEqual(q);
    expect([...lab.keys()].filter((n) => !qemu.has(n))).toEqual([
      "dma@0",
      "ethernet@10000",
      "timer@20000",
      "dma-test@30000",
      "dma-test@31000",
    ]);
  });

  it("places the additions in the platform-bus window behind the SMMU, as the board map says", () => {
    const soc = Soc.fromDeviceTree(virtLab());
    const pl330 = soc.deviceOf(Pl330, virtLabMap.pl330.node);
    expect(pl330.windows).toEqual([{ base: virtLabMap.pl330.base, size: 0x1000 }]);
    expect(pl330.dma?.iommu).toBe(soc.device(virtLabMap.smmu.node));
    expect(pl330.dma?.streamId).toBe(0x10);
    expect(soc.irqRoutes.filter((r) => r.device === "dma@0").map((r) => r.intid)).toEqual(
      Array.from({ length: 9 }, (_, i) => 32 + 112 + i),
    );
    const [a, b] = soc.devicesOf(DmaTestEngine);
    expect(a!.dma?.streamId).toBe(0x30);
    expect(b!.dma?.streamId).toBe(0x30);
    // Behind no IOMMU, as on QEMU: the PL061 is not a bus master at all, the SP804 neither.
    expect(soc.device(virtLabMap.gpio.node).dma).toBeNull();
    expect(soc.device(virtLabMap.sp804.node).dma).toBeNull();
    expect(soc.iommuRoutes.map((r) => `${r.device}:${r.streamId}`)).toEqual([
      "dma@0:16",
      "ethernet@10000:32",
      "dma-test@30000:48",
      "dma-test@31000:48",
    ]);
  });

  it("wires device interrupt outputs to the GIC INTIDs the tree names", () => {
    const soc = Soc.fromDeviceTree(virtLab());
    const gpio = soc.deviceOf(Pl061, virtLabMap.gpio.node);
    const gic = soc.gic;
    expect(gpio.irqs[0]!.intid).toBe(32 + 7);
    // Make the GPIO assert its interrupt: line 0 input, level-high sensitive, unmasked.
    const base = virtLabMap.gpio.base;
    soc.bus.write(base + 0x404, 4, 0x01); // IS: level
    soc.bus.write(base + 0x40c, 4, 0x01); // IEV: high
    soc.bus.write(base + 0x410, 4, 0x01); // IE
    gpio.setInput(0, true);
    expect(gpio.irqs[0]!.level).toBe(true);
    // The distributor sees INTID 39 pending (GICD_ISPENDR1 bit 7).
    expect(soc.bus.read(virtLabMap.gicDistributor + 0x204, 4) & (1 << 7)).not.toBe(0);
    expect(gic).toBeInstanceOf(GicV3);
  });

  it("answers an unmodelled node's registers, and reports every access on the trace", () => {
    const soc = Soc.fromDeviceTree(virtLab());
    const rec = soc.trace.record();
    expect(soc.bus.read(0x0808_0000, 4)).toBe(0); // the GICv3 ITS
    rec.stop();
    expect(rec.records).toEqual([
      expect.objectContaining({ type: "unimplemented", device: "its@8080000" }),
    ]);
  });

  it("treats RAM outside the banks and holes in the map as bus errors", () => {
    const soc = Soc.fromDeviceTree(virtLab({ ramSize: 0x1000_0000 }));
    expect(() => soc.bus.read(0x5000_0000, 4)).toThrow(/unmapped/);
    expect(() => soc.bus.read(0x0904_0000, 4)).toThrow(/unmapped/);
  });

  it("declares a terabyte of RAM without paying for it", () => {
    const soc = Soc.fromDeviceTree(`/dts-v1/;
      / { #address-cells = <2>; #size-cells = <2>;
          memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x100 0x0>; }; };`);
    expect(soc.ram).toEqual([{ base: 0x4000_0000, size: 2 ** 40 }]);
    soc.bus.write(0x4000_0000 + 2 ** 40 - 4, 4, 0xfeedface);
    expect(soc.bus.read(0x4000_0000 + 2 ** 40 - 4, 4)).toBe(0xfeedface);
    expect(soc.memory.allocatedFrames).toBe(1);
  });

  it("carries the tree for the kernel, also as the DTB a bootloader would pass", () => {
    const soc = Soc.fromDeviceTree(virtLab());
    const again = decodeFdt(soc.dtb);
    expect(again.root.children.map((c) => c.name)).toEqual(
      soc.tree.root.children.map((c) => c.name),
    );
    expect(Soc.fromDeviceTree(soc.dtb).devices.map((d) => d.name)).toEqual(
      soc.devices.map((d) => d.name),
    );
  });

  it("says plainly what it could not wire instead of dropping it", () => {
    const soc = Soc.fromDeviceTree(`/dts-v1/;
      / { #address-cells = <1>; #size-cells = <1>; interrupt-parent = <&gic>;
          gic: intc@8000000 { compatible = "arm,gic-v3"; #interrupt-cells = <3>; interrupt-controller;
                              reg = <0x08000000 0x10000 0x080a0000 0x20000>; };
          gpio@9030000 { compatible = "arm,pl061", "arm,primecell"; reg = <0x09030000 0x1000>;
                         interrupts = <0 7 4>, <0 8 4>, <0 2000 4>; iommus = <&gic 1>; };
          bus { #address-cells = <1>; #size-cells = <1>;
                orphan@0 { compatible = "arm,pl031"; reg = <0x0 0x1000>; }; }; };`);
    expect(soc.warnings.map((w) => `${w.path}: ${w.message}`)).toEqual([
      expect.stringMatching(/^\/bus\/orphan@0: .*ranges/),
      "/gpio@9030000: interrupt 1 (INTID 40) has no output in the model",
      "/gpio@9030000: interrupt 2: <0 2000 4> is not an input of the GIC",
      "/gpio@9030000: iommus: the phandle is not a modelled, available IOMMU",
    ]);
  });

  it("passes a DTS syntax error through with its line and column", () => {
    expect(() => Soc.fromDeviceTree("/dts-v1/;\n/ {\n  foo = <1 2;\n};\n")).toThrow(DtsSyntaxError);
    try {
      Soc.fromDeviceTree("/dts-v1/;\n/ {\n  foo = <1 2;\n};\n");
    } catch (e) {
      expect(e).toMatchObject({ line: 3 });
    }
  });

  it("refuses a board whose windows overlap", () => {
    expect(() =>
      Soc.fromDeviceTree(`/dts-v1/;
        / { #address-cells = <1>; #size-cells = <1>;
            a@1000 { compatible = "arm,pl061"; reg = <0x1000 0x1000>; };
            b@1800 { compatible = "arm,pl031"; reg = <0x1800 0x1000>; }; };`),
    ).toThrow(/overlaps a@1000/);
  });
});
