/**
 * The driver core: devices, buses, drivers and their binding; the platform and AMBA buses;
 * devices from the device tree; MMIO (ioremap) and the iomem resource tree.
 *
 * @packageDocumentation
 */

export * from "./amba.js";
export * from "./bus.js";
export * from "./core.js";
export * from "./dd.js";
export * from "./dev-err-probe.js";
export * from "./device.js";
export * from "./devres.js";
export * from "./driver.js";
export type * from "./hooks.js";
export * from "./io.js";
export * from "./kobject-uevent.js";
export * from "./of-kobj.js";
export * from "./of-node.js";
export * from "./of-platform.js";
export * from "./platform.js";
export * from "./resource.js";
