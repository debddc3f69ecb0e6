import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, test } from "vitest";
import { Cdev, CharDevices } from "./chrdev.js";
import { BUILTIN_MODULE_REFS } from "./fops.js";
import { errnoOf } from "./fs-test-fixture.js";
import { MAJOR, MINOR, MKDEV } from "./kdev-t.js";

const fops = {};

function registry(): CharDevices {
  return new CharDevices(BUILTIN_MODULE_REFS);
}

describe("register_chrdev_region (fs/char_dev.c)", () => {
  test("overlapping minors of one major are EBUSY, adjacent ones are fine", () => {
    const c = registry();
    c.registerChrdevRegion(MKDEV(240, 0), 4, "a");
    expect(errnoOf(() => c.registerChrdevRegion(MKDEV(240, 3), 2, "b"))).toBe(
      "EBUSY:__register_chrdev_region",
    );
    c.registerChrdevRegion(MKDEV(240, 4), 2, "b");
    expect(c.procDevicesShow()).toBe("Character devices:\n240 a\n240 b\n\nBlock devices:\n");
  });

  test("a major of 512 or more is EINVAL; so is a range past the last minor", () => {
    const c = registry();
    expect(errnoOf(() => c.registerChrdev(512, 0, 1, "x", fops))).toBe(
      "EINVAL:__register_chrdev_region",
    );
    expect(errnoOf(() => c.registerChrdev(300, 0x100000 - 1, 2, "x", fops))).toBe(
      "EINVAL:__register_chrdev_region",
    );
  });

  test("a region spanning two majors is all or nothing", () => {
    const c = registry();
    c.registerChrdevRegion(MKDEV(241, 0), 1, "taken");
    expect(errnoOf(() => c.registerChrdevRegion(MKDEV(240, 0xfffff), 2, "span"))).toBe(
      "EBUSY:__register_chrdev_region",
    );
    expect(c.procDevicesShow()).toBe("Character devices:\n241 taken\n\nBlock devices:\n");
    c.unregisterChrdevRegion(MKDEV(241, 0), 1);
    c.registerChrdevRegion(MKDEV(240, 0xfffff), 2, "span");
    expect(c.procDevicesShow()).toBe("Character devices:\n240 span\n241 span\n\nBlock devices:\n");
  });

  test("dynamic majors come from 254 down to 234, then from 511 down", () => {
    const c = registry();
    const majors: number[] = [];
    for (let i = 0; i < 23; i++) majors.push(MAJOR(c.allocChrdevRegion(0, 1, `d${i}`)));
    expect(majors.slice(0, 3)).toEqual([254, 253, 252]);
    expect(majors.slice(19)).toEqual([235, 234, 511, 510]);
  });

  test("a static major sharing a hash bucket (509 = 254 + 255) hides 254 from the first range", () => {
    const c = registry();
    c.registerChrdevRegion(MKDEV(509, 0), 1, "ext");
    expect(MAJOR(c.allocChrdevRegion(0, 1, "dyn"))).toBe(253);
  });

  test("when every dynamic major is taken, allocation is EBUSY", () => {
    const c = registry();
    for (let i = 0; i < 21 + 128; i++) c.allocChrdevRegion(0, 1, "x");
    expect(errnoOf(() => c.allocChrdevRegion(0, 1, "full"))).toBe("EBUSY:__register_chrdev_region");
  });

  test("alloc_chrdev_region keeps the base minor; register_chrdev returns the dynamic major", () => {
    const c = registry();
    const dev = c.allocChrdevRegion(5, 3, "vfio");
    expect([MAJOR(dev), MINOR(dev)]).toEqual([254, 5]);
    expect(c.registerChrdev(0, 0, 256, "dyn", fops)).toBe(253);
    expect(c.registerChrdev(10, 0, 256, "misc", fops)).toBe(0);
    expect(c.lookup(MKDEV(253, 255))).toBeDefined();
    c.unregisterChrdev(253, 0, 256);
    expect(c.lookup(MKDEV(253, 255))).toBeUndefined();
  });

  test("names are kept to 63 characters, as strlcpy into char[64]", () => {
    const c = registry();
    c.registerChrdevRegion(MKDEV(200, 0), 1, "n".repeat(80));
    expect(c.procDevicesShow()).toContain(`200 ${"n".repeat(63)}\n`);
  });

  fcTest.prop([
    fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 8 })), {
      maxLength: 20,
    }),
  ])("a region registers exactly when it overlaps none of those already registered", (ranges) => {
    const c = registry();
    const taken: [number, number][] = [];
    for (const [base, count] of ranges) {
      const overlaps = taken.some(([b, n]) => base < b + n && b < base + count);
      const r = errnoOf(() => c.registerChrdevRegion(MKDEV(100, base), count, "p"));
      expect(r).toBe(overlaps ? "EBUSY:__register_chrdev_region" : "ok");
      if (!overlaps) taken.push([base, count]);
    }
  });
});

describe("cdev_add and the cdev map (drivers/base/map.c kobj_lookup)", () => {
  test("the cdev with the smallest range covering a number serves it, the newest among equals", () => {
    const c = registry();
    const wide = new Cdev({});
    const narrow = new Cdev({});
    const newer = new Cdev({});
    c.cdevAdd(wide, MKDEV(200, 0), 16);
    c.cdevAdd(narrow, MKDEV(200, 4), 1);
    expect(c.lookup(MKDEV(200, 4))).toBe(narrow);
    expect(c.lookup(MKDEV(200, 5))).toBe(wide);
    c.cdevAdd(newer, MKDEV(200, 4), 1);
    expect(c.lookup(MKDEV(200, 4))).toBe(newer);
    c.cdevDel(newer);
    c.cdevDel(narrow);
    expect(c.lookup(MKDEV(200, 4))).toBe(wide);
    expect(c.lookup(MKDEV(200, 16))).toBeUndefined();
  });
});
