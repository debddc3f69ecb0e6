import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { BusError } from "./bus-error.js";
import { VirtualClock } from "./clock.js";
import { DmaPort, type Iommu } from "./dma-port.js";
import { PAGE_SIZE, PhysicalMemory } from "./physical-memory.js";
import { SystemBus } from "./system-bus.js";
import { HwTrace } from "./trace.js";

/** A toy IOMMU: a page map from IOVA page to physical page; anything else aborts. */
class PageMapIommu implements Iommu {
  readonly name = "toy-iommu";
  readonly pages = new Map<number, number>();
  translate(_sid: number, iova: number, write: boolean, master: string): number | BusError {
    const pa = this.pages.get(Math.floor(iova / PAGE_SIZE));
    if (pa === undefined) {
      return new BusError({
        reason: "iommu",
        address: iova,
        size: 1,
        write,
        master,
        detail: "F_TRANSLATION",
      });
    }
    return pa * PAGE_SIZE + (iova % PAGE_SIZE);
  }
}

function setup() {
  const clock = new VirtualClock();
  const trace = new HwTrace(() => clock.now);
  const bus = new SystemBus(new PhysicalMemory());
  bus.addRam("ram", 0x4000_0000, 0x1000_0000);
  const port = new DmaPort("engine", bus, trace);
  return { bus, port, trace };
}

describe("DmaPort", () => {
  it("reaches physical memory directly when no IOMMU is in front", () => {
    const { bus, port } = setup();
    expect(port.write(0x4000_0100, new Uint8Array([1, 2, 3]))).toBeUndefined();
    expect([...bus.readBytes(0x4000_0100, 3)]).toEqual([1, 2, 3]);
    expect(port.streamId).toBeNull();
  });

  it("translates every page through the IOMMU with the port's stream ID", () => {
    const { bus, port } = setup();
    const iommu = new PageMapIommu();
    iommu.pages.set(0x10, 0x40005);
    iommu.pages.set(0x11, 0x40002); // deliberately not contiguous
    port.attach(iommu, 7);
    const data = new Uint8Array(16).map((_, i) => i + 1);
    expect(port.write(0x10ff8, data)).toBeUndefined();
    expect([...bus.readBytes(0x40005ff8, 8)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...bus.readBytes(0x40002000, 8)]).toEqual([9, 10, 11, 12, 13, 14, 15, 16]);
  });

  it("moves no byte when any page of a transfer faults", () => {
    const { bus, port } = setup();
    const iommu = new PageMapIommu();
    iommu.pages.set(0x10, 0x40005); // page 0x11 is unmapped
    port.attach(iommu, 7);
    const e = port.write(0x10ffc, new Uint8Array(8).fill(0xee));
    expect(e).toMatchObject({ reason: "iommu", address: 0x11000, write: true });
    expect(bus.memory.allocatedFrames).toBe(0);
  });

  it("reports a fault on the source before the destination in a copy", () => {
    const { port } = setup();
    const iommu = new PageMapIommu();
    port.attach(iommu, 1);
    const e = port.copy(0x2000, 0x1000, 4);
    expect(e).toMatchObject({ write: false, address: 0x1000 });
  });

  it("answers an unmapped physical address with a bus error", () => {
    const { port } = setup();
    expect(port.read(0x1000, new Uint8Array(4))).toMatchObject({ reason: "unmapped" });
    expect(port.read32(0x3fff_fffc)).toBeInstanceOf(BusError);
  });

  it("traces completed and failed transfers", () => {
    const { port, trace } = setup();
    const rec = trace.record();
    port.write32(0x4000_0000, 0x01020304);
    port.read(0x10, new Uint8Array(1));
    rec.stop();
    expect(rec.records.map((r) => r.type)).toEqual(["dma", "dma-error"]);
  });

  test.prop([
    fc.integer({ min: 0, max: 8 * PAGE_SIZE }),
    fc.integer({ min: 0, max: 8 * PAGE_SIZE }),
    fc.integer({ min: 1, max: 3 * PAGE_SIZE }),
    fc.array(fc.integer({ min: 0, max: 11 }), { maxLength: 12 }),
  ])(
    "copy through a scattered IOMMU mapping equals a byte-by-byte reference",
    (s, d, len, perm) => {
      const { bus, port } = setup();
      const iommu = new PageMapIommu();
      const frames = [...new Set([...perm, ...Array.from({ length: 12 }, (_, i) => i)])];
      for (const [i, f] of frames.entries()) iommu.pages.set(i, 0x40100 + f);
      port.attach(iommu, 3);
      const src = new Uint8Array(len).map((_, i) => (i * 7 + 3) & 0xff);
      expect(port.write(s, src)).toBeUndefined();
      expect(port.copy(d, s, len)).toBeUndefined();
      const out = new Uint8Array(len);
      expect(port.read(d, out)).toBeUndefined();
      expect(Buffer.from(out).equals(src)).toBe(true);
      void bus;
    },
  );
});
