import { fc, test as fcTest } from "@fast-check/vitest";
import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import { SysError } from "../errno.js";
import type { AddressSpace } from "./address-space.js";
import { pinUserPages, unpinUserPages } from "./gup.js";
import { memfdCreate } from "./memfd.js";
import { mlock } from "./mlock.js";
import { deviceFile, errnoOf, MMIO_BASE, machine, pattern } from "./mm-test-fixture.js";
import {
  FMODE_READ,
  LAYOUT,
  MAP_ANONYMOUS,
  MAP_DROPPABLE,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_HUGETLB,
  MAP_LOCKED,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MAP_SYNC,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from "./mman.js";
import { PTE } from "./page-table.js";
import {
  VM_ACCOUNT,
  VM_DONTDUMP,
  VM_DONTEXPAND,
  VM_IO,
  VM_MAYWRITE,
  VM_PFNMAP,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
  vmFlagsString,
} from "./vma.js";

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const TOP = LAYOUT.mmapBase;

function anon(mm: AddressSpace, length: number, prot = RW, flags = 0, addr = 0): number {
  return mm.mmap({ addr, length, prot, flags: ANON | flags });
}

function peek(mm: AddressSpace, va: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  mm.readUser(va, b);
  return b;
}

describe("mmap placement", () => {
  test("anonymous mappings go top-down from mmap_base and merge with their neighbour", () => {
    const mm = machine().newMm();
    const a = anon(mm, PAGE_SIZE);
    const b = anon(mm, 100);
    expect(a).toBe(TOP - PAGE_SIZE);
    expect(b).toBe(TOP - 2 * PAGE_SIZE);
    expect(mm.mapCount).toBe(1);
    expect(mm.vmaList[0]!.start).toBe(b);
    expect(mm.vmaList[0]!.end).toBe(TOP);
  });

  test("different protections do not merge", () => {
    const mm = machine().newMm();
    anon(mm, PAGE_SIZE);
    anon(mm, PAGE_SIZE, PROT_READ);
    expect(mm.mapCount).toBe(2);
  });

  test("a PMD-multiple anonymous mapping without a hint is THP-aligned", () => {
    const mm = machine().newMm();
    anon(mm, PAGE_SIZE);
    const big = anon(mm, LAYOUT.pmdSize);
    expect(big % LAYOUT.pmdSize).toBe(0);
    expect(big).toBe(TOP - 2 * LAYOUT.pmdSize);
  });

  test("a free hint is honoured; one below mmap_min_addr is raised to it", () => {
    const mm = machine().newMm();
    expect(anon(mm, PAGE_SIZE, RW, 0, 0x1234_5000)).toBe(0x1234_5000);
    expect(anon(mm, PAGE_SIZE, RW, 0, 0x1000)).toBe(LAYOUT.mmapMinAddr);
    // An occupied hint falls back to the top-down search.
    expect(anon(mm, PAGE_SIZE, RW, 0, 0x1234_5000)).toBe(TOP - PAGE_SIZE);
  });

  test("MAP_FIXED replaces what it covers, splitting the old mapping", () => {
    const mm = machine().newMm();
    const a = anon(mm, 4 * PAGE_SIZE);
    mm.writeUser(a, pattern(4 * PAGE_SIZE));
    const fixed = anon(mm, PAGE_SIZE, PROT_READ, MAP_FIXED, a + PAGE_SIZE);
    expect(fixed).toBe(a + PAGE_SIZE);
    expect(mm.mapCount).toBe(3);
    expect(peek(mm, fixed, 4)).toEqual(new Uint8Array(4));
    expect(peek(mm, a, 4)).toEqual(pattern(4));
  });

  test("MAP_FIXED_NOREPLACE over a mapping fails with EEXIST and changes nothing", () => {
    const mm = machine().newMm();
    const a = anon(mm, 2 * PAGE_SIZE);
    expect(errnoOf(() => anon(mm, PAGE_SIZE, RW, MAP_FIXED_NOREPLACE, a))).toBe("EEXIST:do_mmap");
    expect(mm.mapCount).toBe(1);
    expect(anon(mm, PAGE_SIZE, RW, MAP_FIXED_NOREPLACE, a - PAGE_SIZE)).toBe(a - PAGE_SIZE);
  });
});

describe("mmap errors (do_mmap)", () => {
  test("EINVAL for length 0", () => {
    expect(errnoOf(() => anon(machine().newMm(), 0))).toBe("EINVAL:do_mmap");
  });

  test("EINVAL for an unaligned MAP_FIXED address", () => {
    expect(errnoOf(() => anon(machine().newMm(), PAGE_SIZE, RW, MAP_FIXED, 0x1000_0010))).toBe(
      "EINVAL:get_unmapped_area",
    );
  });

  test("EINVAL for a missing or unknown mapping type", () => {
    const mm = machine().newMm();
    expect(
      errnoOf(() => mm.mmap({ addr: 0, length: PAGE_SIZE, prot: RW, flags: MAP_ANONYMOUS })),
    ).toBe("EINVAL:do_mmap");
    expect(
      errnoOf(() =>
        mm.mmap({
          addr: 0,
          length: PAGE_SIZE,
          prot: RW,
          flags: MAP_SHARED_VALIDATE | MAP_ANONYMOUS,
        }),
      ),
    ).toBe("EINVAL:do_mmap");
  });

  test("ENOMEM when no gap is large enough", () => {
    const mm = machine().newMm();
    expect(errnoOf(() => anon(mm, 2 ** 49))).toBe("ENOMEM:get_unmapped_area");
    expect(errnoOf(() => anon(mm, LAYOUT.taskSize))).toBe("ENOMEM:arch_get_unmapped_area_topdown");
  });

  test("EPERM for MAP_FIXED below vm.mmap_min_addr without CAP_SYS_RAWIO", () => {
    const mm = machine().newMm();
    expect(errnoOf(() => anon(mm, PAGE_SIZE, RW, MAP_FIXED, 0))).toBe("EPERM:cap_mmap_addr");
    expect(
      mm.mmap({ addr: 0, length: PAGE_SIZE, prot: RW, flags: ANON | MAP_FIXED, capSysRawio: true }),
    ).toBe(0);
  });

  test("ENOMEM past vm.max_map_count", () => {
    const m = machine();
    const mm = new (m.newMm().constructor as new (o: object) => AddressSpace)({
      allocator: m.allocator,
      bus: m.bus,
      maxMapCount: 2,
    });
    anon(mm, PAGE_SIZE, PROT_READ);
    anon(mm, PAGE_SIZE, RW);
    anon(mm, PAGE_SIZE, PROT_READ);
    expect(errnoOf(() => anon(mm, PAGE_SIZE, RW))).toBe("ENOMEM:do_mmap");
  });

  test("EPERM for MAP_LOCKED with RLIMIT_MEMLOCK 0, EAGAIN over the limit", () => {
    const mm = machine().newMm();
    const locked = (length: number, rlimitMemlock: number) =>
      mm.mmap({
        addr: 0,
        length,
        prot: RW,
        flags: ANON | MAP_LOCKED,
        limits: { rlimitMemlock, capIpcLock: false },
      });
    expect(errnoOf(() => locked(PAGE_SIZE, 0))).toBe("EPERM:do_mmap");
    expect(errnoOf(() => locked(3 * PAGE_SIZE, 2 * PAGE_SIZE))).toBe("EAGAIN:do_mmap");
    expect(mm.mapCount).toBe(0);
    locked(2 * PAGE_SIZE, 2 * PAGE_SIZE);
    expect(mm.lockedVm).toBe(2);
    expect(mm.pageTable.presentCount).toBe(2);
  });

  test("EACCES for a shared writable mapping of a read-only file", () => {
    const mm = machine().newMm();
    const file = deviceFile({ fMode: FMODE_READ });
    expect(
      errnoOf(() => mm.mmap({ addr: 0, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED, file })),
    ).toBe("EACCES:do_mmap");
    expect(
      errnoOf(() =>
        mm.mmap({
          addr: 0,
          length: PAGE_SIZE,
          prot: RW,
          flags: MAP_SHARED,
          file: deviceFile({ fMode: 0 }),
        }),
      ),
    ).toBe("EACCES:do_mmap");
  });

  test("ENODEV for a file without an mmap hook", () => {
    const mm = machine().newMm();
    expect(
      errnoOf(() => mm.mmap({ addr: 0, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED, file: {} })),
    ).toBe("ENODEV:do_mmap");
  });

  test("EOPNOTSUPP for MAP_SHARED_VALIDATE with a flag the file does not support", () => {
    const mm = machine().newMm();
    const file = deviceFile();
    expect(
      errnoOf(() =>
        mm.mmap({
          addr: 0,
          length: PAGE_SIZE,
          prot: RW,
          flags: MAP_SHARED_VALIDATE | MAP_SYNC,
          file,
        }),
      ),
    ).toBe("EOPNOTSUPP:do_mmap");
    // Plain MAP_SHARED ignores it.
    expect(
      mm.mmap({ addr: 0, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED | MAP_SYNC, file }),
    ).toBeGreaterThan(0);
  });

  test("MAP_DROPPABLE and MAP_HUGETLB are refused (no VM_DROPPABLE, no hugetlb pool)", () => {
    const mm = machine().newMm();
    expect(
      errnoOf(() =>
        mm.mmap({ addr: 0, length: PAGE_SIZE, prot: RW, flags: MAP_DROPPABLE | MAP_ANONYMOUS }),
      ),
    ).toBe("ENOTSUPP:do_mmap");
    expect(errnoOf(() => anon(mm, LAYOUT.pmdSize, RW, MAP_HUGETLB))).toBe(
      "ENOMEM:hugetlb_reserve_pages",
    );
  });

  test("an ENOMEM from vm_area_alloc leaves no mapping behind", () => {
    const m = machine();
    const mm = m.newMm();
    m.allocator.setFailHook((site) => site === "vm_area_alloc");
    expect(errnoOf(() => anon(mm, PAGE_SIZE))).toBe("ENOMEM:vm_area_alloc");
    expect(mm.mapCount).toBe(0);
  });
});

describe("file mmap hooks", () => {
  test("a driver hook remaps MMIO: the VMA becomes VM_IO|VM_PFNMAP and user copies reach the device", () => {
    const m = machine();
    const mm = m.newMm();
    const file = deviceFile();
    const va = mm.mmap({ addr: 0, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED, file });
    const vma = mm.vmaLookup(va)!;
    expect(vma.flags & (VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP)).toBe(
      VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP,
    );
    expect(mm.translate(va)).toBe(MMIO_BASE / PAGE_SIZE);
    expect(mm.pageTable.bits(va / PAGE_SIZE) & PTE.special).toBeTruthy();
    mm.writeUser(va + 8, new Uint8Array([0x78, 0x56, 0x34, 0x12]));
    expect(m.device.regs[2]).toBe(0x12345678);
    m.device.regs[3] = 0xcafef00d;
    expect(peek(mm, va + 12, 4)).toEqual(new Uint8Array([0x0d, 0xf0, 0xfe, 0xca]));
    expect(file.refs).toBe(1);
    expect(m.memory.allocatedFrames).toBe(0);
  });

  test("an MMIO bus error in a user copy is EFAULT", () => {
    const mm = machine().newMm();
    const va = mm.mmap({
      addr: 0,
      length: 2 * PAGE_SIZE,
      prot: RW,
      flags: MAP_SHARED,
      file: deviceFile(),
    });
    expect(errnoOf(() => peek(mm, va + PAGE_SIZE, 4))).toBe("EFAULT:copy_from_user");
  });

  test("an MMIO bus error in a user store is EFAULT, and a 4-byte one reaches nothing", () => {
    const m = machine();
    const mm = m.newMm();
    const va = mm.mmap({
      addr: 0,
      length: 2 * PAGE_SIZE,
      prot: RW,
      flags: MAP_SHARED,
      file: deviceFile(),
    });
    expect(errnoOf(() => mm.writeUser(va + PAGE_SIZE, new Uint8Array(4).fill(1)))).toBe(
      "EFAULT:copy_to_user",
    );
    expect(m.device.regs.every((r) => r === 0)).toBe(true);
  });

  test("a store through a read-only PFN map is EFAULT before the device sees it", () => {
    const m = machine();
    const mm = m.newMm();
    const va = mm.mmap({
      addr: 0,
      length: PAGE_SIZE,
      prot: PROT_READ,
      flags: MAP_SHARED,
      file: deviceFile(),
    });
    expect(errnoOf(() => mm.writeUser(va, new Uint8Array([1, 2, 3, 4])))).toBe(
      "EFAULT:copy_to_user",
    );
    expect(m.device.regs[0]).toBe(0);
  });

  test("an aligned 32-bit user access is one 32-bit bus access; others go byte by byte", () => {
    const m = machine();
    const mm = m.newMm();
    const sizes: number[] = [];
    const read = m.device.mmioRead.bind(m.device);
    const write = m.device.mmioWrite.bind(m.device);
    m.device.mmioRead = (off, size) => {
      sizes.push(size);
      return read(off, size);
    };
    m.device.mmioWrite = (off, size, value) => {
      sizes.push(size);
      return write(off, size, value);
    };
    const va = mm.mmap({
      addr: 0,
      length: PAGE_SIZE,
      prot: RW,
      flags: MAP_SHARED,
      file: deviceFile(),
    });
    mm.writeUser(va + 4, new Uint8Array([1, 2, 3, 4]));
    peek(mm, va + 4, 4);
    expect(sizes).toEqual([4, 4]);
    sizes.length = 0;
    peek(mm, va + 5, 2);
    mm.writeUser(va + 8, new Uint8Array([9, 9]));
    expect(sizes).toEqual([1, 1, 1, 1]);
    expect(m.device.regs[1]).toBe(0x0403_0201);
  });

  describe("a user access to a PFN map moves what the bus moves for that physical range", () => {
    fcTest.prop(
      [
        fc.integer({ min: 0, max: PAGE_SIZE - 1 }),
        fc.integer({ min: 1, max: 12 }),
        fc.boolean(),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
      ],
      { numRuns: 150 },
    )(
      "same bytes, same device state, same errno as tryReadBytes/tryWriteBytes",
      (off, len, isWrite, data) => {
        const user = machine();
        const ref = machine();
        const mm = user.newMm();
        const va = mm.mmap({
          addr: 0,
          length: 2 * PAGE_SIZE,
          prot: RW,
          flags: MAP_SHARED,
          file: deviceFile(),
        });
        for (const mach of [user, ref]) {
          for (let i = 0; i < mach.device.regs.length; i++) mach.device.regs[i] = i * 0x01010101;
        }
        const src = data.subarray(0, len);
        if (isWrite) {
          const e = ref.bus.tryWriteBytes(MMIO_BASE + off, src, "cpu");
          const got = errnoOf(() => mm.writeUser(va + off, src));
          expect(got).toBe(e ? "EFAULT:copy_to_user" : "ok");
        } else {
          const want = new Uint8Array(len);
          const e = ref.bus.tryReadBytes(MMIO_BASE + off, want, "cpu");
          const buf = new Uint8Array(len);
          const got = errnoOf(() => mm.readUser(va + off, buf));
          expect(got).toBe(e ? "EFAULT:copy_from_user" : "ok");
          if (!e) expect(buf).toEqual(want);
        }
        expect(user.device.regs).toEqual(ref.device.regs);
      },
    );
  });

  test("a failing hook unmaps what it remapped, drops the file reference and maps nothing", () => {
    const mm = machine().newMm();
    const file = deviceFile({ fail: true });
    expect(
      errnoOf(() => mm.mmap({ addr: 0, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED, file })),
    ).toBe("EINVAL:scratch_mmap");
    expect(file.mapped).toHaveLength(1);
    expect(mm.mapCount).toBe(0);
    expect(mm.pageTable.presentCount).toBe(0);
    expect(file.refs).toBe(0);
  });

  test("PFN maps never merge and are never populated", () => {
    const mm = machine().newMm();
    const file = deviceFile();
    const a = mm.mmap({
      addr: 0,
      length: PAGE_SIZE,
      prot: RW,
      flags: MAP_SHARED | MAP_POPULATE,
      file,
    });
    mm.mmap({
      addr: a - PAGE_SIZE,
      length: PAGE_SIZE,
      prot: RW,
      flags: MAP_SHARED | MAP_FIXED,
      file,
      pgoff: 0,
    });
    expect(mm.mapCount).toBe(2);
    mm.mprotect(a - PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ);
    expect(mm.mapCount).toBe(2);
    mm.munmap(a - PAGE_SIZE, 2 * PAGE_SIZE);
    expect(file.refs).toBe(0);
  });
});

describe("demand paging and user copies", () => {
  test("nothing is allocated until touched; a read maps a frame that has no storage", () => {
    const m = machine();
    const mm = m.newMm();
    const va = anon(mm, 16 * PAGE_SIZE);
    expect(m.allocator.usedPages).toBe(0);
    expect(peek(mm, va, 8)).toEqual(new Uint8Array(8));
    expect(m.allocator.usedPages).toBe(1);
    expect(m.memory.allocatedFrames).toBe(0);
    mm.writeUser(va, pattern(8));
    expect(m.memory.allocatedFrames).toBe(1);
    expect(peek(mm, va, 8)).toEqual(pattern(8));
  });

  test("EFAULT for NULL", () => {
    const mm = machine().newMm();
    expect(errnoOf(() => peek(mm, 0, 4))).toBe("EFAULT:copy_from_user");
    expect(errnoOf(() => mm.writeUser(0, pattern(4)))).toBe("EFAULT:copy_to_user");
  });

  test("EFAULT for an unmapped address and past TASK_SIZE", () => {
    const mm = machine().newMm();
    const va = anon(mm, PAGE_SIZE);
    mm.munmap(va, PAGE_SIZE);
    expect(errnoOf(() => peek(mm, va, 1))).toBe("EFAULT:copy_from_user");
    expect(errnoOf(() => peek(mm, LAYOUT.taskSize - 2, 4))).toBe("EFAULT:copy_from_user");
  });

  test("EFAULT for a write to a read-only page, which stays untouched", () => {
    const m = machine();
    const mm = m.newMm();
    const va = anon(mm, PAGE_SIZE, PROT_READ);
    expect(errnoOf(() => mm.writeUser(va, pattern(4)))).toBe("EFAULT:copy_to_user");
    expect(m.allocator.usedPages).toBe(0);
    expect(peek(mm, va, 4)).toEqual(new Uint8Array(4));
  });

  test("EFAULT for PROT_NONE; a write-only mapping is readable (arm64: write implies read)", () => {
    const mm = machine().newMm();
    const none = anon(mm, PAGE_SIZE, PROT_NONE);
    expect(errnoOf(() => peek(mm, none, 1))).toBe("EFAULT:copy_from_user");
    const wo = anon(mm, PAGE_SIZE, PROT_WRITE);
    mm.writeUser(wo, pattern(4));
    expect(peek(mm, wo, 4)).toEqual(pattern(4));
    const xo = anon(mm, PAGE_SIZE, PROT_EXEC);
    expect(errnoOf(() => peek(mm, xo, 1))).toBe("EFAULT:copy_from_user");
  });

  test("a struct straddling a page boundary spans two frames", () => {
    const m = machine();
    const mm = m.newMm();
    const va = anon(mm, 2 * PAGE_SIZE);
    const at = va + PAGE_SIZE - 6;
    mm.writeUser(at, pattern(16));
    expect(peek(mm, at, 16)).toEqual(pattern(16));
    const f0 = mm.translate(va);
    const f1 = mm.translate(va + PAGE_SIZE);
    expect(f0).not.toBe(f1);
    expect(m.memory.frameForRead(f1).subarray(0, 10)).toEqual(pattern(16).subarray(6));
  });

  test("a struct straddling into an unmapped page is EFAULT and no byte moves", () => {
    const mm = machine().newMm();
    const va = anon(mm, 2 * PAGE_SIZE);
    mm.munmap(va + PAGE_SIZE, PAGE_SIZE);
    mm.writeUser(va + PAGE_SIZE - 8, new Uint8Array(8).fill(0xaa));
    expect(errnoOf(() => mm.writeUser(va + PAGE_SIZE - 4, pattern(8)))).toBe("EFAULT:copy_to_user");
    expect(peek(mm, va + PAGE_SIZE - 8, 8)).toEqual(new Uint8Array(8).fill(0xaa));
  });

  test("a fault that cannot allocate is EFAULT for the copy", () => {
    const m = machine();
    const mm = m.newMm();
    const va = anon(mm, PAGE_SIZE);
    m.allocator.setFailHook((s) => s === "alloc_pages");
    expect(errnoOf(() => mm.writeUser(va, pattern(4)))).toBe("EFAULT:copy_to_user");
  });

  test("MAP_POPULATE faults the whole range in at mmap time", () => {
    const m = machine();
    const mm = m.newMm();
    anon(mm, 8 * PAGE_SIZE, RW, MAP_POPULATE);
    expect(m.allocator.usedPages).toBe(8);
    expect(mm.pageTable.presentCount).toBe(8);
  });

  test("exit_mmap frees every page", () => {
    const m = machine();
    const mm = m.newMm();
    const va = anon(mm, 8 * PAGE_SIZE, RW, MAP_POPULATE);
    mm.writeUser(va, pattern(100));
    mm.exitMmap();
    expect(m.allocator.usedPages).toBe(0);
    expect(mm.mapCount).toBe(0);
  });
});

describe("shared memory", () => {
  test("a memfd mapped shared in two address spaces is one set of pages", () => {
    const m = machine();
    const obj = memfdCreate(m.allocator, "buf", 0);
    obj.setSize(2 * PAGE_SIZE);
    const file = obj.openFile();
    const a = m.newMm();
    const b = m.newMm();
    const va = a.mmap({ addr: 0, length: 2 * PAGE_SIZE, prot: RW, flags: MAP_SHARED, file });
    const vb = b.mmap({ addr: 0, length: 2 * PAGE_SIZE, prot: RW, flags: MAP_SHARED, file });
    a.writeUser(va + PAGE_SIZE - 2, pattern(4));
    expect(peek(b, vb + PAGE_SIZE - 2, 4)).toEqual(pattern(4));
    expect(a.translate(va)).toBe(b.translate(vb));
    expect(m.allocator.mapCount(a.translate(va))).toBe(2);
    const out = new Uint8Array(4);
    obj.readAt(PAGE_SIZE - 2, out);
    expect(out).toEqual(pattern(4));
  });

  test("past the end of the object an access is EFAULT (SIGBUS)", () => {
    const m = machine();
    const obj = memfdCreate(m.allocator, "short", 0);
    obj.setSize(PAGE_SIZE);
    const mm = m.newMm();
    const va = mm.mmap({
      addr: 0,
      length: 2 * PAGE_SIZE,
      prot: RW,
      flags: MAP_SHARED,
      file: obj.openFile(),
    });
    mm.writeUser(va, pattern(4));
    expect(errnoOf(() => peek(mm, va + PAGE_SIZE, 4))).toBe("EFAULT:copy_from_user");
  });

  test("MAP_PRIVATE of a memfd reads the file and copies on write", () => {
    const m = machine();
    const obj = memfdCreate(m.allocator, "cow", 0);
    obj.writeAt(0, pattern(PAGE_SIZE));
    const mm = m.newMm();
    const va = mm.mmap({
      addr: 0,
      length: PAGE_SIZE,
      prot: RW,
      flags: MAP_PRIVATE,
      file: obj.openFile(),
    });
    expect(peek(mm, va, 4)).toEqual(pattern(4));
    expect(mm.translate(va)).toBe(obj.findPage(0));
    mm.writeUser(va, new Uint8Array([9, 9]));
    expect(mm.translate(va)).not.toBe(obj.findPage(0));
    expect(peek(mm, va, 4)).toEqual(new Uint8Array([9, 9, 3, 4]));
    const file = new Uint8Array(4);
    obj.readAt(0, file);
    expect(file).toEqual(pattern(4));
  });

  test("MAP_SHARED|MAP_ANONYMOUS is a /dev/zero shmem object freed with the mapping", () => {
    const m = machine();
    const mm = m.newMm();
    const va = mm.mmap({
      addr: 0,
      length: 2 * PAGE_SIZE,
      prot: RW,
      flags: MAP_SHARED | MAP_ANONYMOUS,
    });
    const vma = mm.vmaLookup(va)!;
    expect(vma.flags & VM_SHARED).toBeTruthy();
    expect(vma.mapsLine()).toMatch(/ rw-s 00000000 00:00 0 +\/dev\/zero \(deleted\)$/);
    mm.writeUser(va, pattern(10));
    mm.munmap(va, PAGE_SIZE);
    expect(peek(mm, va + PAGE_SIZE, 1)).toEqual(new Uint8Array(1));
    mm.munmap(va + PAGE_SIZE, PAGE_SIZE);
    expect(m.allocator.usedPages).toBe(0);
  });
});

describe("munmap and mprotect", () => {
  test("munmap of the middle splits a mapping in two", () => {
    const mm = machine().newMm();
    const va = anon(mm, 3 * PAGE_SIZE);
    mm.munmap(va + PAGE_SIZE, PAGE_SIZE);
    expect(mm.vmaList.map((v) => [v.start - va, v.end - va])).toEqual([
      [0, PAGE_SIZE],
      [2 * PAGE_SIZE, 3 * PAGE_SIZE],
    ]);
  });

  test("munmap: EINVAL for an unaligned start or a zero length; a hole is fine", () => {
    const mm = machine().newMm();
    expect(errnoOf(() => mm.munmap(0x1000_0001, PAGE_SIZE))).toBe("EINVAL:do_vmi_munmap");
    expect(errnoOf(() => mm.munmap(0x1000_0000, 0))).toBe("EINVAL:do_vmi_munmap");
    expect(errnoOf(() => mm.munmap(0x1000_0000, PAGE_SIZE))).toBe("ok");
  });

  test("munmap: an ENOMEM splitting leaves the mapping in place", () => {
    const m = machine();
    const mm = m.newMm();
    const va = anon(mm, 3 * PAGE_SIZE);
    m.allocator.setFailHook((s) => s === "vm_area_dup");
    expect(errnoOf(() => mm.munmap(va + PAGE_SIZE, PAGE_SIZE))).toBe("ENOMEM:__split_vma");
    expect(mm.mapCount).toBe(1);
  });

  test("mprotect splits, and restoring the protection merges back", () => {
    const mm = machine().newMm();
    const va = anon(mm, 3 * PAGE_SIZE);
    mm.mprotect(va + PAGE_SIZE, PAGE_SIZE, PROT_READ);
    expect(mm.mapCount).toBe(3);
    expect(errnoOf(() => mm.writeUser(va + PAGE_SIZE, pattern(1)))).toBe("EFAULT:copy_to_user");
    mm.mprotect(va + PAGE_SIZE, PAGE_SIZE, RW);
    expect(mm.mapCount).toBe(1);
    expect(vmFlagsString(mm.vmaList[0]!.flags)).toBe("rd wr mr mw me ac");
  });

  test("mprotect: EINVAL for an unaligned start or unsupported bits", () => {
    const mm = machine().newMm();
    const va = anon(mm, PAGE_SIZE);
    expect(errnoOf(() => mm.mprotect(va + 1, PAGE_SIZE, PROT_READ))).toBe(
      "EINVAL:do_mprotect_pkey",
    );
    expect(errnoOf(() => mm.mprotect(va, PAGE_SIZE, 0x10))).toBe("EINVAL:do_mprotect_pkey");
  });

  test("mprotect: ENOMEM for a hole, after changing what precedes it", () => {
    const mm = machine().newMm();
    const va = anon(mm, 3 * PAGE_SIZE);
    mm.munmap(va + PAGE_SIZE, PAGE_SIZE);
    expect(errnoOf(() => mm.mprotect(va, 3 * PAGE_SIZE, PROT_READ))).toBe(
      "ENOMEM:do_mprotect_pkey",
    );
    expect(mm.vmaLookup(va)!.flags & VM_WRITE).toBe(0);
    expect(mm.vmaLookup(va + 2 * PAGE_SIZE)!.flags & VM_WRITE).toBeTruthy();
    expect(errnoOf(() => mm.mprotect(va - PAGE_SIZE, PAGE_SIZE, PROT_READ))).toBe(
      "ENOMEM:do_mprotect_pkey",
    );
  });

  test("mprotect: EACCES for PROT_WRITE on a shared mapping of a read-only file", () => {
    const mm = machine().newMm();
    const file = deviceFile({ fMode: FMODE_READ });
    const va = mm.mmap({ addr: 0, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED, file });
    expect(mm.vmaLookup(va)!.flags & VM_MAYWRITE).toBe(0);
    expect(errnoOf(() => mm.mprotect(va, PAGE_SIZE, RW))).toBe("EACCES:do_mprotect_pkey");
  });

  test("a private writable mapping is VM_ACCOUNT; an unfaulted one drops it when made read-only", () => {
    const mm = machine().newMm();
    const va = anon(mm, PAGE_SIZE);
    expect(mm.vmaLookup(va)!.flags & VM_ACCOUNT).toBeTruthy();
    mm.mprotect(va, PAGE_SIZE, PROT_READ);
    expect(mm.vmaLookup(va)!.flags & VM_ACCOUNT).toBe(0);
  });
});

/** The reference model: per page, its protection, or absent; and the bytes of touched pages. */
type Op =
  | { kind: "map"; page: number; pages: number; prot: number }
  | { kind: "unmap"; page: number; pages: number }
  | { kind: "protect"; page: number; pages: number; prot: number }
  | { kind: "touch"; page: number; byte: number };

const WINDOW = 24;

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("map" as const),
    page: fc.nat(WINDOW - 1),
    pages: fc.integer({ min: 1, max: 6 }),
    prot: fc.constantFrom(PROT_NONE, PROT_READ, RW),
  }),
  fc.record({
    kind: fc.constant("unmap" as const),
    page: fc.nat(WINDOW - 1),
    pages: fc.integer({ min: 1, max: 6 }),
  }),
  fc.record({
    kind: fc.constant("protect" as const),
    page: fc.nat(WINDOW - 1),
    pages: fc.integer({ min: 1, max: 6 }),
    prot: fc.constantFrom(PROT_NONE, PROT_READ, RW),
  }),
  fc.record({
    kind: fc.constant("touch" as const),
    page: fc.nat(WINDOW - 1),
    byte: fc.integer({ min: 1, max: 255 }),
  }),
);

describe("VMA set against a reference model", () => {
  fcTest.prop([fc.array(opArb, { maxLength: 40 })])(
    "mmap/munmap/mprotect/touch keep VMAs sorted, disjoint and equal to the model page by page",
    (ops) => {
      const m = machine(256);
      const mm = m.newMm();
      const base = 0x1000_0000;
      const prot: (number | undefined)[] = new Array(WINDOW).fill(undefined);
      const bytes: number[] = new Array(WINDOW).fill(0);
      for (const op of ops) {
        const end = Math.min(WINDOW, op.page + ("pages" in op ? op.pages : 1));
        const va = base + op.page * PAGE_SIZE;
        const len = (end - op.page) * PAGE_SIZE;
        if (op.kind === "map") {
          mm.mmap({ addr: va, length: len, prot: op.prot, flags: ANON | MAP_FIXED });
          for (let p = op.page; p < end; p++) {
            prot[p] = op.prot;
            bytes[p] = 0;
          }
        } else if (op.kind === "unmap") {
          mm.munmap(va, len);
          for (let p = op.page; p < end; p++) prot[p] = undefined;
        } else if (op.kind === "protect") {
          let hole = -1;
          for (let p = op.page; p < end; p++) if (prot[p] === undefined && hole < 0) hole = p;
          const r = errnoOf(() => mm.mprotect(va, len, op.prot));
          // Linux applies the change up to the first hole, then fails with ENOMEM.
          const upto = hole < 0 ? end : hole;
          if (hole === op.page) expect(r).toBe("ENOMEM:do_mprotect_pkey");
          else {
            for (let p = op.page; p < upto; p++) prot[p] = op.prot;
            expect(r).toBe(hole < 0 ? "ok" : "ENOMEM:do_mprotect_pkey");
          }
        } else {
          const r = errnoOf(() => mm.writeUser(va + 7, new Uint8Array([op.byte])));
          if (prot[op.page] === RW) {
            expect(r).toBe("ok");
            bytes[op.page] = op.byte;
          } else expect(r).toBe("EFAULT:copy_to_user");
        }
        // Structure: sorted, disjoint, non-empty.
        const vs = mm.vmaList;
        for (let i = 0; i < vs.length; i++) {
          expect(vs[i]!.start).toBeLessThan(vs[i]!.end);
          if (i > 0) expect(vs[i - 1]!.end).toBeLessThanOrEqual(vs[i]!.start);
        }
      }
      for (let p = 0; p < WINDOW; p++) {
        const v = mm.vmaLookup(base + p * PAGE_SIZE);
        if (prot[p] === undefined) {
          expect(v).toBeUndefined();
          continue;
        }
        expect(v).toBeDefined();
        const want = (prot[p]! & PROT_READ ? VM_READ : 0) | (prot[p]! & PROT_WRITE ? VM_WRITE : 0);
        expect(v!.flags & (VM_READ | VM_WRITE)).toBe(want);
        if (prot[p] !== PROT_NONE) expect(peek(mm, base + p * PAGE_SIZE + 7, 1)[0]).toBe(bytes[p]);
      }
      mm.exitMmap();
      expect(m.allocator.usedPages).toBe(0);
    },
  );
});

describe("fault injection", () => {
  /** A scenario touching every fallible site: VMAs, splits, faults, shmem, pins, mlock. */
  function scenario(m: ReturnType<typeof machine>): void {
    const mm = m.newMm();
    let obj: ReturnType<typeof memfdCreate> | undefined;
    const pinned: number[] = [];
    try {
      const va = anon(mm, 4 * PAGE_SIZE);
      mm.writeUser(va, pattern(100));
      mm.mprotect(va + PAGE_SIZE, PAGE_SIZE, PROT_READ);
      obj = memfdCreate(m.allocator, "sweep", 0);
      obj.setSize(2 * PAGE_SIZE);
      const vs = mm.mmap({
        addr: 0,
        length: 2 * PAGE_SIZE,
        prot: RW,
        flags: MAP_SHARED,
        file: obj.openFile(),
      });
      mm.writeUser(vs, pattern(10));
      pinned.push(...pinUserPages(mm, va, 2, { write: true, longterm: true }));
      mlock(mm, va, 4 * PAGE_SIZE, { rlimitMemlock: 2 ** 20, capIpcLock: false });
      mm.munmap(va + PAGE_SIZE, PAGE_SIZE);
      mm.mmap({ addr: 0, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED | MAP_ANONYMOUS });
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
    } finally {
      const vs = mm.vmaList;
      for (let i = 1; i < vs.length; i++) expect(vs[i - 1]!.end).toBeLessThanOrEqual(vs[i]!.start);
      unpinUserPages(m.allocator, pinned);
      obj?.put();
      mm.exitMmap();
    }
  }

  test("failing each fallible site in turn leaves no page behind", () => {
    let n = 1;
    for (; ; n++) {
      const m = machine(64);
      let calls = 0;
      m.allocator.setFailHook(() => ++calls === n);
      scenario(m);
      expect(m.allocator.usedPages).toBe(0);
      if (calls < n) break;
    }
    expect(n).toBeGreaterThan(10);
  });
});
