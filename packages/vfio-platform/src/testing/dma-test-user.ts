/**
 * A user-space driver for the `vfio-lab,dma-test` engine (hw-soc devices/dma-test.ts is its
 * datasheet): program a copy or a fill through the mmap'd registers, wait for the completion
 * IRQ on its eventfd, acknowledge it, unmask — the loop of a VMM's device model or of a DPDK-style
 * poll-mode driver.
 *
 * Caveat: one transfer at a time, as the engine itself.
 */

import { DMA_TEST_CTRL, DMA_TEST_ID, DMA_TEST_STATUS } from "@vfio-lab/hw-soc";
import type { WiredIrq } from "./irq.js";
import type { UserMmio } from "./user-mmio.js";

/** The engine's registers (datasheet offsets). */
export const DMA_TEST_REG = {
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

export interface DmaTestTransfer {
  readonly mode: "copy" | "fill";
  readonly dst: bigint;
  /** Copy only. */
  readonly src?: bigint;
  readonly len: number;
  /** Fill only: byte i of the destination is byte i % 4 of PATTERN (little-endian). */
  readonly pattern?: number;
  /** Drive the IRQ output on completion (default true). */
  readonly irq?: boolean;
}

/** What a transfer left in STATUS, decoded. */
export interface DmaTestResult {
  readonly status: number;
  readonly done: boolean;
  readonly error: boolean;
  /** STATUS.ERR_CAUSE (DMA_TEST_ERR_CAUSE). */
  readonly cause: number;
  /** ERR_ADDR: the failing bus address, when `error`. */
  readonly errAddr: bigint;
}

export class DmaTestUser {
  constructor(readonly regs: UserMmio) {
    const id = regs.readl(DMA_TEST_REG.ID);
    if (id !== DMA_TEST_ID) throw new Error(`not a DMA test engine (ID 0x${id.toString(16)})`);
  }

  /** Latches the transfer's registers and writes CTRL.START. */
  start(t: DmaTestTransfer): void {
    const r = this.regs;
    const src = t.src ?? 0n;
    r.writel(DMA_TEST_REG.SRC_LO, Number(src & 0xffff_ffffn));
    r.writel(DMA_TEST_REG.SRC_HI, Number(src >> 32n));
    r.writel(DMA_TEST_REG.DST_LO, Number(t.dst & 0xffff_ffffn));
    r.writel(DMA_TEST_REG.DST_HI, Number(t.dst >> 32n));
    r.writel(DMA_TEST_REG.LEN, t.len);
    if (t.mode === "fill") r.writel(DMA_TEST_REG.PATTERN, t.pattern ?? 0);
    const mode = t.mode === "fill" ? DMA_TEST_CTRL.MODE_FILL : DMA_TEST_CTRL.MODE_COPY;
    r.writel(
      DMA_TEST_REG.CTRL,
      DMA_TEST_CTRL.START |
        (t.irq === false ? 0 : DMA_TEST_CTRL.IRQ_EN) |
        (mode << DMA_TEST_CTRL.MODE_SHIFT),
    );
  }

  /** STATUS and ERR_ADDR, decoded. */
  result(): DmaTestResult {
    const r = this.regs;
    const status = r.readl(DMA_TEST_REG.STATUS);
    const errAddr =
      (BigInt(r.readl(DMA_TEST_REG.ERR_ADDR_HI)) << 32n) |
      BigInt(r.readl(DMA_TEST_REG.ERR_ADDR_LO));
    return {
      status,
      done: (status & DMA_TEST_STATUS.DONE) !== 0,
      error: (status & DMA_TEST_STATUS.ERROR) !== 0,
      cause: (status & DMA_TEST_STATUS.ERR_CAUSE_MASK) >> DMA_TEST_STATUS.ERR_CAUSE_SHIFT,
      errAddr,
    };
  }

  /** Writes 1 to DONE and ERROR: the level output drops. */
  ack(): void {
    this.regs.writel(DMA_TEST_REG.STATUS, DMA_TEST_STATUS.DONE | DMA_TEST_STATUS.ERROR);
  }
}

/**
 * One transfer, start to finish, as the VMM's interrupt path runs it: start, read the eventfd
 * (virtual time runs: device → GIC → automasked handler → eventfd), read STATUS, acknowledge,
 * unmask. Returns the decoded STATUS and how many interrupts the eventfd counted.
 */
export function dmaTestRun(
  engine: DmaTestUser,
  irq: WiredIrq,
  t: DmaTestTransfer,
): DmaTestResult & { readonly interrupts: number } {
  engine.start({ ...t, irq: true });
  const interrupts = irq.wait();
  const result = engine.result();
  engine.ack();
  irq.unmask();
  return { ...result, interrupts };
}
