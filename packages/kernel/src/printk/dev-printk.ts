/**
 * dev_printk (drivers/base/core.c): messages about a device, prefixed
 * `<driver or bus> <device>: ` and tagged with the device's SUBSYSTEM and DEVICE properties so
 * /dev/kmsg readers (udev, journald) can tell which device spoke.
 *
 * The driver core owns devices; this file only needs what `dev_driver_string()`,
 * `dev_name()` and `set_dev_info()` read, so a device is described by `PrintkDevice`.
 *
 * Caveat: network devices (`DEVICE=n<ifindex>`) are not modelled; a "net" device is tagged like
 * any other (`+net:<name>`).
 */

import {
  KERN_ALERT,
  KERN_CRIT,
  KERN_DEBUG,
  KERN_EMERG,
  KERN_ERR,
  KERN_INFO,
  KERN_NOTICE,
  KERN_WARNING,
} from "./levels.js";
import type { DevPrintkInfo, Printk } from "./printk.js";

/** What dev_printk reads of a `struct device`. */
export interface PrintkDevice {
  /** dev_name(): `9030000.pl061`, `vfio`, `0000:00:01.0`. */
  readonly name: string;
  /** The bound driver's name, if any (`dev->driver->name`). */
  readonly driverName?: string | undefined;
  /** `dev->bus->name` (`platform`, `amba`), if on a bus. */
  readonly busName?: string | undefined;
  /** `dev->class->name` (`misc`, `vfio`), if a class device. */
  readonly className?: string | undefined;
  /** `dev->devt` when it has a major: the DEVICE property becomes `c<major>:<minor>`. */
  readonly devt?: { readonly major: number; readonly minor: number } | undefined;
}

/** drivers/base/core.c: dev_driver_string() — driver name, else bus name, else class name. */
export function devDriverString(dev: PrintkDevice): string {
  return dev.driverName ?? dev.busName ?? dev.className ?? "";
}

/** `snprintf()` into a char array of `size` bytes: at most size − 1 characters survive. */
function charArray(text: string, size: number): string {
  return text.length < size ? text : text.slice(0, size - 1);
}

/**
 * drivers/base/core.c: set_dev_info() — SUBSYSTEM is the class name, else the bus name (no
 * properties at all for a device with neither); DEVICE is `b|c<major>:<minor>` for a device
 * number, else `+<subsystem>:<name>`.
 */
export function devPrintkInfo(dev: PrintkDevice): DevPrintkInfo | undefined {
  const subsys = dev.className ?? dev.busName;
  if (subsys === undefined) return undefined;
  let device: string;
  if (dev.devt && dev.devt.major !== 0) {
    const kind = subsys === "block" ? "b" : "c";
    device = `${kind}${dev.devt.major}:${dev.devt.minor}`;
  } else {
    device = `+${subsys}:${dev.name}`;
  }
  return { subsystem: charArray(subsys, 16), device: charArray(device, 48) };
}

/** The `dev_*()` family for one device. */
export interface DevLogger {
  emerg(text: string): void;
  alert(text: string): void;
  crit(text: string): void;
  err(text: string): void;
  warn(text: string): void;
  notice(text: string): void;
  info(text: string): void;
  /** dev_dbg(): dropped unless the log was created with `debug`. */
  dbg(text: string): void;
}

/** dev_emerg() … dev_dbg() bound to `dev`. */
export function devLogger(printk: Printk, dev: PrintkDevice | null): DevLogger {
  const at = (level: number) => (text: string) => {
    printk.devPrintk(level, dev, text);
  };
  return {
    emerg: at(KERN_EMERG),
    alert: at(KERN_ALERT),
    crit: at(KERN_CRIT),
    err: at(KERN_ERR),
    warn: at(KERN_WARNING),
    notice: at(KERN_NOTICE),
    info: at(KERN_INFO),
    dbg: (text) => {
      if (printk.debugEnabled) printk.devPrintk(KERN_DEBUG, dev, text);
    },
  };
}
