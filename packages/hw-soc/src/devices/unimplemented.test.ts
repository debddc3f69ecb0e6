import { describe, expect, it } from "vitest";
import { VirtualClock } from "../core/clock.js";
import { PhysicalMemory } from "../core/physical-memory.js";
import { SystemBus } from "../core/system-bus.js";
import { HwTrace } from "../core/trace.js";
import { createUnimplemented, UnimplementedDevice } from "./unimplemented.js";

function setup(irqCount?: number) {
  const bus = new SystemBus(new PhysicalMemory());
  const clock = new VirtualClock();
  const trace = new HwTrace(() => clock.now);
  const dev = createUnimplemented(
    { clock, trace, bus },
    {
      name: "pcie@10000000",
      path: "/pcie@10000000",
      compatible: ["pci-host-ecam-generic"],
      windows: [
        { base: 0x1000_0000, size: 0x2eff_0000 },
        { base: 0x40_1000_0000, size: 0x1000_0000 },
      ],
    },
    irqCount,
  );
  bus.addMmio("pcie-mmio", 0x1000_0000, 0x2eff_0000, dev, 0);
  bus.addMmio("pcie-ecam", 0x40_1000_0000, 0x1000_0000, dev, 1);
  return { bus, trace, dev };
}

describe("UnimplementedDevice", () => {
  it("reads 0 at every offset and size", () => {
    const { bus } = setup();
    expect(bus.read(0x1000_0000, 4)).toBe(0);
    expect(bus.read(0x1234_5677, 1)).toBe(0);
    expect(bus.read(0x40_1000_0002, 2)).toBe(0);
  });

  it("drops writes: a later read still returns 0", () => {
    const { bus } = setup();
    bus.write(0x1000_0010, 4, 0xdead_beef);
    expect(bus.read(0x1000_0010, 4)).toBe(0);
  });

  it("records each access as an unimplemented trace event naming compatible, window, offset and size", () => {
    const { bus, trace } = setup();
    const rec = trace.record();
    bus.read(0x1000_0010, 4);
    bus.write(0x40_1000_0008, 2, 0xbeef);
    expect(rec.records).toEqual([
      {
        time: 0,
        type: "unimplemented",
        device: "pcie@10000000",
        message: "pci-host-ecam-generic: unimplemented device read (offset 0x10, size 4)",
      },
      {
        time: 0,
        type: "unimplemented",
        device: "pcie@10000000",
        message:
          "pci-host-ecam-generic: unimplemented device write of 0xbeef (window 1, offset 0x8, size 2)",
      },
    ]);
  });

  it("keeps the same messages in guestErrors, marked unimplemented", () => {
    const { bus, dev } = setup();
    bus.read(0x1000_0000, 1);
    expect(dev.guestErrors).toEqual([
      "unimplemented: pci-host-ecam-generic: unimplemented device read (offset 0x0, size 1)",
    ]);
  });

  it("names the node when it has no compatible", () => {
    const bus = new SystemBus(new PhysicalMemory());
    const clock = new VirtualClock();
    const trace = new HwTrace(() => clock.now);
    const dev = new UnimplementedDevice(
      { clock, trace, bus },
      { name: "mystery@0", path: "/mystery@0", compatible: [], windows: [] },
    );
    dev.mmioRead(4, 4, 0);
    expect(dev.guestErrors).toEqual([
      "unimplemented: mystery@0: unimplemented device read (offset 0x4, size 4)",
    ]);
  });

  it("has no DMA port and interrupt outputs that never assert", () => {
    const { bus, dev } = setup(2);
    expect(dev.dma).toBeNull();
    expect(dev.irqs.map((l) => l.name)).toEqual(["irq0", "irq1"]);
    bus.write(0x1000_0000, 4, 0xffff_ffff);
    dev.reset();
    expect(dev.irqs.every((l) => !l.level)).toBe(true);
  });

  it("has no interrupt outputs unless asked", () => {
    expect(setup().dev.irqs).toEqual([]);
  });
});
