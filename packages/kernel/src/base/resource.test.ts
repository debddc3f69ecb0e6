import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, test } from "vitest";
import {
  formatPhysAddr,
  formatResource,
  IORESOURCE_BUSY,
  IORESOURCE_IRQ,
  IORESOURCE_MEM,
  iomemShow,
  newIomemRoot,
  Resource,
  releaseRegion,
  releaseResource,
  requestRegion,
  requestResource,
} from "./resource.js";

describe("request_resource / __request_region", () => {
  test("a device window is claimed once; an overlapping one is EBUSY", () => {
    const root = newIomemRoot();
    const win = new Resource(0x9030000, 0x9030fff, IORESOURCE_MEM, "pl061@9030000");
    expect(requestResource(root, win)).toBe(0);
    expect(requestResource(root, new Resource(0x9030800, 0x9031fff, IORESOURCE_MEM))).toBe(-16);
    releaseResource(win);
    expect(root.children).toEqual([]);
  });

  test("a busy region nests inside a non-busy window and conflicts with a busy one", () => {
    const root = newIomemRoot();
    const win = new Resource(0x9030000, 0x9030fff, IORESOURCE_MEM, "pl061@9030000");
    requestResource(root, win);
    const r = requestRegion(root, 0x9030000, 0x1000, "pl061");
    expect(r?.parent).toBe(win);
    expect(r!.flags >>> 0).toBe((IORESOURCE_MEM | IORESOURCE_BUSY) >>> 0);
    expect(requestRegion(root, 0x9030000, 0x1000, "again")).toBeNull();
    expect(requestRegion(root, 0x9030f00, 0x200, "straddles")).toBeNull();
    expect(iomemShow(root)).toBe(
      "09030000-09030fff : pl061@9030000\n  09030000-09030fff : pl061\n",
    );
  });

  test("__release_region frees the exact busy region only", () => {
    const root = newIomemRoot();
    requestRegion(root, 0x9050000, 0x20000, "9050000.smmuv3 smmuv3@9050000");
    expect(releaseRegion(root, 0x9050000, 0x1000)).toBe(false);
    expect(releaseRegion(root, 0x9050000, 0x20000)).toBe(true);
    expect(releaseRegion(root, 0x9050000, 0x20000)).toBe(false);
  });

  fcTest.prop([
    fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 16 })), {
      maxLength: 40,
    }),
  ])("granted busy regions never overlap", (reqs) => {
    const root = newIomemRoot();
    const granted: [number, number][] = [];
    for (const [page, n] of reqs) {
      const start = page * 0x1000;
      const end = start + n * 0x1000 - 1;
      const overlaps = granted.some(([s, e]) => start <= e && s <= end);
      const r = requestRegion(root, start, n * 0x1000, "x");
      expect(r !== null).toBe(!overlaps);
      if (r) granted.push([start, end]);
    }
  });
});

describe("%pR and %pa", () => {
  test("formats as lib/vsprintf.c does", () => {
    expect(formatResource(new Resource(0x9030000, 0x9030fff, IORESOURCE_MEM))).toBe(
      "[mem 0x09030000-0x09030fff]",
    );
    expect(formatResource(new Resource(0x4010000000, 0x401fffffff, IORESOURCE_MEM))).toBe(
      "[mem 0x4010000000-0x401fffffff]",
    );
    expect(formatResource(new Resource(39, 39, IORESOURCE_IRQ))).toBe("[irq 39]");
    expect(formatResource(new Resource(0, 0, 0))).toBe("[??? 0x00000000 flags 0x0]");
    expect(formatResource(null)).toBe("(null)");
    expect(formatPhysAddr(0x9000000)).toBe("0x0000000009000000");
  });
});
