import { fc, test as fcTest } from "@fast-check/vitest";
import { PAGE_SIZE, PhysicalMemory } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import { SysError } from "../errno.js";
import { KernelBug, PageAllocator, PG } from "./page-allocator.js";

const BASE_PFN = 0x40000;

function allocator(pages = 64, banks?: { base: number; size: number }[]) {
  const memory = new PhysicalMemory();
  const a = new PageAllocator(
    memory,
    banks ?? [{ base: BASE_PFN * PAGE_SIZE, size: pages * PAGE_SIZE }],
  );
  return { memory, a };
}

function errnoOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (SysError.isInstance(e)) return `${e.code}:${e.fn}`;
    throw e;
  }
  return "ok";
}

describe("page allocator", () => {
  test("hands out the lowest free pfn of the RAM bank first", () => {
    const { a } = allocator();
    expect(a.allocPage({ kind: "anon" })).toBe(BASE_PFN);
    expect(a.allocPage({ kind: "anon" })).toBe(BASE_PFN + 1);
    expect(a.refCount(BASE_PFN)).toBe(1);
    expect(a.pageFlags(BASE_PFN) & PG.anon).toBeTruthy();
    expect(a.usedPages).toBe(2);
  });

  test("reuses a freed frame before untouched ones, and it reads as zeros", () => {
    const { a, memory } = allocator();
    const p0 = a.allocPage({ kind: "anon" });
    a.allocPage({ kind: "anon" });
    memory.write(p0 * PAGE_SIZE, new Uint8Array([1, 2, 3]));
    a.putPage(p0);
    expect(a.isAllocated(p0)).toBe(false);
    const again = a.allocPage({ kind: "kernel" });
    expect(again).toBe(p0);
    expect(memory.frameForRead(again).subarray(0, 3)).toEqual(new Uint8Array(3));
  });

  test("skips the hole between two RAM banks and ignores partial frames", () => {
    const { a } = allocator(0, [
      { base: 0x1000_0000 + 100, size: 2 * PAGE_SIZE },
      { base: 0x2000_0000, size: PAGE_SIZE },
    ]);
    expect(a.totalPages).toBe(2);
    expect(a.allocPage({ kind: "anon" })).toBe(0x10001);
    expect(a.allocPage({ kind: "anon" })).toBe(0x20000);
    expect(a.pfnValid(0x10000)).toBe(false);
    expect(a.pfnValid(0x10001)).toBe(true);
  });

  test("ENOMEM when every frame is in use, with nothing changed", () => {
    const { a } = allocator(2);
    a.allocPage({ kind: "anon" });
    a.allocPage({ kind: "anon" });
    expect(errnoOf(() => a.allocPage({ kind: "anon" }))).toBe("ENOMEM:alloc_pages");
    expect(a.usedPages).toBe(2);
  });

  test("the fault-injection hook fails an allocation site with ENOMEM", () => {
    const { a } = allocator();
    const sites: string[] = [];
    a.setFailHook((site) => {
      sites.push(site);
      return true;
    });
    expect(errnoOf(() => a.allocPage({ kind: "anon" }))).toBe("ENOMEM:alloc_pages");
    expect(sites).toEqual(["alloc_pages"]);
    expect(a.usedPages).toBe(0);
    a.setFailHook(undefined);
    expect(a.allocPage({ kind: "anon" })).toBe(BASE_PFN);
  });

  test("put_page frees at refcount zero; another put is a kernel BUG", () => {
    const { a } = allocator();
    const p = a.allocPage({ kind: "anon" });
    a.getPage(p);
    a.putPage(p);
    expect(a.isAllocated(p)).toBe(true);
    a.putPage(p);
    expect(a.isAllocated(p)).toBe(false);
    expect(() => a.putPage(p)).toThrow(KernelBug);
  });

  test("a pin holds a reference: the frame survives its last put until unpinned", () => {
    const { a } = allocator();
    const p = a.allocPage({ kind: "anon" });
    a.pin(p);
    expect(a.pinCount(p)).toBe(1);
    a.putPage(p);
    expect(a.isAllocated(p)).toBe(true);
    a.unpin(p);
    expect(a.isAllocated(p)).toBe(false);
    expect(() => a.unpin(p)).toThrow(KernelBug);
  });

  test("alloc_pages(order) returns a naturally aligned block", () => {
    const { a } = allocator(64);
    a.allocPage({ kind: "kernel" });
    const base = a.allocPages(3, { kind: "pagetable" });
    expect(base % 8).toBe(0);
    for (let i = 0; i < 8; i++) expect(a.pageFlags(base + i) & PG.pagetable).toBeTruthy();
    // The frames skipped for alignment are still handed out.
    expect(a.allocPage({ kind: "anon" })).toBe(BASE_PFN + 1);
    expect(errnoOf(() => a.allocPages(7, { kind: "kernel" }))).toBe("ENOMEM:alloc_pages");
  });

  test("migration targets come from the top of RAM downward", () => {
    const { a } = allocator(16);
    expect(a.allocMigrationTarget({ kind: "anon" })).toBe(BASE_PFN + 15);
    expect(a.allocMigrationTarget({ kind: "anon" })).toBe(BASE_PFN + 14);
    expect(a.allocPage({ kind: "anon" })).toBe(BASE_PFN);
  });

  test("a terabyte of declared RAM costs nothing until touched", () => {
    const memory = new PhysicalMemory();
    const a = new PageAllocator(memory, [{ base: 0x4000_0000, size: 2 ** 40 }]);
    expect(a.totalPages).toBe(2 ** 28);
    const p = a.allocPage({ kind: "anon", zero: true });
    expect(p).toBe(BASE_PFN);
    expect(memory.allocatedFrames).toBe(0);
  });

  fcTest.prop([fc.array(fc.tuple(fc.boolean(), fc.nat(63)), { maxLength: 300 })])(
    "never hands out a frame twice, and always the lowest free one",
    (ops) => {
      const { a } = allocator(32);
      const held = new Set<number>();
      for (const [alloc, pick] of ops) {
        if (alloc || held.size === 0) {
          if (held.size === 32) {
            expect(errnoOf(() => a.allocPage({ kind: "anon" }))).toBe("ENOMEM:alloc_pages");
            continue;
          }
          let lowest = BASE_PFN;
          while (held.has(lowest)) lowest++;
          const p = a.allocPage({ kind: "anon" });
          expect(held.has(p)).toBe(false);
          expect(p).toBe(lowest);
          held.add(p);
        } else {
          const victim = [...held].sort((x, y) => x - y)[pick % held.size]!;
          held.delete(victim);
          a.putPage(victim);
        }
        expect(a.usedPages).toBe(held.size);
      }
    },
  );
});
