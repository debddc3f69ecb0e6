import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { PAGE_SIZE, PhysicalMemory } from "./physical-memory.js";

describe("PhysicalMemory", () => {
  it("reads untouched memory as zeros without allocating a frame", () => {
    const m = new PhysicalMemory();
    const buf = new Uint8Array(3 * PAGE_SIZE).fill(0xaa);
    m.read(0x4000_0ff0, buf);
    expect(buf.every((b) => b === 0)).toBe(true);
    expect(m.load(0x1_0000_0000, 4)).toBe(0);
    expect(m.allocatedFrames).toBe(0);
  });

  it("allocates a 4 KiB frame on the first write and only that frame", () => {
    const m = new PhysicalMemory();
    m.store(0x4000_1004, 4, 0xdeadbeef);
    expect(m.allocatedFrames).toBe(1);
    expect(m.load(0x4000_1004, 4)).toBe(0xdeadbeef);
    expect(m.load(0x4000_1004, 2)).toBe(0xbeef);
    expect(m.load(0x4000_1007, 1)).toBe(0xde);
    expect(m.peekFrame(0x40001)).toBeDefined();
    expect(m.peekFrame(0x40002)).toBeUndefined();
  });

  it("stores and loads little-endian values that straddle a frame boundary", () => {
    const m = new PhysicalMemory();
    m.store(PAGE_SIZE - 2, 4, 0x11223344);
    expect(m.load(PAGE_SIZE - 2, 4)).toBe(0x11223344);
    expect(m.load(PAGE_SIZE, 2)).toBe(0x1122);
    expect(m.allocatedFrames).toBe(2);
  });

  it("declares a terabyte cheaply: storage grows only with written pages", () => {
    const m = new PhysicalMemory();
    for (let i = 0; i < 1000; i++) m.store(i * 1_099_511_627 - ((i * 1_099_511_627) % 4), 4, i);
    expect(m.allocatedFrames).toBe(1000);
    for (let i = 0; i < 1000; i++)
      expect(m.load(i * 1_099_511_627 - ((i * 1_099_511_627) % 4), 4)).toBe(i);
  });

  test.prop([
    fc.integer({ min: 0, max: 16 * PAGE_SIZE }),
    fc.integer({ min: 0, max: 16 * PAGE_SIZE }),
    fc.integer({ min: 0, max: 3 * PAGE_SIZE }),
  ])("copy() equals read-then-write for any alignment", (src, dst, length) => {
    const data = new Uint8Array(length).map((_, i) => (i * 13 + 1) & 0xff);
    const a = new PhysicalMemory();
    const b = new PhysicalMemory();
    a.write(src, data);
    b.write(src, data);
    a.copy(dst, src, data.length);
    const tmp = new Uint8Array(data.length);
    b.read(src, tmp);
    b.write(dst, tmp);
    const lo = Math.min(src, dst);
    const len = Math.max(src, dst) + data.length - lo;
    const ra = new Uint8Array(len);
    const rb = new Uint8Array(len);
    a.read(lo, ra);
    b.read(lo, rb);
    // Buffer.equals: vitest's deep equality is needlessly slow on large typed arrays.
    expect(Buffer.from(ra).equals(rb)).toBe(true);
  });
});

describe("PhysicalMemory.discardFrame", () => {
  it("drops a frame's storage so it reads as zeros and is reused cleanly", () => {
    const m = new PhysicalMemory();
    m.store(0x4000_0010, 4, 0x12345678);
    m.store(0x4000_1010, 4, 0x9abcdef0);
    m.discardFrame(0x40000);
    expect(m.allocatedFrames).toBe(1);
    expect(m.load(0x4000_0010, 4)).toBe(0);
    expect(m.peekFrame(0x40000)).toBeUndefined();
    // The storage comes back, zeroed, for the next frame that is written.
    m.store(0x8000_0000, 1, 1);
    expect(m.load(0x8000_0010, 4)).toBe(0);
    expect(m.load(0x4000_1010, 4)).toBe(0x9abcdef0);
    m.discardFrame(0x12345); // never written: nothing to do
    expect(m.allocatedFrames).toBe(2);
  });
});
