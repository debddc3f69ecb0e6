/**
 * @vfio-lab/vfio-platform — Linux 7.3's drivers/vfio/platform/ as kernel modules:
 * `vfio_platform_base` (regions, MMIO read/write/mmap, IRQs with eventfds and automasking,
 * the reset registry), `vfio_platform` (driver `vfio-platform`), `vfio_amba` (driver
 * `vfio-amba`), the reset modules (`vfio_platform_calxedaxgmac`, and the model-only
 * `vfio_platform_dmatest`), and the 2024 RFC proposals for DMA-incapable devices, each off by
 * default: `vfio_platform_base.assign_dma_incapable` (a) and the variant drivers
 * `pl061_vfio_amba` / `pl011_vfio_amba` (b). The VMM fixture of the scenarios is the
 * `./testing` subpath.
 *
 * ```ts
 * import vfioPlatform, { vfioAmbaModule } from "@vfio-lab/vfio-platform";
 * kernel.modprobe(vfioPlatform);     // vfio first, then vfio_platform_base, then vfio_platform
 * kernel.modprobe(vfioAmbaModule);
 * ```
 *
 * @packageDocumentation
 */

import { vfioPlatformModule } from "./vfio-platform.js";

export * from "./pl011-vfio-amba.js";
export * from "./pl061-vfio-amba.js";
export * from "./platform-dma-capable.js";
export * from "./reset/vfio-platform-calxedaxgmac.js";
export * from "./reset/vfio-platform-dmatest.js";
export * from "./vfio-amba.js";
export * from "./vfio-amba-variant.js";
export * from "./vfio-platform.js";
export * from "./vfio-platform-base.js";
export * from "./vfio-platform-common.js";
export * from "./vfio-platform-irq.js";
export * from "./vfio-platform-nodma.js";
export * from "./vfio-platform-private.js";
export default vfioPlatformModule;
