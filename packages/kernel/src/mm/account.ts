/**
 * Locked-memory accounting: mm/util.c's account_locked_vm()/__account_locked_vm() on
 * `mm->locked_vm`, and the per-user `struct user_struct` whose `locked_vm` drivers such as
 * iommufd charge in their "user" accounting mode (kernel-wide, one per uid, as alloc_uid()).
 *
 * `mm->pinned_vm` is a plain counter on the AddressSpace (`pinnedVm`): Linux never checks it
 * against a limit itself, the drivers that pin decide.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { SysError } from "../errno.js";
import type { AddressSpace, MemlockLimits } from "./address-space.js";
import { KernelBug } from "./page-allocator.js";

/** RLIMIT_MEMLOCK in pages (`rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT`). */
export function memlockLimitPages(limits: MemlockLimits): number {
  return Math.floor(limits.rlimitMemlock / PAGE_SIZE);
}

/**
 * mm/util.c: __account_locked_vm() — charges (or uncharges) `pages` to `mm.lockedVm`; with
 * `inc` and not `bypassRlim`, refuses with ENOMEM past RLIMIT_MEMLOCK and leaves it unchanged.
 */
export function __accountLockedVm(
  mm: AddressSpace,
  pages: number,
  inc: boolean,
  limits: MemlockLimits,
  bypassRlim: boolean,
): void {
  if (inc) {
    if (!bypassRlim && mm.lockedVm + pages > memlockLimitPages(limits)) {
      throw new SysError("ENOMEM", "__account_locked_vm", "RLIMIT_MEMLOCK exceeded");
    }
    mm.lockedVm += pages;
  } else {
    // The kernel warns and carries on; a model that uncharges more than it charged is broken.
    if (pages > mm.lockedVm) throw new KernelBug(`locked_vm underflow (${pages} > ${mm.lockedVm})`);
    mm.lockedVm -= pages;
  }
}

/** mm/util.c: account_locked_vm() — CAP_IPC_LOCK bypasses the limit. */
export function accountLockedVm(
  mm: AddressSpace,
  pages: number,
  inc: boolean,
  limits: MemlockLimits,
): void {
  if (pages === 0) return;
  __accountLockedVm(mm, pages, inc, limits, limits.capIpcLock);
}

/** struct user_struct: what the kernel tracks per uid (here only `locked_vm`, in pages). */
export class UserStruct {
  lockedVm = 0;
  constructor(readonly uid: number) {}
}

/** The kernel-wide uid → user_struct table (kernel/user.c uidhash). */
export class UserStructTable {
  private readonly users = new Map<number, UserStruct>();

  /** kernel/user.c: alloc_uid() — the uid's user_struct, created on first use. */
  allocUid(uid: number): UserStruct {
    let u = this.users.get(uid);
    if (!u) {
      u = new UserStruct(uid);
      this.users.set(uid, u);
    }
    return u;
  }

  /** kernel/user.c: find_user(). */
  findUser(uid: number): UserStruct | undefined {
    return this.users.get(uid);
  }
}
