import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BusError } from "../core/bus-error.js";
import { VirtualClock } from "../core/clock.js";
import { DmaPort } from "../core/dma-port.js";
import { PhysicalMemory } from "../core/physical-memory.js";
import { SystemBus } from "../core/system-bus.js";
import { HwTrace, type HwTraceRecord } from "../core/trace.js";
import type { DtNode } from "../devicetree/tree.js";
import {
  SMMU_CERROR_ABT,
  SMMU_CERROR_ILL,
  SMMU_CMDQ_CONS_ERR_SHIFT,
  SMMU_CR0_CMDQEN,
  SMMU_CR0_EVENTQEN,
  SMMU_CR0_SMMUEN,
  SMMU_CR2_PTM,
  SMMU_CR2_RECINVSID,
  SMMU_GBPA_ABORT,
  SMMU_GBPA_UPDATE,
  SMMU_GERROR_CMDQ_ERR,
  SMMU_GERROR_EVENTQ_ABT_ERR,
  SMMU_IDR0_FIELDS,
  SMMU_IDR1_FIELDS,
  SMMU_IDR5_FIELDS,
  SMMU_IRQ_CTRL_EVENTQ_IRQEN,
  SMMU_IRQ_CTRL_GERROR_IRQEN,
  SMMU_PAGE1,
  SMMU_Q_OVERFLOW_FLAG,
  SMMU_QUEUE_BASE_HI_RWA,
  SMMU_STRTAB_BASE_HI_RA,
  SMMU_V3_REG,
  SMMU_V3_WINDOW_SIZE,
  SmmuV3,
  type SmmuV3Options,
  type SmmuV3RegisterName,
  smmuV3Model,
} from "./smmu-v3.js";
import {
  AP_RO,
  AP_RW_EL0,
  APTABLE_NO_WRITE,
  bytesToWords,
  CD_TG0_64K,
  type CdField,
  CMD_SYNC_CS_IRQ,
  CMDQ_OP,
  decodeCd,
  decodeDescriptor,
  decodeEvent,
  decodeSte,
  EVENT_CLASS_IN,
  EVENT_CLASS_TT,
  EVENT_SIZE,
  encodeBlockDescriptor,
  encodeCd,
  encodeCommand,
  encodeEvent,
  encodePageDescriptor,
  encodeSte,
  encodeTableDescriptor,
  type FieldValues,
  LEVEL_SHIFT,
  type LeafAttributes,
  readField,
  STE_CONFIG_ABORT,
  STE_CONFIG_BYPASS,
  STE_CONFIG_S1_TRANS,
  STE_CONFIG_S2_TRANS,
  STE_SHCFG_INCOMING,
} from "./smmu-v3-tables.js";

// ---------------------------------------------------------------------------------------------
// A board with RAM at 1 GiB, the SMMU at QEMU virt's address, and a driver-shaped helper set.

const BASE = 0x0905_0000;
const RAM = 0x4000_0000;
const RAM_SIZE = 0x4000_0000;
const STRTAB = 0x4010_0000;
const STRTAB_LOG2 = 8;
const CMDQ = 0x4020_0000;
const EVTQ = 0x4021_0000;
const CD_BASE = 0x4030_0000;
const PT_POOL = 0x4100_0000;
const UNMAPPED = 0x2000_0000; // nothing decodes here: every access is a bus error

interface Layout {
  readonly cmdqLog2: number;
  readonly evtqLog2: number;
}

function makeRig(options: SmmuV3Options = {}) {
  const memory = new PhysicalMemory();
  const bus = new SystemBus(memory);
  const clock = new VirtualClock();
  const trace = new HwTrace(() => clock.now);
  const ctx = { clock, trace, bus };
  bus.addRam("ram", RAM, RAM_SIZE);
  const smmu = new SmmuV3(
    ctx,
    {
      name: "smmuv3@9050000",
      path: "/smmuv3@9050000",
      compatible: ["arm,smmu-v3"],
      windows: [{ base: BASE, size: SMMU_V3_WINDOW_SIZE }],
    },
    options,
  );
  bus.addMmio(smmu.name, BASE, SMMU_V3_WINDOW_SIZE, smmu, 0);
  const pulses: Record<string, number> = {};
  smmu.irqs.forEach((line, i) => {
    line.connect(
      {
        setIrqLevel(_intid, level) {
          if (level) pulses[line.name] = (pulses[line.name] ?? 0) + 1;
        },
      },
      32 + 74 + i,
    );
  });
  const rd = (reg: SmmuV3RegisterName, half = 0) => bus.read(BASE + SMMU_V3_REG[reg] + 4 * half, 4);
  const wr = (reg: SmmuV3RegisterName, value: number, half = 0) =>
    bus.write(BASE + SMMU_V3_REG[reg] + 4 * half, 4, value >>> 0);
  /** A 64-bit register as two halves: an address plus flags of the upper half (RA, RWA). */
  const wr64 = (reg: SmmuV3RegisterName, value: number, hiFlags = 0) => {
    wr(reg, value % 2 ** 32, 0);
    wr(reg, Math.floor(value / 2 ** 32) | hiFlags, 1);
  };
  return { memory, bus, clock, trace, ctx, smmu, pulses, rd, wr, wr64 };
}
type Rig = ReturnType<typeof makeRig>;

/** Writes `value` to CR0 and waits for CR0ACK, as arm_smmu_write_reg_sync() does. */
function writeCr0Sync(r: Rig, value: number): void {
  r.wr("CR0", value);
  expect(r.rd("CR0ACK")).toBe(value);
}

/** Queues commands at CMDQ_PROD and publishes them, as arm_smmu_cmdq_issue_cmdlist() does. */
function issue(r: Rig, layout: Layout, ...cmds: Uint8Array[]): void {
  const size = 2 ** layout.cmdqLog2;
  let prod = r.rd("CMDQ_PROD");
  for (const cmd of cmds) {
    r.bus.writeBytes(CMDQ + (prod & (size - 1)) * 16, cmd);
    prod = (prod + 1) & (2 * size - 1);
  }
  r.wr("CMDQ_PROD", prod);
}

/** A command followed by CMD_SYNC, then the completion poll: CONS must catch up with PROD. */
function issueWithSync(r: Rig, layout: Layout, ...cmds: Uint8Array[]): void {
  issue(r, layout, ...cmds, encodeCommand("CMD_SYNC"));
  expect(r.rd("CMDQ_CONS")).toBe(r.rd("CMDQ_PROD"));
}

/** The arm_smmu_device_reset() sequence for a linear Stream table. */
function resetLikeLinux(r: Rig, layout: Layout = { cmdqLog2: 8, evtqLog2: 7 }): Layout {
  if (r.rd("CR0") & SMMU_CR0_SMMUEN) r.wr("GBPA", SMMU_GBPA_UPDATE | SMMU_GBPA_ABORT);
  writeCr0Sync(r, 0);
  r.wr("CR1", 0xd75); // tables and queues: inner-shareable, write-back
  r.wr("CR2", SMMU_CR2_PTM | SMMU_CR2_RECINVSID);
  r.wr64("STRTAB_BASE", STRTAB, SMMU_STRTAB_BASE_HI_RA);
  r.wr("STRTAB_BASE_CFG", STRTAB_LOG2);
  r.wr64("CMDQ_BASE", CMDQ + layout.cmdqLog2, SMMU_QUEUE_BASE_HI_RWA);
  r.wr("CMDQ_PROD", 0);
  r.wr("CMDQ_CONS", 0);
  let enables = SMMU_CR0_CMDQEN;
  writeCr0Sync(r, enables);
  issueWithSync(r, layout, encodeCommand("CMD_CFGI_STE_RANGE", { Range: 31 }));
  issueWithSync(r, layout, encodeCommand("CMD_TLBI_NSNH_ALL"));
  r.wr64("EVENTQ_BASE", EVTQ + layout.evtqLog2, SMMU_QUEUE_BASE_HI_RWA);
  r.wr("EVENTQ_PROD", 0);
  r.wr("EVENTQ_CONS", 0);
  enables |= SMMU_CR0_EVENTQEN;
  writeCr0Sync(r, enables);
  r.wr("IRQ_CTRL", 0);
  expect(r.rd("IRQ_CTRLACK")).toBe(0);
  r.wr("IRQ_CTRL", SMMU_IRQ_CTRL_GERROR_IRQEN | SMMU_IRQ_CTRL_EVENTQ_IRQEN);
  expect(r.rd("IRQ_CTRLACK")).toBe(SMMU_IRQ_CTRL_GERROR_IRQEN | SMMU_IRQ_CTRL_EVENTQ_IRQEN);
  writeCr0Sync(r, enables | SMMU_CR0_SMMUEN);
  return layout;
}

/** Stage-1 page tables in RAM, built the way io-pgtable-arm does, from a bump allocator. */
class PageTables {
  private next: number;
  readonly root: number;
  constructor(
    private readonly bus: SystemBus,
    pool: number,
    /** Level the walk starts at (0 for a 48-bit input size). */
    private readonly startLevel = 0,
  ) {
    this.next = pool;
    this.root = this.alloc();
  }

  alloc(): number {
    const table = this.next;
    this.next += 4096;
    this.bus.writeBytes(table, new Uint8Array(4096));
    return table;
  }

  slot(table: number, iova: number, level: number): number {
    return table + (Math.floor(iova / 2 ** LEVEL_SHIFT[level]!) % 512) * 8;
  }

  /** The table holding level `level`'s descriptor for `iova`, creating tables on the way. */
  tableFor(iova: number, level: number): number {
    let table = this.root;
    for (let l = this.startLevel; l < level; l++) {
      const at = this.slot(table, iova, l);
      const d = decodeDescriptor(this.bus.readBytes(at, 8), l as 0 | 1 | 2);
      if (d.kind === "table") {
        table = d.NextLevelTable;
      } else {
        const fresh = this.alloc();
        this.bus.writeBytes(at, encodeTableDescriptor(fresh));
        table = fresh;
      }
    }
    return table;
  }

  /** Address of the leaf descriptor slot for `iova` at `level`. */
  leafSlot(iova: number, level: number): number {
    return this.slot(this.tableFor(iova, level), iova, level);
  }

  mapPage(iova: number, pa: number, attrs: LeafAttributes = { AF: 1 }): void {
    this.bus.writeBytes(this.leafSlot(iova, 3), encodePageDescriptor(pa, attrs));
  }

  mapBlock(level: 1 | 2, iova: number, pa: number, attrs: LeafAttributes = { AF: 1 }): void {
    this.bus.writeBytes(this.leafSlot(iova, level), encodeBlockDescriptor(level, pa, attrs));
  }

  unmap(iova: number, level: number): void {
    this.bus.writeBytes(this.leafSlot(iova, level), new Uint8Array(8));
  }
}

/** The CD arm_smmu_make_s1_cd() writes for a 48-bit, 4 KiB-granule domain. */
function linuxCd(asid: number, ttb0: number, extra: FieldValues<CdField> = {}): Uint8Array {
  return encodeCd({
    T0SZ: 16,
    TG0: 0,
    IR0: 1,
    OR0: 1,
    SH0: 3,
    EPD1: 1,
    V: 1,
    IPS: 5,
    AA64: 1,
    R: 1,
    A: 1,
    ASET: 1,
    ASID: asid,
    TTB0: ttb0,
    MAIR0: 0x0004ff44,
    ...extra,
  });
}

function s1Ste(cdAddr: number): Uint8Array {
  return encodeSte({
    V: 1,
    Config: STE_CONFIG_S1_TRANS,
    S1ContextPtr: cdAddr,
    S1CIR: 1,
    S1COR: 1,
    S1CSH: 3,
  });
}

function writeSte(r: Rig, sid: number, ste: Uint8Array): void {
  r.bus.writeBytes(STRTAB + sid * 64, ste);
}

/** A stream `sid` translated through fresh page tables with ASID `asid`. */
function stage1Stream(r: Rig, sid: number, asid: number, cdExtra: FieldValues<CdField> = {}) {
  const pt = new PageTables(r.bus, PT_POOL + sid * 0x40_0000);
  const cd = CD_BASE + sid * 64;
  r.bus.writeBytes(cd, linuxCd(asid, pt.root, cdExtra));
  writeSte(r, sid, s1Ste(cd));
  return pt;
}

/** Event records between CONS and PROD, decoded, and consumed as arm_smmu_evtq_thread() does. */
function drainEvents(r: Rig, layout: Layout) {
  const size = 2 ** layout.evtqLog2;
  const mask = 2 * size - 1;
  const prod = r.rd("EVENTQ_PROD");
  let cons = r.rd("EVENTQ_CONS");
  const out: ReturnType<typeof decodeEvent>[] = [];
  while ((cons & mask) !== (prod & mask)) {
    out.push(decodeEvent(r.bus.readBytes(EVTQ + (cons & (size - 1)) * EVENT_SIZE, EVENT_SIZE)));
    cons = (cons + 1) & mask;
  }
  r.wr("EVENTQ_CONS", ((prod & SMMU_Q_OVERFLOW_FLAG) | (cons & mask)) >>> 0);
  return out;
}

function expectAbort(result: number | BusError, detail: string): BusError {
  expect(BusError.isInstance(result)).toBe(true);
  const e = result as BusError;
  expect(e.reason).toBe("iommu");
  expect(e.message).toContain(detail);
  return e;
}

const MIB = 2 ** 20;
const GIB = 2 ** 30;

// ---------------------------------------------------------------------------------------------

describe("SMMUv3 register interface", () => {
  it("resets every page-0 and page-1 register to its table value", () => {
    const r = makeRig();
    for (const { name, index, offset, spec } of r.smmu.registers.entries()) {
      expect(r.bus.read(BASE + offset, 4), `${name}[${index}]`).toBe(spec.reset ?? 0);
    }
    for (const { name, offset, spec } of r.smmu.page1Registers.entries()) {
      expect(r.bus.read(BASE + SMMU_PAGE1 + offset, 4), `page 1 ${name}`).toBe(spec.reset ?? 0);
    }
    expect(r.smmu.guestErrors).toEqual([]);
  });

  it("reports a stage-1, AArch64, little-endian, linear-table, 48-bit OAS, 4K-only SMMU", () => {
    const r = makeRig();
    const idr0 = [r.rd("IDR0")];
    expect(readField(idr0, SMMU_IDR0_FIELDS.S1P)).toBe(1);
    expect(readField(idr0, SMMU_IDR0_FIELDS.S2P)).toBe(0);
    expect(readField(idr0, SMMU_IDR0_FIELDS.TTF)).toBe(0b10);
    expect(readField(idr0, SMMU_IDR0_FIELDS.COHACC)).toBe(0);
    expect(readField(idr0, SMMU_IDR0_FIELDS.ASID16)).toBe(1);
    expect(readField(idr0, SMMU_IDR0_FIELDS.TTENDIAN)).toBe(0b10);
    expect(readField(idr0, SMMU_IDR0_FIELDS.STALL_MODEL)).toBe(0b01);
    expect(readField(idr0, SMMU_IDR0_FIELDS.TERM_MODEL)).toBe(1);
    expect(readField(idr0, SMMU_IDR0_FIELDS.ST_LEVEL)).toBe(0);
    expect(r.rd("IDR0")).toBe(0x0540_100a);
    const idr1 = [r.rd("IDR1")];
    expect(readField(idr1, SMMU_IDR1_FIELDS.SIDSIZE)).toBe(16);
    expect(readField(idr1, SMMU_IDR1_FIELDS.CMDQS)).toBe(19);
    expect(readField(idr1, SMMU_IDR1_FIELDS.EVENTQS)).toBe(19);
    expect(readField([r.rd("IDR5")], SMMU_IDR5_FIELDS.OAS)).toBe(5);
    expect(r.rd("IDR5")).toBe(0x15);
    expect(r.rd("AIDR")).toBe(0x01);
    expect(r.rd("GBPA")).toBe(0x1000);
  });

  it("carries QEMU's MMU-600 identification at 0xFD0-0xFFC", () => {
    const r = makeRig();
    const ids = Array.from({ length: 12 }, (_, i) => r.bus.read(BASE + 0xfd0 + 4 * i, 4));
    expect(ids).toEqual([0x04, 0, 0, 0, 0x84, 0xb4, 0xf0, 0x10, 0x0d, 0xf0, 0x05, 0xb1]);
  });

  it("sets IDR0.COHACC and IDR1.SIDSIZE from its options", () => {
    const r = makeRig({ coherent: true, sidSize: 8, cmdqShift: 10, eventqShift: 9 });
    expect(readField([r.rd("IDR0")], SMMU_IDR0_FIELDS.COHACC)).toBe(1);
    expect(readField([r.rd("IDR1")], SMMU_IDR1_FIELDS.SIDSIZE)).toBe(8);
    expect(readField([r.rd("IDR1")], SMMU_IDR1_FIELDS.CMDQS)).toBe(10);
    expect(readField([r.rd("IDR1")], SMMU_IDR1_FIELDS.EVENTQS)).toBe(9);
  });

  it("refuses impossible build options", () => {
    expect(() => makeRig({ sidSize: 33 })).toThrow(RangeError);
    expect(() => makeRig({ cmdqShift: 20 })).toThrow(RangeError);
    expect(() => makeRig({ irqNames: ["eventq", "bogus"] })).toThrow(/bogus/);
  });

  it("acknowledges CR0 and IRQ_CTRL at once and keeps only implemented bits", () => {
    const r = makeRig();
    r.wr("CR0", SMMU_CR0_CMDQEN | SMMU_CR0_EVENTQEN);
    expect(r.rd("CR0ACK")).toBe(SMMU_CR0_CMDQEN | SMMU_CR0_EVENTQEN);
    r.wr("CR0", SMMU_CR0_SMMUEN | 0x2); // PRIQEN: no PRI here
    expect(r.rd("CR0")).toBe(SMMU_CR0_SMMUEN);
    expect(r.smmu.guestErrors.at(-1)).toMatch(/CR0: RES0 bits 0x2/);
    r.wr("IRQ_CTRL", 0x7);
    expect(r.rd("IRQ_CTRLACK")).toBe(SMMU_IRQ_CTRL_GERROR_IRQEN | SMMU_IRQ_CTRL_EVENTQ_IRQEN);
    r.wr("CR2", SMMU_CR2_PTM | SMMU_CR2_RECINVSID | 1); // E2H needs IDR0.HYP
    expect(r.rd("CR2")).toBe(SMMU_CR2_PTM | SMMU_CR2_RECINVSID);
  });

  it("completes a GBPA update at once (UPDATE reads back 0) and ignores writes without UPDATE", () => {
    const r = makeRig();
    r.wr("GBPA", SMMU_GBPA_UPDATE | SMMU_GBPA_ABORT);
    expect(r.rd("GBPA")).toBe(SMMU_GBPA_ABORT);
    r.wr("GBPA", 0);
    expect(r.rd("GBPA")).toBe(SMMU_GBPA_ABORT);
    expect(r.smmu.guestErrors.at(-1)).toMatch(/without UPDATE/);
  });

  it("splits 64-bit registers into halves and drops RES0 address bits", () => {
    const r = makeRig();
    r.wr64("STRTAB_BASE", 0x1234_5678_9ac0, SMMU_STRTAB_BASE_HI_RA);
    expect(r.rd("STRTAB_BASE", 0)).toBe(0x5678_9ac0);
    expect(r.rd("STRTAB_BASE", 1)).toBe(0x4000_1234);
    r.wr("STRTAB_BASE", 0x3f); // ADDR starts at bit 6
    expect(r.rd("STRTAB_BASE", 0)).toBe(0);
    r.wr64("CMDQ_BASE", 0x8_4000_1007);
    expect([r.rd("CMDQ_BASE", 0), r.rd("CMDQ_BASE", 1)]).toEqual([0x4000_1007, 0x8]);
  });

  it("places EVENTQ_PROD/CONS in page 1 and aliases them at page 0", () => {
    const r = makeRig();
    r.wr("EVENTQ_CONS", 5);
    expect(r.bus.read(BASE + 0xac, 4)).toBe(5);
    r.bus.write(BASE + 0xa8, 4, 3);
    expect(r.bus.read(BASE + SMMU_PAGE1 + 0xa8, 4)).toBe(3);
  });

  it("reads unimplemented offsets as zero and refuses read-only writes, as guest errors", () => {
    const r = makeRig();
    expect(r.bus.read(BASE + 0xc0, 4)).toBe(0); // PRIQ_BASE: no PRI
    expect(r.bus.read(BASE + SMMU_PAGE1 + 0x20, 4)).toBe(0);
    r.wr("IDR0", 0);
    r.wr("GERROR", 1);
    expect(r.rd("IDR0")).toBe(0x0540_100a);
    expect(r.rd("GERROR")).toBe(0);
    expect(r.smmu.guestErrors).toHaveLength(4);
    r.wr("GERROR_IRQ_CFG0", 0); // Linux clears the MSI registers unconditionally: not an error
    expect(r.smmu.guestErrors).toHaveLength(4);
    r.wr("EVENTQ_IRQ_CFG1", 0x1234);
    expect(r.smmu.guestErrors.at(-1)).toMatch(/RES0 without MSI/);
  });

  it("ignores guarded registers while their enable is set", () => {
    const r = makeRig();
    r.wr64("CMDQ_BASE", CMDQ + 4);
    r.wr("CR0", SMMU_CR0_CMDQEN);
    r.wr64("CMDQ_BASE", 0x5000_0004);
    expect(r.rd("CMDQ_BASE")).toBe(CMDQ + 4);
    r.wr("CMDQ_CONS", 3);
    expect(r.rd("CMDQ_CONS")).toBe(0);
    r.wr("CR0", SMMU_CR0_SMMUEN);
    r.wr("STRTAB_BASE_CFG", 4);
    expect(r.rd("STRTAB_BASE_CFG")).toBe(0);
    expect(r.smmu.guestErrors.filter((m) => /while CR0/.test(m))).toHaveLength(4);
  });

  it("goes back to reset values on reset()", () => {
    const r = makeRig({ abortWhenDisabled: true });
    resetLikeLinux(r);
    r.smmu.reset();
    for (const { offset, spec } of r.smmu.registers.entries()) {
      expect(r.bus.read(BASE + offset, 4)).toBe(spec.reset ?? 0);
    }
    expect(r.rd("GBPA")).toBe(0x1000 | SMMU_GBPA_ABORT);
  });
});

describe("SMMUv3 stage-1 translation", () => {
  it("translates 4 KiB pages, 2 MiB and 1 GiB blocks after Linux's reset sequence", () => {
    const r = makeRig();
    resetLikeLinux(r);
    const pt = stage1Stream(r, 3, 7);
    pt.mapPage(0x1234_5000, 0x5000_0000, { AF: 1, AP: AP_RW_EL0 });
    pt.mapBlock(2, 0x8060_0000, 0x6020_0000, { AF: 1 });
    pt.mapBlock(1, 0x7_c000_0000, 0x4000_0000, { AF: 1, AP: AP_RO });
    const rec = r.trace.record();
    expect(r.smmu.translate(3, 0x1234_5abc, false, "dev")).toBe(0x5000_0abc);
    expect(r.smmu.translate(3, 0x1234_5abc, true, "dev")).toBe(0x5000_0abc);
    expect(r.smmu.translate(3, 0x8060_0000 + 0x1f_fff8, true, "dev")).toBe(0x6020_0000 + 0x1f_fff8);
    expect(r.smmu.translate(3, 0x7_c000_0000 + 0x3abc_d123, false, "dev")).toBe(0x7abc_d123);
    rec.stop();
    const vias = rec.records.flatMap((x) => (x.type === "iommu-translate" ? [x.via] : []));
    expect(vias).toEqual(["walk", "iotlb", "walk", "walk"]);
    expect(r.rd("EVENTQ_PROD")).toBe(0);
    expect(r.smmu.guestErrors).toEqual([]);
  });

  it("moves a device's DMA to the physical pages the tables name", () => {
    const r = makeRig();
    resetLikeLinux(r);
    const pt = stage1Stream(r, 1, 1);
    pt.mapPage(0x1000, 0x5555_3000);
    pt.mapPage(0x2000, 0x4444_7000);
    const port = new DmaPort("dma-test", r.bus, r.trace);
    port.attach(r.smmu, 1);
    const data = Uint8Array.from({ length: 6000 }, (_, i) => i & 0xff);
    expect(port.write(0x1800, data)).toBeUndefined();
    expect(r.bus.readBytes(0x5555_3800, 2048)).toEqual(data.subarray(0, 2048));
    expect(r.bus.readBytes(0x4444_7000, 3952)).toEqual(data.subarray(2048));
    const e = port.write(0x2f00, new Uint8Array(0x200)); // runs into the unmapped 0x3000 page
    expect(e?.reason).toBe("iommu");
  });

  it("starts the walk at level 1 or 2 for smaller input sizes", () => {
    const r = makeRig();
    resetLikeLinux(r);
    for (const [sid, t0sz, start] of [
      [4, 25, 1],
      [5, 34, 2],
    ] as const) {
      const pt = new PageTables(r.bus, PT_POOL + sid * 0x40_0000, start);
      pt.mapPage(0x3000_5000, 0x5000_1000);
      r.bus.writeBytes(CD_BASE + sid * 64, linuxCd(sid, pt.root, { T0SZ: t0sz }));
      writeSte(r, sid, s1Ste(CD_BASE + sid * 64));
      expect(r.smmu.translate(sid, 0x3000_5004, false, "dev")).toBe(0x5000_1004);
    }
  });

  it("honours APTable[1] as no-write for everything below the table", () => {
    const r = makeRig();
    resetLikeLinux(r);
    const pt = stage1Stream(r, 2, 2);
    pt.mapPage(0x4000, 0x5000_0000);
    const l2 = pt.slot(pt.tableFor(0x4000, 2), 0x4000, 2);
    const l3 = decodeDescriptor(r.bus.readBytes(l2, 8), 2);
    if (l3.kind !== "table") throw new Error("expected a table");
    r.bus.writeBytes(l2, encodeTableDescriptor(l3.NextLevelTable, { APTable: APTABLE_NO_WRITE }));
    expect(r.smmu.translate(2, 0x4000, false, "dev")).toBe(0x5000_0000);
    expectAbort(r.smmu.translate(2, 0x4000, true, "dev"), "F_PERMISSION");
  });

  it("bypasses or aborts per STE.Config, recording no event for abort", () => {
    const r = makeRig();
    const layout = resetLikeLinux(r);
    writeSte(r, 10, encodeSte({ V: 1, Config: STE_CONFIG_BYPASS, SHCFG: STE_SHCFG_INCOMING }));
    writeSte(r, 11, encodeSte({ V: 1, Config: STE_CONFIG_ABORT }));
    const rec = r.trace.record();
    expect(r.smmu.translate(10, 0x1234_5678, true, "dev")).toBe(0x1234_5678);
    expectAbort(r.smmu.translate(11, 0x1000, false, "dev"), "STE.Config=abort");
    rec.stop();
    expect(drainEvents(r, layout)).toEqual([]);
    expect(rec.records.find((x) => x.type === "iommu-translate")).toMatchObject({ via: "bypass" });
  });

  it("follows GBPA while SMMUEN = 0", () => {
    const r = makeRig();
    expect(r.smmu.translate(0, 0x4000_1000, false, "dev")).toBe(0x4000_1000);
    r.wr("GBPA", SMMU_GBPA_UPDATE | SMMU_GBPA_ABORT);
    expectAbort(r.smmu.translate(0, 0x4000_1000, false, "dev"), "GBPA.ABORT");
    const denying = makeRig({ abortWhenDisabled: true });
    expectAbort(denying.smmu.translate(0, 0, true, "dev"), "GBPA.ABORT");
  });
});

describe("SMMUv3 faults", () => {
  interface FaultCase {
    readonly event: string;
    readonly setup: (r: Rig, pt: PageTables) => void;
    readonly iova: number;
    readonly write: boolean;
    readonly cls?: number;
    readonly fetch?: number;
  }
  const cases: FaultCase[] = [
    { event: "F_TRANSLATION", setup: () => {}, iova: 0x9000, write: false, cls: EVENT_CLASS_IN },
    {
      event: "F_TRANSLATION",
      setup: (r) => r.bus.writeBytes(CD_BASE + 20 * 64, linuxCd(9, PT_POOL, { T0SZ: 32 })),
      iova: 2 ** 32 + 0x1000,
      write: true,
      cls: EVENT_CLASS_IN,
    },
    {
      event: "F_PERMISSION",
      setup: (_r, pt) => pt.mapPage(0x9000, 0x5000_0000, { AF: 1, AP: AP_RO }),
      iova: 0x9010,
      write: true,
      cls: EVENT_CLASS_IN,
    },
    {
      event: "F_ACCESS",
      setup: (_r, pt) => pt.mapPage(0x9000, 0x5000_0000, { AF: 0, AP: AP_RO }),
      iova: 0x9010,
      write: true, // AF is checked before the permission that would also fail
      cls: EVENT_CLASS_IN,
    },
    {
      event: "F_ADDR_SIZE",
      setup: (r, pt) => {
        r.bus.writeBytes(CD_BASE + 20 * 64, linuxCd(9, pt.root, { IPS: 0 })); // 32-bit output
        pt.mapPage(0x9000, 0x1_4000_0000);
      },
      iova: 0x9000,
      write: false,
      cls: EVENT_CLASS_IN,
    },
    {
      event: "F_WALK_EABT",
      setup: (r, pt) =>
        r.bus.writeBytes(pt.slot(pt.root, 0x9000, 0), encodeTableDescriptor(UNMAPPED)),
      iova: 0x9000,
      write: true,
      cls: EVENT_CLASS_TT,
      fetch: UNMAPPED,
    },
    {
      event: "F_CD_FETCH",
      setup: (r) => writeSte(r, 20, s1Ste(UNMAPPED + 0x40)),
      iova: 0x9000,
      write: false,
      fetch: UNMAPPED + 0x40,
    },
    {
      event: "C_BAD_CD",
      setup: (r, pt) =>
        r.bus.writeBytes(CD_BASE + 20 * 64, linuxCd(9, pt.root, { TG0: CD_TG0_64K })),
      iova: 0x9000,
      write: false,
    },
    {
      event: "C_BAD_STE",
      setup: (r) => writeSte(r, 20, encodeSte({ V: 0, Config: STE_CONFIG_BYPASS })),
      iova: 0x9000,
      write: false,
    },
    {
      event: "C_BAD_STE",
      setup: (r) => writeSte(r, 20, encodeSte({ V: 1, Config: STE_CONFIG_S2_TRANS })),
      iova: 0x9000,
      write: false,
    },
    {
      event: "C_BAD_STE",
      setup: (r) => writeSte(r, 20, encodeSte({ V: 1, Config: 0b010 })),
      iova: 0x9000,
      write: false,
    },
  ];

  it.each(cases)("$event ends to end: record in memory, PROD, IRQ, BusError", (c) => {
    const r = makeRig();
    const layout = resetLikeLinux(r);
    const pt = stage1Stream(r, 20, 9);
    c.setup(r, pt);
    const before = r.pulses.eventq ?? 0;
    const rec = r.trace.record();
    const e = expectAbort(r.smmu.translate(20, c.iova, c.write, "pl330"), c.event);
    rec.stop();
    expect(e.address).toBe(c.iova);
    expect(e.write).toBe(c.write);
    expect(e.master).toBe("pl330");
    expect(r.rd("EVENTQ_PROD")).toBe(1);
    expect(r.pulses.eventq).toBe(before + 1);
    const raw = r.bus.readBytes(EVTQ, EVENT_SIZE);
    const [event] = drainEvents(r, layout);
    expect(event).toMatchObject({ name: c.event, StreamID: 20, FetchAddr: c.fetch ?? 0 });
    if (c.cls !== undefined) {
      expect(event).toMatchObject({
        RnW: c.write ? 0 : 1,
        InD: 0,
        PnU: 1,
        S2: 0,
        CLASS: c.cls,
        InputAddr: c.iova,
      });
    } else {
      expect(event?.InputAddr).toBe(0);
    }
    // Byte-exact against the encoder fed the architecture's field names.
    expect(raw[0]).toBe(event?.EventType);
    expect(bytesToWords(raw)[1]).toBe(20);
    expect(rec.records).toContainEqual(
      expect.objectContaining({
        type: "iommu-event",
        event: c.event,
        streamId: 20,
        recorded: true,
      }),
    );
  });

  it("reports F_STE_FETCH with the STE's address when the Stream table is not memory", () => {
    const r = makeRig();
    const layout = resetLikeLinux(r);
    r.wr("CR0", SMMU_CR0_CMDQEN | SMMU_CR0_EVENTQEN);
    r.wr64("STRTAB_BASE", UNMAPPED);
    r.wr("CR0", SMMU_CR0_CMDQEN | SMMU_CR0_EVENTQEN | SMMU_CR0_SMMUEN);
    expectAbort(r.smmu.translate(2, 0, false, "dev"), "F_STE_FETCH");
    expect(drainEvents(r, layout)).toMatchObject([
      { name: "F_STE_FETCH", StreamID: 2, FetchAddr: UNMAPPED + 2 * 64 },
    ]);
  });

  it("reports C_BAD_STREAMID for a StreamID beyond the table, only with CR2.RECINVSID", () => {
    const r = makeRig();
    const layout = resetLikeLinux(r);
    expectAbort(r.smmu.translate(2 ** STRTAB_LOG2, 0x1000, false, "dev"), "C_BAD_STREAMID");
    expect(drainEvents(r, layout)).toMatchObject([{ name: "C_BAD_STREAMID", StreamID: 256 }]);
    r.wr("CR0", SMMU_CR0_CMDQEN | SMMU_CR0_EVENTQEN);
    r.wr("CR2", SMMU_CR2_PTM);
    r.wr("CR0", SMMU_CR0_CMDQEN | SMMU_CR0_EVENTQEN | SMMU_CR0_SMMUEN);
    expectAbort(r.smmu.translate(300, 0x1000, false, "dev"), "C_BAD_STREAMID");
    expect(drainEvents(r, layout)).toEqual([]);
  });

  it("records translation-class faults only when CD.R = 1, but terminates them anyway", () => {
    const r = makeRig();
    const layout = resetLikeLinux(r);
    stage1Stream(r, 5, 5, { R: 0 });
    const rec = r.trace.record();
    expectAbort(r.smmu.translate(5, 0x7000, false, "dev"), "F_TRANSLATION");
    rec.stop();
    expect(drainEvents(r, layout)).toEqual([]);
    expect(r.pulses.eventq).toBeUndefined();
    expect(rec.records).toContainEqual(
      expect.objectContaining({ type: "iommu-event", recorded: false }),
    );
    // Configuration errors are recorded whatever CD.R says.
    r.bus.writeBytes(CD_BASE + 5 * 64, linuxCd(5, PT_POOL, { R: 0, V: 0 }));
    issueWithSync(r, layout, encodeCommand("CMD_CFGI_CD", { StreamID: 5, Leaf: 1 }));
    expectAbort(r.smmu.translate(5, 0x7000, false, "dev"), "C_BAD_CD");
    expect(drainEvents(r, layout)).toMatchObject([{ name: "C_BAD_CD", StreamID: 5 }]);
  });

  it("takes no Access flag fault when CD.AFFD = 1", () => {
    const r = makeRig();
    resetLikeLinux(r);
    const pt = stage1Stream(r, 6, 6, { AFFD: 1 });
    pt.mapPage(0x6000, 0x5000_6000, { AF: 0 });
    expect(r.smmu.translate(6, 0x6008, true, "dev")).toBe(0x5000_6008);
  });

  it("faults every TTB0 miss when CD.EPD0 = 1", () => {
    const r = makeRig();
    resetLikeLinux(r);
    const pt = stage1Stream(r, 6, 6, { EPD0: 1 });
    pt.mapPage(0x6000, 0x5000_6000);
    expectAbort(r.smmu.translate(6, 0x6000, false, "dev"), "F_TRANSLATION");
  });

  it("drops events (and raises nothing) while EVENTQEN = 0", () => {
    const r = makeRig();
    resetLikeLinux(r);
    r.wr("CR0", SMMU_CR0_CMDQEN | SMMU_CR0_SMMUEN);
    stage1Stream(r, 1, 1);
    expectAbort(r.smmu.translate(1, 0x1000, false, "dev"), "F_TRANSLATION");
    expect(r.rd("EVENTQ_PROD")).toBe(0);
    expect(r.pulses.eventq).toBeUndefined();
  });

  it("raises GERROR.EVENTQ_ABT_ERR when the event queue is not memory", () => {
    const r = makeRig();
    resetLikeLinux(r);
    r.wr("CR0", SMMU_CR0_CMDQEN | SMMU_CR0_SMMUEN);
    r.wr64("EVENTQ_BASE", UNMAPPED + 4);
    r.wr("CR0", SMMU_CR0_CMDQEN | SMMU_CR0_EVENTQEN | SMMU_CR0_SMMUEN);
    stage1Stream(r, 1, 1);
    expectAbort(r.smmu.translate(1, 0x1000, false, "dev"), "F_TRANSLATION");
    expect(r.rd("GERROR") ^ r.rd("GERRORN")).toBe(SMMU_GERROR_EVENTQ_ABT_ERR);
    expect(r.pulses.gerror).toBe(1);
    expect(r.rd("EVENTQ_PROD")).toBe(0);
  });
});

describe("SMMUv3 caches", () => {
  it("keeps a stale IOTLB entry until CMD_TLBI_NH_VA + CMD_SYNC", () => {
    const r = makeRig();
    const layout = resetLikeLinux(r);
    const pt = stage1Stream(r, 1, 42);
    pt.mapPage(0x10_0000, 0x5000_0000);
    expect(r.smmu.translate(1, 0x10_0010, false, "dev")).toBe(0x5000_0010);
    pt.mapPage(0x10_0000, 0x5100_0000);
    expect(r.smmu.translate(1, 0x10_0010, false, "dev")).toBe(0x5000_0010);
    // Neither another ASID nor another page touches it.
    issueWithSync(r, layout, encodeCommand("CMD_TLBI_NH_VA", { ASID: 41, Address: 0x10_0000 }));
    issueWithSync(r, layout, encodeCommand("CMD_TLBI_NH_VA", { ASID: 42, Address: 0x10_1000 }));
    expect(r.smmu.translate(1, 0x10_0010, false, "dev")).toBe(0x5000_0010);
    issueWithSync(
      r,
      layout,
      encodeCommand("CMD_TLBI_NH_VA", { ASID: 42, Address: 0x10_0000, Leaf: 1 }),
    );
    expect(r.smmu.translate(1, 0x10_0010, false, "dev")).toBe(0x5100_0010);
  });

  it("keeps translating an unmapped page until it is invalidated, then faults", () => {
    const r = makeRig();
    const layout = resetLikeLinux(r);
    const pt = stage1Stream(r, 1, 3);
    pt.mapBlock(2, 0x20_0000, 0x6000_0000);
    expect(r.smmu.translate(1, 0x20_0000, true, "dev")).toBe(0x6000_0000);
    pt.unmap(0x20_0000, 2);
    expect(r.smmu.translate(1, 0x3f_ffff, true, "dev")).toBe(0x601f_ffff);
    // A VA anywhere inside the 2 MiB block hits the block entry.
    issueWithSync(r, layout, encodeCommand("CMD_TLBI_NH_VA", { ASID: 3, Address: 0x2a_b000 }));
    expectAbort(r.smmu.translate(1, 0x20_0000, false, "dev"), "F_TRANSLATION");
  });

  it("caches permissions with the entry", () => {
    const r = makeRig();
    const layout = resetLikeLinux(r);
    const pt = stage1Stream(r, 1, 3);
    pt.mapPage(0x5000, 0x5000_5000, { AF: 1, AP: AP_RO });
    expect(r.smmu.translate(1, 0x5000, false, "dev")).toBe(0x5000_5000);
    pt.mapPage(0x5000, 0x5000_5000, { AF: 1 });
    expectAbort(r.smmu.translate(1, 0x5000, true, "dev"), "F_PERMISSION");
    issueWithSync(r, layout, encodeCommand("CMD_TLBI_NH_ASID", { ASID: 3 }));
    expect(r.smmu.translate(1, 0x5000, true, "dev")).toBe(0x5000_5000);
  });

  it.each([
    ["CMD_TLBI_NH_ASID", encodeCommand("CMD_TLBI_NH_ASID", { ASID: 8 })],
    ["CMD_TLBI_NH_ALL", encodeCommand("CMD_TLBI_NH_ALL")],
    ["CMD_TLBI_NSNH_ALL", encodeCommand("CMD_TLBI_NSNH_ALL")],
    ["CMD_TLBI_NH_VAA", encodeCommand("CMD_TLBI_NH_VAA", { Address: 0x4000_0000 })],
  ])("%s drops the cached 1 GiB block", (_name, cmd) => {
    const r = makeRig();
    const layout = resetLikeLinux(r);
    const pt = stage1Stream(r, 1, 8);
    pt.mapBlock(1, 0x4000_0000, 0x4000_0000);
    expect(r.smmu.translate(1, 0x4123_4567, false, "dev")).toBe(0x4123_4567);
    pt.mapBlock(1, 0x4000_0000, 0x8000_0000);
    expect(r.smmu.translate(1, 0x4123_4567, false, "dev")).toBe(0x4123_4567);
    issueWithSync(r, layout, cmd);
    expect(r.smmu.translate(1, 0x4123_4567, false, "dev")).toBe(0x8123_4567);
  });

  it("keeps a stale STE until CMD_CFGI_STE", () => {
    const r = makeRig();
    const layout = resetLikeLinux(r);
    writeSte(r, 7, encodeSte({ V: 1, Config: STE_CONFIG_BYPASS }));
    expect(r.smmu.translate(7, 0x1000, false, "dev")).toBe(0x1000);
    writeSte(r, 7, encodeSte({ V: 1, Config: STE_CONFIG_ABORT }));
    expect(r.smmu.translate(7, 0x1000, false, "dev")).toBe(0x1000);
    issueWithSync(r, layout, encodeCommand("CMD_CFGI_STE", { StreamID: 8, Leaf: 1 }));
    expect(r.smmu.translate(7, 0x1000, false, "dev")).toBe(0x1000);
    issueWithSync(r, layout, encodeCommand("CMD_CFGI_STE", { StreamID: 7, Leaf: 1 }));
    expectAbort(r.smmu.translate(7, 0x1000, false, "dev"), "STE.Config=abort");
  });

  it("stops translating a busy stream once its STE is invalidated or SMMUEN is cleared", () => {
    const r = makeRig();
    const layout = resetLikeLinux(r);
    const pt = stage1Stream(r, 4, 4);
    pt.mapPage(0x1000, 0x5000_1000);
    for (let i = 0; i < 3; i++) expect(r.smmu.translate(4, 0x1000, true, "dev")).toBe(0x5000_1000);
    writeSte(r, 4, encodeSte({ V: 1, Config: STE_CONFIG_ABORT }));
    expect(r.smmu.translate(4, 0x1000, true, "dev")).toBe(0x5000_1000);
    issueWithSync(r, layout, encodeCommand("CMD_CFGI_STE", { StreamID: 4, Leaf: 1 }));
    expectAbort(r.smmu.translate(4, 0x1000, true, "dev"), "STE.Config=abort");

    writeSte(r, 4, s1Ste(CD_BASE + 4 * 64));
    issueWithSync(r, layout, encodeCommand("CMD_CFGI_STE", { StreamID: 4, Leaf: 1 }));
    expect(r.smmu.translate(4, 0x1000, false, "dev")).toBe(0x5000_1000);
    r.wr("CR0", SMMU_CR0_CMDQEN | SMMU_CR0_EVENTQEN);
    expect(r.smmu.translate(4, 0x1000, false, "dev")).toBe(0x1000); // GBPA: bypass
  });

  it("keeps a stale CD until CMD_CFGI_CD, and CMD_CFGI_ALL drops everything", () => {
    const r = makeRig();
    const layout = resetLikeLinux(r);
    const a = stage1Stream(r, 1, 1);
    a.mapPage(0x1000, 0x5000_1000);
    const b = new PageTables(r.bus, 0x4800_0000);
    b.mapPage(0x1000, 0x5000_2000);
    expect(r.smmu.translate(1, 0x1000, false, "dev")).toBe(0x5000_1000);
    r.bus.writeBytes(CD_BASE + 64, linuxCd(2, b.root));
    issueWithSync(r, layout, encodeCommand("CMD_TLBI_NH_ASID", { ASID: 1 }));
    expect(r.smmu.translate(1, 0x1000, false, "dev")).toBe(0x5000_1000); // old CD, re-walked
    issueWithSync(r, layout, encodeCommand("CMD_CFGI_CD", { StreamID: 1, Leaf: 1 }));
    expect(r.smmu.translate(1, 0x1000, false, "dev")).toBe(0x5000_2000);
    writeSte(r, 1, encodeSte({ V: 1, Config: STE_CONFIG_BYPASS }));
    issueWithSync(r, layout, encodeCommand("CMD_CFGI_STE_RANGE", { Range: 31 }));
    expect(r.smmu.translate(1, 0x1000, false, "dev")).toBe(0x1000);
  });
});

describe("SMMUv3 queues", () => {
  it("wraps the command queue, toggling the wrap bit of CONS", () => {
    const r = makeRig();
    const layout = resetLikeLinux(r, { cmdqLog2: 1, evtqLog2: 7 });
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) {
      issue(r, layout, encodeCommand("CMD_PREFETCH_CONFIG", { StreamID: i }));
      seen.push(r.rd("CMDQ_CONS"));
    }
    // Reset issued four commands (two with syncs); index in bit 0, wrap in bit 1.
    expect(seen).toEqual([1, 2, 3, 0, 1]);
    expect(r.rd("CMDQ_PROD")).toBe(1);
  });

  it("wraps the event queue and flags an overflow in PROD, dropping the record", () => {
    const r = makeRig();
    const layout = resetLikeLinux(r, { cmdqLog2: 8, evtqLog2: 1 });
    stage1Stream(r, 1, 1);
    const fault = (iova: number) =>
      expectAbort(r.smmu.translate(1, iova, false, "dev"), "F_TRANSLATION");
    fault(0x1000);
    fault(0x2000);
    expect(r.rd("EVENTQ_PROD")).toBe(0b10); // full: index 0 again, wrap set
    const memory = r.bus.readBytes(EVTQ, 2 * EVENT_SIZE);
    fault(0x3000);
    expect(r.rd("EVENTQ_PROD")).toBe((SMMU_Q_OVERFLOW_FLAG | 0b10) >>> 0);
    fault(0x4000); // still overflowed: the flag does not toggle back
    expect(r.rd("EVENTQ_PROD")).toBe((SMMU_Q_OVERFLOW_FLAG | 0b10) >>> 0);
    expect(r.bus.readBytes(EVTQ, 2 * EVENT_SIZE)).toEqual(memory);
    expect(r.pulses.eventq).toBe(2);
    const events = drainEvents(r, layout);
    expect(events.map((e) => e.InputAddr)).toEqual([0x1000, 0x2000]);
    expect(r.rd("EVENTQ_CONS")).toBe((SMMU_Q_OVERFLOW_FLAG | 0b10) >>> 0);
    fault(0x5000);
    expect(r.rd("EVENTQ_PROD")).toBe((SMMU_Q_OVERFLOW_FLAG | 0b11) >>> 0);
    expect(drainEvents(r, layout)).toMatchObject([{ InputAddr: 0x5000 }]);
  });

  it("stops at an illegal command with CMDQ_ERR and CERROR_ILL until GERRORN acknowledges", () => {
    const r = makeRig();
    const layout = resetLikeLinux(r);
    const cons = r.rd("CMDQ_CONS");
    issue(
      r,
      layout,
      encodeCommand(0x7f),
      encodeCommand("CMD_CFGI_STE", { StreamID: 1 }),
      encodeCommand("CMD_SYNC"),
    );
    expect(r.rd("CMDQ_CONS")).toBe((cons | (SMMU_CERROR_ILL << SMMU_CMDQ_CONS_ERR_SHIFT)) >>> 0);
    expect(r.rd("GERROR") ^ r.rd("GERRORN")).toBe(SMMU_GERROR_CMDQ_ERR);
    expect(r.pulses.gerror).toBe(1);
    // More PROD writes do nothing while the error is active.
    issue(r, layout, encodeCommand("CMD_SYNC"));
    expect(r.rd("CMDQ_CONS") & 0xfffff).toBe(cons);
    // arm_smmu_cmdq_skip_err(): overwrite the bad entry with a CMD_SYNC, then acknowledge.
    r.bus.writeBytes(CMDQ + (cons & 0xff) * 16, encodeCommand("CMD_SYNC"));
    r.wr("GERRORN", r.rd("GERROR"));
    expect(r.rd("CMDQ_CONS") & 0xfffff).toBe(r.rd("CMDQ_PROD"));
    expect(r.rd("GERROR") ^ r.rd("GERRORN")).toBe(0);
  });

  it.each([
    ["CMD_TLBI_EL2_ALL", encodeCommand("CMD_TLBI_EL2_ALL")],
    ["CMD_ATC_INV", encodeCommand(CMDQ_OP.CMD_ATC_INV)],
    ["CMD_TLBI_S12_VMALL", encodeCommand(CMDQ_OP.CMD_TLBI_S12_VMALL)],
    ["a CMD_SYNC with reserved CS", encodeCommand("CMD_SYNC", { CS: 3 })],
    ["a CMD_CFGI_STE with SSec", encodeCommand("CMD_CFGI_STE", { SSec: 1 })],
  ])("refuses %s as CERROR_ILL", (_name, cmd) => {
    const r = makeRig();
    const layout = resetLikeLinux(r);
    issue(r, layout, cmd);
    expect(r.rd("CMDQ_CONS") >>> SMMU_CMDQ_CONS_ERR_SHIFT).toBe(SMMU_CERROR_ILL);
    expect(r.rd("GERROR") & SMMU_GERROR_CMDQ_ERR).toBe(SMMU_GERROR_CMDQ_ERR);
  });

  it("answers CERROR_ABT when a command cannot be fetched", () => {
    const r = makeRig();
    resetLikeLinux(r);
    r.wr("CR0", 0);
    r.wr64("CMDQ_BASE", UNMAPPED + 4);
    r.wr("CMDQ_PROD", 0);
    r.wr("CMDQ_CONS", 0);
    r.wr("CR0", SMMU_CR0_CMDQEN);
    r.wr("CMDQ_PROD", 1);
    expect(r.rd("CMDQ_CONS")).toBe((SMMU_CERROR_ABT << SMMU_CMDQ_CONS_ERR_SHIFT) >>> 0);
  });

  it("pulses cmdq-sync for CMD_SYNC with CS = IRQ, and a combined line for everything", () => {
    const r = makeRig();
    const layout = resetLikeLinux(r);
    issueWithSync(r, layout, encodeCommand("CMD_SYNC", { CS: CMD_SYNC_CS_IRQ }));
    expect(r.pulses["cmdq-sync"]).toBe(1);

    const c = makeRig({ irqNames: ["combined"] });
    const cl = resetLikeLinux(c);
    issue(c, cl, encodeCommand("CMD_SYNC", { CS: CMD_SYNC_CS_IRQ }));
    stage1Stream(c, 1, 1);
    c.smmu.translate(1, 0, false, "dev");
    issue(c, cl, encodeCommand(0));
    expect(c.pulses).toEqual({ combined: 3 });
  });

  it("traces each command with its fields", () => {
    const r = makeRig();
    const layout = resetLikeLinux(r);
    const rec = r.trace.record();
    issueWithSync(
      r,
      layout,
      encodeCommand("CMD_TLBI_NH_VA", { ASID: 5, Address: 0x7000, Leaf: 1 }),
    );
    rec.stop();
    const cmds = rec.records.filter(
      (x): x is Extract<HwTraceRecord, { type: "iommu-command" }> => x.type === "iommu-command",
    );
    expect(cmds.map((x) => x.command)).toEqual(["CMD_TLBI_NH_VA", "CMD_SYNC"]);
    expect(cmds[0]?.args).toMatchObject({ ASID: 5, Address: 0x7000, Leaf: 1 });
  });
});

describe("SMMUv3 structure encoders", () => {
  it("round-trips STEs and CDs through their field tables", () => {
    const ste = encodeSte({ V: 1, Config: STE_CONFIG_S1_TRANS, S1ContextPtr: 0xabc_dead_beef_c0 });
    expect(decodeSte(ste)).toMatchObject({ V: 1, Config: 5, S1ContextPtr: 0xabc_dead_beef_c0 });
    // Bit 0 is V, Config sits in bits [3:1]: 0b1011.
    expect(ste[0]! & 0xf).toBe(0b1011);
    const cd = linuxCd(0xbeef, 0x1234_5678_9000);
    expect(decodeCd(cd)).toMatchObject({ ASID: 0xbeef, TTB0: 0x1234_5678_9000, T0SZ: 16, V: 1 });
    expect(bytesToWords(cd)[1]! >>> 16).toBe(0xbeef);
  });

  it("rejects values that do not fit or are misaligned", () => {
    expect(() => encodeSte({ S1ContextPtr: 0x1020 })).toThrow(/aligned/);
    expect(() => encodeCd({ ASID: 0x1_0000 })).toThrow(RangeError);
    expect(() => encodeBlockDescriptor(2, 0x1000, {})).toThrow(/aligned/);
    expect(() => encodeCommand("CMD_SYNC", { ASID: 1 })).toThrow(/no field ASID/);
  });

  it("encodes an event the way the SMMU writes one", () => {
    const bytes = encodeEvent("F_TRANSLATION", {
      StreamID: 3,
      RnW: 1,
      CLASS: EVENT_CLASS_IN,
      InputAddr: 2 ** 47,
    });
    const words = bytesToWords(bytes);
    expect(Array.from(words)).toEqual([
      0x10,
      3,
      0,
      (1 << 3) | (EVENT_CLASS_IN << 8),
      0,
      0x8000,
      0,
      0,
    ]);
    expect(decodeEvent(bytes).name).toBe("F_TRANSLATION");
  });
});

describe("SMMUv3 device-tree model", () => {
  const text = (s: string) => Uint8Array.from([...s].map((ch) => ch.charCodeAt(0)));
  it("builds from an arm,smmu-v3 node with dma-coherent and interrupt-names", () => {
    const memory = new PhysicalMemory();
    const bus = new SystemBus(memory);
    const clock = new VirtualClock();
    const ctx = { clock, trace: new HwTrace(() => clock.now), bus };
    const node: DtNode = {
      name: "smmuv3@9050000",
      properties: [
        { name: "compatible", value: text("arm,smmu-v3\0") },
        { name: "dma-coherent", value: new Uint8Array() },
        { name: "interrupt-names", value: text("gerror\0eventq\0priq\0cmdq-sync\0") },
      ],
      children: [],
      labels: [],
    };
    const id = {
      name: node.name,
      path: `/${node.name}`,
      compatible: ["arm,smmu-v3"],
      windows: [{ base: BASE, size: SMMU_V3_WINDOW_SIZE }],
    };
    const dev = smmuV3Model.create(ctx, id, node, {
      root: node,
      memoryReservations: [],
      bootCpuidPhys: 0,
    });
    expect(smmuV3Model.compatible).toContain("arm,smmu-v3");
    expect(dev.irqs.map((l) => l.name)).toEqual(["gerror", "eventq", "priq", "cmdq-sync"]);
    expect(readField([dev.mmioRead(0, 4, 0) as number], SMMU_IDR0_FIELDS.COHACC)).toBe(1);
  });
});

describe("SMMUv3 translation properties", () => {
  const RAM_PFN_FIRST = RAM / 4096;
  const RAM_PFNS = RAM_SIZE / 4096;

  /** Regions of 2 MiB: each either one block or a handful of 4 KiB pages. */
  const region = fc.record({
    index: fc.integer({ min: 0, max: 2 ** 27 - 1 }),
    block: fc.boolean(),
    writable: fc.boolean(),
    target: fc.integer({ min: 0, max: RAM_SIZE / (2 * MIB) - 1 }),
    pages: fc.uniqueArray(
      fc.record({
        slot: fc.integer({ min: 0, max: 511 }),
        pfn: fc.integer({ min: 0, max: RAM_PFNS - 1 }),
        writable: fc.boolean(),
      }),
      { minLength: 1, maxLength: 4, selector: (p) => p.slot },
    ),
  });

  it("translates every mapped IOVA to what was mapped, and faults every unmapped one", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(region, { minLength: 1, maxLength: 6, selector: (g) => g.index }),
        fc.array(fc.integer({ min: 0, max: 2 ** 48 - 1 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 4095 }),
        (regions, probes, offset) => {
          const r = makeRig();
          resetLikeLinux(r);
          const pt = stage1Stream(r, 1, 1);
          const expected = new Map<number, { pa: number; writable: boolean }>();
          const blocks = new Map<number, { pa: number; writable: boolean }>();
          for (const g of regions) {
            const va = g.index * 2 * MIB;
            if (g.block) {
              const pa = RAM + g.target * 2 * MIB;
              pt.mapBlock(2, va, pa, { AF: 1, AP: g.writable ? 0 : AP_RO });
              blocks.set(g.index, { pa, writable: g.writable });
            } else {
              for (const p of g.pages) {
                const pa = (RAM_PFN_FIRST + p.pfn) * 4096;
                pt.mapPage(va + p.slot * 4096, pa, { AF: 1, AP: p.writable ? 0 : AP_RO });
                expected.set(va / 4096 + p.slot, { pa, writable: p.writable });
              }
            }
          }
          for (const [vpn, m] of expected) {
            const iova = vpn * 4096 + offset;
            expect(r.smmu.translate(1, iova, false, "dev")).toBe(m.pa + offset);
            const w = r.smmu.translate(1, iova, true, "dev");
            if (m.writable) expect(w).toBe(m.pa + offset);
            else expectAbort(w, "F_PERMISSION");
          }
          for (const [index, b] of blocks) {
            const inside = (offset * 511) % (2 * MIB);
            expect(r.smmu.translate(1, index * 2 * MIB + inside, false, "dev")).toBe(b.pa + inside);
          }
          for (const iova of probes) {
            if (expected.has(Math.floor(iova / 4096)) || blocks.has(Math.floor(iova / (2 * MIB))))
              continue;
            const result = r.smmu.translate(1, iova, false, "dev");
            expect(typeof result).not.toBe("number");
            expectAbort(result, "F_TRANSLATION");
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("never returns an address for IOVAs beyond the input size", () => {
    const r = makeRig();
    resetLikeLinux(r);
    const pt = stage1Stream(r, 1, 1);
    pt.mapBlock(1, 0, RAM);
    fc.assert(
      fc.property(fc.integer({ min: 2 ** 48, max: Number.MAX_SAFE_INTEGER }), (iova) => {
        expectAbort(r.smmu.translate(1, iova, false, "dev"), "F_TRANSLATION");
      }),
    );
    expect(r.smmu.translate(1, GIB - 1, false, "dev")).toBe(RAM + GIB - 1);
  });
});
