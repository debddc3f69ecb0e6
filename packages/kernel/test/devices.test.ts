/**
 * Kernel part 2 end to end on the default board: the boot, its trace, and the paths between
 * devices, drivers, the IOMMU and the IRQ core that the later layers (VFIO, UIO) build on.
 */

import { boards, Soc } from "@vfio-lab/hw-soc";
import { describe, expect, it } from "vitest";
import { Kernel } from "../src/kernel.js";
import { type KernelTraceRecord, toJsonLines } from "../src/trace/trace-bus.js";
import { boot } from "./fixture.js";

describe("boot", () => {
  it("is deterministic: two boots give byte-identical traces and logs", () => {
    const once = () => {
      const records: KernelTraceRecord[] = [];
      const kernel = Kernel.boot(Soc.fromDeviceTree(boards.virtLab()), {
        cmdline: "console=ttyAMA0",
        traceListener: (r) => records.push(r),
      });
      return { trace: toJsonLines(records), dmesg: kernel.dmesg().join("\n") };
    };
    const a = once();
    expect(a.trace).toContain('"type":"driver:bind"');
    expect(a.trace).toContain('"type":"irq:request"');
    expect(a.trace).toContain('"type":"iommu:attach"');
    const b = once();
    expect(b.trace).toBe(a.trace);
    expect(b.dmesg).toBe(a.dmesg);
  });

  it("binds every board device Linux would drive, and leaves the SP804 to nobody", () => {
    const { p } = boot();
    const driver = (bus: string, dev: string) => {
      try {
        return p.readlink(`/sys/bus/${bus}/devices/${dev}/driver`).split("/").at(-1);
      } catch {
        return null;
      }
    };
    expect(driver("amba", "9000000.pl011")).toBe("uart-pl011");
    expect(driver("amba", "9010000.pl031")).toBe("rtc-pl031");
    expect(driver("amba", "9030000.pl061")).toBe("pl061_gpio");
    expect(driver("amba", "c000000.dma")).toBe("dma-pl330");
    expect(driver("amba", "c020000.timer")).toBeNull();
    expect(driver("platform", "9050000.smmuv3")).toBe("arm-smmu-v3");
    expect(driver("platform", "c010000.ethernet")).toBe("calxedaxgmac");
    expect(driver("platform", "c030000.dma-test")).toBe("vfio-lab-dma-test");
    expect(driver("platform", "c031000.dma-test")).toBe("vfio-lab-dma-test");
  });

  it("puts the SMMU masters in IOMMU groups, except the engine whose StreamID aliases", () => {
    const { p, kernel } = boot();
    const group = (bus: string, dev: string) => {
      try {
        return p.readlink(`/sys/bus/${bus}/devices/${dev}/iommu_group`).split("/").at(-1);
      } catch {
        return null;
      }
    };
    expect(group("platform", "c010000.ethernet")).toBe("0");
    expect(group("platform", "c030000.dma-test")).toBe("1");
    expect(group("amba", "c000000.dma")).toBe("2");
    expect(group("platform", "c031000.dma-test")).toBeNull();
    expect(group("amba", "9030000.pl061")).toBeNull();
    expect(p.readdir("/sys/kernel/iommu_groups/1/devices")).toContain("c030000.dma-test");
    expect(kernel.dmesg().join("\n")).toContain(
      "platform c031000.dma-test: Aliasing StreamID 0x30 (from c030000.dma-test) unsupported, expect DMA to be broken",
    );
  });

  it("lists the board's interrupts in /proc/interrupts under their Linux names", () => {
    const { p } = boot();
    const text = p.readFile("/proc/interrupts");
    expect(text).toMatch(/ {2}GICv3 {6}33 Level {5}uart-pl011\n/);
    expect(text).toMatch(/ {2}GICv3 {5}106 Edge {6}arm-smmu-v3-evtq\n/);
    expect(text).toMatch(/ {2}GICv3 {5}144 Level {5}c000000\.dma\n/);
  });
});
