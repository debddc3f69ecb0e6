/**
 * ARM PrimeCell General Purpose Input/Output (PL061): eight lines, each an input or an output,
 * with edge- or level-sensitive interrupts combined onto GPIOINTR.
 *
 * Models: ARM DDI 0190 (PrimeCell GPIO PL061 Technical Reference Manual). Facts cross-checked
 * against QEMU `hw/gpio/pl061.c` and Linux `drivers/gpio/gpio-pl061.c` (which uses byte
 * accessors, and writes DATA through the address mask `base + (BIT(offset) << 2)`).
 *
 * MMIO window 0: the 4 KiB register block. IRQ 0: GPIOINTR = (RIS & IE) != 0.
 *
 * Pins: an output line drives its DATA bit. An input line reads the level the host drives with
 * `setInput()`, or, when the host has never driven it (or released it), its pull: `pullUps`
 * (bit n = line n pulled high), default 0x00 so that undriven inputs read 0, which is what a
 * guest reads from QEMU's `virt` PL061 (QEMU's "pullups" property only shapes what its GPIO
 * outputs show to the board, not DATA).
 *
 * Interrupts: the detector watches the input lines. Edge mode (IS = 0) latches a RIS bit on a
 * rising (IEV = 1) or falling (IEV = 0) transition, or on both when IBE = 1; level mode
 * (IS = 1) keeps RIS set while the line is at the IEV level, so an IC write re-latches at once
 * while the condition holds.
 *
 * Caveat:
 * - AFSEL is stored, but hardware (alternate function) control of a line is not modelled: a
 *   non-zero write is logged as unimplemented and the line stays under software control.
 * - Lines configured as outputs never interrupt (as in QEMU); the TRM does not say whether the
 *   detector sees a pad its own output drives.
 * - A DATA write only changes output lines (as in QEMU and the Stellaris derivative); bits of
 *   input lines are not latched for a later switch to output.
 * - The integration-test registers and the 0xFD0-0xFDC block QEMU reads as zero are holes.
 */

import type { BusError } from "../core/bus-error.js";
import { Device, type DeviceContext, type DeviceIdentity } from "../core/device.js";
import type { DeviceModel } from "../core/device-model.js";
import {
  type PrimeCellIdName,
  primeCellIdRegisters,
  RegisterMap,
  type RegisterSpec,
} from "../core/registers.js";
import type { AccessSize } from "../core/system-bus.js";

export type Pl061RegisterName =
  | "DATA"
  | "DIR"
  | "IS"
  | "IBE"
  | "IEV"
  | "IE"
  | "RIS"
  | "MIS"
  | "IC"
  | "AFSEL"
  | PrimeCellIdName;

const PL061_REGISTERS: readonly RegisterSpec<Pl061RegisterName>[] = [
  {
    name: "DATA",
    offset: 0x000,
    access: "rw",
    count: 256,
    stride: 4,
    doc: "Data, seen through the mask formed by address bits [9:2]",
  },
  { name: "DIR", offset: 0x400, access: "rw", doc: "Direction: 1 = output" },
  { name: "IS", offset: 0x404, access: "rw", doc: "Interrupt sense: 1 = level, 0 = edge" },
  { name: "IBE", offset: 0x408, access: "rw", doc: "Interrupt on both edges (overrides IEV)" },
  {
    name: "IEV",
    offset: 0x40c,
    access: "rw",
    doc: "Interrupt event: 1 = rising edge / high level",
  },
  { name: "IE", offset: 0x410, access: "rw", doc: "Interrupt mask: 1 = enabled" },
  { name: "RIS", offset: 0x414, access: "ro", doc: "Raw interrupt status" },
  { name: "MIS", offset: 0x418, access: "ro", doc: "Masked interrupt status" },
  { name: "IC", offset: 0x41c, access: "wo", doc: "Interrupt clear (write 1)" },
  {
    name: "AFSEL",
    offset: 0x420,
    access: "rw",
    doc: "Mode control: 1 = hardware (alternate) control",
  },
  ...primeCellIdRegisters([0x61, 0x10, 0x04, 0x00]),
];

export const PL061_REGISTER_MAP = new RegisterMap(PL061_REGISTERS);

export const PL061_LINES = 8;

export interface Pl061Options {
  /** Lines pulled high when nothing drives them as inputs (bit n = line n). Default 0x00. */
  readonly pullUps?: number;
}

/** Called for each output line whose driven level changes, lowest line first. */
export type Pl061OutputListener = (line: number, level: boolean) => void;

export class Pl061 extends Device {
  readonly pullUps: number;

  private data = 0;
  private dir = 0;
  private is = 0;
  private ibe = 0;
  private iev = 0;
  private ie = 0;
  private ris = 0;
  private afsel = 0;
  /** Lines the host drives, and the levels it drives them to. */
  private hostDriven = 0;
  private hostLevels = 0;
  /** Pad levels the interrupt detector saw last time. */
  private sampled = 0;
  private lastOutputs = 0;
  private readonly listeners: Pl061OutputListener[] = [];

  constructor(ctx: DeviceContext, id: DeviceIdentity, options: Pl061Options = {}) {
    super(ctx, id, { irqNames: ["GPIOINTR"], busMaster: false });
    const pulls = options.pullUps ?? 0;
    if (!Number.isInteger(pulls) || pulls < 0 || pulls > 0xff) {
      throw new RangeError(`pl061: pullUps must be an 8-bit mask, got ${pulls}`);
    }
    this.pullUps = pulls;
    this.reset();
  }

  reset(): void {
    this.data = 0;
    this.dir = 0;
    this.is = 0;
    this.ibe = 0;
    this.iev = 0;
    this.ie = 0;
    this.ris = 0;
    this.afsel = 0;
    // The detector starts from the pins as they are: reset is not an edge.
    this.sampled = this.pads();
    this.update();
  }

  // ---- host side -------------------------------------------------------------------------

  /** Drives input line `line` to `level` from outside the chip. */
  setInput(line: number, level: boolean): void {
    const bit = lineBit(line);
    this.hostDriven |= bit;
    this.hostLevels = level ? this.hostLevels | bit : this.hostLevels & ~bit;
    this.update();
  }

  /** Stops driving `line`; it falls back to its pull. */
  releaseInput(line: number): void {
    const bit = lineBit(line);
    this.hostDriven &= ~bit;
    this.hostLevels &= ~bit;
    this.update();
  }

  /** The lines the PL061 drives high: DATA bits of lines configured as outputs. */
  outputs(): number {
    return this.data & this.dir;
  }

  /** The level of every pad, inputs and outputs alike (bit n = line n). */
  pins(): number {
    return this.pads();
  }

  onOutputChange(listener: Pl061OutputListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  // ---- registers -------------------------------------------------------------------------

  /** The registers are 8 bits wide and Linux drives them with `readb`/`writeb`. */
  override mmioWrite(offset: number, size: AccessSize, value: number): BusError | undefined {
    if ((offset & 3) !== 0) {
      this.guestError(`${size}-byte write at unaligned offset 0x${offset.toString(16)} ignored`);
      return undefined;
    }
    this.writeRegister(offset, value >>> 0);
    return undefined;
  }

  protected readRegister(offset: number): number {
    const reg = this.decodeRead(PL061_REGISTER_MAP, offset);
    if (!reg) return 0;
    switch (reg.spec.name) {
      case "DATA":
        // reg.index is address bits [9:2]: the lines this access can see.
        return this.pads() & reg.index;
      case "DIR":
        return this.dir;
      case "IS":
        return this.is;
      case "IBE":
        return this.ibe;
      case "IEV":
        return this.iev;
      case "IE":
        return this.ie;
      case "RIS":
        return this.ris;
      case "MIS":
        return this.ris & this.ie;
      case "AFSEL":
        return this.afsel;
      default:
        return reg.spec.reset ?? 0;
    }
  }

  protected writeRegister(offset: number, value: number): void {
    const reg = this.decodeWrite(PL061_REGISTER_MAP, offset, value);
    if (!reg) return;
    const byte = value & 0xff;
    switch (reg.spec.name) {
      case "DATA": {
        const mask = reg.index & this.dir;
        this.data = (this.data & ~mask) | (byte & mask);
        break;
      }
      case "DIR":
        this.dir = byte;
        break;
      case "IS":
        this.is = byte;
        break;
      case "IBE":
        this.ibe = byte;
        break;
      case "IEV":
        this.iev = byte;
        break;
      case "IE":
        this.ie = byte;
        break;
      case "IC":
        this.ris &= ~byte;
        break;
      case "AFSEL":
        this.afsel = byte;
        if (byte) {
          this.unimplemented(
            `hardware control of lines 0x${byte.toString(16)} (AFSEL): lines stay under software control`,
          );
        }
        break;
    }
    this.update();
  }

  // ---- behaviour -------------------------------------------------------------------------

  private pads(): number {
    const external = (this.hostLevels & this.hostDriven) | (this.pullUps & ~this.hostDriven);
    return ((this.data & this.dir) | (external & ~this.dir)) & 0xff;
  }

  /**
   * Samples the pads, latches interrupt conditions, notifies output listeners and recomputes
   * GPIOINTR: the one place where any of them changes.
   */
  private update(): void {
    const pads = this.pads();
    const inputs = ~this.dir & 0xff;
    const changed = (pads ^ this.sampled) & inputs;
    const edges = changed & ~this.is & (this.ibe | ~(pads ^ this.iev));
    const levels = ~(pads ^ this.iev) & this.is & inputs;
    this.ris = (this.ris | edges | levels) & 0xff;
    this.sampled = pads;

    const outputs = this.outputs();
    const toggled = outputs ^ this.lastOutputs;
    this.lastOutputs = outputs;
    if (toggled) {
      for (let line = 0; line < PL061_LINES; line++) {
        if (!(toggled & (1 << line))) continue;
        const level = (outputs & (1 << line)) !== 0;
        for (const listener of [...this.listeners]) listener(line, level);
      }
    }

    this.irqs[0]!.set((this.ris & this.ie) !== 0);
  }
}

function lineBit(line: number): number {
  if (!Number.isInteger(line) || line < 0 || line >= PL061_LINES) {
    throw new RangeError(`pl061: no line ${line} (0..${PL061_LINES - 1})`);
  }
  return 1 << line;
}

export const pl061Model: DeviceModel = {
  compatible: ["arm,pl061"],
  description: "ARM PrimeCell GPIO (PL061)",
  create(ctx, id) {
    return new Pl061(ctx, id);
  },
};
