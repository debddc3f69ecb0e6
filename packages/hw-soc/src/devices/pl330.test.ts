import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { BusError } from "../core/bus-error.js";
import { VirtualClock } from "../core/clock.js";
import type { Iommu } from "../core/dma-port.js";
import { PAGE_SIZE, PhysicalMemory } from "../core/physical-memory.js";
import { SystemBus } from "../core/system-bus.js";
import { HwTrace, toJsonLines } from "../core/trace.js";
import {
  PL330_CYCLE_NS,
  Pl330,
  type Pl330Options,
  type Pl330RegisterName,
  pl330Model,
} from "./pl330.js";
import {
  pl330Asm as asm,
  type Pl330DebugInstruction,
  pl330DebugGo,
  pl330DebugInstruction,
  pl330DebugKill,
  pl330DebugSev,
  pl330Memcpy,
  pl330Program,
} from "./pl330-asm.js";
import { disassemblePl330, PL330_FAULT, pl330Ccr } from "./pl330-isa.js";

const BASE = 0x0c00_0000;
const RAM = 0x4000_0000;
const PROG = 0x4000_0000;
const SRC = 0x4010_0000;
const DST = 0x4020_0000;
const { undef_instr, operand_invalid, dbg_instr, dmago_err, data_write_err, data_read_err } =
  PL330_FAULT;

/** A toy IOMMU: IOVA page → physical page; anything unmapped terminates the transaction. */
class PageMapIommu implements Iommu {
  readonly name = "toy-iommu";
  readonly pages = new Map<number, number>();
  faults = 0;
  map(iova: number, pa: number, length: number): void {
    for (let off = 0; off < length; off += PAGE_SIZE)
      this.pages.set((iova + off) / PAGE_SIZE, (pa + off) / PAGE_SIZE);
  }
  unmap(iova: number): void {
    this.pages.delete(Math.floor(iova / PAGE_SIZE));
  }
  translate(_sid: number, iova: number, write: boolean, master: string): number | BusError {
    const pfn = this.pages.get(Math.floor(iova / PAGE_SIZE));
    if (pfn === undefined) {
      this.faults++;
      return new BusError({
        reason: "iommu",
        address: iova,
        size: 1,
        write,
        master,
        detail: "F_TRANSLATION",
      });
    }
    return pfn * PAGE_SIZE + (iova % PAGE_SIZE);
  }
}

function rig(options: Pl330Options = {}, iommu?: Iommu) {
  const memory = new PhysicalMemory();
  const bus = new SystemBus(memory);
  const clock = new VirtualClock();
  const trace = new HwTrace(() => clock.now);
  bus.addRam("ram", RAM, 0x4000_0000);
  const dev = new Pl330(
    { clock, trace, bus },
    {
      name: "pl330@c000000",
      path: "/platform-bus@c000000/pl330@c000000",
      compatible: ["arm,pl330", "arm,primecell"],
      windows: [{ base: BASE, size: 0x1000 }],
    },
    options,
  );
  bus.addMmio(dev.name, BASE, 0x1000, dev, 0);
  if (iommu) dev.dma.attach(iommu, 0x20);
  const off = (name: Pl330RegisterName, index = 0) => {
    for (const e of dev.registers.entries())
      if (e.name === name && e.index === index) return e.offset;
    throw new Error(`no register ${name}[${index}]`);
  };
  const rd = (name: Pl330RegisterName, index = 0) => bus.read(BASE + off(name, index), 4);
  const wr = (name: Pl330RegisterName, value: number, index = 0) =>
    bus.write(BASE + off(name, index), 4, value);
  /** Linux `_execute_DBGINSN`: wait for DBGSTATUS idle, load DBGINST0/1, write DBGCMD = 0. */
  const debug = (inst: Pl330DebugInstruction) => {
    expect(rd("DBGSTATUS")).toBe(0);
    wr("DBGINST0", inst.dbginst0);
    wr("DBGINST1", inst.dbginst1);
    wr("DBGCMD", 0);
  };
  /** Puts `program` at `at` and starts `channel` on it. */
  const start = (program: Uint8Array, channel = 0, at = PROG, ns = false) => {
    bus.writeBytes(at, program);
    debug(pl330DebugGo({ channel, pc: at, ns }));
  };
  const pattern = (addr: number, length: number, seed = 1) => {
    const bytes = new Uint8Array(length).map((_, i) => (i * 7 + seed + (i >> 8)) & 0xff);
    bus.writeBytes(addr, bytes);
    return bytes;
  };
  const abort = () => dev.irqs[0]!.level;
  const irq = (e: number) => dev.irqs[1 + e]!.level;
  return { memory, bus, clock, trace, dev, off, rd, wr, debug, start, pattern, abort, irq };
}

describe("PL330 registers", () => {
  it("resets every register in its table to the documented value", () => {
    const r = rig();
    for (const { name, index, offset, spec } of r.dev.registers.entries()) {
      const value = r.bus.read(BASE + offset, 4);
      expect({ name, index, value }).toEqual({
        name,
        index,
        value: spec.access === "wo" ? 0 : (spec.reset ?? 0),
      });
    }
    // Reading the write-only registers was a guest error each time.
    expect(r.dev.guestErrors).toEqual([
      "read of write-only INTCLR",
      "read of write-only DBGCMD",
      "read of write-only DBGINST0",
      "read of write-only DBGINST1",
    ]);
    expect(r.dev.irqs.map((l) => l.level)).toEqual(new Array(9).fill(false));
  });

  it("describes the QEMU-like default configuration in CR0 and CRD", () => {
    const r = rig();
    // periph_req present, 8 channels, 4 peripherals, 8 events; secure manager, no boot.
    expect(r.rd("CR0")).toBe(0x1 | (7 << 4) | (3 << 12) | (7 << 17));
    expect((r.rd("CR0") >>> 17) & 0x1f).toBe(7);
    // 64-bit bus, 8/16 read and write capability/queues, 256-byte MFIFO = 32 lines of 8 bytes.
    expect(r.rd("CRD")).toBe(3 | (7 << 4) | (15 << 8) | (7 << 12) | (15 << 16) | (31 << 20));
    expect(r.rd("CR1")).toBe(0x72);
    expect([r.rd("CR2"), r.rd("CR3"), r.rd("CR4")]).toEqual([0, 0, 0]);
  });

  it("identifies as a PrimeCell PL330 r1p1 the way Linux's amba bus checks it", () => {
    const r = rig();
    const pid = [0, 1, 2, 3].reduce(
      (v, i) => v | (r.rd(`PeriphID${i}` as Pl330RegisterName) << (8 * i)),
      0,
    );
    const cid =
      [0, 1, 2, 3].reduce(
        (v, i) => v | (r.rd(`PCellID${i}` as Pl330RegisterName) << (8 * i)),
        0,
      ) >>> 0;
    expect(pid & 0xfffff).toBe(0x41330);
    expect((pid >>> 20) & 0xf).toBe(2);
    expect(cid).toBe(0xb105f00d);
  });

  it("reports a non-secure manager and a smaller configuration when built so", () => {
    const r = rig({ managerNonSecureAtReset: true, channels: 4, events: 16, peripherals: 0 });
    expect(r.rd("DSR")).toBe(1 << 9);
    expect(r.rd("CR0")).toBe(4 | (3 << 4) | (15 << 17));
    expect(r.dev.irqs.map((l) => l.name)).toEqual([
      "abort",
      ...Array.from({ length: 16 }, (_, e) => `irq${e}`),
    ]);
    // Channel 4 does not exist: its status register is a hole.
    expect(r.bus.read(BASE + 0x100 + 4 * 8, 4)).toBe(0);
    expect(r.dev.guestErrors).toEqual(["read of unknown offset 0x120"]);
  });

  it("refuses writes to read-only registers and unknown offsets as guest errors", () => {
    const r = rig();
    r.wr("CR0", 0xffff_ffff);
    r.wr("SAR", 0x1234, 3);
    r.bus.write(BASE + 0x010, 4, 1);
    expect(r.rd("CR0")).toBe(0x000e3071);
    expect(r.rd("SAR", 3)).toBe(0);
    expect(r.dev.guestErrors).toEqual([
      "write of 0xffffffff to read-only CR0",
      "write of 0x1234 to read-only SAR",
      "write of 0x1 to unknown offset 0x10",
    ]);
  });

  it("keeps only implemented event bits in INTEN", () => {
    const r = rig();
    r.wr("INTEN", 0xffff_ffff);
    expect(r.rd("INTEN")).toBe(0xff);
  });

  it("is created by its DeviceModel for compatible arm,pl330", () => {
    const r = rig();
    expect(pl330Model.compatible).toContain("arm,pl330");
    const dev = pl330Model.create(
      { clock: r.clock, trace: r.trace, bus: r.bus },
      {
        name: "pl330@c010000",
        path: "/pl330@c010000",
        compatible: ["arm,pl330"],
        windows: [{ base: 0, size: 0x1000 }],
      },
      { name: "pl330@c010000", properties: [], children: [], labels: [] },
      {
        root: { name: "", properties: [], children: [], labels: [] },
        memoryReservations: [],
        bootCpuidPhys: 0,
      },
    );
    expect(dev).toBeInstanceOf(Pl330);
    expect(dev.irqs).toHaveLength(9);
  });
});

describe("PL330 assembler", () => {
  it("generates the reference notes' minimal 1 KiB memcpy byte for byte", () => {
    const program = pl330Memcpy({
      src: 0x8000_0000,
      dst: 0x8010_0000,
      length: 1024,
      event: 0,
      beatBytes: 4,
    });
    // biome-ignore format: the listing from the reference notes, one instruction per line
    const expected = [
      0xbc, 0x01, 0xf5, 0x40, 0x3d, 0x00,
      0xbc, 0x00, 0x00, 0x00, 0x00, 0x80,
      0xbc, 0x02, 0x00, 0x00, 0x10, 0x80,
      0x20, 0x0f,
      0x04,
      0x08,
      0x38, 0x02,
      0x13,
      0x34, 0x00,
      0x00,
    ];
    expect([...program]).toEqual(expected);
    expect(disassemblePl330(program).map((l) => l.slice(28))).toEqual([
      "DMAMOV CCR, 0x003d40f5",
      "DMAMOV SAR, 0x80000000",
      "DMAMOV DAR, 0x80100000",
      "DMALP LC0, 16",
      "DMALD",
      "DMAST",
      "DMALPEND LC0, -2",
      "DMAWMB",
      "DMASEV E0",
      "DMAEND",
    ]);
  });

  it("encodes the debug instructions Linux issues", () => {
    expect(pl330DebugGo({ channel: 3, pc: 0x4000_1000 })).toEqual({
      dbginst0: 0x03a0_0000,
      dbginst1: 0x4000_1000,
    });
    expect(pl330DebugGo({ channel: 1, pc: 0, ns: true }).dbginst0).toBe(0x01a2_0000);
    expect(pl330DebugKill(5)).toEqual({ dbginst0: 0x0001_0501, dbginst1: 0 });
    expect(pl330DebugKill()).toEqual({ dbginst0: 0x0001_0000, dbginst1: 0 });
    expect(pl330DebugSev(2)).toEqual({ dbginst0: 0x1034_0000, dbginst1: 0 });
  });

  it("nests LC0 x LC1 loops for long copies and adds tail bursts for odd lengths", () => {
    const program = pl330Memcpy({ src: SRC, dst: DST, length: 300 * 128 + 5 * 8 + 3 });
    expect(disassemblePl330(program).map((l) => l.slice(28))).toEqual([
      "DMAMOV CCR, 0x003dc0f7",
      "DMAMOV SAR, 0x40100000",
      "DMAMOV DAR, 0x40200000",
      "DMALP LC0, 1",
      "DMALP LC1, 256",
      "DMALD",
      "DMAST",
      "DMALPEND LC1, -2",
      "DMALPEND LC0, -6",
      "DMALP LC0, 44",
      "DMALD",
      "DMAST",
      "DMALPEND LC0, -2",
      "DMAMOV CCR, 0x0011c047",
      "DMALD",
      "DMAST",
      "DMAMOV CCR, 0x00084021",
      "DMALD",
      "DMAST",
      "DMAWMB",
      "DMASEV E0",
      "DMAEND",
    ]);
  });

  it("rejects operands the encoding cannot hold", () => {
    expect(() => asm.dmalp(0, 257)).toThrow(RangeError);
    expect(() => asm.dmasev(32)).toThrow(RangeError);
    expect(() => asm.loop(0, 2, new Uint8Array(256))).toThrow(RangeError);
    expect(() => pl330Ccr({ srcBeatBytes: 3 })).toThrow(RangeError);
    expect(() => pl330DebugInstruction(new Uint8Array(7))).toThrow(RangeError);
    // The PL330 issues 32-bit addresses: a 64-bit IOVA cannot be programmed.
    expect(() => asm.dmamov("SAR", 0x1_0000_0000)).toThrow(/does not fit in 32 bits/);
    expect(() => pl330DebugGo({ channel: 0, pc: 0x2_0000_0000 })).toThrow(RangeError);
    expect(() => pl330Memcpy({ src: 0xffff_f000, dst: 0, length: 0x2000 })).toThrow(
      /beyond 32 bits/,
    );
  });
});

describe("PL330 instruction decoding", () => {
  it("decodes DMASTP before the DMALPEND encodings that overlap it", () => {
    const cases: [number[], string][] = [
      [[0x29, 0x10], "DMASTPS P2"],
      [[0x2b, 0x18], "DMASTPB P3"],
      [[0x38, 0x02], "DMALPEND LC0, -2"],
      [[0x3c, 0x05], "DMALPEND LC1, -5"],
      [[0x3b, 0x02], "DMALPENDB LC0, -2"],
      [[0x28, 0x04], "DMALPFE -4"],
      [[0x2d, 0x04], "DMALPFES -4"],
      [[0x25, 0x08], "DMALDPS P1"],
      [[0x27, 0x08], "DMALDPB P1"],
      [[0x31, 0x10], "DMAWFP P2, periph"],
      [[0x36, 0x1a], "DMAWFE E3, invalid"],
      [[0x54, 0x34, 0x12], "DMAADDH SAR, 0x1234"],
      [[0x5e, 0xf0, 0xff], "DMAADNH DAR, 0xfff0"],
      [[0xa2, 0x01, 0x00, 0x10, 0x00, 0x40], "DMAGO C1, 0x40001000, ns"],
      [[0x05], "DMALDS"],
      [[0x0b], "DMASTB"],
      [[0x0c], "DMASTZ"],
    ];
    for (const [bytes, text] of cases) {
      expect(disassemblePl330(Uint8Array.from(bytes))[0]!.slice(28)).toBe(text);
    }
  });

  it("round-trips every assembler builder through the decoder", () => {
    const programs = [
      asm.dmaaddh("DAR", 0x100),
      asm.dmaadnh("SAR", -1),
      asm.dmaend(),
      asm.dmaflushp(31),
      asm.dmago(7, 0xffff_fffc, true),
      asm.dmakill(),
      asm.dmald("burst"),
      asm.dmaldp(3, "single"),
      asm.dmalp(1, 256),
      asm.dmalpend(1, 255, "single"),
      asm.dmalpfe(9, "burst"),
      asm.dmamov("DAR", 0x1234_5678),
      asm.dmanop(),
      asm.dmarmb(),
      asm.dmasev(31),
      asm.dmast("single"),
      asm.dmastp(0, "burst"),
      asm.dmastz(),
      asm.dmawfe(7, true),
      asm.dmawfp(1, "burst"),
      asm.dmawmb(),
    ];
    expect(programs.map((p) => disassemblePl330(p).map((l) => l.slice(28)))).toEqual([
      ["DMAADDH DAR, 0x0100"],
      ["DMAADNH SAR, 0xffff"],
      ["DMAEND"],
      ["DMAFLUSHP P31"],
      ["DMAGO C7, 0xfffffffc, ns"],
      ["DMAKILL"],
      ["DMALDB"],
      ["DMALDPS P3"],
      ["DMALP LC1, 256"],
      ["DMALPENDS LC1, -255"],
      ["DMALPFEB -9"],
      ["DMAMOV DAR, 0x12345678"],
      ["DMANOP"],
      ["DMARMB"],
      ["DMASEV E31"],
      ["DMASTS"],
      ["DMASTPB P0"],
      ["DMASTZ"],
      ["DMAWFE E7, invalid"],
      ["DMAWFP P1, burst"],
      ["DMAWMB"],
    ]);
  });
});

describe("PL330 memcpy through the debug interface", () => {
  it("copies 1 KiB in plain RAM and raises irq0 when INTEN has bit 0", () => {
    const r = rig();
    const data = r.pattern(SRC, 1024);
    const program = pl330Memcpy({ src: SRC, dst: DST, length: 1024, beatBytes: 4 });
    r.wr("INTEN", 1);
    r.start(program);
    // Nothing runs inside the MMIO write: the debug instruction is still pending.
    expect(r.rd("DBGSTATUS")).toBe(1);
    expect(r.rd("CSR", 0) & 0xf).toBe(0);
    r.clock.run(0);
    expect(r.rd("DBGSTATUS")).toBe(0);
    expect(r.rd("CSR", 0) & 0xf).toBe(1);
    expect(r.irq(0)).toBe(false);
    r.clock.runUntilIdle();

    expect([...r.bus.readBytes(DST, 1024)]).toEqual([...data]);
    expect(r.irq(0)).toBe(true);
    expect(r.rd("INTMIS")).toBe(1);
    expect(r.rd("INT_EVENT_RIS")).toBe(1);
    expect(r.rd("CSR", 0)).toBe(0);
    expect(r.rd("CPC", 0)).toBe(PROG + program.length);
    expect([r.rd("SAR", 0), r.rd("DAR", 0), r.rd("CCR", 0), r.rd("LC0", 0)]).toEqual([
      SRC + 1024,
      DST + 1024,
      0x003d40f5,
      0,
    ]);
    expect(r.abort()).toBe(false);

    r.wr("INTCLR", 1);
    expect(r.irq(0)).toBe(false);
    expect([r.rd("INTMIS"), r.rd("INT_EVENT_RIS")]).toEqual([0, 0]);
    expect(r.dev.guestErrors).toEqual([]);
  });

  it("charges one cycle per instruction and per beat, and signals after the work", () => {
    const r = rig();
    r.pattern(SRC, 1024);
    r.wr("INTEN", 1);
    const rec = r.trace.record();
    r.start(pl330Memcpy({ src: SRC, dst: DST, length: 1024, beatBytes: 4 }));
    r.clock.runUntilIdle();
    // 3 DMAMOV + DMALP + 16 × (DMALD 1+16, DMAST 1+16, DMALPEND 1) + DMAWMB = 565 cycles, after
    // the one cycle DMAGO takes to start the channel.
    const rise = rec.records.find((e) => e.type === "irq-line" && e.level);
    expect(rise?.time).toBe((1 + 565) * PL330_CYCLE_NS);
  });

  it("copies through an IOMMU, fetching the microcode through it too", () => {
    const iommu = new PageMapIommu();
    const r = rig({}, iommu);
    const [iProg, iSrc, iDst] = [0x1000, 0x10_0000, 0x20_0000];
    iommu.map(iProg, PROG, PAGE_SIZE);
    iommu.map(iSrc, SRC, 4 * PAGE_SIZE);
    iommu.map(iDst, DST + 0x10_0000, 4 * PAGE_SIZE);
    const data = r.pattern(SRC, 3 * PAGE_SIZE + 100);
    r.bus.writeBytes(PROG, pl330Memcpy({ src: iSrc, dst: iDst, length: data.length, event: 2 }));
    r.wr("INTEN", 4);
    r.debug(pl330DebugGo({ channel: 5, pc: iProg }));
    r.clock.runUntilIdle();
    expect([...r.bus.readBytes(DST + 0x10_0000, data.length)]).toEqual([...data]);
    expect(r.irq(2)).toBe(true);
    expect(r.rd("CSR", 5)).toBe(0);
    expect(iommu.faults).toBe(0);
  });

  it("faults the channel on a destination translation fault and writes no byte of that burst", () => {
    const iommu = new PageMapIommu();
    const r = rig({}, iommu);
    iommu.map(0x1000, PROG, PAGE_SIZE);
    iommu.map(0x10_0000, SRC, 4 * PAGE_SIZE);
    iommu.map(0x20_0000, DST, PAGE_SIZE); // the second destination page is not mapped
    const data = r.pattern(SRC, 2 * PAGE_SIZE);
    const before = r.pattern(DST, PAGE_SIZE, 99);
    // 64-byte bursts from 0x200fe0: the first one straddles into the unmapped page.
    const dst = 0x20_0000 + PAGE_SIZE - 32;
    const program = pl330Memcpy({ src: 0x10_0000, dst, length: 4096, beatBytes: 4 });
    r.bus.writeBytes(PROG, program);
    r.wr("INTEN", 1);
    r.debug(pl330DebugGo({ channel: 2, pc: 0x1000 }));
    r.clock.runUntilIdle();

    expect(r.rd("CSR", 2) & 0xf).toBe(0xf);
    expect(r.rd("FSRC")).toBe(1 << 2);
    expect(r.rd("FTR", 2)).toBe(data_write_err);
    expect(r.abort()).toBe(true);
    expect(r.irq(0)).toBe(false);
    // CPC on the DMAST; the load before it went through, the store did not.
    expect(r.rd("CPC", 2)).toBe(0x1000 + program.indexOf(0x08));
    expect([r.rd("SAR", 2), r.rd("DAR", 2), r.rd("LC0", 2)]).toEqual([0x10_0000 + 64, dst, 63]);
    expect(r.dev.snapshot(2).mfifoBytes).toBe(64);
    expect([...r.bus.readBytes(DST, PAGE_SIZE)]).toEqual([...before]);
    expect(data.length).toBe(2 * PAGE_SIZE);

    r.debug(pl330DebugKill(2));
    r.clock.run(0);
    expect(r.rd("CSR", 2)).toBe(0);
    expect([r.rd("FSRC"), r.rd("FTR", 2)]).toEqual([0, 0]);
    expect(r.abort()).toBe(false);
    expect(r.dev.snapshot(2).mfifoBytes).toBe(0);
  });

  it("faults with data_read_err when the source is unmapped, leaving SAR on the failed burst", () => {
    const iommu = new PageMapIommu();
    const r = rig({}, iommu);
    iommu.map(0x1000, PROG, PAGE_SIZE);
    iommu.map(0x10_0000, SRC, PAGE_SIZE);
    iommu.map(0x20_0000, DST, 4 * PAGE_SIZE);
    const program = pl330Memcpy({ src: 0x10_0000, dst: 0x20_0000, length: 3 * PAGE_SIZE });
    r.bus.writeBytes(PROG, program);
    r.debug(pl330DebugGo({ channel: 0, pc: 0x1000 }));
    r.clock.runUntilIdle();
    expect(r.rd("FTR", 0)).toBe(data_read_err);
    expect(r.rd("SAR", 0)).toBe(0x10_0000 + PAGE_SIZE);
    expect(r.rd("DAR", 0)).toBe(0x20_0000 + PAGE_SIZE);
    expect(r.rd("CPC", 0)).toBe(0x1000 + program.indexOf(0x04));
    expect(r.abort()).toBe(true);
  });

  it("faults with instr_fetch_err when the microcode is not mapped", () => {
    const iommu = new PageMapIommu();
    const r = rig({}, iommu);
    r.debug(pl330DebugGo({ channel: 1, pc: 0x7000 }));
    r.clock.runUntilIdle();
    expect(r.rd("FTR", 1)).toBe(PL330_FAULT.instr_fetch_err);
    expect(r.rd("CPC", 1)).toBe(0x7000);
    expect(r.rd("FSRC")).toBe(2);
  });

  it("is stopped mid-copy by DMAKILL, as Linux's _stop does", () => {
    const r = rig();
    r.pattern(SRC, 1 << 20);
    r.start(pl330Memcpy({ src: SRC, dst: DST, length: 1 << 20 }));
    r.clock.run(100_000);
    expect(r.rd("CSR", 0) & 0xf).toBe(1);
    r.debug(pl330DebugKill(0));
    r.clock.runUntilIdle();
    expect(r.rd("CSR", 0)).toBe(0);
    const dar = r.rd("DAR", 0);
    expect(dar).toBeGreaterThan(DST);
    expect(dar).toBeLessThan(DST + (1 << 20));
    expect(r.dev.snapshot(0).mfifoBytes).toBe(0);
  });
});

describe("PL330 events and interrupts", () => {
  it("keeps an event pending in INT_EVENT_RIS when no thread waits and INTEN has no bit", () => {
    const r = rig();
    r.start(pl330Program(asm.dmasev(4), asm.dmaend()));
    r.clock.runUntilIdle();
    expect(r.rd("INT_EVENT_RIS")).toBe(1 << 4);
    expect(r.rd("INTMIS")).toBe(0);
    expect(r.irq(4)).toBe(false);
    // INTCLR only clears enabled interrupts.
    r.wr("INTCLR", 1 << 4);
    expect(r.rd("INT_EVENT_RIS")).toBe(1 << 4);
  });

  it("wakes a channel waiting in DMAWFE when another channel sends that event", () => {
    const r = rig();
    r.wr("INTEN", 1 << 1);
    const waiter = pl330Program(asm.dmawfe(3), asm.dmasev(1), asm.dmaend());
    r.start(waiter, 1, PROG);
    r.clock.runUntilIdle();
    expect(r.rd("CSR", 1)).toBe(0x4 | (3 << 4));
    expect(r.rd("CPC", 1)).toBe(PROG);

    r.start(pl330Program(asm.dmasev(3), asm.dmaend()), 0, PROG + 0x100);
    r.clock.runUntilIdle();
    expect(r.rd("CSR", 1) & 0xf).toBe(0);
    expect(r.rd("CPC", 1)).toBe(PROG + waiter.length);
    expect(r.irq(1)).toBe(true);
    // The event woke a thread, so it is not left pending.
    expect(r.rd("INT_EVENT_RIS")).toBe(1 << 1);
  });

  it("lets DMAWFE consume an event sent before it", () => {
    const r = rig();
    r.debug(pl330DebugSev(6));
    r.clock.run(0);
    expect(r.rd("INT_EVENT_RIS")).toBe(1 << 6);
    r.start(pl330Program(asm.dmawfe(6), asm.dmaend()), 2);
    r.clock.runUntilIdle();
    expect(r.rd("CSR", 2)).toBe(6 << 4);
    expect(r.rd("INT_EVENT_RIS")).toBe(0);
  });

  it("faults a DMASEV of an event the controller does not have", () => {
    const r = rig();
    r.start(pl330Program(asm.dmasev(9), asm.dmaend()));
    r.clock.runUntilIdle();
    expect(r.rd("FTR", 0)).toBe(operand_invalid);
    expect(r.rd("CPC", 0)).toBe(PROG);
  });
});

describe("PL330 debug interface", () => {
  it("rejects instructions other than DMAGO, DMAKILL and DMASEV with undef_instr | dbg_instr", () => {
    const r = rig();
    r.debug(pl330DebugInstruction(asm.dmanop()));
    r.clock.run(0);
    expect(r.rd("DSR") & 0xf).toBe(0xf);
    expect(r.rd("FSRD")).toBe(1);
    expect(r.rd("FTRD")).toBe(undef_instr | dbg_instr);
    expect(r.abort()).toBe(true);

    r.debug(pl330DebugInstruction(asm.dmamov("SAR", 0), 3));
    r.clock.run(0);
    expect(r.rd("FTR", 3)).toBe(undef_instr | dbg_instr);
    expect(r.rd("FSRC")).toBe(1 << 3);

    r.debug(pl330DebugKill());
    r.clock.run(0);
    expect([r.rd("DSR"), r.rd("FSRD"), r.rd("FTRD")]).toEqual([0, 0, 0]);
    expect(r.abort()).toBe(true);
    r.debug(pl330DebugKill(3));
    r.clock.run(0);
    expect(r.abort()).toBe(false);
  });

  it("faults the manager when DMAGO names a channel that is not stopped", () => {
    const r = rig();
    r.start(pl330Program(asm.dmawfe(0), asm.dmaend()));
    r.clock.runUntilIdle();
    r.debug(pl330DebugGo({ channel: 0, pc: PROG }));
    r.clock.run(0);
    expect(r.rd("FTRD")).toBe(operand_invalid | dbg_instr);
    expect(r.rd("CSR", 0) & 0xf).toBe(4);
  });

  it("makes a DMAGO on a channel thread an undefined instruction there", () => {
    const r = rig();
    r.debug(pl330DebugInstruction(asm.dmago(1, PROG), 1));
    r.clock.run(0);
    expect(r.rd("FTR", 1)).toBe(undef_instr | dbg_instr);
    expect(r.rd("CSR", 1) & 0xf).toBe(0xf);
  });

  it("refuses a secure DMAGO from a non-secure manager with dmago_err", () => {
    const r = rig({ managerNonSecureAtReset: true });
    r.debug(pl330DebugGo({ channel: 0, pc: PROG }));
    r.clock.run(0);
    expect(r.rd("FTRD")).toBe(dmago_err | dbg_instr);
    expect(r.rd("CSR", 0)).toBe(0);
  });

  it("treats DBGCMD other than 0, and DBGCMD while busy, as guest errors", () => {
    const r = rig();
    r.bus.write(BASE + 0xd08, 4, pl330DebugSev(1).dbginst0);
    r.wr("DBGCMD", 1);
    expect(r.rd("DBGSTATUS")).toBe(0);
    r.wr("DBGCMD", 0);
    r.wr("DBGCMD", 0);
    r.clock.run(0);
    expect(r.rd("INT_EVENT_RIS")).toBe(2);
    expect(r.dev.guestErrors).toEqual([
      "DBGCMD write of 1 (only 0, execute, is defined)",
      "DBGCMD written while DBGSTATUS is busy; ignored",
    ]);
  });

  it("ignores a debug instruction other than DMAKILL to a faulting thread", () => {
    const r = rig();
    r.debug(pl330DebugInstruction(asm.dmanop()));
    r.clock.run(0);
    r.debug(pl330DebugGo({ channel: 0, pc: PROG }));
    r.clock.run(0);
    expect(r.rd("CSR", 0)).toBe(0);
    expect(r.dev.guestErrors).toEqual([
      "debug DMAGO to faulting manager ignored (only DMAKILL leaves Faulting)",
    ]);
  });
});

describe("PL330 instructions", () => {
  const run = (program: Uint8Array, options: Pl330Options = {}) => {
    const r = rig(options);
    r.start(program);
    r.clock.runUntilIdle();
    return r;
  };

  it("faults undefined opcodes with undef_instr, CPC on the opcode", () => {
    for (const opcode of [0xff, 0x06, 0x2a, 0x33, 0x14]) {
      const r = run(pl330Program(asm.dmanop(), [opcode, 0, 0, 0, 0, 0]));
      expect(r.rd("FTR", 0)).toBe(undef_instr);
      expect(r.rd("CPC", 0)).toBe(PROG + 1);
    }
  });

  it("faults DMAMOV to a register other than SAR, CCR or DAR with operand_invalid", () => {
    const r = run(Uint8Array.of(0xbc, 0x03, 0, 0, 0, 0));
    expect(r.rd("FTR", 0)).toBe(operand_invalid);
  });

  it("adds positive and negative halfwords to SAR and DAR", () => {
    const r = run(
      pl330Program(
        asm.dmamov("SAR", 0x1000),
        asm.dmamov("DAR", 0x10),
        asm.dmaaddh("SAR", 0xffff),
        asm.dmaadnh("DAR", -0x20),
        asm.dmaend(),
      ),
    );
    expect([r.rd("SAR", 0), r.rd("DAR", 0)]).toEqual([0x10fff, 0xffff_fff0]);
  });

  it("stores zeros with DMASTZ without touching the MFIFO", () => {
    const r = rig();
    r.pattern(DST, 64);
    r.start(
      pl330Program(
        asm.dmamov("CCR", pl330Ccr({ dstBeatBytes: 4, dstBurstLen: 8 })),
        asm.dmamov("DAR", DST + 8),
        asm.dmastz(),
        asm.dmaend(),
      ),
    );
    r.clock.runUntilIdle();
    const after = r.bus.readBytes(DST, 64);
    expect([...after.subarray(8, 40)]).toEqual(new Array(32).fill(0));
    expect(after[7]).not.toBe(0);
    expect(r.rd("DAR", 0)).toBe(DST + 40);
  });

  it("faults a DMAST with st_data_unavailable when the loads did not bring enough data", () => {
    const r = run(
      pl330Program(
        asm.dmamov("CCR", pl330Ccr({ srcBurstLen: 2, dstBurstLen: 4 })),
        asm.dmamov("SAR", SRC),
        asm.dmald(),
        asm.dmast(),
        asm.dmaend(),
      ),
    );
    expect(r.rd("FTR", 0)).toBe(PL330_FAULT.st_data_unavailable);
    expect(r.dev.snapshot(0).mfifoBytes).toBe(2);
  });

  it("faults a DMALD with mfifo_err when its burst does not fit the MFIFO", () => {
    const r = run(
      pl330Program(
        asm.dmamov("CCR", pl330Ccr({ srcBeatBytes: 8, srcBurstLen: 16 })),
        asm.dmamov("SAR", SRC),
        asm.dmald(),
        asm.dmald(),
        asm.dmald(),
      ),
    );
    expect(r.rd("FTR", 0)).toBe(PL330_FAULT.mfifo_err);
    expect(r.rd("SAR", 0)).toBe(SRC + 256);
    expect(r.rd("CPC", 0)).toBe(PROG + 14);
  });

  it("moves partial first beats for unaligned addresses as AXI does", () => {
    const r = rig();
    const data = r.pattern(SRC, 64);
    r.start(
      pl330Program(
        asm.dmamov(
          "CCR",
          pl330Ccr({ srcBeatBytes: 4, srcBurstLen: 4, dstBeatBytes: 4, dstBurstLen: 4 }),
        ),
        asm.dmamov("SAR", SRC + 1),
        asm.dmamov("DAR", DST + 1),
        asm.dmald(),
        asm.dmast(),
        asm.dmaend(),
      ),
    );
    r.clock.runUntilIdle();
    expect([r.rd("SAR", 0), r.rd("DAR", 0)]).toEqual([SRC + 16, DST + 16]);
    expect([...r.bus.readBytes(DST + 1, 15)]).toEqual([...data.subarray(1, 16)]);
    expect(r.bus.readBytes(DST, 1)[0]).toBe(0);
  });

  it("logs an unimplemented endian swap once per run", () => {
    const r = rig();
    r.pattern(SRC, 64);
    const ccr = pl330Ccr({ srcBeatBytes: 4, dstBeatBytes: 4, endianSwapBytes: 4 });
    r.start(
      pl330Program(
        asm.dmamov("CCR", ccr),
        asm.dmamov("SAR", SRC),
        asm.dmamov("DAR", DST),
        asm.loop(0, 8, asm.dmald(), asm.dmast()),
        asm.dmaend(),
      ),
    );
    r.clock.runUntilIdle();
    expect(r.dev.guestErrors).toEqual(["unimplemented: ch0: CCR endian swap (ES) not performed"]);
  });

  it("repeats a DMALPFE body until the channel is killed", () => {
    const r = rig();
    r.start(pl330Program(asm.dmawfe(5), asm.dmalpfe(2)));
    for (let i = 0; i < 3; i++) {
      r.clock.runUntilIdle();
      expect(r.rd("CSR", 0)).toBe(0x4 | (5 << 4));
      expect(r.rd("CPC", 0)).toBe(PROG);
      r.debug(pl330DebugSev(5));
    }
    r.clock.runUntilIdle();
    r.debug(pl330DebugKill(0));
    r.clock.runUntilIdle();
    expect(r.rd("CSR", 0)).toBe(5 << 4);
    expect(r.rd("INT_EVENT_RIS")).toBe(0);
  });

  it("ends with a guest error when data was loaded and never stored", () => {
    const r = run(pl330Program(asm.dmamov("SAR", SRC), asm.dmald(), asm.dmaend()));
    expect(r.rd("CSR", 0)).toBe(0);
    expect(r.dev.guestErrors).toEqual(["ch0: DMAEND with 1 loaded byte(s) never stored; dropped"]);
    expect(r.dev.snapshot(0).mfifoBytes).toBe(0);
  });

  it("requires non-secure CCR accesses on a non-secure channel (rdwr_err)", () => {
    const r = rig();
    r.start(pl330Memcpy({ src: SRC, dst: DST, length: 64 }), 0, PROG, true);
    r.clock.runUntilIdle();
    expect(r.rd("FTR", 0)).toBe(PL330_FAULT.rdwr_err);
    expect(r.rd("CSR", 0) >>> 21).toBe(1);

    const ok = rig();
    const data = ok.pattern(SRC, 64);
    ok.start(pl330Memcpy({ src: SRC, dst: DST, length: 64, nonSecure: true }), 0, PROG, true);
    ok.clock.runUntilIdle();
    expect([...ok.bus.readBytes(DST, 64)]).toEqual([...data]);
  });
});

describe("PL330 peripheral requests", () => {
  it("waits in DMAWFP until the peripheral asks, then transfers in its request mode", () => {
    const r = rig();
    const data = r.pattern(SRC, 64);
    const program = pl330Program(
      asm.dmamov(
        "CCR",
        pl330Ccr({ srcBeatBytes: 4, srcBurstLen: 4, dstBeatBytes: 4, dstBurstLen: 4 }),
      ),
      asm.dmamov("SAR", SRC),
      asm.dmamov("DAR", DST),
      asm.dmaflushp(2),
      asm.dmawfp(2, "periph"),
      asm.dmaldp(2, "single"),
      asm.dmaldp(2, "burst"),
      asm.dmastp(2, "single"),
      asm.dmastp(2, "burst"),
      asm.dmaend(),
    );
    r.start(program);
    r.clock.runUntilIdle();
    expect(r.rd("CSR", 0)).toBe(0x7 | (2 << 4) | (1 << 15));
    r.dev.peripheralRequest(2, "burst");
    r.clock.runUntilIdle();
    expect(r.rd("CSR", 0) & 0xf).toBe(0);
    // Burst mode: the S forms were no-ops, the B forms moved a whole burst.
    expect([...r.bus.readBytes(DST, 20)]).toEqual([...data.subarray(0, 16), 0, 0, 0, 0]);
  });

  it("keeps a request that came before the DMAWFP, and DMAFLUSHP forgets it", () => {
    const r = rig();
    r.dev.peripheralRequest(1, "single");
    r.start(pl330Program(asm.dmawfp(1, "single"), asm.dmaend()));
    r.clock.runUntilIdle();
    expect(r.rd("CSR", 0)).toBe(1 << 4);

    r.dev.peripheralRequest(1, "single");
    r.start(pl330Program(asm.dmaflushp(1), asm.dmawfp(1, "burst"), asm.dmaend()), 0, PROG + 0x100);
    r.clock.runUntilIdle();
    expect(r.rd("CSR", 0)).toBe(0x7 | (1 << 4) | (1 << 14));
  });

  it("faults a peripheral number the controller does not have", () => {
    const r = rig();
    r.start(pl330Program(asm.dmawfp(4, "single"), asm.dmaend()));
    r.clock.runUntilIdle();
    expect(r.rd("FTR", 0)).toBe(operand_invalid);
    expect(() => r.dev.peripheralRequest(4, "single")).toThrow(RangeError);
  });
});

/** Runs `program` on channel 0 behind a toy IOMMU, returning everything a guest could see. */
function runBehindIommu(
  fastPath: boolean,
  setup: { program: Uint8Array; src: number; dst: number; length: number; unmapped?: number },
) {
  const iommu = new PageMapIommu();
  const r = rig({ fastPath }, iommu);
  const iovaProg = 0x0010_0000;
  iommu.map(iovaProg, PROG, PAGE_SIZE);
  const span = (a: number, n: number) =>
    [Math.floor(a / PAGE_SIZE), Math.floor((a + Math.max(n, 1) - 1) / PAGE_SIZE)] as const;
  const physOf = new Map<number, number>();
  let next = 0x4100_0000;
  for (const [a, n] of [
    [setup.src, setup.length],
    [setup.dst, setup.length],
  ] as const) {
    const [lo, hi] = span(a, n);
    for (let p = lo; p <= hi; p++) {
      if (!physOf.has(p)) {
        physOf.set(p, next);
        iommu.map(p * PAGE_SIZE, next, PAGE_SIZE);
        next += PAGE_SIZE;
      }
    }
  }
  if (setup.unmapped !== undefined) iommu.unmap(setup.unmapped);
  for (const [p, pa] of [...physOf].filter(
    ([p]) => p * PAGE_SIZE >= setup.src && p * PAGE_SIZE < setup.src + setup.length + PAGE_SIZE,
  )) {
    r.pattern(pa, PAGE_SIZE, p);
  }
  r.bus.writeBytes(PROG, setup.program);
  r.wr("INTEN", 1);
  const rec = r.trace.record();
  r.debug(pl330DebugGo({ channel: 0, pc: iovaProg }));
  r.clock.runUntilIdle();
  rec.stop();
  const regs: Record<string, number> = {};
  for (const e of r.dev.registers.entries()) {
    if (e.spec.access !== "wo") regs[`${e.name}${e.index}`] = r.bus.read(BASE + e.offset, 4);
  }
  const frames = [...physOf.values()]
    .sort((a, b) => a - b)
    .map((pa) => [...r.bus.readBytes(pa, PAGE_SIZE)]);
  return {
    regs,
    snapshot: r.dev.snapshot(0),
    frames,
    irqs: r.dev.irqs.map((l) => l.level),
    guestErrors: r.dev.guestErrors,
    now: r.clock.now,
    batches: rec.records.filter((e) => e.type === "device" && e.event === "loop-batch").length,
  };
}

describe("PL330 loop fast path", () => {
  it("batches Linux-style nested loops and lands where the interpreter does", () => {
    const length = 1 << 18;
    const [src, dst] = [0x0100_0000, 0x0200_0000];
    const program = pl330Memcpy({ src, dst, length, beatBytes: 8, burstLength: 4 });
    const setup = { src, dst, length, program };
    const fast = runBehindIommu(true, setup);
    const slow = runBehindIommu(false, setup);
    expect(fast.batches).toBeGreaterThan(0);
    expect(slow.batches).toBe(0);
    expect({ ...fast, batches: 0 }).toEqual({ ...slow, batches: 0 });
    expect(fast.irqs[1]).toBe(true);
  });

  it("commits whole chunks before a fault and re-runs only the faulting chunk burst by burst", () => {
    const length = 512 * 1024;
    const src = 0x0100_0000;
    const dst = 0x0200_0000;
    const unmapped = dst + 300 * 1024;
    const setup = { src, dst, length, unmapped, program: pl330Memcpy({ src, dst, length }) };
    const fast = runBehindIommu(true, setup);
    const slow = runBehindIommu(false, setup);
    expect(fast.batches).toBeGreaterThan(1);
    expect({ ...fast, batches: 0 }).toEqual({ ...slow, batches: 0 });
    expect(fast.regs.FTR0).toBe(data_write_err);
    expect(fast.regs.DAR0).toBe(unmapped);
  }, 30_000);

  it("matches the interpreter when source and destination alias through the IOMMU", () => {
    const run = (fastPath: boolean) => {
      const iommu = new PageMapIommu();
      const r = rig({ fastPath }, iommu);
      iommu.map(0x1000, PROG, PAGE_SIZE);
      // Destination page n is source page n + 1: a forward copy reads what it wrote.
      iommu.map(0x10_0000, SRC, 4 * PAGE_SIZE);
      iommu.map(0x20_0000, SRC + PAGE_SIZE, 3 * PAGE_SIZE);
      r.pattern(SRC, 4 * PAGE_SIZE);
      r.bus.writeBytes(
        PROG,
        pl330Memcpy({ src: 0x10_0100, dst: 0x20_0000, length: 2 * PAGE_SIZE }),
      );
      r.debug(pl330DebugGo({ channel: 0, pc: 0x1000 }));
      r.clock.runUntilIdle();
      return { snap: r.dev.snapshot(0), mem: [...r.bus.readBytes(SRC, 4 * PAGE_SIZE)] };
    };
    expect(run(true)).toEqual(run(false));
  });

  it("matches the interpreter when the copy overwrites its own loop body", () => {
    const r = (fastPath: boolean) => {
      const x = rig({ fastPath });
      x.pattern(SRC, 4096);
      // The second pass stores over the loop body itself (bytes 20-23 of the program).
      const program = pl330Program(
        asm.dmamov(
          "CCR",
          pl330Ccr({ srcBeatBytes: 4, srcBurstLen: 4, dstBeatBytes: 4, dstBurstLen: 4 }),
        ),
        asm.dmamov("SAR", SRC),
        asm.dmamov("DAR", PROG + 4),
        asm.loop(0, 64, asm.dmald(), asm.dmast()),
        asm.dmaend(),
      );
      x.start(program);
      x.clock.runUntilIdle();
      return {
        snap: x.dev.snapshot(0),
        mem: [...x.bus.readBytes(PROG, 2048)],
        errors: x.dev.guestErrors,
      };
    };
    expect(r(true)).toEqual(r(false));
  });

  it("matches the interpreter for an overlapping forward copy within one buffer", () => {
    const r = (fastPath: boolean) => {
      const x = rig({ fastPath });
      x.pattern(SRC, 3 * PAGE_SIZE);
      x.start(pl330Memcpy({ src: SRC, dst: SRC + 24, length: 2 * PAGE_SIZE, beatBytes: 8 }));
      x.clock.runUntilIdle();
      return { snap: x.dev.snapshot(0), mem: [...x.bus.readBytes(SRC, 3 * PAGE_SIZE)] };
    };
    expect(r(true)).toEqual(r(false));
  });

  test.prop(
    [
      fc.integer({ min: 1, max: 9_000 }),
      fc.integer({ min: 0, max: PAGE_SIZE - 1 }),
      fc.integer({ min: 0, max: PAGE_SIZE - 1 }),
      fc.constantFrom(1, 2, 4, 8),
      fc.integer({ min: 1, max: 16 }),
      fc.option(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 7 })), { nil: undefined }),
    ],
    { numRuns: 40 },
  )(
    "gives the interpreter's registers, memory and IRQs for any memcpy and fault position",
    (length, srcOff, dstOff, beatBytes, burstLength, fault) => {
      const src = 0x0100_0000 + srcOff;
      const dst = 0x0200_0000 + dstOff;
      const program = pl330Memcpy({ src, dst, length, beatBytes, burstLength });
      const unmapped = fault ? (fault[0] ? src : dst) + fault[1] * PAGE_SIZE : undefined;
      const setup = { program, src, dst, length, ...(unmapped !== undefined && { unmapped }) };
      const fast = runBehindIommu(true, setup);
      const slow = runBehindIommu(false, setup);
      expect({ ...fast, batches: 0 }).toEqual({ ...slow, batches: 0 });
    },
    60_000,
  );

  test.prop(
    [
      fc.constantFrom(1, 2, 4, 8, 16, 32, 64, 128),
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 40 }),
      fc.constantFrom("ld-st", "ld-rmb-st-wmb", "ld-ld-st-st", "nop-ld-st"),
      fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
    ],
    { numRuns: 60 },
  )(
    "gives the interpreter's results for hand-written nested loop bodies",
    (burstBytes, srcShift, dstShift, cyc, outer, inner, shape, faultPage) => {
      const srcBeat = Math.min(8, burstBytes, Math.max(1, burstBytes >> srcShift));
      const dstBeat = Math.min(8, burstBytes, Math.max(1, burstBytes >> dstShift));
      if (burstBytes / srcBeat > 16 || burstBytes / dstBeat > 16) return;
      const ccr = pl330Ccr({
        srcBeatBytes: srcBeat,
        srcBurstLen: burstBytes / srcBeat,
        dstBeatBytes: dstBeat,
        dstBurstLen: burstBytes / dstBeat,
      });
      const one: Record<typeof shape, Uint8Array[]> = {
        "ld-st": [asm.dmald(), asm.dmast()],
        "ld-rmb-st-wmb": [asm.dmald(), asm.dmarmb(), asm.dmast(), asm.dmawmb()],
        "ld-ld-st-st": [asm.dmald(), asm.dmald(), asm.dmast(), asm.dmast()],
        "nop-ld-st": [asm.dmanop(), asm.dmald(), asm.dmast()],
      };
      const perPass = burstBytes * (shape === "ld-ld-st-st" ? 2 : 1) * cyc;
      if (shape === "ld-ld-st-st" && burstBytes > 128) return;
      const body = Array.from({ length: cyc }, () => one[shape]).flat();
      const src = 0x0100_0000;
      const dst = 0x0300_0000 + 64;
      const length = perPass * outer * inner;
      const program = pl330Program(
        asm.dmamov("CCR", ccr),
        asm.dmamov("SAR", src),
        asm.dmamov("DAR", dst),
        asm.loop(0, outer, asm.loop(1, inner, ...body)),
        asm.dmawmb(),
        asm.dmasev(0),
        asm.dmaend(),
      );
      const unmapped = faultPage !== undefined ? dst + faultPage * PAGE_SIZE : undefined;
      const setup = { program, src, dst, length, ...(unmapped !== undefined && { unmapped }) };
      const fast = runBehindIommu(true, setup);
      const slow = runBehindIommu(false, setup);
      expect({ ...fast, batches: 0 }).toEqual({ ...slow, batches: 0 });
    },
    60_000,
  );
});

describe("PL330 determinism", () => {
  it("produces the same trace, byte for byte, on every run", () => {
    const once = () => {
      const iommu = new PageMapIommu();
      const r = rig({}, iommu);
      iommu.map(0x1000, PROG, PAGE_SIZE);
      iommu.map(0x10_0000, SRC, 8 * PAGE_SIZE);
      iommu.map(0x20_0000, DST, 3 * PAGE_SIZE);
      r.pattern(SRC, 8 * PAGE_SIZE);
      r.bus.writeBytes(
        PROG,
        pl330Memcpy({ src: 0x10_0000, dst: 0x20_0000, length: 5 * PAGE_SIZE, event: 1 }),
      );
      r.wr("INTEN", 2);
      const rec = r.trace.record();
      r.debug(pl330DebugGo({ channel: 0, pc: 0x1000 }));
      r.clock.runUntilIdle();
      r.debug(pl330DebugKill(0));
      r.clock.runUntilIdle();
      return toJsonLines(rec.records);
    };
    const a = once();
    expect(a).toContain('"event":"fault"');
    expect(a).toContain('"line":"abort"');
    expect(once()).toBe(a);
  });
});
