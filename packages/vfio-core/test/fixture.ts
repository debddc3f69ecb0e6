/**
 * The fixture of the cross-mode suites: tools/testing/selftests/vfio/lib (iommu.c,
 * vfio_pci_device.c, iova_allocator.c) with the board's DMA test engine in place of a PCI
 * device. One kernel is booted per test, in the build the IOMMU mode needs, and the device is
 * opened exactly as `vfio_pci_device_init()` opens it:
 *
 * | mode                     | kernel                             | container      | device path |
 * |--------------------------|------------------------------------|----------------|-------------|
 * | `vfio_type1_iommu`       | default (CONFIG_VFIO_CONTAINER=y)  | /dev/vfio/vfio | group       |
 * | `vfio_type1v2_iommu`     | default                            | /dev/vfio/vfio | group       |
 * | `iommufd_compat_type1`   | CONFIG_VFIO_CONTAINER=n            | /dev/iommu     | group       |
 * | `iommufd_compat_type1v2` | CONFIG_VFIO_CONTAINER=n            | /dev/iommu     | group       |
 * | `iommufd`                | default                            | —              | cdev + IOAS |
 *
 * The container path of each mode is iommu.c's `iommu_modes[]` table (the compat modes open
 * `/dev/iommu`; on their kernel `/dev/vfio/vfio` is iommufd's too, and no type1 backend can
 * exist). The group path: the IOMMU group from sysfs, `/dev/vfio/<N>`, GET_STATUS (VIABLE),
 * SET_CONTAINER, CHECK_EXTENSION and SET_IOMMU, GET_DEVICE_FD. The cdev path: the `vfio-dev/`
 * entry in sysfs, open, BIND_IOMMUFD, ATTACH_IOMMUFD_PT to the IOAS. Then GET_INFO, as
 * vfio_pci_device_setup() starts.
 *
 * No device of the board has isolated MSIs, so the command line allows unsafe interrupts for
 * both iommufd and type1 (EPERM otherwise, as on such a machine).
 */

import { boards, PAGE_SIZE, Soc } from "@vfio-lab/hw-soc";
import { IommuFd, iommufdModule } from "@vfio-lab/iommufd";
import {
  type IommuDomain,
  Kernel,
  type KernelConfigInput,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from "@vfio-lab/kernel";
import { VFIO_API_VERSION, VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU } from "@vfio-lab/kernel/uapi";
import { expect } from "vitest";
import { VfioContainer, VfioDevice, type VfioDeviceInfo, VfioGroup } from "../src/user/index.js";
import { vfioIommuType1Module, vfioModule } from "../src/vfio-modules.js";
import { driverOverride } from "./core-fixture.js";
import {
  testDeviceOf,
  VFIO_LAB_TEST,
  type VfioLabTestDevice,
  vfioLabTestModule,
} from "./test-bus-driver.js";

export { PAGE_SIZE };

/** lib/include/libvfio/iommu.h: `struct iommu_mode`. */
export interface IommuMode {
  readonly name:
    | "vfio_type1_iommu"
    | "vfio_type1v2_iommu"
    | "iommufd_compat_type1"
    | "iommufd_compat_type1v2"
    | "iommufd";
  /** What iommu_init() opens; none: the cdev path with /dev/iommu. */
  readonly containerPath?: "/dev/vfio/vfio" | "/dev/iommu";
  readonly iommuType?: number;
}

/** lib/iommu.c: iommu_modes[], in FIXTURE_VARIANT_ADD_ALL_IOMMU_MODES() order. */
export const IOMMU_MODES: readonly IommuMode[] = [
  { name: "vfio_type1_iommu", containerPath: "/dev/vfio/vfio", iommuType: VFIO_TYPE1_IOMMU },
  { name: "vfio_type1v2_iommu", containerPath: "/dev/vfio/vfio", iommuType: VFIO_TYPE1v2_IOMMU },
  { name: "iommufd_compat_type1", containerPath: "/dev/iommu", iommuType: VFIO_TYPE1_IOMMU },
  { name: "iommufd_compat_type1v2", containerPath: "/dev/iommu", iommuType: VFIO_TYPE1v2_IOMMU },
  { name: "iommufd" },
];

/** The engine behind the SMMU (platform device, IOMMU group 1). */
export const DMA_TEST = { bus: "platform", name: "c030000.dma-test", base: 0x0c03_0000 } as const;
/** The engine the SMMU refuses (no IOMMU). */
export const DMA_TEST_NOIOMMU = {
  bus: "platform",
  name: "c031000.dma-test",
  base: 0x0c03_1000,
} as const;
/** The PL061 GPIO controller (AMBA, no IOMMU). */
export const PL061 = { bus: "amba", name: "9030000.pl061", base: 0x0903_0000 } as const;

export type BoardDevice = typeof DMA_TEST | typeof DMA_TEST_NOIOMMU | typeof PL061;

export const UNSAFE_INTERRUPTS =
  "iommufd.allow_unsafe_interrupts=1 vfio_iommu_type1.allow_unsafe_interrupts=1";

export interface BootOptions {
  /** Kernel command line after the unsafe-interrupt switches. */
  readonly cmdline?: string;
  readonly config?: KernelConfigInput;
  /** Load vfio_lab_test with `emulated_iommu=1`. */
  readonly emulated?: boolean;
  /** Devices to hand to vfio-lab-test (default: the DMA engine behind the SMMU). */
  readonly bind?: readonly BoardDevice[];
}

export interface Booted {
  readonly soc: Soc;
  readonly kernel: Kernel;
  /** The VMM. */
  readonly p: Process;
}

/**
 * Boots the board with iommufd and vfio loaded (type1 too when the build has a container),
 * vfio_lab_test registered, and the devices bound to it as the selftests' setup.sh binds them.
 */
export function boot(opts: BootOptions = {}): Booted {
  const soc = Soc.fromDeviceTree(boards.virtLab({ ramSize: 0x4000_0000 }));
  const cmdline = [UNSAFE_INTERRUPTS, opts.cmdline ?? ""].filter((s) => s !== "").join(" ");
  const kernel = Kernel.boot(soc, { cmdline, config: opts.config ?? {} });
  kernel.modprobe(iommufdModule);
  kernel.modprobe(vfioModule);
  // modprobe vfio pulls the backend in by its soft dependency; load it here if that is not wired.
  if (kernel.config.CONFIG_VFIO_CONTAINER && !kernel.modules.isLoaded("vfio_iommu_type1")) {
    kernel.modprobe(vfioIommuType1Module);
  }
  kernel.modprobe(vfioLabTestModule, { emulated_iommu: opts.emulated ?? false });
  const p = kernel.spawn({ comm: "vmm" });
  for (const d of opts.bind ?? [DMA_TEST]) bindToTestDriver(p, d);
  return { soc, kernel, p };
}

/** The kernel build of a mode (ARCHITECTURE.md: Kconfig choices are boot options). */
export function configOf(mode: IommuMode): KernelConfigInput {
  return mode.containerPath === "/dev/iommu" ? { CONFIG_VFIO_CONTAINER: false } : {};
}

/** setup.sh: driver_override, unbind from the current driver, drivers_probe. */
export function bindToTestDriver(p: Process, d: BoardDevice): void {
  driverOverride(p, d, VFIO_LAB_TEST);
}

/** lib/sysfs.c: sysfs_iommu_group_get() — the group number from the `iommu_group` link. */
export function sysfsIommuGroupGet(p: Process, d: BoardDevice): number {
  const link = p.readlink(`/sys/bus/${d.bus}/devices/${d.name}/iommu_group`);
  return Number(link.slice(link.lastIndexOf("/") + 1));
}

/** vfio_pci_device.c: vfio_pci_get_cdev_path() — `/dev/vfio/devices/<vfio-dev entry>`. */
export function cdevPath(p: Process, d: BoardDevice, prefix = "vfio"): string {
  const entry = p
    .readdir(`/sys/bus/${d.bus}/devices/${d.name}/vfio-dev`)
    .find((e) => e.startsWith(prefix));
  if (!entry) throw new Error(`Failed to find vfio cdev file of ${d.name}`);
  return `/dev/vfio/devices/${entry}`;
}

/** lib/include/libvfio/iommu.h: `struct iommu` — the container or iommufd of a test. */
export interface Iommu {
  readonly mode: IommuMode;
  readonly container: VfioContainer | null;
  readonly iommufd: IommuFd | null;
  readonly ioasId: number;
}

/** lib/iommu.c: iommu_init() */
export function iommuInit(p: Process, mode: IommuMode): Iommu {
  if (mode.containerPath) {
    const container = VfioContainer.open(p, mode.containerPath);
    expect(container.apiVersion()).toBe(VFIO_API_VERSION);
    return { mode, container, iommufd: null, ioasId: 0 };
  }
  const iommufd = IommuFd.open(p);
  return { mode, container: null, iommufd, ioasId: iommufd.ioasAlloc() };
}

/** lib/iommu.c: iommu_cleanup() */
export function iommuCleanup(iommu: Iommu): void {
  iommu.iommufd?.close();
  iommu.container?.close();
}

/** vfio_pci_device.c: `struct vfio_pci_device`, cut to what a platform device has. */
export interface TestDevice {
  readonly iommu: Iommu;
  readonly board: BoardDevice;
  readonly group: VfioGroup | null;
  readonly device: VfioDevice;
  readonly info: VfioDeviceInfo;
}

/** vfio_pci_device.c: vfio_pci_device_init() */
export function vfioDeviceInit(p: Process, board: BoardDevice, iommu: Iommu): TestDevice {
  let group: VfioGroup | null = null;
  let device: VfioDevice;
  if (iommu.container) {
    // vfio_pci_group_setup()
    group = VfioGroup.open(p, sysfsIommuGroupGet(p, board));
    expect(group.status().viable).toBe(true);
    group.setContainer(iommu.container);
    // vfio_container_set_iommu()
    expect(iommu.container.checkExtension(iommu.mode.iommuType!)).toBeGreaterThan(0);
    iommu.container.setIommu(iommu.mode.iommuType!);
    device = group.deviceFd(board.name);
  } else {
    // vfio_pci_iommufd_setup()
    device = VfioDevice.openCdev(p, cdevPath(p, board));
    device.bindIommufd(iommu.iommufd!);
    device.attachPt(iommu.ioasId);
  }
  return { iommu, board, group, device, info: device.info() };
}

/** vfio_pci_device.c: vfio_pci_device_cleanup() */
export function vfioDeviceCleanup(dev: TestDevice): void {
  dev.device.close();
  dev.group?.close();
}

/** lib/include/libvfio/iommu.h: `struct dma_region`. */
export interface DmaRegion {
  readonly vaddr: number;
  readonly iova: bigint;
  readonly size: bigint;
}

/** lib/iommu.c: __iommu_map() — MAP_DMA, or IOAS_MAP at a fixed IOVA. */
export function iommuMap(iommu: Iommu, region: DmaRegion): void {
  if (iommu.iommufd) {
    iommu.iommufd.map(iommu.ioasId, region.vaddr, region.size, { iova: region.iova });
  } else {
    iommu.container!.mapDma({ vaddr: region.vaddr, iova: region.iova, size: region.size });
  }
}

/** lib/iommu.c: __iommu_unmap() → the bytes unmapped. */
export function iommuUnmap(iommu: Iommu, region: DmaRegion): bigint {
  if (iommu.iommufd) return iommu.iommufd.unmap(iommu.ioasId, region.iova, region.size);
  return iommu.container!.unmapDma({ iova: region.iova, size: region.size });
}

/** lib/iommu.c: __iommu_unmap_all() → the bytes unmapped. */
export function iommuUnmapAll(iommu: Iommu): bigint {
  if (iommu.iommufd) return iommu.iommufd.unmapAll(iommu.ioasId);
  return iommu.container!.unmapDma({ all: true });
}

/** lib/iommu.c: iommu_iova_ranges() — sorted, as iommufd's `iommu_iova_range` (`last`). */
export function iommuIovaRanges(iommu: Iommu): { start: bigint; last: bigint }[] {
  const ranges = iommu.iommufd
    ? iommu.iommufd.iovaRanges(iommu.ioasId).ranges
    : (iommu.container!.iommuInfo().iovaRanges ?? []).map((r) => ({ start: r.start, last: r.end }));
  expect(ranges.length).toBeGreaterThan(0);
  return [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

/** lib/iova_allocator.c: size-aligned IOVAs handed out in order from the usable ranges. */
export class IovaAllocator {
  private rangeIdx = 0;
  private rangeOffset = 0n;

  constructor(private readonly ranges: readonly { start: bigint; last: bigint }[]) {}

  /** iova_allocator_alloc(): `size` is a power of two. */
  alloc(size: bigint): bigint {
    expect(size > 0n && (size & (size - 1n)) === 0n).toBe(true);
    for (;;) {
      const range = this.ranges[this.rangeIdx];
      if (!range) throw new Error("IOVA allocator out of space");
      // Room at the current offset, then room at the offset rounded up to `size`.
      let last = range.start + this.rangeOffset + size - 1n;
      const iova = last & ~(size - 1n);
      if (last <= range.last) last = iova + size - 1n;
      if (last > range.last) {
        this.rangeIdx++;
        this.rangeOffset = 0n;
        continue;
      }
      if (last === range.last) {
        this.rangeIdx++;
        this.rangeOffset = 0n;
      } else {
        this.rangeOffset = last - range.start + 1n;
      }
      return iova;
    }
  }
}

/** Anonymous private read/write memory: the selftests' `mmap(NULL, size, …)`. */
export function mmapAnon(p: Process, size: number, extraFlags = 0): number {
  return p.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extraFlags, -1, 0);
}

/** The kernel's VFIO device behind the test device (for what user space cannot see). */
export function vdevOf(kernel: Kernel, d: BoardDevice): VfioLabTestDevice {
  return testDeviceOf(kernel, d.bus, d.name);
}

/** The IOMMU domain the device's group is attached to now (what the SMMU walks). */
export function domainOf(kernel: Kernel, d: BoardDevice): IommuDomain {
  const dev = kernel.drivers.findDevice(d.bus, d.name);
  const group = dev ? kernel.iommu.deviceGroup(dev) : null;
  if (!group?.domain) throw new Error(`${d.name} has no domain`);
  return group.domain;
}

/** The physical address behind a user address of `p` (the page must be present). */
export function userPhys(p: Process, va: number): number {
  const pfn = p.mm.translate(va);
  if (pfn < 0) throw new Error(`0x${va.toString(16)} is not present`);
  return pfn * PAGE_SIZE + (va % PAGE_SIZE);
}

/** The world of one cross-mode test: a booted kernel and the device opened in `mode`. */
export interface ModeWorld extends Booted {
  readonly mode: IommuMode;
  readonly iommu: Iommu;
  readonly dev: TestDevice;
}

/** FIXTURE_SETUP of the mode suites: boot, iommu_init(), vfio_pci_device_init(). */
export function modeSetup(mode: IommuMode, opts: BootOptions = {}): ModeWorld {
  const b = boot({ ...opts, config: { ...configOf(mode), ...opts.config } });
  const iommu = iommuInit(b.p, mode);
  const dev = vfioDeviceInit(b.p, opts.bind?.[0] ?? DMA_TEST, iommu);
  return { ...b, mode, iommu, dev };
}

/**
 * FIXTURE_TEARDOWN: vfio_pci_device_cleanup(), iommu_cleanup(), and the model's own check that
 * closing everything left no page pinned.
 */
export function modeTeardown(w: ModeWorld): void {
  vfioDeviceCleanup(w.dev);
  iommuCleanup(w.iommu);
  expect(w.kernel.allocator.totalPins).toBe(0);
}

/** The modes as describe.each rows: `[name, mode]`. */
export const MODE_ROWS = IOMMU_MODES.map((m) => [m.name, m] as const);
