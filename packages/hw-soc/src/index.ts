/**
 * @vfio-lab/hw-soc — a deterministic ARM-style SoC: hardware only, no Linux concept.
 *
 * Start with `Soc.fromDeviceTree(boards.virtLab())`; everything else is the parts it is built
 * from, exported for tests, scenarios and the kernel model's drivers.
 *
 * @packageDocumentation
 */

export { boards, type VirtLabOptions } from "./boards/index.js";
export * from "./core/bus-error.js";
export * from "./core/clock.js";
export * from "./core/device.js";
export * from "./core/device-model.js";
export * from "./core/dma-port.js";
export * from "./core/irq-line.js";
export * from "./core/physical-memory.js";
export * from "./core/registers.js";
export * from "./core/system-bus.js";
export * from "./core/trace.js";
export * from "./devices/dma-test.js";
export * from "./devices/fw-cfg.js";
export * from "./devices/gic-v3.js";
export * from "./devices/pl011.js";
export * from "./devices/pl031.js";
export * from "./devices/pl061.js";
export * from "./devices/pl330.js";
export * from "./devices/pl330-asm.js";
export * from "./devices/pl330-isa.js";
export * from "./devices/smmu-v3.js";
export * from "./devices/smmu-v3-tables.js";
export * from "./devices/sp804.js";
export * from "./devices/unimplemented.js";
export * from "./devices/virtio-mmio.js";
export * from "./devices/xgmac.js";
export * from "./devicetree/index.js";
export { defaultDeviceModels } from "./models.js";
export * from "./soc.js";
export * from "./testing/bare-metal-smmu.js";
