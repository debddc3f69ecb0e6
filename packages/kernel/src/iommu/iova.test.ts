import { fc, test } from "@fast-check/vitest";
import { VirtualClock } from "@vfio-lab/hw-soc";
import { describe, expect, it } from "vitest";
import { flsLong, IOVA_MAG_SIZE, IovaDomain } from "./iova.js";

const LIMIT_48 = 2 ** 36 - 1; // DMA_BIT_MASK(48) >> PAGE_SHIFT
const LIMIT_32 = 2 ** 20 - 1;

function domain(clock?: VirtualClock): IovaDomain {
  const iovad = new IovaDomain(4096, 1, clock ? { clock } : {});
  iovad.initRcaches();
  return iovad;
}

describe("iova allocator", () => {
  it("allocates top-down from the limit, each range aligned to its size", () => {
    const iovad = domain();
    expect(iovad.allocIovaFast(1, LIMIT_48, true)).toBe(2 ** 36 - 1);
    expect(iovad.allocIovaFast(1, LIMIT_48, true)).toBe(2 ** 36 - 2);
    // 3 pages round up to 4 and align to 4.
    expect(iovad.allocIovaFast(3, LIMIT_48, true)).toBe(2 ** 36 - 8);
    expect(iovad.allocated().map((r) => [r.pfnLo, r.pfnHi])).toEqual([
      [2 ** 36 - 8, 2 ** 36 - 5],
      [2 ** 36 - 2, 2 ** 36 - 2],
      [2 ** 36 - 1, 2 ** 36 - 1],
    ]);
  });

  it("keeps 32-bit allocations below 4 GiB with their own cached node", () => {
    const iovad = domain();
    expect(iovad.allocIovaFast(1, LIMIT_48, true)).toBe(2 ** 36 - 1);
    expect(iovad.allocIovaFast(1, LIMIT_32, true)).toBe(2 ** 20 - 1);
    expect(iovad.allocIovaFast(1, LIMIT_32, true)).toBe(2 ** 20 - 2);
    expect(iovad.allocIovaFast(1, LIMIT_48, true)).toBe(2 ** 36 - 2);
  });

  it("hands a just-freed range out again from the range cache", () => {
    const iovad = domain();
    const a = iovad.allocIovaFast(2, LIMIT_48, true);
    const b = iovad.allocIovaFast(2, LIMIT_48, true);
    iovad.freeIovaFast(a, 2);
    // Still allocated in the tree, parked in the magazine.
    expect(iovad.findIova(a)).toBeDefined();
    expect(iovad.allocIovaFast(2, LIMIT_48, true)).toBe(a);
    expect(iovad.allocIovaFast(2, LIMIT_48, true)).toBe(b - 2);
  });

  it("does not hand out a cached range above a lower limit", () => {
    const iovad = domain();
    const high = iovad.allocIovaFast(1, LIMIT_48, true);
    iovad.freeIovaFast(high, 1);
    expect(iovad.allocIovaFast(1, LIMIT_32, true)).toBe(2 ** 20 - 1);
  });

  it("returns 0 when the space is exhausted, and remembers the size for the 32-bit space", () => {
    const iovad = new IovaDomain(4096, 1);
    expect(iovad.allocIovaFast(2 ** 19, LIMIT_32, false)).toBe(2 ** 19);
    expect(iovad.allocIova(2 ** 19, LIMIT_32, true)).toBeNull();
    expect(iovad.max32AllocSize).toBe(2 ** 19);
    // A smaller request still fits below.
    expect(iovad.allocIova(2 ** 18, LIMIT_32, true)?.pfnLo).toBe(2 ** 18);
  });

  it("flushes the range caches and retries before giving up", () => {
    const iovad = new IovaDomain(4096, 2 ** 20 - 4);
    iovad.initRcaches();
    const pfns = [0, 1, 2, 3].map(() => iovad.allocIovaFast(1, LIMIT_32, true));
    expect(pfns).toEqual([2 ** 20 - 1, 2 ** 20 - 2, 2 ** 20 - 3, 2 ** 20 - 4]);
    for (const p of pfns) iovad.freeIovaFast(p, 1);
    // Two pages cannot come from the one-page magazine: the tree is full until it is flushed.
    expect(iovad.allocIovaFast(2, LIMIT_32, true)).toBe(2 ** 20 - 2);
    expect(iovad.allocIovaFast(2, LIMIT_32, false)).toBe(2 ** 20 - 4);
  });

  it("never hands out a reserved range", () => {
    const iovad = domain();
    iovad.reserveIova(2 ** 36 - 16, 2 ** 36 - 1);
    expect(iovad.allocIovaFast(1, LIMIT_48, true)).toBe(2 ** 36 - 17);
  });

  it("trims surplus depot magazines after the depot delay", () => {
    const clock = new VirtualClock();
    const iovad = domain(clock);
    const n = IOVA_MAG_SIZE * 3 + 1;
    const pfns = Array.from({ length: n }, () => iovad.allocIovaFast(1, LIMIT_48, true));
    for (const p of pfns) iovad.freeIovaFast(p, 1);
    expect(iovad.allocated()).toHaveLength(n);
    clock.run(1_000_000_000);
    // loaded + prev and one depot magazine (one per online CPU) stay cached.
    expect(iovad.allocated()).toHaveLength(n - IOVA_MAG_SIZE);
  });

  it("computes fls_long over the whole 53-bit range", () => {
    expect([0, 1, 2, 3, 2 ** 32, 2 ** 36 - 1].map(flsLong)).toEqual([0, 1, 2, 2, 33, 36]);
  });

  test.prop([
    fc.array(
      fc.record({
        size: fc.integer({ min: 1, max: 40 }),
        limit: fc.constantFrom(LIMIT_32, LIMIT_48, 2 ** 24 - 1),
        free: fc.boolean(),
      }),
      { maxLength: 60 },
    ),
  ])("allocations stay in range, aligned and disjoint", (ops) => {
    const iovad = domain();
    const live = new Map<number, number>();
    for (const op of ops) {
      const pfn = iovad.allocIovaFast(op.size, op.limit, true);
      expect(pfn).toBeGreaterThanOrEqual(1);
      const rounded = op.size < 32 ? 2 ** flsLong(op.size - 1) : op.size;
      expect(pfn + rounded - 1).toBeLessThanOrEqual(op.limit);
      expect(pfn % 2 ** flsLong(op.size - 1)).toBe(0);
      for (const [p, s] of live) expect(pfn + rounded <= p || p + s <= pfn).toBe(true);
      if (op.free) iovad.freeIovaFast(pfn, op.size);
      else live.set(pfn, rounded);
    }
  });
});
