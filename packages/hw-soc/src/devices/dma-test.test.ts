import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { BusError } from "../core/bus-error.js";
import { VirtualClock } from "../core/clock.js";
import type { Iommu } from "../core/dma-port.js";
import { PAGE_SIZE, PhysicalMemory } from "../core/physical-memory.js";
import { SystemBus } from "../core/system-bus.js";
import { HwTrace } from "../core/trace.js";
import {
  DMA_TEST_CTRL,
  DMA_TEST_ERR_CAUSE,
  DMA_TEST_ID,
  DMA_TEST_MAX_LEN,
  DMA_TEST_NS_PER_BYTE,
  DMA_TEST_SETUP_NS,
  DMA_TEST_STATUS,
  DMA_TEST_VERSION,
  DmaTestEngine,
  dmaTestModel,
} from "./dma-test.js";

const BASE = 0x0c00_0000;
const RAM = 0x4000_0000;
const REG = {
  ID: 0x00,
  VERSION: 0x04,
  SRC_LO: 0x08,
  SRC_HI: 0x0c,
  DST_LO: 0x10,
  DST_HI: 0x14,
  LEN: 0x18,
  CTRL: 0x1c,
  STATUS: 0x20,
  PATTERN: 0x24,
  ERR_ADDR_LO: 0x28,
  ERR_ADDR_HI: 0x2c,
} as const;
const START = DMA_TEST_CTRL.START;
const FILL = DMA_TEST_CTRL.MODE_FILL << DMA_TEST_CTRL.MODE_SHIFT;
const { BUSY, DONE, ERROR } = DMA_TEST_STATUS;

/** RAM banks as [base, size] pairs; the default is one 1 GiB bank at 0x40000000. */
function setup(banks: readonly [number, number][] = [[RAM, 0x4000_0000]]) {
  const memory = new PhysicalMemory();
  const bus = new SystemBus(memory);
  const clock = new VirtualClock();
  const trace = new HwTrace(() => clock.now);
  for (const [i, [base, size]] of banks.entries()) bus.addRam(`ram${i}`, base, size);
  const dev = new DmaTestEngine(
    { clock, trace, bus },
    {
      name: "dma-test@c010000",
      path: "/platform-bus@c000000/dma-test@c010000",
      compatible: ["vfio-lab,dma-test"],
      windows: [{ base: BASE, size: 0x1000 }],
    },
  );
  bus.addMmio(dev.name, BASE, 0x1000, dev, 0);
  const rd = (off: number) => bus.read(BASE + off, 4);
  const wr = (off: number, v: number) => bus.write(BASE + off, 4, v);
  const program = (src: number, dst: number, len: number) => {
    wr(REG.SRC_LO, src % 2 ** 32);
    wr(REG.SRC_HI, Math.floor(src / 2 ** 32));
    wr(REG.DST_LO, dst % 2 ** 32);
    wr(REG.DST_HI, Math.floor(dst / 2 ** 32));
    wr(REG.LEN, len);
  };
  return { memory, bus, clock, trace, dev, rd, wr, program };
}

const cause = (status: number) =>
  (status & DMA_TEST_STATUS.ERR_CAUSE_MASK) >>> DMA_TEST_STATUS.ERR_CAUSE_SHIFT;

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 131 + seed * 7 + 17) & 0xff;
  return out;
}

describe("DMA test engine registers", () => {
  it("read their reset values", () => {
    const { rd } = setup();
    for (const { name, offset, spec } of DmaTestEngine.registers.entries()) {
      expect(rd(offset), name).toBe(spec.reset ?? 0);
    }
    expect(rd(REG.ID)).toBe(DMA_TEST_ID);
    expect(rd(REG.VERSION)).toBe(DMA_TEST_VERSION);
  });

  it("identify as DMAT when the ID word is printed most significant byte first", () => {
    const { rd } = setup();
    const id = rd(REG.ID);
    expect(String.fromCharCode(id >>> 24, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff)).toBe(
      "DMAT",
    );
  });

  it("keep 48-bit addresses: the upper half of each HI register reads as zero", () => {
    const { rd, wr } = setup();
    wr(REG.SRC_HI, 0xffff_ffff);
    wr(REG.DST_HI, 0x1234_5678);
    expect(rd(REG.SRC_HI)).toBe(0xffff);
    expect(rd(REG.DST_HI)).toBe(0x5678);
  });

  it("read back CTRL without START and without reserved bits", () => {
    const { rd, wr, dev } = setup();
    wr(REG.LEN, 0);
    wr(REG.CTRL, 0xffff_fffe);
    expect(rd(REG.CTRL)).toBe(DMA_TEST_CTRL.IRQ_EN | DMA_TEST_CTRL.MODE_MASK);
    expect(dev.guestErrors).toEqual([]);
  });

  it("treat writes to read-only registers and unknown offsets as guest errors", () => {
    const { rd, wr, dev } = setup();
    wr(REG.ID, 0);
    wr(REG.ERR_ADDR_LO, 1);
    expect(rd(0x100)).toBe(0);
    expect(rd(REG.ID)).toBe(DMA_TEST_ID);
    expect(dev.guestErrors).toEqual([
      "write to read-only register ID",
      "write to read-only register ERR_ADDR_LO",
      "read of unknown register at offset 0x100",
    ]);
  });

  it("return bytes of a register to narrow reads and refuse narrow writes", () => {
    const { bus, dev } = setup();
    expect(bus.read(BASE + REG.ID, 1)).toBe(0x54);
    expect(bus.read(BASE + REG.ID + 2, 2)).toBe(0x444d);
    bus.write(BASE + REG.LEN, 1, 0xff);
    expect(bus.read(BASE + REG.LEN, 4)).toBe(0);
    expect(dev.guestErrors).toHaveLength(1);
  });
});

describe("DMA test engine copy", () => {
  it("copies after the documented run time and then raises DONE and the IRQ", () => {
    const { bus, clock, rd, wr, program, dev } = setup();
    const src = bytes(300, 1);
    bus.writeBytes(RAM + 0x1000, src);
    program(RAM + 0x1000, RAM + 0x8000, 300);
    wr(REG.CTRL, START | DMA_TEST_CTRL.IRQ_EN);
    expect(rd(REG.STATUS)).toBe(BUSY);
    expect(rd(REG.CTRL) & START).toBe(0);

    clock.run(DMA_TEST_SETUP_NS + 300 * DMA_TEST_NS_PER_BYTE - 1);
    expect(rd(REG.STATUS)).toBe(BUSY);
    expect([...bus.readBytes(RAM + 0x8000, 4)]).toEqual([0, 0, 0, 0]);
    expect(dev.irqs[0]!.level).toBe(false);

    clock.run(1);
    expect(rd(REG.STATUS)).toBe(DONE);
    expect(bus.readBytes(RAM + 0x8000, 300)).toEqual(src);
    expect(dev.irqs[0]!.level).toBe(true);
  });

  it("holds the IRQ until DONE is written back as 1", () => {
    const { clock, rd, wr, program, dev } = setup();
    program(RAM, RAM + 0x100, 16);
    wr(REG.CTRL, START | DMA_TEST_CTRL.IRQ_EN);
    clock.runUntilIdle();
    wr(REG.STATUS, BUSY | ERROR);
    expect(dev.irqs[0]!.level).toBe(true);
    wr(REG.STATUS, DONE);
    expect(rd(REG.STATUS)).toBe(0);
    expect(dev.irqs[0]!.level).toBe(false);
  });

  it("keeps the IRQ low without IRQ_EN and raises it when IRQ_EN is set later", () => {
    const { clock, rd, wr, program, dev } = setup();
    program(RAM, RAM + 0x100, 16);
    wr(REG.CTRL, START);
    clock.runUntilIdle();
    expect(rd(REG.STATUS)).toBe(DONE);
    expect(dev.irqs[0]!.level).toBe(false);
    wr(REG.CTRL, DMA_TEST_CTRL.IRQ_EN);
    expect(dev.irqs[0]!.level).toBe(true);
  });

  it("latches its parameters at START", () => {
    const { bus, clock, wr, program } = setup();
    bus.writeBytes(RAM, bytes(64, 2));
    program(RAM, RAM + 0x1000, 64);
    wr(REG.CTRL, START);
    program(RAM, RAM + 0x2000, 8);
    clock.runUntilIdle();
    expect(bus.readBytes(RAM + 0x1000, 64)).toEqual(bytes(64, 2));
    expect([...bus.readBytes(RAM + 0x2000, 8)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it("ignores START while BUSY, as a guest error", () => {
    const { clock, rd, wr, program, dev } = setup();
    program(RAM, RAM + 0x100, 1000);
    wr(REG.CTRL, START);
    clock.run(10);
    wr(REG.CTRL, START);
    expect(dev.guestErrors).toEqual(["START while BUSY ignored"]);
    clock.run(DMA_TEST_SETUP_NS + 1000 - 10);
    expect(rd(REG.STATUS)).toBe(DONE);
    expect(clock.pending).toBe(0);
  });

  it("completes a zero-length transfer with DONE and no bus access", () => {
    const { clock, rd, wr, trace } = setup([]);
    const rec = trace.record();
    wr(REG.LEN, 0);
    wr(REG.CTRL, START);
    clock.runUntilIdle();
    expect(rd(REG.STATUS)).toBe(DONE);
    expect(rec.records.filter((r) => r.type === "dma" || r.type === "dma-error")).toEqual([]);
  });

  it("behaves as memmove when source and destination overlap", () => {
    const { bus, clock, wr, program } = setup();
    const data = bytes(3 * PAGE_SIZE, 3);
    bus.writeBytes(RAM, data);
    program(RAM, RAM + 100, data.length);
    wr(REG.CTRL, START);
    clock.runUntilIdle();
    expect(bus.readBytes(RAM + 100, data.length)).toEqual(data);
  });

  it("clears DONE, ERROR and ERR_ADDR when a new transfer starts", () => {
    const { clock, rd, wr, program } = setup();
    program(0x1000, RAM, 4);
    wr(REG.CTRL, START);
    clock.runUntilIdle();
    expect(rd(REG.STATUS) & ERROR).toBe(ERROR);
    program(RAM, RAM + 8, 4);
    wr(REG.CTRL, START);
    expect(rd(REG.STATUS)).toBe(BUSY);
    expect(rd(REG.ERR_ADDR_LO)).toBe(0);
  });

  it("is traced as start and done", () => {
    const { clock, wr, program, trace } = setup();
    const rec = trace.record();
    program(RAM, RAM + 0x100, 8);
    wr(REG.CTRL, START);
    clock.runUntilIdle();
    expect(
      rec.records.filter((r) => r.type === "device").map((r) => r.type === "device" && r.event),
    ).toEqual(["start", "done"]);
    expect(rec.records.filter((r) => r.type === "dma")).toHaveLength(2);
  });

  it("stops a transfer in flight on reset", () => {
    const { bus, clock, rd, wr, program, dev } = setup();
    bus.writeBytes(RAM, bytes(8, 4));
    program(RAM, RAM + 0x100, 8);
    wr(REG.CTRL, START | DMA_TEST_CTRL.IRQ_EN);
    dev.reset();
    clock.runUntilIdle();
    expect(rd(REG.STATUS)).toBe(0);
    expect([...bus.readBytes(RAM + 0x100, 8)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(dev.irqs[0]!.level).toBe(false);
  });
});

describe("DMA test engine fill", () => {
  it("replicates PATTERN from the start of the transfer, not the address", () => {
    const { bus, clock, rd, wr, program } = setup();
    program(0, RAM + 3, 10);
    wr(REG.PATTERN, 0x4433_2211);
    wr(REG.CTRL, START | FILL);
    clock.runUntilIdle();
    expect(rd(REG.STATUS)).toBe(DONE);
    expect([...bus.readBytes(RAM, 14)]).toEqual([
      0, 0, 0, 0x11, 0x22, 0x33, 0x44, 0x11, 0x22, 0x33, 0x44, 0x11, 0x22, 0,
    ]);
  });

  it("takes the same run time as a copy of the same length", () => {
    const { clock, rd, wr, program } = setup();
    program(0, RAM, 64);
    wr(REG.CTRL, START | FILL);
    clock.run(DMA_TEST_SETUP_NS + 63);
    expect(rd(REG.STATUS)).toBe(BUSY);
    clock.run(1);
    expect(rd(REG.STATUS)).toBe(DONE);
  });
});

describe("DMA test engine errors", () => {
  it("reports an unmapped source as ERROR/READ with the failing address, writing nothing", () => {
    const { memory, clock, rd, wr, program, dev } = setup();
    program(0x1_2345_6000, RAM, 64);
    wr(REG.CTRL, START | DMA_TEST_CTRL.IRQ_EN);
    clock.runUntilIdle();
    const status = rd(REG.STATUS);
    expect(status & (BUSY | DONE | ERROR)).toBe(ERROR);
    expect(cause(status)).toBe(DMA_TEST_ERR_CAUSE.READ);
    expect(rd(REG.ERR_ADDR_LO)).toBe(0x2345_6000);
    expect(rd(REG.ERR_ADDR_HI)).toBe(0x1);
    expect(memory.allocatedFrames).toBe(0);
    expect(dev.irqs[0]!.level).toBe(true);
  });

  it("reports a destination running off the end of RAM as ERROR/WRITE at the first page outside", () => {
    const { bus, memory, clock, rd, wr, program } = setup([[RAM, 0x10000]]);
    bus.writeBytes(RAM, bytes(PAGE_SIZE, 5));
    const before = memory.allocatedFrames;
    program(RAM, RAM + 0xf800, 0x1000);
    wr(REG.CTRL, START);
    clock.runUntilIdle();
    expect(cause(rd(REG.STATUS))).toBe(DMA_TEST_ERR_CAUSE.WRITE);
    expect(rd(REG.ERR_ADDR_LO)).toBe(RAM + 0x10000);
    expect(memory.allocatedFrames).toBe(before);
  });

  it("reports an IOMMU fault at the address the engine issued", () => {
    const { clock, rd, wr, program, dev } = setup();
    const iommu: Iommu = {
      name: "smmu",
      translate: (_sid, iova, write, master) =>
        iova < 0x10000
          ? RAM + iova
          : new BusError({ reason: "iommu", address: iova, size: 1, write, master }),
    };
    dev.dma!.attach(iommu, 5);
    program(0x0, 0x2_0000, 16);
    wr(REG.CTRL, START);
    clock.runUntilIdle();
    expect(cause(rd(REG.STATUS))).toBe(DMA_TEST_ERR_CAUSE.WRITE);
    expect(rd(REG.ERR_ADDR_LO)).toBe(0x2_0000);
  });

  it("clears ERROR and ERR_CAUSE together on write-1-clear, keeping ERR_ADDR", () => {
    const { clock, rd, wr, program, dev } = setup();
    program(0x1000, RAM, 4);
    wr(REG.CTRL, START | DMA_TEST_CTRL.IRQ_EN);
    clock.runUntilIdle();
    wr(REG.STATUS, ERROR);
    expect(rd(REG.STATUS)).toBe(0);
    expect(rd(REG.ERR_ADDR_LO)).toBe(0x1000);
    expect(dev.irqs[0]!.level).toBe(false);
  });

  it("refuses a reserved MODE at once with ERROR/CONFIG and a guest error", () => {
    const { clock, rd, wr, program, dev, trace } = setup();
    const rec = trace.record();
    program(RAM, RAM + 0x100, 4);
    wr(REG.CTRL, START | (2 << DMA_TEST_CTRL.MODE_SHIFT) | DMA_TEST_CTRL.IRQ_EN);
    expect(cause(rd(REG.STATUS))).toBe(DMA_TEST_ERR_CAUSE.CONFIG);
    expect(dev.irqs[0]!.level).toBe(true);
    expect(dev.guestErrors).toEqual(["START with reserved MODE 2"]);
    expect(clock.pending).toBe(0);
    expect(rec.records.some((r) => r.type === "dma")).toBe(false);
  });

  it("refuses LEN above the 16 MiB limit with ERROR/CONFIG", () => {
    const { rd, wr, program, dev } = setup();
    program(RAM, RAM + 0x100, DMA_TEST_MAX_LEN + 1);
    wr(REG.CTRL, START);
    expect(cause(rd(REG.STATUS))).toBe(DMA_TEST_ERR_CAUSE.CONFIG);
    expect(dev.guestErrors).toHaveLength(1);
  });
});

describe("DMA test engine properties", () => {
  const SIZE = 0x1_0000;

  test.prop([
    fc.integer({ min: 0, max: SIZE - 1 }),
    fc.integer({ min: 0, max: SIZE - 1 }),
    fc.integer({ min: 0, max: 3 * PAGE_SIZE }),
    fc.integer({ min: 0, max: 255 }),
  ])(
    "a copy within RAM leaves memory equal to a reference memmove",
    (srcOff, dstOff, len, seed) => {
      len = Math.min(len, SIZE - srcOff, SIZE - dstOff);
      const { bus, clock, rd, wr, program } = setup([[RAM, SIZE]]);
      const reference = bytes(SIZE, seed);
      bus.writeBytes(RAM, reference);
      reference.copyWithin(dstOff, srcOff, srcOff + len);
      program(RAM + srcOff, RAM + dstOff, len);
      wr(REG.CTRL, START);
      clock.runUntilIdle();
      expect(rd(REG.STATUS)).toBe(DONE);
      expect(Buffer.from(bus.readBytes(RAM, SIZE)).equals(Buffer.from(reference))).toBe(true);
    },
  );

  test.prop([
    fc.integer({ min: 1, max: 14 }),
    fc.integer({ min: 1, max: 4 }),
    fc.integer({ min: 0, max: 16 * PAGE_SIZE - 1 }),
    fc.integer({ min: 0, max: 16 * PAGE_SIZE - 1 }),
    fc.integer({ min: 1, max: 4 * PAGE_SIZE }),
    fc.boolean(),
  ])(
    "with an unmapped hole, a transfer touching it writes nothing and reports the first address in it",
    (holePage, holePages, srcOff, dstOff, len, fill) => {
      const holeStart = RAM + holePage * PAGE_SIZE;
      const holeEnd = Math.min(holeStart + holePages * PAGE_SIZE, RAM + 15 * PAGE_SIZE);
      const end = RAM + 16 * PAGE_SIZE;
      const { bus, clock, rd, wr, program } = setup([
        [RAM, holeStart - RAM],
        [holeEnd, end - holeEnd],
      ]);
      const src = RAM + srcOff;
      const dst = RAM + dstOff;
      len = Math.min(len, end - src, end - dst);
      const hits = (a: number) => a < holeEnd && holeStart < a + len;
      fc.pre(len > 0 && ((!fill && hits(src)) || hits(dst)));

      const lowBank = bytes(holeStart - RAM, 9);
      const highBank = bytes(end - holeEnd, 10);
      bus.writeBytes(RAM, lowBank);
      bus.writeBytes(holeEnd, highBank);
      program(src, dst, len);
      wr(REG.PATTERN, 0xa5a5_a5a5);
      wr(REG.CTRL, START | (fill ? FILL : 0));
      clock.runUntilIdle();

      const readFails = !fill && hits(src);
      const status = rd(REG.STATUS);
      expect(status & (BUSY | DONE | ERROR)).toBe(ERROR);
      expect(cause(status)).toBe(readFails ? DMA_TEST_ERR_CAUSE.READ : DMA_TEST_ERR_CAUSE.WRITE);
      expect(rd(REG.ERR_ADDR_LO)).toBe(Math.max(readFails ? src : dst, holeStart));
      expect(rd(REG.ERR_ADDR_HI)).toBe(0);
      expect(Buffer.from(bus.readBytes(RAM, lowBank.length)).equals(Buffer.from(lowBank))).toBe(
        true,
      );
      expect(
        Buffer.from(bus.readBytes(holeEnd, highBank.length)).equals(Buffer.from(highBank)),
      ).toBe(true);
    },
  );
});

describe("dmaTestModel", () => {
  it("builds the engine for vfio-lab,dma-test", () => {
    const { clock, trace, bus } = setup();
    expect(dmaTestModel.compatible).toEqual(["vfio-lab,dma-test"]);
    const dev = dmaTestModel.create(
      { clock, trace, bus },
      {
        name: "dma-test@c020000",
        path: "/dma-test@c020000",
        compatible: ["vfio-lab,dma-test"],
        windows: [{ base: 0x0c02_0000, size: 0x1000 }],
      },
      { name: "dma-test@c020000", properties: [], children: [], labels: [] },
      {
        root: { name: "", properties: [], children: [], labels: [] },
        memoryReservations: [],
        bootCpuidPhys: 0,
      },
    );
    expect(dev).toBeInstanceOf(DmaTestEngine);
    expect(dev.dma).not.toBeNull();
    expect(dev.irqs.map((l) => l.name)).toEqual(["irq"]);
  });
});
