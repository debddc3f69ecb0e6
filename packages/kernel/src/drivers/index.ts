/**
 * The in-kernel drivers of the board's devices, in the order a built-in Linux 7.3 registers
 * them: amba-pl011 at arch_initcall, then the device_initcalls in link order (drivers/Makefile:
 * gpio/ before dma/ before tty/ … iommu/ … misc/ … net/ … rtc/). The arm-smmu-v3 platform
 * driver (drivers/iommu) registers between dma-pl330 and vfio-lab-dma-test: so dma-pl330's
 * first probe defers (its IOMMU is not there yet) and it binds at late_initcall, as on a real
 * guest. vfio-lab-dma-test is the model's own driver, linked where drivers/misc/ is.
 *
 * Caveat: the SP804 has no driver here — Linux takes it as a clocksource through
 * TIMER_OF_DECLARE (drivers/clocksource/timer-sp804.c) before any bus exists, so its AMBA
 * device stays unbound (and the virt board's arch timer is the one Linux uses anyway).
 */

import type { AmbaDriver } from "../base/amba.js";
import type { DriverCore } from "../base/core.js";
import type { PlatformDriver } from "../base/platform.js";
import { pl011Driver } from "./amba-pl011.js";
import type { BoardDriverEnv } from "./board-env.js";
import { xgmacDriver } from "./calxedaxgmac.js";
import { pl330Driver } from "./dma-pl330.js";
import { pl061Driver } from "./gpio-pl061.js";
import { pl031Driver } from "./rtc-pl031.js";
import { vfioLabDmaTestDriver } from "./vfio-lab-dma-test.js";

export * from "./amba-pl011.js";
export * from "./board-env.js";
export * from "./calxedaxgmac.js";
export * from "./dma-pl330.js";
export * from "./gpio-pl061.js";
export * from "./gpiolib.js";
export * from "./rtc-pl031.js";
export * from "./vfio-lab-dma-test.js";

/**
 * drivers/Makefile: the order the directories that matter here are linked in, which is the
 * order of their initcalls within a level (drivers/iommu is arm-smmu-v3's).
 */
export const DRIVERS_LINK_ORDER: readonly string[] = [
  "drivers/gpio",
  "drivers/dma",
  "drivers/tty",
  "drivers/iommu",
  "drivers/misc",
  "drivers/net",
  "drivers/rtc",
];

/** Where `dir` (or the directory above it) links among DRIVERS_LINK_ORDER; -1 if not listed. */
export function driversLinkIndex(dir: string): number {
  return DRIVERS_LINK_ORDER.findIndex((d) => dir === d || dir.startsWith(`${d}/`));
}

/** One built-in driver and where its initcall runs. */
export interface BoardDriverEntry {
  /** The driver's name (`/sys/bus/<bus>/drivers/<name>`). */
  readonly name: string;
  readonly bus: "amba" | "platform";
  /** The initcall level that registers it. */
  readonly initcall: "arch_initcall" | "device_initcall";
  /** The directory it is linked from: its place within the level (DRIVERS_LINK_ORDER). */
  readonly linkDir: string;
  /** Builds the driver object for one kernel. */
  readonly create: (env: BoardDriverEnv) => AmbaDriver | PlatformDriver;
}

/** The board drivers in registration order. */
export const builtinBoardDrivers: readonly BoardDriverEntry[] = [
  {
    name: "uart-pl011",
    bus: "amba",
    initcall: "arch_initcall",
    linkDir: "drivers/tty/serial",
    create: pl011Driver,
  },
  {
    name: "pl061_gpio",
    bus: "amba",
    initcall: "device_initcall",
    linkDir: "drivers/gpio",
    create: pl061Driver,
  },
  {
    name: "dma-pl330",
    bus: "amba",
    initcall: "device_initcall",
    linkDir: "drivers/dma",
    create: pl330Driver,
  },
  {
    name: "vfio-lab-dma-test",
    bus: "platform",
    initcall: "device_initcall",
    linkDir: "drivers/misc",
    create: vfioLabDmaTestDriver,
  },
  {
    name: "calxedaxgmac",
    bus: "platform",
    initcall: "device_initcall",
    linkDir: "drivers/net/ethernet/calxeda",
    create: xgmacDriver,
  },
  {
    name: "rtc-pl031",
    bus: "amba",
    initcall: "device_initcall",
    linkDir: "drivers/rtc",
    create: pl031Driver,
  },
];

/**
 * Registers the board drivers in order; `before(entry)` runs before each one, where a caller
 * registers drivers of its own — arm-smmu-v3 before the first device_initcall entry with
 * `driversLinkIndex(entry.linkDir) > driversLinkIndex("drivers/iommu")`. Returns the drivers.
 */
export function registerBoardDrivers(
  core: DriverCore,
  env: BoardDriverEnv,
  before?: (entry: BoardDriverEntry) => void,
): (AmbaDriver | PlatformDriver)[] {
  return builtinBoardDrivers.map((entry) => {
    before?.(entry);
    const drv = entry.create(env);
    core.registerDriver(drv);
    return drv;
  });
}
