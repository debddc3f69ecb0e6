/**
 * Binding devices through sysfs, as the setup script in front of a VMM does it (the steps of
 * Documentation/driver-api/vfio.rst, "VFIO Usage Example", for platform/AMBA devices):
 *
 *   echo vfio-platform > /sys/bus/platform/devices/<dev>/driver_override
 *   echo <dev> > /sys/bus/platform/devices/<dev>/driver/unbind
 *   echo <dev> > /sys/bus/platform/drivers_probe
 *
 * Every step is a real open/write/close by the given process, so refusals keep their errno and
 * the byte counts are those Linux returns (a `drivers_probe` write succeeds even when the probe
 * it triggers fails: driver core then only logs `probe with driver … failed with error -N`).
 *
 * Caveat: the text written is the bare name (no trailing newline), as `echo -n` writes it.
 */

import { O_WRONLY, type Process } from "@vfio-lab/kernel";
import type { LabDevice } from "./boot.js";

/** The device's sysfs directory. */
export function sysfsDir(dev: LabDevice): string {
  return `/sys/bus/${dev.bus}/devices/${dev.name}`;
}

/** open + write(text) + close → write's return value (the bytes the store accepted). */
export function sysfsWrite(p: Process, path: string, text: string): number {
  const bytes = new TextEncoder().encode(text);
  const fd = p.open(path, O_WRONLY);
  try {
    const va = p.malloc(Math.max(1, bytes.length));
    try {
      p.poke(va, bytes);
      return p.write(fd, va, bytes.length);
    } finally {
      p.munmap(va, Math.max(4096, Math.ceil(bytes.length / 4096) * 4096));
    }
  } finally {
    p.close(fd);
  }
}

/** The name of the driver bound to `dev` (its `driver` link), or null. */
export function driverOf(p: Process, dev: LabDevice): string | null {
  try {
    const link = p.readlink(`${sysfsDir(dev)}/driver`);
    return link.slice(link.lastIndexOf("/") + 1);
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return null;
    throw e;
  }
}

/** The device's IOMMU group number (its `iommu_group` link), or null without one. */
export function iommuGroupOf(p: Process, dev: LabDevice): number | null {
  try {
    const link = p.readlink(`${sysfsDir(dev)}/iommu_group`);
    return Number(link.slice(link.lastIndexOf("/") + 1));
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return null;
    throw e;
  }
}

/** echo <dev> > …/driver/unbind; nothing when no driver is bound. */
export function unbind(p: Process, dev: LabDevice): void {
  if (driverOf(p, dev) === null) return;
  sysfsWrite(p, `${sysfsDir(dev)}/driver/unbind`, dev.name);
}

/** echo <dev> > /sys/bus/<bus>/drivers/<driver>/bind → the bytes written (or the errno). */
export function bindTo(p: Process, dev: LabDevice, driver: string): number {
  return sysfsWrite(p, `/sys/bus/${dev.bus}/drivers/${driver}/bind`, dev.name);
}

/** echo <dev> > /sys/bus/<bus>/drivers_probe → the bytes written. */
export function driversProbe(p: Process, dev: LabDevice): number {
  return sysfsWrite(p, `/sys/bus/${dev.bus}/drivers_probe`, dev.name);
}

/** What assigning a device did, as the setup script can see it. */
export interface AssignResult {
  /** The return value of the `drivers_probe` write (its length, even if the probe failed). */
  readonly probeWrite: number;
  /** The driver bound afterwards, or null. */
  readonly driver: string | null;
}

/**
 * driver_override = `driver`, unbind from the current driver (if any), drivers_probe. The probe
 * may fail (the device then stays unbound): check `driver` or dmesg.
 */
export function assignToDriver(p: Process, dev: LabDevice, driver: string): AssignResult {
  sysfsWrite(p, `${sysfsDir(dev)}/driver_override`, driver);
  unbind(p, dev);
  const probeWrite = driversProbe(p, dev);
  return { probeWrite, driver: driverOf(p, dev) };
}

/**
 * Gives the device back to whatever kernel driver matches it: clear driver_override (a lone
 * newline clears it, as `echo > driver_override` does), unbind, drivers_probe.
 */
export function giveBack(p: Process, dev: LabDevice): AssignResult {
  sysfsWrite(p, `${sysfsDir(dev)}/driver_override`, "\n");
  unbind(p, dev);
  const probeWrite = driversProbe(p, dev);
  return { probeWrite, driver: driverOf(p, dev) };
}
