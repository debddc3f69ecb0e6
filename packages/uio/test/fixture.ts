/**
 * The suites' common ground: a booted board, an administrator process that binds devices
 * through sysfs as a user would, and small readers of sysfs, /proc and user memory.
 */

import { boards, Soc } from "@vfio-lab/hw-soc";
import { Kernel, type Process } from "@vfio-lab/kernel";

export interface Lab {
  readonly kernel: Kernel;
  readonly soc: Soc;
  /** root, every capability: binds devices, loads modules. */
  readonly admin: Process;
}

/** Boots `dts` (default: the virt-lab board). */
export function boot(dts: string = boards.virtLab(), cmdline = ""): Lab {
  const soc = Soc.fromDeviceTree(dts);
  const kernel = Kernel.boot(soc, { cmdline });
  return { kernel, soc, admin: kernel.spawn({ comm: "admin" }) };
}

/**
 * The virt-lab board with the PL031 described as a plain platform device: its node loses the
 * `arm,primecell` compatible, so of_platform_populate() makes `9010000.pl031` a platform device
 * (and no AMBA driver can take it) — the device tree oracle-probes/uio-pl031-platform.c boots.
 */
export function pl031AsPlatform(): string {
  const dts = boards.virtLab();
  const from = /(pl031@9010000 \{[^}]*compatible = )"arm,pl031", "arm,primecell";/;
  if (!from.test(dts)) throw new Error("virt-lab board: no pl031 node to rewrite");
  return dts.replace(from, '$1"arm,pl031";');
}

/**
 * driver_override → unbind the current driver (if any) → drivers_probe, as a user hands a
 * device to a driver; the override stays.
 */
export function assignToDriver(admin: Process, bus: string, dev: string, drv: string): void {
  const base = `/sys/bus/${bus}/devices/${dev}`;
  admin.writeFile(`${base}/driver_override`, drv);
  if (admin.readdir(base).includes("driver")) {
    admin.writeFile(`${base}/driver/unbind`, dev);
  }
  admin.writeFile(`/sys/bus/${bus}/drivers_probe`, dev);
}

/** The driver bound to a device, or null. */
export function driverOf(p: Process, bus: string, dev: string): string | null {
  try {
    const t = p.readlink(`/sys/bus/${bus}/devices/${dev}/driver`);
    return t.slice(t.lastIndexOf("/") + 1);
  } catch {
    return null;
  }
}

/** Kernel log lines printed while `f` ran. */
export function dmesgOf(kernel: Kernel, f: () => void): string[] {
  const before = kernel.dmesg().length;
  f();
  return kernel.dmesg().slice(before);
}

/** A little-endian u32 as bytes (for `poke`). */
export function le32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}

/** A little-endian u32 of user memory. */
export function peek32(p: Process, va: number): number {
  const b = p.peek(va, 4);
  return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
}

/** The /proc/interrupts row of `name` (without its counters), or undefined. */
export function interruptRow(p: Process, name: string): string | undefined {
  const line = p
    .readFile("/proc/interrupts")
    .split("\n")
    .find((l) => l.endsWith(` ${name}`));
  return line?.replace(/^\s*(\d+):\s+\d+\s+/, "$1: ");
}
