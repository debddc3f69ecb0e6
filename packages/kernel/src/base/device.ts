/**
 * `struct device` and its private part (include/linux/device.h, drivers/base/base.h): name,
 * parent, bus, driver, firmware node, the generic `driver_override` (7.0+), driver data, DMA
 * parameters, managed resources, and the probe state the driver core keeps (registered, dead,
 * can_match, bound, deferred).
 *
 * Other subsystems hang their per-device state on typed slots (`DeviceSlot`): the IOMMU core
 * its group and fwspec, the IRQ core whatever it needs — as Linux keeps `dev->iommu_group`,
 * `dev->iommu` in the device without the driver core knowing their types.
 */

import { type DtNode, PAGE_SIZE, type SystemBus } from "@vfio-lab/hw-soc";
import { SysError } from "../errno.js";
import { type DevLogger, devLogger } from "../printk/dev-printk.js";
import type { Printk } from "../printk/printk.js";
import type { KernelTrace } from "../trace/trace-bus.js";
import type { Bus } from "./bus.js";
import { Devres } from "./devres.js";
import type { DeviceDriver } from "./driver.js";
import type { IrqMapper } from "./hooks.js";
import type { OfNode } from "./of-node.js";
import type { Resource } from "./resource.js";

/** include/linux/numa.h NUMA_NO_NODE. */
export const NUMA_NO_NODE = -1;

/**
 * The kernel-wide services a device's code reaches (what are globals in Linux): the log, the
 * trace bus, the CPU's view of the bus for ioremap, the iomem tree, the OF IRQ mapping.
 */
export interface DeviceContext {
  readonly printk: Printk;
  readonly trace: KernelTrace;
  readonly systemBus: SystemBus;
  /** `iomem_resource`. */
  readonly iomem: Resource;
  readonly irqMapper: IrqMapper;
  /** CONFIG_SYMBOLIC_ERRNAME: `%pe` prints `-ENXIO` rather than `-6`. */
  readonly symbolicErrname: boolean;
  /** drivers/base/dd.c: device_set_deferred_probe_reason(). */
  setDeferredProbeReason(dev: Device, reason: string): void;
}

/** A typed per-device attachment owned by another subsystem (`dev->iommu_group` …). */
export class DeviceSlot<T> {
  declare readonly __type: T;
  constructor(readonly name: string) {}
}

/** The DMA parameters of_dma_configure() and the bus code fill in. */
export interface DeviceDmaParams {
  /** `dev->coherent_dma_mask`. */
  coherentMask: bigint;
  /** `*dev->dma_mask`, or null when the device has no streaming mask. */
  mask: bigint | null;
  /** `dev->dma_coherent`. */
  coherent: boolean;
  /** `dev->bus_dma_limit` (0: none). */
  busDmaLimit: bigint;
}

export class Device {
  /** dev_name(). */
  name: string;
  parent: Device | null;
  bus: Bus | null = null;
  /** `dev->driver`: set from the start of really_probe(), cleared at unbind. */
  driver: DeviceDriver | null = null;
  /** `dev->of_node`. */
  ofNode: OfNode | null = null;
  /** dev_get_drvdata() / dev_set_drvdata(). */
  driverData: unknown = null;
  /** The device's sysfs directory once device_add() created it (`/sys/devices/platform/…`). */
  kobjPath: string | null = null;
  /** `dev->p->dead`: device_del() has started. */
  dead = false;
  /** `dev->can_match`: some driver matched once, so a deferral is worth remembering. */
  canMatch = false;
  /** klist_node_attached(&dev->p->knode_driver): driver_bound() finished. */
  bound = false;
  /** `dev->p->deferred_probe_reason`. */
  deferredProbeReason: string | null = null;
  /** dev_set_uevent_suppress(). */
  ueventSuppress = false;
  numaNode = NUMA_NO_NODE;
  /** `dev->p->klist_children`, in the order they were added. */
  readonly children: Device[] = [];
  readonly devres = new Devres();
  readonly dma: DeviceDmaParams = {
    coherentMask: 0n,
    mask: null,
    coherent: false,
    busDmaLimit: 0n,
  };
  private overrideName: string | null = null;
  private readonly slots = new Map<DeviceSlot<unknown>, unknown>();
  private logger: DevLogger | undefined;

  constructor(
    readonly ctx: DeviceContext,
    name: string,
    parent: Device | null = null,
  ) {
    this.name = name;
    this.parent = parent;
  }

  /** `dev->driver->name`, for dev_printk. */
  get driverName(): string | undefined {
    return this.driver?.name;
  }

  /** `dev->bus->name`, for dev_printk. */
  get busName(): string | undefined {
    return this.bus?.name;
  }

  /** The firmware node as the hw-soc tree has it (what the IRQ and IOMMU hooks take). */
  get dtNode(): DtNode | null {
    return this.ofNode?.dt ?? null;
  }

  /** device_is_registered(): device_add() put it in sysfs. */
  get registered(): boolean {
    return this.kobjPath !== null;
  }

  /** dev_err() … dev_dbg() for this device. */
  get log(): DevLogger {
    this.logger ??= devLogger(this.ctx.printk, this);
    return this.logger;
  }

  /** `dev->driver_override.name`, or null when unset. */
  get driverOverride(): string | null {
    return this.overrideName;
  }

  /**
   * drivers/base/dd.c: __device_set_driver_override() — `text` as written (`len` bytes): EINVAL
   * from PAGE_SIZE - 1 bytes on; the value stops at the first NUL and at the first newline; an
   * empty value ("", "\n", "\0…") clears the override. Never binds or unbinds anything.
   */
  setDriverOverride(text: string, len = new TextEncoder().encode(text).length): void {
    if (len >= PAGE_SIZE - 1) {
      throw new SysError("EINVAL", "__device_set_driver_override", `${len} bytes is too long`);
    }
    let s = text;
    const nul = s.indexOf("\0");
    if (nul >= 0) s = s.slice(0, nul);
    const nl = s.indexOf("\n");
    if (nl >= 0) s = s.slice(0, nl);
    this.overrideName = s.length > 0 ? s : null;
  }

  /** bus.c: driver_override_show() — `%s\n`, which prints `(null)` when unset. */
  driverOverrideShow(): string {
    return `${this.overrideName ?? "(null)"}\n`;
  }

  /**
   * include/linux/device.h: device_match_driver_override() — 1 when the override names `drv`,
   * 0 when it names another driver, -1 when there is no override.
   */
  matchDriverOverride(drv: DeviceDriver): number {
    if (this.overrideName === null) return -1;
    return this.overrideName === drv.name ? 1 : 0;
  }

  /** The value another subsystem attached, or undefined. */
  slot<T>(slot: DeviceSlot<T>): T | undefined {
    return this.slots.get(slot) as T | undefined;
  }

  setSlot<T>(slot: DeviceSlot<T>, value: T): void {
    this.slots.set(slot, value);
  }

  clearSlot<T>(slot: DeviceSlot<T>): void {
    this.slots.delete(slot);
  }
}
