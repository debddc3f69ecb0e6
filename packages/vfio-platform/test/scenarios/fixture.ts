/**
 * The scenarios' test-side helpers: what the VMM fixture (`src/testing`, vitest-free) leaves to
 * the test runner — dmesg assertions and small readers of procfs/sysfs that several scenarios
 * share. Everything else comes from `@vfio-lab/vfio-platform/testing`.
 */

import type { Kernel, Process } from "@vfio-lab/kernel";
import { expect } from "vitest";
import { dmesgText } from "../../src/testing/index.js";

export * from "../../src/testing/index.js";

/** Runs `fn` and returns the dmesg lines it printed (no timestamps). */
export function dmesgOf(kernel: Kernel, fn: () => unknown): string[] {
  const before = kernel.dmesg().length;
  fn();
  return dmesgText(kernel).slice(before);
}

/** The lines must appear in this order (others may come between them). */
export function expectLinesInOrder(lines: readonly string[], want: readonly string[]): void {
  let at = 0;
  for (const w of want) {
    const i = lines.indexOf(w, at);
    expect(i, `missing, or out of order: "${w}"\nin:\n${lines.join("\n")}`).toBeGreaterThanOrEqual(
      0,
    );
    at = i + 1;
  }
}

/** The rows of /proc/interrupts whose action name matches. */
export function interruptRows(p: Process, name: RegExp): string[] {
  return p
    .readFile("/proc/interrupts")
    .split("\n")
    .filter((row) => name.test(row));
}

/** A directory's entries without `.` and `..`. */
export function ls(p: Process, path: string): string[] {
  return p.readdir(path).filter((e) => e !== "." && e !== "..");
}

/** Bytes i*7+seed, as the selftests' buffers. */
export function pattern(len: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: len }, (_, i) => (i * 7 + seed) & 0xff);
}

/**
 * The first offset where `a` and `b` differ, -1 when equal (vitest's deep equality walks a
 * megabyte element by element, far too slowly).
 */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}
