/**
 * Shared memory objects (mm/shmem.c's tmpfs inode and page cache) and memfd_create()/file
 * sealing (mm/memfd.c).
 *
 * A `ShmemObject` owns a page array indexed by page offset (chunked typed arrays, like the page
 * tables), an `i_size`, its seals and the list of VMAs mapping it (the `i_mmap` tree the rmap
 * walks). It backs memfds, MAP_SHARED|MAP_ANONYMOUS mappings ("/dev/zero (deleted)"), and is
 * what iommufd's IOMMU_IOAS_MAP_FILE pins by file offset (see `memfdPinFolios` in gup.ts).
 * The fd itself belongs to the VFS: it holds one object reference and hands `mmap` the object's
 * `ShmemFile` (one per open file, so that adjacent mappings of it merge as Linux's do).
 *
 * Caveats: no swap, no huge pages (shmem_enabled=never, so no PMD placement either), no
 * hugetlbfs memfds (MFD_HUGETLB fails with ENOSYS, as in a kernel without CONFIG_HUGETLBFS);
 * memfd_wait_for_pins() does not wait — a pinned page makes F_SEAL_WRITE fail at once with EBUSY,
 * which is where Linux ends after its retries.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { SysError } from "../errno.js";
import {
  F_ALL_SEALS,
  F_SEAL_EXEC,
  F_SEAL_FUTURE_WRITE,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  FMODE_READ,
  FMODE_WRITE,
  MFD_ALL_FLAGS,
  MFD_ALLOW_SEALING,
  MFD_EXEC,
  MFD_HUGETLB,
  MFD_NAME_MAX_LEN,
  MFD_NOEXEC_SEAL,
} from "./mman.js";
import { type PageAllocator, PG, type RmapOwner } from "./page-allocator.js";
import { type MmapFile, VM_LOCKED, VM_MAYWRITE, VM_SHARED, VM_WRITE, type Vma } from "./vma.js";

const CHUNK = 512;
/** MFD_HUGE_SHIFT / MFD_HUGE_MASK: a huge page size encoded in memfd_create() flags. */
const MFD_HUGE_SHIFT = 26;
const MFD_HUGE_MASK = 0x3f;

export class ShmemObject implements RmapOwner {
  readonly ownerId: number;
  /** F_SEAL_* set on the inode; a new shmem file starts sealed against sealing. */
  seals = F_SEAL_SEAL;
  /** Whether the inode mode has exec bits (memfd without MFD_NOEXEC_SEAL). */
  execMode = true;
  private sizeBytes: number;
  private readonly chunks = new Map<number, Float64Array>();
  private resident = 0;
  private refs = 1;
  private readonly mappings = new Set<Vma>();

  constructor(
    readonly allocator: PageAllocator,
    /** The name /proc/<pid>/maps shows for a mapping of it. */
    readonly mapsName: string,
    size = 0,
  ) {
    this.sizeBytes = size;
    this.ownerId = allocator.registerOwner(this);
  }

  /** i_size in bytes. */
  get size(): number {
    return this.sizeBytes;
  }

  /** Pages present in the page cache. */
  get nrPages(): number {
    return this.resident;
  }

  /** The VMAs mapping the object, in the order they were linked (the i_mmap walk order). */
  get vmas(): readonly Vma[] {
    return [...this.mappings];
  }

  /** ihold(): one more reference (an open file, a VMA). */
  get(): this {
    this.refs++;
    return this;
  }

  /** iput(): the last reference frees every page still in the cache. */
  put(): void {
    if (--this.refs > 0) return;
    this.removePages(0);
    this.allocator.unregisterOwner(this.ownerId);
  }

  /** filemap_get_folio(): the pfn caching page `index`, or -1. */
  findPage(index: number): number {
    const c = this.chunks.get(Math.floor(index / CHUNK));
    const v = c ? c[index % CHUNK]! : 0;
    return v === 0 ? -1 : v - 1;
  }

  /**
   * mm/shmem.c: shmem_get_folio(SGP_CACHE) — the page at `index`, allocated (zeroed) into the
   * cache when absent. EINVAL at or beyond EOF (a fault turns that into SIGBUS).
   */
  getPage(index: number): number {
    const found = this.findPage(index);
    if (found >= 0) return found;
    if (index * PAGE_SIZE >= this.sizeBytes) {
      throw new SysError("EINVAL", "shmem_get_folio", `page ${index} beyond EOF`);
    }
    return this.addCachePage(index);
  }

  /** shmem_alloc_and_add_folio(): a zeroed page enters the cache at `index`. */
  private addCachePage(index: number): number {
    const pfn = this.allocator.allocPage({ kind: "shmem", zero: true });
    this.allocator.setPageFlags(pfn, PG.pagecache);
    this.allocator.setRmap(pfn, this.ownerId, index);
    this.store(index, pfn);
    return pfn;
  }

  /** mm/shmem.c: shmem_setattr() size change (ftruncate), with the seal checks. */
  setSize(newSize: number): void {
    const fn = "shmem_setattr";
    if (!Number.isInteger(newSize) || newSize < 0) throw new SysError("EINVAL", fn);
    if (newSize > Number.MAX_SAFE_INTEGER) throw new SysError("EFBIG", fn);
    const old = this.sizeBytes;
    if (
      (newSize < old && this.seals & F_SEAL_SHRINK) ||
      (newSize > old && this.seals & F_SEAL_GROW)
    ) {
      throw new SysError("EPERM", fn, "sealed");
    }
    this.sizeBytes = newSize;
    if (newSize >= old) return;
    // The tail of a partial last page must read as zeros if the file grows again.
    const partial = newSize % PAGE_SIZE;
    if (partial !== 0) {
      const pfn = this.findPage(Math.floor(newSize / PAGE_SIZE));
      if (pfn >= 0) this.allocator.memory.peekFrame(pfn)?.fill(0, partial);
    }
    this.removePages(Math.ceil(newSize / PAGE_SIZE));
  }

  /** shmem_file_read_iter(): bytes read at `offset` (0 at EOF); holes read as zeros. */
  readAt(offset: number, dst: Uint8Array): number {
    if (offset >= this.sizeBytes) return 0;
    const n = Math.min(dst.length, this.sizeBytes - offset);
    let done = 0;
    while (done < n) {
      const pos = offset + done;
      const off = pos % PAGE_SIZE;
      const len = Math.min(PAGE_SIZE - off, n - done);
      const pfn = this.findPage(Math.floor(pos / PAGE_SIZE));
      const frame = pfn >= 0 ? this.allocator.memory.peekFrame(pfn) : undefined;
      if (frame) dst.set(frame.subarray(off, off + len), done);
      else dst.fill(0, done, done + len);
      done += len;
    }
    return n;
  }

  /**
   * generic_perform_write() through shmem_write_begin(): page by page, growing i_size; returns
   * the bytes written, or throws when the first page already fails (seals, ENOMEM).
   */
  writeAt(offset: number, src: Uint8Array): number {
    let done = 0;
    while (done < src.length) {
      const pos = offset + done;
      const off = pos % PAGE_SIZE;
      const len = Math.min(PAGE_SIZE - off, src.length - done);
      try {
        if (this.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) {
          throw new SysError("EPERM", "shmem_write_begin", "write-sealed");
        }
        if (this.seals & F_SEAL_GROW && pos + len > this.sizeBytes) {
          throw new SysError("EPERM", "shmem_write_begin", "grow-sealed");
        }
        const index = Math.floor(pos / PAGE_SIZE);
        // SGP_WRITE: a write may create pages beyond EOF.
        const found = this.findPage(index);
        const pfn = found >= 0 ? found : this.addCachePage(index);
        this.allocator.memory.frameForWrite(pfn).set(src.subarray(done, done + len), off);
        this.allocator.setPageFlags(pfn, PG.dirty);
      } catch (e) {
        if (done > 0) break;
        throw e;
      }
      done += len;
      if (pos + len > this.sizeBytes) this.sizeBytes = pos + len;
    }
    return done;
  }

  /** mm/memfd.c: memfd_add_seals() (fcntl F_ADD_SEALS); `fMode` is the caller's file mode. */
  addSeals(seals: number, fMode: number): void {
    const fn = "memfd_add_seals";
    if (!(fMode & FMODE_WRITE)) throw new SysError("EPERM", fn, "file not open for writing");
    if (seals & ~F_ALL_SEALS) throw new SysError("EINVAL", fn, "unknown seal");
    if (this.seals & F_SEAL_SEAL) throw new SysError("EPERM", fn, "F_SEAL_SEAL is set");
    if (seals & F_SEAL_WRITE && !(this.seals & F_SEAL_WRITE)) {
      // mapping_deny_writable(): no shared writable mapping may exist.
      for (const v of this.mappings) {
        if ((v.flags & (VM_SHARED | VM_MAYWRITE)) === (VM_SHARED | VM_MAYWRITE)) {
          throw new SysError("EBUSY", fn, "shared writable mapping exists");
        }
      }
      // memfd_wait_for_pins(): a page with references beyond the cache and its mappings.
      for (const [key, c] of this.chunks) {
        for (let i = 0; i < CHUNK; i++) {
          const v = c[i]!;
          if (v === 0) continue;
          const pfn = v - 1;
          if (this.allocator.refCount(pfn) - this.allocator.mapCount(pfn) !== 1) {
            throw new SysError("EBUSY", fn, `page ${key * CHUNK + i} is pinned`);
          }
        }
      }
    }
    // F_SEAL_EXEC on an executable file implies the write seals (W^X from the start).
    if (seals & F_SEAL_EXEC && this.execMode) {
      seals |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;
    }
    this.seals |= seals;
  }

  /** Opens the object as a file of mode `fMode` (what the VFS hands `mmap`). */
  openFile(fMode = FMODE_READ | FMODE_WRITE): ShmemFile {
    return new ShmemFile(this, fMode);
  }

  /** vma_interval_tree_insert(): a VMA maps the object (it holds a reference). */
  linkVma(vma: Vma): void {
    if (this.mappings.has(vma)) return;
    this.mappings.add(vma);
    this.get();
  }

  /** vma_interval_tree_remove(). */
  unlinkVma(vma: Vma): void {
    if (!this.mappings.delete(vma)) return;
    this.put();
  }

  /** True when some VM_LOCKED mapping still maps `pfn` at page `index` (mlock_count > 0). */
  isMappedLocked(index: number, pfn: number): boolean {
    for (const v of this.mappings) {
      if (!(v.flags & VM_LOCKED)) continue;
      const va = vaOfIndex(v, index);
      if (va >= 0 && v.mm.pageTable.lookup(va / PAGE_SIZE) === pfn) return true;
    }
    return false;
  }

  /** RmapOwner: migration moved page `index`; fix the cache slot and every PTE mapping it. */
  rmapMigrate(index: number, oldPfn: number, newPfn: number): void {
    if (this.findPage(index) === oldPfn) this.store(index, newPfn);
    for (const v of this.mappings) {
      const va = vaOfIndex(v, index);
      if (va < 0) continue;
      const vpn = va / PAGE_SIZE;
      if (v.mm.pageTable.lookup(vpn) === oldPfn) v.mm.pageTable.replace(vpn, newPfn);
    }
  }

  /** Every cached page from `fromIndex` on, ascending, as [index, pfn]. */
  cachedPages(fromIndex = 0): [number, number][] {
    const out: [number, number][] = [];
    const keys = [...this.chunks.keys()].sort((a, b) => a - b);
    for (const k of keys) {
      const c = this.chunks.get(k)!;
      for (let i = 0; i < CHUNK; i++) {
        const index = k * CHUNK + i;
        if (c[i] !== 0 && index >= fromIndex) out.push([index, c[i]! - 1]);
      }
    }
    return out;
  }

  /**
   * unmap_mapping_range() + truncate_inode_pages_range() from page `fromIndex`: every mapping of
   * those pages (private copies included) is zapped, then the cache drops its references.
   */
  private removePages(fromIndex: number): void {
    for (const v of [...this.mappings]) {
      const last = v.pgoff + v.pages;
      if (last <= fromIndex) continue;
      const start = fromIndex <= v.pgoff ? v.start : v.start + (fromIndex - v.pgoff) * PAGE_SIZE;
      v.mm.zapRange(v, start, v.end);
    }
    for (const [index, pfn] of this.cachedPages(fromIndex)) {
      this.store(index, -1);
      this.allocator.clearPageFlags(pfn, PG.pagecache);
      this.allocator.setRmap(pfn, 0, 0);
      this.allocator.putPage(pfn);
    }
  }

  private store(index: number, pfn: number): void {
    const key = Math.floor(index / CHUNK);
    let c = this.chunks.get(key);
    if (!c) {
      if (pfn < 0) return;
      c = new Float64Array(CHUNK);
      this.chunks.set(key, c);
    }
    const i = index % CHUNK;
    const had = c[i] !== 0;
    c[i] = pfn < 0 ? 0 : pfn + 1;
    if (had && pfn < 0) this.resident--;
    if (!had && pfn >= 0) this.resident++;
    if (pfn < 0 && c.every((x) => x === 0)) this.chunks.delete(key);
  }
}

/** The virtual address at which `vma` maps object page `index`, or -1. */
function vaOfIndex(vma: Vma, index: number): number {
  if (index < vma.pgoff || index >= vma.pgoff + vma.pages) return -1;
  return vma.start + (index - vma.pgoff) * PAGE_SIZE;
}

/** An open shmem file as `mmap` sees it (its f_op->mmap is shmem_mmap()). */
export class ShmemFile implements MmapFile {
  readonly hasGetUnmappedArea = true;
  readonly mmap: (vma: Vma) => void;

  constructor(
    readonly object: ShmemObject,
    readonly fMode: number,
  ) {
    this.mmap = (vma) => this.shmemMmap(vma);
  }

  get mapsName(): string {
    return this.object.mapsName;
  }

  getFile(): void {
    this.object.get();
  }

  fput(): void {
    this.object.put();
  }

  /** mm/shmem.c: shmem_mmap() with seal_check_write(). */
  private shmemMmap(vma: Vma): void {
    if (this.object.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) {
      if (vma.flags & VM_SHARED && vma.flags & VM_WRITE) {
        throw new SysError("EPERM", "shmem_mmap", "write-sealed memfd");
      }
      // A sealed file may be mapped shared read-only, but never mprotect()ed writable.
      if (vma.flags & VM_SHARED) vma.flags &= ~VM_MAYWRITE;
    }
    vma.setShmem(this.object);
  }
}

/**
 * mm/memfd.c: memfd_create() minus the fd: validates `flags` and `name` in the kernel's order
 * and returns the new object (one reference, for the file the VFS creates).
 */
export function memfdCreate(allocator: PageAllocator, name: string, flags: number): ShmemObject {
  const fn = "memfd_create";
  flags >>>= 0;
  const allowed =
    flags & MFD_HUGETLB ? MFD_ALL_FLAGS | (MFD_HUGE_MASK << MFD_HUGE_SHIFT) : MFD_ALL_FLAGS;
  if ((flags & ~allowed) >>> 0 !== 0) throw new SysError("EINVAL", fn, "unknown flags");
  if (flags & MFD_EXEC && flags & MFD_NOEXEC_SEAL) {
    throw new SysError("EINVAL", fn, "MFD_EXEC with MFD_NOEXEC_SEAL");
  }
  // vm.memfd_noexec = 0: a memfd created without either flag is executable.
  if (!(flags & (MFD_EXEC | MFD_NOEXEC_SEAL))) flags |= MFD_EXEC;
  if (new TextEncoder().encode(name).length > MFD_NAME_MAX_LEN) {
    throw new SysError("EINVAL", fn, "name too long");
  }
  if (flags & MFD_HUGETLB) throw new SysError("ENOSYS", "hugetlb_file_setup", "no hugetlbfs");
  if (allocator.shouldFail("shmem_file_setup")) {
    throw new SysError("ENOMEM", "shmem_file_setup", "fault injection");
  }
  const obj = new ShmemObject(allocator, `/memfd:${name} (deleted)`);
  if (flags & MFD_NOEXEC_SEAL) {
    obj.execMode = false;
    obj.seals |= F_SEAL_EXEC;
  }
  if (flags & MFD_ALLOW_SEALING) obj.seals &= ~F_SEAL_SEAL;
  return obj;
}
