/**
 * drivers/tty/serial/amba-pl011.c: the `uart-pl011` AMBA driver for the PrimeCell UART, with
 * the parts of the serial core (drivers/tty/serial/serial_core.c) and the console
 * (kernel/printk/printk.c register_console()) that show on a virt guest.
 *
 * Probe (pl011_probe → pl011_setup_port → pl011_register_port → uart_add_one_port): maps the
 * window, masks and clears every UART interrupt, names the port `ttyAMA<n>` and logs
 * `9000000.pl011: ttyAMA0 at MMIO 0x9000000 (irq = 13, base_baud = 0) is a PL011 rev1`
 * (uart_report_port(); the clock rate is only read at startup, hence base_baud 0). When the
 * device tree's `/chosen/stdout-path` names the UART, the port becomes the console: set up
 * from the options after ':' or, without any, from what the hardware was left programmed with
 * (38400 8N1 when the UART is off), then `printk: legacy console [ttyAMA0] enabled`; from then
 * on every kernel message below the console loglevel goes out on the UART as
 * pl011_console_write() sends it (the buffer first: CON_PRINTBUFFER, no boot console).
 *
 * A booted guest's init opens the console tty at once, so probe also runs the tty open:
 * pl011_startup() (clear interrupts, request the shared IRQ `uart-pl011`, IFLS, CR
 * UARTEN|RXE|TXE, drain the RX FIFO, IMSC RX|RT), set_termios and DTR|RTS up. Remove hangs the
 * tty up (pl011_shutdown(): interrupts off, free_irq, UART disabled, FIFOs off), logs
 * `printk: legacy console [ttyAMA0] disabled` and unregisters the port.
 *
 * The port's tty side: `write()` queues bytes as a tty write does (pl011_tx_chars() fills the
 * FIFO; the TX interrupt refills it), `read()` takes what the RX interrupt drained from the
 * FIFO (pl011_fifo_to_tty()); `icount` counts both as /proc/tty/driver/ttyAMA would.
 *
 * Caveat: no DMA, no RS485, no sysrq, no serial-base devices (`9000000.pl011:0`), no tty
 * device nodes; the flip buffer keeps bytes without TTY_* flags (errors only count in
 * `icount`); the console honours only the default console loglevel (7).
 */

import { phandleMap, propStrings, propU32, propU32s } from "@vfio-lab/hw-soc";
import { type AmbaDevice, AmbaDriver, type AmbaId } from "../base/amba.js";
import type { IoMem } from "../base/io.js";
import { devmIoremapResource } from "../base/io.js";
import type { OfNode } from "../base/of-node.js";
import { SysError } from "../errno.js";
import { IRQ_HANDLED, IRQ_NONE, IRQF_SHARED } from "../irq/irq-flags.js";
import { KERN_INFO } from "../printk/levels.js";
import { type PrintkRecord, printTime } from "../printk/printk.js";
import { type BoardDriverEnv, drvdata } from "./board-env.js";

/** include/linux/amba/serial.h: register offsets of the ARM PL011. */
export const UART011 = {
  DR: 0x00,
  RSR: 0x04,
  FR: 0x18,
  IBRD: 0x24,
  FBRD: 0x28,
  LCRH: 0x2c,
  CR: 0x30,
  IFLS: 0x34,
  IMSC: 0x38,
  RIS: 0x3c,
  MIS: 0x40,
  ICR: 0x44,
  DMACR: 0x48,
} as const;

/** UART01x_FR_* */
export const UART_FR = {
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
const FR_MODEM_ANY = UART_FR.DCD | UART_FR.DSR | UART_FR.CTS;

/** UART011_CR_* / UART01x_CR_UARTEN */
export const UART_CR = {
  UARTEN: 0x0001,
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

/** UART01x_LCRH_* */
export const UART_LCRH = {
  BRK: 0x01,
  PEN: 0x02,
  EPS: 0x04,
  STP2: 0x08,
  FEN: 0x10,
  WLEN_5: 0x00,
  WLEN_6: 0x20,
  WLEN_7: 0x40,
  WLEN_8: 0x60,
} as const;

/** UART011_*IM / *IS: the bits shared by IMSC, RIS, MIS and ICR. */
export const UART_INT = {
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
const INT_MODEM = UART_INT.RIM | UART_INT.CTSM | UART_INT.DCDM | UART_INT.DSRM;

/** UART011_DR_*: error bits read with each character. */
const DR = { FE: 1 << 8, PE: 1 << 9, BE: 1 << 10, OE: 1 << 11 } as const;

/** vendor_arm.ifls: UART011_IFLS_RX4_8 | UART011_IFLS_TX4_8. */
const VENDOR_ARM_IFLS = (2 << 3) | 2;
/** AMBA_ISR_PASS_LIMIT */
const AMBA_ISR_PASS_LIMIT = 256;
/** UART_XMIT_SIZE: the tty's transmit buffer. */
export const UART_XMIT_SIZE = 4096;
/** CONSOLE_LOGLEVEL_DEFAULT of the oracle config. */
const CONSOLE_LOGLEVEL_DEFAULT = 7;
/** How long a console write spins on a full FIFO before the model gives up (1 s). */
const CONSOLE_SPIN_LIMIT_NS = 1_000_000_000;
/** UART_NR: ports amba-pl011 can hold. */
const UART_NR = 14;

/** Line settings (the part of `struct ktermios` the PL011 uses). */
export interface Pl011Termios {
  readonly baud: number;
  readonly bits: 5 | 6 | 7 | 8;
  readonly parity: "n" | "o" | "e";
  readonly stopBits: 1 | 2;
}

/** `struct uart_icounter` as far as the PL011 moves it. */
export interface UartIcount {
  tx: number;
  rx: number;
  brk: number;
  frame: number;
  parity: number;
  overrun: number;
}

/** `struct uart_amba_port`: one PL011 bound to the driver. */
export class UartAmbaPort {
  /** `port.name`: ttyAMA<line>. */
  readonly name: string;
  /** `uap->type`: "PL011 rev<n>". */
  readonly type: string;
  /** `uap->fifosize` (get_fifosize_arm(): 16 before r1p5). */
  readonly fifosize: number;
  /** `port.uartclk`: 0 until the console or the tty sets the port up (hence base_baud 0). */
  uartclk = 0;
  /** `uap->im`: the interrupts the driver has unmasked. */
  im = 0;
  /** `uap->old_status`: the modem lines last seen. */
  oldStatus = 0;
  readonly icount: UartIcount = { tx: 0, rx: 0, brk: 0, frame: 0, parity: 0, overrun: 0 };
  /** The tty is open (uart_port_startup() ran). */
  started = false;
  /** The console is registered on this port. */
  console = false;
  /** The line settings last programmed. */
  termios: Pl011Termios | null = null;
  /** `port.mctrl`: TIOCM_DTR/RTS as UART_CR bits. */
  private mctrl = 0;
  /** The tty's transmit buffer (`port->state->port.xmit_fifo`). */
  private xmit: number[] = [];
  /** The tty flip buffer: received bytes the reader has not taken. */
  private flip: number[] = [];
  private unsubscribeConsole: (() => void) | null = null;

  constructor(
    private readonly env: BoardDriverEnv,
    readonly adev: AmbaDevice,
    readonly base: IoMem,
    /** `port.line` */
    readonly line: number,
    /** `port.irq`: adev->irq[0]. */
    readonly irq: number,
  ) {
    this.name = `ttyAMA${line}`;
    const rev = (adev.periphid >>> 20) & 0xf;
    this.type = `PL011 rev${rev}`;
    this.fifosize = rev < 3 ? 16 : 32;
  }

  /** `port.mapbase` */
  get mapbase(): number {
    return this.adev.res.start;
  }

  /** pl011_read(): 16-bit accessors (UPIO_MEM, no `reg-io-width`). */
  private read(reg: number): number {
    return this.base.readw(reg);
  }

  /** pl011_write() */
  private write(value: number, reg: number): void {
    this.base.writew(reg, value & 0xffff);
  }

  // -------------------------------------------------------------------------------------------
  // uart_ops

  /** pl011_hwinit(): clock rate, pending interrupts cleared, RX|RT unmasked for polling. */
  private hwinit(): void {
    this.uartclk = uartClockRate(this.adev.ofNode);
    this.write(
      UART_INT.OE | UART_INT.BE | UART_INT.PE | UART_INT.FE | UART_INT.RT | UART_INT.RX,
      UART011.ICR,
    );
    this.im = this.read(UART011.IMSC);
    this.write(UART_INT.RT | UART_INT.RX, UART011.IMSC);
  }

  /** pl011_startup() — EINVAL/EBUSY/… from request_irq(). */
  startup(): void {
    this.hwinit();
    // pl011_allocate_irq()
    this.write(this.im, UART011.IMSC);
    this.env.irq.requestIrq(this.irq, (irq) => this.pl011Int(irq), IRQF_SHARED, "uart-pl011", this);
    this.write(VENDOR_ARM_IFLS, UART011.IFLS);
    let cr = this.read(UART011.CR);
    cr &= UART_CR.RTS | UART_CR.DTR;
    cr |= UART_CR.UARTEN | UART_CR.RXE | UART_CR.TXE;
    this.write(cr, UART011.CR);
    this.oldStatus = this.read(UART011.FR) & FR_MODEM_ANY;
    this.enableInterrupts();
  }

  /** pl011_enable_interrupts(): RX/RT cleared, the FIFO drained (RXIS is edge-like), RX|RT on. */
  private enableInterrupts(): void {
    this.write(UART_INT.RT | UART_INT.RX, UART011.ICR);
    for (let i = 0; i < this.fifosize * 2; i++) {
      if (this.read(UART011.FR) & UART_FR.RXFE) break;
      this.read(UART011.DR);
    }
    this.im = UART_INT.RT | UART_INT.RX;
    this.write(this.im, UART011.IMSC);
  }

  /** pl011_shutdown(): interrupts off and cleared, free_irq, UART and FIFOs off. */
  shutdown(): void {
    this.im = 0;
    this.write(this.im, UART011.IMSC);
    this.write(0xffff, UART011.ICR);
    this.env.irq.freeIrq(this.irq, this);
    // pl011_disable_uart(): keep RTS/DTR, leave the transmitter on for the console.
    let cr = this.read(UART011.CR);
    cr &= UART_CR.RTS | UART_CR.DTR;
    cr |= UART_CR.UARTEN | UART_CR.TXE;
    this.write(cr, UART011.CR);
    const lcrh = this.read(UART011.LCRH) & ~(UART_LCRH.BRK | UART_LCRH.FEN);
    this.write(lcrh, UART011.LCRH);
  }

  /**
   * pl011_set_termios(): divisors (quot = uartclk·4/baud, rounded), then LCR_H (the FIFO on),
   * then CR with hardware flow control off — IBRD/FBRD only take effect with the LCR_H write.
   */
  setTermios(t: Pl011Termios): void {
    const { baud } = t;
    if (!(baud > 0) || this.uartclk === 0) {
      throw new SysError("EINVAL", "pl011_set_termios", `baud ${baud}, uartclk ${this.uartclk}`);
    }
    const quot =
      baud > this.uartclk / 16
        ? Math.round((this.uartclk * 8) / baud)
        : Math.round((this.uartclk * 4) / baud);
    let lcrh = [UART_LCRH.WLEN_5, UART_LCRH.WLEN_6, UART_LCRH.WLEN_7, UART_LCRH.WLEN_8][
      t.bits - 5
    ] as number;
    if (t.stopBits === 2) lcrh |= UART_LCRH.STP2;
    if (t.parity !== "n") {
      lcrh |= UART_LCRH.PEN;
      if (t.parity === "e") lcrh |= UART_LCRH.EPS;
    }
    if (this.fifosize > 1) lcrh |= UART_LCRH.FEN;
    const cr = this.read(UART011.CR) & ~(UART_CR.CTSEN | UART_CR.RTSEN);
    this.write(quot & 0x3f, UART011.FBRD);
    this.write(quot >>> 6, UART011.IBRD);
    this.write(lcrh, UART011.LCRH);
    this.write(cr, UART011.CR);
    this.termios = t;
  }

  /** pl011_set_mctrl(): DTR/RTS (and OUT1/OUT2/loop) into CR. */
  private setMctrl(mctrl: number): void {
    const bits = UART_CR.RTS | UART_CR.DTR | UART_CR.OUT1 | UART_CR.OUT2 | UART_CR.LBE;
    const cr = (this.read(UART011.CR) & ~bits) | (mctrl & bits);
    this.write(cr, UART011.CR);
  }

  /** pl011_stop_tx() */
  private stopTx(): void {
    this.im &= ~UART_INT.TX;
    this.write(this.im, UART011.IMSC);
  }

  /** pl011_tx_char(): one byte into DR, unless the FIFO is full (outside the interrupt). */
  private txChar(c: number, fromIrq: boolean): boolean {
    if (!fromIrq && this.read(UART011.FR) & UART_FR.TXFF) return false;
    this.write(c, UART011.DR);
    this.icount.tx++;
    return true;
  }

  /** pl011_tx_chars(): true while the TX interrupt must stay on. */
  private txChars(fromIrq: boolean): boolean {
    if (this.xmit.length === 0) {
      this.stopTx();
      return false;
    }
    // From the interrupt, half a FIFO at a time (the TX level is half full).
    let count = this.fifosize >> 1;
    while (this.xmit.length > 0) {
      if (fromIrq && count-- === 0) break;
      if (!this.txChar(this.xmit[0] as number, fromIrq)) break;
      this.xmit.shift();
    }
    if (this.xmit.length === 0) {
      this.stopTx();
      return false;
    }
    return true;
  }

  /** pl011_start_tx() → pl011_start_tx_pio() */
  private startTx(): void {
    if (this.txChars(false)) {
      this.im |= UART_INT.TX;
      this.write(this.im, UART011.IMSC);
    }
  }

  /** pl011_modem_status(): remembers the modem lines (no tty to tell about them). */
  private modemStatus(): void {
    this.oldStatus = this.read(UART011.FR) & FR_MODEM_ANY;
  }

  /** pl011_fifo_to_tty(): up to 256 characters from the FIFO into the flip buffer. */
  private fifoToTty(): number {
    let taken = 0;
    for (; taken !== 256; taken++) {
      if (this.read(UART011.FR) & UART_FR.RXFE) break;
      const ch = this.read(UART011.DR);
      this.icount.rx++;
      if (ch & (DR.OE | DR.BE | DR.PE | DR.FE)) {
        if (ch & DR.BE) this.icount.brk++;
        else if (ch & DR.PE) this.icount.parity++;
        else if (ch & DR.FE) this.icount.frame++;
        if (ch & DR.OE) this.icount.overrun++;
      }
      this.flip.push(ch & 0xff);
    }
    return taken;
  }

  /** pl011_int(): the shared UART interrupt. */
  private pl011Int(_irq: number): number {
    let status = this.read(UART011.RIS) & this.im;
    if (!status) return IRQ_NONE;
    let passCounter = AMBA_ISR_PASS_LIMIT;
    do {
      // RX, RT and TX clear by draining or filling the FIFO, not through ICR.
      this.write(status & ~(UART_INT.TX | UART_INT.RT | UART_INT.RX), UART011.ICR);
      if (status & (UART_INT.RT | UART_INT.RX)) this.fifoToTty();
      if (status & INT_MODEM) this.modemStatus();
      if (status & UART_INT.TX) this.txChars(true);
      if (passCounter-- === 0) break;
      status = this.read(UART011.RIS) & this.im;
    } while (status !== 0);
    return IRQ_HANDLED;
  }

  // -------------------------------------------------------------------------------------------
  // The tty side

  /**
   * serial_core.c: uart_write() — queues what fits in the transmit buffer and starts the
   * transmitter; returns the bytes taken. EIO while the tty is not open.
   */
  writeTty(data: Uint8Array | string): number {
    if (!this.started) throw new SysError("EIO", "uart_write", `${this.name} is not open`);
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const room = UART_XMIT_SIZE - 1 - this.xmit.length;
    const n = Math.min(room, bytes.length);
    for (let i = 0; i < n; i++) this.xmit.push(bytes[i] as number);
    this.startTx();
    return n;
  }

  /** What a reader of the tty gets: the received bytes not yet read. */
  readTty(): Uint8Array {
    const out = Uint8Array.from(this.flip);
    this.flip = [];
    return out;
  }

  /** pl011_tx_empty(): TIOCSER_TEMT when nothing is left to send. */
  txEmpty(): boolean {
    return (this.read(UART011.FR) & (UART_FR.BUSY | UART_FR.TXFF)) === 0 && this.xmit.length === 0;
  }

  /** serial_core.c: uart_port_startup() + uart_port_dtr_rts(): the tty is opened. */
  open(t: Pl011Termios): void {
    if (this.started) return;
    this.startup();
    this.started = true;
    this.setTermios(t);
    this.mctrl |= UART_CR.DTR | UART_CR.RTS;
    this.setMctrl(this.mctrl);
  }

  /** serial_core.c: uart_shutdown() — DTR/RTS down (HUPCL), then pl011_shutdown(). */
  hangup(): void {
    if (!this.started) return;
    this.mctrl &= ~(UART_CR.DTR | UART_CR.RTS);
    this.setMctrl(this.mctrl);
    this.shutdown();
    this.started = false;
    this.xmit = [];
  }

  // -------------------------------------------------------------------------------------------
  // The console

  /** pl011_console_putchar(): wait for room, then DR (dropped if room never comes). */
  private consolePutchar(ch: number): void {
    if (this.waitWhile(UART_FR.TXFF)) this.write(ch, UART011.DR);
  }

  /**
   * Spins on FR as the CPU would, the model letting virtual time run meanwhile. Linux spins
   * for ever; the model gives up after CONSOLE_SPIN_LIMIT_NS (false) rather than hang.
   */
  private waitWhile(bits: number): boolean {
    if (!(this.read(UART011.FR) & bits)) return true;
    return this.env.scheduler.sleepUntil(
      () => (this.read(UART011.FR) & bits) === 0,
      `${this.name}: console write`,
      CONSOLE_SPIN_LIMIT_NS,
    );
  }

  /**
   * pl011_console_write(): the transmitter forced on (CTSEN off), the text sent with each
   * "\n" as "\r\n" (uart_console_write()), BUSY waited out, CR put back.
   */
  consoleWrite(text: string): void {
    const oldCr = this.read(UART011.CR);
    const newCr = (oldCr & ~UART_CR.CTSEN) | UART_CR.UARTEN | UART_CR.TXE;
    this.write(newCr, UART011.CR);
    for (const byte of new TextEncoder().encode(text)) {
      if (byte === 0x0a) this.consolePutchar(0x0d);
      this.consolePutchar(byte);
    }
    this.waitWhile(UART_FR.BUSY);
    this.write(oldCr, UART011.CR);
  }

  /** A record as the console prints it: `[    0.000000] text` per line. */
  private emitRecord(r: PrintkRecord): void {
    if (r.level >= CONSOLE_LOGLEVEL_DEFAULT) return;
    const prefix = `${printTime(r.tsNs)} `;
    this.consoleWrite(
      `${r.text
        .split("\n")
        .map((l) => prefix + l)
        .join("\n")}\n`,
    );
  }

  /**
   * pl011_console_setup() + register_console(): line settings from the options or the
   * hardware, the log so far replayed, later messages written as they come.
   */
  registerConsole(options: string | null): void {
    const printk = this.adev.ctx.printk;
    this.uartclk = uartClockRate(this.adev.ofNode);
    const t = options ? uartParseOptions(options) : this.consoleGetOptions();
    this.setTermios(t);
    this.mctrl |= UART_CR.DTR;
    this.setMctrl(this.mctrl);
    this.console = true;
    for (const r of printk.records()) this.emitRecord(r);
    this.unsubscribeConsole = printk.subscribe((r) => this.emitRecord(r));
    printk.printk(KERN_INFO, `printk: legacy console [${this.name}] enabled`);
  }

  /** unregister_console(): said on the console itself, then it is gone. */
  unregisterConsole(): void {
    if (!this.console) return;
    this.adev.ctx.printk.printk(KERN_INFO, `printk: legacy console [${this.name}] disabled`);
    this.unsubscribeConsole?.();
    this.unsubscribeConsole = null;
    this.console = false;
  }

  /**
   * pl011_console_get_options(): what the boot loader left programmed, or the default 38400
   * 8N1 when the UART is off.
   */
  private consoleGetOptions(): Pl011Termios {
    if (!(this.read(UART011.CR) & UART_CR.UARTEN)) {
      return { baud: 38400, bits: 8, parity: "n", stopBits: 1 };
    }
    const lcrh = this.read(UART011.LCRH);
    const parity = lcrh & UART_LCRH.PEN ? (lcrh & UART_LCRH.EPS ? "e" : "o") : "n";
    const bits = (lcrh & 0x60) === UART_LCRH.WLEN_7 ? 7 : 8;
    const ibrd = this.read(UART011.IBRD);
    const fbrd = this.read(UART011.FBRD);
    const baud = Math.floor((this.uartclk * 4) / (64 * ibrd + fbrd));
    return { baud, bits, parity, stopBits: 1 };
  }
}

/** serial_core.c: uart_parse_options() — `<baud><parity><bits>` (115200n8). */
export function uartParseOptions(options: string): Pl011Termios {
  const m = /^(\d*)([noe]?)([5-8]?)/.exec(options);
  const baud = m?.[1] ? Number(m[1]) : 9600;
  const parity = (m?.[2] || "n") as "n" | "o" | "e";
  const bits = (m?.[3] ? Number(m[3]) : 8) as 5 | 6 | 7 | 8;
  return { baud, bits, parity, stopBits: 1 };
}

/** The root of the live tree a node belongs to. */
function ofRoot(np: OfNode): OfNode {
  let n = np;
  while (n.parent) n = n.parent;
  return n;
}

/**
 * clk_get_rate() of the UART's first clock ("uartclk"): the rate of a `fixed-clock`
 * provider; 0 when the clock is not a fixed one.
 */
function uartClockRate(np: OfNode | null): number {
  if (!np) return 0;
  const cells = propU32s(np.dt, "clocks");
  const provider = cells ? phandleMap(ofRoot(np).dt).get(cells[0] as number) : undefined;
  if (!provider || !propStrings(provider, "compatible")?.includes("fixed-clock")) return 0;
  return propU32(provider, "clock-frequency") ?? 0;
}

/**
 * drivers/of/base.c: of_console_check() — the options of `/chosen/stdout-path` when it names
 * `np` (`""` for none), or null when the console is elsewhere.
 */
function ofStdoutOptions(np: OfNode): string | null {
  const chosen = ofRoot(np).children.find((c) => c.name === "chosen");
  const stdout = chosen?.strings("stdout-path")[0] ?? chosen?.strings("linux,stdout-path")[0];
  if (!stdout) return null;
  const colon = stdout.indexOf(":");
  const path = colon >= 0 ? stdout.slice(0, colon) : stdout;
  if (path !== np.path) return null;
  return colon >= 0 ? stdout.slice(colon + 1) : "";
}

/** amba-pl011.c: pl011_ids[] — the ARM PL011. */
export const PL011_IDS: readonly AmbaId[] = [
  { id: 0x00041011, mask: 0x000fffff },
  { id: 0, mask: 0 },
];

/** The termios a tty gets when the console opens it: the console's, else 9600 8N1. */
const TTY_STD_TERMIOS: Pl011Termios = { baud: 9600, bits: 8, parity: "n", stopBits: 1 };

/** The `uart-pl011` AMBA driver. */
export function pl011Driver(env: BoardDriverEnv): AmbaDriver {
  /** `amba_ports[]`: the lines taken, for pl011_find_free_port(). */
  const ambaPorts = new Array<UartAmbaPort | null>(UART_NR).fill(null);
  return new AmbaDriver({
    name: "uart-pl011",
    idTable: PL011_IDS,
    /** amba-pl011.c: pl011_probe() */
    probe: (adev) => {
      const line = ambaPorts.indexOf(null);
      if (line < 0) throw new SysError("EBUSY", "pl011_find_free_port", "all ports taken");
      // pl011_setup_port()
      const base = devmIoremapResource(adev, adev.res);
      const uap = new UartAmbaPort(env, adev, base, line, adev.irq[0] ?? 0);
      ambaPorts[line] = uap;
      adev.devres.add("pl011_unregister_port", () => {
        if (ambaPorts[line] === uap) ambaPorts[line] = null;
      });
      adev.driverData = uap;
      // pl011_register_port(): nothing may interrupt before the port is set up.
      uap.base.writew(UART011.IMSC, 0);
      uap.base.writew(UART011.ICR, 0xffff);
      // uart_add_one_port() → uart_configure_port() → uart_report_port()
      adev.ctx.printk.printk(
        KERN_INFO,
        `${adev.name}: ${uap.name} at MMIO 0x${uap.mapbase.toString(16)} (irq = ${uap.irq}, base_baud = ${uap.uartclk / 16}) is a ${uap.type}`,
      );
      const options = adev.ofNode ? ofStdoutOptions(adev.ofNode) : null;
      if (options !== null) uap.registerConsole(options || null);
      // init opens the console tty at boot; an open that fails does not fail the probe.
      try {
        uap.open(uap.termios ?? TTY_STD_TERMIOS);
      } catch (e) {
        if (!SysError.isInstance(e)) throw e;
      }
    },
    /** amba-pl011.c: pl011_remove() → uart_remove_one_port() → pl011_unregister_port() */
    remove: (adev) => {
      const uap = drvdata(adev, UartAmbaPort);
      uap.hangup();
      uap.unregisterConsole();
    },
  });
}
