/**
 * IOMMUFD objects and the per-file object table (drivers/iommu/iommufd/main.c: the `objects`
 * xarray of `struct iommufd_ctx`, `_iommufd_object_alloc()`, `iommufd_object_finalize()`,
 * `iommufd_object_abort()`, `iommufd_get_object()`, `iommufd_object_remove()`).
 *
 * What user space can observe and the model keeps:
 * - IDs come from `xa_alloc(XA_FLAGS_ALLOC1, xa_limit_31b)`: the lowest free index from 1 to
 *   0x7fffffff, reused as soon as it is freed;
 * - creation is two-phase: an allocated object holds its ID as a reserved entry (lookups and
 *   IOMMU_DESTROY see ENOENT) until `finalize()` publishes it or `abort()` frees the ID;
 * - `users` counts the references that keep an object alive: 1 for the table, +1 for each
 *   object or driver depending on it, +1 for the duration of a lookup. IOMMU_DESTROY succeeds
 *   only when the table's reference is the last one (EBUSY otherwise);
 * - a tombstone keeps a destroyed object's ID unusable (ENOENT) until the file is closed;
 * - closing the file destroys the objects leaf-first: every pass destroys each object whose
 *   only reference is the table's, in ID order, until nothing is left.
 *
 * Caveat: the kernel's `wait_cnt` (short-term users an ioctl running on another thread holds)
 * has no counterpart: syscalls in the model run one at a time, so nothing is ever waited for.
 */

import { SysError } from "@vfio-lab/kernel";

/** `enum iommufd_object_type` (include/linux/iommufd.h); the order is also the table's. */
export type IommufdObjectType =
  | "DEVICE"
  | "HWPT_PAGING"
  | "HWPT_NESTED"
  | "IOAS"
  | "ACCESS"
  | "FAULT"
  | "VIOMMU"
  | "VDEVICE"
  | "VEVENTQ"
  | "HW_QUEUE";

/** `struct iommufd_object` and its `iommufd_object_ops`. */
export abstract class IommufdObject {
  abstract readonly type: IommufdObjectType;
  /** The xarray index; 0 until allocated. */
  id = 0;
  /** `refcount_t users`: 1 is the table's own reference. */
  users = 1;

  /** `ops->destroy`: tears down what the object holds (called once, with `users` at 0). */
  abstract destroy(): void;

  /** `ops->abort` where the type has one; else `destroy` (iommufd_object_abort_and_destroy()). */
  abort(): void {
    this.destroy();
  }
}

/** What an allocated-but-unpublished ID holds (`XA_ZERO_ENTRY`); also a tombstone. */
const RESERVED = Symbol("XA_ZERO_ENTRY");
type Slot = IommufdObject | typeof RESERVED;

/** `xa_limit_31b`. */
const XA_LIMIT_31B = 0x7fff_ffff;

/** `iommufd_object_remove()` flags. */
export const REMOVE_WAIT = 1 << 0;
export const REMOVE_OBJ_TOMBSTONE = 1 << 1;

/**
 * The `objects` xarray of one iommufd file. `shouldFail` is the kernel's fault-injection point
 * (`iommufd_should_fail()` and the slab allocator's failslab).
 */
export class IommufdObjectTable {
  private readonly slots = new Map<number, Slot>();
  /** Freed IDs below `next`, as a binary min-heap (the lowest is what xa_alloc finds). */
  private readonly freed: number[] = [];
  /** Every ID at or above this is free. */
  private next = 1;

  constructor(private readonly shouldFail: (site: string) => boolean) {}

  /** Live objects and reserved IDs (for leak checks). */
  get size(): number {
    return this.slots.size;
  }

  /**
   * main.c: _iommufd_object_alloc() — reserves the lowest free ID for `obj`. ENOMEM when the
   * allocation fails, EBUSY when all 2^31-1 IDs are taken.
   */
  alloc<T extends IommufdObject>(obj: T): T {
    if (this.shouldFail("kzalloc")) {
      throw new SysError("ENOMEM", "_iommufd_object_alloc", "fault injection");
    }
    if (this.shouldFail("xa_alloc")) {
      throw new SysError("ENOMEM", "xa_alloc", "fault injection");
    }
    const id = this.takeLowestFree();
    obj.id = id;
    obj.users = 1;
    this.slots.set(id, RESERVED);
    return obj;
  }

  /** main.c: iommufd_object_finalize() — publishes an allocated object. */
  finalize(obj: IommufdObject): void {
    if (this.slots.get(obj.id) !== RESERVED) {
      throw new Error(`iommufd: finalize of object ${obj.id} that was not reserved`);
    }
    this.slots.set(obj.id, obj);
  }

  /** main.c: iommufd_object_abort() — frees the ID of an object never finalized. */
  abort(obj: IommufdObject): void {
    if (this.slots.get(obj.id) !== RESERVED) {
      throw new Error(`iommufd: abort of object ${obj.id} that was not reserved`);
    }
    this.releaseId(obj.id);
    obj.users = 0;
  }

  /** main.c: iommufd_object_abort_and_destroy() — undo a fully built, unpublished object. */
  abortAndDestroy(obj: IommufdObject): void {
    obj.abort();
    this.abort(obj);
  }

  /**
   * main.c: iommufd_get_object() — the live object `id` of `type` ("ANY" for any), with one
   * more user (drop it with `put`). ENOENT for a free, reserved or tombstoned ID, a wrong type,
   * or an object already dying.
   */
  get<T extends IommufdObject = IommufdObject>(
    id: number,
    type: IommufdObjectType | "ANY",
    fn = "iommufd_get_object",
  ): T {
    if (this.shouldFail("iommufd_get_object")) {
      throw new SysError("ENOENT", fn, "fault injection");
    }
    const slot = this.slots.get(id);
    if (slot === undefined || slot === RESERVED || (type !== "ANY" && slot.type !== type)) {
      throw new SysError("ENOENT", fn, `no ${type === "ANY" ? "object" : type} with id ${id}`);
    }
    if (slot.users === 0) throw new SysError("ENOENT", fn, `object ${id} is being destroyed`);
    slot.users++;
    return slot as T;
  }

  /** iommufd_private.h: iommufd_put_object(). */
  put(obj: IommufdObject): void {
    obj.users--;
  }

  /** The object at `id` without taking a reference (tests and diagnostics). */
  peek(id: number): IommufdObject | undefined {
    const slot = this.slots.get(id);
    return slot === RESERVED ? undefined : slot;
  }

  /** main.c: iommufd_try_inc_users() — EBUSY unless `obj` is published. */
  tryIncUsers(obj: IommufdObject): void {
    if (this.slots.get(obj.id) !== obj) {
      throw new SysError("EBUSY", "iommufd_try_inc_users", `object ${obj.id} is not published`);
    }
    obj.users++;
  }

  /**
   * main.c: iommufd_object_remove() — destroys `id` when only the table holds it. With
   * `toDestroy`, the caller's own reference on it is dropped first (destroy_user and
   * put_and_try_destroy). ENOENT for a free or reserved ID, EBUSY while other users remain
   * (the caller's reference is gone either way, as in Linux). Returns the destroyed object.
   */
  remove(
    toDestroy: IommufdObject | null,
    id: number,
    flags: number,
    onRemoved?: (obj: IommufdObject) => void,
  ): IommufdObject {
    const fn = "iommufd_object_remove";
    const slot = this.slots.get(id);
    let obj: IommufdObject;
    if (toDestroy) {
      toDestroy.users--;
      if (slot !== toDestroy) throw new SysError("ENOENT", fn, `object ${id} is not published`);
      obj = toDestroy;
    } else {
      if (slot === undefined || slot === RESERVED) {
        throw new SysError("ENOENT", fn, `no object with id ${id}`);
      }
      obj = slot;
    }
    if (obj.users !== 1) throw new SysError("EBUSY", fn, `object ${id} is in use`);
    obj.users = 0;
    if (flags & REMOVE_OBJ_TOMBSTONE) this.slots.set(id, RESERVED);
    else this.releaseId(id);
    onRemoved?.(obj);
    obj.destroy();
    return obj;
  }

  /**
   * main.c: iommufd_fops_release()'s sweep — destroys everything leaf-first. Returns the
   * objects in destruction order; throws if the reference graph cannot drain (a model bug, a
   * WARN in Linux).
   */
  destroyAll(): IommufdObject[] {
    const order: IommufdObject[] = [];
    for (;;) {
      const ids = [...this.slots.keys()].sort((a, b) => a - b);
      let live = 0;
      let destroyed = 0;
      for (const id of ids) {
        const slot = this.slots.get(id);
        if (slot === undefined || slot === RESERVED) continue;
        live++;
        if (slot.users !== 1) continue;
        slot.users = 0;
        this.releaseId(id);
        slot.destroy();
        order.push(slot);
        destroyed++;
      }
      if (live === 0) break;
      if (destroyed === 0) {
        const stuck = ids
          .map((i) => this.slots.get(i))
          .filter((s): s is IommufdObject => s !== undefined && s !== RESERVED)
          .map((o) => `${o.type}#${o.id} users=${o.users}`);
        throw new Error(`iommufd: objects leak at close: ${stuck.join(", ")}`);
      }
    }
    // Tombstones go with the table (xa_destroy()).
    for (const id of [...this.slots.keys()]) this.releaseId(id);
    return order;
  }

  /** Published objects in ID order (for snapshots and tests). */
  objects(): IommufdObject[] {
    return [...this.slots.entries()]
      .filter((e): e is [number, IommufdObject] => e[1] !== RESERVED)
      .sort((a, b) => a[0] - b[0])
      .map((e) => e[1]);
  }

  /** Whether any ID is in use, reserved ones included (IOMMU_OPTION RLIMIT_MODE's EBUSY test). */
  isEmpty(): boolean {
    return this.slots.size === 0;
  }

  private takeLowestFree(): number {
    if (this.freed.length > 0) return this.heapPop();
    if (this.next > XA_LIMIT_31B) {
      throw new SysError("EBUSY", "xa_alloc", "every object id is in use");
    }
    return this.next++;
  }

  private releaseId(id: number): void {
    this.slots.delete(id);
    this.heapPush(id);
  }

  private heapPush(v: number): void {
    const h = this.freed;
    h.push(v);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]! <= v) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = v;
  }

  private heapPop(): number {
    const h = this.freed;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) this.siftDown(0, last);
    return top;
  }

  private siftDown(at: number, v: number): void {
    const h = this.freed;
    let i = at;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && h[r]! < h[l]! ? r : l;
      if (h[c]! >= v) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = v;
  }
}
