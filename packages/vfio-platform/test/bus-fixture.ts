/**
 * The small fixture of the bus-driver suites (probe, IRQs, the vfio-amba oracle replay): boot
 * the board with vfio, vfio_platform and vfio_amba loaded, hand a device to a driver the way
 * an administrator does (driver_override, unbind, drivers_probe), and open it for user space
 * through its group and a container, as a VMM does. Everything goes through a process's
 * syscalls; the scenarios' richer fixture is `src/testing`.
 */

import { boards, Soc } from "@vfio-lab/hw-soc";
import { Kernel, type Process, SysError } from "@vfio-lab/kernel";
import { VFIO_NOIOMMU_IOMMU, VFIO_TYPE1v2_IOMMU } from "@vfio-lab/kernel/uapi";
import { VfioContainer, type VfioDevice, VfioGroup, vfioModule } from "@vfio-lab/vfio-core";
import { vfioAmbaModule } from "../src/vfio-amba.js";
import { vfioPlatformModule } from "../src/vfio-platform.js";

/** No board device has isolated MSIs: type1 and iommufd refuse without these (EPERM). */
export const UNSAFE_INTERRUPTS =
  "iommufd.allow_unsafe_interrupts=1 vfio_iommu_type1.allow_unsafe_interrupts=1";

/** Board devices the suites use, by bus. */
export const DEV = {
  PL011: { bus: "amba", name: "9000000.pl011" },
  PL031: { bus: "amba", name: "9010000.pl031" },
  PL061: { bus: "amba", name: "9030000.pl061" },
  PL330: { bus: "amba", name: "c000000.dma" },
  SP804: { bus: "amba", name: "c020000.timer" },
  XGMAC: { bus: "platform", name: "c010000.ethernet" },
  DMA_TEST0: { bus: "platform", name: "c030000.dma-test" },
  DMA_TEST1: { bus: "platform", name: "c031000.dma-test" },
  VIRTIO0: { bus: "platform", name: "a000000.virtio_mmio" },
} as const;

export type BoardDev = (typeof DEV)[keyof typeof DEV];

export interface LabOptions {
  /** `vfio_platform.reset_required` (default: Linux's, true). */
  readonly resetRequired?: boolean;
  /** `vfio.enable_unsafe_noiommu_mode` at load. */
  readonly noiommu?: boolean;
  /** Load vfio_platform / vfio_amba (default both). */
  readonly platform?: boolean;
  readonly amba?: boolean;
  readonly cmdline?: string;
}

export interface Lab {
  readonly soc: Soc;
  readonly kernel: Kernel;
  /** root, every capability: the administrator and the VMM at once. */
  readonly p: Process;
}

export function bootLab(opts: LabOptions = {}): Lab {
  const soc = Soc.fromDeviceTree(boards.virtLab());
  const cmdline = [UNSAFE_INTERRUPTS, opts.cmdline ?? ""].filter((s) => s !== "").join(" ");
  const kernel = Kernel.boot(soc, { cmdline });
  kernel.modprobe(vfioModule, { enable_unsafe_noiommu_mode: opts.noiommu ?? false });
  if (opts.platform ?? true) {
    kernel.modprobe(vfioPlatformModule, { reset_required: opts.resetRequired ?? true });
  }
  if (opts.amba ?? true) kernel.modprobe(vfioAmbaModule);
  const p = kernel.spawn({ comm: "vmm" });
  return { soc, kernel, p };
}

export function sysfsDir(dev: BoardDev): string {
  return `/sys/bus/${dev.bus}/devices/${dev.name}`;
}

/** The driver bound to `dev`, or null. */
export function driverOf(p: Process, dev: BoardDev): string | null {
  try {
    return (
      p
        .readlink(`${sysfsDir(dev)}/driver`)
        .split("/")
        .pop() ?? null
    );
  } catch (e) {
    if (SysError.isInstance(e) && e.code === "ENOENT") return null;
    throw e;
  }
}

/**
 * driver_override, unbind from the current driver, drivers_probe — what the write of
 * drivers_probe returned (the byte count, even when the probe failed).
 */
export function assign(p: Process, dev: BoardDev, driver: string): number {
  p.writeFile(`${sysfsDir(dev)}/driver_override`, driver);
  if (driverOf(p, dev) !== null) p.writeFile(`${sysfsDir(dev)}/driver/unbind`, dev.name);
  return writeCount(p, `/sys/bus/${dev.bus}/drivers_probe`, dev.name);
}

/** One write(2) of `text` to `path`: the count it returned. */
export function writeCount(p: Process, path: string, text: string): number {
  const bytes = new TextEncoder().encode(text);
  const va = p.malloc(bytes.length);
  p.poke(va, bytes);
  const fd = p.open(path, 1 /* O_WRONLY */);
  try {
    return p.write(fd, va, bytes.length);
  } finally {
    p.close(fd);
  }
}

/** `/dev/vfio/<N>` or `/dev/vfio/noiommu-<N>` of a bound device. */
export function groupPath(p: Process, dev: BoardDev): string {
  const n = p
    .readlink(`${sysfsDir(dev)}/iommu_group`)
    .split("/")
    .pop()!;
  return p.readdir("/dev/vfio").includes(n) ? `/dev/vfio/${n}` : `/dev/vfio/noiommu-${n}`;
}

export interface Opened {
  readonly container: VfioContainer;
  readonly group: VfioGroup;
  readonly device: VfioDevice;
  /** Closes device, group and container (in that order). */
  close(): void;
}

/** A VMM's legacy path: group, container, SET_IOMMU (type1 v2 or no-IOMMU), GET_DEVICE_FD. */
export function openDevice(p: Process, dev: BoardDev): Opened {
  const path = groupPath(p, dev);
  const group = VfioGroup.open(p, path);
  const container = VfioContainer.open(p);
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
}

/** The kernel log lines that appeared while `f` ran, without their timestamps. */
export function dmesgOf(kernel: Kernel, f: () => void): string[] {
  const before = kernel.dmesg().length;
  f();
  return kernel
    .dmesg()
    .slice(before)
    .map((l) => l.replace(/^\[[ 0-9.]+\] /, ""));
}
