/**
 * mlock(2), mlock2(2) and munlock(2) (mm/mlock.c): VM_LOCKED on the VMAs of a range, the
 * `locked_vm` count, PG_mlocked on their pages, and populating the range.
 *
 * As in Linux, a range with a hole is applied up to the hole and then fails with ENOMEM, and a
 * populate failure after the VMAs were locked is reported (EFAULT as ENOMEM, ENOMEM as EAGAIN)
 * without unlocking them. mlock() of a PROT_NONE mapping locks it and then fails with ENOMEM,
 * because populate may not fault an inaccessible page in.
 *
 * Caveat: mlockall()/munlockall() are not modelled.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { SysError } from "../errno.js";
import { memlockLimitPages } from "./account.js";
import { type AddressSpace, canDoMlock, type MemlockLimits } from "./address-space.js";
import { MLOCK_ONFAULT } from "./mman.js";
import { VM_LOCKED, VM_LOCKED_MASK, VM_LOCKONFAULT, VM_SPECIAL, type Vma } from "./vma.js";

/** The page-aligned range a (start, len) pair covers: `len + offset_in_page(start)`, rounded. */
function alignRange(start: number, len: number, fn: string): [number, number] {
  if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(len) || len < 0) {
    throw new SysError("EINVAL", fn, "bad argument");
  }
  const off = start % PAGE_SIZE;
  return [start - off, Math.ceil((len + off) / PAGE_SIZE) * PAGE_SIZE];
}

/** mm/mlock.c: count_mm_mlocked_page_nr() — pages of [start, start+len) already VM_LOCKED. */
export function countMmMlockedPageNr(mm: AddressSpace, start: number, len: number): number {
  const end = start + len;
  let count = 0;
  for (let v = mm.findVma(start); v && v.start < end; v = mm.findVma(v.end)) {
    if (v.flags & VM_LOCKED) count += Math.min(end, v.end) - Math.max(start, v.start);
  }
  return count / PAGE_SIZE;
}

/** mm/mlock.c: mlock_fixup() — locks or unlocks [start, end) of `vma`; returns its VMA now. */
function mlockFixup(mm: AddressSpace, vma: Vma, start: number, end: number, newFlags: number): Vma {
  const old = vma.flags;
  // Special mappings never get VM_LOCKED and are not counted.
  if (newFlags === old || old & VM_SPECIAL) return vma;
  const v = mm.vmaModifyFlags(vma, start, end, newFlags);
  const pages = (end - start) / PAGE_SIZE;
  if (!(newFlags & VM_LOCKED)) mm.lockedVm -= pages;
  else if (!(old & VM_LOCKED)) mm.lockedVm += pages;
  if (!(newFlags & VM_LOCKED && old & VM_LOCKED)) mm.mlockVmaPages(v, start, end);
  return v;
}

/** mm/mlock.c: apply_vma_lock_flags(). */
function applyVmaLockFlags(mm: AddressSpace, start: number, len: number, flags: number): void {
  const fn = "apply_vma_lock_flags";
  const end = start + len;
  if (end === start) return;
  let vma = mm.vmaLookup(start);
  if (!vma) throw new SysError("ENOMEM", fn, "range starts in a hole");
  let nstart = start;
  let tmp = vma.start;
  let lastEnd = vma.end;
  // The range is done once `nstart` reaches `end`: a merge may have made the VMA covering
  // `nstart` start before it, so a gap is only a VMA that starts *after* where we are.
  while (vma && nstart < end && vma.start < end) {
    if (vma.start > tmp) throw new SysError("ENOMEM", fn, "hole in range");
    const newFlags = (vma.flags & ~VM_LOCKED_MASK) | flags;
    tmp = Math.min(vma.end, end);
    const v = mlockFixup(mm, vma, nstart, tmp, newFlags);
    // A merge may have swallowed the next VMA: continue after whatever now covers the range.
    lastEnd = v.end;
    tmp = Math.min(v.end, end);
    nstart = tmp;
    vma = mm.findVma(nstart);
  }
  if (lastEnd < end) throw new SysError("ENOMEM", fn, "range runs past the last mapping");
}

/** mm/mlock.c: __mlock_posix_error_return(). */
function posixError(e: SysError): SysError {
  if (e.code === "EFAULT") return new SysError("ENOMEM", "do_mlock", `populate: ${e.message}`);
  if (e.code === "ENOMEM") return new SysError("EAGAIN", "do_mlock", `populate: ${e.message}`);
  return e;
}

/** mm/mlock.c: do_mlock(). */
export function doMlock(
  mm: AddressSpace,
  start: number,
  len: number,
  flags: number,
  limits: MemlockLimits,
): void {
  const fn = "do_mlock";
  if (!canDoMlock(limits)) throw new SysError("EPERM", fn, "RLIMIT_MEMLOCK is 0");
  const [s, l] = alignRange(start, len, fn);
  const lockLimit = memlockLimitPages(limits);
  let locked = l / PAGE_SIZE + mm.lockedVm;
  // Pages already locked in the range are not charged twice.
  if (locked > lockLimit && !limits.capIpcLock) locked -= countMmMlockedPageNr(mm, s, l);
  if (!(locked <= lockLimit || limits.capIpcLock)) {
    throw new SysError("ENOMEM", fn, "RLIMIT_MEMLOCK exceeded");
  }
  applyVmaLockFlags(mm, s, l, flags);
  const err = mm.mmPopulate(s, l, false);
  if (err) throw posixError(err);
}

/** mlock(2). */
export function mlock(mm: AddressSpace, start: number, len: number, limits: MemlockLimits): void {
  doMlock(mm, start, len, VM_LOCKED, limits);
}

/** mlock2(2): MLOCK_ONFAULT locks pages as they are faulted in instead of populating. */
export function mlock2(
  mm: AddressSpace,
  start: number,
  len: number,
  flags: number,
  limits: MemlockLimits,
): void {
  if (flags & ~MLOCK_ONFAULT) throw new SysError("EINVAL", "mlock2", "unknown flags");
  doMlock(mm, start, len, VM_LOCKED | (flags & MLOCK_ONFAULT ? VM_LOCKONFAULT : 0), limits);
}

/** munlock(2): no limit applies. */
export function munlock(mm: AddressSpace, start: number, len: number): void {
  const [s, l] = alignRange(start, len, "munlock");
  applyVmaLockFlags(mm, s, l, 0);
}
