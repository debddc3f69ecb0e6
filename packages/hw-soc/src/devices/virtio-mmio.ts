/**
 * An empty virtio-mmio transport (`virtio,mmio`), as QEMU's `virt` machine creates 32 of them
 * at 0x0a000000 (stride 0x200, SPIs 16–47, edge-triggered in the device tree) with nothing
 * plugged in. Register layout from the virtio specification, "MMIO Device Register Layout";
 * behaviour from QEMU hw/virtio/virtio-mmio.c with no backend on the virtio-mmio bus.
 *
 * With no backend QEMU answers only three registers — MagicValue 0x74726976 ("virt"), Version
 * and VendorID 0x554d4551 ("QEMU") — and reads every other offset as zero, so DeviceID 0 tells
 * Linux's virtio_mmio probe there is no device. Writes are dropped. QEMU logs neither (its
 * "no backend" path returns before any register decoding), so neither is a guest error here;
 * writes are still visible on the trace as a `write-ignored` device event.
 *
 * Version: the transport's `force-legacy` property defaults to true and `virt` does not
 * override it (QEMU 7.2 and later), so Version reads 1 (legacy). `forceLegacy: false` gives the
 * modern Version 2.
 *
 * Access rules (QEMU's MemoryRegionOps for this device declare no limits, so the memory core's
 * defaults apply): 1, 2 and 4-byte accesses, naturally aligned; an unaligned access is refused
 * with a bus error (the memory core logs it as a guest error). A narrow read is decoded at its
 * own offset and truncated to its size: a byte read at 0 gives 0x76, a byte read at 1 gives 0,
 * because only the exact register offsets answer.
 *
 * Caveat:
 * - No backend can be plugged in: no features, virtqueues, config space or interrupts; the
 *   interrupt output never asserts.
 * - No DMA port, although the node says `dma-coherent`: with no backend nothing is ever fetched.
 */

import type { BusError } from "../core/bus-error.js";
import { Device, type DeviceContext, type DeviceIdentity } from "../core/device.js";
import type { DeviceModel } from "../core/device-model.js";
import { RegisterMap, type RegisterSpec } from "../core/registers.js";
import type { AccessSize } from "../core/system-bus.js";

export const VIRTIO_MMIO_MAGIC = 0x7472_6976;
export const VIRTIO_MMIO_VENDOR_QEMU = 0x554d_4551;
export const VIRTIO_MMIO_VERSION_LEGACY = 1;
export const VIRTIO_MMIO_VERSION_MODERN = 2;
/** QEMU maps each transport as a 0x200-byte region. */
export const VIRTIO_MMIO_WINDOW = 0x200;

export interface VirtioMmioOptions {
  /** QEMU's `force-legacy` property: true (the default) reports Version 1, false Version 2. */
  readonly forceLegacy?: boolean;
}

/** The register layout of the virtio specification (legacy and modern names together). */
export function virtioMmioRegisters(version: number): RegisterSpec[] {
  return [
    { name: "MagicValue", offset: 0x000, access: "ro", reset: VIRTIO_MMIO_MAGIC, doc: '"virt"' },
    { name: "Version", offset: 0x004, access: "ro", reset: version, doc: "1 legacy, 2 modern" },
    { name: "DeviceID", offset: 0x008, access: "ro", doc: "Virtio subsystem device ID; 0 = none" },
    {
      name: "VendorID",
      offset: 0x00c,
      access: "ro",
      reset: VIRTIO_MMIO_VENDOR_QEMU,
      doc: '"QEMU"',
    },
    {
      name: "DeviceFeatures",
      offset: 0x010,
      access: "ro",
      doc: "Feature bits of the selected word",
    },
    { name: "DeviceFeaturesSel", offset: 0x014, access: "wo", doc: "Selects DeviceFeatures word" },
    { name: "DriverFeatures", offset: 0x020, access: "wo", doc: "Features the driver accepts" },
    { name: "DriverFeaturesSel", offset: 0x024, access: "wo", doc: "Selects DriverFeatures word" },
    { name: "GuestPageSize", offset: 0x028, access: "wo", doc: "Legacy: guest page size" },
    { name: "QueueSel", offset: 0x030, access: "wo", doc: "Selects the virtqueue" },
    { name: "QueueNumMax", offset: 0x034, access: "ro", doc: "Largest queue size" },
    { name: "QueueNum", offset: 0x038, access: "wo", doc: "Queue size in use" },
    { name: "QueueAlign", offset: 0x03c, access: "wo", doc: "Legacy: used ring alignment" },
    { name: "QueuePFN", offset: 0x040, access: "rw", doc: "Legacy: queue page frame number" },
    { name: "QueueReady", offset: 0x044, access: "rw", doc: "Modern: queue ready" },
    { name: "QueueNotify", offset: 0x050, access: "wo", doc: "Queue notifier" },
    { name: "InterruptStatus", offset: 0x060, access: "ro", doc: "Pending interrupt causes" },
    { name: "InterruptACK", offset: 0x064, access: "wo", doc: "Acknowledges interrupt causes" },
    { name: "Status", offset: 0x070, access: "rw", doc: "Device status" },
    { name: "QueueDescLow", offset: 0x080, access: "wo", doc: "Modern: descriptor area [31:0]" },
    { name: "QueueDescHigh", offset: 0x084, access: "wo", doc: "Modern: descriptor area [63:32]" },
    { name: "QueueDriverLow", offset: 0x090, access: "wo", doc: "Modern: driver area [31:0]" },
    { name: "QueueDriverHigh", offset: 0x094, access: "wo", doc: "Modern: driver area [63:32]" },
    { name: "QueueDeviceLow", offset: 0x0a0, access: "wo", doc: "Modern: device area [31:0]" },
    { name: "QueueDeviceHigh", offset: 0x0a4, access: "wo", doc: "Modern: device area [63:32]" },
    { name: "SHMSel", offset: 0x0ac, access: "wo", doc: "Selects a shared memory region" },
    { name: "SHMLenLow", offset: 0x0b0, access: "ro", doc: "Shared memory length [31:0]" },
    { name: "SHMLenHigh", offset: 0x0b4, access: "ro", doc: "Shared memory length [63:32]" },
    { name: "SHMBaseLow", offset: 0x0b8, access: "ro", doc: "Shared memory base [31:0]" },
    { name: "SHMBaseHigh", offset: 0x0bc, access: "ro", doc: "Shared memory base [63:32]" },
    { name: "ConfigGeneration", offset: 0x0fc, access: "ro", doc: "Modern: config generation" },
    {
      name: "Config",
      offset: 0x100,
      access: "rw",
      count: 64,
      doc: "Device-specific configuration",
    },
  ];
}

export class VirtioMmioTransport extends Device {
  readonly registers: RegisterMap<string>;
  readonly version: number;

  constructor(ctx: DeviceContext, id: DeviceIdentity, options: VirtioMmioOptions = {}) {
    super(ctx, id, { irqNames: ["irq"], busMaster: false });
    this.version =
      (options.forceLegacy ?? true) ? VIRTIO_MMIO_VERSION_LEGACY : VIRTIO_MMIO_VERSION_MODERN;
    this.registers = new RegisterMap(virtioMmioRegisters(this.version));
  }

  reset(): void {
    this.update();
  }

  override mmioRead(offset: number, size: AccessSize): number | BusError {
    if (offset % size !== 0) return this.refuse(offset, size, false);
    const mask = size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
    return (this.readRegister(offset) & mask) >>> 0;
  }

  override mmioWrite(offset: number, size: AccessSize, value: number): BusError | undefined {
    if (offset % size !== 0) return this.refuse(offset, size, true);
    this.writeRegister(offset, value);
    return undefined;
  }

  /** No backend: only the exact offsets of the three identification registers answer. */
  protected readRegister(offset: number): number {
    switch (offset) {
      case 0x000:
        return VIRTIO_MMIO_MAGIC;
      case 0x004:
        return this.version;
      case 0x00c:
        return VIRTIO_MMIO_VENDOR_QEMU;
      default:
        return 0;
    }
  }

  protected writeRegister(offset: number, value: number): void {
    const reg = this.registers.decode(offset);
    this.note("write-ignored", { register: reg ? reg.spec.name : "none", offset, value });
  }

  private refuse(offset: number, size: number, write: boolean): BusError {
    this.guestError(
      `invalid ${write ? "write" : "read"} at offset 0x${offset.toString(16)}, size ${size}: unaligned`,
    );
    return this.slaveError(offset, size, write);
  }

  private update(): void {
    // No backend ever raises an interrupt cause.
    this.irqs[0]!.set(false);
  }
}

export const virtioMmioModel: DeviceModel = {
  compatible: ["virtio,mmio"],
  description: "virtio-mmio transport with no backend (QEMU virt): identification registers only",
  create: (ctx, id) => new VirtioMmioTransport(ctx, id),
};
