/**
 * The one fixture of the package's own suites (common, IRQ, reset, probe, the RFC suites): the
 * VMM fixture of `src/testing` — bootLab(), DEV, the sysfs binding helpers, UserMmio, the board
 * variants — plus what only these suites want: a boot with their defaults, one root process that
 * is administrator and VMM at once, a device opened the legacy way (group, container,
 * SET_IOMMU, GET_DEVICE_FD), and a few user-space odds and ends (eventfds, anonymous memory).
 * Everything user space does goes through a process's syscalls.
 */

import {
  EFD_NONBLOCK,
  type Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  POLLIN,
  PROT_READ,
  PROT_WRITE,
  type Process,
  SysError,
} from "@vfio-lab/kernel";
import { VFIO_NOIOMMU_IOMMU, VFIO_TYPE1v2_IOMMU } from "@vfio-lab/kernel/uapi";
import { VfioContainer, type VfioDevice, VfioGroup } from "@vfio-lab/vfio-core";
import {
  assignToDriver,
  bootLab,
  dmesgDuring,
  iommuGroupOf,
  type Lab,
  type LabDevice,
  type LabOptions,
  UserMmio,
} from "../src/testing/index.js";
import { VFIO_PLATFORM, vfioPlatformDeviceOf } from "../src/vfio-platform.js";
import type { VfioPlatformDevice } from "../src/vfio-platform-private.js";

export * from "../src/testing/index.js";

/** vfio's no-IOMMU mode, on the command line. */
export const NOIOMMU = "vfio.enable_unsafe_noiommu_mode=1";

export interface BootOptions extends LabOptions {
  /** `vfio_platform.reset_required` when `modules` is the default (default: the module's, Y). */
  readonly resetRequired?: boolean;
  /** Boot with NOIOMMU on the command line. */
  readonly noiommu?: boolean;
}

export interface World extends Lab {
  /** `admin` by a shorter name: root with every capability, administrator and VMM at once. */
  readonly p: Process;
}

/**
 * bootLab() with these suites' default modules, vfio_platform (with `resetRequired`) and
 * vfio_amba, unless `modules` lists others. Unsafe interrupts are allowed unless
 * `unsafeInterrupts: false` (the RFC suites show that emulated groups never need them).
 */
export function boot(opts: BootOptions = {}): World {
  const { resetRequired, noiommu, ...options } = opts;
  const lab = bootLab({
    ...options,
    cmdline: [noiommu ? NOIOMMU : "", options.cmdline ?? ""].filter((s) => s !== "").join(" "),
    modules: options.modules ?? [
      resetRequired === undefined
        ? "vfio_platform"
        : ["vfio_platform", { reset_required: resetRequired }],
      "vfio_amba",
    ],
  });
  return { ...lab, p: lab.admin };
}

/**
 * driver_override, unbind from the current driver, drivers_probe → what the drivers_probe write
 * returned (the byte count, even when the probe failed).
 */
export function assign(p: Process, dev: LabDevice, driver: string = VFIO_PLATFORM): number {
  return assignToDriver(p, dev, driver).probeWrite;
}

/** `/dev/vfio/<N>` or `/dev/vfio/noiommu-<N>` of a bound device. */
export function groupPath(p: Process, dev: LabDevice): string {
  const n = iommuGroupOf(p, dev);
  if (n === null) throw new Error(`${dev.name} has no IOMMU group`);
  return p.readdir("/dev/vfio").includes(String(n)) ? `/dev/vfio/${n}` : `/dev/vfio/noiommu-${n}`;
}

export interface Opened {
  readonly container: VfioContainer;
  readonly group: VfioGroup;
  readonly device: VfioDevice;
  /** Closes device, group and container (in that order). */
  close(): void;
}

/**
 * A VMM's legacy path: container, group (numbered or noiommu-), SET_CONTAINER, SET_IOMMU (type1
 * v2, or no-IOMMU for a noiommu group), GET_DEVICE_FD; on a refusal, what it opened is closed.
 */
export function openDevice(p: Process, dev: LabDevice): Opened {
  const path = groupPath(p, dev);
  const container = VfioContainer.open(p);
  const group = VfioGroup.open(p, path);
  try {
    group.setContainer(container);
    container.setIommu(path.includes("noiommu-") ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1v2_IOMMU);
    const device = group.deviceFd(dev.name);
    return {
      container,
      group,
      device,
      close: () => {
        device.close();
        group.close();
        container.close();
      },
    };
  } catch (e) {
    group.close();
    container.close();
    throw e;
  }
}

/** The kernel's VfioPlatformDevice behind a bound board device. */
export function vdevOf(w: { kernel: Kernel }, dev: LabDevice): VfioPlatformDevice {
  return vfioPlatformDeviceOf(w.kernel, dev.bus, dev.name);
}

/** The dmesg lines printed while `fn` ran, without their timestamps. */
export function dmesgOf(kernel: Kernel, fn: () => unknown): string[] {
  return dmesgDuring(kernel, fn).lines;
}

/** Region `index` of an open device mmapped (as its flags allow) as registers. */
export function mmioOf(p: Process, device: VfioDevice, index = 0): UserMmio {
  const size = Number(device.regionInfo(index).size);
  return new UserMmio(p, device.mmapRegion(index, { length: size }), size);
}

/** Anonymous private read/write memory. */
export function mmapAnon(p: Process, size: number): number {
  return p.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

/** A non-blocking eventfd. */
export function eventfd(p: Process): number {
  return p.eventfd(0, EFD_NONBLOCK);
}

/** read(2) of an eventfd's count; 0n when it would block (nothing was signalled). */
export function eventfdRead(p: Process, efd: number): bigint {
  const va = p.malloc(8);
  try {
    p.read(efd, va, 8);
  } catch (e) {
    if (SysError.isInstance(e) && e.code === "EAGAIN") return 0n;
    throw e;
  }
  return new DataView(p.peek(va, 8).buffer).getBigUint64(0, true);
}

/** poll(2) the eventfd for up to `ns` of virtual time → whether it became readable. */
export function waitEventfd(p: Process, efd: number, ns: number): boolean {
  const [r] = p.poll([{ fd: efd, events: POLLIN }], ns);
  return ((r?.revents ?? 0) & POLLIN) !== 0;
}

/**
 * Board variant: the DTS with `lines` added at the top of the node whose name is `node`
 * (`pl061@9030000`) — a string edit, as `dtc` users patch a decompiled tree.
 */
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
