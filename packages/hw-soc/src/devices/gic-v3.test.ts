import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VirtualClock } from "../core/clock.js";
import { PhysicalMemory } from "../core/physical-memory.js";
import { SystemBus } from "../core/system-bus.js";
import { HwTrace } from "../core/trace.js";
import type { DtNode } from "../devicetree/tree.js";
import {
  GICD_CTLR_ARE,
  GICD_CTLR_DS,
  GICD_CTLR_EnableGrp1,
  GICR_WAKER_ChildrenAsleep,
  GICR_WAKER_ProcessorSleep,
  GicV3,
  type GicV3Options,
  gicdTyper,
  gicV3Model,
  ICC_CTLR_EL1_CBPR,
  ICC_CTLR_EL1_EOImode,
  INTID_SPURIOUS,
  makeGicV3Model,
} from "./gic-v3.js";

const GICD = 0x0800_0000;
const GICR = 0x080a_0000;
const SGI = GICR + 0x1_0000;

const identity = {
  name: "intc@8000000",
  path: "/intc@8000000",
  compatible: ["arm,gic-v3"],
  windows: [
    { base: GICD, size: 0x1_0000 },
    { base: GICR, size: 0xf6_0000 },
  ],
};

function setup(options: GicV3Options = {}) {
  const memory = new PhysicalMemory();
  const bus = new SystemBus(memory);
  const clock = new VirtualClock();
  const trace = new HwTrace(() => clock.now);
  const ctx = { clock, trace, bus };
  bus.addRam("ram", 0x4000_0000, 0x4000_0000);
  const gic = new GicV3(ctx, identity, options);
  bus.addMmio(gic.name, GICD, 0x1_0000, gic, 0);
  bus.addMmio(`${gic.name}-gicr`, GICR, 0xf6_0000, gic, 1);
  const rd = (addr: number) => bus.read(addr, 4);
  const wr = (addr: number, v: number) => bus.write(addr, 4, v);
  const bit = (base: number, intid: number) =>
    ((rd(base + 4 * (intid >>> 5)) >>> (intid & 31)) & 1) === 1;
  /** Sets one bit in a W1S/W1C bank (ISENABLER, ICPENDR, ...), as Linux's gic_poke_irq. */
  const poke = (base: number, intid: number) => wr(base + 4 * (intid >>> 5), 1 << (intid & 31));
  /** Distributor or SGI frame, as Linux's gic_dist_base() picks. */
  const frameOf = (intid: number) => (intid < 32 ? SGI : GICD);
  const enable = (intid: number) => poke(frameOf(intid) + 0x100, intid);
  const disable = (intid: number) => poke(frameOf(intid) + 0x180, intid);
  const setPriority = (intid: number, prio: number) =>
    bus.write(frameOf(intid) + 0x400 + intid, 1, prio);
  const pending = (intid: number) => bit(frameOf(intid) + 0x200, intid);
  const active = (intid: number) => bit(frameOf(intid) + 0x300, intid);
  const setEdge = (intid: number, edge: boolean) => {
    const reg = frameOf(intid) + 0xc00 + 4 * (intid >>> 4);
    const shift = 2 * (intid & 15) + 1;
    wr(reg, edge ? rd(reg) | (1 << shift) : rd(reg) & ~(1 << shift));
  };

  /** What Linux's gic_dist_init, gic_cpu_init and gic_cpu_sys_reg_init leave behind. */
  function bootLikeLinux(eoiMode = 0) {
    wr(GICD + 0x0, 0);
    for (let i = 32; i < gic.numIrq; i += 32) wr(GICD + 0x80 + i / 8, 0xffff_ffff);
    for (let i = 32; i < gic.numIrq; i += 16) wr(GICD + 0xc00 + i / 4, 0);
    for (let i = 32; i < gic.numIrq; i += 4) wr(GICD + 0x400 + i, 0xa0a0_a0a0);
    for (let i = 32; i < gic.numIrq; i += 32) {
      wr(GICD + 0x380 + i / 8, 0xffff_ffff);
      wr(GICD + 0x180 + i / 8, 0xffff_ffff);
    }
    wr(GICD + 0x0, 0x13); // ARE_NS | EnableGrp1A | EnableGrp1 in Linux's names
    for (let i = 32; i < gic.numIrq; i++) bus.write64(GICD + 0x6000 + 8 * i, 0n);
    wr(GICR + 0x14, rd(GICR + 0x14) & ~GICR_WAKER_ProcessorSleep);
    wr(SGI + 0x80, 0xffff_ffff);
    wr(SGI + 0x380, 0xffff_ffff);
    wr(SGI + 0x180, 0xffff_0000);
    wr(SGI + 0x100, 0x0000_ffff);
    for (let i = 0; i < 32; i += 4) wr(SGI + 0x400 + i, 0xa0a0_a0a0);
    gic.cpu.pmr = 0xf0;
    gic.cpu.bpr1 = 0;
    gic.cpu.ctlr = eoiMode ? ICC_CTLR_EL1_EOImode : 0;
    gic.cpu.igrpen1 = 1;
  }

  return {
    bus,
    gic,
    trace,
    rd,
    wr,
    enable,
    disable,
    setPriority,
    pending,
    active,
    setEdge,
    poke,
    bootLikeLinux,
  };
}

describe("GICv3 register file", () => {
  it("reads the reset value of every distributor and redistributor register", () => {
    const { gic, bus } = setup();
    for (const [base, map] of [
      [GICD, gic.distributorRegisters],
      [GICR, gic.redistributorRegisters],
    ] as const) {
      for (const { name, index, offset, spec } of map.entries()) {
        if (spec.access === "wo") continue;
        const size = spec.width ?? 4;
        const value = bus.read(base + offset, size);
        expect({ name, index, value }).toEqual({ name, index, value: spec.reset ?? 0 });
      }
    }
    expect(gic.guestErrors).toEqual([]);
  });

  it("identifies itself as an Arm GICv3 in both frames (PIDR2.ArchRev = 3)", () => {
    const { rd } = setup();
    expect((rd(GICD + 0xffe8) >> 4) & 0xf).toBe(3);
    expect((rd(GICR + 0xffe8) >> 4) & 0xf).toBe(3);
    expect(rd(GICD + 0xffe0)).toBe(0x92);
    expect(rd(GICR + 0xffe0)).toBe(0x93);
    const cid = [0xfff0, 0xfff4, 0xfff8, 0xfffc].map((o, i) => rd(GICD + o) << (8 * i));
    expect(cid.reduce((a, b) => a | b) >>> 0).toBe(0xb105_f00d);
    expect(rd(GICD + 0x8)).toBe(0x43b);
    expect(rd(GICR + 0x4)).toBe(0x43b);
  });

  it("reports 224 SPIs as QEMU 7.2's virt does: ITLinesNumber = 7, IDbits = 15, no LPIs, no security", () => {
    const { rd } = setup();
    const typer = rd(GICD + 0x4);
    expect(typer).toBe(0x0378_0007);
    expect(typer & 0x1f).toBe(7); // (7 + 1) * 32 = 256 INTIDs
    expect((typer >> 17) & 1).toBe(0); // LPIS
    expect((typer >> 10) & 1).toBe(0); // SecurityExtn
    expect(rd(GICD + 0xc)).toBe(0); // TYPER2
  });

  it("sizes GICD_TYPER from the spiCount option and refuses impossible counts", () => {
    expect(setup({ spiCount: 64 }).rd(GICD + 0x4) & 0x1f).toBe(2);
    expect(gicdTyper(960) & 0x1f).toBe(30);
    for (const spiCount of [0, 31, 100, 992, 1.5]) {
      expect(() => setup({ spiCount })).toThrow(RangeError);
    }
  });

  it("has one security state: DS and ARE are RAO/WI, only the group enables are writable", () => {
    const { rd, wr, gic } = setup();
    expect(rd(GICD)).toBe(GICD_CTLR_DS | GICD_CTLR_ARE);
    wr(GICD, 0);
    expect(rd(GICD)).toBe(0x50);
    wr(GICD, 0x13);
    expect(rd(GICD)).toBe(0x53);
    wr(GICD, 0xffff_ffff);
    expect(rd(GICD)).toBe(0x53); // RWP, E1NWF, EnableGrp1S-shaped bit 2 stay 0
    // IGRPMODR and NSACR are RAZ/WI without security.
    wr(GICD + 0xd04, 0xffff_ffff);
    wr(GICD + 0xe08, 0xffff_ffff);
    wr(SGI + 0xd00, 0xffff_ffff);
    expect([rd(GICD + 0xd04), rd(GICD + 0xe08), rd(SGI + 0xd00)]).toEqual([0, 0, 0]);
    expect(gic.guestErrors).toEqual([]);
  });

  it("makes the INTID 0..31 parts of the distributor banks RAZ/WI under affinity routing", () => {
    const { rd, wr, bus } = setup();
    for (const off of [0x80, 0x100, 0x200, 0x300, 0xc00, 0xc04]) {
      wr(GICD + off, 0xffff_ffff);
      expect(rd(GICD + off)).toBe(0);
    }
    bus.write(GICD + 0x400 + 20, 1, 0x40);
    expect(bus.read(GICD + 0x400 + 20, 1)).toBe(0);
    // ...while the same INTIDs are live in the SGI frame.
    wr(SGI + 0x100, 0x0001_0000);
    expect(rd(SGI + 0x100)).toBe(0x0001_0000);
  });

  it("ignores INTIDs past the implemented SPIs", () => {
    const { rd, wr, bus } = setup();
    wr(GICD + 0x100 + 4 * 9, 0xffff_ffff); // INTIDs 288..319
    expect(rd(GICD + 0x100 + 4 * 9)).toBe(0);
    bus.write(GICD + 0x400 + 300, 1, 0x80);
    expect(bus.read(GICD + 0x400 + 300, 1)).toBe(0);
    bus.write64(GICD + 0x6000 + 8 * 300, 0x1_0000_0001n);
    expect(bus.read64(GICD + 0x6000 + 8 * 300)).toBe(0n);
  });

  it("accepts byte and word accesses to IPRIORITYR, lowest INTID in the lowest byte", () => {
    const { rd, wr, bus, gic } = setup();
    wr(GICD + 0x400 + 40, 0x4433_2211);
    expect([40, 41, 42, 43].map((i) => bus.read(GICD + 0x400 + i, 1))).toEqual([
      0x11, 0x22, 0x33, 0x44,
    ]);
    bus.write(GICD + 0x400 + 42, 1, 0xee);
    expect(rd(GICD + 0x400 + 40)).toBe(0x44ee_2211);
    bus.write(SGI + 0x400 + 27, 1, 0x80);
    expect(rd(SGI + 0x400 + 24)).toBe(0x8000_0000);
    expect(gic.guestErrors).toEqual([]);
  });

  it("logs byte and halfword accesses elsewhere as guest errors and treats them as RAZ/WI", () => {
    const { bus, rd, gic } = setup();
    expect(bus.read(GICD, 1)).toBe(0);
    expect(bus.read(GICD + 0x400, 2)).toBe(0);
    bus.write(GICD, 1, 0x3);
    bus.write(SGI + 0x100, 2, 0xffff);
    expect(rd(GICD)).toBe(0x50);
    expect(rd(SGI + 0x100)).toBe(0);
    expect(gic.guestErrors).toHaveLength(4);
    expect(gic.guestErrors[0]).toMatch(/GICD_CTLR: 1-byte read/);
  });

  it("logs writes to read-only registers and reads of reserved offsets", () => {
    const { rd, wr, gic } = setup();
    wr(GICD + 0x4, 0);
    wr(GICD + 0xffe8, 0);
    wr(GICR + 0x8, 0xffff_ffff);
    expect(rd(GICD + 0x4)).toBe(gicdTyper(224));
    expect(rd(GICR + 0x8)).toBe(0x0100_0010);
    expect(gic.guestErrors).toEqual([
      "GICD_TYPER: write to a read-only register ignored",
      "GICD_PIDR2: write to a read-only register ignored",
      "GICR_TYPER: write to a read-only register ignored",
    ]);
    expect(rd(GICD + 0x40)).toBe(0); // SETSPI_NSR: no message-based SPIs
    expect(rd(GICD + 0x6000)).toBe(0); // IROUTER<0> is reserved
    expect(rd(GICR + 0x70)).toBe(0); // PROPBASER: no LPIs
    expect(gic.guestErrors.slice(3)).toEqual([
      "GICD: 4-byte read of reserved offset 0x40",
      "GICD: 4-byte read of reserved offset 0x6000",
      "GICR: 4-byte read of reserved offset 0x70",
    ]);
  });

  it("reads GICD_SGIR as a guest error (write-only, RES0 with affinity routing)", () => {
    const { rd, wr, gic } = setup();
    wr(GICD + 0xf00, 0x0200_0001);
    expect(gic.guestErrors).toEqual([]);
    expect(rd(GICD + 0xf00)).toBe(0);
    expect(gic.guestErrors).toEqual(["GICD_SGIR: read of a write-only register; reads as 0"]);
  });

  it("has one redistributor: the rest of the 0xF60000 region reads zero and logs", () => {
    const { bus, rd, wr, gic } = setup();
    expect(bus.read64(GICR + 0x8)).toBe(0x0100_0010n); // Last = 1: Linux stops iterating here
    expect(rd(GICR + 0x2_0000 + 0xffe8)).toBe(0); // no PIDR2 for a second redistributor
    wr(GICR + 0x2_0014, 0);
    expect(rd(GICR + 0xf5_fffc)).toBe(0);
    expect(gic.guestErrors).toHaveLength(3);
    expect(gic.guestErrors[0]).toMatch(/no Redistributor in this part of the region/);
  });

  it("wakes the redistributor the way gic_enable_redist() polls for", () => {
    const { rd, wr } = setup();
    expect(rd(GICR + 0x14)).toBe(GICR_WAKER_ProcessorSleep | GICR_WAKER_ChildrenAsleep);
    wr(GICR + 0x14, rd(GICR + 0x14) & ~GICR_WAKER_ProcessorSleep);
    expect(rd(GICR + 0x14) & GICR_WAKER_ChildrenAsleep).toBe(0);
    wr(GICR + 0x14, GICR_WAKER_ProcessorSleep);
    expect(rd(GICR + 0x14)).toBe(GICR_WAKER_ProcessorSleep | GICR_WAKER_ChildrenAsleep);
    wr(GICR + 0x14, GICR_WAKER_ChildrenAsleep); // ChildrenAsleep is read-only
    expect(rd(GICR + 0x14)).toBe(0);
  });

  it("forwards nothing to the CPU interface while the redistributor is asleep", () => {
    const { gic, rd, wr, enable, bootLikeLinux } = setup();
    bootLikeLinux();
    enable(40);
    wr(GICR + 0x14, GICR_WAKER_ProcessorSleep);
    gic.setIrqLevel(40, true);
    expect(gic.cpu.irqAsserted).toBe(false);
    expect(gic.cpu.iar1()).toBe(INTID_SPURIOUS);
    wr(GICR + 0x14, 0);
    expect(gic.cpu.irqAsserted).toBe(true);
    expect(rd(GICR + 0x14)).toBe(0);
    expect(gic.cpu.iar1()).toBe(40);
  });

  it("keeps the SGI configuration fixed at edge and the PPI configuration writable", () => {
    const { rd, wr, gic } = setup();
    wr(SGI + 0xc00, 0);
    expect(rd(SGI + 0xc00)).toBe(0xaaaa_aaaa);
    wr(SGI + 0xc04, 0xffff_ffff);
    expect(rd(SGI + 0xc04)).toBe(0xaaaa_aaaa); // even bits are RES0
    wr(GICD + 0xc08, 0x5555_5557);
    expect(rd(GICD + 0xc08)).toBe(0x0000_0002);
    expect(gic.guestErrors).toEqual([]);
  });
});

describe("GICv3 interrupt delivery", () => {
  it("delivers a level interrupt, keeps it active+pending while the line is high, and re-fires after EOI", () => {
    const { gic, enable, pending, active, bootLikeLinux } = setup();
    bootLikeLinux();
    enable(40);
    expect(gic.cpu.irqAsserted).toBe(false);
    gic.setIrqLevel(40, true);
    expect(pending(40)).toBe(true);
    expect(gic.cpu.irqAsserted).toBe(true);
    expect(gic.cpu.hppir1()).toBe(40);

    expect(gic.cpu.iar1()).toBe(40);
    expect(active(40)).toBe(true);
    expect(pending(40)).toBe(true); // the line is still high: active and pending
    expect(gic.cpu.irqAsserted).toBe(false); // running priority 0xa0 blocks it
    expect(gic.cpu.rpr()).toBe(0xa0);

    // EOI with the line still high: deactivated, pending again, fires again. This is why
    // vfio-platform masks a level IRQ before it lets the handler return.
    gic.cpu.eoir1(40);
    expect(active(40)).toBe(false);
    expect(gic.cpu.rpr()).toBe(0xff);
    expect(gic.cpu.irqAsserted).toBe(true);
    expect(gic.cpu.iar1()).toBe(40);

    gic.setIrqLevel(40, false);
    expect(pending(40)).toBe(false);
    gic.cpu.eoir1(40);
    expect(gic.cpu.irqAsserted).toBe(false);
    expect(gic.cpu.iar1()).toBe(INTID_SPURIOUS);
  });

  it("does not re-fire a level interrupt that the handler masked before EOI (automask)", () => {
    const { gic, enable, disable, pending, bootLikeLinux } = setup();
    bootLikeLinux();
    enable(41);
    gic.setIrqLevel(41, true);
    expect(gic.cpu.iar1()).toBe(41);
    disable(41);
    gic.cpu.eoir1(41);
    expect(pending(41)).toBe(true);
    expect(gic.cpu.irqAsserted).toBe(false);
    gic.setIrqLevel(41, false);
    enable(41);
    expect(gic.cpu.irqAsserted).toBe(false);
  });

  it("latches one pending per rising edge, including edges that arrive while active", () => {
    const { gic, enable, setEdge, pending, active, bootLikeLinux } = setup();
    bootLikeLinux();
    setEdge(50, true);
    enable(50);
    gic.setIrqLevel(50, true);
    gic.setIrqLevel(50, false);
    expect(pending(50)).toBe(true);
    expect(gic.cpu.iar1()).toBe(50);
    expect(pending(50)).toBe(false); // acknowledge clears the edge latch

    gic.setIrqLevel(50, true);
    gic.setIrqLevel(50, false);
    gic.setIrqLevel(50, true);
    gic.setIrqLevel(50, false);
    expect(active(50) && pending(50)).toBe(true); // two edges, one latch
    gic.cpu.eoir1(50);
    expect(gic.cpu.iar1()).toBe(50);
    gic.cpu.eoir1(50);
    expect(gic.cpu.iar1()).toBe(INTID_SPURIOUS);
  });

  it("does not treat a held-high edge line as pending again after EOI", () => {
    const { gic, enable, setEdge, bootLikeLinux } = setup();
    bootLikeLinux();
    setEdge(33, true);
    enable(33);
    gic.setIrqLevel(33, true);
    expect(gic.cpu.iar1()).toBe(33);
    gic.cpu.eoir1(33);
    expect(gic.cpu.irqAsserted).toBe(false);
  });

  it("honours the ICFGR the driver programmed, switching an SPI from level to edge and back", () => {
    const { gic, enable, setEdge, pending, rd, bootLikeLinux } = setup();
    bootLikeLinux();
    enable(35);
    setEdge(35, true);
    expect(rd(GICD + 0xc00 + 4 * 2)).toBe(1 << 7);
    gic.setIrqLevel(35, true);
    expect(gic.cpu.iar1()).toBe(35);
    expect(pending(35)).toBe(false); // edge: the high line itself does not pend
    gic.cpu.eoir1(35);
    gic.setIrqLevel(35, false);
    setEdge(35, false);
    gic.setIrqLevel(35, true);
    expect(gic.cpu.iar1()).toBe(35);
    expect(pending(35)).toBe(true); // level: active and pending
  });

  it("acknowledges the highest priority first, lowest INTID on a tie", () => {
    const { gic, enable, setPriority, bootLikeLinux } = setup();
    bootLikeLinux();
    for (const [intid, prio] of [
      [60, 0x80],
      [45, 0x40],
      [70, 0x40],
      [33, 0xc0],
    ] as const) {
      setPriority(intid, prio);
      enable(intid);
      gic.setIrqLevel(intid, true);
    }
    const order: number[] = [];
    for (;;) {
      const intid = gic.cpu.iar1();
      if (intid === INTID_SPURIOUS) break;
      order.push(intid);
      gic.setIrqLevel(intid, false);
      gic.cpu.eoir1(intid);
    }
    expect(order).toEqual([45, 70, 60, 33]);
  });

  it("lets only a higher group priority preempt the running one", () => {
    const { gic, enable, setPriority, bootLikeLinux } = setup();
    bootLikeLinux();
    for (const [intid, prio] of [
      [40, 0x80],
      [41, 0x84], // same group priority as 0x80 with 5 priority bits
      [42, 0x78],
    ] as const) {
      setPriority(intid, prio);
      enable(intid);
    }
    gic.setIrqLevel(40, true);
    expect(gic.cpu.iar1()).toBe(40);
    gic.setIrqLevel(41, true);
    expect(gic.cpu.irqAsserted).toBe(false);
    expect(gic.cpu.hppir1()).toBe(41);
    expect(gic.cpu.iar1()).toBe(INTID_SPURIOUS);
    gic.setIrqLevel(42, true);
    expect(gic.cpu.irqAsserted).toBe(true);
    expect(gic.cpu.iar1()).toBe(42); // nested
    expect(gic.cpu.rpr()).toBe(0x78);
    expect(gic.cpu.ap1r0).toBe((1 << (0x80 >> 3)) | (1 << (0x78 >> 3)));
    gic.setIrqLevel(42, false);
    gic.cpu.eoir1(42);
    expect(gic.cpu.rpr()).toBe(0x80);
    gic.setIrqLevel(40, false);
    gic.cpu.eoir1(40);
    expect(gic.cpu.iar1()).toBe(41);
  });

  it("widens the group priority with a larger BPR1, or BPR0 + 1 when CBPR is set", () => {
    const { gic, enable, setPriority, bootLikeLinux } = setup();
    bootLikeLinux();
    expect(gic.cpu.bpr1).toBe(3); // Linux writes 0; the minimum for Group 1 is 3
    setPriority(40, 0x80);
    setPriority(42, 0x40);
    enable(40);
    enable(42);
    gic.cpu.bpr1 = 7; // group priority = bit 7 only
    gic.setIrqLevel(40, true);
    expect(gic.cpu.iar1()).toBe(40);
    gic.setIrqLevel(42, true);
    expect(gic.cpu.irqAsserted).toBe(true); // 0x40 has group priority 0 < 0x80's 1
    gic.cpu.ctlr = ICC_CTLR_EL1_CBPR;
    expect(gic.cpu.bpr1).toBe(3); // BPR0 (2) + 1; writes are ignored now
    gic.cpu.bpr1 = 7;
    expect(gic.cpu.bpr1).toBe(3);
  });

  it("masks interrupts whose priority is not below PMR; PMR resets to 0 and keeps 5 bits", () => {
    const { gic, enable, setPriority, bootLikeLinux } = setup();
    bootLikeLinux();
    gic.cpu.pmr = 0;
    setPriority(40, 0x80);
    enable(40);
    gic.setIrqLevel(40, true);
    expect(gic.cpu.irqAsserted).toBe(false);
    expect(gic.cpu.iar1()).toBe(INTID_SPURIOUS);
    expect(gic.cpu.hppir1()).toBe(40); // HPPIR ignores the mask
    gic.cpu.pmr = 0x80;
    expect(gic.cpu.iar1()).toBe(INTID_SPURIOUS); // 0x80 is not below 0x80
    gic.cpu.pmr = 0xff;
    expect(gic.cpu.pmr).toBe(0xf8);
    gic.cpu.pmr = 0x08; // gic_has_group0()'s probe reads back non-zero
    expect(gic.cpu.pmr).toBe(0x08);
    gic.cpu.pmr = 0x88;
    expect(gic.cpu.iar1()).toBe(40);
  });

  it("needs the interrupt enabled, Group 1, and Group 1 enabled in GICD_CTLR and ICC_IGRPEN1_EL1", () => {
    const { gic, rd, wr, enable, disable, pending, bootLikeLinux } = setup();
    bootLikeLinux();
    gic.setIrqLevel(40, true);
    expect(pending(40)).toBe(true); // pending does not depend on enable
    expect(gic.cpu.irqAsserted).toBe(false);
    enable(40);
    expect(rd(GICD + 0x104)).toBe(1 << 8);
    expect(rd(GICD + 0x184)).toBe(1 << 8);
    expect(gic.cpu.irqAsserted).toBe(true);

    wr(GICD, rd(GICD) & ~GICD_CTLR_EnableGrp1);
    expect(gic.cpu.irqAsserted).toBe(false);
    wr(GICD, rd(GICD) | GICD_CTLR_EnableGrp1);
    gic.cpu.igrpen1 = 0;
    expect(gic.cpu.irqAsserted).toBe(false);
    gic.cpu.igrpen1 = 1;
    wr(GICD + 0x84, 0); // INTIDs 32..63 to Group 0: never reaches iar1
    expect(gic.cpu.irqAsserted).toBe(false);
    expect(gic.cpu.iar1()).toBe(INTID_SPURIOUS);
    wr(GICD + 0x84, 0xffff_ffff);
    disable(40);
    expect(gic.cpu.iar1()).toBe(INTID_SPURIOUS);
  });

  it("returns the spurious INTID 1023 when nothing is pending, and ignores its EOI", () => {
    const { gic, bootLikeLinux } = setup();
    bootLikeLinux();
    expect(gic.cpu.iar1()).toBe(1023);
    expect(gic.cpu.hppir1()).toBe(1023);
    gic.cpu.eoir1(1023);
    expect(gic.guestErrors).toEqual([]);
  });

  it("pends a level interrupt from ISPENDR with its line low until acknowledged", () => {
    const { gic, poke, enable, pending, bootLikeLinux } = setup();
    bootLikeLinux();
    enable(44);
    poke(GICD + 0x200, 44);
    expect(pending(44)).toBe(true);
    expect(gic.cpu.iar1()).toBe(44);
    expect(pending(44)).toBe(false);
    gic.cpu.eoir1(44);
    expect(gic.cpu.irqAsserted).toBe(false);
  });

  it("cannot clear a level interrupt with ICPENDR while its line is high", () => {
    const { gic, poke, enable, pending, bootLikeLinux } = setup();
    bootLikeLinux();
    enable(44);
    gic.setIrqLevel(44, true);
    poke(GICD + 0x200, 44);
    poke(GICD + 0x280, 44);
    expect(pending(44)).toBe(true);
    gic.setIrqLevel(44, false);
    expect(pending(44)).toBe(false);
  });

  it("clears an edge latch with ICPENDR", () => {
    const { gic, poke, enable, setEdge, pending, bootLikeLinux } = setup();
    bootLikeLinux();
    setEdge(46, true);
    enable(46);
    gic.setIrqLevel(46, true);
    gic.setIrqLevel(46, false);
    poke(GICD + 0x280, 46);
    expect(pending(46)).toBe(false);
    expect(gic.cpu.iar1()).toBe(INTID_SPURIOUS);
  });

  it("sets and clears active state from ISACTIVER / ICACTIVER", () => {
    const { gic, poke, enable, active, bootLikeLinux } = setup();
    bootLikeLinux();
    enable(47);
    poke(GICD + 0x300, 47);
    gic.setIrqLevel(47, true);
    expect(active(47)).toBe(true);
    expect(gic.cpu.irqAsserted).toBe(false); // active interrupts are not signalled
    poke(GICD + 0x380, 47);
    expect(gic.cpu.irqAsserted).toBe(true);
  });

  it("splits priority drop from deactivation with EOImode = 1 (ICC_DIR_EL1)", () => {
    const { gic, enable, active, bootLikeLinux } = setup();
    bootLikeLinux(1);
    expect(gic.cpu.ctlr & ICC_CTLR_EL1_EOImode).toBe(ICC_CTLR_EL1_EOImode);
    enable(40);
    gic.setIrqLevel(40, true);
    expect(gic.cpu.iar1()).toBe(40);
    gic.cpu.eoir1(40); // Linux drops priority straight after the acknowledge
    expect(gic.cpu.rpr()).toBe(0xff);
    expect(active(40)).toBe(true);
    expect(gic.cpu.irqAsserted).toBe(false); // still active: not signalled again
    gic.cpu.dir(40);
    expect(active(40)).toBe(false);
    expect(gic.cpu.irqAsserted).toBe(true); // the line is still high
    expect(gic.guestErrors).toEqual([]);
  });

  it("logs ICC_DIR_EL1 with EOImode = 0 and EOIs of nothing as guest errors", () => {
    const { gic, enable, active, bootLikeLinux } = setup();
    bootLikeLinux(0);
    enable(40);
    gic.setIrqLevel(40, true);
    expect(gic.cpu.iar1()).toBe(40);
    gic.cpu.dir(40);
    expect(active(40)).toBe(true);
    gic.cpu.eoir1(40);
    gic.cpu.eoir1(40);
    gic.cpu.eoir1(5000);
    expect(gic.guestErrors).toEqual([
      "ICC_DIR_EL1: INTID 40 written while EOImode = 0; ignored",
      "ICC_EOIR1_EL1: INTID 40 with no Group 1 interrupt active; ignored",
      "ICC_EOIR1_EL1: INTID 5000 does not exist; ignored",
    ]);
  });

  it("logs an EOI or DIR of an interrupt that is not active", () => {
    const { gic, enable, bootLikeLinux } = setup();
    bootLikeLinux(1);
    enable(40);
    gic.setIrqLevel(40, true);
    expect(gic.cpu.iar1()).toBe(40);
    gic.cpu.eoir1(40);
    gic.cpu.dir(41);
    expect(gic.guestErrors).toEqual(["ICC_DIR_EL1: INTID 41 is not active"]);
  });

  it("routes SPIs by IROUTER, written as two 32-bit halves", () => {
    const { gic, bus, enable, pending, bootLikeLinux } = setup();
    bootLikeLinux();
    const irouter = GICD + 0x6000 + 8 * 40;
    bus.write64(irouter, 0xffff_ffff_ffff_ffffn);
    // Aff3 [39:32] and Aff2.Aff1.Aff0 [23:0] stick; IRM (No1N) and RES0 bits read 0.
    expect(bus.read64(irouter)).toBe(0xff_00ff_ffffn);
    enable(40);
    gic.setIrqLevel(40, true);
    expect(pending(40)).toBe(true);
    expect(gic.cpu.irqAsserted).toBe(false); // routed to a PE that does not exist
    bus.write(irouter + 4, 4, 0);
    expect(gic.cpu.irqAsserted).toBe(false);
    bus.write(irouter, 4, 0x0000_0000);
    expect(gic.cpu.irqAsserted).toBe(true); // 0.0.0.0 is CPU 0
    expect(gic.cpu.iar1()).toBe(40);
  });

  it("delivers PPIs through the SGI frame registers", () => {
    const { gic, rd, enable, setEdge, pending, bootLikeLinux } = setup();
    bootLikeLinux();
    enable(27); // the virtual timer PPI on virt
    gic.setIrqLevel(27, true);
    expect(rd(SGI + 0x200) & (1 << 27)).not.toBe(0);
    expect(gic.cpu.iar1()).toBe(27);
    gic.setIrqLevel(27, false);
    gic.cpu.eoir1(27);
    setEdge(23, true);
    expect(rd(SGI + 0xc04) & (1 << 15)).not.toBe(0);
    enable(23);
    gic.setIrqLevel(23, true);
    gic.setIrqLevel(23, false);
    expect(pending(23)).toBe(true);
    expect(gic.cpu.iar1()).toBe(23);
  });

  it("generates SGIs to itself through ICC_SGI1R_EL1 and GICR_ISPENDR0", () => {
    const { gic, poke, pending, bootLikeLinux } = setup();
    bootLikeLinux(); // SGIs 0..15 enabled, as gic_cpu_config() leaves them
    gic.cpu.sgi1r((3n << 24n) | 1n);
    expect(pending(3)).toBe(true);
    gic.cpu.sgi1r((4n << 24n) | 2n); // Aff0 = 1: no such PE
    gic.cpu.sgi1r((4n << 24n) | (1n << 40n)); // IRM: everyone but me
    expect(pending(4)).toBe(false);
    expect(gic.cpu.iar1()).toBe(3);
    gic.cpu.eoir1(3);
    poke(SGI + 0x200, 9);
    expect(gic.cpu.iar1()).toBe(9);
  });

  it("refuses inputs that are not PPIs or implemented SPIs", () => {
    const { gic } = setup();
    expect(() => gic.setIrqLevel(3, true)).toThrow(RangeError);
    expect(() => gic.setIrqLevel(256, true)).toThrow(RangeError);
    expect(() => gic.setIrqLevel(16, true)).not.toThrow();
    expect(() => gic.setIrqLevel(255, true)).not.toThrow();
    expect([15, 16, 255, 256].map((i) => gic.hasInput(i))).toEqual([false, true, true, false]);
  });

  it("reads the CPU interface's ID fields: 5 priority bits, A3V, SRE RAO", () => {
    const { gic } = setup();
    expect(gic.cpu.ctlr).toBe(0x8400);
    gic.cpu.ctlr = 0xffff_ffff;
    expect(gic.cpu.ctlr).toBe(0x8403);
    expect(gic.cpu.sre).toBe(0x7);
    gic.cpu.sre = 0;
    expect(gic.cpu.sre).toBe(0x7);
    expect(gic.cpu.igrpen1).toBe(0);
    gic.cpu.igrpen1 = 0xff;
    expect(gic.cpu.igrpen1).toBe(1);
    expect(gic.cpu.pmr).toBe(0);
    expect(gic.cpu.rpr()).toBe(0xff);
  });
});

describe("GICv3 CPU IRQ output", () => {
  it("calls listeners on every change of the IRQ input, and not otherwise", () => {
    const { gic, enable, bootLikeLinux } = setup();
    bootLikeLinux();
    const seen: boolean[] = [];
    const stop = gic.cpu.onIrqChange((level) => seen.push(level));
    enable(40);
    enable(41);
    gic.setIrqLevel(40, true);
    gic.setIrqLevel(41, true); // already asserted: no new call
    expect(seen).toEqual([true]);
    gic.cpu.iar1();
    expect(seen).toEqual([true, false]);
    gic.cpu.eoir1(40);
    expect(seen).toEqual([true, false, true]);
    stop();
    gic.cpu.iar1();
    expect(seen).toEqual([true, false, true]);
  });

  it("lets a listener acknowledge and complete from inside the notification", () => {
    const { gic, enable, setEdge, bootLikeLinux } = setup();
    bootLikeLinux();
    setEdge(50, true);
    setEdge(51, true);
    enable(50);
    enable(51);
    const handled: number[] = [];
    const levels: boolean[] = [];
    gic.cpu.onIrqChange((level) => {
      levels.push(level);
      if (!level) return;
      for (;;) {
        const intid = gic.cpu.iar1();
        if (intid === INTID_SPURIOUS) break;
        handled.push(intid);
        gic.cpu.eoir1(intid);
      }
    });
    const late: boolean[] = [];
    gic.cpu.onIrqChange((level) => late.push(level));
    gic.setIrqLevel(50, true);
    gic.setIrqLevel(51, true);
    expect(handled).toEqual([50, 51]);
    expect(gic.cpu.irqAsserted).toBe(false);
    expect(levels.at(-1)).toBe(false);
    expect(late.at(-1) ?? false).toBe(false); // never left believing the line is high
  });

  it("lowers the output on reset but keeps the input line levels", () => {
    const { gic, enable, pending, bootLikeLinux } = setup();
    bootLikeLinux();
    enable(40);
    gic.setIrqLevel(40, true);
    expect(gic.cpu.irqAsserted).toBe(true);
    gic.reset();
    expect(gic.cpu.irqAsserted).toBe(false);
    expect(pending(40)).toBe(true); // level-sensitive by reset, line still high
    bootLikeLinux();
    enable(40);
    expect(gic.cpu.iar1()).toBe(40);
  });

  it("traces acknowledge, EOI and deactivation when someone listens", () => {
    const { gic, trace, enable, bootLikeLinux } = setup();
    bootLikeLinux(1);
    enable(40);
    const rec = trace.record();
    gic.setIrqLevel(40, true);
    gic.cpu.iar1();
    gic.cpu.eoir1(40);
    gic.cpu.dir(40);
    gic.setIrqLevel(40, false);
    rec.stop();
    const events = rec.records
      .filter((r) => r.type === "device")
      .map((r) => (r.type === "device" ? [r.event, r.detail] : []));
    expect(events).toEqual([
      ["cpu-irq", { level: true }],
      ["ack", { intid: 40 }],
      ["cpu-irq", { level: false }],
      ["eoi", { intid: 40 }],
      ["dir", { intid: 40 }],
      ["cpu-irq", { level: true }],
      ["cpu-irq", { level: false }],
    ]);
  });
});

describe("GICv3 properties", () => {
  const SOURCES = [16, 32, 33, 34, 35, 36, 37] as const;
  const op = fc.oneof(
    fc.record({
      kind: fc.constant("line" as const),
      source: fc.nat(SOURCES.length - 1),
      level: fc.boolean(),
    }),
    fc.record({ kind: fc.constant("pulse" as const), source: fc.nat(SOURCES.length - 1) }),
    fc.record({ kind: fc.constant("ack" as const) }),
    fc.record({ kind: fc.constant("eoi" as const) }),
    fc.record({
      kind: fc.constant("enable" as const),
      source: fc.nat(SOURCES.length - 1),
      on: fc.boolean(),
    }),
    fc.record({ kind: fc.constant("pmr" as const), value: fc.integer({ min: 0, max: 0xff }) }),
  );
  const config = fc.array(
    fc.record({
      edge: fc.boolean(),
      priority: fc.integer({ min: 0, max: 0xe }).map((p) => p << 4),
    }),
    { minLength: SOURCES.length, maxLength: SOURCES.length },
  );

  it("never acknowledges a disabled or masked interrupt, and delivers every edge at least once", () => {
    fc.assert(
      fc.property(config, fc.array(op, { maxLength: 80 }), (cfg, ops) => {
        const t = setup();
        const { gic } = t;
        t.bootLikeLinux();
        cfg.forEach((c, i) => {
          const intid = SOURCES[i]!;
          t.setEdge(intid, c.edge);
          t.setPriority(intid, c.priority);
          t.enable(intid);
        });
        const levels = new Map<number, boolean>();
        const owed = new Set<number>(); // edges not yet followed by an acknowledge
        const stack: number[] = [];
        const drive = (intid: number, level: boolean) => {
          if (level && !levels.get(intid) && cfg[SOURCES.indexOf(intid as never)]!.edge)
            owed.add(intid);
          levels.set(intid, level);
          gic.setIrqLevel(intid, level);
        };
        const ack = () => {
          const asserted = gic.cpu.irqAsserted;
          const pmr = gic.cpu.pmr;
          const running = gic.cpu.rpr();
          const intid = gic.cpu.iar1();
          expect(intid !== INTID_SPURIOUS).toBe(asserted);
          if (intid === INTID_SPURIOUS) return;
          const prio = t.bus.read((intid < 32 ? SGI : GICD) + 0x400 + intid, 1);
          expect(t.active(intid)).toBe(true);
          expect(stack).not.toContain(intid);
          expect(prio).toBeLessThan(pmr);
          if (running !== 0xff) expect(prio & 0xf8).toBeLessThan(running & 0xf8);
          const base = intid < 32 ? SGI : GICD;
          expect(((t.rd(base + 0x100 + 4 * (intid >>> 5)) >>> (intid & 31)) & 1) === 1).toBe(true);
          owed.delete(intid);
          stack.push(intid);
        };
        for (const o of ops) {
          switch (o.kind) {
            case "line":
              drive(SOURCES[o.source]!, o.level);
              break;
            case "pulse":
              drive(SOURCES[o.source]!, true);
              drive(SOURCES[o.source]!, false);
              break;
            case "ack":
              ack();
              break;
            case "eoi": {
              const intid = stack.pop();
              if (intid !== undefined) gic.cpu.eoir1(intid);
              break;
            }
            case "enable":
              if (o.on) t.enable(SOURCES[o.source]!);
              else t.disable(SOURCES[o.source]!);
              break;
            case "pmr":
              gic.cpu.pmr = o.value;
              break;
          }
        }
        // Quiesce: lines low, everything completed and enabled, mask open; then drain.
        for (const intid of SOURCES) drive(intid, false);
        while (stack.length > 0) gic.cpu.eoir1(stack.pop()!);
        for (const intid of SOURCES) t.enable(intid);
        gic.cpu.pmr = 0xf8;
        for (let n = 0; n < 4 * SOURCES.length; n++) {
          ack();
          const intid = stack.pop();
          if (intid === undefined) break;
          gic.cpu.eoir1(intid);
        }
        expect([...owed]).toEqual([]);
        expect(gic.cpu.irqAsserted).toBe(false);
        expect(gic.guestErrors).toEqual([]);
      }),
      { numRuns: 300, seed: 0x61c3 },
    );
  });
});

describe("gicV3Model", () => {
  const node = (props: Record<string, number> = {}): DtNode => ({
    name: "intc@8000000",
    properties: Object.entries(props).map(([name, v]) => ({
      name,
      value: new Uint8Array([v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]),
    })),
    children: [],
    labels: [],
  });
  const tree = { root: node(), memoryReservations: [], bootCpuidPhys: 0 };
  const ctx = () => {
    const bus = new SystemBus(new PhysicalMemory());
    const clock = new VirtualClock();
    return { bus, clock, trace: new HwTrace(() => clock.now) };
  };

  it("builds the QEMU virt GIC from its device-tree node", () => {
    expect(gicV3Model.compatible).toEqual(["arm,gic-v3"]);
    const gic = gicV3Model.create(ctx(), identity, node({ "#redistributor-regions": 1 }), tree);
    expect(gic).toBeInstanceOf(GicV3);
    expect((gic as GicV3).spiCount).toBe(224);
    expect(gic.irqs).toEqual([]);
    expect(gic.dma).toBeNull();
  });

  it("passes options through makeGicV3Model", () => {
    const gic = makeGicV3Model({ spiCount: 64 }).create(ctx(), identity, node(), tree) as GicV3;
    expect(gic.numIrq).toBe(96);
  });

  it("refuses a node without a redistributor region or with several", () => {
    const oneWindow = { ...identity, windows: [identity.windows[0]!] };
    expect(() => gicV3Model.create(ctx(), oneWindow, node(), tree)).toThrow(/needs reg/);
    expect(() =>
      gicV3Model.create(ctx(), identity, node({ "#redistributor-regions": 2 }), tree),
    ).toThrow(/only one region/);
    const tiny = { ...identity, windows: [identity.windows[0]!, { base: GICR, size: 0x1_0000 }] };
    expect(() => gicV3Model.create(ctx(), tiny, node(), tree)).toThrow(/smaller than one/);
  });
});
