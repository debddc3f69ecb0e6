/**
 * `vfio_platform_dmatest` — NOT IN LINUX. A model-only reset module for the model-only
 * `vfio-lab,dma-test` engine, written the way drivers/vfio/platform/reset/*.c are
 * (module_vfio_reset_handler(): `MODULE_ALIAS("vfio-reset:vfio-lab,dma-test")`, registration
 * with vfio_platform_base at init), so that the DMA test engines can be assigned through
 * vfio-platform with its default `reset_required=1`, as an XGMAC can with its module.
 *
 * The reset stops the engine from interrupting (CTRL = 0: IRQ_EN off, MODE 0) and acknowledges
 * DONE and ERROR (write-1-to-clear), leaving it as a fresh engine looks.
 *
 * This file also holds `VFIO_PLATFORM_RESET_ALIASES`, the model's modules.alias for the reset
 * modules, so a fixture can install them all (`kernel.modules.register(...)`).
 *
 * Caveat:
 * - Not in Linux (no such module or device exists there); no deprecation line.
 * - The engine has no abort: a transfer in flight at reset time still completes (with its
 *   interrupt disabled). A real reset handler would poll BUSY with a timeout.
 * - The AMD XGBE and Broadcom FlexRM reset modules are not modelled (the board has neither
 *   device).
 */

import { DMA_TEST_REGISTERS, DMA_TEST_STATUS } from "@vfio-lab/hw-soc";
import { defineModule, type Kernel, type KernelModule } from "@vfio-lab/kernel";
import { vfioPlatformBaseModule } from "../vfio-platform-base.js";
import { moduleVfioResetHandler, vfioPlatformRegionIoremap } from "../vfio-platform-common.js";
import type { VfioPlatformDevice } from "../vfio-platform-private.js";
import {
  CALXEDA_XGMAC_COMPAT,
  vfioPlatformCalxedaxgmacModule,
} from "./vfio-platform-calxedaxgmac.js";

/** The module name, as lsmod shows it. */
export const VFIO_PLATFORM_DMATEST = "vfio_platform_dmatest";
/** The `compatible` this handler resets. */
export const DMA_TEST_COMPAT = "vfio-lab,dma-test";

function dmaTestReg(name: string): number {
  const spec = DMA_TEST_REGISTERS.find((r) => r.name === name);
  if (!spec) throw new Error(`no dma-test register ${name}`);
  return spec.offset;
}

const CTRL = dmaTestReg("CTRL");
const STATUS = dmaTestReg("STATUS");

/** Model-only: the DMA test engine's reset (region 0 ioremapped here if needed: ENOMEM). */
export function vfioPlatformDmatestReset(vdev: VfioPlatformDevice): void {
  const reg = vdev.regions[0];
  if (!reg) throw new Error(`${vdev.platformName} has no region 0 to reset`);
  const io = vfioPlatformRegionIoremap(vdev.kernel, reg, "vfio_platform_dmatest_reset");
  io.writel(CTRL, 0);
  io.writel(STATUS, DMA_TEST_STATUS.DONE | DMA_TEST_STATUS.ERROR);
}

/** The model-only `vfio_platform_dmatest` module (not in Linux). */
export const vfioPlatformDmatestModule: KernelModule<Kernel, readonly []> = defineModule({
  name: VFIO_PLATFORM_DMATEST,
  params: [],
  dependencies: [vfioPlatformBaseModule],
  version: "0.1",
  ...moduleVfioResetHandler(VFIO_PLATFORM_DMATEST, DMA_TEST_COMPAT, vfioPlatformDmatestReset),
});

/** The reset modules by the alias vfio_platform_get_reset() asks modprobe for. */
export const VFIO_PLATFORM_RESET_ALIASES: Readonly<Record<string, KernelModule<Kernel>>> = {
  [`vfio-reset:${CALXEDA_XGMAC_COMPAT}`]: vfioPlatformCalxedaxgmacModule as KernelModule<Kernel>,
  [`vfio-reset:${DMA_TEST_COMPAT}`]: vfioPlatformDmatestModule as KernelModule<Kernel>,
};
