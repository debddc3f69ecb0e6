/**
 * lib/idr.c: the IDA (and xa_alloc() with an XA_LIMIT): small integer ids handed out lowest-free
 * first, which is why IOMMU group numbers and SMMU ASIDs are deterministic and reused.
 */

import { SysError } from "../errno.js";

export class Ida {
  private readonly used = new Set<number>();

  /**
   * ida_alloc_range() / xa_alloc(): the lowest free id in [min, max]; ENOSPC when none is
   * (xa_alloc says EBUSY, which the caller passes as `full`).
   */
  alloc(min = 0, max = 0x7fffffff, fn = "ida_alloc_range", full: "ENOSPC" | "EBUSY" = "ENOSPC") {
    for (let id = min; id <= max; id++) {
      if (!this.used.has(id)) {
        this.used.add(id);
        return id;
      }
    }
    throw new SysError(full, fn, `no free id in [${min}, ${max}]`);
  }

  /** ida_free() */
  free(id: number): void {
    this.used.delete(id);
  }

  has(id: number): boolean {
    return this.used.has(id);
  }

  get size(): number {
    return this.used.size;
  }
}
