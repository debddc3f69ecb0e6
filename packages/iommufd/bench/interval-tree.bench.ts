/**
 * Interval tree benchmark: the tree work of an IOAS MAP + UNMAP pair (first-fit search over the
 * area and reserved trees, insert, remove) and of an exact-address MAP + UNMAP, at 1K, 32K and
 * 1M areas packed at low IOVAs, to show the cost growing like log n. Also the cost of building
 * the tree and of a point lookup.
 */

import assert from "node:assert/strict";
import { measure, report, runBenchmarks } from "../../../scripts/bench-harness.ts";
import { findFirstFit, type IntervalNode, IntervalTree } from "../src/interval-tree.js";

const PAGE = 0x1000n;
const U64_MAX = (1n << 64n) - 1n;

interface Area {
  readonly id: number;
}

/** `n` one-page areas packed from IOVA 0x1000, one reserved range above them (the MSI window). */
function packed(n: number): { areas: IntervalTree<Area>; reserved: IntervalTree<Area> } {
  const areas = new IntervalTree<Area>();
  for (let i = 0; i < n; i++) {
    const start = PAGE + BigInt(i) * PAGE;
    areas.insert(start, start + PAGE - 1n, { id: i });
  }
  const reserved = new IntervalTree<Area>();
  reserved.insert(0x8000000n, 0x80fffffn, { id: -1 });
  return { areas, reserved };
}

/** A xorshift PRNG: benchmark inputs must not depend on Math.random either. */
function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const SIZES = [1_000, 32_000, 1_000_000];

await runBenchmarks("interval-tree", [
  [
    "build by ascending insert",
    () => {
      const lines: string[] = [];
      for (const n of SIZES) {
        const t = measure(`build ${n}`, () => void packed(n), {
          warmup: 1,
          minRuns: 2,
          minMs: 300,
        });
        lines.push(`${n} areas: ${((t.msPerOp * 1e6) / n).toFixed(0)} ns/insert`);
      }
      report("building the area tree (ascending IOVAs)", lines);
    },
  ],
  [
    "MAP (first fit) + UNMAP",
    () => {
      const lines: string[] = [];
      const OPS = 20_000;
      for (const n of SIZES) {
        const { areas, reserved } = packed(n);
        const value = { id: n };
        let got = 0n;
        const t = measure(`alloc map+unmap ${n}`, () => {
          for (let i = 0; i < OPS; i++) {
            const iova = findFirstFit(areas, reserved, PAGE, U64_MAX - PAGE, 0x4000n, 0x4000n, 0n);
            if (iova === undefined) throw new Error("no space");
            got = iova;
            areas.remove(areas.insert(iova, iova + 0x3fffn, value));
          }
        });
        assert.ok(got >= PAGE + BigInt(n) * PAGE);
        lines.push(`${n} areas: ${((t.msPerOp * 1e6) / OPS).toFixed(0)} ns/pair`);
      }
      report("iopt_alloc_iova() search + insert + remove of a 16 KiB area", lines);
    },
  ],
  [
    "fixed-IOVA MAP + UNMAP at random places",
    () => {
      const lines: string[] = [];
      const OPS = 20_000;
      for (const n of SIZES) {
        const { areas } = packed(n);
        const nodes: IntervalNode<Area>[] = [];
        for (let x = areas.first(); x !== undefined; x = areas.next(x)) nodes.push(x);
        const next = rng(n);
        const picks = Array.from({ length: OPS }, () => Math.floor(next() * n));
        const t = measure(`fixed map+unmap ${n}`, () => {
          for (const k of picks) {
            const old = nodes[k] as IntervalNode<Area>;
            areas.remove(old);
            nodes[k] = areas.insert(old.start, old.last, old.value);
          }
        });
        lines.push(`${n} areas: ${((t.msPerOp * 1e6) / OPS).toFixed(0)} ns/pair`);
      }
      report("remove + re-insert of a random area (cache-cold paths)", lines);
    },
  ],
  [
    "point lookup",
    () => {
      const lines: string[] = [];
      const OPS = 20_000;
      for (const n of SIZES) {
        const { areas } = packed(n);
        const next = rng(7);
        const qs = Array.from({ length: OPS }, () => PAGE + BigInt(Math.floor(next() * n)) * PAGE);
        let hits = 0;
        const t = measure(`lookup ${n}`, () => {
          for (const q of qs) if (areas.iterFirst(q, q) !== undefined) hits++;
        });
        assert.ok(hits > 0);
        lines.push(`${n} areas: ${((t.msPerOp * 1e6) / OPS).toFixed(0)} ns/lookup`);
      }
      report("iterFirst(iova, iova) at a random mapped IOVA", lines);
    },
  ],
]);
