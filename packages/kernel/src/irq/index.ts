/**
 * The IRQ subsystem: `IrqCore` (generic IRQ layer + GICv3 driver + the CPU's IRQ exception), the
 * request/trigger flag values drivers pass, and the WARN helper.
 *
 * @packageDocumentation
 */
export { Bug, type BugOptions, type WarnSite, type WarnTask } from "./bug.js";
export { IRQ_TRACE_ENTRY, IRQ_TRACE_EXIT } from "./handle.js";
export { IPI_TYPES } from "./ipi.js";
export { IRQ_STORM_LIMIT, IrqCore, type IrqCoreOptions, type IrqInfo } from "./irq-core.js";
export * from "./irq-flags.js";
export { GIC_IRQ_TYPE_LPI, type GicV3DriverOptions } from "./irq-gic-v3.js";
export type { IrqHandler } from "./irqdesc.js";
export { IRQ_TRACE_FREE, IRQ_TRACE_REQUEST } from "./manage.js";
export { SPURIOUS_LIMIT, SPURIOUS_WINDOW } from "./spurious.js";
