import { describe, expect, it } from "vitest";
import { BusError } from "./bus-error.js";
import { PhysicalMemory } from "./physical-memory.js";
import { type AccessSize, type MmioHandler, SystemBus } from "./system-bus.js";

class ScratchRegs implements MmioHandler {
  readonly regs = new Map<number, number>();
  readonly log: string[] = [];
  mmioRead(offset: number, size: AccessSize): number {
    this.log.push(`r${size}@${offset}`);
    return this.regs.get(offset) ?? 0;
  }
  mmioWrite(offset: number, size: AccessSize, value: number): undefined {
    this.log.push(`w${size}@${offset}=${value.toString(16)}`);
    this.regs.set(offset, value);
    return undefined;
  }
}

function board() {
  const bus = new SystemBus(new PhysicalMemory());
  bus.addRam("ram", 0x4000_0000, 0x4000_0000);
  const dev = new ScratchRegs();
  bus.addMmio("dev", 0x0900_0000, 0x1000, dev);
  return { bus, dev };
}

describe("SystemBus", () => {
  it("decodes RAM and MMIO and keeps the map sorted", () => {
    const { bus } = board();
    expect(bus.map.map((r) => r.name)).toEqual(["dev", "ram"]);
    expect(bus.regionAt(0x0900_0ffc)?.name).toBe("dev");
    expect(bus.regionAt(0x0900_1000)).toBeUndefined();
    expect(bus.regionAt(0x7fff_ffff)?.name).toBe("ram");
    expect(bus.regionAt(0x8000_0000)).toBeUndefined();
  });

  it("refuses overlapping regions", () => {
    const { bus } = board();
    expect(() => bus.addRam("ram2", 0x7fff_f000, 0x2000)).toThrow(/overlaps ram/);
    expect(() => bus.addMmio("dev2", 0x0900_0800, 0x1000, new ScratchRegs())).toThrow(
      /overlaps dev/,
    );
  });

  it("gives a typed bus error, never a silent zero, for an unmapped address", () => {
    const { bus } = board();
    const e = bus.tryRead(0x1000, 4, "cpu");
    expect(BusError.isInstance(e)).toBe(true);
    expect(e).toMatchObject({ reason: "unmapped", address: 0x1000, size: 4, write: false });
    expect(() => bus.write(0x8000_0000, 4, 1)).toThrow(BusError);
    // An access that starts in RAM and runs off its end is unmapped too.
    expect(() => bus.read(0x7fff_fffe, 4)).toThrow(/unmapped/);
  });

  it("routes register accesses to the device with the window offset", () => {
    const { bus, dev } = board();
    bus.write(0x0900_0010, 4, 0x1234);
    expect(bus.read(0x0900_0010, 4)).toBe(0x1234);
    expect(dev.log).toEqual(["w4@16=1234", "r4@16"]);
  });

  it("splits 64-bit accesses into two 32-bit halves, low word first", () => {
    const { bus, dev } = board();
    bus.write64(0x0900_0080, 0x1122_3344_5566_7788n);
    expect(dev.log).toEqual(["w4@128=55667788", "w4@132=11223344"]);
    expect(bus.read64(0x0900_0080)).toBe(0x1122_3344_5566_7788n);
  });

  it("moves byte runs across RAM and refuses a run that leaves the map before moving anything", () => {
    const { bus } = board();
    bus.writeBytes(0x4000_0ffe, new Uint8Array([1, 2, 3, 4]));
    expect([...bus.readBytes(0x4000_0ffe, 4)]).toEqual([1, 2, 3, 4]);
    const e = bus.tryWriteBytes(0x7fff_fffe, new Uint8Array([9, 9, 9, 9]), "dma");
    expect(e).toMatchObject({ reason: "unmapped", address: 0x8000_0000 });
    expect(bus.read(0x7fff_fffc, 4)).toBe(0);
  });

  it("reads a byte run from MMIO register by register", () => {
    const { bus, dev } = board();
    dev.regs.set(0, 0x44332211);
    dev.regs.set(4, 0x88776655);
    expect([...bus.readBytes(0x0900_0000, 8)]).toEqual([
      0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
    ]);
  });
});
