import { fc, test as fcTest } from "@fast-check/vitest";
import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import type { AddressSpace } from "./address-space.js";
import { pinUserPages, unpinUserPages } from "./gup.js";
import { memfdCreate } from "./memfd.js";
import { migratePages } from "./migrate.js";
import { mlock } from "./mlock.js";
import { machine, pattern } from "./mm-test-fixture.js";
import { MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from "./mman.js";
import { PG } from "./page-allocator.js";
import { decodePagemapEntry, pagemapEntry, pagemapRead } from "./pagemap.js";

const RW = PROT_READ | PROT_WRITE;

function anon(mm: AddressSpace, pages: number): number {
  return mm.mmap({
    addr: 0,
    length: pages * PAGE_SIZE,
    prot: RW,
    flags: MAP_PRIVATE | MAP_ANONYMOUS,
  });
}

function peek(mm: AddressSpace, va: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  mm.readUser(va, b);
  return b;
}

describe("page migration", () => {
  test("moves an mlocked page, never a pinned one, and /proc/self/pagemap shows it", () => {
    const m = machine(64);
    const mm = m.newMm();
    const va = anon(mm, 2);
    mm.writeUser(va, pattern(PAGE_SIZE * 2));
    mlock(mm, va, PAGE_SIZE, { rlimitMemlock: 8 * 2 ** 20, capIpcLock: false });
    const [pinned] = pinUserPages(mm, va + PAGE_SIZE, 1, { write: true, longterm: true });
    const before = decodePagemapEntry(pagemapEntry(mm, va, true));
    const lockedPfn = mm.translate(va);
    expect(before.pfn).toBe(lockedPfn);

    const moves = migratePages(m.allocator);

    expect(moves).toEqual([{ oldPfn: lockedPfn, newPfn: m.allocator.totalPages - 1 + 0x40000 }]);
    const after = decodePagemapEntry(pagemapEntry(mm, va, true));
    expect(after.present).toBe(true);
    expect(after.pfn).toBe(moves[0]!.newPfn);
    expect(after.exclusive).toBe(true);
    expect(m.allocator.pageFlags(after.pfn) & PG.mlocked).toBeTruthy();
    expect(m.allocator.isAllocated(lockedPfn)).toBe(false);
    expect(mm.translate(va + PAGE_SIZE)).toBe(pinned);
    expect(peek(mm, va, 2 * PAGE_SIZE)).toEqual(pattern(2 * PAGE_SIZE));
    // The procfs view of the same entries, as a reader without CAP_SYS_ADMIN sees them.
    const raw = pagemapRead(mm, (va / PAGE_SIZE) * 8, 16, false);
    const view = new DataView(raw.buffer);
    expect(decodePagemapEntry(view.getBigUint64(0, true))).toMatchObject({ present: true, pfn: 0 });
    expect(decodePagemapEntry(view.getBigUint64(8, true))).toMatchObject({ present: true, pfn: 0 });
    unpinUserPages(m.allocator, [pinned!]);
  });

  test("a shmem page mapped by two processes moves, and both page tables follow", () => {
    const m = machine(64);
    const obj = memfdCreate(m.allocator, "shared", 0);
    obj.setSize(PAGE_SIZE);
    const file = obj.openFile();
    const a = m.newMm();
    const b = m.newMm();
    const va = a.mmap({ addr: 0, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED, file });
    const vb = b.mmap({ addr: 0, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED, file });
    a.writeUser(va, pattern(32));
    peek(b, vb, 1);
    const old = obj.findPage(0);
    const [move] = migratePages(m.allocator);
    expect(move!.oldPfn).toBe(old);
    expect(obj.findPage(0)).toBe(move!.newPfn);
    expect(a.translate(va)).toBe(move!.newPfn);
    expect(b.translate(vb)).toBe(move!.newPfn);
    expect(peek(b, vb, 32)).toEqual(pattern(32));
    expect(m.allocator.mapCount(move!.newPfn)).toBe(2);
  });

  test("a page with an extra kernel reference stays put", () => {
    const m = machine(64);
    const mm = m.newMm();
    const va = anon(mm, 1);
    mm.writeUser(va, pattern(1));
    const pfn = mm.translate(va);
    m.allocator.getPage(pfn);
    expect(migratePages(m.allocator)).toEqual([]);
    m.allocator.putPage(pfn);
    expect(migratePages(m.allocator)).toHaveLength(1);
  });

  test("a munmapped pinned page is neither freed nor moved until unpinned", () => {
    const m = machine(64);
    const mm = m.newMm();
    const va = anon(mm, 1);
    const [pfn] = pinUserPages(mm, va, 1, { write: true, longterm: true });
    mm.munmap(va, PAGE_SIZE);
    expect(migratePages(m.allocator)).toEqual([]);
    expect(m.allocator.isAllocated(pfn!)).toBe(true);
    unpinUserPages(m.allocator, [pfn!]);
    expect(m.allocator.usedPages).toBe(0);
  });

  test("kernel pages and pages whose target cannot be allocated are left alone", () => {
    const m = machine(64);
    const mm = m.newMm();
    m.allocator.allocPage({ kind: "kernel" });
    const va = anon(mm, 1);
    mm.writeUser(va, pattern(1));
    m.allocator.setFailHook((s) => s === "alloc_pages");
    expect(migratePages(m.allocator)).toEqual([]);
    m.allocator.setFailHook(undefined);
    expect(migratePages(m.allocator)).toHaveLength(1);
  });

  fcTest.prop([
    fc.array(fc.tuple(fc.nat(15), fc.integer({ min: 1, max: 250 })), { maxLength: 40 }),
    fc.nat(15),
  ])("migration preserves every page's contents as seen through readUser", (writes, pinAt) => {
    const m = machine(128);
    const mm = m.newMm();
    const obj = memfdCreate(m.allocator, "fc", 0);
    obj.setSize(8 * PAGE_SIZE);
    const va = anon(mm, 8);
    const vs = mm.mmap({
      addr: 0,
      length: 8 * PAGE_SIZE,
      prot: RW,
      flags: MAP_SHARED,
      file: obj.openFile(),
    });
    for (const [page, byte] of writes) {
      const at = (page < 8 ? va : vs) + (page % 8) * PAGE_SIZE + byte;
      mm.writeUser(at, new Uint8Array([byte]));
    }
    const pinBase = pinAt < 8 ? va : vs;
    const pinned = pinUserPages(mm, pinBase + (pinAt % 8) * PAGE_SIZE, 1);
    const snapshot = () =>
      Buffer.concat([peek(mm, va, 8 * PAGE_SIZE), peek(mm, vs, 8 * PAGE_SIZE)]).toString("hex");
    const before = snapshot();
    const moves = migratePages(m.allocator);
    expect(moves.some((mv) => mv.oldPfn === pinned[0])).toBe(false);
    expect(moves.length).toBeGreaterThan(0);
    expect(snapshot() === before).toBe(true);
    unpinUserPages(m.allocator, pinned);
  });
});
