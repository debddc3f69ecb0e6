/**
 * The fixture of the cross-mode suites: tools/testing/selftests/vfio/lib (iommu.c,
 * vfio_pci_device.c, iova_allocator.c) with the board's DMA test engine on vfio-platform in
 * place of a PCI device on vfio-pci. One kernel is booted per test, in the build the IOMMU mode
 * needs, and the device is opened exactly as `vfio_pci_device_init()` opens it:
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
 * The bus drivers are Linux's: vfio_platform (with `reset_required`, Y unless a suite says
 * otherwise) and vfio_amba are loaded, and the model-only reset module vfio_platform_dmatest is
 * installed, so the DMA test engines bind with a reset as an XGMAC does with its module. The
 * selftests' setup.sh step is the administrator's driver_override write (`assignToDriver()` of
 * the VMM fixture): a platform device goes to `vfio-platform`, a PrimeCell to `vfio-amba`.
 *
 * No device of the board has isolated MSIs, so the command line allows unsafe interrupts for
 * both iommufd and type1 (EPERM otherwise, as on such a machine).
 */

import type { Soc } from "@vfio-lab/hw-soc";
import { IommuFd } from "@vfio-lab/iommufd";
import type { IommuDomain, Kernel, KernelConfigInput, Process } from "@vfio-lab/kernel";
import { VFIO_API_VERSION, VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU } from "@vfio-lab/kernel/uapi";
import { VfioContainer, VfioDevice, type VfioDeviceInfo, VfioGroup } from "@vfio-lab/vfio-core";
import { expect } from "vitest";
import {
  cdevPath,
  mmapAnon,
  sysfsIommuGroupGet,
  userPhys,
} from "../../../vfio-core/test/core-fixture.js";
import {
  VFIO_AMBA,
  VFIO_PLATFORM,
  type VfioPlatformDevice,
  vfioPlatformDeviceOf,
} from "../../src/index.js";
import { assignToDriver, bootLab, PAGE_SIZE } from "../../src/testing/index.js";

/**
 * lib/sysfs.c's sysfs_iommu_group_get(), vfio_pci_device.c's vfio_pci_get_cdev_path(), the
 * selftests' anonymous `mmap()` and the frame behind a user page: vfio-core's test helpers.
 */
export { cdevPath, mmapAnon, PAGE_SIZE, sysfsIommuGroupGet, userPhys };

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

export interface BootOptions {
  /** Kernel command line after the unsafe-interrupt switches. */
  readonly cmdline?: string;
  readonly config?: KernelConfigInput;
  /** `vfio_platform.reset_required` (default: the module's, Y). */
  readonly resetRequired?: boolean;
  /** Devices to assign (default: the DMA engine behind the SMMU). */
  readonly bind?: readonly BoardDevice[];
}

export interface Booted {
  readonly soc: Soc;
  readonly kernel: Kernel;
  /** The setup script (sysfs writes). */
  readonly admin: Process;
  /** The VMM. */
  readonly p: Process;
}

/**
 * Boots the board with iommufd and vfio loaded (type1 too when the build has a container),
 * vfio_platform and vfio_amba loaded, the dma-test reset module installed, and the devices
 * assigned as the selftests' setup.sh assigns them.
 */
export function boot(opts: BootOptions = {}): Booted {
  const lab = bootLab({
    ...(opts.cmdline === undefined ? {} : { cmdline: opts.cmdline }),
    config: opts.config ?? {},
    install: ["vfio_platform_dmatest"],
    modules: [
      opts.resetRequired === undefined
        ? "vfio_platform"
        : ["vfio_platform", { reset_required: opts.resetRequired }],
      "vfio_amba",
    ],
  });
  for (const d of opts.bind ?? [DMA_TEST]) assign(lab.admin, d);
  return { soc: lab.soc, kernel: lab.kernel, admin: lab.admin, p: lab.vmm };
}

/** The kernel build of a mode (ARCHITECTURE.md: Kconfig choices are boot options). */
export function configOf(mode: IommuMode): KernelConfigInput {
  return mode.containerPath === "/dev/iommu" ? { CONFIG_VFIO_CONTAINER: false } : {};
}

/** The VFIO bus driver of a board device: vfio-amba for a PrimeCell, vfio-platform otherwise. */
export function vfioDriverOf(d: BoardDevice): string {
  return d.bus === "amba" ? VFIO_AMBA : VFIO_PLATFORM;
}

/** setup.sh: driver_override, unbind from the current driver, drivers_probe. */
export function assign(p: Process, d: BoardDevice): void {
  assignToDriver(p, d, vfioDriverOf(d));
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

/** The kernel's VFIO device behind a board device (for what user space cannot see). */
export function vdevOf(kernel: Kernel, d: BoardDevice): VfioPlatformDevice {
  return vfioPlatformDeviceOf(kernel, d.bus, d.name);
}

/** The IOMMU domain the device's group is attached to now (what the SMMU walks). */
export function domainOf(kernel: Kernel, d: BoardDevice): IommuDomain {
  const dev = kernel.drivers.findDevice(d.bus, d.name);
  const group = dev ? kernel.iommu.deviceGroup(dev) : null;
  if (!group?.domain) throw new Error(`${d.name} has no domain`);
  return group.domain;
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
