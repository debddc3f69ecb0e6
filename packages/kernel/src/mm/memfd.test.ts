import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import { memfdCreate } from "./memfd.js";
import { errnoOf, machine, pattern } from "./mm-test-fixture.js";
import {
  F_SEAL_EXEC,
  F_SEAL_FUTURE_WRITE,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  FMODE_READ,
  FMODE_WRITE,
  MAP_SHARED,
  MFD_ALLOW_SEALING,
  MFD_EXEC,
  MFD_HUGETLB,
  MFD_NOEXEC_SEAL,
  PROT_READ,
  PROT_WRITE,
} from "./mman.js";

const RW = PROT_READ | PROT_WRITE;
const FRW = FMODE_READ | FMODE_WRITE;

describe("memfd_create", () => {
  test("EINVAL for unknown flags, MFD_EXEC with MFD_NOEXEC_SEAL, or a name over 249 bytes", () => {
    const { allocator } = machine();
    expect(errnoOf(() => memfdCreate(allocator, "x", 0x100))).toBe("EINVAL:memfd_create");
    expect(errnoOf(() => memfdCreate(allocator, "x", MFD_EXEC | MFD_NOEXEC_SEAL))).toBe(
      "EINVAL:memfd_create",
    );
    expect(errnoOf(() => memfdCreate(allocator, "n".repeat(250), 0))).toBe("EINVAL:memfd_create");
    expect(errnoOf(() => memfdCreate(allocator, "n".repeat(249), 0))).toBe("ok");
  });

  test("MFD_HUGETLB fails: the model has no hugetlbfs", () => {
    expect(errnoOf(() => memfdCreate(machine().allocator, "h", MFD_HUGETLB))).toBe(
      "ENOSYS:hugetlb_file_setup",
    );
  });

  test("seals: F_SEAL_SEAL unless MFD_ALLOW_SEALING; MFD_NOEXEC_SEAL adds F_SEAL_EXEC", () => {
    const { allocator } = machine();
    expect(memfdCreate(allocator, "a", 0).seals).toBe(F_SEAL_SEAL);
    expect(memfdCreate(allocator, "b", MFD_ALLOW_SEALING).seals).toBe(0);
    expect(memfdCreate(allocator, "c", MFD_NOEXEC_SEAL).seals).toBe(F_SEAL_SEAL | F_SEAL_EXEC);
    expect(memfdCreate(allocator, "d", 0).mapsName).toBe("/memfd:d (deleted)");
  });
});

describe("shmem files", () => {
  test("write grows the file; read stops at EOF and reads holes as zeros", () => {
    const { allocator } = machine();
    const obj = memfdCreate(allocator, "f", 0);
    expect(obj.writeAt(PAGE_SIZE + 10, pattern(20))).toBe(20);
    expect(obj.size).toBe(PAGE_SIZE + 30);
    expect(obj.nrPages).toBe(1);
    const buf = new Uint8Array(40).fill(0xff);
    expect(obj.readAt(PAGE_SIZE, buf)).toBe(30);
    expect(buf.subarray(0, 10)).toEqual(new Uint8Array(10));
    expect(buf.subarray(10, 30)).toEqual(pattern(20));
    expect(obj.readAt(obj.size, buf)).toBe(0);
  });

  test("truncation zaps mappings past EOF and zeroes the tail of the last page", () => {
    const m = machine();
    const obj = memfdCreate(m.allocator, "t", 0);
    obj.setSize(2 * PAGE_SIZE);
    const mm = m.newMm();
    const va = mm.mmap({
      addr: 0,
      length: 2 * PAGE_SIZE,
      prot: RW,
      flags: MAP_SHARED,
      file: obj.openFile(),
    });
    mm.writeUser(va, new Uint8Array(2 * PAGE_SIZE).fill(7));
    obj.setSize(100);
    expect(mm.translate(va + PAGE_SIZE)).toBe(-1);
    expect(obj.nrPages).toBe(1);
    expect(errnoOf(() => mm.readUser(va + PAGE_SIZE, new Uint8Array(1)))).toBe(
      "EFAULT:copy_from_user",
    );
    obj.setSize(PAGE_SIZE);
    const b = new Uint8Array(2);
    mm.readUser(va + 99, b);
    expect(b).toEqual(new Uint8Array([7, 0]));
  });

  test("EPERM for size changes and writes a seal forbids", () => {
    const { allocator } = machine();
    const obj = memfdCreate(allocator, "s", MFD_ALLOW_SEALING);
    obj.writeAt(0, pattern(10));
    obj.addSeals(F_SEAL_SHRINK | F_SEAL_GROW, FRW);
    expect(errnoOf(() => obj.setSize(5))).toBe("EPERM:shmem_setattr");
    expect(errnoOf(() => obj.setSize(20))).toBe("EPERM:shmem_setattr");
    expect(errnoOf(() => obj.writeAt(5, pattern(10)))).toBe("EPERM:shmem_write_begin");
    expect(obj.writeAt(0, pattern(10))).toBe(10);
    obj.addSeals(F_SEAL_FUTURE_WRITE, FRW);
    expect(errnoOf(() => obj.writeAt(0, pattern(1)))).toBe("EPERM:shmem_write_begin");
  });

  test("F_ADD_SEALS: EPERM without write access or once sealed, EINVAL for unknown seals", () => {
    const { allocator } = machine();
    const obj = memfdCreate(allocator, "s", MFD_ALLOW_SEALING);
    expect(errnoOf(() => obj.addSeals(F_SEAL_GROW, FMODE_READ))).toBe("EPERM:memfd_add_seals");
    expect(errnoOf(() => obj.addSeals(0x1000, FRW))).toBe("EINVAL:memfd_add_seals");
    obj.addSeals(F_SEAL_SEAL, FRW);
    expect(errnoOf(() => obj.addSeals(F_SEAL_GROW, FRW))).toBe("EPERM:memfd_add_seals");
    expect(errnoOf(() => memfdCreate(allocator, "t", 0).addSeals(F_SEAL_GROW, FRW))).toBe(
      "EPERM:memfd_add_seals",
    );
  });

  test("F_SEAL_EXEC on an executable memfd implies the write seals", () => {
    const obj = memfdCreate(machine().allocator, "x", MFD_ALLOW_SEALING);
    obj.addSeals(F_SEAL_EXEC, FRW);
    expect(obj.seals).toBe(
      F_SEAL_EXEC | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE,
    );
  });

  test("F_SEAL_WRITE: EBUSY while a shared writable mapping exists; then shared writable mmap is EPERM", () => {
    const m = machine();
    const obj = memfdCreate(m.allocator, "w", MFD_ALLOW_SEALING);
    obj.setSize(PAGE_SIZE);
    const file = obj.openFile();
    const mm = m.newMm();
    const va = mm.mmap({ addr: 0, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED, file });
    expect(errnoOf(() => obj.addSeals(F_SEAL_WRITE, FRW))).toBe("EBUSY:memfd_add_seals");
    mm.munmap(va, PAGE_SIZE);
    obj.addSeals(F_SEAL_WRITE, FRW);
    expect(
      errnoOf(() => mm.mmap({ addr: 0, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED, file })),
    ).toBe("EPERM:shmem_mmap");
    const ro = mm.mmap({ addr: 0, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED, file });
    expect(errnoOf(() => mm.mprotect(ro, PAGE_SIZE, RW))).toBe("EACCES:do_mprotect_pkey");
  });

  test("the last reference frees every cached page; mappings keep the object alive", () => {
    const m = machine();
    const obj = memfdCreate(m.allocator, "life", 0);
    obj.writeAt(0, pattern(3 * PAGE_SIZE));
    const file = obj.openFile();
    const mm = m.newMm();
    const va = mm.mmap({ addr: 0, length: 3 * PAGE_SIZE, prot: RW, flags: MAP_SHARED, file });
    obj.put();
    const b = new Uint8Array(4);
    mm.readUser(va + 2 * PAGE_SIZE, b);
    expect(b).toEqual(pattern(2 * PAGE_SIZE + 4).subarray(2 * PAGE_SIZE));
    mm.munmap(va, 3 * PAGE_SIZE);
    expect(m.allocator.usedPages).toBe(0);
  });
});
