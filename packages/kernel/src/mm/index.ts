/** Memory management: the public surface of `src/mm/`. *
 * @packageDocumentation
 */

export * from "./account.js";
export * from "./address-space.js";
export * from "./gup.js";
export * from "./memfd.js";
export * from "./migrate.js";
export * from "./mlock.js";
export * from "./mman.js";
export * from "./page-allocator.js";
export * from "./page-table.js";
export * from "./pagemap.js";
export type { UserMemory } from "./user-memory.js";
export * from "./vma.js";
