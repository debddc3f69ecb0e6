/**
 * The placeholder for a device-tree node whose `compatible` no model implements (the PCIe host
 * bridge, the GIC ITS, cfi-flash, …), after QEMU's TYPE_UNIMPLEMENTED_DEVICE
 * (hw/misc/unimp.c): its windows decode, so the address map matches the board, but every read
 * returns 0, every write is dropped, and each access is logged as unimplemented — here as an
 * `unimplemented` trace event naming the node's compatible, the window, the offset and the size.
 *
 * Not a `DeviceModel`: `Soc.fromDeviceTree()` falls back to `createUnimplemented()` when no
 * model matches.
 *
 * Caveat:
 * - Interrupt outputs exist only so that a node's `interrupts` can be wired; they never assert.
 * - No bus-master port: an unimplemented device never issues DMA.
 */

import type { BusError } from "../core/bus-error.js";
import { Device, type DeviceContext, type DeviceIdentity } from "../core/device.js";
import type { AccessSize } from "../core/system-bus.js";

export class UnimplementedDevice extends Device {
  constructor(ctx: DeviceContext, id: DeviceIdentity, irqCount = 0) {
    super(ctx, id, {
      irqNames: Array.from({ length: irqCount }, (_, i) => `irq${i}`),
      busMaster: false,
    });
  }

  /** The node's most specific compatible, or its name when it has none. */
  get what(): string {
    return this.compatible[0] ?? this.name;
  }

  reset(): void {
    // Nothing to reset: there is no state, and the outputs never leave low.
  }

  override mmioRead(offset: number, size: AccessSize, window: number): number | BusError {
    this.unimplemented(
      `${this.what}: unimplemented device read (${this.where(offset, size, window)})`,
    );
    return 0;
  }

  override mmioWrite(
    offset: number,
    size: AccessSize,
    value: number,
    window: number,
  ): BusError | undefined {
    const v = `0x${(value >>> 0).toString(16).padStart(2 * size, "0")}`;
    this.unimplemented(
      `${this.what}: unimplemented device write of ${v} (${this.where(offset, size, window)})`,
    );
    return undefined;
  }

  protected readRegister(): number {
    return 0;
  }

  protected writeRegister(): void {}

  private where(offset: number, size: AccessSize, window: number): string {
    const win = window === 0 ? "" : `window ${window}, `;
    return `${win}offset 0x${offset.toString(16)}, size ${size}`;
  }
}

/** The fallback `Soc.fromDeviceTree()` uses for a node no model implements. */
export function createUnimplemented(
  ctx: DeviceContext,
  id: DeviceIdentity,
  irqCount = 0,
): UnimplementedDevice {
  return new UnimplementedDevice(ctx, id, irqCount);
}
