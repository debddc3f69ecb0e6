/**
 * vfio-lab DMA test engine (`vfio-lab,dma-test`): a one-channel memory-to-memory engine that
 * exists only in this model. It gives scenarios the smallest possible bus master — one copy or
 * fill, one status word, one interrupt — so that what a test observes is the IOMMU and the
 * device-assignment layers, not the quirks of a real DMA controller. This header and the
 * register table below are its datasheet.
 *
 * Programming model
 *   1. Write SRC, DST (64-bit, as LO/HI halves; addresses are 48-bit), LEN (bytes) and, for a
 *      fill, PATTERN.
 *   2. Write CTRL with START=1, the MODE and IRQ_EN. START latches SRC, DST, LEN, MODE and
 *      PATTERN, clears DONE, ERROR and ERR_ADDR, and sets BUSY. Later writes to those registers
 *      do not affect the transfer in flight.
 *   3. After DMA_TEST_SETUP_NS + LEN * DMA_TEST_NS_PER_BYTE of virtual time the transfer
 *      happens at once and BUSY clears, with DONE set or ERROR set.
 *   4. The interrupt output is level: (DONE | ERROR) & IRQ_EN. Write 1 to DONE/ERROR in STATUS
 *      to acknowledge.
 *
 * A transfer is all-or-nothing: every page it touches is translated and decoded before any
 * byte is stored. A bus error (unmapped address, IOMMU fault, device SLVERR) sets ERROR, records
 * the cause in ERR_CAUSE and the failing address in ERR_ADDR, and leaves memory untouched.
 * ERR_ADDR is the address of the failing beat as the bus reports it: the address the engine
 * issued for an IOMMU fault, the physical address for a decode error behind an IOMMU (the same
 * thing when no IOMMU is present). A COPY reads the whole source before it stores anything, so
 * overlapping source and destination behave as memmove, and a faulting source wins over a
 * faulting destination.
 *
 * MMIO: one window (0x1000 suggested, one page, so that VFIO can mmap it); 32-bit little-endian
 * registers; narrow reads return bytes of the enclosing register, narrow writes are guest errors.
 * IRQ: one level output, "irq".
 *
 * Caveat:
 * - A transfer moves in one instantaneous step at the end of its run time; there is no partial
 *   progress to observe and no bandwidth sharing between engines.
 * - No scatter-gather, no 2D strides, no queue of transfers: one transfer at a time.
 * - LEN is limited to DMA_TEST_MAX_LEN (16 MiB) so that a fill never allocates more than that.
 */

import type { ScheduledEvent } from "../core/clock.js";
import { Device, type DeviceContext, type DeviceIdentity } from "../core/device.js";
import type { DeviceModel } from "../core/device-model.js";
import { RegisterMap, type RegisterSpec } from "../core/registers.js";

/** ID register value: ASCII "DMAT" with the most significant byte first. */
export const DMA_TEST_ID = 0x444d_4154;
/** VERSION: major in [31:16], minor in [15:0]. */
export const DMA_TEST_VERSION = 0x0001_0000;
/** Fixed cost of a transfer (descriptor-free start, bus arbitration), in ns. */
export const DMA_TEST_SETUP_NS = 100;
/** Cost per byte moved, in ns: the engine streams 1 byte/ns (1 GB/s). */
export const DMA_TEST_NS_PER_BYTE = 1;
/** Largest LEN a START accepts; a larger one completes at once with ERROR/ERR_CAUSE=CONFIG. */
export const DMA_TEST_MAX_LEN = 16 * 1024 * 1024;

/** Bits of CTRL. */
export const DMA_TEST_CTRL = {
  /** Write 1 to start a transfer; reads as 0. Ignored (guest error) while BUSY. */
  START: 1 << 0,
  /** Drive the interrupt output while DONE or ERROR is set. */
  IRQ_EN: 1 << 1,
  /** MODE field [5:4]: what the transfer does. */
  MODE_SHIFT: 4,
  MODE_MASK: 0x3 << 4,
  /** MODE 0: copy LEN bytes from SRC to DST. */
  MODE_COPY: 0,
  /** MODE 1: write LEN bytes of PATTERN at DST (byte i = PATTERN byte i % 4); SRC is unused. */
  MODE_FILL: 1,
} as const;

/** Bits of STATUS. */
export const DMA_TEST_STATUS = {
  /** A transfer is in flight (read-only). */
  BUSY: 1 << 0,
  /** The last transfer completed; write 1 to clear. */
  DONE: 1 << 1,
  /** The last transfer failed; write 1 to clear (clears ERR_CAUSE too). */
  ERROR: 1 << 2,
  /** ERR_CAUSE field [5:4] (read-only), meaningful while ERROR is set. */
  ERR_CAUSE_SHIFT: 4,
  ERR_CAUSE_MASK: 0x3 << 4,
} as const;

/** Values of STATUS.ERR_CAUSE. */
export const DMA_TEST_ERR_CAUSE = {
  NONE: 0,
  /** A bus error reading the source. */
  READ: 1,
  /** A bus error writing the destination. */
  WRITE: 2,
  /** START with a reserved MODE or LEN > DMA_TEST_MAX_LEN: nothing was accessed. */
  CONFIG: 3,
} as const;

/** Address registers hold bits [47:32] in their HI half; the upper 16 bits are RAZ/WI. */
const HI_MASK = 0xffff;
const CTRL_WRITABLE = DMA_TEST_CTRL.IRQ_EN | DMA_TEST_CTRL.MODE_MASK;

export type DmaTestRegister =
  | "ID"
  | "VERSION"
  | "SRC_LO"
  | "SRC_HI"
  | "DST_LO"
  | "DST_HI"
  | "LEN"
  | "CTRL"
  | "STATUS"
  | "PATTERN"
  | "ERR_ADDR_LO"
  | "ERR_ADDR_HI";

export const DMA_TEST_REGISTERS: readonly RegisterSpec<DmaTestRegister>[] = [
  { name: "ID", offset: 0x00, access: "ro", reset: DMA_TEST_ID, doc: 'Identification, "DMAT"' },
  {
    name: "VERSION",
    offset: 0x04,
    access: "ro",
    reset: DMA_TEST_VERSION,
    doc: "Major [31:16], minor [15:0]",
  },
  { name: "SRC_LO", offset: 0x08, access: "rw", doc: "Source address bits [31:0]" },
  { name: "SRC_HI", offset: 0x0c, access: "rw", doc: "Source address bits [47:32] in [15:0]" },
  { name: "DST_LO", offset: 0x10, access: "rw", doc: "Destination address bits [31:0]" },
  { name: "DST_HI", offset: 0x14, access: "rw", doc: "Destination address bits [47:32] in [15:0]" },
  {
    name: "LEN",
    offset: 0x18,
    access: "rw",
    doc: "Transfer length in bytes (0 completes with no access)",
  },
  {
    name: "CTRL",
    offset: 0x1c,
    access: "rw",
    doc: "START [0] (write-only), IRQ_EN [1], MODE [5:4]",
  },
  {
    name: "STATUS",
    offset: 0x20,
    access: "rw",
    doc: "BUSY [0], DONE [1] W1C, ERROR [2] W1C, ERR_CAUSE [5:4]",
  },
  { name: "PATTERN", offset: 0x24, access: "rw", doc: "Fill pattern, little-endian byte order" },
  { name: "ERR_ADDR_LO", offset: 0x28, access: "ro", doc: "Failing bus address bits [31:0]" },
  {
    name: "ERR_ADDR_HI",
    offset: 0x2c,
    access: "ro",
    doc: "Failing bus address bits [47:32] in [15:0]",
  },
];

const MAP = new RegisterMap(DMA_TEST_REGISTERS);

const TWO_32 = 0x1_0000_0000;

interface Transfer {
  readonly mode: number;
  readonly src: number;
  readonly dst: number;
  readonly len: number;
  readonly pattern: number;
}

export class DmaTestEngine extends Device {
  static readonly registers = MAP;

  private src = 0;
  private dst = 0;
  private len = 0;
  private ctrl = 0;
  private status = 0;
  private pattern = 0;
  private errAddr = 0;
  private inFlight: ScheduledEvent | null = null;

  constructor(ctx: DeviceContext, id: DeviceIdentity) {
    super(ctx, id, { irqNames: ["irq"], busMaster: true });
  }

  reset(): void {
    if (this.inFlight) this.clock.cancel(this.inFlight);
    this.inFlight = null;
    this.src = 0;
    this.dst = 0;
    this.len = 0;
    this.ctrl = 0;
    this.status = 0;
    this.pattern = 0;
    this.errAddr = 0;
    this.update();
  }

  protected readRegister(offset: number): number {
    const reg = MAP.decode(offset);
    if (!reg) {
      this.guestError(`read of unknown register at offset 0x${offset.toString(16)}`);
      return 0;
    }
    switch (reg.spec.name) {
      case "ID":
        return DMA_TEST_ID;
      case "VERSION":
        return DMA_TEST_VERSION;
      case "SRC_LO":
        return this.src % TWO_32;
      case "SRC_HI":
        return Math.floor(this.src / TWO_32);
      case "DST_LO":
        return this.dst % TWO_32;
      case "DST_HI":
        return Math.floor(this.dst / TWO_32);
      case "LEN":
        return this.len;
      case "CTRL":
        return this.ctrl;
      case "STATUS":
        return this.status;
      case "PATTERN":
        return this.pattern;
      case "ERR_ADDR_LO":
        return this.errAddr % TWO_32;
      case "ERR_ADDR_HI":
        return Math.floor(this.errAddr / TWO_32) & HI_MASK;
    }
  }

  protected writeRegister(offset: number, value: number): void {
    const reg = MAP.decode(offset);
    if (!reg) {
      this.guestError(`write of unknown register at offset 0x${offset.toString(16)}`);
      return;
    }
    switch (reg.spec.name) {
      case "ID":
      case "VERSION":
      case "ERR_ADDR_LO":
      case "ERR_ADDR_HI":
        this.guestError(`write to read-only register ${reg.spec.name}`);
        return;
      case "SRC_LO":
        this.src = Math.floor(this.src / TWO_32) * TWO_32 + value;
        return;
      case "SRC_HI":
        this.src = (value & HI_MASK) * TWO_32 + (this.src % TWO_32);
        return;
      case "DST_LO":
        this.dst = Math.floor(this.dst / TWO_32) * TWO_32 + value;
        return;
      case "DST_HI":
        this.dst = (value & HI_MASK) * TWO_32 + (this.dst % TWO_32);
        return;
      case "LEN":
        this.len = value;
        return;
      case "PATTERN":
        this.pattern = value;
        return;
      case "STATUS":
        this.acknowledge(value);
        return;
      case "CTRL":
        this.control(value);
        return;
    }
  }

  private acknowledge(value: number): void {
    if (value & DMA_TEST_STATUS.DONE) this.status &= ~DMA_TEST_STATUS.DONE;
    if (value & DMA_TEST_STATUS.ERROR) {
      this.status &= ~(DMA_TEST_STATUS.ERROR | DMA_TEST_STATUS.ERR_CAUSE_MASK);
    }
    this.update();
  }

  private control(value: number): void {
    this.ctrl = value & CTRL_WRITABLE;
    if (value & DMA_TEST_CTRL.START) {
      if (this.status & DMA_TEST_STATUS.BUSY) {
        this.guestError("START while BUSY ignored");
      } else {
        this.start();
      }
    }
    this.update();
  }

  private start(): void {
    const mode = (this.ctrl & DMA_TEST_CTRL.MODE_MASK) >>> DMA_TEST_CTRL.MODE_SHIFT;
    this.status = 0;
    this.errAddr = 0;
    if (mode !== DMA_TEST_CTRL.MODE_COPY && mode !== DMA_TEST_CTRL.MODE_FILL) {
      this.guestError(`START with reserved MODE ${mode}`);
      this.finishWithError(DMA_TEST_ERR_CAUSE.CONFIG, 0);
      return;
    }
    if (this.len > DMA_TEST_MAX_LEN) {
      this.guestError(`START with LEN 0x${this.len.toString(16)} above the 16 MiB limit`);
      this.finishWithError(DMA_TEST_ERR_CAUSE.CONFIG, 0);
      return;
    }
    const t: Transfer = {
      mode,
      src: this.src,
      dst: this.dst,
      len: this.len,
      pattern: this.pattern,
    };
    this.status = DMA_TEST_STATUS.BUSY;
    this.note("start", {
      mode: mode === DMA_TEST_CTRL.MODE_COPY ? "copy" : "fill",
      src: t.src,
      dst: t.dst,
      len: t.len,
    });
    const runNs = DMA_TEST_SETUP_NS + t.len * DMA_TEST_NS_PER_BYTE;
    this.inFlight = this.clock.schedule(runNs, `${this.name}: transfer`, () => this.complete(t));
  }

  private complete(t: Transfer): void {
    this.inFlight = null;
    const dma = this.dma!;
    const error =
      t.len === 0
        ? undefined
        : t.mode === DMA_TEST_CTRL.MODE_COPY
          ? dma.copy(t.dst, t.src, t.len)
          : dma.write(t.dst, fillBytes(t.pattern, t.len));
    if (error) {
      this.note("error", { address: error.address, write: error.write, reason: error.reason });
      this.finishWithError(
        error.write ? DMA_TEST_ERR_CAUSE.WRITE : DMA_TEST_ERR_CAUSE.READ,
        error.address,
      );
    } else {
      this.status = DMA_TEST_STATUS.DONE;
      this.note("done", { len: t.len });
    }
    this.update();
  }

  private finishWithError(cause: number, address: number): void {
    this.status = DMA_TEST_STATUS.ERROR | (cause << DMA_TEST_STATUS.ERR_CAUSE_SHIFT);
    this.errAddr = address;
  }

  private update(): void {
    const pending = (this.status & (DMA_TEST_STATUS.DONE | DMA_TEST_STATUS.ERROR)) !== 0;
    this.irqs[0]!.set(pending && (this.ctrl & DMA_TEST_CTRL.IRQ_EN) !== 0);
  }
}

function fillBytes(pattern: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < Math.min(4, len); i++) out[i] = (pattern >>> (8 * i)) & 0xff;
  for (let filled = Math.min(4, len); filled < len; filled *= 2) {
    out.copyWithin(filled, 0, Math.min(filled, len - filled));
  }
  return out;
}

export const dmaTestModel: DeviceModel = {
  compatible: ["vfio-lab,dma-test"],
  description: "vfio-lab DMA test engine: one copy/fill channel with a status word and a level IRQ",
  create: (ctx, id) => new DmaTestEngine(ctx, id),
};
