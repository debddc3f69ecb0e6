/**
 * Memory scenarios through the syscall facade: migration versus mlock and pin, and what
 * /proc/self/pagemap shows of it (the no-IOMMU "pin, don't mlock" point of seed 002).
 */

import { describe, expect, it } from "vitest";
import { O_RDONLY } from "../src/fs/file.js";
import { pinUserPages, unpinUserPages } from "../src/mm/gup.js";
import { decodePagemapEntry } from "../src/mm/pagemap.js";
import type { Process } from "../src/process.js";
import { boot } from "./fixture.js";

/** The pagemap entry of `va` as the process reads it through /proc/self/pagemap. */
function pagemap(p: Process, va: number) {
  const fd = p.open("/proc/self/pagemap", O_RDONLY);
  const buf = p.malloc(8);
  expect(p.pread(fd, buf, 8, Math.floor(va / 4096) * 8)).toBe(8);
  p.close(fd);
  const e = new DataView(p.peek(buf, 8).buffer).getBigUint64(0, true);
  return decodePagemapEntry(e);
}

describe("page migration", () => {
  it("moves an mlocked page (its PFN changes, its contents do not)", () => {
    const { kernel, p } = boot();
    const va = p.malloc(4096);
    p.poke(va, [1, 2, 3, 4]);
    p.mlock(va, 4096);
    const before = pagemap(p, va);
    expect(before.present).toBe(true);
    expect(before.pfn).toBeGreaterThan(0);
    const moved = kernel.migratePages();
    const after = pagemap(p, va);
    expect(moved.some((m) => m.oldPfn === before.pfn && m.newPfn === after.pfn)).toBe(true);
    expect(after.pfn).not.toBe(before.pfn);
    expect([...p.peek(va, 4)]).toEqual([1, 2, 3, 4]);
  });

  it("never moves a pinned page", () => {
    const { kernel, p } = boot();
    const va = p.malloc(8192);
    p.poke(va, [9]);
    p.poke(va + 4096, [8]);
    const [pinned] = pinUserPages(p.mm, va, 1, { write: true, longterm: true });
    const other = pagemap(p, va + 4096).pfn;
    kernel.migratePages();
    expect(pagemap(p, va).pfn).toBe(pinned);
    expect(pagemap(p, va + 4096).pfn).not.toBe(other);
    unpinUserPages(kernel.allocator, [pinned!]);
    kernel.migratePages();
    expect(pagemap(p, va).pfn).not.toBe(pinned);
  });

  it("keeps a pinned page alive after munmap until it is unpinned", () => {
    const { kernel, p } = boot();
    const va = p.malloc(4096);
    p.poke(va, [0x5a]);
    const [pfn] = pinUserPages(p.mm, va, 1, { write: true, longterm: true });
    p.munmap(va, 4096);
    expect(() => p.peek(va, 1)).toThrow();
    expect(kernel.soc.memory.peekFrame(pfn!)?.[0]).toBe(0x5a);
    expect(kernel.allocator.refCount(pfn!)).toBeGreaterThan(0);
    unpinUserPages(kernel.allocator, [pfn!]);
    expect(kernel.allocator.refCount(pfn!)).toBe(0);
  });
});

describe("/proc/self/pagemap", () => {
  it("shows PFNs only to a reader with CAP_SYS_ADMIN, zeros otherwise", () => {
    const { kernel } = boot();
    const user = kernel.spawn({ comm: "user", uid: 1000 });
    const va = user.malloc(4096);
    user.poke(va, [1]);
    const e = pagemap(user, va);
    expect(e.present).toBe(true);
    expect(e.pfn).toBe(0);
    const admin = kernel.spawn({ comm: "admin", uid: 1000, caps: ["CAP_SYS_ADMIN"] });
    const va2 = admin.malloc(4096);
    admin.poke(va2, [1]);
    expect(pagemap(admin, va2).pfn).toBeGreaterThan(0);
  });

  it("reports an untouched page as not present", () => {
    const { p } = boot();
    const va = p.malloc(4096);
    expect(pagemap(p, va).present).toBe(false);
  });
});
