/**
 * hw-soc benchmarks (issue: "Measured, not asserted"). Each figure is a ratio against a baseline
 * measured in the same process:
 *
 * 1. PL330 memcpy of 64 MiB through the SMMU (4 KiB pages, warm IOTLB) on the virtLab board,
 *    against one `Buffer.copy` of the same 64 MiB — target ≥ 0.5 (throughput ratio).
 * 2. An MMIO register read through the system bus, against a raw `DataView` read.
 * 3. RAM declared at 1 TiB with 10 000 pages written: the process's memory growth (< 64 MiB).
 */

import assert from "node:assert/strict";
import { heldBytes, measure, mib, report, runBenchmarks } from "../../../scripts/bench-harness.ts";
import { boards } from "../src/boards/index.js";
import { pl330DebugGo, pl330DebugKill, pl330Memcpy } from "../src/devices/pl330-asm.js";
import { Soc } from "../src/soc.js";
import { BareMetalSmmu } from "../src/testing/bare-metal-smmu.js";

const MIB = 2 ** 20;

await runBenchmarks("hw-soc", [
  [
    "PL330 memcpy through the SMMU vs Buffer.copy",
    () => {
      const LENGTH = 64 * MIB;
      const map = boards.virtLabMap;
      const soc = Soc.fromDeviceTree(boards.virtLab());
      const smmu = new BareMetalSmmu(soc.bus, map.smmu.base, {
        pool: 0x4000_0000,
        poolSize: 0x100_0000,
      }).reset();
      const tables = smmu.translate(map.pl330.streamId, 1);
      const [CODE, SRC, DST] = [0x4100_0000, 0x4800_0000, 0x5000_0000];
      const [CODE_IOVA, SRC_IOVA, DST_IOVA] = [0x1000, 0x1000_0000, 0x2000_0000];
      tables.map(CODE_IOVA, CODE, 0x1000);
      tables.map(SRC_IOVA, SRC, LENGTH);
      tables.map(DST_IOVA, DST, LENGTH);
      const pattern = new Uint8Array(LENGTH).map((_, i) => (i * 13) & 0xff);
      soc.bus.writeBytes(SRC, pattern);
      soc.bus.writeBytes(CODE, pl330Memcpy({ src: SRC_IOVA, dst: DST_IOVA, length: LENGTH }));
      const debug = (inst: { dbginst0: number; dbginst1: number }) => {
        soc.bus.write(map.pl330.base + 0xd08, 4, inst.dbginst0);
        soc.bus.write(map.pl330.base + 0xd0c, 4, inst.dbginst1);
        soc.bus.write(map.pl330.base + 0xd04, 4, 0);
        soc.runUntilIdle();
      };
      const pl330Copy = () => {
        debug(pl330DebugGo({ channel: 0, pc: CODE_IOVA }));
        debug(pl330DebugKill(0));
      };
      const src = Buffer.from(pattern);
      const dst = Buffer.alloc(LENGTH);
      const base = measure("Buffer.copy 64 MiB", () => src.copy(dst, 0, 0, LENGTH), {
        minMs: 1500,
      });
      const subj = measure("PL330 64 MiB via SMMU", pl330Copy, { minMs: 1500 });
      assert.ok(Buffer.from(soc.bus.readBytes(DST, LENGTH)).equals(pattern));
      report("PL330 memcpy of 64 MiB through the SMMU, 4 KiB pages, warm IOTLB", [
        `Buffer.copy:  ${base.msPerOp.toFixed(2)} ms/copy (${(LENGTH / MIB / (base.msPerOp / 1000)).toFixed(0)} MiB/s)`,
        `PL330:        ${subj.msPerOp.toFixed(2)} ms/copy (${(LENGTH / MIB / (subj.msPerOp / 1000)).toFixed(0)} MiB/s)`,
        `throughput ratio PL330 / Buffer.copy = ${(base.msPerOp / subj.msPerOp).toFixed(2)} (target >= 0.5)`,
      ]);
    },
  ],

  [
    "MMIO register read through the bus vs a raw DataView read",
    () => {
      const soc = Soc.fromDeviceTree(boards.virtLab());
      const addr = boards.virtLabMap.pl330.base + 0xfe0; // PeriphID0
      const N = 1_000_000;
      const view = new DataView(new ArrayBuffer(0x1000));
      view.setUint32(0xfe0, 0x30, true);
      let sink = 0;
      const base = measure("DataView.getUint32", () => {
        for (let i = 0; i < N; i++) sink += view.getUint32(0xfe0, true);
      });
      const subj = measure("bus.read", () => {
        for (let i = 0; i < N; i++) sink += soc.bus.read(addr, 4);
      });
      assert.ok(sink > 0);
      report("MMIO register read (PL330 PeriphID0)", [
        `DataView: ${((base.msPerOp * 1e6) / N).toFixed(1)} ns/read`,
        `bus.read: ${((subj.msPerOp * 1e6) / N).toFixed(1)} ns/read`,
        `cost ratio bus / DataView = ${(subj.msPerOp / base.msPerOp).toFixed(1)}x`,
      ]);
    },
  ],

  [
    "1 TiB of RAM with 10 000 pages written",
    () => {
      const before = heldBytes();
      const soc = Soc.fromDeviceTree(`/dts-v1/;
      / { #address-cells = <2>; #size-cells = <2>;
          memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x100 0x0>; }; };`);
      const page = new Uint8Array(4096).fill(0xa5);
      const stride = Math.floor(2 ** 40 / 10_000 / 4096) * 4096;
      for (let i = 0; i < 10_000; i++) soc.bus.writeBytes(0x4000_0000 + i * stride, page);
      const grown = heldBytes() - before;
      assert.equal(soc.memory.allocatedFrames, 10_000);
      report("RAM declared at 1 TiB, 10 000 pages written", [
        `frames allocated: ${soc.memory.allocatedFrames} (${mib(10_000 * 4096)} of data)`,
        `memory growth: ${mib(grown)} (target < 64 MiB)`,
      ]);
    },
  ],
]);
