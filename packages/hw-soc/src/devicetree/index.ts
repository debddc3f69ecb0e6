export { type DtsPosition, DtsSyntaxError, type ParseDtsOptions, parseDts } from "./dts-parser.js";
export { formatDts } from "./dts-writer.js";
export {
  decodeFdt,
  encodeFdt,
  FDT_BEGIN_NODE,
  FDT_END,
  FDT_END_NODE,
  FDT_MAGIC,
  FDT_NOP,
  FDT_PROP,
  FdtFormatError,
  isFdt,
} from "./fdt.js";
export { loadDeviceTree } from "./load.js";
export {
  addressCells,
  bytesProp,
  cellsProp,
  combineCells,
  DtValueError,
  type DtVisitor,
  type DtVisitResult,
  emptyProp,
  findProperty,
  hasProperty,
  isAvailable,
  joinPath,
  nodeAncestry,
  nodeByPath,
  nodePath,
  phandleMap,
  propString,
  propStrings,
  propU32,
  propU32s,
  type RegEntry,
  readLocalReg,
  readReg,
  sizeCells,
  stringsProp,
  walkNodes,
} from "./properties.js";
export type { DeviceTree, DtMemoryReservation, DtNode, DtProperty } from "./tree.js";
