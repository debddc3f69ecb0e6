/**
 * ARM PrimeCell UART (PL011), revision r1p4 as QEMU's `virt` machine presents it: 16-entry
 * FIFOs, PrimeCell ID 0x00141011.
 *
 * Models: ARM DDI 0183 (PrimeCell UART PL011 Technical Reference Manual). Facts cross-checked
 * against Linux `include/linux/amba/serial.h` / `drivers/tty/serial/amba-pl011.c` and QEMU
 * `hw/char/pl011.c`.
 *
 * MMIO window 0: the 4 KiB register block. IRQ 0: UARTINTR, the OR of every masked interrupt
 * (the individual UARTRXINTR/UARTTXINTR/... outputs are not wired, as on `virt`).
 *
 * Timing, all in virtual time:
 * - Received bytes arrive when the host calls `inject()`, all at the current instant.
 * - The receive timeout (RT) fires 32 bit periods after the last byte arrived while the RX FIFO
 *   is not empty; a bit period comes from the divisors latched by the last LCR_H write.
 * - Transmission is `"instant"` by default (a byte leaves the moment it is written, the TX FIFO
 *   never holds data while the transmitter is enabled, FR.BUSY never shows), so a driver that
 *   polls FR without advancing time still works; `"baud"` shifts one frame (start + data +
 *   parity + stop bits) per frame time, so TXFF, BUSY and the TX-level interrupt behave as on
 *   silicon.
 * - While IBRD is 0 (divisor not programmed, which the TRM calls invalid) every bit period is
 *   taken as 0 ns: timeouts and frames complete at the next clock step.
 *
 * Caveat:
 * - No IrDA SIR (CR.SIREN is logged as unimplemented), no DMA requests (DMACR.RXDMAE/TXDMAE
 *   logged as unimplemented), no integration-test registers (0x080-0x08C).
 * - Modem status inputs (nUARTCTS/DSR/DCD/RI) are not driven by anything: they read as
 *   deasserted except in loop-back, where CR's RTS/DTR/OUT1/OUT2 feed them. CTSEN is logged
 *   as unimplemented and never stalls transmission. RTSEN is honoured towards the host:
 *   `inject()` stops at the RX trigger level instead of overrunning.
 * - No parity or framing errors are ever generated (the host link is perfect); breaks are
 *   (`injectBreak()`, and LCR_H.BRK in loop-back). Bytes written while LCR_H.BRK is set still
 *   reach the host.
 * - Loop-back bytes also go out on UARTTXD (as QEMU does); the TRM does not say the output is
 *   silenced.
 * - Toggling LCR_H.FEN flushes both FIFOs (QEMU's behaviour; the TRM leaves it undefined).
 */

import type { BusError } from "../core/bus-error.js";
import type { ScheduledEvent } from "../core/clock.js";
import { Device, type DeviceContext, type DeviceIdentity } from "../core/device.js";
import type { DeviceModel } from "../core/device-model.js";
import {
  type PrimeCellIdName,
  primeCellIdRegisters,
  RegisterMap,
  type RegisterSpec,
} from "../core/registers.js";
import type { AccessSize } from "../core/system-bus.js";
import { fixedClockRates } from "../devicetree/properties.js";

export type Pl011RegisterName =
  | "DR"
  | "RSR"
  | "FR"
  | "ILPR"
  | "IBRD"
  | "FBRD"
  | "LCR_H"
  | "CR"
  | "IFLS"
  | "IMSC"
  | "RIS"
  | "MIS"
  | "ICR"
  | "DMACR"
  | PrimeCellIdName;

const PL011_REGISTERS: readonly RegisterSpec<Pl011RegisterName>[] = [
  {
    name: "DR",
    offset: 0x000,
    access: "rw",
    doc: "Data: write [7:0] to transmit; read data plus FE/PE/BE/OE",
  },
  {
    name: "RSR",
    offset: 0x004,
    access: "rw",
    doc: "Receive status (read) / error clear ECR (write)",
  },
  { name: "FR", offset: 0x018, access: "ro", reset: 0x90, doc: "Flags: FIFO and modem status" },
  { name: "ILPR", offset: 0x020, access: "rw", doc: "IrDA low-power counter" },
  { name: "IBRD", offset: 0x024, access: "rw", doc: "Integer baud-rate divisor [15:0]" },
  { name: "FBRD", offset: 0x028, access: "rw", doc: "Fractional baud-rate divisor [5:0]" },
  { name: "LCR_H", offset: 0x02c, access: "rw", doc: "Line control; a write latches IBRD/FBRD" },
  {
    name: "CR",
    offset: 0x030,
    access: "rw",
    reset: 0x300,
    doc: "Control: UARTEN, LBE, TXE, RXE, modem outputs",
  },
  { name: "IFLS", offset: 0x034, access: "rw", reset: 0x12, doc: "FIFO interrupt level select" },
  { name: "IMSC", offset: 0x038, access: "rw", doc: "Interrupt mask set/clear (1 = enabled)" },
  { name: "RIS", offset: 0x03c, access: "ro", doc: "Raw interrupt status" },
  { name: "MIS", offset: 0x040, access: "ro", doc: "Masked interrupt status" },
  { name: "ICR", offset: 0x044, access: "wo", doc: "Interrupt clear (write 1 to clear)" },
  { name: "DMACR", offset: 0x048, access: "rw", doc: "DMA control" },
  ...primeCellIdRegisters([0x11, 0x10, 0x14, 0x00]),
];

export const PL011_REGISTER_MAP = new RegisterMap(PL011_REGISTERS);

/** The FIFO depth of PL011 revisions before r1p5 (Linux: `amba_rev < 3 ? 16 : 32`). */
export const PL011_FIFO_DEPTH = 16;

/** Flag register (UARTFR). */
export const PL011_FR = {
  CTS: 0x001,
  DSR: 0x002,
  DCD: 0x004,
  BUSY: 0x008,
  RXFE: 0x010,
  TXFF: 0x020,
  RXFF: 0x040,
  TXFE: 0x080,
  RI: 0x100,
} as const;

/** Interrupt bits shared by IMSC, RIS, MIS and ICR. */
export const PL011_INT = {
  RIM: 1 << 0,
  CTSM: 1 << 1,
  DCDM: 1 << 2,
  DSRM: 1 << 3,
  RX: 1 << 4,
  TX: 1 << 5,
  RT: 1 << 6,
  FE: 1 << 7,
  PE: 1 << 8,
  BE: 1 << 9,
  OE: 1 << 10,
} as const;

/** Error bits carried with each received character, as DR presents them. */
export const PL011_DR = { FE: 1 << 8, PE: 1 << 9, BE: 1 << 10, OE: 1 << 11 } as const;

export const PL011_LCR_H = {
  BRK: 0x01,
  PEN: 0x02,
  EPS: 0x04,
  STP2: 0x08,
  FEN: 0x10,
  SPS: 0x80,
} as const;

export const PL011_CR = {
  UARTEN: 0x0001,
  SIREN: 0x0002,
  SIRLP: 0x0004,
  LBE: 0x0080,
  TXE: 0x0100,
  RXE: 0x0200,
  DTR: 0x0400,
  RTS: 0x0800,
  OUT1: 0x1000,
  OUT2: 0x2000,
  RTSEN: 0x4000,
  CTSEN: 0x8000,
} as const;

const INT_ALL = 0x7ff;
const CR_WRITABLE = 0xff87;
const RSR_OE = 0x8;
/** IFLS level codes 0..4 = 1/8, 1/4, 1/2, 3/4, 7/8 of a 16-entry FIFO. */
const FIFO_LEVELS = [2, 4, 8, 12, 14] as const;

export interface Pl011Options {
  /** UARTCLK in Hz; QEMU `virt` feeds the 24 MHz apb-pclk. */
  readonly clockHz?: number;
  /** How transmitted bytes leave the TX FIFO (see the header). Default "instant". */
  readonly txPacing?: "instant" | "baud";
}

export type Pl011TransmitListener = (byte: number) => void;

export class Pl011 extends Device {
  readonly clockHz: number;
  readonly txPacing: "instant" | "baud";

  private rxFifo: number[] = [];
  private txFifo: number[] = [];
  /** The character in the transmit shift register ("baud" pacing only). */
  private shifting: ScheduledEvent | null = null;
  private rxTimeout: ScheduledEvent | null = null;
  /** An overrun happened; the next character to enter the FIFO carries OE (TRM, overrun error). */
  private overrunPending = false;

  private rsr = 0;
  private ilpr = 0;
  private ibrd = 0;
  private fbrd = 0;
  private lcrH = 0;
  private cr = 0x300;
  private ifls = 0x12;
  private imsc = 0;
  private ris = 0;
  private dmacr = 0;
  /** IBRD/FBRD as latched by the last LCR_H write: what the baud generator really uses. */
  private latchedIbrd = 0;
  private latchedFbrd = 0;

  private readonly transmitted: number[] = [];
  private readonly listeners: Pl011TransmitListener[] = [];

  constructor(ctx: DeviceContext, id: DeviceIdentity, options: Pl011Options = {}) {
    super(ctx, id, { irqNames: ["UARTINTR"], busMaster: false });
    this.clockHz = options.clockHz ?? 24_000_000;
    if (!(this.clockHz > 0) || !Number.isFinite(this.clockHz)) {
      throw new RangeError(`pl011: clockHz must be a positive number, got ${this.clockHz}`);
    }
    this.txPacing = options.txPacing ?? "instant";
    this.reset();
  }

  reset(): void {
    if (this.shifting) this.clock.cancel(this.shifting);
    if (this.rxTimeout) this.clock.cancel(this.rxTimeout);
    this.shifting = null;
    this.rxTimeout = null;
    this.rxFifo = [];
    this.txFifo = [];
    this.overrunPending = false;
    this.rsr = 0;
    this.ilpr = 0;
    this.ibrd = 0;
    this.fbrd = 0;
    this.lcrH = 0;
    this.cr = 0x300;
    this.ifls = 0x12;
    this.imsc = 0;
    this.ris = 0;
    this.dmacr = 0;
    this.latchedIbrd = 0;
    this.latchedFbrd = 0;
    this.update();
  }

  // ---- host side -------------------------------------------------------------------------

  /**
   * Bytes arriving on UARTRXD now. Returns how many entered the RX FIFO. A byte that finds the
   * FIFO full is lost with an overrun, as on the wire; with CR.RTSEN the sender is taken to
   * honour nUARTRTS and the rest is simply not accepted. Nothing is received while the UART or
   * its receiver is disabled, or in loop-back (UARTRXD is then disconnected).
   */
  inject(bytes: ArrayLike<number>): number {
    if (!this.receiving()) {
      if (bytes.length > 0) this.note("rx-ignored", { bytes: bytes.length });
      return 0;
    }
    const wordMask = this.wordMask();
    let accepted = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (this.cr & PL011_CR.RTSEN && this.rxFifo.length >= this.rxTriggerLevel()) break;
      if (this.receive(bytes[i]! & 0xff & wordMask)) accepted++;
    }
    this.update();
    return accepted;
  }

  /** A break condition on UARTRXD: one NUL character with BE enters the FIFO. */
  injectBreak(): boolean {
    if (!this.receiving()) return false;
    const ok = this.receive(PL011_DR.BE);
    this.update();
    return ok;
  }

  /**
   * Leaves the UART as a boot loader does before starting Linux (earlycon writes DR without
   * programming the line): 8N1, FIFOs on, UART/TX/RX enabled, divisors for `baud` rounded as
   * Linux pl011_set_termios() rounds them. Out of reset the word length is 5 bits, and a
   * character written then really is sent as 5 bits.
   */
  firmwareSetup(baud = 115_200): void {
    const quot = Math.round((this.clockHz * 4) / baud);
    this.ibrd = Math.floor(quot / 64) & 0xffff;
    this.fbrd = quot % 64;
    this.writeLineControl((3 << 5) | PL011_LCR_H.FEN);
    this.writeControl(PL011_CR.UARTEN | PL011_CR.TXE | PL011_CR.RXE);
    this.update();
  }

  /** Calls `listener` with every byte that leaves on UARTTXD. Returns an unsubscribe. */
  onTransmit(listener: Pl011TransmitListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Every byte transmitted since the last call. */
  takeTransmitted(): Uint8Array {
    const out = Uint8Array.from(this.transmitted);
    this.transmitted.length = 0;
    return out;
  }

  /** Current RX FIFO occupancy (for hosts that pace their `inject` calls). */
  get rxCount(): number {
    return this.rxFifo.length;
  }

  /** Current TX FIFO occupancy, excluding a character already in the shift register. */
  get txCount(): number {
    return this.txFifo.length;
  }

  // ---- registers -------------------------------------------------------------------------

  /**
   * Linux drives the arm PL011 with 16-bit accessors (`UPIO_MEM`) unless the node says
   * `reg-io-width = <4>`, so narrow writes at a register's base are the register write.
   */
  override mmioWrite(offset: number, size: AccessSize, value: number): BusError | undefined {
    if ((offset & 3) !== 0) {
      this.guestError(`${size}-byte write at unaligned offset 0x${offset.toString(16)} ignored`);
      return undefined;
    }
    const mask = size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    this.writeRegister(offset, (value & mask) >>> 0);
    return undefined;
  }

  protected readRegister(offset: number): number {
    const reg = this.decodeRead(PL011_REGISTER_MAP, offset);
    if (!reg) return 0;
    switch (reg.spec.name) {
      case "DR":
        return this.readData();
      case "RSR":
        return this.rsr;
      case "FR":
        return this.flags();
      case "ILPR":
        return this.ilpr;
      case "IBRD":
        return this.ibrd;
      case "FBRD":
        return this.fbrd;
      case "LCR_H":
        return this.lcrH;
      case "CR":
        return this.cr;
      case "IFLS":
        return this.ifls;
      case "IMSC":
        return this.imsc;
      case "RIS":
        return this.ris;
      case "MIS":
        return this.ris & this.imsc;
      case "DMACR":
        return this.dmacr;
      default:
        return reg.spec.reset ?? 0;
    }
  }

  protected writeRegister(offset: number, value: number): void {
    const reg = this.decodeWrite(PL011_REGISTER_MAP, offset, value);
    if (!reg) return;
    switch (reg.spec.name) {
      case "DR":
        this.writeData(value & 0xff);
        break;
      case "RSR":
        // ECR: any write clears every error flag.
        this.rsr = 0;
        break;
      case "ILPR":
        this.ilpr = value & 0xff;
        break;
      case "IBRD":
        this.ibrd = value & 0xffff;
        break;
      case "FBRD":
        this.fbrd = value & 0x3f;
        break;
      case "LCR_H":
        this.writeLineControl(value & 0xff);
        break;
      case "CR":
        this.writeControl(value & CR_WRITABLE);
        break;
      case "IFLS":
        if ((value & 7) > 4 || ((value >> 3) & 7) > 4) {
          this.guestError(
            `IFLS 0x${value.toString(16)} selects a reserved trigger level (treated as 7/8)`,
          );
        }
        this.ifls = value & 0x3f;
        break;
      case "IMSC":
        this.imsc = value & INT_ALL;
        break;
      case "ICR":
        this.ris &= ~value & INT_ALL;
        break;
      case "DMACR":
        this.dmacr = value & 0x7;
        if (value & 0x3)
          this.unimplemented("DMA requests (DMACR.RXDMAE/TXDMAE): the model has no DMA handshake");
        break;
    }
    this.update();
  }

  // ---- behaviour -------------------------------------------------------------------------

  /** Recomputes the one interrupt output from RIS and IMSC. */
  private update(): void {
    this.irqs[0]!.set((this.ris & this.imsc) !== 0);
  }

  private fifoDepth(): number {
    return this.lcrH & PL011_LCR_H.FEN ? PL011_FIFO_DEPTH : 1;
  }

  private level(code: number): number {
    return FIFO_LEVELS[Math.min(code, 4)]!;
  }

  /** RX FIFO fill at or above which RXINTR asserts (1 when the FIFO is a holding register). */
  private rxTriggerLevel(): number {
    return this.lcrH & PL011_LCR_H.FEN ? this.level((this.ifls >> 3) & 7) : 1;
  }

  /** TX FIFO fill at or below which TXINTR asserts (0: the holding register is empty). */
  private txTriggerLevel(): number {
    return this.lcrH & PL011_LCR_H.FEN ? this.level(this.ifls & 7) : 0;
  }

  private wordMask(): number {
    return (1 << (5 + ((this.lcrH >> 5) & 3))) - 1;
  }

  private receiverEnabled(): boolean {
    const need = PL011_CR.UARTEN | PL011_CR.RXE;
    return (this.cr & need) === need;
  }

  /** Whether UARTRXD reaches the receiver: loop-back disconnects it. */
  private receiving(): boolean {
    return this.receiverEnabled() && (this.cr & PL011_CR.LBE) === 0;
  }

  private looped(): boolean {
    return this.receiverEnabled() && (this.cr & PL011_CR.LBE) !== 0;
  }

  private transmitting(): boolean {
    const need = PL011_CR.UARTEN | PL011_CR.TXE;
    return (this.cr & need) === need;
  }

  /** Nanoseconds per bit from the latched divisors: 16 * (IBRD + FBRD/64) / UARTCLK. */
  private bitNs(bits: number): number {
    if (this.latchedIbrd === 0) return 0;
    return Math.ceil(
      (bits * (64 * this.latchedIbrd + this.latchedFbrd) * 1e9) / (4 * this.clockHz),
    );
  }

  /** Start bit, 5-8 data bits, optional parity, one or two stop bits. */
  private frameBits(): number {
    const data = 5 + ((this.lcrH >> 5) & 3);
    const parity = this.lcrH & PL011_LCR_H.PEN ? 1 : 0;
    const stop = this.lcrH & PL011_LCR_H.STP2 ? 2 : 1;
    return 1 + data + parity + stop;
  }

  /** Modem status inputs as FR bits: only loop-back drives them. */
  private modemStatus(cr: number): number {
    if (!(cr & PL011_CR.LBE)) return 0;
    return (
      (cr & PL011_CR.RTS ? PL011_FR.CTS : 0) |
      (cr & PL011_CR.DTR ? PL011_FR.DSR : 0) |
      (cr & PL011_CR.OUT1 ? PL011_FR.DCD : 0) |
      (cr & PL011_CR.OUT2 ? PL011_FR.RI : 0)
    );
  }

  private flags(): number {
    const depth = this.fifoDepth();
    let fr = this.modemStatus(this.cr);
    if (this.txFifo.length > 0 || this.shifting) fr |= PL011_FR.BUSY;
    if (this.rxFifo.length === 0) fr |= PL011_FR.RXFE;
    if (this.txFifo.length >= depth) fr |= PL011_FR.TXFF;
    if (this.rxFifo.length >= depth) fr |= PL011_FR.RXFF;
    if (this.txFifo.length === 0) fr |= PL011_FR.TXFE;
    return fr;
  }

  /** One character (data plus DR error bits) reaching the receiver; false if it was lost. */
  private receive(entry: number): boolean {
    if (this.rxFifo.length >= this.fifoDepth()) {
      this.rsr |= RSR_OE;
      this.ris |= PL011_INT.OE;
      this.overrunPending = true;
      this.note("overrun");
      return false;
    }
    if (this.overrunPending) {
      entry |= PL011_DR.OE;
      this.overrunPending = false;
    }
    const before = this.rxFifo.length;
    this.rxFifo.push(entry);
    if (entry & PL011_DR.FE) this.ris |= PL011_INT.FE;
    if (entry & PL011_DR.PE) this.ris |= PL011_INT.PE;
    if (entry & PL011_DR.BE) this.ris |= PL011_INT.BE;
    // RXINTR fires on the FIFO crossing its trigger level, not on the level itself (Linux
    // pl011_enable_interrupts() drains the FIFO because an already-full one never asserts it).
    const trigger = this.rxTriggerLevel();
    if (before < trigger && this.rxFifo.length >= trigger) this.ris |= PL011_INT.RX;
    this.armReceiveTimeout();
    return true;
  }

  private armReceiveTimeout(): void {
    if (this.rxTimeout) this.clock.cancel(this.rxTimeout);
    this.rxTimeout = this.clock.schedule(this.bitNs(32), `${this.name}: receive timeout`, () => {
      this.rxTimeout = null;
      if (this.rxFifo.length > 0) {
        this.ris |= PL011_INT.RT;
        this.update();
      }
    });
  }

  private readData(): number {
    const entry = this.rxFifo.shift();
    if (entry === undefined) {
      this.guestError("DR read with the receive FIFO empty (returns 0)");
      return 0;
    }
    // RSR reports the errors of the character just read; OE stays until ECR is written.
    this.rsr = (this.rsr & RSR_OE) | ((entry >> 8) & 0x7);
    if (this.rxFifo.length < this.rxTriggerLevel()) this.ris &= ~PL011_INT.RX;
    if (this.rxFifo.length === 0) {
      this.ris &= ~PL011_INT.RT;
      if (this.rxTimeout) this.clock.cancel(this.rxTimeout);
      this.rxTimeout = null;
    }
    this.update();
    return entry;
  }

  private writeData(byte: number): void {
    if (this.txFifo.length >= this.fifoDepth()) {
      this.guestError(
        `DR write of 0x${byte.toString(16)} with the transmit FIFO full: character lost`,
      );
      return;
    }
    this.txFifo.push(byte & this.wordMask());
    // Writing the FIFO above its trigger level clears TXINTR (TRM, UARTTXINTR).
    if (this.txFifo.length > this.txTriggerLevel()) this.ris &= ~PL011_INT.TX;
    this.pumpTransmitter();
  }

  /** Takes one character out of the TX FIFO; TXINTR fires on crossing down to the level. */
  private popTx(): number {
    const before = this.txFifo.length;
    const byte = this.txFifo.shift()!;
    const trigger = this.txTriggerLevel();
    if (before > trigger && this.txFifo.length <= trigger) this.ris |= PL011_INT.TX;
    return byte;
  }

  private pumpTransmitter(): void {
    if (this.txPacing === "instant") {
      while (this.transmitting() && this.txFifo.length > 0) this.emit(this.popTx());
      this.update();
      return;
    }
    if (this.shifting || !this.transmitting() || this.txFifo.length === 0) return;
    const byte = this.popTx();
    this.shifting = this.clock.schedule(
      this.bitNs(this.frameBits()),
      `${this.name}: transmit`,
      () => {
        this.shifting = null;
        this.emit(byte);
        this.pumpTransmitter();
        this.update();
      },
    );
  }

  /** A character completed on UARTTXD. */
  private emit(byte: number): void {
    this.transmitted.push(byte);
    for (const listener of [...this.listeners]) listener(byte);
    if (this.looped()) this.receive(byte);
  }

  private writeLineControl(value: number): void {
    const old = this.lcrH;
    this.lcrH = value;
    this.latchedIbrd = this.ibrd;
    this.latchedFbrd = this.fbrd;
    if ((old ^ value) & PL011_LCR_H.FEN) this.flushFifos();
    if ((old ^ value) & PL011_LCR_H.BRK) {
      const on = (value & PL011_LCR_H.BRK) !== 0;
      this.note(on ? "break-start" : "break-end");
      // UARTTXD held low is seen by the receiver as a break when looped back.
      if (on && this.looped()) this.receive(PL011_DR.BE);
    }
    this.pumpTransmitter();
  }

  private flushFifos(): void {
    this.rxFifo = [];
    this.txFifo = [];
    this.overrunPending = false;
    this.ris &= ~(PL011_INT.RX | PL011_INT.RT);
    if (this.rxTimeout) this.clock.cancel(this.rxTimeout);
    this.rxTimeout = null;
  }

  private writeControl(value: number): void {
    const oldModem = this.modemStatus(this.cr);
    const old = this.cr;
    this.cr = value;
    if (value & PL011_CR.SIREN && !(old & PL011_CR.SIREN))
      this.unimplemented("IrDA SIR mode (CR.SIREN)");
    if (value & PL011_CR.CTSEN && !(old & PL011_CR.CTSEN)) {
      this.unimplemented("CTS hardware flow control (CR.CTSEN): transmission ignores nUARTCTS");
    }
    // A modem status interrupt is raised by any change of a modem input.
    const changed = oldModem ^ this.modemStatus(value);
    if (changed & PL011_FR.RI) this.ris |= PL011_INT.RIM;
    if (changed & PL011_FR.CTS) this.ris |= PL011_INT.CTSM;
    if (changed & PL011_FR.DCD) this.ris |= PL011_INT.DCDM;
    if (changed & PL011_FR.DSR) this.ris |= PL011_INT.DSRM;
    this.pumpTransmitter();
  }
}

export const pl011Model: DeviceModel = {
  compatible: ["arm,pl011"],
  description: "ARM PrimeCell UART (PL011)",
  create(ctx, id, node, tree) {
    const clockHz = fixedClockRates(tree, node)[0];
    return new Pl011(ctx, id, clockHz ? { clockHz } : {});
  },
};
