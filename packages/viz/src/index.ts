/**
 * @vfio-lab/viz — pictures of the model: collectors that read a booted system into plain data
 * (`snapshot`, `ioasMap`), and pure renderers from that data or a kernel trace to SVG and HTML
 * (`topologySvg`, `devicesTable`, `ownershipSvg`, `ioasMapSvg`, `sequenceSvg`), plus text
 * renderings of them for terminals (`svgToText`, `htmlToText`). Browser-safe; the same input
 * always gives byte-identical output.
 *
 * ```ts
 * import { snapshot, topologySvg } from "@vfio-lab/viz";
 * const svg = topologySvg(snapshot(kernel));
 * ```
 *
 * @packageDocumentation
 */

export * from "./devices-table.js";
export * from "./ioas-map.js";
export * from "./ioas-map-svg.js";
export * from "./ownership-svg.js";
export { OWNER_COLOURS, OWNER_LABELS, PALETTE, type Swatch } from "./palette.js";
export * from "./sequence-svg.js";
export * from "./snapshot.js";
export { escapeAttr, escapeText } from "./svg.js";
export * from "./text-render.js";
export * from "./topology-svg.js";
