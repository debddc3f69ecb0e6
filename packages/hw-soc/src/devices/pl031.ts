/**
 * ARM PrimeCell Real Time Clock (PL031): a 32-bit seconds counter with a match interrupt.
 *
 * Models: ARM DDI 0224 (PrimeCell Real Time Clock PL031 Technical Reference Manual). Facts
 * cross-checked against QEMU `hw/rtc/pl031.c` (register map, ID bytes 31 10 14 00) and Linux
 * `drivers/rtc/rtc-pl031.c` (which sets CR.EN at probe and programs MR for alarms).
 *
 * MMIO window 0: the 4 KiB register block. IRQ 0: RTCINTR = RIS & IMSC.
 *
 * Time: CLK1HZ is a free-running 1 Hz clock whose rising edges fall on whole virtual seconds
 * (t = k * 1e9 ns). While started, the counter advances on each edge; DR reads
 * `LR-or-initial value + edges since`, modulo 2^32. A match is one scheduled clock event at
 * the edge where the counter will equal MR, rescheduled on every LR, MR or CR write.
 *
 * Follows the TRM where QEMU differs: CR resets to 0 and the counter does not count until
 * software writes CR.EN (QEMU reads CR as 1 and counts from power-on); once started, the
 * counter cannot be stopped until reset.
 *
 * Caveat:
 * - An LR write loads the counter at once (the TRM has it load on the next CLK1HZ edge), as
 *   QEMU does; the 1 Hz phase is unaffected.
 * - After a match, the next match (2^32 s later, once the counter wraps) is not scheduled.
 * - The integration-test registers (0x080-0x08C) are not modelled.
 */

import type { ScheduledEvent } from "../core/clock.js";
import { Device, type DeviceContext, type DeviceIdentity } from "../core/device.js";
import type { DeviceModel } from "../core/device-model.js";
import {
  type PrimeCellIdName,
  primeCellIdRegisters,
  RegisterMap,
  type RegisterSpec,
} from "../core/registers.js";

export type Pl031RegisterName =
  | "DR"
  | "MR"
  | "LR"
  | "CR"
  | "IMSC"
  | "RIS"
  | "MIS"
  | "ICR"
  | PrimeCellIdName;

const PL031_REGISTERS: readonly RegisterSpec<Pl031RegisterName>[] = [
  { name: "DR", offset: 0x000, access: "ro", doc: "Data: the current counter value in seconds" },
  {
    name: "MR",
    offset: 0x004,
    access: "rw",
    doc: "Match: RTCINTR is raised when the counter reaches it",
  },
  { name: "LR", offset: 0x008, access: "rw", doc: "Load: written value becomes the counter value" },
  {
    name: "CR",
    offset: 0x00c,
    access: "rw",
    doc: "Control: bit 0 starts the counter (sticky until reset)",
  },
  { name: "IMSC", offset: 0x010, access: "rw", doc: "Interrupt mask set/clear (1 = enabled)" },
  { name: "RIS", offset: 0x014, access: "ro", doc: "Raw interrupt status" },
  { name: "MIS", offset: 0x018, access: "ro", doc: "Masked interrupt status" },
  { name: "ICR", offset: 0x01c, access: "wo", doc: "Interrupt clear (write 1)" },
  ...primeCellIdRegisters([0x31, 0x10, 0x14, 0x00]),
];

export const PL031_REGISTER_MAP = new RegisterMap(PL031_REGISTERS);

const NS_PER_SECOND = 1_000_000_000;
const TWO_32 = 0x1_0000_0000;

export interface Pl031Options {
  /** Counter value at reset, in seconds (a battery-backed time, say). Default 0. */
  readonly initialSeconds?: number;
}

export class Pl031 extends Device {
  readonly initialSeconds: number;

  private started = false;
  /** Counter value while stopped; while started, the value minus the CLK1HZ edge count. */
  private base = 0;
  private mr = 0;
  private lr = 0;
  private imsc = 0;
  private ris = 0;
  private matchEvent: ScheduledEvent | null = null;

  constructor(ctx: DeviceContext, id: DeviceIdentity, options: Pl031Options = {}) {
    super(ctx, id, { irqNames: ["RTCINTR"], busMaster: false });
    const initial = options.initialSeconds ?? 0;
    if (!Number.isInteger(initial) || initial < 0 || initial >= TWO_32) {
      throw new RangeError(
        `pl031: initialSeconds must be a 32-bit unsigned integer, got ${initial}`,
      );
    }
    this.initialSeconds = initial;
    this.reset();
  }

  reset(): void {
    if (this.matchEvent) this.clock.cancel(this.matchEvent);
    this.matchEvent = null;
    this.started = false;
    this.base = this.initialSeconds;
    this.mr = 0;
    this.lr = 0;
    this.imsc = 0;
    this.ris = 0;
    this.update();
  }

  /** The counter value now (what DR reads). */
  get seconds(): number {
    return this.started ? wrap32(this.base + this.edges()) : this.base;
  }

  protected readRegister(offset: number): number {
    const reg = this.decodeRead(PL031_REGISTER_MAP, offset);
    if (!reg) return 0;
    switch (reg.spec.name) {
      case "DR":
        return this.seconds;
      case "MR":
        return this.mr;
      case "LR":
        return this.lr;
      case "CR":
        return this.started ? 1 : 0;
      case "IMSC":
        return this.imsc;
      case "RIS":
        return this.ris;
      case "MIS":
        return this.ris & this.imsc;
      default:
        return reg.spec.reset ?? 0;
    }
  }

  protected writeRegister(offset: number, value: number): void {
    const reg = this.decodeWrite(PL031_REGISTER_MAP, offset, value);
    if (!reg) return;
    switch (reg.spec.name) {
      case "MR":
        this.mr = value;
        this.armMatch(true);
        break;
      case "LR":
        this.lr = value;
        this.load(value);
        this.armMatch(true);
        break;
      case "CR":
        if (value & 1 && !this.started) {
          this.base = wrap32(this.base - this.edges());
          this.started = true;
          this.note("start", { seconds: this.seconds });
          // Starting does not change the counter, so it is no match by itself.
          this.armMatch(false);
        } else if (!(value & 1) && this.started) {
          // TRM: once enabled, writes to the start bit have no effect until reset.
          this.note("stop-ignored");
        }
        break;
      case "IMSC":
        this.imsc = value & 1;
        break;
      case "ICR":
        this.ris &= ~value & 1;
        break;
    }
    this.update();
  }

  /** Recomputes RTCINTR from RIS and IMSC. */
  private update(): void {
    this.irqs[0]!.set((this.ris & this.imsc) !== 0);
  }

  /** CLK1HZ rising edges since time 0. */
  private edges(): number {
    return Math.floor(this.clock.now / NS_PER_SECOND);
  }

  private load(value: number): void {
    this.base = this.started ? wrap32(value - this.edges()) : value;
  }

  /**
   * Schedules the CLK1HZ edge at which the counter will equal MR. An MR or LR write that makes
   * them equal matches at once, as QEMU's pl031_set_alarm() does.
   */
  private armMatch(matchNow: boolean): void {
    if (this.matchEvent) this.clock.cancel(this.matchEvent);
    this.matchEvent = null;
    const ticks = wrap32(this.mr - this.seconds);
    if (ticks === 0) {
      if (matchNow) this.ris = 1;
      return;
    }
    if (!this.started) return;
    const at = (this.edges() + ticks) * NS_PER_SECOND;
    this.matchEvent = this.clock.schedule(at - this.clock.now, `${this.name}: match`, () => {
      this.matchEvent = null;
      this.ris = 1;
      this.update();
    });
  }
}

function wrap32(v: number): number {
  return ((v % TWO_32) + TWO_32) % TWO_32;
}

export const pl031Model: DeviceModel = {
  compatible: ["arm,pl031"],
  description: "ARM PrimeCell real-time clock (PL031)",
  create(ctx, id) {
    return new Pl031(ctx, id);
  },
};
