/**
 * @vfio-lab/uio — Linux 7.3's Userspace I/O (drivers/uio/) as the kernel modules `uio` (the UIO
 * core: `/dev/uioN`, `/sys/class/uio`) and `uio_pdrv_genirq` (any platform device, bound by
 * `driver_override` or its `of_id` parameter), and a typed user-space wrapper.
 *
 * ```ts
 * import uioPdrvGenirq, { UioUserDevice } from "@vfio-lab/uio";
 * kernel.modprobe(uioPdrvGenirq);                 // loads `uio` first
 * admin.writeFile("/sys/bus/platform/devices/c031000.dma-test/driver_override", "uio_pdrv_genirq");
 * admin.writeFile("/sys/bus/platform/drivers_probe", "c031000.dma-test");
 * const dev = UioUserDevice.open(app, 0);         // /dev/uio0
 * ```
 *
 * @packageDocumentation
 */

import { uioPdrvGenirqModule } from "./uio-pdrv-genirq.js";

export * from "./uio.js";
export * from "./uio-driver.js";
export * from "./uio-pdrv-genirq.js";
export * from "./user/uio-device.js";
export default uioPdrvGenirqModule;
