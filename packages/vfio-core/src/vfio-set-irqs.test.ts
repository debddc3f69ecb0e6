import { fc, test as fcTest } from "@fast-check/vitest";
import {
  VFIO_IRQ_SET_ACTION_MASK,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
} from "@vfio-lab/kernel/uapi";
import { describe, expect, test } from "vitest";
import { type VfioIrqSetHeader, vfioSetIrqsValidateAndPrepare } from "./vfio-set-irqs.js";

const EVENTFD_TRIGGER = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;

function hdr(over: Partial<VfioIrqSetHeader>): VfioIrqSetHeader {
  return { argsz: 24, flags: EVENTFD_TRIGGER, index: 0, start: 0, count: 1, ...over };
}

describe("vfio_set_irqs_validate_and_prepare", () => {
  test("one eventfd for a one-interrupt index needs 4 bytes of data", () => {
    expect(vfioSetIrqsValidateAndPrepare(hdr({}), 1, 1)).toBe(4);
  });

  test("DATA_NONE carries no data; BOOL one byte per interrupt", () => {
    const none = hdr({ argsz: 20, flags: VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER });
    expect(vfioSetIrqsValidateAndPrepare(none, 1, 1)).toBe(0);
    const bools = hdr({
      argsz: 22,
      count: 2,
      flags: VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_MASK,
    });
    expect(vfioSetIrqsValidateAndPrepare(bools, 2, 1)).toBe(2);
  });

  test("count 0 with DATA_NONE is accepted (it disables the index)", () => {
    const off = hdr({
      argsz: 20,
      count: 0,
      flags: VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
    });
    expect(vfioSetIrqsValidateAndPrepare(off, 1, 1)).toBe(0);
  });

  test.each([
    ["argsz below 20", hdr({ argsz: 19 })],
    ["index past the driver's IRQ types", hdr({ index: 1 })],
    ["start + count reaching U32_MAX", hdr({ start: 1, count: 0xffff_fffe })],
    ["a flag outside the data and action masks", hdr({ flags: EVENTFD_TRIGGER | (1 << 6) })],
    ["start past num_irqs", hdr({ start: 1 })],
    ["start + count past num_irqs", hdr({ count: 2, argsz: 28 })],
    ["two data types", hdr({ flags: VFIO_IRQ_SET_DATA_BOOL | EVENTFD_TRIGGER })],
    ["no data type", hdr({ flags: VFIO_IRQ_SET_ACTION_UNMASK })],
    ["argsz too short for the eventfds", hdr({ argsz: 23 })],
  ])("EINVAL: %s", (_what, h) => {
    expect(() => vfioSetIrqsValidateAndPrepare(h, 1, 1)).toThrowErrno("EINVAL");
  });

  test("an index without interrupts refuses even count 0", () => {
    const off = hdr({
      argsz: 20,
      count: 0,
      flags: VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
    });
    expect(() => vfioSetIrqsValidateAndPrepare(off, 0, 1)).toThrowErrno("EINVAL");
  });

  /** The C, in its own integer types: u32 header fields, size_t data size. */
  function reference(h: VfioIrqSetHeader, numIrqs: number, maxIrqType: number): number | "EINVAL" {
    const U32_MAX = 0xffff_ffffn;
    const [argsz, flags, index, start, count] = [h.argsz, h.flags, h.index, h.start, h.count].map(
      BigInt,
    ) as [bigint, bigint, bigint, bigint, bigint];
    if (
      argsz < 20n ||
      index >= BigInt(maxIrqType) ||
      count >= U32_MAX - start ||
      (flags & ~0x3fn) !== 0n
    ) {
      return "EINVAL";
    }
    if (start >= BigInt(numIrqs) || ((start + count) & U32_MAX) > BigInt(numIrqs)) return "EINVAL";
    const size = { 1: 0n, 2: 1n, 4: 4n }[Number(flags & 7n)];
    if (size === undefined) return "EINVAL";
    if (size !== 0n && argsz - 20n < count * size) return "EINVAL";
    return Number(count * size);
  }

  fcTest.prop([
    fc.record({
      argsz: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.nat({ max: 0xffff_ffff })),
      flags: fc.oneof(fc.integer({ min: 0, max: 0x3f }), fc.nat({ max: 0xffff_ffff })),
      index: fc.integer({ min: 0, max: 3 }),
      start: fc.oneof(fc.integer({ min: 0, max: 4 }), fc.nat({ max: 0xffff_ffff })),
      count: fc.oneof(fc.integer({ min: 0, max: 4 }), fc.nat({ max: 0xffff_ffff })),
    }),
    fc.integer({ min: 0, max: 4 }),
    fc.integer({ min: 1, max: 3 }),
  ])("agrees with the C's integer arithmetic on every header", (h, numIrqs, maxIrqType) => {
    const want = reference(h, numIrqs, maxIrqType);
    if (want === "EINVAL") {
      expect(() => vfioSetIrqsValidateAndPrepare(h, numIrqs, maxIrqType)).toThrowErrno("EINVAL");
    } else {
      expect(vfioSetIrqsValidateAndPrepare(h, numIrqs, maxIrqType)).toBe(want);
    }
  });
});
