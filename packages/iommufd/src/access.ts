/**
 * Access objects: the access half of drivers/iommu/iommufd/device.c (`struct iommufd_access`,
 * iommufd_access_create/_attach/_replace/_detach/_destroy, iommufd_access_pin_pages/_unpin_pages,
 * iommufd_access_rw, iommufd_access_notify_unmap) and the internal accesses viommu.c uses for
 * HW queues.
 *
 * An access is how a driver without a DMA-capable IOMMU behind it — an emulated device (mdev,
 * vfio-ap, vfio-ccw), whose "DMA" is the CPU copying through the kernel — reaches an IOAS. It
 * pins pages through IOVAs (`pinPages`, the PFNs come back for kmap) or copies through them
 * (`rw`). Its object ID is what VFIO hands user space as the emulated device's `dev_id`.
 *
 * Life cycle (the object never has a uAPI of its own; user space only sees its ID):
 *   create ──attach(ioas)──▶ attached ──replace(ioas')──▶ attached
 *      ▲                        │
 *      └───────detach───────────┘          destroy: detaches first, then frees the ID.
 * The driver holds a reference from create to destroy, so IOMMU_DESTROY of the ID is EBUSY, and
 * the access holds the iommufd file (`iommufd_ctx_get`) so that closing the fd cannot free the
 * context under it. An attached access holds a reference on its IOAS (IOMMU_DESTROY → EBUSY)
 * and raises the IOAS's IOVA alignment to PAGE_SIZE if it pins pages.
 *
 * Unmap protocol: IOMMU_IOAS_UNMAP of an area an access has pinned marks the area
 * `prevent_access` (new pins and rw fail EINVAL), calls every access's `ops.unmap` (which must
 * unpin what it holds in the range before returning) and retries; after 100 rounds it gives up
 * with EDEADLOCK (io-pagetable.ts). Changing or dropping the IOAS calls `ops.unmap(0, ULONG_MAX)`.
 *
 * Caveat:
 * - `ioas_lock` and the rwsems are not modelled; the one race the kernel detects
 *   (`ioas != ioas_unpin`, EBUSY) is still reachable, from a driver that re-attaches inside its
 *   own unmap callback.
 * - A driver bug the kernel only WARNs about (attach twice, detach or unpin while detached, an
 *   unpin that does not match a pin) prints the 7.3 WARNING and taints, as Linux does; a model
 *   invariant breaking inside the io_pagetable still throws KernelBug.
 * - `out_pages` are PFNs (numbers), the model's `struct page *`.
 * - CONFIG_IOMMUFD_TEST's sanity WARN in pin_pages (ops without unmap) is not in a production
 *   kernel and not modelled.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { IOMMU_READ, IOMMU_WRITE, type Kernel, SysError, type Task } from "@vfio-lab/kernel";
import {
  type IoPagetable,
  type IoptAccess,
  IoptAreaContigIter,
  ULONG_MAX,
} from "./io-pagetable.js";
import { type IommufdIoas, iommufdGetIoas } from "./ioas.js";
import type { IommufdCtx } from "./main.js";
import { IommufdObject, REMOVE_WAIT } from "./object.js";
import {
  ioptAreaAddAccess,
  ioptAreaRemoveAccess,
  ioptPagesRwAccess,
  type PfnArray,
} from "./pages.js";
import { IOMMUFD_ACCESS_RW_WRITE } from "./uapi.js";

const DEVICE_C = "drivers/iommu/iommufd/device.c";
const PRIVATE_H = "drivers/iommu/iommufd/iommufd_private.h";

/** include/linux/iommufd.h: `struct iommufd_access_ops`. */
export interface IommufdAccessOps<D = unknown> {
  /** The driver calls pinPages(): the IOAS must then keep every mapping PAGE_SIZE aligned. */
  readonly needsPinPages: boolean;
  /**
   * Called when [iova, iova + length) stops being usable: the driver must unpin every range it
   * pinned that intersects it before returning. `length` is ULONG_MAX when the whole IOAS goes.
   */
  unmap(data: D, iova: bigint, length: bigint): void;
}

/** `struct iommufd_access`. */
export class IommufdAccess<D = unknown> extends IommufdObject implements IoptAccess {
  readonly type = "ACCESS" as const;
  /** What pinPages()/rw() go through; null while detached and during an IOAS change. */
  ioas: IommufdIoas | null = null;
  /** What unpinPages() goes through: stays the old IOAS while its unmap callback runs. */
  ioasUnpin: IommufdIoas | null = null;
  /** PAGE_SIZE for a pinning driver (and internal accesses), else 1. */
  readonly iovaAlignment: bigint;
  /** This access's index in its IOAS's access list (set by IoPagetable.addAccess()). */
  ioptAccessListId = 0;

  constructor(
    /** The context (`access->ictx`; the kernel leaves it NULL for internal accesses). */
    readonly ictx: IommufdCtx,
    /** The driver's ops; null for an internal access. */
    readonly ops: IommufdAccessOps<D> | null,
    readonly data: D,
  ) {
    super();
    this.iovaAlignment = ops === null || ops.needsPinPages ? BigInt(PAGE_SIZE) : 1n;
  }

  /** iommufd_private.h: iommufd_access_is_internal() — made by iommufd itself (HW queues). */
  get internal(): boolean {
    return this.ops === null;
  }

  /** device.c: iommufd_access_destroy_object() */
  destroy(): void {
    if (this.ioas) {
      try {
        iommufdAccessChangeIoas(this, null);
      } catch (e) {
        if (!SysError.isInstance(e)) throw e;
        warnOn(this.ictx.kernel, DEVICE_C, 1214, "iommufd_access_destroy_object");
      }
    }
    // The file may go now: its release then tears down the rest of the context.
    if (!this.internal) this.ictx.put();
  }
}

/** WARN_ON() of a driver's misuse: the 7.3 report and TAINT_WARN, as the kernel does. */
function warnOn(kernel: Kernel, file: string, line: number, fn: string): void {
  kernel.irq.bug.warnOn({ file, line, fn });
}

/** check_add_overflow(iova, length - 1): the last byte, or null when it wraps an unsigned long. */
function lastIovaOf(iova: bigint, length: bigint): bigint | null {
  const last = iova + length - 1n;
  return last > ULONG_MAX ? null : last;
}

function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/**
 * device.c: iommufd_access_change_ioas() — moves the access from its IOAS (if any) to
 * `newIoas` (null: detach). The new IOAS is joined first (EADDRINUSE, ENOMEM, EBUSY from
 * iopt_add_access leave everything as it was); then the driver is told to drop everything of the
 * old one and the old one is left.
 */
function iommufdAccessChangeIoas(access: IommufdAccess, newIoas: IommufdIoas | null): void {
  const ioptAccessListId = access.ioptAccessListId;
  const curIoas = access.ioas;
  // A detach or attach running inside this access's own unmap callback.
  if (curIoas !== access.ioasUnpin) {
    throw new SysError("EBUSY", "iommufd_access_change_ioas", "the IOAS is changing");
  }
  if (curIoas === newIoas) return;
  // No new pin from here on; unpinning still goes through ioasUnpin.
  access.ioas = null;
  if (newIoas) {
    try {
      newIoas.iopt.addAccess(access);
    } catch (e) {
      access.ioas = curIoas;
      throw e;
    }
    newIoas.users++;
  }
  if (curIoas) {
    if (access.ops) access.ops.unmap(access.data, 0n, ULONG_MAX);
    curIoas.iopt.removeAccess(access, ioptAccessListId);
    curIoas.users--;
  }
  access.ioas = newIoas;
  access.ioasUnpin = newIoas;
}

/** device.c: iommufd_access_change_ioas_id() — ENOENT unless `id` is an IOAS. */
function iommufdAccessChangeIoasId(access: IommufdAccess, id: number): void {
  const ioas = iommufdGetIoas(access.ictx, id);
  try {
    iommufdAccessChangeIoas(access, ioas);
  } finally {
    access.ictx.objects.put(ioas);
  }
}

/** device.c: __iommufd_access_create() — ENOMEM when the object cannot be allocated. */
function newAccess<D>(
  ictx: IommufdCtx,
  ops: IommufdAccessOps<D> | null,
  data: D,
): IommufdAccess<D> {
  const access = ictx.objects.alloc(new IommufdAccess(ictx, ops, data));
  // The calling driver is a user until it destroys the access.
  access.users++;
  return access;
}

/**
 * device.c: iommufd_access_create() — a new ACCESS object in `ictx` for a driver; its `id` is
 * the ID user space sees (VFIO's dev_id of an emulated device). Takes a reference on the
 * iommufd file until destroyed. ENOMEM when the allocation fails.
 */
export function iommufdAccessCreate<D>(
  ictx: IommufdCtx,
  ops: IommufdAccessOps<D>,
  data: D,
): IommufdAccess<D> {
  const access = newAccess(ictx, ops, data);
  ictx.get();
  ictx.objects.finalize(access);
  return access;
}

/** device.c: iommufd_access_create_internal() — for iommufd's own use (HW queue memory). */
export function iommufdAccessCreateInternal(ictx: IommufdCtx): IommufdAccess<null> {
  const access = newAccess(ictx, null, null);
  ictx.objects.finalize(access);
  return access;
}

/**
 * device.c: iommufd_access_destroy() — drops the driver's reference and destroys the object,
 * detaching it first (the driver's unmap callback runs one last time). The caller must not use
 * the access afterwards.
 */
export function iommufdAccessDestroy(access: IommufdAccess): void {
  iommufdObjectDestroyUser(access);
}

/** iommufd_private.h: iommufd_access_destroy_internal() */
export function iommufdAccessDestroyInternal(_ictx: IommufdCtx, access: IommufdAccess): void {
  iommufdObjectDestroyUser(access);
}

/**
 * iommufd_private.h: iommufd_object_destroy_user() — a failure means someone else still holds
 * the object (a kernel bug): WARN, and the object lingers until the file is closed.
 */
function iommufdObjectDestroyUser(access: IommufdAccess): void {
  try {
    access.ictx.removeObject(access, access.id, REMOVE_WAIT);
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
    warnOn(access.ictx.kernel, PRIVATE_H, 241, "iommufd_access_destroy");
  }
}

/**
 * device.c: iommufd_access_attach() — joins IOAS `ioasId`. EINVAL (and a WARN) if already
 * attached, ENOENT unless `ioasId` is an IOAS, EADDRINUSE when the IOAS holds a mapping the
 * access's alignment forbids, ENOMEM/EBUSY when the IOAS's access list cannot take it.
 */
export function iommufdAccessAttach(access: IommufdAccess, ioasId: number): void {
  if (access.ioas) {
    warnOn(access.ictx.kernel, DEVICE_C, 1319, "iommufd_access_attach");
    throw new SysError("EINVAL", "iommufd_access_attach", "already attached");
  }
  iommufdAccessChangeIoasId(access, ioasId);
}

/** device.c: iommufd_access_attach_internal() — as attach, with the IOAS object itself. */
export function iommufdAccessAttachInternal(access: IommufdAccess, ioas: IommufdIoas): void {
  if (access.ioas) {
    warnOn(access.ictx.kernel, DEVICE_C, 1336, "iommufd_access_attach_internal");
    throw new SysError("EINVAL", "iommufd_access_attach_internal", "already attached");
  }
  iommufdAccessChangeIoas(access, ioas);
}

/**
 * device.c: iommufd_access_replace() — moves an attached access to IOAS `ioasId` (a no-op for
 * the same one): ENOENT if not attached or `ioasId` is not an IOAS, else attach's errors, and
 * then it stays where it was.
 */
export function iommufdAccessReplace(access: IommufdAccess, ioasId: number): void {
  if (!access.ioas) throw new SysError("ENOENT", "iommufd_access_replace", "not attached");
  iommufdAccessChangeIoasId(access, ioasId);
}

/** device.c: iommufd_access_detach() — leaves the IOAS (a WARN if not attached). */
export function iommufdAccessDetach(access: IommufdAccess): void {
  if (!access.ioas) {
    warnOn(access.ictx.kernel, DEVICE_C, 1305, "iommufd_access_detach");
    return;
  }
  try {
    iommufdAccessChangeIoas(access, null);
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
    warnOn(access.ictx.kernel, DEVICE_C, 1309, "iommufd_access_detach");
  }
}

/** iommufd_private.h: iommufd_access_detach_internal() */
export const iommufdAccessDetachInternal = iommufdAccessDetach;

/**
 * device.c: iommufd_access_notify_unmap() — tells every (non-internal, live) access of the
 * IOAS that [iova, iova + length) is going away, in access-list order. The list is re-read
 * after each callback, as xa_for_each() does with the lock dropped.
 */
export function iommufdAccessNotifyUnmap(iopt: IoPagetable, iova: bigint, length: bigint): void {
  for (let id = nextAccessId(iopt, -1); id !== null; id = nextAccessId(iopt, id)) {
    const access = iopt.accesses.get(id);
    if (!(access instanceof IommufdAccess) || access.ops === null) continue;
    // iommufd_lock_obj(): an access already being destroyed is skipped.
    if (access.users === 0) continue;
    access.users++;
    try {
      access.ops.unmap(access.data, iova, length);
    } finally {
      access.ictx.objects.put(access);
    }
  }
}

/** The lowest access-list index above `after` (xa_find_after()). */
function nextAccessId(iopt: IoPagetable, after: number): number | null {
  let best: number | null = null;
  for (const id of iopt.accesses.keys()) {
    if (id > after && (best === null || id < best)) best = id;
  }
  return best;
}

/**
 * device.c: iommufd_access_unpin_pages() — undoes one pinPages() of exactly the same
 * iova/length (through the IOAS being left, inside an unmap callback). Misuse only WARNs.
 */
export function iommufdAccessUnpinPages(access: IommufdAccess, iova: bigint, length: bigint): void {
  const fn = "iommufd_access_unpin_pages";
  const kernel = access.ictx.kernel;
  if (length === 0n) {
    warnOn(kernel, DEVICE_C, 1418, fn);
    return;
  }
  const lastIova = lastIovaOf(iova, length);
  if (lastIova === null) {
    warnOn(kernel, DEVICE_C, 1419, fn);
    return;
  }
  // Before an attach or after a detach the driver has nothing pinned.
  const ioas = access.ioasUnpin;
  if (!ioas) {
    warnOn(kernel, DEVICE_C, 1427, fn);
    return;
  }
  const iter = new IoptAreaContigIter(ioas.iopt, iova, lastIova);
  for (let area = iter.first(); area; area = iter.next()) {
    ioptAreaRemoveAccess(
      area,
      area.iovaToIndex(iter.curIova),
      area.iovaToIndex(minBig(lastIova, area.lastIova)),
      access.internal,
    );
  }
  if (!iter.done()) warnOn(kernel, DEVICE_C, 1441, fn);
}

/**
 * device.c: iopt_area_contig_is_aligned() — the walk's current piece starts on a page boundary
 * of the pages behind it, and, unless it is the last piece, ends on one.
 */
function contigIsAligned(iter: IoptAreaContigIter): boolean {
  const area = iter.area!;
  const page = BigInt(PAGE_SIZE);
  if (area.startByte(iter.curIova) % page !== 0n) return false;
  if (!iter.done() && area.startByte(area.lastIova) % page !== page - 1n) return false;
  return true;
}

/** device.c: check_area_prot() — IOMMU_WRITE for a write, IOMMU_READ otherwise. */
function checkAreaProt(iommuProt: number, flags: number): boolean {
  return (flags & IOMMUFD_ACCESS_RW_WRITE ? iommuProt & IOMMU_WRITE : iommuProt & IOMMU_READ) !== 0;
}

/** `out_pages += n`: a writable view of `out` starting at `at`. */
function pfnsAt(out: PfnArray, at: number, count: number): { view: PfnArray; copyBack: boolean } {
  if (out instanceof Float64Array || out instanceof Uint32Array || out instanceof Int32Array) {
    return { view: out.subarray(at, at + count), copyBack: false };
  }
  return { view: new Float64Array(count), copyBack: true };
}

/**
 * device.c: iommufd_access_pin_pages() — pins the pages under [iova, iova + length) and writes
 * their PFNs to `outPages` (one per page touched). Errors in the kernel's order: EINVAL for a
 * zero length, EOVERFLOW when the range wraps, ENOENT when not attached; then per area EINVAL
 * when it is being unmapped or the range does not start (or, between areas, end) on a page
 * boundary of the memory, EPERM when the mapping lacks the permission (IOMMUFD_ACCESS_RW_WRITE
 * asks for write), the pinning's own errors (EPERM read-only memory, ENOMEM, EFAULT); ENOENT for
 * a hole. A failure unpins what this call pinned. Undo a success with unpinPages().
 */
export function iommufdAccessPinPages(
  access: IommufdAccess,
  iova: bigint,
  length: bigint,
  outPages: PfnArray,
  flags: number,
): void {
  const fn = "iommufd_access_pin_pages";
  if (length === 0n) throw new SysError("EINVAL", fn, "length 0");
  const lastIova = lastIovaOf(iova, length);
  if (lastIova === null) throw new SysError("EOVERFLOW", fn, "iova + length wraps");
  const ioas = access.ioas;
  if (!ioas) throw new SysError("ENOENT", fn, "not attached to an IOAS");
  const iopt = ioas.iopt;
  const iter = new IoptAreaContigIter(iopt, iova, lastIova);
  let at = 0;
  try {
    for (let area = iter.first(); area; area = iter.next()) {
      const last = minBig(lastIova, area.lastIova);
      const lastIndex = area.iovaToIndex(last);
      const index = area.iovaToIndex(iter.curIova);
      if (area.preventAccess || !contigIsAligned(iter)) {
        throw new SysError("EINVAL", fn, "area is being unmapped or the range is misaligned");
      }
      if (!checkAreaProt(area.iommuProt, flags)) {
        throw new SysError("EPERM", fn, "the mapping does not allow this access");
      }
      const count = lastIndex - index + 1;
      const { view, copyBack } = pfnsAt(outPages, at, count);
      ioptAreaAddAccess(area, index, lastIndex, view, flags, access.internal);
      if (copyBack) for (let i = 0; i < count; i++) outPages[at + i] = view[i]!;
      at += count;
    }
    if (!iter.done()) throw new SysError("ENOENT", fn, "a hole in the range");
  } catch (e) {
    // Unpin what the walk pinned before it stopped: [iova, curIova).
    if (iova < iter.curIova) {
      const undoLast = iter.curIova - 1n;
      const undo = new IoptAreaContigIter(iopt, iova, undoLast);
      for (let area = undo.first(); area; area = undo.next()) {
        ioptAreaRemoveAccess(
          area,
          area.iovaToIndex(undo.curIova),
          area.iovaToIndex(minBig(undoLast, area.lastIova)),
          access.internal,
        );
      }
    }
    throw e;
  }
}

/**
 * device.c: iommufd_access_rw() — copies `data` to (IOMMUFD_ACCESS_RW_WRITE) or fills it from
 * the memory under [iova, iova + data.length), at any alignment. Errors as pinPages() (EINVAL
 * zero length, EOVERFLOW, ENOENT detached or a hole, EINVAL an area being unmapped, EPERM the
 * mapping's or the memory's permission, EFAULT the memory is gone). Bytes copied before a failure
 * stay copied, as in Linux. `current` is the calling task; omit it from a kernel thread
 * (IOMMUFD_ACCESS_RW_KTHREAD then lets the copy use the source mm directly).
 */
export function iommufdAccessRw(
  access: IommufdAccess,
  iova: bigint,
  data: Uint8Array,
  flags: number,
  current?: Task,
): void {
  const fn = "iommufd_access_rw";
  const length = BigInt(data.length);
  if (length === 0n) throw new SysError("EINVAL", fn, "length 0");
  const lastIova = lastIovaOf(iova, length);
  if (lastIova === null) throw new SysError("EOVERFLOW", fn, "iova + length wraps");
  const ioas = access.ioas;
  if (!ioas) throw new SysError("ENOENT", fn, "not attached to an IOAS");
  const iter = new IoptAreaContigIter(ioas.iopt, iova, lastIova);
  let done = 0;
  for (let area = iter.first(); area; area = iter.next()) {
    const last = minBig(lastIova, area.lastIova);
    const bytes = Number(last - iter.curIova + 1n);
    if (area.preventAccess) throw new SysError("EINVAL", fn, "area is being unmapped");
    if (!checkAreaProt(area.iommuProt, flags)) {
      throw new SysError("EPERM", fn, "the mapping does not allow this access");
    }
    const startByte = Number(area.startByte(iter.curIova));
    ioptPagesRwAccess(area.pages!, startByte, data.subarray(done, done + bytes), flags, current);
    done += bytes;
  }
  if (!iter.done()) throw new SysError("ENOENT", fn, "a hole in the range");
}
