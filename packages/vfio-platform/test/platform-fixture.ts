/**
 * The small fixture of the core suites (vfio-platform-common.test.ts, reset.test.ts): boot the
 * default board with iommufd, vfio and vfio_platform loaded, reset modules installed (known to
 * modprobe, not loaded), assign a device to vfio-platform through sysfs, and open its device
 * fd the way a VMM does — a type1 v2 container for a device behind the SMMU, the no-IOMMU
 * container for one without (boot with `vfio.enable_unsafe_noiommu_mode=1`).
 *
 * The scenario fixture (src/testing) is richer; this one stays minimal so the core's tests
 * depend only on the core.
 */

import { boards, Soc } from "@vfio-lab/hw-soc";
import { iommufdModule } from "@vfio-lab/iommufd";
import { Kernel, type KernelModule, type Process } from "@vfio-lab/kernel";
import { VFIO_NOIOMMU_IOMMU, VFIO_TYPE1v2_IOMMU } from "@vfio-lab/kernel/uapi";
import { VfioContainer, type VfioDevice, VfioGroup, vfioModule } from "@vfio-lab/vfio-core";
import { VFIO_PLATFORM, vfioPlatformDeviceOf, vfioPlatformModule } from "../src/vfio-platform.js";
import type { VfioPlatformDevice } from "../src/vfio-platform-private.js";

export interface BoardDevice {
  readonly bus: "platform" | "amba";
  readonly name: string;
  readonly base: number;
}

/** The DMA test engine behind the SMMU (level SPI 125, one 4 KiB window). */
export const DMA_TEST = { bus: "platform", name: "c030000.dma-test", base: 0x0c03_0000 } as const;
/** The Calxeda XGMAC behind the SMMU (three level SPIs, one 4 KiB window). */
export const XGMAC = { bus: "platform", name: "c010000.ethernet", base: 0x0c01_0000 } as const;
/** The first virtio-mmio transport: no IOMMU, no driver, an edge IRQ, a 0x200-byte window. */
export const VIRTIO = { bus: "platform", name: "a000000.virtio_mmio", base: 0x0a00_0000 } as const;

export const UNSAFE_INTERRUPTS =
  "iommufd.allow_unsafe_interrupts=1 vfio_iommu_type1.allow_unsafe_interrupts=1";
export const NOIOMMU = "vfio.enable_unsafe_noiommu_mode=1";

export interface BootOptions {
  readonly cmdline?: string;
  /** Modules modprobe can find (by name or alias) without loading them. */
  readonly install?: readonly KernelModule<Kernel>[];
  /** vfio_platform.reset_required (default: the module's default, Y). */
  readonly resetRequired?: boolean;
}

export interface World {
  readonly soc: Soc;
  readonly kernel: Kernel;
  /** The VMM (root). */
  readonly p: Process;
}

export function boot(opts: BootOptions = {}): World {
  const soc = Soc.fromDeviceTree(boards.virtLab());
  const cmdline = [UNSAFE_INTERRUPTS, opts.cmdline ?? ""].filter((s) => s !== "").join(" ");
  const kernel = Kernel.boot(soc, { cmdline });
  kernel.modprobe(iommufdModule);
  kernel.modprobe(vfioModule);
  kernel.modules.register(...(opts.install ?? []));
  kernel.modprobe(
    vfioPlatformModule,
    opts.resetRequired === undefined ? {} : { reset_required: opts.resetRequired },
  );
  return { soc, kernel, p: kernel.spawn({ comm: "vmm" }) };
}

/** driver_override, unbind from the current driver, drivers_probe. */
export function assign(p: Process, d: BoardDevice, driver = VFIO_PLATFORM): void {
  const dir = `/sys/bus/${d.bus}/devices/${d.name}`;
  p.writeFile(`${dir}/driver_override`, driver);
  if (driverOf(p, d) !== null) p.writeFile(`${dir}/driver/unbind`, d.name);
  p.writeFile(`/sys/bus/${d.bus}/drivers_probe`, d.name);
}

/** The bound driver's name, or null. */
export function driverOf(p: Process, d: BoardDevice): string | null {
  try {
    const link = p.readlink(`/sys/bus/${d.bus}/devices/${d.name}/driver`);
    return link.slice(link.lastIndexOf("/") + 1);
  } catch {
    return null;
  }
}

export interface Opened {
  readonly container: VfioContainer;
  readonly group: VfioGroup;
  readonly device: VfioDevice;
}

/** Container, group (numbered or noiommu-), SET_IOMMU, GET_DEVICE_FD. */
export function openDevice(p: Process, d: BoardDevice): Opened {
  const link = p.readlink(`/sys/bus/${d.bus}/devices/${d.name}/iommu_group`);
  const n = link.slice(link.lastIndexOf("/") + 1);
  const noiommu = p.readdir("/dev/vfio").includes(`noiommu-${n}`);
  const container = VfioContainer.open(p);
  const group = VfioGroup.open(p, noiommu ? `noiommu-${n}` : Number(n));
  group.setContainer(container);
  container.setIommu(noiommu ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1v2_IOMMU);
  try {
    return { container, group, device: group.deviceFd(d.name) };
  } catch (e) {
    group.close();
    container.close();
    throw e;
  }
}

export function closeAll(o: Opened): void {
  o.device.close();
  o.group.close();
  o.container.close();
}

/** The kernel's VfioPlatformDevice behind a bound board device. */
export function vdevOf(w: World, d: BoardDevice): VfioPlatformDevice {
  return vfioPlatformDeviceOf(w.kernel, d.bus, d.name);
}

/** dmesg text since the last `w.kernel.printk.clear()`, without timestamps. */
export function dmesg(w: World): string[] {
  return w.kernel.dmesg().map((l) => l.replace(/^\[[ \d.]+\] /, ""));
}
