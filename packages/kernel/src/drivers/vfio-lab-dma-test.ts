/**
 * `vfio-lab-dma-test`: the in-kernel driver of the model's own DMA test engine
 * (of_match `vfio-lab,dma-test`; registers in hw-soc's devices/dma-test.ts). It exists so a
 * kernel DMA-API user sits on the same device VFIO later takes over, and is written as a
 * small Linux platform driver would be.
 *
 * Probe: the window mapped (devm_platform_ioremap_resource()), the ID register checked
 * (`unexpected ID 0x…` and ENODEV otherwise), 48-bit DMA masks, leftover DONE/ERROR
 * acknowledged, interrupt 0 requested under the device's name, then
 * `vfio-lab-dma-test c030000.dma-test: DMA test engine 1.0`. Remove turns the interrupt
 * enable off; the interrupt and the mapping go with the managed resources.
 *
 * copy(dst, src, len) / fill(dst, pattern, len) take DMA addresses (from the DMA API), start
 * the engine with IRQ_EN and sleep on virtual time until the interrupt reports DONE or ERROR.
 * ERROR logs `transfer failed: read error at 0x…` and fails with EIO; EINVAL for a length
 * the engine refuses, EBUSY while a transfer is in flight, ETIMEDOUT when no interrupt comes.
 */

import {
  DMA_TEST_CTRL,
  DMA_TEST_ERR_CAUSE,
  DMA_TEST_ID,
  DMA_TEST_MAX_LEN,
  DMA_TEST_REGISTERS,
  DMA_TEST_STATUS,
  type DmaTestRegister,
} from "@vfio-lab/hw-soc";
import type { IoMem } from "../base/io.js";
import { type PlatformDevice, PlatformDriver } from "../base/platform.js";
import { SysError } from "../errno.js";
import { dmaBitMask } from "../iommu/dma-mapping.js";
import { IRQ_HANDLED, IRQ_NONE } from "../irq/irq-flags.js";
import { type BoardDriverEnv, devmRequestIrq, drvdata } from "./board-env.js";

/** Register offsets, by name, from the engine's register table. */
const REG = Object.fromEntries(DMA_TEST_REGISTERS.map((r) => [r.name, r.offset])) as Record<
  DmaTestRegister,
  number
>;

/** How long a transfer may take before the driver gives up (virtual time). */
export const DMA_TEST_TIMEOUT_NS = 1_000_000_000;
/** The engine issues 48-bit addresses. */
const ADDRESS_LIMIT = 2 ** 48;

const CAUSE_NAMES: Readonly<Record<number, string>> = {
  [DMA_TEST_ERR_CAUSE.READ]: "read",
  [DMA_TEST_ERR_CAUSE.WRITE]: "write",
  [DMA_TEST_ERR_CAUSE.CONFIG]: "config",
};

/** The outcome of the last transfer, as the interrupt saw it. */
export interface DmaTestOutcome {
  readonly status: number;
  readonly errAddr: number;
}

/** The driver's per-device state. */
export class VfioLabDmaTest {
  /** Transfers started and interrupts handled. */
  transfers = 0;
  interrupts = 0;
  /** The transfer in flight, until its interrupt. */
  private pending: { outcome: DmaTestOutcome | null } | null = null;

  constructor(
    private readonly env: BoardDriverEnv,
    readonly pdev: PlatformDevice,
    readonly base: IoMem,
  ) {}

  private write64(lo: DmaTestRegister, hi: DmaTestRegister, value: number): void {
    this.base.writel(REG[lo], value % 2 ** 32);
    this.base.writel(REG[hi], Math.floor(value / 2 ** 32));
  }

  /** The interrupt: DONE or ERROR acknowledged (W1C) and handed to the waiter. */
  interrupt(): number {
    const status = this.base.readl(REG.STATUS);
    const ended = status & (DMA_TEST_STATUS.DONE | DMA_TEST_STATUS.ERROR);
    if (!ended) return IRQ_NONE;
    const errAddr = this.base.readl(REG.ERR_ADDR_LO) + this.base.readl(REG.ERR_ADDR_HI) * 2 ** 32;
    this.base.writel(REG.STATUS, ended);
    this.interrupts++;
    if (this.pending) this.pending.outcome = { status, errAddr };
    return IRQ_HANDLED;
  }

  private run(mode: number, dst: number, src: number, len: number, pattern: number): void {
    const fn = "vfio_lab_dma_test_xfer";
    if (!Number.isInteger(len) || len <= 0 || len > DMA_TEST_MAX_LEN) {
      throw new SysError("EINVAL", fn, `length ${len}`);
    }
    for (const a of [dst, src]) {
      if (!Number.isInteger(a) || a < 0 || a + len > ADDRESS_LIMIT) {
        throw new SysError("EINVAL", fn, `address 0x${a.toString(16)}+${len}`);
      }
    }
    if (this.pending || this.base.readl(REG.STATUS) & DMA_TEST_STATUS.BUSY) {
      throw new SysError("EBUSY", fn, `${this.pdev.name} is busy`);
    }
    this.write64("SRC_LO", "SRC_HI", src);
    this.write64("DST_LO", "DST_HI", dst);
    this.base.writel(REG.LEN, len);
    this.base.writel(REG.PATTERN, pattern >>> 0);
    const pending: { outcome: DmaTestOutcome | null } = { outcome: null };
    this.pending = pending;
    this.transfers++;
    this.base.writel(
      REG.CTRL,
      DMA_TEST_CTRL.START | DMA_TEST_CTRL.IRQ_EN | (mode << DMA_TEST_CTRL.MODE_SHIFT),
    );
    try {
      const done = this.env.scheduler.sleepUntil(
        () => pending.outcome !== null,
        `${this.pdev.name}: transfer`,
        DMA_TEST_TIMEOUT_NS,
      );
      if (!done) throw new SysError("ETIMEDOUT", fn, `no interrupt from ${this.pdev.name}`);
    } finally {
      this.pending = null;
    }
    const outcome = pending.outcome as DmaTestOutcome;
    if (outcome.status & DMA_TEST_STATUS.ERROR) {
      const cause =
        (outcome.status & DMA_TEST_STATUS.ERR_CAUSE_MASK) >> DMA_TEST_STATUS.ERR_CAUSE_SHIFT;
      const what = CAUSE_NAMES[cause] ?? "unknown";
      this.pdev.log.err(`transfer failed: ${what} error at 0x${outcome.errAddr.toString(16)}`);
      throw new SysError("EIO", fn, `${what} error at 0x${outcome.errAddr.toString(16)}`);
    }
  }

  /** Copies `len` bytes from DMA address `src` to `dst`. */
  copy(dst: number, src: number, len: number): void {
    this.run(DMA_TEST_CTRL.MODE_COPY, dst, src, len, 0);
  }

  /** Fills `len` bytes at DMA address `dst` with the little-endian 32-bit `pattern`. */
  fill(dst: number, pattern: number, len: number): void {
    this.run(DMA_TEST_CTRL.MODE_FILL, dst, 0, len, pattern);
  }
}

/** The `vfio-lab-dma-test` platform driver. */
export function vfioLabDmaTestDriver(env: BoardDriverEnv): PlatformDriver {
  return new PlatformDriver({
    name: "vfio-lab-dma-test",
    ofMatchTable: [{ compatible: "vfio-lab,dma-test" }],
    probe: (pdev) => {
      const base = pdev.devmIoremapResource(0);
      const id = base.readl(REG.ID);
      if (id !== DMA_TEST_ID) {
        pdev.log.err(`unexpected ID 0x${id.toString(16).padStart(8, "0")}`);
        throw new SysError("ENODEV", "vfio_lab_dma_test_probe", "not a DMA test engine");
      }
      const version = base.readl(REG.VERSION);
      env.dma.dmaSetMaskAndCoherent(pdev, dmaBitMask(48));
      const irq = pdev.getIrq(0);
      const priv = new VfioLabDmaTest(env, pdev, base);
      base.writel(REG.STATUS, DMA_TEST_STATUS.DONE | DMA_TEST_STATUS.ERROR);
      devmRequestIrq(
        env,
        pdev,
        irq,
        () => priv.interrupt(),
        0,
        pdev.name,
        priv,
        "vfio_lab_dma_test_irq",
      );
      pdev.driverData = priv;
      pdev.log.info(`DMA test engine ${version >>> 16}.${version & 0xffff}`);
    },
    remove: (pdev) => {
      const priv = drvdata(pdev, VfioLabDmaTest);
      priv.base.writel(REG.CTRL, 0);
    },
  });
}

/** The driver state of a bound engine (ENODEV when not bound to vfio-lab-dma-test). */
export function dmaTestOf(pdev: PlatformDevice): VfioLabDmaTest {
  return drvdata(pdev, VfioLabDmaTest);
}
