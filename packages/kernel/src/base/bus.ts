/**
 * A bus (drivers/base/bus.c): `struct bus_type` — the callbacks a bus implements — and the
 * driver core's private side of it (`struct subsys_private`): the device and driver lists and
 * the sysfs tree `/sys/bus/<name>/{devices,drivers,drivers_probe,drivers_autoprobe,uevent}`
 * with each driver's `bind`, `unbind` and `uevent`.
 *
 * The user-space files keep Linux 7.3's return values exactly (bus.c):
 * - `drivers/<drv>/bind`: ENODEV when no device has that name or the driver does not match it
 *   (a driver_override naming another driver included); EBUSY when the device has a driver;
 *   a failed probe's errno; EPROBE_DEFER becomes EAGAIN (device_driver_attach()).
 * - `drivers/<drv>/unbind`: ENODEV unless the device is bound to that driver.
 * - `drivers_probe`: ENODEV for an unknown device; success when the device is already bound,
 *   when no driver matched and when a driver's probe failed; EINVAL only when device_attach()
 *   returns an error (a match that defers, a DMA configuration failure).
 * Device names are compared with sysfs_streq(), so `echo` 's trailing newline is fine.
 */

import { errnoName, SysError } from "../errno.js";
import type { Sysfs, SysfsAttribute } from "../fs/sysfs-api.js";
import { KERN_ERR } from "../printk/levels.js";
import type { Printk } from "../printk/printk.js";
import type { DriverBinding } from "./dd.js";
import type { Device } from "./device.js";
import type { DeviceDriver } from "./driver.js";
import { kobjectSynthUevent } from "./kobject-uevent.js";

/** `struct bus_type`: what a bus implements. */
export interface BusType {
  readonly name: string;
  /** The bus offers the generic driver_override attribute (bus_type.driver_override). */
  readonly driverOverride: boolean;
  /** bus->match(): > 0 match, 0 no match, < 0 an errno (-EPROBE_DEFER). Absent: all match. */
  match?(dev: Device, drv: DeviceDriver): number;
  /** bus->probe(): runs the driver's probe; throws the probe's SysError. */
  probe?(dev: Device): void;
  /** bus->remove(). */
  remove?(dev: Device): void;
  /** bus->dma_configure(): throws a SysError (really_probe() unwinds without dma_cleanup). */
  dmaConfigure?(dev: Device): void;
  /** bus->dma_cleanup(). */
  dmaCleanup?(dev: Device): void;
  /** bus->uevent(): the bus's `KEY=value` lines of the device's uevent. */
  uevent?(dev: Device): string[];
  /** bus->dev_groups: the bus's attributes of each device, by file name. */
  devAttributes?(dev: Device): readonly (readonly [string, SysfsAttribute])[];
}

/** include/linux/device/bus.h: enum bus_notifier_event. */
export const BUS_NOTIFY_ADD_DEVICE = 0;
export const BUS_NOTIFY_DEL_DEVICE = 1;
export const BUS_NOTIFY_REMOVED_DEVICE = 2;
export const BUS_NOTIFY_BIND_DRIVER = 3;
export const BUS_NOTIFY_BOUND_DRIVER = 4;
export const BUS_NOTIFY_UNBIND_DRIVER = 5;
export const BUS_NOTIFY_UNBOUND_DRIVER = 6;
export const BUS_NOTIFY_DRIVER_NOT_BOUND = 7;

export type BusNotifier = (action: number, dev: Device) => void;

/** What a bus needs from the rest of the driver core. */
export interface BusContext {
  readonly sysfs: Sysfs;
  readonly printk: Printk;
  readonly binding: DriverBinding;
}

export const SYS_BUS = "/sys/bus";

/** The C string a sysfs store sees: the written text up to its first NUL. */
export function cString(text: string): string {
  const nul = text.indexOf("\0");
  return nul < 0 ? text : text.slice(0, nul);
}

/** lib/string_helpers.c: sysfs_streq() — equal, treating a single trailing newline as absent. */
export function sysfsStreq(a: string, b: string): boolean {
  const strip = (s: string) => (s.endsWith("\n") ? s.slice(0, -1) : s);
  return a === b || strip(a) === b || a === strip(b);
}

/** A negative errno number as the SysError a sysfs store returns. */
function storeError(ret: number, fn: string, detail: string): SysError {
  return errnoName(ret)
    ? SysError.fromNegative(ret, fn, detail)
    : new SysError("EINVAL", fn, detail);
}

/** `struct subsys_private` of one registered bus. */
export class Bus {
  readonly path: string;
  registered = false;
  /** `sp->drivers_autoprobe`. */
  driversAutoprobe = true;
  /** `sp->klist_devices`, in the order devices were added. */
  readonly devices: Device[] = [];
  /** `sp->klist_drivers`, in registration order (device_attach() tries them in this order). */
  readonly drivers: DeviceDriver[] = [];
  private readonly notifiers: BusNotifier[] = [];

  constructor(
    readonly ctx: BusContext,
    readonly type: BusType,
  ) {
    this.path = `${SYS_BUS}/${type.name}`;
  }

  get name(): string {
    return this.type.name;
  }

  /**
   * drivers/base/bus.c: bus_register() — /sys/bus/<name> with `uevent`, `devices/`,
   * `drivers/`, `drivers_probe` and `drivers_autoprobe`; autoprobe starts on.
   */
  register(): void {
    const { sysfs } = this.ctx;
    sysfs.mkdir(this.path, true);
    sysfs.createFile(`${this.path}/uevent`, {
      mode: 0o200,
      store: (text) => {
        kobjectSynthUevent(this.ctx.printk, this.path, text);
      },
    });
    sysfs.mkdir(`${this.path}/devices`, true);
    sysfs.mkdir(`${this.path}/drivers`, true);
    sysfs.createFile(`${this.path}/drivers_probe`, {
      mode: 0o200,
      store: (text) => this.ctx.binding.flushAfter(() => this.driversProbeStore(text)),
    });
    sysfs.createFile(`${this.path}/drivers_autoprobe`, {
      mode: 0o644,
      show: () => `${this.driversAutoprobe ? 1 : 0}\n`,
      store: (text) => {
        this.driversAutoprobe = !text.startsWith("0");
      },
    });
    this.registered = true;
  }

  /** bus_register_notifier(): `fn` hears of every device added, bound, unbound, removed. */
  registerNotifier(fn: BusNotifier): () => void {
    this.notifiers.push(fn);
    return () => {
      const i = this.notifiers.indexOf(fn);
      if (i >= 0) this.notifiers.splice(i, 1);
    };
  }

  /** drivers/base/bus.c: bus_notify(). */
  notify(dev: Device, action: number): void {
    for (const fn of [...this.notifiers]) fn(action, dev);
  }

  /** bus_find_device_by_name(): the device whose name sysfs_streq()s `name`. */
  findDeviceByName(name: string): Device | undefined {
    const want = cString(name);
    return this.devices.find((d) => sysfsStreq(d.name, want));
  }

  /** drivers/base/bus.c: bus_for_each_drv() — stops at the first non-zero return. */
  forEachDrv(fn: (drv: DeviceDriver) => number): number {
    let error = 0;
    for (const drv of [...this.drivers]) {
      if (error !== 0) break;
      error = fn(drv);
    }
    return error;
  }

  /** drivers/base/bus.c: bus_for_each_dev() — stops at the first non-zero return. */
  forEachDev(fn: (dev: Device) => number): number {
    for (const dev of [...this.devices]) {
      const error = fn(dev);
      if (error !== 0) return error;
    }
    return 0;
  }

  private deviceAttributes(dev: Device): (readonly [string, SysfsAttribute])[] {
    const attrs: (readonly [string, SysfsAttribute])[] = [
      ...(this.type.devAttributes?.(dev) ?? []),
    ];
    return attrs;
  }

  /**
   * drivers/base/bus.c: bus_add_device() — the bus's device attributes, `driver_override`
   * when the bus has it, the `/sys/bus/<bus>/devices/<name>` link and the device's
   * `subsystem` link; undone step by step if one fails.
   */
  addDevice(dev: Device): void {
    const { sysfs } = this.ctx;
    const dir = dev.kobjPath as string;
    const created: string[] = [];
    try {
      for (const [name, attr] of this.deviceAttributes(dev)) {
        sysfs.createFile(`${dir}/${name}`, attr);
        created.push(`${dir}/${name}`);
      }
      if (this.type.driverOverride) {
        sysfs.createFile(`${dir}/driver_override`, {
          mode: 0o644,
          show: () => dev.driverOverrideShow(),
          store: (text) => dev.setDriverOverride(text),
        });
        created.push(`${dir}/driver_override`);
      }
      sysfs.symlink(`${this.path}/devices/${dev.name}`, dir);
      created.push(`${this.path}/devices/${dev.name}`);
      sysfs.symlink(`${dir}/subsystem`, this.path);
    } catch (e) {
      for (const p of created.reverse()) sysfs.remove(p);
      throw e;
    }
    this.devices.push(dev);
  }

  /**
   * drivers/base/bus.c: bus_probe_device() → device_initial_probe(): try the bus's drivers
   * when drivers_autoprobe is on.
   */
  probeDevice(dev: Device): void {
    this.ctx.binding.deviceInitialProbe(dev);
  }

  /**
   * drivers/base/bus.c: bus_remove_device() — links and attributes go, the device leaves the
   * bus's list, then its driver is released.
   */
  removeDevice(dev: Device): void {
    const { sysfs } = this.ctx;
    const dir = dev.kobjPath as string;
    removeIfExists(sysfs, `${dir}/subsystem`);
    removeIfExists(sysfs, `${this.path}/devices/${dev.name}`);
    if (this.type.driverOverride) removeIfExists(sysfs, `${dir}/driver_override`);
    for (const [name] of this.deviceAttributes(dev)) removeIfExists(sysfs, `${dir}/${name}`);
    const i = this.devices.indexOf(dev);
    if (i >= 0) this.devices.splice(i, 1);
    this.ctx.binding.deviceReleaseDriver(dev);
  }

  /**
   * drivers/base/bus.c: bus_add_driver() — the driver's directory, its place at the end of the
   * bus's list, driver_attach() when autoprobe is on, the module links, `uevent`, and the
   * `bind`/`unbind` files unless suppressed.
   */
  addDriver(drv: DeviceDriver): void {
    const { sysfs, printk } = this.ctx;
    const dir = `${this.path}/drivers/${drv.name}`;
    sysfs.mkdir(dir, true);
    drv.kobjPath = dir;
    this.drivers.push(drv);
    if (this.driversAutoprobe) this.ctx.binding.driverAttach(drv);
    try {
      this.moduleAddDriver(drv);
    } catch (e) {
      printk.printk(KERN_ERR, `bus_add_driver: failed to create module links for ${drv.name}`);
      this.ctx.binding.driverDetach(drv);
      this.drivers.splice(this.drivers.indexOf(drv), 1);
      sysfs.remove(dir);
      drv.kobjPath = null;
      throw e;
    }
    sysfs.createFile(`${dir}/uevent`, {
      mode: 0o200,
      store: (text) => {
        kobjectSynthUevent(printk, dir, text);
      },
    });
    if (!drv.suppressBindAttrs) {
      sysfs.createFile(`${dir}/unbind`, {
        mode: 0o200,
        store: (text) => this.ctx.binding.flushAfter(() => this.unbindStore(drv, text)),
      });
      sysfs.createFile(`${dir}/bind`, {
        mode: 0o200,
        store: (text) => this.ctx.binding.flushAfter(() => this.bindStore(drv, text)),
      });
    }
  }

  /**
   * drivers/base/bus.c: bus_remove_driver() — the files go, the driver leaves the list, every
   * device is released (driver_detach()), the module links and the directory go.
   */
  removeDriver(drv: DeviceDriver): void {
    const { sysfs } = this.ctx;
    const dir = drv.kobjPath as string;
    if (!drv.suppressBindAttrs) {
      removeIfExists(sysfs, `${dir}/bind`);
      removeIfExists(sysfs, `${dir}/unbind`);
    }
    removeIfExists(sysfs, `${dir}/uevent`);
    const i = this.drivers.indexOf(drv);
    if (i >= 0) this.drivers.splice(i, 1);
    this.ctx.binding.driverDetach(drv);
    this.moduleRemoveDriver(drv);
    sysfs.remove(dir);
    drv.kobjPath = null;
  }

  /** drivers/base/module.c: module_add_driver() — only for a driver with an owner module. */
  private moduleAddDriver(drv: DeviceDriver): void {
    const { sysfs } = this.ctx;
    if (drv.owner === undefined) return;
    const mod = `/sys/module/${drv.owner}`;
    if (!sysfs.exists(mod)) return;
    sysfs.symlink(`${drv.kobjPath}/module`, mod);
    try {
      sysfs.mkdir(`${mod}/drivers`);
      sysfs.symlink(`${mod}/drivers/${this.name}:${drv.name}`, drv.kobjPath as string);
    } catch (e) {
      sysfs.remove(`${drv.kobjPath}/module`);
      throw e;
    }
    drv.moduleLinked = true;
  }

  /** drivers/base/module.c: module_remove_driver(). */
  private moduleRemoveDriver(drv: DeviceDriver): void {
    if (!drv.moduleLinked || drv.owner === undefined) return;
    const { sysfs } = this.ctx;
    removeIfExists(sysfs, `/sys/module/${drv.owner}/drivers/${this.name}:${drv.name}`);
    removeIfExists(sysfs, `${drv.kobjPath}/module`);
    drv.moduleLinked = false;
  }

  /** drivers/base/bus.c: bind_store(). */
  bindStore(drv: DeviceDriver, text: string): void {
    const fn = "bind_store";
    const dev = this.findDeviceByName(text);
    // driver_match_device() is tested for non-zero, so a deferring match (< 0) still binds.
    if (!dev || this.ctx.binding.driverMatchDevice(drv, dev) === 0) {
      throw new SysError(
        "ENODEV",
        fn,
        dev ? `${drv.name} does not match ${dev.name}` : "no such device",
      );
    }
    const err = this.ctx.binding.deviceDriverAttach(drv, dev);
    if (err !== 0) throw storeError(err, fn, `binding ${dev.name} to ${drv.name}`);
  }

  /** drivers/base/bus.c: unbind_store(). */
  unbindStore(drv: DeviceDriver, text: string): void {
    const dev = this.findDeviceByName(text);
    if (!dev || dev.driver !== drv) {
      throw new SysError(
        "ENODEV",
        "unbind_store",
        dev ? `${dev.name} is not bound to ${drv.name}` : "no such device",
      );
    }
    this.ctx.binding.deviceDriverDetach(dev);
  }

  /** drivers/base/bus.c: drivers_probe_store(). */
  driversProbeStore(text: string): void {
    const fn = "drivers_probe_store";
    const dev = this.findDeviceByName(text);
    if (!dev) throw new SysError("ENODEV", fn, "no such device");
    if (this.rescanDevicesHelper(dev) !== 0) {
      throw new SysError("EINVAL", fn, `device_attach(${dev.name}) failed`);
    }
  }

  /**
   * drivers/base/bus.c: bus_rescan_devices_helper() — device_attach() for an unbound device;
   * its negative result, else 0.
   */
  rescanDevicesHelper(dev: Device): number {
    if (dev.driver) return 0;
    return Math.min(this.ctx.binding.deviceAttach(dev), 0);
  }

  /** drivers/base/bus.c: bus_rescan_devices(). */
  rescanDevices(): number {
    return this.ctx.binding.flushAfter(() =>
      this.forEachDev((dev) => this.rescanDevicesHelper(dev)),
    );
  }
}

function removeIfExists(sysfs: Sysfs, path: string): void {
  if (sysfs.exists(path)) sysfs.remove(path);
}
