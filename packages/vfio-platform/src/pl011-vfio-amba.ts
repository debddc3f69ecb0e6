/**
 * `pl011_vfio_amba` — RFC (b) of the 2024 thread (seed 001): a VFIO driver for one device, the
 * ARM PrimeCell UART PL011 (ARM DDI 0183), built with vfio-amba-variant.ts. **Not in Linux.**
 *
 * What it knows that vfio-amba does not:
 * - the device is a PL011 (periphid `0x00041011` under mask `0x000fffff`, any revision; anything
 *   else is refused with ENODEV);
 * - how to quiesce it: UARTCR = 0 (UART, transmitter and receiver off, loop-back off),
 *   UARTIMSC = 0 (every interrupt masked), UARTICR = 0x7ff (every latched interrupt cleared) —
 *   the reset at open, at close and on VFIO_DEVICE_RESET;
 * - that it has no bus-master port: with `emulated_iommu=1` it needs no IOMMU group. (The
 *   PL011's DMA *requests* go to a separate DMA controller, which is the master; the board wires
 *   none.)
 *
 * Unlike the PL061's, the PL011's interrupt is free again once `uart-pl011` unbinds, so the
 * variant works end to end: eventfd trigger, automasking (the line is level), UNMASK.
 *
 * Caveat:
 * - Not in Linux.
 * - On `virt` the PL011 is the console: unbinding uart-pl011 disables it (`printk: legacy
 *   console [ttyAMA0] disabled`), and the reset at open leaves the UART off until user space
 *   enables it.
 * - The line-control and baud registers (UARTLCR_H, UARTIBRD, UARTFBRD) are left as they are:
 *   a VMM programs them before enabling the UART.
 */

import type { Kernel, KernelModule } from "@vfio-lab/kernel";
import {
  defineVfioAmbaVariant,
  type VfioAmbaVariantParams,
  type VfioAmbaVariantSpec,
} from "./vfio-amba-variant.js";

/** The driver's name: what `driver_override` must say. */
export const PL011_VFIO_AMBA = "pl011-vfio-amba";
/** The module's name (lsmod). */
export const PL011_VFIO_AMBA_MODULE = "pl011_vfio_amba";

/** PL011 TRM (include/linux/amba/serial.h): UART011_CR, UART011_IMSC, UART011_ICR. */
const UARTCR = 0x30;
const UARTIMSC = 0x38;
const UARTICR = 0x44;
/** Every interrupt bit of UARTICR: OE, BE, PE, FE, RT, TX, RX, DSR, DCD, CTS, RI. */
const UARTICR_ALL = 0x7ff;

/** What the driver knows about the PL011. */
export const PL011_VFIO_AMBA_SPEC: VfioAmbaVariantSpec = {
  module: PL011_VFIO_AMBA_MODULE,
  driver: PL011_VFIO_AMBA,
  device: "PL011 UART",
  id: { id: 0x0004_1011, mask: 0x000f_ffff },
  reset: [
    // Stop the UART first so nothing new is latched while the interrupts are cleared.
    { name: "UARTCR", offset: UARTCR, value: 0 },
    { name: "UARTIMSC", offset: UARTIMSC, value: 0 },
    { name: "UARTICR", offset: UARTICR, value: UARTICR_ALL },
  ],
};

/** The `pl011_vfio_amba` module (parameter `emulated_iommu`, perm 0, default off). */
export const pl011VfioAmbaModule: KernelModule<Kernel, VfioAmbaVariantParams> =
  defineVfioAmbaVariant(PL011_VFIO_AMBA_SPEC);
