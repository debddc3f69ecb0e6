/**
 * vfio-platform benchmark (issue 7, "Measured"; design §5), ratios in one process:
 *
 * 1. The level-IRQ round trip: the DMA test engine (c030000.dma-test, behind the SMMU) fills 4
 *    bytes with IRQ_EN → the line asserts → GIC → the automasked handler masks it and signals
 *    the trigger eventfd → the VMM's blocking read(eventfd) returns → the VMM acknowledges
 *    STATUS.DONE through the mmap'd window → UNMASK, by VFIO_DEVICE_SET_IRQS or by writing the
 *    unmask eventfd (virqfd). Baseline: an eventfd write + read pair of the same process.
 * 2. A user MMIO read: `UserMmio.readl(0)` (the ID register through the mmap'd region: a user
 *    access to a VM_PFNMAP page → system bus → device) against `DataView.getUint32` on a 4 KiB
 *    ArrayBuffer (target ≤ 25×), with `soc.bus.read` (no page tables) as the floor.
 *
 * One boot: c030000.dma-test on the VFIO platform driver with its reset module installed, a
 * type1 container, 4 KiB of guest RAM mapped, the trigger eventfd wired. Results go into a sink
 * so the loops cannot be optimised away. The bench fails only if a case throws.
 */

import { DMA_TEST_CTRL, DMA_TEST_STATUS } from "@vfio-lab/hw-soc";
import { measure, report, runBenchmarks } from "../../../scripts/bench-harness.ts";
import {
  assignToDriver,
  bootLab,
  DEV,
  DMA_TEST_REG,
  type LabModule,
  Vmm,
} from "../src/testing/index.js";
import { VFIO_PLATFORM } from "../src/vfio-platform.js";

/** The VFIO bus driver the engine is assigned to, and the modules that provide it. */
const DRIVER = VFIO_PLATFORM;
const MODULES: readonly LabModule[] = ["vfio_platform"];

let sink = 0;

function world(unmask: "ioctl" | "eventfd") {
  const lab = bootLab({ modules: MODULES, install: ["vfio_platform_dmatest"] });
  const bound = assignToDriver(lab.admin, DEV.DMA_TEST0, DRIVER);
  if (bound.driver !== DRIVER) throw new Error(`${DEV.DMA_TEST0.name} did not bind to ${DRIVER}`);
  const vmm = new Vmm(lab.vmm, "container-type1");
  const dev = vmm.assign(DEV.DMA_TEST0);
  const ram = vmm.mapGuestRam(0x1000, 0x10_0000n);
  const regs = dev.mmio(0);
  const irq = dev.wireIrq(0, { unmask });
  const dst = ram.dmaAddr(0, 4);
  regs.writel(DMA_TEST_REG.DST_LO, Number(dst & 0xffff_ffffn));
  regs.writel(DMA_TEST_REG.DST_HI, Number(dst >> 32n));
  regs.writel(DMA_TEST_REG.LEN, 4);
  regs.writel(DMA_TEST_REG.PATTERN, 0x5a5a_5a5a);
  return { lab, vmm, dev, ram, regs, irq };
}

const GO =
  DMA_TEST_CTRL.START |
  DMA_TEST_CTRL.IRQ_EN |
  (DMA_TEST_CTRL.MODE_FILL << DMA_TEST_CTRL.MODE_SHIFT);

/** N level-IRQ round trips. */
function roundTrips(w: ReturnType<typeof world>, n: number): void {
  const { regs, irq } = w;
  for (let i = 0; i < n; i++) {
    regs.writel(DMA_TEST_REG.CTRL, GO);
    sink += irq.wait();
    regs.writel(DMA_TEST_REG.STATUS, DMA_TEST_STATUS.DONE);
    irq.unmask();
  }
}

/** N eventfd write + read pairs in the VMM process: the floor of any eventfd-based path. */
function eventfdPairs(w: ReturnType<typeof world>, n: number): () => void {
  const p = w.lab.vmm;
  const efd = p.eventfd(0, 0);
  const buf = p.malloc(8);
  p.poke(buf, new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]));
  return () => {
    for (let i = 0; i < n; i++) {
      p.write(efd, buf, 8);
      sink += p.read(efd, buf, 8);
    }
  };
}

function us(ms: number, n: number): number {
  return (ms * 1000) / n;
}

function ns(ms: number, n: number): number {
  return (ms * 1e6) / n;
}

await runBenchmarks("vfio-platform", [
  [
    "level-IRQ round trip (device → GIC → automask → eventfd → read → UNMASK)",
    () => {
      const N = 2_000;
      const lines: string[] = [];
      let pair = 0;
      for (const unmask of ["ioctl", "eventfd"] as const) {
        const w = world(unmask);
        const t = measure(`round trip, UNMASK by ${unmask}`, () => roundTrips(w, N));
        const base = measure("eventfd write+read", eventfdPairs(w, N));
        pair = us(base.msPerOp, N);
        const rt = us(t.msPerOp, N);
        lines.push(
          `UNMASK by ${unmask.padEnd(7)}: ${rt.toFixed(2)} µs/round trip → ` +
            `${Math.round(1e6 / rt).toLocaleString("en")} round trips/s, ` +
            `${(rt / pair).toFixed(1)}× the eventfd pair`,
        );
        w.vmm.close();
      }
      lines.push(`eventfd write+read pair: ${pair.toFixed(2)} µs`);
      report("level-IRQ round trip", lines);
    },
  ],
  [
    "user MMIO read through the mmap'd region vs DataView",
    () => {
      const N = 100_000;
      const w = world("ioctl");
      const regs = w.regs;
      const bus = w.lab.soc.bus;
      const base = DEV.DMA_TEST0.base;
      const ab = new DataView(new ArrayBuffer(4096));
      ab.setUint32(0, 0x444d_4154, true);
      const user = measure("UserMmio.readl(0)", () => {
        for (let i = 0; i < N; i++) sink += regs.readl(0);
      });
      const raw = measure("DataView.getUint32", () => {
        for (let i = 0; i < N; i++) sink += ab.getUint32((i & 0x3ff) << 2, true);
      });
      const floor = measure("soc.bus.read", () => {
        for (let i = 0; i < N; i++) sink += bus.read(base, 4);
      });
      const ratio = user.msPerOp / raw.msPerOp;
      report("user MMIO read (target ≤ 25×)", [
        `UserMmio.readl: ${ns(user.msPerOp, N).toFixed(1)} ns/op`,
        `DataView.getUint32: ${ns(raw.msPerOp, N).toFixed(1)} ns/op`,
        `soc.bus.read: ${ns(floor.msPerOp, N).toFixed(1)} ns/op ` +
          `(${(floor.msPerOp / raw.msPerOp).toFixed(1)}× DataView)`,
        `ratio ${ratio.toFixed(1)}× → target ${ratio <= 25 ? "met" : "missed"}`,
      ]);
      w.vmm.close();
    },
  ],
]);

if (sink === 0.5) console.log(sink);
