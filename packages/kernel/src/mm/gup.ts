/**
 * Pinning user pages for DMA (mm/gup.c): pin_user_pages() with FOLL_PIN and optionally
 * FOLL_LONGTERM, unpin_user_pages()/unpin_user_pages_dirty_lock(), and memfd_pin_folios() for
 * pinning a memfd by file offset (iommufd's IOMMU_IOAS_MAP_FILE).
 *
 * A pin faults the page in, holds a reference and raises the page's pin count; compaction never
 * moves a pinned page, and a pinned page outlives its mapping (munmap drops the mapping's
 * reference, the frame is freed by the last unpin).
 *
 * Semantics kept from Linux: partial success — the pages pinned before a failure are returned
 * and the caller decides (a failure on the first page throws); VM_IO/VM_PFNMAP ranges and
 * unmapped addresses fail with EFAULT; a write pin needs VM_WRITE.
 *
 * Caveat: Linux migrates FOLL_LONGTERM pins out of ZONE_MOVABLE and CMA before pinning
 * (check_and_migrate_movable_pages()); the model has neither zone, so `longterm` changes nothing.
 * Pin accounting (locked_vm, pinned_vm, the user's locked_vm) is the caller's, as in Linux.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { SysError } from "../errno.js";
import type { AddressSpace } from "./address-space.js";
import type { ShmemObject } from "./memfd.js";
import { type PageAllocator, PG } from "./page-allocator.js";

export interface PinOptions {
  /** FOLL_WRITE: the device will write; faults the pages writable (breaking COW). */
  readonly write?: boolean;
  /** FOLL_LONGTERM: the pin is held indefinitely (for DMA). */
  readonly longterm?: boolean;
}

/**
 * mm/gup.c: pin_user_pages_fast() / pin_user_pages_remote() — pins `nrPages` pages from `start`
 * (rounded down to a page) and returns their pfns; fewer than asked when a later page failed.
 */
export function pinUserPages(
  mm: AddressSpace,
  start: number,
  nrPages: number,
  opts: PinOptions = {},
): number[] {
  const fn = "pin_user_pages";
  if (!Number.isSafeInteger(nrPages) || nrPages < 0 || !Number.isSafeInteger(start) || start < 0) {
    throw new SysError("EINVAL", fn, "bad arguments");
  }
  start -= start % PAGE_SIZE;
  if (nrPages === 0) return [];
  if (start + nrPages * PAGE_SIZE > mm.taskSize)
    throw new SysError("EFAULT", fn, "beyond TASK_SIZE");
  const out: number[] = [];
  const r = mm.getUserPages(
    start,
    nrPages,
    { write: opts.write === true, pin: true, longterm: opts.longterm === true },
    out,
  );
  if (r.count === 0 && r.error) throw r.error;
  return out;
}

/**
 * mm/gup.c: unpin_user_pages() — and unpin_user_pages_dirty_lock() with `dirty`, which marks
 * each page dirty first (the device wrote it).
 */
export function unpinUserPages(
  allocator: PageAllocator,
  pfns: ArrayLike<number>,
  dirty = false,
): void {
  for (let i = 0; i < pfns.length; i++) {
    const pfn = pfns[i]!;
    if (dirty) allocator.setPageFlags(pfn, PG.dirty);
    allocator.unpin(pfn);
  }
}

/** What memfd_pin_folios() returns: the pinned pages and the byte offset into the first. */
export interface PinnedFolios {
  readonly pfns: number[];
  readonly offset: number;
}

/**
 * mm/gup.c: memfd_pin_folios() — pins the pages of `obj` covering bytes [start, end] (`end`
 * inclusive), allocating missing ones, at most `maxFolios` of them. All or nothing: on failure
 * every page pinned so far is unpinned again. Pages at or beyond EOF fail with EINVAL.
 */
export function memfdPinFolios(
  obj: ShmemObject,
  start: number,
  end: number,
  maxFolios = Number.POSITIVE_INFINITY,
): PinnedFolios {
  const fn = "memfd_pin_folios";
  if (
    !Number.isSafeInteger(start) ||
    !Number.isSafeInteger(end) ||
    start < 0 ||
    start > end ||
    !(maxFolios > 0)
  ) {
    throw new SysError("EINVAL", fn, "bad range");
  }
  const a = obj.allocator;
  const pfns: number[] = [];
  const first = Math.floor(start / PAGE_SIZE);
  const last = Math.floor(end / PAGE_SIZE);
  try {
    for (let index = first; index <= last && pfns.length < maxFolios; index++) {
      const pfn = obj.getPage(index);
      if (a.shouldFail("try_grab_folio"))
        throw new SysError("ENOMEM", "try_grab_folio", "fault injection");
      a.pin(pfn);
      pfns.push(pfn);
    }
  } catch (e) {
    unpinUserPages(a, pfns);
    throw e;
  }
  return { pfns, offset: start % PAGE_SIZE };
}
