/**
 * /proc/<pid>/pagemap (fs/proc/task_mmu.c): one 64-bit little-endian entry per virtual page.
 *
 *   bits 0–54  PFN, only when the reader opened the file with CAP_SYS_ADMIN (else 0)
 *   bit  55    soft-dirty (never set: arm64 has no soft-dirty tracking)
 *   bit  56    page exclusively mapped (mapcount 1)
 *   bit  61    file page or shared anonymous page (not PageAnon)
 *   bit  62    swapped (never: no swap)
 *   bit  63    present
 *
 * A PFN-map page (remap_pfn_range) is present with its PFN but has no `struct page`
 * (vm_normal_page() is NULL), so it carries neither bit 56 nor bit 61.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { SysError } from "../errno.js";
import type { AddressSpace } from "./address-space.js";
import { PG } from "./page-allocator.js";
import { PTE } from "./page-table.js";

export const PM_ENTRY_BYTES = 8;
export const PM_PFRAME_BITS = 55;
export const PM_PFRAME_MASK = (1n << 55n) - 1n;
export const PM_SOFT_DIRTY = 1n << 55n;
export const PM_MMAP_EXCLUSIVE = 1n << 56n;
export const PM_UFFD_WP = 1n << 57n;
export const PM_GUARD_REGION = 1n << 58n;
export const PM_FILE = 1n << 61n;
export const PM_SWAP = 1n << 62n;
export const PM_PRESENT = 1n << 63n;

function entryFor(mm: AddressSpace, pfn: number, bits: number, showPfn: boolean): bigint {
  let e = PM_PRESENT;
  if (showPfn) e |= BigInt(pfn) & PM_PFRAME_MASK;
  if (bits & PTE.special) return e;
  const a = mm.allocator;
  if (!(a.pageFlags(pfn) & PG.anon)) e |= PM_FILE;
  if (a.mapCount(pfn) === 1) e |= PM_MMAP_EXCLUSIVE;
  return e;
}

/** fs/proc/task_mmu.c: pte_to_pagemap_entry() for the page containing `va`. */
export function pagemapEntry(mm: AddressSpace, va: number, showPfn: boolean): bigint {
  const vpn = Math.floor(va / PAGE_SIZE);
  const pfn = mm.pageTable.lookup(vpn);
  if (pfn < 0) return 0n;
  return entryFor(mm, pfn, mm.pageTable.bits(vpn), showPfn);
}

/**
 * fs/proc/task_mmu.c: pagemap_read() — `count` bytes of entries from file position `offset`
 * (both multiples of 8, else EINVAL); fewer at the end of the address space. `showPfn` is
 * whether the opener had CAP_SYS_ADMIN. The procfs file copies the result to user memory.
 */
export function pagemapRead(
  mm: AddressSpace,
  offset: number | bigint,
  count: number,
  showPfn: boolean,
): Uint8Array {
  const fn = "pagemap_read";
  const pos = BigInt(offset);
  if (pos < 0n || !Number.isSafeInteger(count) || count < 0) throw new SysError("EINVAL", fn);
  if (pos % BigInt(PM_ENTRY_BYTES) !== 0n || count % PM_ENTRY_BYTES !== 0) {
    throw new SysError("EINVAL", fn, "position and count must be multiples of 8");
  }
  if (count === 0) return new Uint8Array(0);
  const lastVpn = mm.taskSize / PAGE_SIZE;
  const svpfn = pos / BigInt(PM_ENTRY_BYTES);
  if (svpfn >= BigInt(lastVpn)) return new Uint8Array(0);
  const startVpn = Number(svpfn);
  const n = Math.min(count / PM_ENTRY_BYTES, lastVpn - startVpn);
  const out = new Uint8Array(n * PM_ENTRY_BYTES);
  const view = new DataView(out.buffer);
  // Holes and non-present pages are zero entries: only present PTEs need writing.
  mm.pageTable.forEachPresent(startVpn, startVpn + n, (vpn, pfn, bits) => {
    view.setBigUint64((vpn - startVpn) * PM_ENTRY_BYTES, entryFor(mm, pfn, bits, showPfn), true);
  });
  return out;
}

/** Decodes an entry: what a test or notebook wants to print. */
export function decodePagemapEntry(e: bigint): {
  present: boolean;
  swapped: boolean;
  file: boolean;
  exclusive: boolean;
  softDirty: boolean;
  pfn: number;
} {
  return {
    present: (e & PM_PRESENT) !== 0n,
    swapped: (e & PM_SWAP) !== 0n,
    file: (e & PM_FILE) !== 0n,
    exclusive: (e & PM_MMAP_EXCLUSIVE) !== 0n,
    softDirty: (e & PM_SOFT_DIRTY) !== 0n,
    pfn: Number(e & PM_PFRAME_MASK),
  };
}
