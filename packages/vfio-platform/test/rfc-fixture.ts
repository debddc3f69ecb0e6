/**
 * The small fixture the RFC suites (rfc-*.test.ts) share: boot the board with the VFIO stack,
 * hand a device to a driver the way an admin does (driver_override, unbind, drivers_probe),
 * and the user-space odds and ends a VMM needs (eventfds, anonymous memory, register words).
 *
 * Everything user space does goes through a Process's syscalls. The VMM process is root
 * *without capabilities* by default: the RFC's claim is that a DMA-incapable device needs no
 * CAP_SYS_RAWIO (no-IOMMU mode requires it), so the suites drive it as an unprivileged-enough
 * user.
 */

import { boards, PAGE_SIZE, Soc } from "@vfio-lab/hw-soc";
import { iommufdModule } from "@vfio-lab/iommufd";
import {
  type CapabilityName,
  EFD_NONBLOCK,
  Kernel,
  type KernelConfigInput,
  type KernelModule,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  type ModuleArgs,
  O_WRONLY,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from "@vfio-lab/kernel";
import { vfioIommuType1Module, vfioModule } from "@vfio-lab/vfio-core";

export { PAGE_SIZE };

/** A board device by bus and name (`/sys/bus/<bus>/devices/<name>`). */
export interface BoardDev {
  readonly bus: "platform" | "amba";
  readonly name: string;
  /** The physical base of its register window. */
  readonly base: number;
}

export const DEV = {
  PL011: { bus: "amba", name: "9000000.pl011", base: 0x0900_0000 },
  PL031: { bus: "amba", name: "9010000.pl031", base: 0x0901_0000 },
  PL061: { bus: "amba", name: "9030000.pl061", base: 0x0903_0000 },
  SP804: { bus: "amba", name: "c020000.timer", base: 0x0c02_0000 },
  PL330: { bus: "amba", name: "c000000.dma", base: 0x0c00_0000 },
  DMA_TEST0: { bus: "platform", name: "c030000.dma-test", base: 0x0c03_0000 },
  DMA_TEST1: { bus: "platform", name: "c031000.dma-test", base: 0x0c03_1000 },
} as const satisfies Record<string, BoardDev>;

export interface RfcBootOptions {
  /** DTS text (default: boards.virtLab() with 1 GiB of RAM). */
  readonly board?: string;
  /** Appended to the command line. */
  readonly cmdline?: string;
  readonly config?: KernelConfigInput;
  /** Modules to load after vfio, each with its modprobe arguments. */
  readonly modules?: readonly (readonly [KernelModule<Kernel>, ModuleArgs?])[];
  /** Modules modprobe may find by name or alias (installed, not loaded). */
  readonly install?: readonly KernelModule<Kernel>[];
  /** Capabilities of the VMM process (default none). */
  readonly vmmCaps?: readonly CapabilityName[];
}

export interface RfcWorld {
  readonly soc: Soc;
  readonly kernel: Kernel;
  /** root with every capability: writes sysfs. */
  readonly admin: Process;
  /** The VMM: root without capabilities unless asked. */
  readonly vmm: Process;
}

/** The board with 1 GiB of RAM (enough, and cheaper to snapshot). */
export function defaultBoard(): string {
  return boards.virtLab({ ramSize: 0x4000_0000 });
}

/**
 * Boots, loads iommufd, vfio and vfio_iommu_type1, then `modules` in order. The command line
 * carries no `allow_unsafe_interrupts`: emulated groups never reach the MSI check, and the
 * suites show that.
 */
export function bootRfc(opts: RfcBootOptions = {}): RfcWorld {
  const soc = Soc.fromDeviceTree(opts.board ?? defaultBoard());
  const kernel = Kernel.boot(soc, { cmdline: opts.cmdline ?? "", config: opts.config ?? {} });
  if (opts.install) kernel.modules.register(...opts.install);
  kernel.modprobe(iommufdModule);
  kernel.modprobe(vfioModule);
  if (kernel.config.CONFIG_VFIO_CONTAINER && !kernel.modules.isLoaded("vfio_iommu_type1")) {
    kernel.modprobe(vfioIommuType1Module);
  }
  for (const [m, args] of opts.modules ?? []) kernel.modprobe(m, args);
  const admin = kernel.spawn({ comm: "admin" });
  const vmm = kernel.spawn({ comm: "vmm", caps: opts.vmmCaps ?? [] });
  return { soc, kernel, admin, vmm };
}

/** The driver a device is bound to, or null. */
export function boundDriver(p: Process, d: BoardDev): string | null {
  try {
    const link = p.readlink(`/sys/bus/${d.bus}/devices/${d.name}/driver`);
    return link.slice(link.lastIndexOf("/") + 1);
  } catch {
    return null;
  }
}

/**
 * The admin's assignment: driver_override, unbind from the current driver, drivers_probe →
 * the byte count the drivers_probe write returned (it succeeds even when the probe fails).
 */
export function assignTo(p: Process, d: BoardDev, driver: string): number {
  const dir = `/sys/bus/${d.bus}/devices/${d.name}`;
  p.writeFile(`${dir}/driver_override`, driver);
  if (boundDriver(p, d) !== null) p.writeFile(`${dir}/driver/unbind`, d.name);
  const va = p.malloc(d.name.length);
  p.poke(va, new TextEncoder().encode(d.name));
  const fd = p.open(`/sys/bus/${d.bus}/drivers_probe`, O_WRONLY);
  try {
    return p.write(fd, va, d.name.length);
  } finally {
    p.close(fd);
  }
}

/** The IOMMU group number from the device's `iommu_group` link. */
export function iommuGroupOf(p: Process, d: BoardDev): number {
  const link = p.readlink(`/sys/bus/${d.bus}/devices/${d.name}/iommu_group`);
  return Number(link.slice(link.lastIndexOf("/") + 1));
}

/** `/dev/vfio/devices/<entry of vfio-dev/>`. */
export function cdevPath(p: Process, d: BoardDev): string {
  const entry = p
    .readdir(`/sys/bus/${d.bus}/devices/${d.name}/vfio-dev`)
    .find((e) => e !== "." && e !== "..");
  if (!entry) throw new Error(`${d.name} has no vfio-dev entry`);
  return `/dev/vfio/devices/${entry}`;
}

/** Anonymous private read/write memory. */
export function mmapAnon(p: Process, size: number): number {
  return p.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

/** A non-blocking eventfd. */
export function eventfd(p: Process): number {
  return p.eventfd(0, EFD_NONBLOCK);
}

/** read(2) of an eventfd's count; 0n when it would block. */
export function eventfdRead(p: Process, efd: number): bigint {
  const va = p.malloc(8);
  try {
    p.read(efd, va, 8);
  } catch (e) {
    if ((e as { code?: string }).code === "EAGAIN") return 0n;
    throw e;
  }
  return new DataView(p.peek(va, 8).buffer).getBigUint64(0, true);
}

/** A little-endian 32-bit word. */
export function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}

/** The little-endian 32-bit word at the start of `bytes`. */
export function le32(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
}

/** The dmesg lines printed by `fn` (the ring's tail). */
export function dmesgOf(kernel: Kernel, fn: () => void): string[] {
  const before = kernel.dmesg().length;
  fn();
  return kernel.dmesg().slice(before);
}

/**
 * Board variant: the DTS with `props` deleted from the node whose name is `node`
 * (`dma-test@31000`) — a string edit of boards.virtLab()'s text, one property per line.
 */
export function withoutProperties(dts: string, node: string, props: readonly string[]): string {
  const header = new RegExp(
    `\\n(\\t+)(?:[\\w-]+: )?${node.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\{`,
  );
  const m = header.exec(dts);
  if (!m) throw new Error(`no node ${node}`);
  const start = m.index;
  const end = dts.indexOf(`\n${m[1]}};`, start);
  const kept = dts
    .slice(start, end)
    .split("\n")
    .filter((line) => {
      const t = line.trim();
      return !props.some((p) => t === `${p};` || t.startsWith(`${p} =`));
    })
    .join("\n");
  return dts.slice(0, start) + kept + dts.slice(end);
}

/** Board variant: the DTS with `lines` added at the top of the node whose name is `node`. */
export function withProperties(dts: string, node: string, lines: readonly string[]): string {
  const header = new RegExp(
    `\\n(\\t+)(?:[\\w-]+: )?${node.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\{`,
  );
  const m = header.exec(dts);
  if (!m) throw new Error(`no node ${node}`);
  const at = m.index + m[0].length;
  const indent = `${m[1]}\t`;
  return dts.slice(0, at) + lines.map((l) => `\n${indent}${l}`).join("") + dts.slice(at);
}
