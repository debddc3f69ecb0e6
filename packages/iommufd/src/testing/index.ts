/**
 * `@vfio-lab/iommufd/testing`: helpers for tests written against the model — the fail-nth
 * sweep (vitest is an optional peer dependency of this subpath only).
 *
 * @packageDocumentation
 */

export { setTempMemoryLimit, TEMP_MEMORY_LIMIT } from "../pages.js";
export * from "./fail-nth.js";
