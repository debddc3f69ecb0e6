/**
 * `struct device_driver` and its registration (include/linux/device/driver.h,
 * drivers/base/driver.c): a named driver on one bus, with its OF match table, the devices it
 * is bound to (`klist_devices`) and its sysfs directory `/sys/bus/<bus>/drivers/<name>`.
 *
 * Bus-specific drivers (`PlatformDriver`, `AmbaDriver`) extend it, as `struct platform_driver`
 * embeds a `struct device_driver` (`to_platform_driver()` is a type test here).
 */

import { SysError } from "../errno.js";
import { KERN_ERR } from "../printk/levels.js";
import type { Bus } from "./bus.js";
import type { Device } from "./device.js";
import type { OfDeviceId } from "./of-node.js";

export interface DeviceDriverOptions {
  readonly name: string;
  readonly ofMatchTable?: readonly OfDeviceId[];
  /** No `bind`/`unbind` files (drivers that must not be bound by hand). */
  readonly suppressBindAttrs?: boolean;
  /**
   * The module that owns the driver: `/sys/bus/<bus>/drivers/<name>/module` links to
   * /sys/module/<owner> and /sys/module/<owner>/drivers/<bus>:<name> back (when it exists).
   */
  readonly owner?: string;
}

export class DeviceDriver {
  readonly name: string;
  readonly ofMatchTable: readonly OfDeviceId[] | undefined;
  readonly suppressBindAttrs: boolean;
  readonly owner: string | undefined;
  /** `drv->bus`, set by the bus's register function. */
  bus: Bus | null = null;
  /** `drv->p`: non-null while registered. */
  kobjPath: string | null = null;
  /** `drv->p->klist_devices`: the bound devices, in bind order. */
  readonly devices: Device[] = [];
  /** Whether module_add_driver() made the module links (to undo them). */
  moduleLinked = false;

  constructor(opts: DeviceDriverOptions) {
    this.name = opts.name;
    this.ofMatchTable = opts.ofMatchTable;
    this.suppressBindAttrs = opts.suppressBindAttrs ?? false;
    this.owner = opts.owner;
  }

  get registered(): boolean {
    return this.kobjPath !== null;
  }
}

/** drivers/base/driver.c: driver_find() — the registered driver of that name on `bus`. */
export function driverFind(bus: Bus, name: string): DeviceDriver | undefined {
  return bus.drivers.find((d) => d.name === name);
}

/**
 * drivers/base/driver.c: driver_register() — EINVAL when the bus is not registered, EBUSY
 * when a driver of the same name is, else bus_add_driver() (which binds matching devices).
 */
export function driverRegister(drv: DeviceDriver): void {
  const fn = "driver_register";
  const bus = drv.bus;
  if (!bus?.registered) {
    bus?.ctx.printk.printk(
      KERN_ERR,
      `Driver '${drv.name}' was unable to register with bus_type '${bus?.name ?? "(null)"}' because the bus was not initialized.`,
    );
    throw new SysError("EINVAL", fn, `bus ${bus?.name ?? "(null)"} is not registered`);
  }
  if (driverFind(bus, drv.name)) {
    bus.ctx.printk.printk(
      KERN_ERR,
      `Error: Driver '${drv.name}' is already registered, aborting...`,
    );
    throw new SysError("EBUSY", fn, `${drv.name} is already registered on ${bus.name}`);
  }
  if (drv.registered) throw new SysError("EBUSY", fn, `${drv.name} is already registered`);
  bus.addDriver(drv);
  bus.ctx.binding.deferredProbeExtendTimeout();
}

/** drivers/base/driver.c: driver_unregister() — unbinds every device, removes the driver. */
export function driverUnregister(drv: DeviceDriver): void {
  if (!drv.registered || !drv.bus) {
    throw new SysError(
      "EINVAL",
      "driver_unregister",
      `Unexpected driver unregister of ${drv.name}`,
    );
  }
  drv.bus.removeDriver(drv);
}
