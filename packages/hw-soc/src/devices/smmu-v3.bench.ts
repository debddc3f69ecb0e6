/**
 * How much an SMMU costs a DMA: 64 MiB copied in 4 KiB pages by a bus master, with no IOMMU and
 * through SMMUv3 stage-1 translation (IOTLB warm), against Buffer.copy of the same bytes.
 */

import { bench, describe } from "vitest";
import { VirtualClock } from "../core/clock.js";
import { DmaPort } from "../core/dma-port.js";
import { PhysicalMemory } from "../core/physical-memory.js";
import { SystemBus } from "../core/system-bus.js";
import { HwTrace } from "../core/trace.js";
import {
  SMMU_CR0_CMDQEN,
  SMMU_CR0_EVENTQEN,
  SMMU_CR0_SMMUEN,
  SMMU_V3_REG,
  SmmuV3,
} from "./smmu-v3.js";
import {
  encodeCd,
  encodePageDescriptor,
  encodeSte,
  encodeTableDescriptor,
  STE_CONFIG_S1_TRANS,
} from "./smmu-v3-tables.js";

const TOTAL = 64 * 2 ** 20;
const PAGE = 4096;
const BASE = 0x0905_0000;
const SRC_PA = 0x4800_0000;
const DST_PA = 0x5000_0000;
const SRC_IOVA = 0x10_0000_0000;
const DST_IOVA = 0x20_0000_0000;

function board() {
  const memory = new PhysicalMemory();
  const bus = new SystemBus(memory);
  const clock = new VirtualClock();
  const trace = new HwTrace(() => clock.now);
  bus.addRam("ram", 0x4000_0000, 0x4000_0000);
  const fill = new Uint8Array(TOTAL).map((_, i) => i * 7);
  memory.write(SRC_PA, fill);
  memory.write(DST_PA, new Uint8Array(TOTAL));
  return { memory, bus, clock, trace };
}

function withSmmu() {
  const b = board();
  const smmu = new SmmuV3(b, {
    name: "smmu",
    path: "/smmu",
    compatible: ["arm,smmu-v3"],
    windows: [{ base: BASE, size: 0x20000 }],
  });
  b.bus.addMmio("smmu", BASE, 0x20000, smmu);
  const strtab = 0x4010_0000;
  const cd = 0x4011_0000;
  let next = 0x4100_0000;
  const alloc = () => {
    next += PAGE;
    return next - PAGE;
  };
  const root = alloc();
  const tables = new Map<string, number>();
  const tableFor = (iova: number, level: number): number => {
    let table = root;
    for (let l = 0; l < level; l++) {
      const key = `${l}:${Math.floor(iova / 2 ** (39 - 9 * l))}`;
      let t = tables.get(key);
      if (t === undefined) {
        t = alloc();
        tables.set(key, t);
        b.bus.writeBytes(
          table + (Math.floor(iova / 2 ** (39 - 9 * l)) % 512) * 8,
          encodeTableDescriptor(t),
        );
      }
      table = t;
    }
    return table;
  };
  for (let off = 0; off < TOTAL; off += PAGE) {
    for (const [iova, pa] of [
      [SRC_IOVA + off, SRC_PA + off],
      [DST_IOVA + off, DST_PA + off],
    ] as const) {
      b.bus.writeBytes(
        tableFor(iova, 3) + (Math.floor(iova / PAGE) % 512) * 8,
        encodePageDescriptor(pa, { AF: 1 }),
      );
    }
  }
  b.bus.writeBytes(
    cd,
    encodeCd({ T0SZ: 16, EPD1: 1, V: 1, IPS: 5, AA64: 1, R: 1, A: 1, ASID: 1, TTB0: root }),
  );
  b.bus.writeBytes(strtab + 64, encodeSte({ V: 1, Config: STE_CONFIG_S1_TRANS, S1ContextPtr: cd }));
  b.bus.write(BASE + SMMU_V3_REG.STRTAB_BASE, 4, strtab);
  b.bus.write(BASE + SMMU_V3_REG.STRTAB_BASE_CFG, 4, 4);
  b.bus.write(BASE + SMMU_V3_REG.CR0, 4, SMMU_CR0_SMMUEN | SMMU_CR0_CMDQEN | SMMU_CR0_EVENTQEN);
  const port = new DmaPort("dma", b.bus, b.trace);
  port.attach(smmu, 1);
  // Warm the IOTLB: the benchmark measures hits.
  if (port.copy(DST_IOVA, SRC_IOVA, TOTAL)) throw new Error("warm-up copy faulted");
  return { port, smmu };
}

describe("copy 64 MiB in 4 KiB pages", () => {
  const src = Buffer.alloc(TOTAL, 0x5a);
  const dst = Buffer.alloc(TOTAL);
  bench("Buffer.copy", () => {
    for (let off = 0; off < TOTAL; off += PAGE) src.copy(dst, off, off, off + PAGE);
  });

  const direct = new DmaPort("dma", board().bus, new HwTrace(() => 0));
  bench("DmaPort.copy, no IOMMU", () => {
    for (let off = 0; off < TOTAL; off += PAGE) direct.copy(DST_PA + off, SRC_PA + off, PAGE);
  });

  const { port, smmu } = withSmmu();
  bench("DmaPort.copy through SMMUv3 (IOTLB hits)", () => {
    for (let off = 0; off < TOTAL; off += PAGE) port.copy(DST_IOVA + off, SRC_IOVA + off, PAGE);
  });

  bench("SmmuV3.translate alone, two per page (IOTLB hits)", () => {
    let sum = 0;
    for (let off = 0; off < TOTAL; off += PAGE) {
      sum += smmu.translate(1, SRC_IOVA + off, false, "dma") as number;
      sum += smmu.translate(1, DST_IOVA + off, true, "dma") as number;
    }
    if (!(sum > 0)) throw new Error("a translation faulted");
  });
});
