import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import { memfdCreate } from "./memfd.js";
import { deviceFile, errnoOf, MMIO_BASE, machine } from "./mm-test-fixture.js";
import { LAYOUT, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from "./mman.js";
import {
  decodePagemapEntry,
  PM_FILE,
  PM_MMAP_EXCLUSIVE,
  PM_PRESENT,
  pagemapEntry,
  pagemapRead,
} from "./pagemap.js";

const RW = PROT_READ | PROT_WRITE;

describe("/proc/<pid>/pagemap", () => {
  test("an untouched page is 0; a faulted anonymous page is present and exclusive", () => {
    const mm = machine().newMm();
    const va = mm.mmap({
      addr: 0,
      length: 2 * PAGE_SIZE,
      prot: RW,
      flags: MAP_PRIVATE | MAP_ANONYMOUS,
    });
    mm.writeUser(va, new Uint8Array([1]));
    const pfn = mm.translate(va);
    expect(pagemapEntry(mm, va + PAGE_SIZE, true)).toBe(0n);
    expect(pagemapEntry(mm, va, true)).toBe(PM_PRESENT | PM_MMAP_EXCLUSIVE | BigInt(pfn));
    expect(pagemapEntry(mm, va, false)).toBe(PM_PRESENT | PM_MMAP_EXCLUSIVE);
  });

  test("a shmem page is a file page; mapped twice it is no longer exclusive", () => {
    const m = machine();
    const obj = memfdCreate(m.allocator, "pm", 0);
    obj.setSize(PAGE_SIZE);
    const a = m.newMm();
    const b = m.newMm();
    const file = obj.openFile();
    const va = a.mmap({ addr: 0, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED, file });
    a.writeUser(va, new Uint8Array([1]));
    expect(pagemapEntry(a, va, false)).toBe(PM_PRESENT | PM_FILE | PM_MMAP_EXCLUSIVE);
    const vb = b.mmap({ addr: 0, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED, file });
    b.readUser(vb, new Uint8Array(1));
    expect(pagemapEntry(a, va, false)).toBe(PM_PRESENT | PM_FILE);
  });

  test("a PFN map entry carries the device pfn but neither the file nor the exclusive bit", () => {
    const mm = machine().newMm();
    const va = mm.mmap({
      addr: 0,
      length: PAGE_SIZE,
      prot: RW,
      flags: MAP_SHARED,
      file: deviceFile(),
    });
    expect(decodePagemapEntry(pagemapEntry(mm, va, true))).toEqual({
      present: true,
      swapped: false,
      file: false,
      exclusive: false,
      softDirty: false,
      pfn: MMIO_BASE / PAGE_SIZE,
    });
  });

  test("pagemap_read: EINVAL for an unaligned position or count", () => {
    const mm = machine().newMm();
    expect(errnoOf(() => pagemapRead(mm, 4, 8, false))).toBe("EINVAL:pagemap_read");
    expect(errnoOf(() => pagemapRead(mm, 8, 12, false))).toBe("EINVAL:pagemap_read");
    expect(pagemapRead(mm, 8, 0, false)).toHaveLength(0);
  });

  test("pagemap_read: entries stop at the end of the address space", () => {
    const mm = machine().newMm();
    const lastEntry = (LAYOUT.taskSize / PAGE_SIZE - 1) * 8;
    expect(pagemapRead(mm, lastEntry, 64, false)).toHaveLength(8);
    expect(pagemapRead(mm, BigInt(lastEntry) + 8n, 64, false)).toHaveLength(0);
    expect(pagemapRead(mm, 2n ** 60n, 64, false)).toHaveLength(0);
  });

  test("pagemap_read of a range returns one little-endian entry per page", () => {
    const mm = machine().newMm();
    const va = mm.mmap({
      addr: 0,
      length: 4 * PAGE_SIZE,
      prot: RW,
      flags: MAP_PRIVATE | MAP_ANONYMOUS,
    });
    mm.writeUser(va + 2 * PAGE_SIZE, new Uint8Array([1]));
    const raw = pagemapRead(mm, (va / PAGE_SIZE) * 8, 32, true);
    const view = new DataView(raw.buffer);
    const entries = [0, 1, 2, 3].map((i) => view.getBigUint64(i * 8, true));
    expect(entries[0]).toBe(0n);
    expect(entries[2]).toBe(pagemapEntry(mm, va + 2 * PAGE_SIZE, true));
    expect(raw[2 * 8 + 7]! & 0x80).toBe(0x80);
  });
});
