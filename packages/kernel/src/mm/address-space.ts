/**
 * A process address space (struct mm_struct): the sorted VMA set, the page table, demand paging,
 * mmap/munmap/mprotect, and the byte-level user copies (`UserMemory`).
 *
 * Models mm/mmap.c (do_mmap, get_unmapped_area, the arm64 top-down layout from
 * mmap_base = 2^48 − 128 MiB with no ASLR), mm/vma.c (__mmap_region, splitting and merging,
 * do_vmi_align_munmap), mm/mprotect.c (do_mprotect_pkey), mm/memory.c (the fault paths:
 * anonymous, shmem, copy-on-write of a privately mapped memfd, PFN maps) and mm/gup.c's
 * __get_user_pages()/__mm_populate() core, which gup.ts and mlock.ts build on.
 *
 * Caveats, each a deliberate simplification:
 * - A read fault on untouched anonymous memory maps a fresh zeroed frame (Linux maps the shared
 *   zero page and copies on the first write); the frame has no storage until written.
 * - Access rules are arm64's with EPAN: a read needs VM_READ or VM_WRITE, exec-only is unreadable.
 * - An MMIO bus error during a user copy to or from a PFN map becomes EFAULT (a CPU access from
 *   user space would get SIGBUS); bytes of earlier pages may already have moved by then.
 * - No fork (so no COW of anonymous pages), no swap, no THP (only THP *placement* is modelled),
 *   no RLIMIT_AS/RLIMIT_DATA, no overcommit refusal, no stack growth for MAP_GROWSDOWN, no
 *   mlockall, no MAP_DROPPABLE (ENOTSUPP, as a kernel without VM_DROPPABLE), no hugetlb pool
 *   (MAP_HUGETLB fails with ENOMEM as hugetlb_reserve_pages() does with nr_hugepages = 0).
 * - A private PFN map is written through (Linux would copy the page on the first write).
 */

import { type BusError, PAGE_SIZE, type SystemBus } from "@vfio-lab/hw-soc";
import { SysError } from "../errno.js";
import { ShmemObject } from "./memfd.js";
import {
  FMODE_READ,
  FMODE_WRITE,
  LAYOUT,
  LEGACY_MAP_MASK,
  MAP_DROPPABLE,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_HUGETLB,
  MAP_LOCKED,
  MAP_NONBLOCK,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MAP_STACK,
  MAP_TYPE,
  PROT_EXEC,
  PROT_GROWSDOWN,
  PROT_GROWSUP,
  PROT_READ,
  PROT_SEM,
  PROT_WRITE,
} from "./mman.js";
import { type PageAllocator, PG, type RmapOwner } from "./page-allocator.js";
import { PageTable, PTE } from "./page-table.js";
import type { UserMemory } from "./user-memory.js";
import {
  isCowMapping,
  type MmapFile,
  VM_ACCESS_FLAGS,
  VM_ACCOUNT,
  VM_EXEC,
  VM_GROWSDOWN,
  VM_HUGETLB,
  VM_IO,
  VM_LOCKED,
  VM_LOCKED_MASK,
  VM_LOCKONFAULT,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_NOHUGEPAGE,
  VM_NORESERVE,
  VM_PFNMAP,
  VM_READ,
  VM_SHARED,
  VM_SOFTDIRTY,
  VM_SPECIAL,
  VM_WRITE,
  Vma,
} from "./vma.js";

/** RLIMIT_MEMLOCK and CAP_IPC_LOCK of the calling task (the Process supplies them). */
export interface MemlockLimits {
  /** RLIMIT_MEMLOCK in bytes; `Infinity` for RLIM_INFINITY. */
  readonly rlimitMemlock: number;
  readonly capIpcLock: boolean;
}

/** Linux's default: 8 MiB of RLIMIT_MEMLOCK, no CAP_IPC_LOCK. */
export const DEFAULT_MEMLOCK_LIMITS: MemlockLimits = {
  rlimitMemlock: 8 * 2 ** 20,
  capIpcLock: false,
};

/** The arguments of do_mmap(): `file` is the mapped file (absent for MAP_ANONYMOUS). */
export interface MmapRequest {
  readonly addr: number;
  readonly length: number;
  readonly prot: number;
  readonly flags: number;
  readonly file?: MmapFile;
  /** Offset into the file in pages (sys_mmap has already checked the byte offset's alignment). */
  readonly pgoff?: number;
  /** For MAP_LOCKED; defaults to DEFAULT_MEMLOCK_LIMITS. */
  readonly limits?: MemlockLimits;
  /** CAP_SYS_RAWIO lets MAP_FIXED go below vm.mmap_min_addr (cap_mmap_addr()). */
  readonly capSysRawio?: boolean;
}

export interface AddressSpaceOptions {
  readonly allocator: PageAllocator;
  /** Where PFN-map accesses go (MMIO straight to the device, as a CPU load would). */
  readonly bus: SystemBus;
  /** vm.mmap_min_addr; default 32768. */
  readonly mmapMinAddr?: number;
  /** vm.max_map_count; default 65530. */
  readonly maxMapCount?: number;
}

/** The FOLL_* flags of a get_user_pages() walk. */
export interface GupFlags {
  readonly write?: boolean;
  readonly force?: boolean;
  /** FOLL_PIN: take a pin on every page (otherwise the walk only faults pages in). */
  readonly pin?: boolean;
  readonly longterm?: boolean;
}

/** What __get_user_pages() returns: pages done, and the error that stopped it if none were. */
export interface GupResult {
  readonly count: number;
  readonly error?: SysError;
}

const PAGE_MASK_LOW = PAGE_SIZE - 1;

function pageAlign(n: number): number {
  return Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
}

function checkUserNumber(n: number, fn: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new SysError("EINVAL", fn, `bad argument ${n}`);
}

/** include/linux/mman.h: calc_vm_prot_bits() (arm64 BTI/MTE bits are unsupported and dropped). */
function calcVmProtBits(prot: number): number {
  return (
    (prot & PROT_READ ? VM_READ : 0) |
    (prot & PROT_WRITE ? VM_WRITE : 0) |
    (prot & PROT_EXEC ? VM_EXEC : 0)
  );
}

/** include/linux/mman.h: calc_vm_flag_bits(). */
function calcVmFlagBits(flags: number): number {
  return (
    (flags & MAP_GROWSDOWN ? VM_GROWSDOWN : 0) |
    (flags & MAP_LOCKED ? VM_LOCKED : 0) |
    (flags & MAP_STACK ? VM_NOHUGEPAGE : 0)
  );
}

/** mm/mlock.c: can_do_mlock(). */
export function canDoMlock(limits: MemlockLimits): boolean {
  return limits.rlimitMemlock !== 0 || limits.capIpcLock;
}

function anonVmaCompatible(a: number, b: number): boolean {
  return a === 0 || b === 0 || a === b;
}

export class AddressSpace implements UserMemory, RmapOwner {
  readonly allocator: PageAllocator;
  readonly bus: SystemBus;
  readonly pageTable = new PageTable();
  readonly ownerId: number;
  readonly taskSize = LAYOUT.taskSize;
  readonly mmapBase = LAYOUT.mmapBase;
  readonly mmapMinAddr: number;
  readonly maxMapCount: number;
  /** mm->locked_vm in pages (mlock, MAP_LOCKED, and callers of account_locked_vm()). */
  lockedVm = 0;
  /** mm->pinned_vm in pages (charged by pinning drivers such as iommufd). */
  pinnedVm = 0;
  private vmas: Vma[] = [];
  private nextAnonVma = 1;
  private exited = false;

  constructor(opts: AddressSpaceOptions) {
    this.allocator = opts.allocator;
    this.bus = opts.bus;
    this.mmapMinAddr = opts.mmapMinAddr ?? LAYOUT.mmapMinAddr;
    this.maxMapCount = opts.maxMapCount ?? LAYOUT.maxMapCount;
    this.ownerId = this.allocator.registerOwner(this);
  }

  /** mm->map_count. */
  get mapCount(): number {
    return this.vmas.length;
  }

  /** The VMAs in address order (a snapshot). */
  get vmaList(): readonly Vma[] {
    return [...this.vmas];
  }

  /** mm/mmap.c: find_vma() — the first VMA ending above `va`. */
  findVma(va: number): Vma | undefined {
    return this.vmas[this.indexOf(va)];
  }

  /** vma_lookup(): the VMA containing `va`. */
  vmaLookup(va: number): Vma | undefined {
    const v = this.findVma(va);
    return v && v.start <= va ? v : undefined;
  }

  /** find_vma_intersection(): the first VMA overlapping [start, end). */
  findVmaIntersection(start: number, end: number): Vma | undefined {
    const v = this.findVma(start);
    return v && v.start < end ? v : undefined;
  }

  /** The pfn mapped at `va`, or -1 (follow_page() without faulting). */
  translate(va: number): number {
    return this.pageTable.lookup(Math.floor(va / PAGE_SIZE));
  }

  // ---------------------------------------------------------------------------------------
  // mmap

  /** mm/mmap.c: do_mmap() (with vm_mmap_pgoff()'s populate): returns the mapped address. */
  mmap(req: MmapRequest): number {
    const fn = "do_mmap";
    const file = req.file ?? null;
    const limits = req.limits ?? DEFAULT_MEMLOCK_LIMITS;
    let { addr, prot, flags } = req;
    let len = req.length;
    let pgoff = req.pgoff ?? 0;
    checkUserNumber(addr, fn);
    checkUserNumber(len, fn);
    checkUserNumber(pgoff, fn);
    flags >>>= 0;
    prot >>>= 0;
    // ksys_mmap_pgoff(): MAP_HUGETLB needs hugetlbfs.
    if (flags & MAP_HUGETLB) {
      if (file)
        throw new SysError("EINVAL", "ksys_mmap_pgoff", "MAP_HUGETLB on a non-hugetlbfs file");
      throw new SysError("ENOMEM", "hugetlb_reserve_pages", "no huge pages reserved");
    }
    if (len === 0) throw new SysError("EINVAL", fn, "length 0");
    if (flags & MAP_FIXED_NOREPLACE) flags |= MAP_FIXED;
    if (!(flags & MAP_FIXED)) addr = this.roundHintToMin(addr);
    len = pageAlign(len);
    if (this.vmas.length > this.maxMapCount) throw new SysError("ENOMEM", fn, "max_map_count");

    let vmFlags =
      calcVmProtBits(prot) | calcVmFlagBits(flags) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
    addr = this.getUnmappedArea(file, addr, len, pgoff, flags, req.capSysRawio ?? false);
    if (flags & MAP_FIXED_NOREPLACE && this.findVmaIntersection(addr, addr + len)) {
      throw new SysError("EEXIST", fn, "MAP_FIXED_NOREPLACE over a mapping");
    }
    if (flags & MAP_LOCKED && !canDoMlock(limits)) {
      throw new SysError("EPERM", fn, "MAP_LOCKED with RLIMIT_MEMLOCK 0");
    }
    if (!this.mlockFutureOk(vmFlags, len, limits)) {
      throw new SysError("EAGAIN", fn, "MAP_LOCKED over RLIMIT_MEMLOCK");
    }
    if (file) {
      const fMode = file.fMode ?? FMODE_READ | FMODE_WRITE;
      const type = flags & MAP_TYPE;
      if (type !== MAP_SHARED && type !== MAP_SHARED_VALIDATE && type !== MAP_PRIVATE) {
        throw new SysError("EINVAL", fn, "bad mapping type");
      }
      if (type === MAP_SHARED || type === MAP_SHARED_VALIDATE) {
        // Plain MAP_SHARED silently ignores flags it does not know; MAP_SHARED_VALIDATE refuses.
        if (type === MAP_SHARED) flags &= LEGACY_MAP_MASK;
        if (flags & ~LEGACY_MAP_MASK) throw new SysError("EOPNOTSUPP", fn, "unsupported flag");
        if (prot & PROT_WRITE && !(fMode & FMODE_WRITE)) {
          throw new SysError("EACCES", fn, "shared writable mapping of a read-only file");
        }
        vmFlags |= VM_SHARED | VM_MAYSHARE;
        if (!(fMode & FMODE_WRITE)) vmFlags &= ~(VM_MAYWRITE | VM_SHARED);
      }
      if (!(fMode & FMODE_READ)) throw new SysError("EACCES", fn, "file not open for reading");
      if (!file.mmap) throw new SysError("ENODEV", fn, "file has no mmap");
      if (vmFlags & VM_GROWSDOWN) throw new SysError("EINVAL", fn, "MAP_GROWSDOWN on a file");
    } else {
      switch (flags & MAP_TYPE) {
        case MAP_SHARED:
          if (vmFlags & VM_GROWSDOWN) throw new SysError("EINVAL", fn, "MAP_GROWSDOWN shared");
          pgoff = 0;
          vmFlags |= VM_SHARED | VM_MAYSHARE;
          break;
        case MAP_DROPPABLE:
          throw new SysError("ENOTSUPP", fn, "VM_DROPPABLE is not modelled");
        case MAP_PRIVATE:
          pgoff = addr / PAGE_SIZE;
          break;
        default:
          throw new SysError("EINVAL", fn, "bad mapping type");
      }
    }
    // Heuristic overcommit honours MAP_NORESERVE.
    if (flags & MAP_NORESERVE) vmFlags |= VM_NORESERVE;

    const start = this.mmapRegion(file, addr, len, vmFlags, pgoff);
    if (vmFlags & VM_LOCKED || (flags & (MAP_POPULATE | MAP_NONBLOCK)) === MAP_POPULATE) {
      this.mmPopulate(start, len, true);
    }
    return start;
  }

  /** mm/vma.c: __mmap_region(). */
  private mmapRegion(
    file: MmapFile | null,
    addr: number,
    len: number,
    vmFlags: number,
    pgoff: number,
  ): number {
    const end = addr + len;
    // __mmap_prepare(): gather (and, past the point of no return, unmap) what MAP_FIXED covers.
    this.doAlignMunmap(addr, end);
    // accountable_mapping(): private writable memory is charged (and marked VM_ACCOUNT).
    if ((vmFlags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) === VM_WRITE) vmFlags |= VM_ACCOUNT;

    let vma = this.mergeNewRange(addr, end, vmFlags, file, pgoff);
    if (!vma) vma = this.mmapNewVma(file, addr, end, vmFlags, pgoff);

    // __mmap_complete()
    if (vma.flags & VM_LOCKED) {
      if (vma.flags & VM_SPECIAL) vma.flags &= ~VM_LOCKED_MASK;
      else this.lockedVm += len / PAGE_SIZE;
    }
    return addr;
  }

  /** mm/vma.c: __mmap_new_vma(). */
  private mmapNewVma(
    file: MmapFile | null,
    addr: number,
    end: number,
    vmFlags: number,
    pgoff: number,
  ): Vma {
    if (this.allocator.shouldFail("vm_area_alloc")) {
      throw new SysError("ENOMEM", "vm_area_alloc", "fault injection");
    }
    const vma = new Vma(this, addr, end, vmFlags, pgoff, null);
    if (file) {
      vma.file = file;
      file.getFile?.();
      try {
        file.mmap!(vma);
      } catch (e) {
        file.fput?.();
        vma.file = null;
        // unmap_region(): undo whatever the driver mapped before failing.
        this.zapRange(vma, addr, end);
        throw e;
      }
    } else if (vmFlags & VM_SHARED) {
      // shmem_zero_setup(): shared anonymous memory is an unlinked shmem file.
      if (this.allocator.shouldFail("shmem_zero_setup")) {
        throw new SysError("ENOMEM", "shmem_zero_setup", "fault injection");
      }
      const obj = new ShmemObject(this.allocator, "/dev/zero (deleted)", end - addr);
      vma.file = obj.openFile(FMODE_READ | FMODE_WRITE);
      vma.setShmem(obj, 0);
    }
    this.insertVma(vma);
    // If the driver changed mergeable flags, the VMA may now merge with a neighbour.
    if (vma.flags !== vmFlags && !(vma.flags & VM_SPECIAL)) {
      return this.vmaModifyFlags(vma, vma.start, vma.end, vma.flags);
    }
    return vma;
  }

  /** mm/vma.c: vma_merge_new_range() — extend a neighbour instead of creating a VMA. */
  private mergeNewRange(
    addr: number,
    end: number,
    flags: number,
    file: MmapFile | null,
    pgoff: number,
  ): Vma | undefined {
    if (flags & VM_SPECIAL) return undefined;
    const i = this.indexOf(addr);
    const prev = i > 0 ? this.vmas[i - 1] : undefined;
    const next = this.vmas[i];
    const pglen = (end - addr) / PAGE_SIZE;
    const same = (v: Vma) =>
      ((v.flags ^ flags) & ~VM_SOFTDIRTY) === 0 &&
      v.file === file &&
      (file !== null || v.shmem === null);
    const left =
      prev !== undefined && prev.end === addr && same(prev) && prev.pgoff + prev.pages === pgoff;
    let right =
      next !== undefined && next.start === end && same(next) && next.pgoff === pgoff + pglen;
    if (left && right && (!anonVmaCompatible(prev!.anonVma, next!.anonVma) || next!.vmOps?.close)) {
      right = false;
    }
    if (left && right) {
      prev!.end = next!.end;
      if (!prev!.anonVma) prev!.anonVma = next!.anonVma;
      this.removeMerged(next!);
      return prev;
    }
    if (left) {
      prev!.end = end;
      return prev;
    }
    if (right) {
      next!.start = addr;
      next!.pgoff = pgoff;
      return next;
    }
    return undefined;
  }

  /**
   * mm/mmap.c: __get_unmapped_area() — the arm64 top-down allocator, THP alignment for
   * PMD-multiple requests without a hint, and the mmap_min_addr check.
   */
  private getUnmappedArea(
    file: MmapFile | null,
    addr: number,
    len: number,
    pgoff: number,
    flags: number,
    capSysRawio: boolean,
  ): number {
    const fn = "get_unmapped_area";
    if (len > this.taskSize) throw new SysError("ENOMEM", fn, "length above TASK_SIZE");
    const ownArea = file ? file.hasGetUnmappedArea === true : (flags & MAP_SHARED) !== 0;
    if (!file) pgoff = 0;
    if (ownArea) addr = this.mmGetUnmappedArea(addr, len, flags);
    else if (addr === 0 && len % LAYOUT.pmdSize === 0)
      addr = this.thpGetUnmappedArea(addr, len, pgoff, flags);
    else addr = this.mmGetUnmappedArea(addr, len, flags);
    if (addr > this.taskSize - len) throw new SysError("ENOMEM", fn, "beyond TASK_SIZE");
    if (addr % PAGE_SIZE !== 0) throw new SysError("EINVAL", fn, "unaligned MAP_FIXED address");
    // security_mmap_addr() → cap_mmap_addr().
    if (addr < this.mmapMinAddr && !capSysRawio) {
      throw new SysError("EPERM", "cap_mmap_addr", "below vm.mmap_min_addr");
    }
    return addr;
  }

  /** mm/huge_memory.c: __thp_get_unmapped_area() with PMD_SIZE, falling back to the plain search. */
  private thpGetUnmappedArea(addr: number, len: number, pgoff: number, flags: number): number {
    const size = LAYOUT.pmdSize;
    const off = pgoff * PAGE_SIZE;
    const offAlign = Math.ceil(off / size) * size;
    if (off + len > offAlign && off + len - offAlign >= size) {
      let ret = -1;
      try {
        ret = this.mmGetUnmappedArea(addr, len + size, flags);
      } catch {
        ret = -1;
      }
      if (ret >= 0) {
        if (ret === addr) return addr;
        const offSub = (((off - ret) % size) + size) % size;
        // Top-down: with the padded area already aligned, take its upper part.
        return offSub === 0 ? ret + size : ret + offSub;
      }
    }
    return this.mmGetUnmappedArea(addr, len, flags);
  }

  /** mm/mmap.c: generic_get_unmapped_area_topdown(). */
  private mmGetUnmappedArea(addr: number, len: number, flags: number): number {
    const fn = "arch_get_unmapped_area_topdown";
    const mmapEnd = this.taskSize;
    if (len > mmapEnd - this.mmapMinAddr) throw new SysError("ENOMEM", fn, "too large");
    if (flags & MAP_FIXED) return addr;
    if (addr) {
      addr = pageAlign(addr);
      const i = this.indexOf(addr);
      const vma = this.vmas[i];
      const prev = i > 0 ? this.vmas[i - 1] : undefined;
      if (
        mmapEnd - len >= addr &&
        addr >= this.mmapMinAddr &&
        (!vma || addr + len <= vma.start) &&
        (!prev || addr >= prev.end)
      ) {
        return addr;
      }
    }
    const top = this.unmappedAreaTopdown(len, PAGE_SIZE, this.mmapBase);
    if (top >= 0) return top;
    // A failed top-down search falls back to bottom-up from TASK_UNMAPPED_BASE.
    const bottom = this.unmappedArea(len, LAYOUT.taskUnmappedBase, mmapEnd);
    if (bottom >= 0) return bottom;
    throw new SysError("ENOMEM", fn, "no free area");
  }

  /** mm/mmap.c: unmapped_area_topdown() — the highest gap of `len` below `high`. */
  private unmappedAreaTopdown(len: number, low: number, high: number): number {
    low = Math.max(low, this.mmapMinAddr);
    for (let i = this.vmas.length; i >= 0; i--) {
      const gapStart = Math.max(i > 0 ? this.vmas[i - 1]!.end : 0, low);
      const gapEnd = Math.min(i < this.vmas.length ? this.vmas[i]!.start : this.taskSize, high);
      if (gapEnd - gapStart >= len) return gapEnd - len;
    }
    return -1;
  }

  /** mm/mmap.c: unmapped_area() — the lowest gap of `len` at or above `low`. */
  private unmappedArea(len: number, low: number, high: number): number {
    low = Math.max(low, this.mmapMinAddr);
    for (let i = 0; i <= this.vmas.length; i++) {
      const gapStart = Math.max(i > 0 ? this.vmas[i - 1]!.end : 0, low);
      const gapEnd = Math.min(i < this.vmas.length ? this.vmas[i]!.start : this.taskSize, high);
      if (gapEnd - gapStart >= len) return gapStart;
    }
    return -1;
  }

  /** mm/mmap.c: round_hint_to_min(). */
  private roundHintToMin(hint: number): number {
    hint -= hint % PAGE_SIZE;
    if (hint !== 0 && hint < this.mmapMinAddr) return pageAlign(this.mmapMinAddr);
    return hint;
  }

  /** mm/mmap.c: mlock_future_ok(). */
  private mlockFutureOk(flags: number, bytes: number, limits: MemlockLimits): boolean {
    if (!(flags & VM_LOCKED) || limits.capIpcLock) return true;
    return bytes / PAGE_SIZE + this.lockedVm <= Math.floor(limits.rlimitMemlock / PAGE_SIZE);
  }

  // ---------------------------------------------------------------------------------------
  // munmap, mprotect, VMA surgery

  /** mm/vma.c: do_vmi_munmap(). */
  munmap(start: number, len: number): void {
    const fn = "do_vmi_munmap";
    checkUserNumber(start, fn);
    checkUserNumber(len, fn);
    if (start % PAGE_SIZE !== 0 || start > this.taskSize || len > this.taskSize - start) {
      throw new SysError("EINVAL", fn, "bad range");
    }
    const end = start + pageAlign(len);
    if (end === start) throw new SysError("EINVAL", fn, "length 0");
    this.doAlignMunmap(start, end);
  }

  /** mm/vma.c: do_vmi_align_munmap() (vms_gather_munmap_vmas + vms_complete_munmap_vmas). */
  private doAlignMunmap(start: number, end: number): void {
    const first = this.findVmaIntersection(start, end);
    if (!first) return;
    if (start > first.start) {
      // The split may not leave more mappings than max_map_count behind.
      if (end < first.end && this.vmas.length >= this.maxMapCount) {
        throw new SysError("ENOMEM", "vms_gather_munmap_vmas", "max_map_count");
      }
      this.splitVma(first, start, true, false);
    }
    const detach: Vma[] = [];
    // A failed end split leaves the start split in place, as the kernel does.
    for (let v = this.findVma(start); v && v.start < end; v = this.nextOf(v)) {
      if (v.end > end) this.splitVma(v, end, false, false);
      detach.push(v);
    }
    for (const v of detach) {
      this.zapRange(v, v.start, v.end);
      if (v.flags & VM_LOCKED) this.lockedVm -= v.pages;
      this.detachVma(v);
    }
    for (const v of detach) {
      v.shmem?.unlinkVma(v);
      v.vmOps?.close?.(v);
      v.file?.fput?.();
    }
  }

  /** mm/mprotect.c: do_mprotect_pkey(). */
  mprotect(start: number, len: number, prot: number): void {
    const fn = "do_mprotect_pkey";
    checkUserNumber(start, fn);
    checkUserNumber(len, fn);
    prot >>>= 0;
    const grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
    prot &= ~(PROT_GROWSDOWN | PROT_GROWSUP);
    if (grows === (PROT_GROWSDOWN | PROT_GROWSUP))
      throw new SysError("EINVAL", fn, "both grows flags");
    if (start % PAGE_SIZE !== 0) throw new SysError("EINVAL", fn, "unaligned start");
    if (len === 0) return;
    const end = start + pageAlign(len);
    // arm64_validate_prot() without BTI or MTE.
    if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM)) {
      throw new SysError("EINVAL", fn, "unsupported protection bits");
    }
    let vma = this.findVmaIntersection(start, end);
    if (!vma) throw new SysError("ENOMEM", fn, "no mapping in range");
    if (grows & PROT_GROWSDOWN) {
      if (!(vma.flags & VM_GROWSDOWN)) throw new SysError("EINVAL", fn, "not a grows-down mapping");
      start = vma.start;
    } else if (grows & PROT_GROWSUP) {
      throw new SysError("EINVAL", fn, "no grows-up mappings on arm64");
    } else if (vma.start > start) {
      throw new SysError("ENOMEM", fn, "range starts in a hole");
    }
    let nstart = start;
    let tmp = vma.start;
    while (vma && vma.start < end) {
      if (vma.start !== tmp) throw new SysError("ENOMEM", fn, "hole in range");
      const newFlags = calcVmProtBits(prot) | (vma.flags & ~VM_ACCESS_FLAGS);
      // VM_MAY* sit four bits above the matching VM_* bits.
      if (newFlags & ~(newFlags >> 4) & VM_ACCESS_FLAGS) {
        throw new SysError("EACCES", fn, "protection not allowed by the mapping");
      }
      tmp = Math.min(vma.end, end);
      const done = this.mprotectFixup(vma, nstart, tmp, newFlags);
      tmp = done.end;
      nstart = tmp;
      vma = this.findVma(nstart);
    }
    if (tmp < end) throw new SysError("ENOMEM", fn, "range runs past the last mapping");
  }

  /** mm/mprotect.c: mprotect_fixup(). */
  private mprotectFixup(vma: Vma, start: number, end: number, newFlags: number): Vma {
    const old = vma.flags;
    if (newFlags === old) return vma;
    if (newFlags & VM_WRITE) {
      if (!(old & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE))) {
        newFlags |= VM_ACCOUNT;
      }
    } else if (old & VM_ACCOUNT && vma.isAnonymous() && !vma.anonVma) {
      newFlags &= ~VM_ACCOUNT;
    }
    const v = this.vmaModifyFlags(vma, start, end, newFlags);
    // A locked private mapping becoming writable breaks COW now rather than at the first write.
    if ((old & (VM_WRITE | VM_SHARED | VM_LOCKED)) === VM_LOCKED && newFlags & VM_WRITE) {
      this.populateVmaPageRange(v, start, end);
    }
    return v;
  }

  /**
   * mm/vma.c: vma_modify_flags() — gives [start, end) of `vma` the flags `newFlags`, merging
   * with a compatible neighbour when possible and splitting otherwise. Returns the VMA now
   * covering the range.
   */
  vmaModifyFlags(vma: Vma, start: number, end: number, newFlags: number): Vma {
    const i = this.indexOfVma(vma);
    const prev = i > 0 ? this.vmas[i - 1] : undefined;
    const next = this.vmas[i + 1];
    const leftEdge = start === vma.start;
    const rightEdge = end === vma.end;
    const pages = (end - start) / PAGE_SIZE;
    const pgoff = vma.pgoff + (start - vma.start) / PAGE_SIZE;
    // VM_SPECIAL mappings (PFN maps) never merge.
    const same = (o: Vma) =>
      !(newFlags & VM_SPECIAL) &&
      ((o.flags ^ newFlags) & ~VM_SOFTDIRTY) === 0 &&
      o.file === vma.file &&
      o.shmem === vma.shmem &&
      anonVmaCompatible(o.anonVma, vma.anonVma);
    let mergeLeft =
      leftEdge &&
      prev !== undefined &&
      prev.end === start &&
      same(prev) &&
      prev.pgoff + prev.pages === pgoff;
    let mergeRight =
      rightEdge &&
      next !== undefined &&
      next.start === end &&
      same(next) &&
      next.pgoff === pgoff + pages;
    if (
      mergeLeft &&
      mergeRight &&
      (!anonVmaCompatible(prev!.anonVma, next!.anonVma) || next!.vmOps?.close)
    ) {
      mergeRight = false;
    }
    // A merge that would delete `vma` needs it to have no close hook.
    if ((mergeLeft || mergeRight) && leftEdge && rightEdge && vma.vmOps?.close) {
      mergeLeft = false;
      mergeRight = false;
    }
    if (mergeLeft && mergeRight) {
      prev!.end = next!.end;
      if (!prev!.anonVma) prev!.anonVma = vma.anonVma || next!.anonVma;
      this.removeMerged(vma);
      this.removeMerged(next!);
      return prev!;
    }
    if (mergeLeft) {
      prev!.end = end;
      if (!prev!.anonVma) prev!.anonVma = vma.anonVma;
      if (rightEdge) this.removeMerged(vma);
      else {
        vma.start = end;
        vma.pgoff += pages;
      }
      return prev!;
    }
    if (mergeRight) {
      next!.start = start;
      next!.pgoff = pgoff;
      if (!next!.anonVma) next!.anonVma = vma.anonVma;
      if (leftEdge) this.removeMerged(vma);
      else vma.end = start;
      return next!;
    }
    if (start > vma.start) this.splitVma(vma, start, true, true);
    if (end < vma.end) this.splitVma(vma, end, false, true);
    vma.flags = newFlags;
    return vma;
  }

  /**
   * mm/vma.c: __split_vma() (split_vma() when `checkMapCount`): a new VMA takes the part below
   * `addr` (`newBelow`) or from `addr` up; `vma` keeps the rest.
   */
  private splitVma(vma: Vma, addr: number, newBelow: boolean, checkMapCount: boolean): Vma {
    if (checkMapCount && this.vmas.length >= this.maxMapCount) {
      throw new SysError("ENOMEM", "split_vma", "max_map_count");
    }
    if (this.allocator.shouldFail("vm_area_dup")) {
      throw new SysError("ENOMEM", "__split_vma", "fault injection");
    }
    const n = vma.dup();
    const delta = (addr - vma.start) / PAGE_SIZE;
    if (newBelow) {
      n.end = addr;
      vma.start = addr;
      vma.pgoff += delta;
    } else {
      n.start = addr;
      n.pgoff += delta;
      vma.end = addr;
    }
    n.file?.getFile?.();
    n.vmOps?.open?.(n);
    this.insertVma(n);
    return n;
  }

  // ---------------------------------------------------------------------------------------
  // Faults and page-table updates

  /**
   * mm/memory.c: handle_mm_fault() for one page: returns the pfn now mapped at `va`. Fails with
   * EFAULT where the fault would be VM_FAULT_SIGBUS and ENOMEM for VM_FAULT_OOM.
   */
  handleMmFault(vma: Vma, va: number, write: boolean): number {
    const vpn = Math.floor(va / PAGE_SIZE);
    const cur = this.pageTable.lookup(vpn);
    if (vma.flags & VM_PFNMAP) {
      if (cur >= 0) return cur;
      throw new SysError("EFAULT", "do_fault", "PFN map has no entry here (SIGBUS)");
    }
    if (vma.shmem) return this.shmemFault(vma, va, vpn, cur, write);
    if (cur >= 0) {
      if (write) this.markDirty(vpn, cur);
      return cur;
    }
    // do_anonymous_page()
    this.anonVmaPrepare(vma);
    const pfn = this.oomToErrno(() => this.allocator.allocPage({ kind: "anon", zero: true }));
    this.allocator.setRmap(pfn, this.ownerId, vpn);
    this.installPage(vma, vpn, pfn, write);
    this.allocator.putPage(pfn);
    return pfn;
  }

  /** mm/shmem.c: shmem_fault(), and do_cow_fault()/do_wp_page() for private mappings. */
  private shmemFault(vma: Vma, va: number, vpn: number, cur: number, write: boolean): number {
    const obj = vma.shmem!;
    const priv = !(vma.flags & VM_SHARED);
    if (cur >= 0) {
      if (write && priv && !(this.allocator.pageFlags(cur) & PG.anon)) {
        return this.cowPage(vma, vpn, cur, true);
      }
      if (write) this.markDirty(vpn, cur);
      return cur;
    }
    const index = vma.linearPageIndex(va);
    if (index * PAGE_SIZE >= obj.size) {
      throw new SysError("EFAULT", "shmem_fault", "beyond EOF (SIGBUS)");
    }
    const pfn = this.oomToErrno(() => obj.getPage(index));
    if (write && priv) return this.cowPage(vma, vpn, pfn, false);
    this.installPage(vma, vpn, pfn, write);
    return pfn;
  }

  /** mm/memory.c: wp_page_copy(): a private copy of `srcPfn` replaces (or becomes) the PTE. */
  private cowPage(vma: Vma, vpn: number, srcPfn: number, present: boolean): number {
    this.anonVmaPrepare(vma);
    const pfn = this.oomToErrno(() => this.allocator.allocPage({ kind: "anon" }));
    this.allocator.copyFrame(pfn, srcPfn);
    this.allocator.setRmap(pfn, this.ownerId, vpn);
    if (present) {
      this.pageTable.clear(vpn);
      this.unmapPage(vma, srcPfn);
    }
    this.installPage(vma, vpn, pfn, true);
    this.allocator.putPage(pfn);
    return pfn;
  }

  private installPage(vma: Vma, vpn: number, pfn: number, write: boolean): void {
    this.allocator.mapAdd(pfn);
    this.pageTable.set(vpn, pfn, write ? PTE.dirty : 0);
    if (write) this.allocator.setPageFlags(pfn, PG.dirty);
    if (vma.flags & VM_LOCKED) this.allocator.setPageFlags(pfn, PG.mlocked);
  }

  private markDirty(vpn: number, pfn: number): void {
    this.pageTable.mark(vpn, PTE.dirty);
    if (!(this.pageTable.bits(vpn) & PTE.special)) this.allocator.setPageFlags(pfn, PG.dirty);
  }

  private oomToErrno<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (SysError.isInstance(e) && e.code === "ENOMEM") {
        throw new SysError("ENOMEM", "handle_mm_fault", "VM_FAULT_OOM");
      }
      throw e;
    }
  }

  /** mm/rmap.c: anon_vma_prepare(), reusing a compatible neighbour's (find_mergeable_anon_vma). */
  private anonVmaPrepare(vma: Vma): void {
    if (vma.anonVma) return;
    const i = this.indexOfVma(vma);
    const compatible = (a: Vma, b: Vma) =>
      a.end === b.start &&
      a.file === b.file &&
      ((a.flags ^ b.flags) & ~(VM_ACCESS_FLAGS | VM_SOFTDIRTY)) === 0 &&
      b.pgoff === a.pgoff + (b.start - a.start) / PAGE_SIZE;
    const next = i >= 0 ? this.vmas[i + 1] : undefined;
    const prev = i > 0 ? this.vmas[i - 1] : undefined;
    if (next?.anonVma && compatible(vma, next)) vma.anonVma = next.anonVma;
    else if (prev?.anonVma && compatible(prev, vma)) vma.anonVma = prev.anonVma;
    else vma.anonVma = this.nextAnonVma++;
  }

  /**
   * The page a GUP walk may take as is (follow_page_mask()), or -1 when it must fault: absent,
   * or a write through a private mapping of a page-cache page (COW pending).
   */
  followPage(vma: Vma, va: number, write: boolean): number {
    const vpn = Math.floor(va / PAGE_SIZE);
    const pfn = this.pageTable.lookup(vpn);
    if (pfn < 0) return -1;
    if (
      write &&
      vma.shmem &&
      !(vma.flags & VM_SHARED) &&
      !(this.allocator.pageFlags(pfn) & PG.anon)
    ) {
      return -1;
    }
    if (write) this.markDirty(vpn, pfn);
    return pfn;
  }

  /** zap_page_range_single(): clears the PTEs of [start, end) in `vma`, dropping page refs. */
  zapRange(vma: Vma, start: number, end: number): void {
    this.pageTable.forEachPresent(start / PAGE_SIZE, end / PAGE_SIZE, (vpn, pfn, bits) => {
      this.pageTable.clear(vpn);
      if (!(bits & PTE.special)) this.unmapPage(vma, pfn);
    });
  }

  /** The rmap side of a PTE going away: mapcount, reference, mlock state, anon ownership. */
  private unmapPage(vma: Vma, pfn: number): void {
    const a = this.allocator;
    const { index } = a.rmapOf(pfn);
    a.mapRemove(pfn);
    if (!a.isAllocated(pfn)) return;
    const flags = a.pageFlags(pfn);
    if (flags & PG.anon) {
      if (a.mapCount(pfn) === 0) a.setRmap(pfn, 0, 0);
      a.clearPageFlags(pfn, PG.mlocked);
    } else if (flags & PG.mlocked) {
      if (!vma.shmem?.isMappedLocked(index, pfn)) a.clearPageFlags(pfn, PG.mlocked);
    }
  }

  /**
   * mm/mlock.c: mlock_vma_pages_range() — brings PG_mlocked of the present pages of
   * [start, end) in line with the VMA's VM_LOCKED.
   */
  mlockVmaPages(vma: Vma, start: number, end: number): void {
    const lock = (vma.flags & VM_LOCKED) !== 0;
    const a = this.allocator;
    this.pageTable.forEachPresent(start / PAGE_SIZE, end / PAGE_SIZE, (_vpn, pfn, bits) => {
      if (bits & PTE.special) return;
      if (lock) a.setPageFlags(pfn, PG.mlocked);
      else if (a.pageFlags(pfn) & PG.anon) a.clearPageFlags(pfn, PG.mlocked);
      else if (!vma.shmem?.isMappedLocked(a.rmapOf(pfn).index, pfn)) {
        a.clearPageFlags(pfn, PG.mlocked);
      }
    });
  }

  /** RmapOwner: an anonymous page (index = its vpn) moved to another frame. */
  rmapMigrate(index: number, oldPfn: number, newPfn: number): void {
    if (this.pageTable.lookup(index) === oldPfn) this.pageTable.replace(index, newPfn);
  }

  // ---------------------------------------------------------------------------------------
  // GUP core and populate

  /**
   * mm/gup.c: __get_user_pages() — walks `nrPages` pages from `start`, faulting them in and,
   * with `pin`, pinning each (its pfn pushed to `out`). Returns the pages done; the error only
   * when none were (`i ? i : ret`).
   */
  getUserPages(start: number, nrPages: number, flags: GupFlags, out?: number[]): GupResult {
    let vma: Vma | undefined;
    let i = 0;
    let error: SysError | undefined;
    const write = flags.write === true;
    while (i < nrPages) {
      const va = start + i * PAGE_SIZE;
      if (!vma || va >= vma.end) {
        vma = this.vmaLookup(va);
        if (!vma) {
          error = new SysError("EFAULT", "__get_user_pages", `no mapping at 0x${va.toString(16)}`);
          break;
        }
        error = checkVmaFlags(vma, flags);
        if (error) break;
      }
      let pfn = this.followPage(vma, va, write);
      if (pfn < 0) {
        try {
          pfn = this.handleMmFault(vma, va, write);
        } catch (e) {
          if (!SysError.isInstance(e)) throw e;
          error = e;
          break;
        }
      }
      if (flags.pin) {
        try {
          if (this.allocator.shouldFail("try_grab_folio")) {
            throw new SysError("ENOMEM", "try_grab_folio", "fault injection");
          }
          this.allocator.pin(pfn);
        } catch (e) {
          if (!SysError.isInstance(e)) throw e;
          error = e;
          break;
        }
      }
      out?.push(pfn);
      i++;
    }
    return i > 0 ? { count: i } : error ? { count: 0, error } : { count: 0 };
  }

  /** mm/gup.c: populate_vma_page_range(). */
  populateVmaPageRange(vma: Vma, start: number, end: number): GupResult {
    const nr = (end - start) / PAGE_SIZE;
    if (vma.flags & VM_LOCKONFAULT) return { count: nr };
    // Writable private mappings are touched with a write fault to break COW up front.
    const write = (vma.flags & (VM_WRITE | VM_SHARED)) === VM_WRITE;
    // mlock must succeed on any accessible mapping, even one without VM_READ.
    const force = (vma.flags & VM_ACCESS_FLAGS) !== 0;
    return this.getUserPages(start, nr, { write, force });
  }

  /** mm/gup.c: __mm_populate(): returns the error that stopped it, unless `ignoreErrors`. */
  mmPopulate(start: number, len: number, ignoreErrors: boolean): SysError | undefined {
    const end = start + len;
    let nstart = start;
    while (nstart < end) {
      const vma = this.findVmaIntersection(nstart, end);
      if (!vma) break;
      let nend = Math.min(end, vma.end);
      if (vma.flags & (VM_IO | VM_PFNMAP)) {
        nstart = nend;
        continue;
      }
      if (nstart < vma.start) nstart = vma.start;
      const r = this.populateVmaPageRange(vma, nstart, nend);
      if (r.error) {
        if (ignoreErrors) {
          nstart = nend;
          continue;
        }
        return r.error;
      }
      nend = nstart + r.count * PAGE_SIZE;
      nstart = nend;
    }
    return undefined;
  }

  // ---------------------------------------------------------------------------------------
  // User copies

  /** copy_from_user(): EFAULT, moving nothing, unless every byte is readable. */
  readUser(va: number, dst: Uint8Array): void {
    this.copyUser(va, dst, false, "copy_from_user");
  }

  /** copy_to_user(): EFAULT, moving nothing, unless every byte is writable. */
  writeUser(va: number, src: Uint8Array): void {
    this.copyUser(va, src, true, "copy_to_user");
  }

  private copyUser(va: number, buf: Uint8Array, write: boolean, fn: string): void {
    const len = buf.length;
    if (len === 0) return;
    if (!Number.isSafeInteger(va) || va < 0 || va + len > this.taskSize) {
      throw new SysError("EFAULT", fn, "access_ok() failed");
    }
    const firstVpn = Math.floor(va / PAGE_SIZE);
    const lastVpn = Math.floor((va + len - 1) / PAGE_SIZE);
    if (firstVpn === lastVpn && this.copyUserPresentPage(va, firstVpn, buf, write, fn)) return;
    const n = lastVpn - firstVpn + 1;
    const vmaOf: Vma[] = new Array(n);
    // Check every page before any fault or byte moves.
    let vma: Vma | undefined;
    for (let k = 0; k < n; k++) {
      const pva = (firstVpn + k) * PAGE_SIZE;
      if (!vma || pva >= vma.end) {
        vma = this.vmaLookup(pva);
        if (!vma) throw new SysError("EFAULT", fn, `no mapping at 0x${pva.toString(16)}`);
        const need = write ? VM_WRITE : VM_READ | VM_WRITE;
        if (!(vma.flags & need)) {
          throw new SysError(
            "EFAULT",
            fn,
            `0x${pva.toString(16)} is not ${write ? "writable" : "readable"}`,
          );
        }
      }
      vmaOf[k] = vma;
      const present = this.pageTable.lookup(firstVpn + k) >= 0;
      if (!present && vma.flags & VM_PFNMAP) {
        throw new SysError("EFAULT", fn, `PFN map hole at 0x${pva.toString(16)}`);
      }
      if (!present && vma.shmem && vma.linearPageIndex(pva) * PAGE_SIZE >= vma.shmem.size) {
        throw new SysError("EFAULT", fn, `0x${pva.toString(16)} is beyond the end of the object`);
      }
    }
    const pfns = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const pva = (firstVpn + k) * PAGE_SIZE;
      const v = vmaOf[k]!;
      let pfn = this.followPage(v, pva, write);
      if (pfn < 0) {
        try {
          pfn = this.handleMmFault(v, pva, write);
        } catch (e) {
          if (!SysError.isInstance(e)) throw e;
          throw new SysError("EFAULT", fn, `fault at 0x${pva.toString(16)} failed: ${e.code}`);
        }
      }
      pfns[k] = pfn;
    }
    let done = 0;
    for (let k = 0; k < n; k++) {
      const pva = (firstVpn + k) * PAGE_SIZE;
      const off = k === 0 ? va & PAGE_MASK_LOW : 0;
      const chunk = Math.min(PAGE_SIZE - off, len - done);
      const phys = pfns[k]! * PAGE_SIZE + off;
      const sub = buf.subarray(done, done + chunk);
      if (this.pageTable.bits(firstVpn + k) & PTE.special) {
        const e = write
          ? this.bus.tryWriteBytes(phys, sub, "cpu")
          : this.bus.tryReadBytes(phys, sub, "cpu");
        if (e) {
          throw new SysError(
            "EFAULT",
            fn,
            `bus error at 0x${pva.toString(16)} (user access: SIGBUS)`,
          );
        }
      } else if (write) {
        this.allocator.memory.write(phys, sub);
      } else {
        this.allocator.memory.read(phys, sub);
      }
      done += chunk;
    }
  }

  /**
   * The common cases of a user copy within one page that is already present with the needed
   * access, which the general path would handle identically with no fault to take: a syscall
   * argument in RAM, and a load or store of a user-space driver to an mmap'd MMIO page
   * (VM_PFNMAP, special PTE), which goes straight to the bus. Returns false (and does nothing)
   * for anything else, which the general path then does.
   */
  private copyUserPresentPage(
    va: number,
    vpn: number,
    buf: Uint8Array,
    write: boolean,
    fn: string,
  ): boolean {
    const vma = this.vmaLookup(va);
    if (!vma || !(vma.flags & (write ? VM_WRITE : VM_READ | VM_WRITE))) return false;
    const pfn = this.followPage(vma, va, write);
    if (pfn < 0) return false;
    const phys = pfn * PAGE_SIZE + (va & PAGE_MASK_LOW);
    if (this.pageTable.bits(vpn) & PTE.special) {
      const e = this.busAccess(phys, buf, write);
      if (e) {
        const pva = vpn * PAGE_SIZE;
        throw new SysError(
          "EFAULT",
          fn,
          `bus error at 0x${pva.toString(16)} (user access: SIGBUS)`,
        );
      }
    } else if (write) {
      this.allocator.memory.write(phys, buf);
    } else {
      this.allocator.memory.read(phys, buf);
    }
    return true;
  }

  /**
   * A user access to a special (remapped MMIO) page: what tryReadBytes/tryWriteBytes do, with
   * the aligned 32-bit load or store — a user-space driver's register access — issued as the
   * one bus access those would make, without their run decoding.
   */
  private busAccess(phys: number, buf: Uint8Array, write: boolean): BusError | undefined {
    if (buf.length !== 4 || phys % 4 !== 0) {
      return write
        ? this.bus.tryWriteBytes(phys, buf, "cpu")
        : this.bus.tryReadBytes(phys, buf, "cpu");
    }
    if (write) {
      const v = buf[0]! | (buf[1]! << 8) | (buf[2]! << 16) | (buf[3]! << 24);
      return this.bus.tryWrite(phys, 4, v >>> 0, "cpu");
    }
    const v = this.bus.tryRead(phys, 4, "cpu");
    if (typeof v !== "number") return v;
    buf[0] = v & 0xff;
    buf[1] = (v >>> 8) & 0xff;
    buf[2] = (v >>> 16) & 0xff;
    buf[3] = v >>> 24;
    return undefined;
  }

  // ---------------------------------------------------------------------------------------
  // Teardown and the VMA array

  /** mm/mmap.c: exit_mmap() — unmaps everything; the mm is unusable afterwards. */
  exitMmap(): void {
    if (this.exited) return;
    const all = [...this.vmas];
    for (const v of all) this.zapRange(v, v.start, v.end);
    this.vmas = [];
    this.lockedVm = 0;
    for (const v of all) {
      v.shmem?.unlinkVma(v);
      v.vmOps?.close?.(v);
      v.file?.fput?.();
    }
    this.allocator.unregisterOwner(this.ownerId);
    this.exited = true;
  }

  private insertVma(vma: Vma): void {
    this.vmas.splice(this.indexOf(vma.start), 0, vma);
    vma.shmem?.linkVma(vma);
  }

  private detachVma(vma: Vma): void {
    const i = this.indexOfVma(vma);
    if (i >= 0) this.vmas.splice(i, 1);
  }

  /** A VMA swallowed by a merge: it leaves the tree and drops its object and file references. */
  private removeMerged(vma: Vma): void {
    this.detachVma(vma);
    vma.shmem?.unlinkVma(vma);
    vma.file?.fput?.();
  }

  private nextOf(vma: Vma): Vma | undefined {
    const i = this.indexOfVma(vma);
    return i >= 0 ? this.vmas[i + 1] : undefined;
  }

  /** Index of the first VMA with end > va (binary search). */
  private indexOf(va: number): number {
    let lo = 0;
    let hi = this.vmas.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.vmas[mid]!.end <= va) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private indexOfVma(vma: Vma): number {
    const i = this.indexOf(vma.start);
    if (this.vmas[i] === vma) return i;
    // Mid-merge a neighbour may already overlap `vma`'s old range.
    return this.vmas.indexOf(vma);
  }
}

/** mm/gup.c: check_vma_flags(). */
function checkVmaFlags(vma: Vma, flags: GupFlags): SysError | undefined {
  const fn = "check_vma_flags";
  const f = vma.flags;
  if (f & (VM_IO | VM_PFNMAP)) return new SysError("EFAULT", fn, "VM_IO|VM_PFNMAP mapping");
  if (flags.write) {
    if (!(f & VM_WRITE)) {
      if (!flags.force) return new SysError("EFAULT", fn, "mapping not writable");
      if (!isCowMapping(f)) return new SysError("EFAULT", fn, "forced write to a shared mapping");
    }
  } else if (!(f & VM_READ)) {
    if (!flags.force) return new SysError("EFAULT", fn, "mapping not readable");
    if (!(f & VM_MAYREAD)) return new SysError("EFAULT", fn, "mapping never readable");
  }
  return undefined;
}
