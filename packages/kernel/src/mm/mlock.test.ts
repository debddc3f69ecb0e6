import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import { accountLockedVm, UserStructTable } from "./account.js";
import type { AddressSpace, MemlockLimits } from "./address-space.js";
import { mlock, mlock2, munlock } from "./mlock.js";
import { errnoOf, machine } from "./mm-test-fixture.js";
import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MLOCK_ONFAULT,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from "./mman.js";
import { PG } from "./page-allocator.js";
import { VM_LOCKED, VM_LOCKONFAULT } from "./vma.js";

const RW = PROT_READ | PROT_WRITE;
const limit = (pages: number, capIpcLock = false): MemlockLimits => ({
  rlimitMemlock: pages * PAGE_SIZE,
  capIpcLock,
});

function anon(mm: AddressSpace, pages: number, prot = RW): number {
  return mm.mmap({ addr: 0, length: pages * PAGE_SIZE, prot, flags: MAP_PRIVATE | MAP_ANONYMOUS });
}

describe("mlock", () => {
  test("locks the VMA, charges locked_vm, populates and marks pages PG_mlocked", () => {
    const m = machine();
    const mm = m.newMm();
    const va = anon(mm, 4);
    mlock(mm, va + PAGE_SIZE + 5, 2 * PAGE_SIZE - 10, limit(16));
    expect(mm.lockedVm).toBe(2);
    expect(mm.mapCount).toBe(3);
    expect(mm.vmaLookup(va + PAGE_SIZE)!.flags & VM_LOCKED).toBeTruthy();
    const pfn = mm.translate(va + PAGE_SIZE);
    expect(pfn).toBeGreaterThan(0);
    expect(m.allocator.pageFlags(pfn) & PG.mlocked).toBeTruthy();
    expect(mm.translate(va)).toBe(-1);
  });

  test("EPERM with RLIMIT_MEMLOCK 0 and no CAP_IPC_LOCK; CAP_IPC_LOCK ignores the limit", () => {
    const mm = machine().newMm();
    const va = anon(mm, 2);
    expect(errnoOf(() => mlock(mm, va, PAGE_SIZE, limit(0)))).toBe("EPERM:do_mlock");
    mlock(mm, va, 2 * PAGE_SIZE, limit(0, true));
    expect(mm.lockedVm).toBe(2);
  });

  test("ENOMEM over RLIMIT_MEMLOCK, with nothing locked", () => {
    const mm = machine().newMm();
    const va = anon(mm, 4);
    expect(errnoOf(() => mlock(mm, va, 4 * PAGE_SIZE, limit(3)))).toBe("ENOMEM:do_mlock");
    expect(mm.lockedVm).toBe(0);
    expect(mm.mapCount).toBe(1);
  });

  test("pages already locked in the range are not charged twice", () => {
    const mm = machine().newMm();
    const va = anon(mm, 4);
    mlock(mm, va, 3 * PAGE_SIZE, limit(4));
    mlock(mm, va, 4 * PAGE_SIZE, limit(4));
    expect(mm.lockedVm).toBe(4);
    expect(mm.mapCount).toBe(1);
  });

  test("ENOMEM for an unmapped range", () => {
    const mm = machine().newMm();
    expect(errnoOf(() => mlock(mm, 0x1000_0000, PAGE_SIZE, limit(4)))).toBe(
      "ENOMEM:apply_vma_lock_flags",
    );
  });

  test("a hole fails with ENOMEM after locking what precedes it, as Linux does", () => {
    const mm = machine().newMm();
    const va = anon(mm, 3);
    mm.munmap(va + PAGE_SIZE, PAGE_SIZE);
    expect(errnoOf(() => mlock(mm, va, 3 * PAGE_SIZE, limit(8)))).toBe(
      "ENOMEM:apply_vma_lock_flags",
    );
    expect(mm.vmaLookup(va)!.flags & VM_LOCKED).toBeTruthy();
    expect(mm.vmaLookup(va + 2 * PAGE_SIZE)!.flags & VM_LOCKED).toBe(0);
    expect(mm.lockedVm).toBe(1);
  });

  test("a PROT_NONE mapping is locked but cannot be populated: ENOMEM", () => {
    const mm = machine().newMm();
    const va = anon(mm, 1, PROT_NONE);
    expect(errnoOf(() => mlock(mm, va, PAGE_SIZE, limit(4)))).toBe("ENOMEM:do_mlock");
    expect(mm.vmaLookup(va)!.flags & VM_LOCKED).toBeTruthy();
  });

  test("a populate that runs out of memory is EAGAIN", () => {
    const m = machine();
    const mm = m.newMm();
    const va = anon(mm, 2);
    m.allocator.setFailHook((s) => s === "alloc_pages");
    expect(errnoOf(() => mlock(mm, va, 2 * PAGE_SIZE, limit(4)))).toBe("EAGAIN:do_mlock");
  });

  test("mlock2(MLOCK_ONFAULT) locks without populating; unknown flags are EINVAL", () => {
    const m = machine();
    const mm = m.newMm();
    const va = anon(mm, 2);
    expect(errnoOf(() => mlock2(mm, va, PAGE_SIZE, 2, limit(4)))).toBe("EINVAL:mlock2");
    mlock2(mm, va, 2 * PAGE_SIZE, MLOCK_ONFAULT, limit(4));
    expect(mm.vmaLookup(va)!.flags & VM_LOCKONFAULT).toBeTruthy();
    expect(m.allocator.usedPages).toBe(0);
    mm.writeUser(va, new Uint8Array([1]));
    expect(m.allocator.pageFlags(mm.translate(va)) & PG.mlocked).toBeTruthy();
  });

  test("munlock unlocks, uncharges, clears PG_mlocked and merges back", () => {
    const m = machine();
    const mm = m.newMm();
    const va = anon(mm, 3);
    mlock(mm, va + PAGE_SIZE, PAGE_SIZE, limit(4));
    const pfn = mm.translate(va + PAGE_SIZE);
    munlock(mm, va, 3 * PAGE_SIZE);
    expect(mm.lockedVm).toBe(0);
    expect(mm.mapCount).toBe(1);
    expect(m.allocator.pageFlags(pfn) & PG.mlocked).toBe(0);
  });

  test("munmap of a locked range uncharges locked_vm", () => {
    const mm = machine().newMm();
    const va = anon(mm, 4);
    mlock(mm, va, 4 * PAGE_SIZE, limit(4));
    mm.munmap(va + PAGE_SIZE, 2 * PAGE_SIZE);
    expect(mm.lockedVm).toBe(2);
  });
});

describe("locked_vm accounting", () => {
  test("account_locked_vm: ENOMEM past RLIMIT_MEMLOCK, unchanged; CAP_IPC_LOCK bypasses", () => {
    const mm = machine().newMm();
    accountLockedVm(mm, 3, true, limit(4));
    expect(errnoOf(() => accountLockedVm(mm, 2, true, limit(4)))).toBe(
      "ENOMEM:__account_locked_vm",
    );
    expect(mm.lockedVm).toBe(3);
    accountLockedVm(mm, 2, true, limit(4, true));
    accountLockedVm(mm, 5, false, limit(4));
    expect(mm.lockedVm).toBe(0);
  });

  test("a pinning driver's locked_vm charge counts against a later mlock", () => {
    const mm = machine().newMm();
    const va = anon(mm, 2);
    accountLockedVm(mm, 3, true, limit(4));
    expect(errnoOf(() => mlock(mm, va, 2 * PAGE_SIZE, limit(4)))).toBe("ENOMEM:do_mlock");
  });

  test("user_structs are per uid and kernel-wide", () => {
    const users = new UserStructTable();
    users.allocUid(1000).lockedVm += 5;
    expect(users.allocUid(1000).lockedVm).toBe(5);
    expect(users.findUser(0)).toBeUndefined();
  });
});

describe("munlock merging back into a neighbour", () => {
  test("unlocks a locked head whose fixup merges it with the unlocked tail", () => {
    const m = machine();
    const mm = m.newMm();
    const va = anon(mm, 8);
    mlock(mm, va, 4 * PAGE_SIZE, limit(16));
    expect(mm.mapCount).toBe(2);
    munlock(mm, va, 4 * PAGE_SIZE);
    expect(mm.mapCount).toBe(1);
    expect(mm.lockedVm).toBe(0);
    expect(mm.vmaLookup(va)!.flags & VM_LOCKED).toBe(0);
  });
});
