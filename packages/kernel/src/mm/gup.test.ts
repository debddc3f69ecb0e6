import { fc, test as fcTest } from "@fast-check/vitest";
import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import type { AddressSpace } from "./address-space.js";
import { memfdPinFolios, pinUserPages, unpinUserPages } from "./gup.js";
import { memfdCreate } from "./memfd.js";
import { deviceFile, errnoOf, machine, pattern } from "./mm-test-fixture.js";
import {
  F_SEAL_WRITE,
  FMODE_READ,
  FMODE_WRITE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
} from "./mman.js";
import { PG } from "./page-allocator.js";

const RW = PROT_READ | PROT_WRITE;

function anon(mm: AddressSpace, pages: number, prot = RW): number {
  return mm.mmap({ addr: 0, length: pages * PAGE_SIZE, prot, flags: MAP_PRIVATE | MAP_ANONYMOUS });
}

describe("pin_user_pages", () => {
  test("faults the pages in and pins each one", () => {
    const m = machine();
    const mm = m.newMm();
    const va = anon(mm, 4);
    const pfns = pinUserPages(mm, va + 10, 4, { write: true, longterm: true });
    expect(pfns).toHaveLength(4);
    for (const [i, pfn] of pfns.entries()) {
      expect(mm.translate(va + i * PAGE_SIZE)).toBe(pfn);
      expect(m.allocator.pinCount(pfn)).toBe(1);
      expect(m.allocator.refCount(pfn)).toBe(2);
    }
    unpinUserPages(m.allocator, pfns, true);
    expect(m.allocator.pinCount(pfns[0]!)).toBe(0);
    expect(m.allocator.pageFlags(pfns[0]!) & PG.dirty).toBeTruthy();
  });

  test("EFAULT when the first page is unmapped", () => {
    const mm = machine().newMm();
    expect(errnoOf(() => pinUserPages(mm, 0x1000_0000, 1))).toBe("EFAULT:__get_user_pages");
  });

  test("partial success: pages before a hole are pinned and returned", () => {
    const m = machine();
    const mm = m.newMm();
    const va = anon(mm, 3);
    mm.munmap(va + 2 * PAGE_SIZE, PAGE_SIZE);
    const pfns = pinUserPages(mm, va, 3);
    expect(pfns).toHaveLength(2);
    unpinUserPages(m.allocator, pfns);
  });

  test("EFAULT for a VM_IO|VM_PFNMAP mapping (no struct page to pin)", () => {
    const mm = machine().newMm();
    const va = mm.mmap({
      addr: 0,
      length: PAGE_SIZE,
      prot: RW,
      flags: MAP_SHARED,
      file: deviceFile(),
    });
    expect(errnoOf(() => pinUserPages(mm, va, 1))).toBe("EFAULT:check_vma_flags");
  });

  test("EFAULT for a write pin of a read-only mapping; a read pin works", () => {
    const m = machine();
    const mm = m.newMm();
    const va = anon(mm, 1, PROT_READ);
    expect(errnoOf(() => pinUserPages(mm, va, 1, { write: true }))).toBe("EFAULT:check_vma_flags");
    unpinUserPages(m.allocator, pinUserPages(mm, va, 1));
  });

  test("an ENOMEM from the fault stops the walk; with nothing pinned it is the error", () => {
    const m = machine();
    const mm = m.newMm();
    const va = anon(mm, 2);
    mm.writeUser(va, pattern(1));
    m.allocator.setFailHook((s) => s === "alloc_pages");
    const pfns = pinUserPages(mm, va, 2);
    expect(pfns).toHaveLength(1);
    unpinUserPages(m.allocator, pfns);
    expect(errnoOf(() => pinUserPages(mm, va + PAGE_SIZE, 1))).toBe("ENOMEM:handle_mm_fault");
  });

  test("the try_grab_folio fault site fails a pin with ENOMEM", () => {
    const m = machine();
    const mm = m.newMm();
    const va = anon(mm, 1);
    m.allocator.setFailHook((s) => s === "try_grab_folio");
    expect(errnoOf(() => pinUserPages(mm, va, 1))).toBe("ENOMEM:try_grab_folio");
  });

  test("munmap of a pinned range keeps the frame until the last unpin", () => {
    const m = machine();
    const mm = m.newMm();
    const va = anon(mm, 1);
    mm.writeUser(va, pattern(16));
    const [pfn] = pinUserPages(mm, va, 1, { write: true, longterm: true });
    mm.munmap(va, PAGE_SIZE);
    expect(m.allocator.isAllocated(pfn!)).toBe(true);
    expect(m.allocator.mapCount(pfn!)).toBe(0);
    expect(m.memory.frameForRead(pfn!).subarray(0, 16)).toEqual(pattern(16));
    unpinUserPages(m.allocator, [pfn!]);
    expect(m.allocator.isAllocated(pfn!)).toBe(false);
    expect(m.allocator.usedPages).toBe(0);
  });

  test("a write pin of a private memfd mapping breaks COW first", () => {
    const m = machine();
    const obj = memfdCreate(m.allocator, "cow", 0);
    obj.setSize(PAGE_SIZE);
    const mm = m.newMm();
    const va = mm.mmap({
      addr: 0,
      length: PAGE_SIZE,
      prot: RW,
      flags: MAP_PRIVATE,
      file: obj.openFile(),
    });
    const [ro] = pinUserPages(mm, va, 1);
    expect(ro).toBe(obj.findPage(0));
    const [rw] = pinUserPages(mm, va, 1, { write: true });
    expect(rw).not.toBe(ro);
    expect(m.allocator.pageFlags(rw!) & PG.anon).toBeTruthy();
    unpinUserPages(m.allocator, [ro!, rw!]);
  });

  fcTest.prop([
    fc.array(fc.tuple(fc.nat(7), fc.integer({ min: 1, max: 4 }), fc.boolean()), { maxLength: 30 }),
  ])("pins and unpins balance: every count returns to zero and unmapped pages are freed", (ops) => {
    const m = machine(128);
    const mm = m.newMm();
    const va = anon(mm, 8);
    const held: number[][] = [];
    for (const [page, n, unpinOne] of ops) {
      if (unpinOne && held.length > 0) unpinUserPages(m.allocator, held.shift()!);
      else held.push(pinUserPages(mm, va + page * PAGE_SIZE, Math.min(n, 8 - page)));
    }
    mm.munmap(va, 8 * PAGE_SIZE);
    const stillPinned = new Set(held.flat());
    expect(m.allocator.usedPages).toBe(stillPinned.size);
    for (const pfns of held) unpinUserPages(m.allocator, pfns);
    expect(m.allocator.usedPages).toBe(0);
  });
});

describe("memfd_pin_folios", () => {
  test("pins the pages covering a byte range, allocating missing ones", () => {
    const m = machine();
    const obj = memfdCreate(m.allocator, "dma", 0);
    obj.setSize(4 * PAGE_SIZE);
    const { pfns, offset } = memfdPinFolios(obj, PAGE_SIZE + 100, 3 * PAGE_SIZE - 1);
    expect(offset).toBe(100);
    expect(pfns).toEqual([obj.findPage(1), obj.findPage(2)]);
    expect(m.allocator.pinCount(pfns[0]!)).toBe(1);
    unpinUserPages(m.allocator, pfns);
  });

  test("EINVAL for a reversed range or a page beyond EOF, with nothing left pinned", () => {
    const m = machine();
    const obj = memfdCreate(m.allocator, "dma", 0);
    obj.setSize(PAGE_SIZE);
    expect(errnoOf(() => memfdPinFolios(obj, 10, 5))).toBe("EINVAL:memfd_pin_folios");
    expect(errnoOf(() => memfdPinFolios(obj, 0, 2 * PAGE_SIZE - 1))).toBe("EINVAL:shmem_get_folio");
    expect(m.allocator.pinCount(obj.findPage(0))).toBe(0);
  });

  test("a pinned memfd page refuses F_SEAL_WRITE with EBUSY", () => {
    const m = machine();
    const obj = memfdCreate(m.allocator, "sealme", 0x2);
    obj.setSize(PAGE_SIZE);
    const { pfns } = memfdPinFolios(obj, 0, 0);
    expect(errnoOf(() => obj.addSeals(F_SEAL_WRITE, FMODE_READ | FMODE_WRITE))).toBe(
      "EBUSY:memfd_add_seals",
    );
    unpinUserPages(m.allocator, pfns);
    obj.addSeals(F_SEAL_WRITE, FMODE_READ | FMODE_WRITE);
    expect(obj.seals & F_SEAL_WRITE).toBeTruthy();
  });
});
