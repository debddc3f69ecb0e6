/**
 * A virtual memory area (struct vm_area_struct, include/linux/mm_types.h) and its flags
 * (include/linux/mm.h VM_*), with the two calls a driver's `mmap` hook makes on it:
 * `remapPfnRange()` (mm/memory.c: remap_pfn_range(), as vfio-platform and UIO do) and
 * `setShmem()` (what shmem_mmap()/shmem_zero_setup() amount to).
 *
 * A VMA is one of three kinds: anonymous private (no file, pages faulted in on demand and owned
 * by the mm), shared-object backed (a `ShmemObject`: memfd, MAP_SHARED|MAP_ANONYMOUS, or a
 * MAP_PRIVATE mapping of a memfd with copy-on-write), or a PFN map (VM_IO|VM_PFNMAP, every page
 * a special PTE installed by the driver, no `struct page` behind it).
 *
 * Caveat: arm64 has no soft-dirty support, so VM_SOFTDIRTY is 0 as in the kernel; flags above
 * bit 30 (VM_MERGEABLE, high arch bits) are not modelled.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { SysError } from "../errno.js";
import type { AddressSpace } from "./address-space.js";
import type { ShmemObject } from "./memfd.js";
import { KernelBug } from "./page-allocator.js";
import { PTE } from "./page-table.js";

export const VM_NONE = 0;
export const VM_READ = 0x00000001;
export const VM_WRITE = 0x00000002;
export const VM_EXEC = 0x00000004;
export const VM_SHARED = 0x00000008;
export const VM_MAYREAD = 0x00000010;
export const VM_MAYWRITE = 0x00000020;
export const VM_MAYEXEC = 0x00000040;
export const VM_MAYSHARE = 0x00000080;
export const VM_GROWSDOWN = 0x00000100;
export const VM_PFNMAP = 0x00000400;
export const VM_LOCKED = 0x00002000;
export const VM_IO = 0x00004000;
export const VM_SEQ_READ = 0x00008000;
export const VM_RAND_READ = 0x00010000;
export const VM_DONTCOPY = 0x00020000;
export const VM_DONTEXPAND = 0x00040000;
export const VM_LOCKONFAULT = 0x00080000;
export const VM_ACCOUNT = 0x00100000;
export const VM_NORESERVE = 0x00200000;
export const VM_HUGETLB = 0x00400000;
export const VM_SYNC = 0x00800000;
export const VM_WIPEONFORK = 0x02000000;
export const VM_DONTDUMP = 0x04000000;
/** CONFIG_MEM_SOFT_DIRTY is not available on arm64: the flag is 0, as in the kernel. */
export const VM_SOFTDIRTY = 0;
export const VM_MIXEDMAP = 0x10000000;
export const VM_HUGEPAGE = 0x20000000;
export const VM_NOHUGEPAGE = 0x40000000;

export const VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;
export const VM_LOCKED_MASK = VM_LOCKED | VM_LOCKONFAULT;
/** VMAs that never merge, never get VM_LOCKED and are skipped by populate. */
export const VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP;

/** The `VmFlags:` mnemonics of /proc/<pid>/smaps, in the kernel's order (show_smap_vma_flags()). */
export const VM_FLAG_MNEMONICS: readonly (readonly [flag: number, mnemonic: string])[] = [
  [VM_READ, "rd"],
  [VM_WRITE, "wr"],
  [VM_EXEC, "ex"],
  [VM_SHARED, "sh"],
  [VM_MAYREAD, "mr"],
  [VM_MAYWRITE, "mw"],
  [VM_MAYEXEC, "me"],
  [VM_MAYSHARE, "ms"],
  [VM_GROWSDOWN, "gd"],
  [VM_PFNMAP, "pf"],
  [VM_LOCKED, "lo"],
  [VM_IO, "io"],
  [VM_SEQ_READ, "sr"],
  [VM_RAND_READ, "rr"],
  [VM_DONTCOPY, "dc"],
  [VM_DONTEXPAND, "de"],
  [VM_LOCKONFAULT, "lf"],
  [VM_ACCOUNT, "ac"],
  [VM_NORESERVE, "nr"],
  [VM_HUGETLB, "ht"],
  [VM_SYNC, "sf"],
  [VM_WIPEONFORK, "wf"],
  [VM_DONTDUMP, "dd"],
  [VM_MIXEDMAP, "mm"],
  [VM_HUGEPAGE, "hg"],
  [VM_NOHUGEPAGE, "nh"],
];

/** The smaps `VmFlags:` text for a flag word ("rd wr mr mw me ac"). */
export function vmFlagsString(flags: number): string {
  return VM_FLAG_MNEMONICS.filter(([f]) => (flags & f) !== 0)
    .map(([, m]) => m)
    .join(" ");
}

/** include/linux/mm.h: is_cow_mapping() — private and possibly writable. */
export function isCowMapping(flags: number): boolean {
  return (flags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE;
}

/** vm_operations_struct callbacks a driver may set from its mmap hook. */
export interface VmOperations {
  /** Called on the new half when a VMA is split (vm_ops->open). */
  open?(vma: Vma): void;
  /** Called when a VMA is unmapped (vm_ops->close). A VMA with `close` never merges away. */
  close?(vma: Vma): void;
}

/**
 * What `mmap` needs from a `struct file`: its `f_op->mmap` hook and open mode. The same object
 * must be passed for every mmap of one open file (VMAs merge only when `vm_file` is the same).
 */
export interface MmapFile {
  /** f_op->mmap: set up `vma` (remapPfnRange, setShmem) or throw a SysError. Absent → ENODEV. */
  readonly mmap?: (vma: Vma) => void;
  /** f_mode: FMODE_READ | FMODE_WRITE; defaults to both. */
  readonly fMode?: number;
  /** The file has its own f_op->get_unmapped_area (shmem does): no THP placement for it. */
  readonly hasGetUnmappedArea?: boolean;
  /** get_file(): a VMA now holds a reference to the file. */
  getFile?(): void;
  /** fput(): a VMA dropped its reference. */
  fput?(): void;
  /** What /proc/<pid>/maps prints for the mapping. */
  readonly mapsName?: string;
}

export class Vma {
  /** The shared object backing the mapping (memfd, shared anonymous), if any. */
  shmem: ShmemObject | null = null;
  /** Identity of the VMA's anon_vma (0: none yet); VMAs merge only with compatible ones. */
  anonVma = 0;
  vmOps: VmOperations | null = null;

  constructor(
    readonly mm: AddressSpace,
    public start: number,
    public end: number,
    public flags: number,
    /** vm_pgoff: file page offset of `start` (for anonymous VMAs, `start >> PAGE_SHIFT`). */
    public pgoff: number,
    public file: MmapFile | null,
  ) {}

  /** vma_pages(). */
  get pages(): number {
    return (this.end - this.start) / PAGE_SIZE;
  }

  /** include/linux/mm.h: vma_is_anonymous() — no file, no shared object behind it. */
  isAnonymous(): boolean {
    return this.file === null && this.shmem === null;
  }

  contains(va: number): boolean {
    return va >= this.start && va < this.end;
  }

  /** linear_page_index(): the object page offset that `va` maps. */
  linearPageIndex(va: number): number {
    return this.pgoff + Math.floor((va - this.start) / PAGE_SIZE);
  }

  /**
   * mm/memory.c: remap_pfn_range() — maps `[addr, addr + size)` of this VMA to the frames from
   * `pfn` on, as special PTEs (MMIO or any physical range; no `struct page` is touched), and
   * marks the VMA VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP.
   */
  remapPfnRange(pfn: number, size: number, addr = this.start): void {
    const fn = "remap_pfn_range";
    if (addr % PAGE_SIZE !== 0 || !Number.isSafeInteger(pfn) || pfn < 0) {
      throw new SysError("EINVAL", fn, "unaligned address or bad pfn");
    }
    const end = addr + Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    if (!(size > 0) || addr < this.start || end > this.end) {
      throw new SysError("EINVAL", fn, "range outside the VMA");
    }
    // A private (COW) PFN map must cover the whole VMA; vm_pgoff then records the first pfn.
    if (isCowMapping(this.flags)) {
      if (addr !== this.start || end !== this.end) {
        throw new SysError("EINVAL", fn, "partial remap of a private mapping");
      }
      this.pgoff = pfn;
    }
    const pt = this.mm.pageTable;
    const vpn0 = addr / PAGE_SIZE;
    const n = (end - addr) / PAGE_SIZE;
    for (let i = 0; i < n; i++) {
      if (pt.lookup(vpn0 + i) >= 0) throw new KernelBug(`remap_pfn_range over a present PTE`);
    }
    this.flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP;
    for (let i = 0; i < n; i++) pt.set(vpn0 + i, pfn + i, PTE.special);
  }

  /** Backs the VMA with a shared object, from object page `pgoff` (default: keep vm_pgoff). */
  setShmem(obj: ShmemObject, pgoff: number = this.pgoff): void {
    this.shmem = obj;
    this.pgoff = pgoff;
  }

  /** vm_area_dup(): a copy sharing file, object and anon_vma. */
  dup(): Vma {
    const v = new Vma(this.mm, this.start, this.end, this.flags, this.pgoff, this.file);
    v.shmem = this.shmem;
    v.anonVma = this.anonVma;
    v.vmOps = this.vmOps;
    return v;
  }

  /** The VMA's line of /proc/<pid>/maps (show_map_vma()), without device and inode numbers. */
  mapsLine(): string {
    const hex = (n: number, w: number) => n.toString(16).padStart(w, "0");
    const perms =
      (this.flags & VM_READ ? "r" : "-") +
      (this.flags & VM_WRITE ? "w" : "-") +
      (this.flags & VM_EXEC ? "x" : "-") +
      (this.flags & VM_MAYSHARE ? "s" : "p");
    const offset = this.isAnonymous() ? 0 : this.pgoff * PAGE_SIZE;
    const name = this.file?.mapsName ?? this.shmem?.mapsName ?? "";
    const head = `${hex(this.start, 8)}-${hex(this.end, 8)} ${perms} ${hex(offset, 8)} 00:00 0`;
    return name ? `${head.padEnd(72)} ${name}` : head;
  }
}
