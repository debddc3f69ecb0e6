/**
 * The kernel modules of this package as `modprobe` sees them: `vfio` (vfio_main.c with
 * group.c, container.c, device_cdev.c, iommufd.c and virqfd.c linked in) and its soft
 * dependency `vfio_iommu_type1` (MODULE_SOFTDEP("post: vfio_iommu_type1 …")).
 *
 * They live in one file because each names the other: type1 depends on vfio, and vfio's
 * modprobe pulls type1 in after it. The code they run is in vfio-main.ts and
 * vfio-iommu-type1.ts, which import this file back (for the module that owns their files), so
 * the definitions here call into them only from inside init/exit, never while loading.
 */

import { iommufdModule } from "@vfio-lab/iommufd";
import { defineModule, type Kernel, type KernelModule, moduleParam } from "@vfio-lab/kernel";
import { VFIO_DRIVER_VERSION } from "./vfio.js";
import { vfioIommuType1Cleanup, vfioIommuType1Init } from "./vfio-iommu-type1.js";
import { vfioCleanup, vfioInit } from "./vfio-main.js";

/** vfio_main.c: module_param_named(enable_unsafe_noiommu_mode, vfio_noiommu, bool, 0644). */
function noiommuParam() {
  return moduleParam("enable_unsafe_noiommu_mode", "bool", {
    perm: 0o644,
    default: false,
    description:
      "Enable UNSAFE, no-IOMMU mode.  This mode provides no device isolation, no DMA translation, no host kernel protection, cannot be used for device assignment to virtual machines, requires RAWIO permissions, and will taint the kernel.  If you do not know what this is for, step away. (default: false)",
  });
}

/** `U16_MAX`: dma_entry_limit's default. */
const U16_MAX = 0xffff;

function allowUnsafeInterrupts() {
  return moduleParam("allow_unsafe_interrupts", "bool", {
    perm: 0o644,
    default: false,
    description: "Enable VFIO IOMMU support for on platforms without interrupt remapping support.",
  });
}

function disableHugepages() {
  return moduleParam("disable_hugepages", "bool", {
    perm: 0o644,
    default: false,
    description: "Disable VFIO IOMMU support for IOMMU hugepages.",
  });
}

function dmaEntryLimit() {
  return moduleParam("dma_entry_limit", "uint", {
    perm: 0o644,
    default: U16_MAX,
    description: "Maximum number of user DMA mappings per container (65535).",
  });
}

/** vfio_iommu_type1.c: its module_param()s. */
export const VFIO_IOMMU_TYPE1_PARAMS = [
  allowUnsafeInterrupts(),
  disableHugepages(),
  dmaEntryLimit(),
] as const;

/** The `vfio` module (vfio_init() / vfio_cleanup()). */
export const vfioModule: KernelModule<Kernel, readonly [ReturnType<typeof noiommuParam>]> =
  defineModule({
    name: "vfio",
    params: [noiommuParam()],
    // MODULE_IMPORT_NS("IOMMUFD"): vfio.ko links against iommufd.ko.
    dependencies: [iommufdModule],
    // vfio_iommu_type1 is built only with CONFIG_VFIO_CONTAINER (drivers/vfio/Kconfig).
    softdeps: {
      post: (kernel) => (kernel.config.CONFIG_VFIO_CONTAINER ? [vfioIommuType1Module] : []),
    },
    version: VFIO_DRIVER_VERSION,
    init: (kernel, params) => vfioInit(kernel, params),
    exit: (kernel) => vfioCleanup(kernel),
  });

/** The `vfio_iommu_type1` module (vfio_iommu_type1_init() / vfio_iommu_type1_cleanup()). */
export const vfioIommuType1Module: KernelModule<Kernel, typeof VFIO_IOMMU_TYPE1_PARAMS> =
  defineModule({
    name: "vfio_iommu_type1",
    params: VFIO_IOMMU_TYPE1_PARAMS,
    dependencies: [vfioModule],
    version: "0.2",
    init: (kernel, params) => vfioIommuType1Init(kernel, params),
    exit: (kernel) => vfioIommuType1Cleanup(kernel),
  });
