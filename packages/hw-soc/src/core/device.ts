/**
 * The base of every device model: identity, MMIO windows, interrupt outputs, an optional DMA
 * port, and the two ways a model admits imperfection — guest errors (the software did something
 * the hardware does not define) and unimplemented features (the model does not go that far).
 * Both are logged on the trace, never silently ignored.
 */

import { BusError } from "./bus-error.js";
import type { VirtualClock } from "./clock.js";
import { DmaPort } from "./dma-port.js";
import { IrqLine } from "./irq-line.js";
import type { DecodedRegister, RegisterMap } from "./registers.js";
import type { AccessSize, MmioHandler, SystemBus } from "./system-bus.js";
import type { HwTrace } from "./trace.js";

/** What a model gets from the SoC it is built into. */
export interface DeviceContext {
  readonly clock: VirtualClock;
  readonly trace: HwTrace;
  readonly bus: SystemBus;
}

export interface MmioWindow {
  readonly base: number;
  readonly size: number;
}

export interface DeviceIdentity {
  /** Device-tree node name, e.g. `pl061@9030000`: unique on a board, used in every trace. */
  readonly name: string;
  /** Full device-tree path, e.g. `/pl061@9030000`. */
  readonly path: string;
  /** The node's `compatible` list, most specific first. */
  readonly compatible: readonly string[];
  /** The MMIO windows from `reg`, in order. */
  readonly windows: readonly MmioWindow[];
}

export abstract class Device implements MmioHandler {
  readonly name: string;
  readonly path: string;
  readonly compatible: readonly string[];
  readonly windows: readonly MmioWindow[];
  /** Interrupt outputs, in the order the device tree's `interrupts` lists them. */
  readonly irqs: readonly IrqLine[];
  /** The bus-master port, or null for a device that cannot initiate transactions. */
  readonly dma: DmaPort | null;
  /** Guest errors seen so far (also on the trace); tests assert on it. */
  readonly guestErrors: string[] = [];

  protected readonly clock: VirtualClock;
  protected readonly trace: HwTrace;

  constructor(
    ctx: DeviceContext,
    id: DeviceIdentity,
    outputs: { readonly irqNames: readonly string[]; readonly busMaster: boolean },
  ) {
    this.name = id.name;
    this.path = id.path;
    this.compatible = id.compatible;
    this.windows = id.windows;
    this.clock = ctx.clock;
    this.trace = ctx.trace;
    this.irqs = outputs.irqNames.map((n) => new IrqLine(id.name, n, ctx.trace));
    this.dma = outputs.busMaster ? new DmaPort(id.name, ctx.bus, ctx.trace) : null;
  }

  /** Puts every register back to its reset value and lowers every output. */
  abstract reset(): void;

  /**
   * A register-sized access. The default widens narrow reads to the enclosing 32-bit register
   * and extracts the bytes (QEMU `impl.min_access_size = 4`), and refuses narrow writes as a
   * guest error; devices with byte-wide registers override `mmioWrite`.
   */
  mmioRead(offset: number, size: AccessSize, window: number): number | BusError {
    const word = this.readRegister(offset & ~3, window);
    if (size === 4 && (offset & 3) === 0) return word;
    const shift = 8 * (offset & 3);
    const mask = size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    return ((word >>> shift) & mask) >>> 0;
  }

  mmioWrite(offset: number, size: AccessSize, value: number, window: number): BusError | undefined {
    if (size !== 4 || (offset & 3) !== 0) {
      this.guestError(
        `${size}-byte write at offset 0x${offset.toString(16)} ignored (32-bit registers)`,
      );
      return undefined;
    }
    this.writeRegister(offset, value >>> 0, window);
    return undefined;
  }

  /** Reads the 32-bit register at a 4-byte aligned `offset` of MMIO window `window`. */
  protected abstract readRegister(offset: number, window: number): number;
  /** Writes the 32-bit register at a 4-byte aligned `offset` of MMIO window `window`. */
  protected abstract writeRegister(offset: number, value: number, window: number): void;

  /**
   * The register a read at `offset` reaches, or undefined (the read then returns 0) after
   * logging the guest error: a hole in the map, or a write-only register.
   */
  protected decodeRead<N extends string>(
    map: RegisterMap<N>,
    offset: number,
  ): DecodedRegister<N> | undefined {
    const reg = map.decode(offset);
    if (!reg) {
      this.guestError(`read of unmapped offset 0x${offset.toString(16)}`);
      return undefined;
    }
    if (reg.spec.access === "wo") {
      this.guestError(`read of write-only register ${registerName(reg)}`);
      return undefined;
    }
    return reg;
  }

  /**
   * The register a write of `value` at `offset` reaches, or undefined (the write is dropped)
   * after logging the guest error: a hole in the map, or a read-only register.
   */
  protected decodeWrite<N extends string>(
    map: RegisterMap<N>,
    offset: number,
    value: number,
  ): DecodedRegister<N> | undefined {
    const reg = map.decode(offset);
    if (!reg) {
      this.guestError(
        `write of 0x${value.toString(16)} to unmapped offset 0x${offset.toString(16)}`,
      );
      return undefined;
    }
    if (reg.spec.access === "ro") {
      this.guestError(`write to read-only register ${registerName(reg)}`);
      return undefined;
    }
    return reg;
  }

  /** The software did something the hardware leaves undefined (QEMU `LOG_GUEST_ERROR`). */
  guestError(message: string): void {
    this.guestErrors.push(message);
    this.trace.emit({ type: "guest-error", device: this.name, message });
  }

  /** The software used a feature this model does not implement (QEMU `LOG_UNIMP`). */
  unimplemented(message: string): void {
    this.guestErrors.push(`unimplemented: ${message}`);
    this.trace.emit({ type: "unimplemented", device: this.name, message });
  }

  /** A device-specific happening for the trace. */
  protected note(event: string, detail?: Record<string, string | number | boolean>): void {
    if (!this.trace.enabled) return;
    this.trace.emit(
      detail
        ? { type: "device", device: this.name, event, detail }
        : { type: "device", device: this.name, event },
    );
  }

  /** An SLVERR answer for accesses the device refuses outright. */
  protected slaveError(offset: number, size: number, write: boolean): BusError {
    return new BusError({
      reason: "device",
      address: (this.windows[0]?.base ?? 0) + offset,
      size,
      write,
      detail: `${this.name} refused the access`,
    });
  }
}

/** A register's name for messages: banked registers are numbered from 1, as TRMs number them. */
function registerName(reg: DecodedRegister<string>): string {
  return `${reg.spec.name}${reg.spec.count ? reg.index + 1 : ""}`;
}
