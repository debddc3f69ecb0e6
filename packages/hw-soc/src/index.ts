export { BusError, type BusErrorInit, type BusErrorReason } from "./core/bus-error.js";
export { type ScheduledEvent, SimulationStuckError, VirtualClock } from "./core/clock.js";
export { Device, type DeviceContext, type DeviceIdentity, type MmioWindow } from "./core/device.js";
export { DmaPort, type Iommu } from "./core/dma-port.js";
export { IrqLine, type IrqSink } from "./core/irq-line.js";
export { PAGE_SHIFT, PAGE_SIZE, PhysicalMemory } from "./core/physical-memory.js";
export {
  AMBA_CID,
  type DecodedRegister,
  type PrimeCellIdName,
  primeCellIdRegisters,
  type RegisterAccess,
  RegisterMap,
  type RegisterSpec,
} from "./core/registers.js";
export { type AccessSize, type BusRegion, type MmioHandler, SystemBus } from "./core/system-bus.js";
export {
  type HwTraceEvent,
  type HwTraceListener,
  type HwTraceRecord,
  HwTrace,
  toJsonLines,
} from "./core/trace.js";
