/**
 * Kernel-wide compaction by page migration (mm/compaction.c driving mm/migrate.c:
 * migrate_pages()): every movable page — anonymous and shmem user pages, mlocked ones included —
 * that is not pinned and has no references beyond its mappings and page cache is copied to a new
 * frame taken from the top of RAM downward; every PTE mapping it is rewritten through the rmap
 * and the old frame is freed.
 *
 * A pinned page never moves (folio_maybe_dma_pinned()); neither does a page some kernel code
 * holds an extra reference on (folio_migrate_mapping() would fail with -EAGAIN). A page whose
 * target cannot be allocated just stays where it is, as a failed migration does.
 *
 * Caveat: Linux compacts zone by zone with two scanners and stops when a suitable block is
 * free; this moves every candidate in one pass, which is what a test of migration wants.
 */

import { type PageAllocator, PG } from "./page-allocator.js";

export interface Migration {
  readonly oldPfn: number;
  readonly newPfn: number;
}

/** mm/migrate.c: folio_expected_ref_count() — mappings plus the page cache's reference. */
function expectedRefs(allocator: PageAllocator, pfn: number): number {
  const cache = allocator.pageFlags(pfn) & PG.pagecache ? 1 : 0;
  return allocator.mapCount(pfn) + cache;
}

/** Whether compaction may move `pfn` now. */
export function isMigratable(allocator: PageAllocator, pfn: number): boolean {
  const flags = allocator.pageFlags(pfn);
  if (!(flags & PG.allocated) || !(flags & PG.movable)) return false;
  if (allocator.pinCount(pfn) > 0) return false;
  if (allocator.rmapOf(pfn).owner === 0) return false;
  return allocator.refCount(pfn) === expectedRefs(allocator, pfn);
}

/** mm/compaction.c: compact_node() over all RAM; returns the moves made, in pfn order. */
export function migratePages(allocator: PageAllocator): Migration[] {
  const moves: Migration[] = [];
  // Candidates are chosen before anything moves, so a fresh target is never moved again.
  for (const oldPfn of allocator.allocatedPfns((pfn) => isMigratable(allocator, pfn))) {
    const flags = allocator.pageFlags(oldPfn);
    let newPfn: number;
    try {
      newPfn = allocator.allocMigrationTarget({ kind: flags & PG.anon ? "anon" : "shmem" });
    } catch {
      continue;
    }
    const { owner, index } = allocator.rmapOf(oldPfn);
    allocator.copyFrame(newPfn, oldPfn);
    allocator.migrateFolio(oldPfn, newPfn);
    allocator.owner(owner)?.rmapMigrate(index, oldPfn, newPfn);
    allocator.putPage(oldPfn);
    moves.push({ oldPfn, newPfn });
  }
  return moves;
}
