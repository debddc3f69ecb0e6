/**
 * ARM Dual-Timer Module (SP804): two 32/16-bit down-counters with prescalers, each in
 * free-running, periodic or one-shot mode.
 *
 * Models: ARM DDI 0271 (ARM Dual-Timer Module SP804 Technical Reference Manual). Facts
 * cross-checked against QEMU `hw/timer/arm_timer.c` (IDs 04 18 14 00, 1 MHz default clocks,
 * both timers merged onto one interrupt) and Linux `drivers/clocksource/timer-sp804.c`.
 *
 * MMIO window 0: timer 1 at +0x00, timer 2 at +0x20, integration test at 0xF00, IDs at 0xFE0.
 * IRQ 0: TIMINTC, the OR of both timers' masked interrupts (TIMINT1/TIMINT2 are not wired,
 * as on QEMU boards).
 *
 * Counting, in virtual time: a timer decrements once per `prescale / clockHz` seconds while
 * enabled. Its value is computed from the time elapsed, never ticked; the model only schedules
 * the next time the counter reaches zero. From a value V the counter shows V, V-1, ..., 0 and,
 * one tick after 0, reloads: with Load in periodic mode, with 0xFFFFFFFF (0xFFFF in 16-bit
 * mode) in free-running mode, or halts at 0 in one-shot mode. So the period is Load + 1 ticks
 * (periodic) or 2^32 / 2^16 ticks (free-running). Each arrival at 0 sets RIS; it stays set
 * until IntClr. Loading 0 raises the interrupt at once, as the TRM says of a zero
 * TimerXLoad (whose minimum valid value is 1).
 *
 * Caveat:
 * - Whether the count rests at 0 for a tick before reloading is not spelled out by the TRM;
 *   this model shows 0 for one tick (so a free-running wrap takes exactly 2^32 ticks), where
 *   QEMU's ptimer reloads at once and gives a periodic timer a period of Load ticks.
 * - A Load write restarts the prescaler at the write (the TRM loads on the next TIMCLK edge);
 *   so do enabling a timer and changing its prescale. Other Control writes keep the phase.
 * - In 16-bit mode only the low half of the counter counts; the high half of a value loaded
 *   or reached in 32-bit mode is dropped once the timer runs in 16-bit mode.
 * - The integration test path is modelled only as far as TIMINTC: with ITCR set, ITOP bits 0
 *   and 1 drive TIMINT1/TIMINT2 and so the combined output.
 */

import type { ScheduledEvent, VirtualClock } from "../core/clock.js";
import { Device, type DeviceContext, type DeviceIdentity } from "../core/device.js";
import type { DeviceModel } from "../core/device-model.js";
import {
  type PrimeCellIdName,
  primeCellIdRegisters,
  RegisterMap,
  type RegisterSpec,
} from "../core/registers.js";
import { fixedClockRates } from "../devicetree/properties.js";
import type { DeviceTree, DtNode } from "../devicetree/tree.js";

export type Sp804RegisterName =
  | "Load"
  | "Value"
  | "Control"
  | "IntClr"
  | "RIS"
  | "MIS"
  | "BGLoad"
  | "ITCR"
  | "ITOP"
  | PrimeCellIdName;

/** Per-timer registers: index 0 is timer 1 (+0x00), index 1 is timer 2 (+0x20). */
const bank = { count: 2, stride: 0x20 } as const;

const SP804_REGISTERS: readonly RegisterSpec<Sp804RegisterName>[] = [
  {
    name: "Load",
    offset: 0x00,
    access: "rw",
    ...bank,
    doc: "Load: writing reloads the counter at once",
  },
  { name: "Value", offset: 0x04, access: "ro", reset: 0xffff_ffff, ...bank, doc: "Current count" },
  {
    name: "Control",
    offset: 0x08,
    access: "rw",
    reset: 0x20,
    ...bank,
    doc: "Mode, size, prescale, IE, enable",
  },
  { name: "IntClr", offset: 0x0c, access: "wo", ...bank, doc: "Any write clears the interrupt" },
  { name: "RIS", offset: 0x10, access: "ro", ...bank, doc: "Raw interrupt status" },
  { name: "MIS", offset: 0x14, access: "ro", ...bank, doc: "Masked interrupt status" },
  {
    name: "BGLoad",
    offset: 0x18,
    access: "rw",
    ...bank,
    doc: "Background load: used at the next reload",
  },
  {
    name: "ITCR",
    offset: 0xf00,
    access: "rw",
    doc: "Integration test control: bit 0 enables test mode",
  },
  {
    name: "ITOP",
    offset: 0xf04,
    access: "wo",
    doc: "Integration test output set: TIMINT1, TIMINT2",
  },
  ...primeCellIdRegisters([0x04, 0x18, 0x14, 0x00]),
];

export const SP804_REGISTER_MAP = new RegisterMap(SP804_REGISTERS);

/** TimerXControl bits. */
export const SP804_CTRL = {
  ONESHOT: 0x01,
  SIZE32: 0x02,
  /** Prescale [3:2]: 0 = /1, 1 = /16, 2 = /256, 3 = undefined. */
  PRESCALE_SHIFT: 2,
  INTEN: 0x20,
  PERIODIC: 0x40,
  ENABLE: 0x80,
} as const;

const CONTROL_WRITABLE = 0xef;
const NS_PER_S = 1_000_000_000n;

export interface Sp804Options {
  /** TIMCLK of timer 1 in Hz. Default 1 MHz, as QEMU's `freq0`. */
  readonly timer1Hz?: number;
  /** TIMCLK of timer 2 in Hz. Default 1 MHz, as QEMU's `freq1`. */
  readonly timer2Hz?: number;
}

/** One of the two identical counters. */
class Sp804Timer {
  load = 0;
  control = 0x20;
  ris = false;
  /** While enabled: virtual time of tick 0. */
  private originNs = 0;
  /**
   * The 32-bit counter held `v0` at tick `k0` (while disabled, `v0` is the frozen count, which
   * is what Value reads).
   */
  private k0 = 0;
  private v0 = 0xffff_ffff;
  /** Whether the counter sitting at 0 at tick `k0` still has to raise the interrupt. */
  private armed = true;
  /** Index of the next arrival at zero to signal (see `arrival`). */
  private next = 0;
  private event: ScheduledEvent | null = null;

  constructor(
    readonly hz: number,
    private readonly label: string,
    private readonly clock: VirtualClock,
    private readonly changed: () => void,
  ) {}

  reset(): void {
    this.cancel();
    this.load = 0;
    this.control = 0x20;
    this.ris = false;
    this.originNs = 0;
    this.k0 = 0;
    this.v0 = 0xffff_ffff;
    this.armed = true;
    this.next = 0;
  }

  get enabled(): boolean {
    return (this.control & SP804_CTRL.ENABLE) !== 0;
  }

  get interrupting(): boolean {
    return this.ris && (this.control & SP804_CTRL.INTEN) !== 0;
  }

  /** The current count (TimerXValue). */
  value(): number {
    if (!this.enabled) return this.v0;
    return this.valueAtTick(this.ticks());
  }

  writeLoad(value: number): void {
    this.load = value;
    this.v0 = value;
    this.armed = true;
    if (!this.enabled) return;
    this.originNs = this.clock.now;
    this.k0 = 0;
    this.next = 0;
    this.reschedule();
  }

  writeBackgroundLoad(value: number): void {
    this.sync();
    if (this.enabled) this.rebase(this.ticks());
    this.load = value;
    if (this.enabled) this.reschedule();
  }

  writeControl(value: number): void {
    this.sync();
    const was = this.control;
    const wasEnabled = this.enabled;
    if (wasEnabled) this.rebase(this.ticks());
    this.control = value & CONTROL_WRITABLE;
    if (!this.enabled) {
      this.cancel();
      return;
    }
    if (!wasEnabled || prescale(was) !== prescale(this.control)) {
      this.originNs = this.clock.now;
      this.k0 = 0;
    }
    this.next = this.armed ? 0 : 1;
    this.reschedule();
  }

  clearInterrupt(): void {
    this.sync();
    this.ris = false;
  }

  /** Signals an arrival at zero that is due but whose clock event has not run yet. */
  sync(): void {
    if (!this.enabled) return;
    const due = this.arrival(this.next);
    if (due !== undefined && due <= this.ticks()) this.reschedule();
  }

  private cancel(): void {
    if (this.event) this.clock.cancel(this.event);
    this.event = null;
  }

  private mask(): number {
    return this.control & SP804_CTRL.SIZE32 ? 0xffff_ffff : 0xffff;
  }

  /** `v` as the counter sees it: only the low half counts in 16-bit mode. */
  private start(v: number): number {
    return (v & this.mask()) >>> 0;
  }

  /** What the counter reloads with one tick after reaching 0. */
  private reload(): number {
    return this.control & SP804_CTRL.PERIODIC ? this.start(this.load) : this.mask();
  }

  /** Whole ticks since `originNs`. */
  private ticks(): number {
    const elapsed = BigInt(Math.floor(this.clock.now - this.originNs));
    return Number((elapsed * BigInt(this.hz)) / (BigInt(prescale(this.control)) * NS_PER_S));
  }

  /** Virtual time at which tick `k` happens. */
  private timeOfTick(k: number): number {
    const num = BigInt(k) * BigInt(prescale(this.control)) * NS_PER_S;
    const hz = BigInt(this.hz);
    return this.originNs + Number((num + hz - 1n) / hz);
  }

  /** The count at tick `k`; in 16-bit mode only the low half of the counter counts. */
  private valueAtTick(k: number): number {
    const d = k - this.k0;
    const v0 = this.start(this.v0);
    if (d <= v0) return v0 - d;
    if (this.control & SP804_CTRL.ONESHOT) return 0;
    const r = this.reload();
    return r - ((d - v0 - 1) % (r + 1));
  }

  /** The tick of the n-th arrival at zero counted from tick `k0`, if there is one. */
  private arrival(n: number): number | undefined {
    const v0 = this.start(this.v0);
    if (this.control & SP804_CTRL.ONESHOT) return n === 0 ? this.k0 + v0 : undefined;
    return this.k0 + v0 + n * (this.reload() + 1);
  }

  /** Restarts the description at tick `k` with the value the counter has there. */
  private rebase(k: number): void {
    const v = this.valueAtTick(k);
    this.k0 = k;
    this.v0 = v;
    // Any arrival at or before `k` was signalled by `sync()`: a 0 here is an old one.
    this.armed = v !== 0;
    this.next = this.armed ? 0 : 1;
  }

  /** Signals arrivals already due, then schedules the next one. */
  private reschedule(): void {
    this.cancel();
    const now = this.ticks();
    let due = this.arrival(this.next);
    if (due !== undefined && due <= now) {
      this.ris = true;
      this.next =
        this.control & SP804_CTRL.ONESHOT
          ? 1
          : Math.floor((now - this.k0 - this.start(this.v0)) / (this.reload() + 1)) + 1;
      due = this.arrival(this.next);
    }
    if (due === undefined) return;
    this.event = this.clock.schedule(this.timeOfTick(due) - this.clock.now, this.label, () => {
      this.event = null;
      this.ris = true;
      this.next++;
      this.reschedule();
      this.changed();
    });
  }
}

function prescale(control: number): number {
  return [1, 16, 256, 256][(control >> SP804_CTRL.PRESCALE_SHIFT) & 3]!;
}

export class Sp804 extends Device {
  private readonly timers: readonly [Sp804Timer, Sp804Timer];
  private itcr = 0;
  private itop = 0;

  constructor(ctx: DeviceContext, id: DeviceIdentity, options: Sp804Options = {}) {
    super(ctx, id, { irqNames: ["TIMINTC"], busMaster: false });
    const hz = [options.timer1Hz ?? 1_000_000, options.timer2Hz ?? 1_000_000];
    for (const f of hz) {
      if (!Number.isSafeInteger(f) || f <= 0)
        throw new RangeError(`sp804: clock must be a positive integer Hz, got ${f}`);
    }
    const changed = () => this.update();
    this.timers = [
      new Sp804Timer(hz[0]!, `${id.name}: timer1 zero`, ctx.clock, changed),
      new Sp804Timer(hz[1]!, `${id.name}: timer2 zero`, ctx.clock, changed),
    ];
    this.reset();
  }

  /** TIMCLK of timer 1 and timer 2, in Hz. */
  get clocksHz(): readonly [number, number] {
    return [this.timers[0].hz, this.timers[1].hz];
  }

  reset(): void {
    for (const t of this.timers) t.reset();
    this.itcr = 0;
    this.itop = 0;
    this.update();
  }

  protected readRegister(offset: number): number {
    const reg = this.decodeRead(SP804_REGISTER_MAP, offset);
    if (!reg) return 0;
    const timer = this.timers[reg.index as 0 | 1];
    switch (reg.spec.name) {
      case "Load":
      case "BGLoad":
        return timer.load;
      case "Value":
        return timer.value();
      case "Control":
        return timer.control;
      case "RIS":
        timer.sync();
        this.update();
        return timer.ris ? 1 : 0;
      case "MIS":
        timer.sync();
        this.update();
        return timer.interrupting ? 1 : 0;
      case "ITCR":
        return this.itcr;
      default:
        return reg.spec.reset ?? 0;
    }
  }

  protected writeRegister(offset: number, value: number): void {
    const reg = this.decodeWrite(SP804_REGISTER_MAP, offset, value);
    if (!reg) return;
    const timer = this.timers[reg.index as 0 | 1];
    switch (reg.spec.name) {
      case "Load":
        timer.writeLoad(value);
        break;
      case "BGLoad":
        timer.writeBackgroundLoad(value);
        break;
      case "Control":
        if (((value >> SP804_CTRL.PRESCALE_SHIFT) & 3) === 3) {
          this.guestError(`timer${reg.index + 1} prescale 11 is undefined (treated as /256)`);
        }
        timer.writeControl(value);
        break;
      case "IntClr":
        timer.clearInterrupt();
        break;
      case "ITCR":
        this.itcr = value & 1;
        break;
      case "ITOP":
        this.itop = value & 3;
        break;
    }
    this.update();
  }

  /** Recomputes TIMINTC from both timers, or from ITOP in integration test mode. */
  private update(): void {
    const level =
      this.itcr & 1 ? this.itop !== 0 : this.timers[0].interrupting || this.timers[1].interrupting;
    this.irqs[0]!.set(level);
  }
}

/**
 * TIMCLK of timer 1 and 2 from the node's `clocks`, as Linux sp804_of_init() reads them: the
 * first entry for timer 1, and the second for timer 2 only when three clocks are listed.
 */
function timerClocks(tree: DeviceTree, node: DtNode): Sp804Options {
  const rates = fixedClockRates(tree, node);
  const t1 = rates[0];
  const t2 = rates.length === 3 ? rates[1] : t1;
  return {
    ...(t1 !== undefined ? { timer1Hz: t1 } : {}),
    ...(t2 !== undefined ? { timer2Hz: t2 } : {}),
  };
}

export const sp804Model: DeviceModel = {
  compatible: ["arm,sp804"],
  description: "ARM dual-timer module (SP804)",
  create(ctx, id, node, tree) {
    return new Sp804(ctx, id, timerClocks(tree, node));
  },
};
