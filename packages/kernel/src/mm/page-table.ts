/**
 * A process page table: virtual page number → pfn, with a few PTE bits
 * (arch/arm64/include/asm/pgtable.h, seen through the generic pte_* helpers).
 *
 * Stored as one chunk of typed arrays per 512 PTEs (one last-level table, 2 MiB of VA), created
 * on first use and dropped when its last entry goes (free_pgtables()), so a 16 GiB mapping costs
 * 5 bytes per resident page and nothing for the holes.
 *
 * Caveat: permissions live in the VMA, not in the PTE (the model never runs user code, so there
 * is no TLB or hardware walk to feed); the table holds the pfn and the software bits only.
 */

/** PTE bits kept by the model. */
export const PTE = {
  /** pte_present(). */
  present: 1 << 0,
  /** pte_special(): a PFN map entry with no `struct page` behind it (vm_normal_page() is NULL). */
  special: 1 << 1,
  /** pte_dirty(): written through this mapping. */
  dirty: 1 << 2,
} as const;

export const PTRS_PER_PTE = 512;

/** One last-level table: the pfn split into low 32 bits and (only when needed) high bits. */
class PteChunk {
  readonly pfnLo = new Uint32Array(PTRS_PER_PTE);
  /** Allocated on the first pfn at or above 2^32 (MMIO above 16 TiB of physical space). */
  pfnHi: Uint16Array | undefined;
  readonly bits = new Uint8Array(PTRS_PER_PTE);
  count = 0;

  pfn(i: number): number {
    return (this.pfnHi ? this.pfnHi[i]! * 2 ** 32 : 0) + this.pfnLo[i]!;
  }

  setPfn(i: number, pfn: number): void {
    this.pfnLo[i] = pfn % 2 ** 32;
    const hi = Math.floor(pfn / 2 ** 32);
    if (hi !== 0 && !this.pfnHi) this.pfnHi = new Uint16Array(PTRS_PER_PTE);
    if (this.pfnHi) this.pfnHi[i] = hi;
  }
}

export class PageTable {
  private readonly chunks = new Map<number, PteChunk>();
  private resident = 0;

  /** Present entries (the mm's RSS plus its PFN-map pages). */
  get presentCount(): number {
    return this.resident;
  }

  /** The pfn a present entry maps, or -1. */
  lookup(vpn: number): number {
    const c = this.chunks.get(Math.floor(vpn / PTRS_PER_PTE));
    if (!c) return -1;
    const i = vpn % PTRS_PER_PTE;
    return c.bits[i]! & PTE.present ? c.pfn(i) : -1;
  }

  /** The entry's bits (0 when not present). */
  bits(vpn: number): number {
    const c = this.chunks.get(Math.floor(vpn / PTRS_PER_PTE));
    return c ? c.bits[vpn % PTRS_PER_PTE]! : 0;
  }

  /** set_pte_at(): installs a present entry; the slot must be empty. */
  set(vpn: number, pfn: number, bits: number): void {
    const key = Math.floor(vpn / PTRS_PER_PTE);
    let c = this.chunks.get(key);
    if (!c) {
      c = new PteChunk();
      this.chunks.set(key, c);
    }
    const i = vpn % PTRS_PER_PTE;
    if (!(c.bits[i]! & PTE.present)) {
      c.count++;
      this.resident++;
    }
    c.setPfn(i, pfn);
    c.bits[i] = bits | PTE.present;
  }

  /** Sets extra bits on a present entry (pte_mkdirty()). */
  mark(vpn: number, bits: number): void {
    const c = this.chunks.get(Math.floor(vpn / PTRS_PER_PTE));
    const i = vpn % PTRS_PER_PTE;
    if (c && c.bits[i]! & PTE.present) c.bits[i] = c.bits[i]! | bits;
  }

  /** Re-points a present entry at another frame, keeping its bits (remove_migration_pte()). */
  replace(vpn: number, pfn: number): void {
    const c = this.chunks.get(Math.floor(vpn / PTRS_PER_PTE));
    const i = vpn % PTRS_PER_PTE;
    if (c && c.bits[i]! & PTE.present) c.setPfn(i, pfn);
  }

  /** ptep_get_and_clear(): clears an entry and returns the pfn it mapped, or -1. */
  clear(vpn: number): number {
    const key = Math.floor(vpn / PTRS_PER_PTE);
    const c = this.chunks.get(key);
    if (!c) return -1;
    const i = vpn % PTRS_PER_PTE;
    if (!(c.bits[i]! & PTE.present)) return -1;
    const pfn = c.pfn(i);
    c.bits[i] = 0;
    c.setPfn(i, 0);
    this.resident--;
    if (--c.count === 0) this.chunks.delete(key);
    return pfn;
  }

  /**
   * Calls `fn(vpn, pfn, bits)` for every present entry in [startVpn, endVpn), in ascending
   * order. Walks only the chunks that exist, so a sparse huge range costs what is resident.
   */
  forEachPresent(
    startVpn: number,
    endVpn: number,
    fn: (vpn: number, pfn: number, bits: number) => void,
  ): void {
    if (endVpn <= startVpn) return;
    const first = Math.floor(startVpn / PTRS_PER_PTE);
    const last = Math.floor((endVpn - 1) / PTRS_PER_PTE);
    const keys: number[] = [];
    if (last - first + 1 <= this.chunks.size) {
      for (let k = first; k <= last; k++) if (this.chunks.has(k)) keys.push(k);
    } else {
      for (const k of this.chunks.keys()) if (k >= first && k <= last) keys.push(k);
      keys.sort((a, b) => a - b);
    }
    for (const k of keys) {
      const c = this.chunks.get(k);
      if (!c) continue;
      const base = k * PTRS_PER_PTE;
      const lo = Math.max(startVpn, base) - base;
      const hi = Math.min(endVpn, base + PTRS_PER_PTE) - base;
      for (let i = lo; i < hi; i++) {
        const b = c.bits[i]!;
        if (b & PTE.present) fn(base + i, c.pfn(i), b);
      }
    }
  }
}
