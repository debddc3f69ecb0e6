/**
 * drivers/vfio/platform/vfio_platform_private.h: what the vfio-platform files share — the
 * region-offset encoding of the device fd, `struct vfio_platform_region`, `struct
 * vfio_platform_irq`, the reset-handler node, and `struct vfio_platform_device` (the core
 * device plus the half a bus binder fills in: vfio_platform.c or vfio_amba.c).
 *
 * No behaviour lives here (the header has none either); vfio-platform-common.ts,
 * vfio-platform-irq.ts and the bus files use these types.
 *
 * Caveat:
 * - `igate` (the mutex serialising SET_IRQS/open/close) and the per-IRQ spinlock are not
 *   modelled: the model runs one syscall at a time.
 * - `acpihid` and `acpi_reset` are absent (no ACPI in the model); `opaque` is not needed
 *   because the binder's callbacks are closures over their bus device.
 * - `num_regions` / `num_irqs` are the lengths of `regions` / `irqs`.
 */

import type { Device, EventfdCtx, IoMem, Kernel, Resource, SysError } from "@vfio-lab/kernel";
import { VfioCoreDevice, type VfioDeviceOps, type VirqfdSlot } from "@vfio-lab/vfio-core";

/** VFIO_PLATFORM_OFFSET_SHIFT: a region's file offset is its index shifted by 40 bits. */
export const VFIO_PLATFORM_OFFSET_SHIFT = 40;
/** VFIO_PLATFORM_OFFSET_MASK: the offset inside a region. */
export const VFIO_PLATFORM_OFFSET_MASK = (1n << 40n) - 1n;

/** VFIO_PLATFORM_OFFSET_TO_INDEX(off) — positions are non-negative, so a plain shift. */
export function vfioPlatformOffsetToIndex(pos: number | bigint): number {
  return Number(BigInt(pos) >> BigInt(VFIO_PLATFORM_OFFSET_SHIFT));
}

/** VFIO_PLATFORM_INDEX_TO_OFFSET(index) */
export function vfioPlatformIndexToOffset(index: number): bigint {
  return BigInt(index) << BigInt(VFIO_PLATFORM_OFFSET_SHIFT);
}

/** `struct vfio_platform_region.type`: a memory-mapped window. */
export const VFIO_PLATFORM_REGION_TYPE_MMIO = 1;
/** `struct vfio_platform_region.type`: an I/O-port range (read/write/mmap refuse it). */
export const VFIO_PLATFORM_REGION_TYPE_PIO = 2;

/** `struct vfio_platform_region` */
export interface VfioPlatformRegion {
  /** Physical base address (`u64 addr`). */
  addr: number;
  size: number;
  /** VFIO_REGION_INFO_FLAG_* as GET_REGION_INFO reports them. */
  flags: number;
  /** VFIO_PLATFORM_REGION_TYPE_MMIO or _PIO. */
  type: number;
  /** Mapped on first use (read, write or a reset handler): Linux ioremaps lazily. */
  ioaddr: IoMem | null;
}

/** `struct vfio_platform_irq` */
export interface VfioPlatformIrq {
  /** VFIO_IRQ_INFO_* as GET_IRQ_INFO reports them. */
  flags: number;
  count: number;
  /** The Linux IRQ number (`hwirq` in the C, though it is a virq). */
  hwirq: number;
  /**
   * `vfio-irq[<irq>](<vdev->name>)` — or, when request_irq() refused the line, its error
   * (the C stores an ERR_PTR here) which every SET_IRQS on the index then returns.
   */
  name: string | SysError;
  trigger: EventfdCtx | null;
  masked: boolean;
  readonly mask: VirqfdSlot;
  readonly unmask: VirqfdSlot;
}

/** `vfio_platform_reset_fn_t`: throws SysError on failure. */
export type VfioPlatformResetFn = (vdev: VfioPlatformDevice) => void;

/** `struct vfio_platform_reset_node`: one entry of the reset registry (`reset_list`). */
export interface VfioPlatformResetNode {
  readonly compat: string;
  /** The module providing the handler (`THIS_MODULE`), pinned while a device uses it. */
  readonly owner: { name: string };
  readonly ofReset: VfioPlatformResetFn;
}

/** The bus binder's half of struct vfio_platform_device (filled by ops.init). */
export interface VfioPlatformBinder {
  /** `vdev->name`: `c010000.ethernet` (platform) or `vfio-amba-00241330` (AMBA). */
  platformName: string;
  /** VFIO_DEVICE_FLAGS_PLATFORM or VFIO_DEVICE_FLAGS_AMBA (RESET is added by GET_INFO). */
  flags: number;
  /** `get_resource(vdev, i)`: the i-th MEM or IO resource, or null past the last. */
  getResource(i: number): Resource | null;
  /** `get_irq(vdev, i)`: the Linux IRQ of interrupt i, or a negative errno. */
  getIrq(i: number): number;
  /** Refuse to open (and to probe) without a working reset handler. */
  resetRequired: boolean;
}

/**
 * `struct vfio_platform_device`. `vdev->name` is `platformName`: VfioCoreDevice.name is
 * already taken by the `vfioN` class-device name.
 */
export class VfioPlatformDevice extends VfioCoreDevice implements VfioPlatformBinder {
  regions: VfioPlatformRegion[] = [];
  irqs: VfioPlatformIrq[] = [];
  /** The first `compatible` string (set by vfio_platform_of_probe()). */
  compat: string | null = null;
  /** The reset handler's module while a reference on it is held (`reset_module`). */
  resetModule: { name: string } | null = null;
  ofReset: VfioPlatformResetFn | null = null;

  platformName: string;
  flags: number;
  getResource: (i: number) => Resource | null;
  getIrq: (i: number) => number;
  resetRequired: boolean;

  constructor(
    kernel: Kernel,
    dev: Device,
    ops: VfioDeviceOps<VfioPlatformDevice>,
    binder: (vdev: VfioPlatformDevice) => VfioPlatformBinder,
  ) {
    super(kernel, dev, ops as VfioDeviceOps<never>);
    // Placeholders until the binder runs: it may want `this` (as ops.init gets the vdev).
    this.platformName = "";
    this.flags = 0;
    this.getResource = () => null;
    this.getIrq = () => -6;
    this.resetRequired = false;
    const b = binder(this);
    this.platformName = b.platformName;
    this.flags = b.flags;
    this.getResource = (i) => b.getResource(i);
    this.getIrq = (i) => b.getIrq(i);
    this.resetRequired = b.resetRequired;
  }
}
