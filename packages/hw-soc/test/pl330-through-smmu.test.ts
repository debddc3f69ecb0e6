/**
 * The hardware path end to end on the default board: the PL330 copies memory through the SMMU
 * with page tables written into RAM, signals completion through the GIC, and faults — without
 * writing a byte — when an IOVA is not mapped.
 */

import { describe, expect, it } from "vitest";
import { boards } from "../src/boards/index.js";
import { toJsonLines } from "../src/core/trace.js";
import { Pl330 } from "../src/devices/pl330.js";
import { pl330DebugGo, pl330DebugKill, pl330Memcpy } from "../src/devices/pl330-asm.js";
import { Soc } from "../src/soc.js";
import { BareMetalSmmu } from "../src/testing/bare-metal-smmu.js";

const map = boards.virtLabMap;
const PL330 = map.pl330.base;
const REG = {
  INTEN: 0x20,
  ES: 0x24,
  INTMIS: 0x28,
  INTCLR: 0x2c,
  FSRC: 0x34,
  FTR0: 0x40,
  CSR0: 0x100,
} as const;
const DBG = { STATUS: 0xd00, CMD: 0xd04, INST0: 0xd08, INST1: 0xd0c } as const;

// Physical layout in RAM (0x4000_0000+): SMMU pool, microcode, source and destination buffers.
const POOL = 0x4000_0000;
const CODE_PA = 0x4100_0000;
const SRC_PA = 0x4200_0000;
const DST_PA = 0x4300_0000;
// What the PL330 (a 32-bit AXI master) sees: IOVAs, deliberately unlike the physical addresses.
const CODE_IOVA = 0x1000_0000;
const SRC_IOVA = 0x2000_0000;
const DST_IOVA = 0x3000_0000;
const LENGTH = 64 * 1024;

function bootAndMap() {
  const soc = Soc.fromDeviceTree(boards.virtLab());
  const smmu = new BareMetalSmmu(soc.bus, map.smmu.base, {
    pool: POOL,
    poolSize: 0x40_0000,
  }).reset();
  const tables = smmu.translate(map.pl330.streamId, 1);
  tables.map(CODE_IOVA, CODE_PA, 0x1000);
  tables.map(SRC_IOVA, SRC_PA, LENGTH);
  tables.map(DST_IOVA, DST_PA, LENGTH);
  const pattern = new Uint8Array(LENGTH).map((_, i) => (i * 31 + 7) & 0xff);
  soc.bus.writeBytes(SRC_PA, pattern);
  // Route the PL330's event-0 IRQ (SPI 113) to the CPU as the kernel's GIC driver would.
  const gic = soc.gic;
  soc.bus.write(0x080a_0014, 4, 0); // GICR_WAKER: wake the redistributor
  soc.bus.write(map.gicDistributor, 4, 0x2); // GICD_CTLR.EnableGrp1
  const intid = 32 + map.pl330.eventSpis;
  soc.bus.write(map.gicDistributor + 0x80 + 4 * Math.floor(intid / 32), 4, 0xffff_ffff); // group 1
  soc.bus.write(map.gicDistributor + 0x100 + 4 * Math.floor(intid / 32), 4, 1 << (intid % 32)); // enable
  gic.cpu.pmr = 0xff;
  gic.cpu.igrpen1 = 1;
  return { soc, smmu, tables, pattern, gic, intid };
}

function start(soc: Soc, program: Uint8Array, channel = 0): void {
  soc.bus.writeBytes(CODE_PA, program);
  soc.bus.write(PL330 + REG.INTEN, 4, 1); // event 0 raises irq0
  expect(soc.bus.read(PL330 + DBG.STATUS, 4) & 1).toBe(0);
  const go = pl330DebugGo({ channel, pc: CODE_IOVA });
  soc.bus.write(PL330 + DBG.INST0, 4, go.dbginst0);
  soc.bus.write(PL330 + DBG.INST1, 4, go.dbginst1);
  soc.bus.write(PL330 + DBG.CMD, 4, 0);
}

describe("PL330 memcpy through the SMMU on virtLab", () => {
  it("copies through page tables in RAM and raises its completion IRQ at the GIC", () => {
    const { soc, pattern, gic, intid } = bootAndMap();
    start(soc, pl330Memcpy({ src: SRC_IOVA, dst: DST_IOVA, length: LENGTH }));
    // Nothing happens inside the register write: the channel runs on virtual time.
    expect(soc.bus.readBytes(DST_PA, 4)).toEqual(new Uint8Array(4));
    soc.runUntilIdle();
    expect(Buffer.from(soc.bus.readBytes(DST_PA, LENGTH)).equals(pattern)).toBe(true);
    expect(soc.now).toBeGreaterThan(0);
    expect(soc.bus.read(PL330 + REG.INTMIS, 4)).toBe(1);
    expect(gic.cpu.irqAsserted).toBe(true);
    expect(gic.cpu.iar1()).toBe(intid);
    soc.bus.write(PL330 + REG.INTCLR, 4, 1);
    gic.cpu.eoir1(intid);
    expect(gic.cpu.irqAsserted).toBe(false);
  });

  it("faults on an unmapped IOVA: SMMU event record, channel Faulting, abort IRQ, no byte written", () => {
    const { soc, smmu, tables } = bootAndMap();
    tables.unmap(DST_IOVA + 0x8000, 0x1000);
    smmu.invalidatePage(1, DST_IOVA + 0x8000);
    start(soc, pl330Memcpy({ src: SRC_IOVA + 0x8000, dst: DST_IOVA + 0x8000, length: 0x1000 }));
    const before = soc.memory.allocatedFrames; // the microcode page is written by now
    soc.runUntilIdle();

    const events = smmu.drainEvents();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      name: "F_TRANSLATION",
      EventType: 0x10,
      StreamID: map.pl330.streamId,
      RnW: 0,
    });
    expect(events[0]!.InputAddr).toBe(DST_IOVA + 0x8000);

    const pl330 = soc.deviceOf(Pl330, map.pl330.node);
    expect(soc.bus.read(PL330 + REG.CSR0, 4) & 0xf).toBe(0xf); // Faulting
    expect(soc.bus.read(PL330 + REG.FSRC, 4)).toBe(1);
    expect(soc.bus.read(PL330 + REG.FTR0, 4) & (1 << 17)).not.toBe(0); // data_write_err
    expect(pl330.irqs[0]!.name).toBe("abort");
    expect(pl330.irqs[0]!.level).toBe(true);
    expect(soc.memory.allocatedFrames).toBe(before);
    expect(soc.bus.readBytes(DST_PA + 0x8000, 0x1000).every((b) => b === 0)).toBe(true);

    const kill = pl330DebugKill(0);
    soc.bus.write(PL330 + DBG.INST0, 4, kill.dbginst0);
    soc.bus.write(PL330 + DBG.INST1, 4, kill.dbginst1);
    soc.bus.write(PL330 + DBG.CMD, 4, 0);
    soc.runUntilIdle();
    expect(soc.bus.read(PL330 + REG.CSR0, 4) & 0xf).toBe(0); // Stopped
    expect(pl330.irqs[0]!.level).toBe(false);
  });

  it("keeps using a stale translation until the IOTLB is invalidated", () => {
    const { soc, smmu, tables, pattern } = bootAndMap();
    start(soc, pl330Memcpy({ src: SRC_IOVA, dst: DST_IOVA, length: 0x1000 }));
    soc.runUntilIdle();
    // Remap the destination page elsewhere without invalidating: the PL330 still writes the old page.
    tables.mapPage(DST_IOVA, DST_PA + 0x10_0000);
    soc.bus.write(PL330 + REG.INTCLR, 4, 1);
    soc.bus.writeBytes(DST_PA, new Uint8Array(0x1000));
    start(soc, pl330Memcpy({ src: SRC_IOVA, dst: DST_IOVA, length: 0x1000 }));
    soc.runUntilIdle();
    expect(Buffer.from(soc.bus.readBytes(DST_PA, 0x1000)).equals(pattern.subarray(0, 0x1000))).toBe(
      true,
    );
    expect(soc.bus.readBytes(DST_PA + 0x10_0000, 4)).toEqual(new Uint8Array(4));
    // After TLBI_NH_VA + CMD_SYNC the new mapping takes effect.
    smmu.invalidatePage(1, DST_IOVA);
    start(soc, pl330Memcpy({ src: SRC_IOVA, dst: DST_IOVA, length: 0x1000 }));
    soc.runUntilIdle();
    expect(
      Buffer.from(soc.bus.readBytes(DST_PA + 0x10_0000, 0x1000)).equals(
        pattern.subarray(0, 0x1000),
      ),
    ).toBe(true);
  });

  it("is deterministic: two identical runs give byte-identical traces", () => {
    const run = () => {
      const { soc, smmu, tables } = bootAndMap();
      const rec = soc.trace.record();
      start(soc, pl330Memcpy({ src: SRC_IOVA, dst: DST_IOVA, length: 0x2000 }));
      soc.runUntilIdle();
      tables.unmap(DST_IOVA, 0x1000);
      smmu.invalidatePage(1, DST_IOVA);
      start(soc, pl330Memcpy({ src: SRC_IOVA, dst: DST_IOVA, length: 0x1000 }), 1);
      soc.runUntilIdle();
      rec.stop();
      return toJsonLines(rec.records);
    };
    const a = run();
    expect(a.length).toBeGreaterThan(1000);
    expect(a).toContain('"type":"iommu-event"');
    expect(run()).toBe(a);
  });
});
