/**
 * `bootLab()`: the one way every scenario, notebook and benchmark starts — a board booted, the
 * IOMMUFD and VFIO cores loaded, the bus drivers a scenario asks for loaded or only installed,
 * and two processes: `admin` (the setup script that binds devices through sysfs) and `vmm` (the
 * VMM that opens them).
 *
 * The command line always allows unsafe interrupts for both type1 and iommufd: no device of the
 * board has an MSI domain, so `iommu_group_has_isolated_msi()` is false for every platform
 * device and both SET_IOMMU and BIND_IOMMUFD refuse with EPERM otherwise (design §1.9). A
 * scenario that wants the refusal boots with `unsafeInterrupts: false`.
 *
 * Modules are KernelModule objects (this package's, UIO's, …), optionally
 * with their arguments. `install` only registers them with the module loader, as `make
 * modules_install` puts a `.ko` and its aliases on disk: request_module()/modprobe by name finds
 * them, nothing runs until then.
 *
 * Caveat: `admin` and `vmm` are both root with every capability unless `vmmCaps` says otherwise
 * or a scenario spawns its own process (CAP_SYS_RAWIO matters for no-IOMMU mode).
 */

import { PAGE_SIZE, Soc } from "@vfio-lab/hw-soc";
import { iommufdModule } from "@vfio-lab/iommufd";
import {
  type CapabilityName,
  Kernel,
  type KernelConfigInput,
  type KernelModule,
  type ModuleArgs,
  type Process,
} from "@vfio-lab/kernel";
import { vfioIommuType1Module, vfioModule } from "@vfio-lab/vfio-core";
import {
  pl011VfioAmbaModule,
  pl061VfioAmbaModule,
  vfioAmbaModule,
  vfioPlatformBaseModule,
  vfioPlatformCalxedaxgmacModule,
  vfioPlatformDmatestModule,
  vfioPlatformModule,
} from "../index.js";
import { virtLab } from "./boards.js";
import { registerGroupingIommu } from "./grouping-iommu.js";

export { PAGE_SIZE };

/** A device of the board as sysfs names it. */
export interface LabDevice {
  readonly bus: "platform" | "amba";
  /** dev_name(): `<unit address>.<node name>`. */
  readonly name: string;
  /** The MMIO window's physical base. */
  readonly base: number;
}

/** The board's devices a scenario assigns (boards.virtLab(); hw-soc `virtLabMap`). */
export const DEV = {
  /** PL330 DMA controller: AMBA, behind the SMMU (StreamID 0x10, IOMMU group 2), 9 level IRQs. */
  PL330: { bus: "amba", name: "c000000.dma", base: 0x0c00_0000 },
  /** Calxeda XGMAC: platform, behind the SMMU (0x20, group 0), 3 level IRQs. */
  XGMAC: { bus: "platform", name: "c010000.ethernet", base: 0x0c01_0000 },
  /** SP804 dual timer: AMBA, no IOMMU, not a bus master. */
  SP804: { bus: "amba", name: "c020000.timer", base: 0x0c02_0000 },
  /** DMA test engine 0: platform, behind the SMMU (0x30, group 1), level IRQ 125. */
  DMA_TEST0: { bus: "platform", name: "c030000.dma-test", base: 0x0c03_0000 },
  /** DMA test engine 1: StreamID 0x30 again, which arm-smmu-v3 refuses: no IOMMU group. */
  DMA_TEST1: { bus: "platform", name: "c031000.dma-test", base: 0x0c03_1000 },
  /** PL011 UART (the console): AMBA, no IOMMU. */
  PL011: { bus: "amba", name: "9000000.pl011", base: 0x0900_0000 },
  /** PL031 RTC: AMBA, no IOMMU. */
  PL031: { bus: "amba", name: "9010000.pl031", base: 0x0901_0000 },
  /** PL061 GPIO: AMBA, no IOMMU. */
  PL061: { bus: "amba", name: "9030000.pl061", base: 0x0903_0000 },
  /** The first virtio-mmio transport: platform, no IOMMU, no driver, an edge IRQ, 0x200 bytes. */
  VIRTIO0: { bus: "platform", name: "a000000.virtio_mmio", base: 0x0a00_0000 },
} as const satisfies Record<string, LabDevice>;

/** The same device as a platform device (after boards.primeCellAsPlatform()). */
export function asPlatform(dev: LabDevice): LabDevice {
  return { ...dev, bus: "platform" };
}

/** This package's modules by their lsmod names. */
export const LAB_MODULES = {
  vfio_platform_base: vfioPlatformBaseModule as KernelModule<Kernel>,
  vfio_platform: vfioPlatformModule as KernelModule<Kernel>,
  vfio_amba: vfioAmbaModule as KernelModule<Kernel>,
  vfio_platform_calxedaxgmac: vfioPlatformCalxedaxgmacModule as KernelModule<Kernel>,
  vfio_platform_dmatest: vfioPlatformDmatestModule as KernelModule<Kernel>,
  pl061_vfio_amba: pl061VfioAmbaModule as KernelModule<Kernel>,
  pl011_vfio_amba: pl011VfioAmbaModule as KernelModule<Kernel>,
} as const;

export type LabModuleName = keyof typeof LAB_MODULES;
type ModuleRef = KernelModule<Kernel> | LabModuleName;

/** A module to load or install, with its arguments (finit_module's param string). */
export type LabModule = ModuleRef | readonly [ModuleRef, ModuleArgs];

function resolveModule(m: ModuleRef): KernelModule<Kernel> {
  return typeof m === "string" ? LAB_MODULES[m] : m;
}

export interface LabOptions {
  /** Device-tree text (default: boards.virtLab() with 1 GiB of RAM). */
  readonly board?: string;
  /** More of the kernel command line (`vfio.enable_unsafe_noiommu_mode=1`, …). */
  readonly cmdline?: string;
  /** Kconfig choices (`CONFIG_VFIO_CONTAINER: false` for the iommufd compat path). */
  readonly config?: KernelConfigInput;
  /** Allow unsafe interrupts for type1 and iommufd on the command line (default true). */
  readonly unsafeInterrupts?: boolean;
  /** Modules made available to modprobe/request_module but not loaded (reset modules). */
  readonly install?: readonly ModuleRef[];
  /** Modules loaded after iommufd and vfio, in order. */
  readonly modules?: readonly LabModule[];
  /** Register the grouping IOMMU after boot (the boards.sharedGroup() board needs it). */
  readonly groupingIommu?: boolean;
  /** The capabilities of `vmm` (default: every one; `[]` for a VMM without CAP_SYS_RAWIO). */
  readonly vmmCaps?: readonly CapabilityName[];
}

export interface Lab {
  readonly soc: Soc;
  readonly kernel: Kernel;
  /** The setup script: sysfs writes, modprobe of what it needs. */
  readonly admin: Process;
  /** The VMM: opens containers, groups, cdevs and devices. */
  readonly vmm: Process;
}

export const UNSAFE_INTERRUPTS =
  "vfio_iommu_type1.allow_unsafe_interrupts=1 iommufd.allow_unsafe_interrupts=1";

/** Boots a lab: board, kernel, iommufd + vfio (+ type1 with a container), the given modules. */
export function bootLab(opts: LabOptions = {}): Lab {
  const soc = Soc.fromDeviceTree(opts.board ?? virtLab());
  const cmdline = [opts.unsafeInterrupts === false ? "" : UNSAFE_INTERRUPTS, opts.cmdline ?? ""]
    .filter((s) => s !== "")
    .join(" ");
  const kernel = Kernel.boot(soc, { cmdline, config: opts.config ?? {} });
  if (opts.groupingIommu) registerGroupingIommu(kernel);
  kernel.modprobe(iommufdModule);
  kernel.modprobe(vfioModule);
  // vfio's soft dependency brings type1 in; load it here where that is not wired.
  if (kernel.config.CONFIG_VFIO_CONTAINER && !kernel.modules.isLoaded("vfio_iommu_type1")) {
    kernel.modprobe(vfioIommuType1Module);
  }
  if (opts.install?.length) kernel.modules.register(...opts.install.map(resolveModule));
  for (const m of opts.modules ?? []) {
    if (isModuleWithArgs(m)) kernel.modprobe(resolveModule(m[0]), m[1]);
    else kernel.modprobe(resolveModule(m));
  }
  return {
    soc,
    kernel,
    admin: kernel.spawn({ comm: "setup" }),
    vmm: kernel.spawn({ comm: "vmm", ...(opts.vmmCaps ? { caps: opts.vmmCaps } : {}) }),
  };
}

function isModuleWithArgs(m: LabModule): m is readonly [ModuleRef, ModuleArgs] {
  return Array.isArray(m);
}

/** dmesg(1) without the timestamps. */
export function dmesgText(kernel: Kernel): string[] {
  return kernel.dmesg().map((l) => l.replace(/^\[[ \d.]+\] /, ""));
}

/** The dmesg lines printed while `fn` ran (timestamps stripped) and its result. */
export function dmesgDuring<T>(kernel: Kernel, fn: () => T): { lines: string[]; result: T } {
  const before = kernel.dmesg().length;
  const result = fn();
  return { lines: dmesgText(kernel).slice(before), result };
}
