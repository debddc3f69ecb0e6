import { describe, expect, it } from "vitest";
import { BusError } from "./bus-error.js";
import { VirtualClock } from "./clock.js";
import { DmaPort, type Iommu } from "./dma-port.js";
import { PAGE_SIZE, PhysicalMemory } from "./physical-memory.js";
import { SystemBus } from "./system-bus.js";
import { HwTrace } from "./trace.js";

class PageMapIommu implements Iommu {
  readonly name = "toy-iommu";
  readonly pages = new Map<number, number>();
  map(iova: number, pa: number, length: number): void {
    for (let off = 0; off < length; off += PAGE_SIZE) {
      this.pages.set((iova + off) / PAGE_SIZE, (pa + off) / PAGE_SIZE);
    }
  }
  translate(_sid: number, iova: number, write: boolean, master: string): number | BusError {
    const pfn = this.pages.get(Math.floor(iova / PAGE_SIZE));
    if (pfn === undefined)
      return new BusError({ reason: "iommu", address: iova, size: 1, write, master });
    return pfn * PAGE_SIZE + (iova % PAGE_SIZE);
  }
}

function setup() {
  const clock = new VirtualClock();
  const trace = new HwTrace(() => clock.now);
  const bus = new SystemBus(new PhysicalMemory());
  bus.addRam("ram", 0x4000_0000, 0x1000_0000);
  const port = new DmaPort("engine", bus, trace);
  const iommu = new PageMapIommu();
  port.attach(iommu, 3);
  const fill = (pa: number, length: number, seed: number) => {
    const bytes = new Uint8Array(length).map((_, i) => (i * 31 + seed) & 0xff);
    bus.writeBytes(pa, bytes);
    return bytes;
  };
  return { bus, port, iommu, trace, fill };
}

describe("DmaPort.copyBatch", () => {
  it("copies long runs between distinct frames, across pages and slabs", () => {
    const { bus, port, iommu, fill } = setup();
    iommu.map(0x10_0000, 0x4100_0000, 80 * PAGE_SIZE);
    iommu.map(0x80_0000, 0x4200_0000, 80 * PAGE_SIZE);
    const data = fill(0x4100_0000, 80 * PAGE_SIZE, 5);
    expect(port.copyBatch(0x80_0010, 0x10_0020, 70 * PAGE_SIZE)).toBeUndefined();
    expect([...bus.readBytes(0x4200_0010, 70 * PAGE_SIZE)]).toEqual([
      ...data.subarray(0x20, 0x20 + 70 * PAGE_SIZE),
    ]);
  });

  it("declines, moving nothing, when source and destination share a physical frame", () => {
    const { bus, port, iommu, fill } = setup();
    iommu.map(0x10_0000, 0x4100_0000, 2 * PAGE_SIZE);
    iommu.map(0x20_0000, 0x4100_1000, 2 * PAGE_SIZE); // IOVA 0x200000 aliases 0x101000
    const before = fill(0x4100_0000, 3 * PAGE_SIZE, 9);
    expect(port.copyBatch(0x20_0000, 0x10_0000, 2 * PAGE_SIZE)).toBe("declined");
    expect([...bus.readBytes(0x4100_0000, 3 * PAGE_SIZE)]).toEqual([...before]);
  });

  it("declines when the destination would write a frame of the guard range", () => {
    const { port, iommu } = setup();
    iommu.map(0x10_0000, 0x4100_0000, PAGE_SIZE);
    iommu.map(0x20_0000, 0x4200_0000, PAGE_SIZE);
    iommu.map(0x1000, 0x4200_0000, PAGE_SIZE); // the microcode page, seen at another IOVA
    expect(port.copyBatch(0x20_0000, 0x10_0000, 64, { address: 0x1040, length: 8 })).toBe(
      "declined",
    );
    expect(
      port.copyBatch(0x20_0000, 0x10_0000, 64, { address: 0x10_0000, length: 8 }),
    ).toBeUndefined();
  });

  it("declines when either side is not RAM", () => {
    const { bus, port, iommu } = setup();
    const writes: number[] = [];
    bus.addMmio(
      "regs",
      0x0900_0000,
      0x1000,
      {
        mmioRead: () => 0,
        mmioWrite: (off) => {
          writes.push(off);
          return undefined;
        },
      },
      0,
    );
    iommu.map(0x10_0000, 0x4100_0000, PAGE_SIZE);
    iommu.map(0x20_0000, 0x0900_0000, PAGE_SIZE);
    expect(port.copyBatch(0x20_0000, 0x10_0000, 16)).toBe("declined");
    expect(writes).toEqual([]);
  });

  it("returns the translation fault with nothing moved, source first", () => {
    const { bus, port, iommu, fill, trace } = setup();
    iommu.map(0x10_0000, 0x4100_0000, 2 * PAGE_SIZE);
    iommu.map(0x20_0000, 0x4200_0000, PAGE_SIZE);
    fill(0x4100_0000, 2 * PAGE_SIZE, 1);
    const rec = trace.record();
    const e = port.copyBatch(0x20_0000, 0x10_0000, 2 * PAGE_SIZE);
    expect(e).toMatchObject({ reason: "iommu", address: 0x20_1000, write: true });
    expect(bus.memory.peekFrame(0x4200_0000 / PAGE_SIZE)).toBeUndefined();
    expect(rec.records).toMatchObject([{ type: "dma-error", write: true, address: 0x20_0000 }]);
    expect(port.copyBatch(0x20_0000, 0x30_0000, 8)).toMatchObject({
      write: false,
      address: 0x30_0000,
    });
  });
});
