/**
 * A user-space driver for the PL330 DMA controller assigned through vfio-amba: what a VMM's
 * device model (or a user-space DMA driver) does with the mmap'd register window, following
 * what drivers/dma/pl330.c does in the kernel (the TRM, ARM DDI 0424, is the reference):
 *
 * - microcode lives in guest RAM mapped for DMA: the PL330 fetches it through its own bus-master
 *   port, so behind the SMMU it must be at an IOVA the VMM mapped;
 * - a channel starts with DMAGO issued on the manager thread through the debug registers
 *   (DBGINST0/1, then DBGCMD ← 0, after DBGSTATUS went idle: pl330.c `_execute_DBGINSN()`);
 * - the microcode ends with DMASEV <event>; with that event's INTEN bit set, the event drives
 *   irq<event> (VFIO IRQ index 1 + event), level until INTCLR;
 * - a faulting channel (an SMMU translation fault on a load or store) drives `abort` (VFIO IRQ
 *   index 0) until DMAKILL takes the channel out of Faulting.
 *
 * Waiting for DBGSTATUS uses poll() with no fds as a sleep: the model's CPU takes no time, so a
 * busy loop would never let the DMAC's clock run.
 *
 * Caveat: memcpy only (no peripheral transfers), one request per channel at a time, and no
 * watchdog of its own beyond the 5 ms DBGSTATUS limit pl330.c applies.
 */

import {
  type Pl330DebugInstruction,
  pl330DebugGo,
  pl330DebugKill,
  pl330Memcpy,
} from "@vfio-lab/hw-soc";
import type { Process } from "@vfio-lab/kernel";
import type { UserMmio } from "./user-mmio.js";
import type { GuestRam } from "./vmm.js";

/** Register offsets (TRM names; pl330.c calls DSR/FSRC/FTR `DS`/`FSC`/`FTC`). */
export const PL330_USER_REG = {
  DSR: 0x000,
  INTEN: 0x020,
  INT_EVENT_RIS: 0x024,
  INTMIS: 0x028,
  INTCLR: 0x02c,
  FSRD: 0x030,
  FSRC: 0x034,
  FTRD: 0x038,
  FTR: (ch: number) => 0x040 + ch * 4,
  CSR: (ch: number) => 0x100 + ch * 8,
  CPC: (ch: number) => 0x104 + ch * 8,
  SAR: (ch: number) => 0x400 + ch * 0x20,
  DAR: (ch: number) => 0x404 + ch * 0x20,
  DBGSTATUS: 0xd00,
  DBGCMD: 0xd04,
  DBGINST0: 0xd08,
  DBGINST1: 0xd0c,
  CR0: 0xe00,
  PERIPH_ID0: 0xfe0,
} as const;

/** The CSR/DSR state field's values used here (TRM; pl330.c DS_ST_*). */
export const PL330_CS = { STOPPED: 0x0, EXECUTING: 0x1, FAULTING: 0xf } as const;

/** pl330.c: _until_dmac_idle() gives up after 5 ms. */
const DEBUG_IDLE_TIMEOUT_NS = 5_000_000;
/** One sleep between DBGSTATUS reads. */
const DEBUG_POLL_NS = 1_000;

/** CR0.boot_man_ns: the manager (and so every channel it starts) runs non-secure. */
const CR0_BOOT_MAN_NS = 1 << 2;

export class Pl330User {
  /**
   * pl330.c: `pcfg.mode & DMAC_MODE_NS` — channels are started non-secure (and their CCR asks
   * for non-secure accesses) only on a DMAC whose manager is non-secure; a non-secure channel
   * signalling a secure event faults with evnt_err (CR3 says which events are non-secure).
   */
  readonly nonSecure: boolean;

  constructor(
    readonly process: Process,
    readonly regs: UserMmio,
  ) {
    this.nonSecure = (regs.readl(PL330_USER_REG.CR0) & CR0_BOOT_MAN_NS) !== 0;
  }

  /** DBGSTATUS idle, sleeping between reads; throws after 5 ms ("DMAC halted!"). */
  waitDebugIdle(): void {
    for (let waited = 0; this.regs.readl(PL330_USER_REG.DBGSTATUS) & 1; waited += DEBUG_POLL_NS) {
      if (waited >= DEBUG_IDLE_TIMEOUT_NS) throw new Error("PL330 debug interface stays busy");
      this.process.poll([], DEBUG_POLL_NS);
    }
  }

  /** pl330.c: _execute_DBGINSN() — one instruction on the manager or a channel thread. */
  debugExec(insn: Pl330DebugInstruction): void {
    this.waitDebugIdle();
    this.regs.writel(PL330_USER_REG.DBGINST0, insn.dbginst0);
    this.regs.writel(PL330_USER_REG.DBGINST1, insn.dbginst1);
    this.regs.writel(PL330_USER_REG.DBGCMD, 0);
    this.waitDebugIdle();
  }

  /**
   * Sleeps until `channel` is Stopped: its DMASEV interrupt comes before its DMAEND has
   * executed, and a DMAGO to a channel that is not Stopped is ignored by the DMAC.
   */
  waitStopped(channel: number, timeoutNs = DEBUG_IDLE_TIMEOUT_NS): void {
    for (let waited = 0; this.channelState(channel) !== PL330_CS.STOPPED; waited += DEBUG_POLL_NS) {
      if (waited >= timeoutNs) throw new Error(`PL330 channel ${channel} does not stop`);
      this.process.poll([], DEBUG_POLL_NS);
    }
  }

  /** DMAGO `channel` at bus address `pc` (pl330.c `_trigger()`), in the DMAC's security mode. */
  go(channel: number, pc: number): void {
    this.debugExec(pl330DebugGo({ channel, pc, ns: this.nonSecure }));
  }

  /** DMAKILL on the channel thread: the way out of Faulting (pl330.c `_stop()`). */
  kill(channel: number): void {
    this.debugExec(pl330DebugKill(channel));
  }

  /** INTEN: DMASEV of these events raises an interrupt instead of an event. */
  enableEventIrqs(mask: number): void {
    const r = this.regs;
    r.writel(PL330_USER_REG.INTEN, r.readl(PL330_USER_REG.INTEN) | mask);
  }

  /** INTCLR: the level irq<event> lines drop. */
  clearEvents(mask: number): void {
    this.regs.writel(PL330_USER_REG.INTCLR, mask);
  }

  /** INT_EVENT_RIS. */
  rawEvents(): number {
    return this.regs.readl(PL330_USER_REG.INT_EVENT_RIS);
  }

  /** CSR[3:0] of a channel. */
  channelState(channel: number): number {
    return this.regs.readl(PL330_USER_REG.CSR(channel)) & 0xf;
  }

  /** FTR of a channel (PL330_FAULT bits). */
  faultType(channel: number): number {
    return this.regs.readl(PL330_USER_REG.FTR(channel));
  }

  /** FSRC: one bit per faulting channel. */
  faultingChannels(): number {
    return this.regs.readl(PL330_USER_REG.FSRC);
  }
}

export interface Pl330UserMemcpy {
  /** Source and destination as the DMAC addresses them (32-bit IOVAs behind the SMMU). */
  readonly src: number;
  readonly dst: number;
  readonly len: number;
  readonly channel?: number;
  /** The DMASEV event at the end (its INTEN bit is set here); VFIO IRQ index 1 + event. */
  readonly event?: number;
  /** Where in guest RAM the microcode goes (default 0). */
  readonly mcodeOffset?: number;
}

/**
 * Writes a memcpy program (hw-soc's assembler, the shape pl330.c `_setup_req()` emits) into guest
 * RAM, enables its event's interrupt and starts `channel` on it. Returns the microcode's
 * length. Completion is the event's interrupt (or `abort` on a fault).
 */
export function pl330StartMemcpy(dmac: Pl330User, ram: GuestRam, m: Pl330UserMemcpy): number {
  const event = m.event ?? 0;
  const channel = m.channel ?? 0;
  const mcodeOffset = m.mcodeOffset ?? 0;
  const program = pl330Memcpy({
    src: m.src,
    dst: m.dst,
    length: m.len,
    event,
    nonSecure: dmac.nonSecure,
  });
  ram.write(mcodeOffset, program);
  dmac.enableEventIrqs(1 << event);
  dmac.go(channel, ram.dmaAddr32(mcodeOffset, program.length));
  return program.length;
}
