/**
 * `pl061_vfio_amba` — RFC (b) of the 2024 thread (seed 001): a VFIO driver for one device, the
 * ARM PrimeCell GPIO controller PL061 (ARM DDI 0190), built with vfio-amba-variant.ts. **Not in
 * Linux.**
 *
 * What it knows that vfio-amba does not:
 * - the device is a PL061 (periphid `0x00041061` under mask `0x000fffff`; anything else is
 *   refused with ENODEV);
 * - how to quiesce it: GPIOIE = 0 (no line interrupts), GPIOIC = 0xff (clear every latched
 *   edge), GPIODIR = 0 (every pin an input, so user space inherits no driven outputs) — the
 *   reset at open, at close and on VFIO_DEVICE_RESET;
 * - that it has no bus-master port: with `emulated_iommu=1` it needs no IOMMU group.
 *
 * Caveat:
 * - Not in Linux.
 * - The interrupt still cannot be used after `pl061_gpio` unbinds: its chained handler leaves
 *   the line IRQ_NOREQUEST, so the variant's request_irq() fails and SET_IRQS on index 0 is
 *   EINVAL, as vfio-amba's is on Linux 7.3. User space has to poll GPIORIS/GPIOMIS.
 * - GPIODATA is left as it is (the TRM gives no reset value that matters once DIR is 0).
 */

import type { Kernel, KernelModule } from "@vfio-lab/kernel";
import {
  defineVfioAmbaVariant,
  type VfioAmbaVariantParams,
  type VfioAmbaVariantSpec,
} from "./vfio-amba-variant.js";

/** The driver's name: what `driver_override` must say. */
export const PL061_VFIO_AMBA = "pl061-vfio-amba";
/** The module's name (lsmod). */
export const PL061_VFIO_AMBA_MODULE = "pl061_vfio_amba";

/** PL061 TRM: GPIODIR, GPIOIE, GPIOIC. */
const GPIODIR = 0x400;
const GPIOIE = 0x410;
const GPIOIC = 0x41c;

/** What the driver knows about the PL061. */
export const PL061_VFIO_AMBA_SPEC: VfioAmbaVariantSpec = {
  module: PL061_VFIO_AMBA_MODULE,
  driver: PL061_VFIO_AMBA,
  device: "PL061 GPIO controller",
  id: { id: 0x0004_1061, mask: 0x000f_ffff },
  reset: [
    // Interrupts off before anything else moves, then the latched edges, then the pins.
    { name: "GPIOIE", offset: GPIOIE, value: 0 },
    { name: "GPIOIC", offset: GPIOIC, value: 0xff },
    { name: "GPIODIR", offset: GPIODIR, value: 0 },
  ],
};

/** The `pl061_vfio_amba` module (parameter `emulated_iommu`, perm 0, default off). */
export const pl061VfioAmbaModule: KernelModule<Kernel, VfioAmbaVariantParams> =
  defineVfioAmbaVariant(PL061_VFIO_AMBA_SPEC);
