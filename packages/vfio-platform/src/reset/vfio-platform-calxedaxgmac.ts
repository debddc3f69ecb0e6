/**
 * drivers/vfio/platform/reset/vfio_platform_calxedaxgmac.c: the module
 * `vfio_platform_calxedaxgmac` (`MODULE_ALIAS("vfio-reset:calxeda,hb-xgmac")`, version 0.1),
 * the reset handler vfio-platform uses for a Calxeda XGMAC: stop the DMA interrupts, the DMA
 * engine (transmit and receive) and the MAC, which is what the native driver's
 * xgmac_mac_disable() does, so that a device handed between user space and the kernel never
 * keeps DMAing into the previous owner's buffers.
 *
 * Its init registers `{compat, owner, of_reset}` with vfio_platform_base
 * (module_vfio_reset_handler()); vfio_platform_get_reset() finds it there, or has it loaded
 * by its alias, and holds a reference on this module while a device uses it, which is why
 * `rmmod vfio_platform_calxedaxgmac` fails while such a device is bound to vfio-platform.
 *
 * The first reset after each load prints
 * `DEPRECATION: VFIO Calxeda xgmac platform reset is deprecated and will be removed in a future kernel release`
 * (dev_err_once, no `VFIO: ` prefix: this file has no dev_fmt), after common's `VFIO: reset`.
 *
 * Caveat: register offsets and bits come from hw-soc's XGMAC model, whose names are the
 * driver's; no MODULE_AUTHOR/DESCRIPTION (no modinfo in the model).
 */

import { XGMAC_REGISTERS, xgmacBits } from "@vfio-lab/hw-soc";
import { defineModule, type Kernel, type KernelModule } from "@vfio-lab/kernel";
import { devErrOnce, vfioPlatformBaseModule } from "../vfio-platform-base.js";
import { moduleVfioResetHandler, vfioPlatformRegionIoremap } from "../vfio-platform-common.js";
import type { VfioPlatformDevice } from "../vfio-platform-private.js";

/** The module name, as lsmod shows it (the .ko is vfio-platform-calxedaxgmac.ko). */
export const VFIO_PLATFORM_CALXEDAXGMAC = "vfio_platform_calxedaxgmac";
/** The `compatible` this handler resets. */
export const CALXEDA_XGMAC_COMPAT = "calxeda,hb-xgmac";

/** A register's offset in the XGMAC window, from the model's register table. */
function xgmacReg(name: string): number {
  const spec = XGMAC_REGISTERS.find((r) => r.name === name);
  if (!spec) throw new Error(`no XGMAC register ${name}`);
  return spec.offset;
}

const XGMAC_CONTROL = xgmacReg("XGMAC_CONTROL");
const XGMAC_DMA_CONTROL = xgmacReg("XGMAC_DMA_CONTROL");
const XGMAC_DMA_INTR_ENA = xgmacReg("XGMAC_DMA_INTR_ENA");

const DEPRECATION =
  "DEPRECATION: VFIO Calxeda xgmac platform reset is deprecated and will be removed in a future kernel release";

/**
 * vfio_platform_calxedaxgmac.c: vfio_platform_calxedaxgmac_reset() — region 0 (ioremapped
 * here if read/write have not yet: ENOMEM), interrupts off, then xgmac_mac_disable().
 */
export function vfioPlatformCalxedaxgmacReset(vdev: VfioPlatformDevice): void {
  const fn = "vfio_platform_calxedaxgmac_reset";
  const reg = vdev.regions[0];
  // The C indexes regions[0] unchecked: a device bound here always has its register window.
  if (!reg) throw new Error(`${vdev.platformName} has no region 0 to reset`);
  devErrOnce(vdev.kernel, `${VFIO_PLATFORM_CALXEDAXGMAC}:deprecation`, vdev.dev, DEPRECATION);
  const io = vfioPlatformRegionIoremap(vdev.kernel, reg, fn);
  io.writel(XGMAC_DMA_INTR_ENA, 0);
  xgmacMacDisable(io);
}

/** vfio_platform_calxedaxgmac.c: xgmac_mac_disable() — DMA ST/SR off, then MAC TX/RX off. */
function xgmacMacDisable(io: { readl(off: number): number; writel(off: number, v: number): void }) {
  let value = io.readl(XGMAC_DMA_CONTROL);
  value &= ~(xgmacBits.DMA_CONTROL_ST | xgmacBits.DMA_CONTROL_SR);
  io.writel(XGMAC_DMA_CONTROL, value >>> 0);
  value = io.readl(XGMAC_CONTROL);
  value &= ~(xgmacBits.MAC_ENABLE_TX | xgmacBits.MAC_ENABLE_RX);
  io.writel(XGMAC_CONTROL, value >>> 0);
}

/** The `vfio_platform_calxedaxgmac` module (module_vfio_reset_handler()). */
export const vfioPlatformCalxedaxgmacModule: KernelModule<Kernel, readonly []> = defineModule({
  name: VFIO_PLATFORM_CALXEDAXGMAC,
  params: [],
  dependencies: [vfioPlatformBaseModule],
  version: "0.1",
  ...moduleVfioResetHandler(
    VFIO_PLATFORM_CALXEDAXGMAC,
    CALXEDA_XGMAC_COMPAT,
    vfioPlatformCalxedaxgmacReset,
  ),
});
