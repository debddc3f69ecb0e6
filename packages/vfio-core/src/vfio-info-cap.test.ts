import { describe, expect, test } from "vitest";
import {
  VfioInfoCap,
  vfioInfoAddCapability,
  vfioInfoCapAdd,
  vfioInfoCapShift,
} from "./vfio-info-cap.js";

/** Walks a chain as user space does: offsets from the start of its buffer. */
function walk(buf: Uint8Array, first: number): { at: number; id: number; version: number }[] {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = [];
  for (let at = first; ; ) {
    out.push({ at, id: v.getUint16(at, true), version: v.getUint16(at + 2, true) });
    const next = v.getUint32(at + 4, true);
    if (next === 0) return out;
    at = next;
  }
}

describe("vfio_info_cap_add / vfio_info_cap_shift", () => {
  test("capabilities are padded to 8 bytes and chained from the buffer's start", () => {
    const caps = new VfioInfoCap();
    expect(vfioInfoCapAdd(caps, 12, 3, 1)).toBe(0); // DMA_AVAIL: 12 bytes, padded to 16
    expect(vfioInfoCapAdd(caps, 32, 1, 1)).toBe(16); // IOVA_RANGE with one range
    expect(vfioInfoCapAdd(caps, 8, 2, 1)).toBe(48);
    expect(caps.size).toBe(56);
    expect(walk(caps.bytes(), 0)).toEqual([
      { at: 0, id: 3, version: 1 },
      { at: 16, id: 1, version: 1 },
      { at: 48, id: 2, version: 1 },
    ]);
  });

  test("shifting rebases every next offset by the fixed struct's size, the last stays 0", () => {
    const caps = new VfioInfoCap();
    vfioInfoCapAdd(caps, 16, 1, 1);
    vfioInfoCapAdd(caps, 16, 3, 1);
    vfioInfoCapShift(caps, 24);
    const user = new Uint8Array(24 + caps.size);
    user.set(caps.bytes(), 24);
    expect(walk(user, 24).map((c) => c.at)).toEqual([24, 40]);
  });

  test("a single capability keeps next 0 after a shift", () => {
    const caps = new VfioInfoCap();
    vfioInfoCapAdd(caps, 8, 2, 1);
    vfioInfoCapShift(caps, 32);
    expect(new DataView(caps.buf.buffer).getUint32(4, true)).toBe(0);
  });

  test("vfio_info_add_capability copies the body behind a fresh header", () => {
    const caps = new VfioInfoCap();
    vfioInfoCapAdd(caps, 8, 9, 1);
    const cap = new Uint8Array([2, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xaa, 0xbb]);
    vfioInfoAddCapability(caps, cap);
    expect(caps.size).toBe(24);
    expect([...caps.bytes().subarray(8, 24)]).toEqual([
      2, 0, 1, 0, 0, 0, 0, 0, 0xaa, 0xbb, 0, 0, 0, 0, 0, 0,
    ]);
    expect(walk(caps.bytes(), 0).map((c) => c.id)).toEqual([9, 2]);
  });
});
