import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  allocIovaCheckRange,
  doubleSpans,
  findFirstFit,
  type IntervalNode,
  IntervalTree,
  type Span,
  spans,
} from "./interval-tree.js";

const U64_MAX = (1n << 64n) - 1n;

// ---------------------------------------------------------------------------------------------
// Naive references: plain arrays, sorted on demand.

interface Entry {
  start: bigint;
  last: bigint;
  seq: number;
  node: IntervalNode<number>;
}

/** A tree and the array model it must agree with. */
class Model {
  readonly tree = new IntervalTree<number>();
  entries: Entry[] = [];
  private seq = 0;

  insert(start: bigint, last: bigint): void {
    const seq = this.seq++;
    const node = this.tree.insert(start, last, seq);
    this.entries.push({ start, last, seq, node });
  }

  removeAt(i: number): void {
    const [e] = this.entries.splice(i % this.entries.length, 1);
    if (e) this.tree.remove(e.node);
  }

  overlapsAny(start: bigint, last: bigint): boolean {
    return this.entries.some((e) => e.start <= last && start <= e.last);
  }

  sorted(): Entry[] {
    return [...this.entries].sort((x, y) =>
      x.start !== y.start
        ? cmp(x.start, y.start)
        : x.last !== y.last
          ? cmp(x.last, y.last)
          : x.seq - y.seq,
    );
  }

  intervals(): [bigint, bigint][] {
    return this.entries.map((e) => [e.start, e.last]);
  }
}

function cmp(x: bigint, y: bigint): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

function treeIter<T>(t: IntervalTree<T>, start: bigint, last: bigint): IntervalNode<T>[] {
  const out: IntervalNode<T>[] = [];
  for (let n = t.iterFirst(start, last); n; n = t.iterNext(n, start, last)) out.push(n);
  return out;
}

function inOrder<T>(t: IntervalTree<T>): IntervalNode<T>[] {
  const out: IntervalNode<T>[] = [];
  for (let n = t.first(); n; n = t.next(n)) out.push(n);
  return out;
}

/** Union spans of [first, last], each index classified by `classify`, merged by class. */
function naiveClassified(
  trees: [bigint, bigint][][],
  first: bigint,
  last: bigint,
): { cls: number; start: bigint; last: bigint }[] {
  const cuts = new Set<bigint>([first]);
  for (const t of trees) {
    for (const [s, l] of t) {
      if (s > first && s <= last) cuts.add(s);
      if (l + 1n > first && l + 1n <= last) cuts.add(l + 1n);
    }
  }
  const points = [...cuts].sort(cmp);
  const out: { cls: number; start: bigint; last: bigint }[] = [];
  points.forEach((p, i) => {
    const end = i + 1 < points.length ? (points[i + 1] as bigint) - 1n : last;
    let cls = 0;
    trees.forEach((t, k) => {
      if (cls === 0 && t.some(([s, l]) => s <= p && p <= l)) cls = k + 1;
    });
    const prev = out[out.length - 1];
    if (prev && prev.cls === cls) prev.last = end;
    else out.push({ cls, start: p, last: end });
  });
  return out;
}

function naiveSpans(t: [bigint, bigint][], first: bigint, last: bigint): Span[] {
  return naiveClassified([t], first, last).map((s) => ({
    isHole: s.cls === 0,
    start: s.start,
    last: s.last,
  }));
}

function naiveDoubleSpans(
  a: [bigint, bigint][],
  b: [bigint, bigint][],
  first: bigint,
  last: bigint,
): Span[] {
  return naiveClassified([a, b], first, last).map((s) => ({
    isHole: s.cls === 0,
    start: s.start,
    last: s.last,
  }));
}

/** iopt_alloc_iova()'s inner loop over the union's holes, with __alloc_iova_check_range(). */
function naiveFirstFit(
  a: [bigint, bigint][],
  b: [bigint, bigint][],
  first: bigint,
  last: bigint,
  length: bigint,
  align: bigint,
  pageOffset: bigint,
): bigint | undefined {
  for (const h of naiveDoubleSpans(a, b, first, last)) {
    if (!h.isHole) continue;
    const up = h.start + align - 1n;
    if (up > U64_MAX) continue;
    const s = (up & ~(align - 1n)) | pageOffset;
    if (s >= h.last || h.last - s < length - 1n) continue;
    return s;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Generators: coordinates cluster near 0, near 2^64-1 and in a small window so that intervals
// overlap, touch and leave holes often; some are anywhere in u64.

const base = fc.constantFrom(0n, 0x10000n, U64_MAX - 300n);
const coord = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(base, fc.bigInt(0n, 300n)).map(([b, o]) => b + o) },
  { weight: 3, arbitrary: fc.tuple(base, fc.bigInt(0n, 18n)).map(([b, o]) => b + o * 16n) },
  { weight: 1, arbitrary: fc.bigInt(0n, U64_MAX) },
  { weight: 1, arbitrary: fc.constantFrom(0n, 1n, U64_MAX - 1n, U64_MAX) },
);
const span = fc.oneof(
  { weight: 4, arbitrary: fc.bigInt(0n, 40n) },
  { weight: 2, arbitrary: fc.constantFrom(0n, 15n, 31n) },
  { weight: 1, arbitrary: fc.bigInt(0n, U64_MAX) },
);
const interval = fc.tuple(coord, span).map(([s, len]): [bigint, bigint] => {
  const l = s + len > U64_MAX ? U64_MAX : s + len;
  return [s, l];
});

type Op = { kind: "insert"; iv: [bigint, bigint] } | { kind: "remove"; at: number };
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: interval.map((iv): Op => ({ kind: "insert", iv })) },
  { weight: 2, arbitrary: fc.nat().map((at): Op => ({ kind: "remove", at })) },
);
const query = fc.tuple(coord, coord).map(([x, y]): [bigint, bigint] => (x <= y ? [x, y] : [y, x]));

/** Applies the ops, checking the tree's invariants after every one. */
function build(ops: Op[], disjoint = false): Model {
  const m = new Model();
  for (const o of ops) {
    if (o.kind === "insert") {
      if (disjoint && m.overlapsAny(o.iv[0], o.iv[1])) continue;
      m.insert(o.iv[0], o.iv[1]);
    } else if (m.entries.length > 0) {
      m.removeAt(o.at);
    }
    m.tree.verify();
    expect(m.tree.size).toBe(m.entries.length);
  }
  return m;
}

// ---------------------------------------------------------------------------------------------

describe("IntervalTree", () => {
  it("starts empty", () => {
    const t = new IntervalTree<string>();
    expect(t.size).toBe(0);
    expect(t.first()).toBeUndefined();
    expect(t.iterFirst(0n, U64_MAX)).toBeUndefined();
    expect(t.findStart(0n)).toBeUndefined();
    expect(t.findContaining(0n)).toBeUndefined();
    t.verify();
  });

  it("walks intersecting nodes in order of start, then last", () => {
    const t = new IntervalTree<string>();
    t.insert(10n, 20n, "a");
    t.insert(0n, 5n, "b");
    t.insert(10n, 12n, "c");
    t.insert(15n, 30n, "d");
    t.insert(40n, 50n, "e");
    t.verify();
    expect(treeIter(t, 11n, 15n).map((n) => n.value)).toEqual(["c", "a", "d"]);
    expect(treeIter(t, 21n, 39n).map((n) => n.value)).toEqual(["d"]);
    expect(treeIter(t, 31n, 39n)).toEqual([]);
    expect(inOrder(t).map((n) => n.value)).toEqual(["b", "c", "a", "d", "e"]);
  });

  it("keeps intervals touching 0 and 2^64-1", () => {
    const t = new IntervalTree<number>();
    t.insert(0n, 0n, 1);
    t.insert(U64_MAX, U64_MAX, 2);
    t.insert(0n, U64_MAX, 3);
    t.verify();
    expect(treeIter(t, U64_MAX, U64_MAX).map((n) => n.value)).toEqual([3, 2]);
    expect(treeIter(t, 0n, 0n).map((n) => n.value)).toEqual([1, 3]);
    expect(t.findContaining(1n)?.value).toBe(3);
  });

  it("finds an exact start and the lowest node containing an index", () => {
    const t = new IntervalTree<string>();
    t.insert(0x1000n, 0x1fffn, "a");
    t.insert(0x3000n, 0x3fffn, "b");
    expect(t.findStart(0x3000n)?.value).toBe("b");
    expect(t.findStart(0x3001n)).toBeUndefined();
    expect(t.findContaining(0x1fffn)?.value).toBe("a");
    expect(t.findContaining(0x2000n)).toBeUndefined();
  });

  it("rejects an interval that is not a u64 range", () => {
    const t = new IntervalTree<number>();
    expect(() => t.insert(5n, 4n, 0)).toThrow(RangeError);
    expect(() => t.insert(-1n, 4n, 0)).toThrow(RangeError);
    expect(() => t.insert(0n, U64_MAX + 1n, 0)).toThrow(RangeError);
    expect(t.size).toBe(0);
  });

  it("refuses to remove a node twice or a node of another tree", () => {
    const t = new IntervalTree<number>();
    const u = new IntervalTree<number>();
    const n = t.insert(1n, 2n, 0);
    const m = u.insert(1n, 2n, 0);
    expect(() => t.remove(m)).toThrow(/not in this tree/);
    t.remove(n);
    expect(() => t.remove(n)).toThrow(/not in this tree/);
    expect(t.size).toBe(0);
    expect(u.size).toBe(1);
  });

  it("clear() forgets every node and refuses the old ones", () => {
    const t = new IntervalTree<number>();
    const n = t.insert(1n, 2n, 0);
    t.insert(3n, 4n, 0);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.first()).toBeUndefined();
    expect(() => t.remove(n)).toThrow(/not in this tree/);
    t.insert(1n, 2n, 0);
    t.verify();
  });

  it("stays balanced through ascending inserts and removes", () => {
    const t = new IntervalTree<number>();
    const nodes: IntervalNode<number>[] = [];
    for (let i = 0; i < 4096; i++)
      nodes.push(t.insert(BigInt(i) * 4096n, BigInt(i) * 4096n + 4095n, i));
    t.verify();
    for (let i = 0; i < 4096; i += 2) t.remove(nodes[i] as IntervalNode<number>);
    t.verify();
    expect(t.size).toBe(2048);
    expect(inOrder(t).map((n) => n.value)).toEqual(
      nodes.filter((_, i) => i % 2).map((n) => n.value),
    );
  });

  test.prop(
    [fc.array(op, { maxLength: 60, size: "max" }), fc.array(query, { minLength: 1, maxLength: 4 })],
    {
      numRuns: 400,
    },
  )("iterFirst/iterNext, first/next/prev, findStart and findContaining match arrays", (ops, qs) => {
    const m = build(ops);
    const sorted = m.sorted();
    expect(inOrder(m.tree)).toEqual(sorted.map((e) => e.node));
    const rev: IntervalNode<number>[] = [];
    for (let n = sorted[sorted.length - 1]?.node; n; n = m.tree.prev(n)) rev.push(n);
    expect(rev.reverse()).toEqual(sorted.map((e) => e.node));
    for (const [s, l] of qs) {
      const want = sorted.filter((e) => e.start <= l && s <= e.last).map((e) => e.node);
      expect(treeIter(m.tree, s, l)).toEqual(want);
      for (const q of [s, l]) {
        expect(m.tree.findStart(q)).toBe(sorted.find((e) => e.start === q)?.node);
        expect(m.tree.findContaining(q)).toBe(
          sorted.find((e) => e.start <= q && q <= e.last)?.node,
        );
      }
    }
  });

  test.prop(
    [fc.array(op, { maxLength: 60, size: "max" }), fc.array(query, { minLength: 1, maxLength: 4 })],
    {
      numRuns: 300,
    },
  )("spans() matches the array union", (ops, qs) => {
    const m = build(ops);
    for (const [s, l] of qs) {
      expect([...spans(m.tree, s, l)]).toEqual(naiveSpans(m.intervals(), s, l));
    }
  });

  test.prop(
    [
      fc.array(op, { maxLength: 40, size: "max" }),
      fc.array(op, { maxLength: 20, size: "max" }),
      fc.array(query, { minLength: 1, maxLength: 4 }),
    ],
    { numRuns: 300 },
  )("doubleSpans() matches the array union of both trees", (opsA, opsB, qs) => {
    const a = build(opsA);
    const b = build(opsB);
    for (const [s, l] of qs) {
      expect([...doubleSpans(a.tree, b.tree, s, l)]).toEqual(
        naiveDoubleSpans(a.intervals(), b.intervals(), s, l),
      );
    }
  });
});

describe("spans", () => {
  it("reports the whole range as one hole in an empty tree", () => {
    expect([...spans(new IntervalTree(), 0n, U64_MAX)]).toEqual([
      { isHole: true, start: 0n, last: U64_MAX },
    ]);
  });

  it("merges touching and overlapping nodes into one used span", () => {
    const t = new IntervalTree<number>();
    t.insert(10n, 19n, 0);
    t.insert(20n, 29n, 0);
    t.insert(25n, 40n, 0);
    t.insert(42n, 50n, 0);
    expect([...spans(t, 0n, 45n)]).toEqual([
      { isHole: true, start: 0n, last: 9n },
      { isHole: false, start: 10n, last: 40n },
      { isHole: true, start: 41n, last: 41n },
      { isHole: false, start: 42n, last: 45n },
    ]);
  });

  it("clips a used span that starts before the range and one that ends at 2^64-1", () => {
    const t = new IntervalTree<number>();
    t.insert(0n, 100n, 0);
    t.insert(U64_MAX - 1n, U64_MAX, 0);
    expect([...spans(t, 50n, U64_MAX)]).toEqual([
      { isHole: false, start: 50n, last: 100n },
      { isHole: true, start: 101n, last: U64_MAX - 2n },
      { isHole: false, start: U64_MAX - 1n, last: U64_MAX },
    ]);
  });
});

describe("doubleSpans", () => {
  it("reports a used span of the first tree whole and cuts the second tree's at it", () => {
    const a = new IntervalTree<number>();
    const b = new IntervalTree<number>();
    a.insert(5n, 20n, 0);
    b.insert(0n, 10n, 0);
    b.insert(15n, 30n, 0);
    expect([...doubleSpans(a, b, 0n, 40n)]).toEqual([
      { isHole: false, start: 0n, last: 4n },
      { isHole: false, start: 5n, last: 20n },
      { isHole: false, start: 21n, last: 30n },
      { isHole: true, start: 31n, last: 40n },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------

describe("findFirstFit", () => {
  const empty = () => new IntervalTree<number>();
  const tree = (...ivs: [bigint, bigint][]) => {
    const t = new IntervalTree<number>();
    for (const [s, l] of ivs) t.insert(s, l, 0);
    return t;
  };

  it("returns the start of the range in empty trees", () => {
    expect(findFirstFit(empty(), empty(), 0n, U64_MAX, 1n, 1n, 0n)).toBe(0n);
    expect(findFirstFit(empty(), empty(), 0x1000n, U64_MAX - 0x1000n, 0x2000n, 0x2000n, 0n)).toBe(
      0x2000n,
    );
  });

  it("uses the hole at 0", () => {
    expect(findFirstFit(tree([10n, 20n]), empty(), 0n, 100n, 5n, 1n, 0n)).toBe(0n);
    expect(findFirstFit(tree([10n, 20n]), empty(), 0n, 100n, 10n, 1n, 0n)).toBe(0n);
    expect(findFirstFit(tree([10n, 20n]), empty(), 0n, 100n, 11n, 1n, 0n)).toBe(21n);
  });

  it("uses a hole ending at 2^64-1", () => {
    const a = tree([0n, U64_MAX - 100n]);
    expect(findFirstFit(a, empty(), 0n, U64_MAX, 100n, 1n, 0n)).toBe(U64_MAX - 99n);
    expect(findFirstFit(a, empty(), 0n, U64_MAX, 101n, 1n, 0n)).toBeUndefined();
  });

  it("fails when ALIGN_UP of the hole start overflows u64", () => {
    const a = tree([0n, U64_MAX - 10n]);
    expect(findFirstFit(a, empty(), 0n, U64_MAX, 2n, 1n << 63n, 0n)).toBeUndefined();
    expect(findFirstFit(a, empty(), 0n, U64_MAX, 2n, 8n, 0n)).toBe(U64_MAX - 7n);
  });

  it("finds no hole between adjacent nodes of either tree", () => {
    const a = tree([0n, 9n], [20n, 29n]);
    const b = tree([10n, 19n]);
    expect(findFirstFit(a, b, 0n, 29n, 1n, 1n, 0n)).toBeUndefined();
    expect(findFirstFit(a, empty(), 0n, 29n, 1n, 1n, 0n)).toBe(10n);
  });

  it("never fits a one-index hole, even for length 1 (s < last is strict)", () => {
    const a = tree([0n, 9n], [11n, 20n], [23n, 30n]);
    expect(findFirstFit(a, empty(), 0n, 30n, 1n, 1n, 0n)).toBe(21n);
  });

  it("keeps the page offset and the alignment", () => {
    const a = tree([0n, 0x1fffn]);
    expect(findFirstFit(a, empty(), 0n, 0xffffn, 0x1000n, 0x4000n, 0x123n)).toBe(0x4123n);
    expect(findFirstFit(a, empty(), 0n, 0x5122n, 0x1000n, 0x4000n, 0x123n)).toBe(0x4123n);
    expect(findFirstFit(a, empty(), 0n, 0x5121n, 0x1000n, 0x4000n, 0x123n)).toBeUndefined();
  });

  it("skips holes of the areas that reserved ranges cover", () => {
    const a = tree([0x0n, 0xfffn], [0x2000n, 0x2fffn], [0x4000n, 0x4fffn], [0x6000n, 0x6fffn]);
    const b = tree([0x1000n, 0x5fffn], [0x1800n, 0x1900n]);
    expect(findFirstFit(a, b, 0n, U64_MAX, 0x1000n, 0x1000n, 0n)).toBe(0x7000n);
    const b2 = tree([0x1000n, 0x17ffn]);
    expect(findFirstFit(a, b2, 0n, U64_MAX, 0x800n, 0x800n, 0n)).toBe(0x1800n);
  });

  it("finds the hole after a hundred thousand packed areas", () => {
    const a = new IntervalTree<number>();
    for (let i = 0n; i < 100_000n; i++) a.insert(0x1000n + i * 0x1000n, 0x1fffn + i * 0x1000n, 0);
    const b = tree([0xfee00000n, 0xfeefffffn]);
    const end = 0x1000n + 100_000n * 0x1000n;
    expect(findFirstFit(a, b, 0x1000n, U64_MAX - 0xfffn, 0x1000n, 0x1000n, 0n)).toBe(end);
    expect(findFirstFit(a, b, 0x1000n, U64_MAX - 0xfffn, 0x200000n, 0x200000n, 0n)).toBe(
      (end + 0x1fffffn) & ~0x1fffffn,
    );
  });

  it("refuses an allowed range that one of its holes would pass (ALIGN_UP | offset)", () => {
    // align 0x10 with page offset 0x20, as iopt_alloc_iova() computes for addr 0x1020, length 0x10
    expect(allocIovaCheckRange(0x10n, 0x3an, 0x10n, 0x10n, 0x20n)).toBeUndefined();
    expect(allocIovaCheckRange(0x20n, 0x3an, 0x10n, 0x10n, 0x20n)).toBe(0x20n);
    expect(findFirstFit(tree([0x10n, 0x1fn]), empty(), 0x10n, 0x3an, 0x10n, 0x10n, 0x20n)).toBe(
      0x20n,
    );
  });

  it("__alloc_iova_check_range() refuses a candidate at the last index and an ALIGN overflow", () => {
    expect(allocIovaCheckRange(5n, 5n, 1n, 1n, 0n)).toBeUndefined();
    expect(allocIovaCheckRange(5n, 6n, 1n, 1n, 0n)).toBe(5n);
    expect(allocIovaCheckRange(5n, 6n, 2n, 1n, 0n)).toBe(5n);
    expect(allocIovaCheckRange(5n, 6n, 3n, 1n, 0n)).toBeUndefined();
    expect(allocIovaCheckRange(U64_MAX - 3n, U64_MAX, 1n, 8n, 0n)).toBeUndefined();
    expect(allocIovaCheckRange(U64_MAX - 15n, U64_MAX, 8n, 8n, 0n)).toBe(U64_MAX - 15n);
  });

  it("rejects a length of 0 and an alignment that is not a power of two", () => {
    expect(() => findFirstFit(empty(), empty(), 0n, 10n, 0n, 1n, 0n)).toThrow(RangeError);
    expect(() => findFirstFit(empty(), empty(), 0n, 10n, 1n, 3n, 0n)).toThrow(RangeError);
    expect(() => findFirstFit(empty(), empty(), 0n, 10n, 1n, 1n << 64n, 0n)).toThrow(RangeError);
    expect(() => findFirstFit(empty(), empty(), 10n, 0n, 1n, 1n, 0n)).toThrow(RangeError);
  });

  const lengths = fc.oneof(
    { weight: 5, arbitrary: fc.bigInt(1n, 64n) },
    { weight: 1, arbitrary: fc.bigInt(1n, U64_MAX) },
    { weight: 1, arbitrary: fc.constantFrom(0x1000n, 0x200000n, U64_MAX - 1n, U64_MAX) },
  );
  const aligns = fc
    .oneof(
      { weight: 4, arbitrary: fc.integer({ min: 0, max: 6 }) },
      { weight: 2, arbitrary: fc.integer({ min: 7, max: 22 }) },
      { weight: 1, arbitrary: fc.integer({ min: 23, max: 63 }) },
    )
    .map((k) => 1n << BigInt(k));
  const offsets = fc.oneof(fc.constant(0n), fc.bigInt(0n, 4095n), fc.bigInt(0n, 7n));

  test.prop(
    [
      fc.array(op, { maxLength: 80, size: "max" }),
      fc.array(op, { maxLength: 12, size: "max" }),
      fc.array(fc.tuple(query, lengths, aligns, offsets), { minLength: 1, maxLength: 6 }),
    ],
    { numRuns: 500 },
  )("equals the naive walk over the union's holes", (opsA, opsB, qs) => {
    const a = build(opsA, true);
    const b = build(opsB);
    for (const [[first, last], length, align, off] of qs) {
      expect(findFirstFit(a.tree, b.tree, first, last, length, align, off)).toBe(
        naiveFirstFit(a.intervals(), b.intervals(), first, last, length, align, off),
      );
    }
  });

  // Dense small-coordinate areas so that many holes are long enough yet fail on alignment.
  const small = fc.tuple(fc.bigInt(0n, 200n), fc.bigInt(0n, 6n));
  test.prop(
    [
      fc.array(small, { maxLength: 60, size: "max" }),
      fc.array(small, { maxLength: 6, size: "max" }),
      fc.array(
        fc.tuple(
          fc.bigInt(0n, 210n),
          fc.bigInt(0n, 210n),
          fc.bigInt(1n, 12n),
          fc.nat(5),
          fc.bigInt(0n, 3n),
        ),
        { minLength: 1, maxLength: 24 },
      ),
    ],
    { numRuns: 500 },
  )("equals the naive walk on densely packed small trees", (ivA, ivB, qs) => {
    const a = new Model();
    for (const [s, len] of ivA) if (!a.overlapsAny(s, s + len)) a.insert(s, s + len);
    a.tree.verify();
    const b = new Model();
    for (const [s, len] of ivB) b.insert(s, s + len);
    for (const [x, y, length, k, off] of qs) {
      const [first, last] = x <= y ? [x, y] : [y, x];
      const align = 1n << BigInt(k);
      expect(findFirstFit(a.tree, b.tree, first, last, length, align, off)).toBe(
        naiveFirstFit(a.intervals(), b.intervals(), first, last, length, align, off),
      );
    }
  });
});
