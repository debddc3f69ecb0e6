import { fc, test as fcTest } from "@fast-check/vitest";
import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import { setupKernelMatchers } from "../testing/matchers.js";
import { baseWorld, platformDriver } from "./base-test-fixture.js";
import { DeviceSlot } from "./device.js";

setupKernelMatchers();

const w = baseWorld();
const dev = () => w.core.findDevice("platform", "9050000.smmuv3")!;

describe("driver_override (__device_set_driver_override)", () => {
  test("reads (null) and a newline when unset", () => {
    const d = dev();
    d.setDriverOverride("\n");
    expect(d.driverOverride).toBeNull();
    expect(d.driverOverrideShow()).toBe("(null)\n");
  });

  test("keeps the name up to the first newline", () => {
    const d = dev();
    d.setDriverOverride("vfio-platform\n");
    expect(d.driverOverride).toBe("vfio-platform");
    expect(d.driverOverrideShow()).toBe("vfio-platform\n");
    d.setDriverOverride("abc\ndef");
    expect(d.driverOverride).toBe("abc");
  });

  test("a lone newline, an empty string or a leading NUL clears it", () => {
    const d = dev();
    for (const clear of ["\n", "", "\0", "\0vfio-platform"]) {
      d.setDriverOverride("x");
      d.setDriverOverride(clear);
      expect(d.driverOverride, JSON.stringify(clear)).toBeNull();
    }
  });

  test("stops at the first NUL, as python's padded writes need", () => {
    const d = dev();
    d.setDriverOverride("uio_pdrv_genirq\0\0\0");
    expect(d.driverOverride).toBe("uio_pdrv_genirq");
  });

  test("EINVAL from PAGE_SIZE - 1 bytes on, and the old value stays", () => {
    const d = dev();
    d.setDriverOverride("keep");
    expect(() => d.setDriverOverride("a".repeat(PAGE_SIZE - 1))).toThrowErrno("EINVAL");
    expect(d.driverOverride).toBe("keep");
    d.setDriverOverride("a".repeat(PAGE_SIZE - 2));
    expect(d.driverOverride).toHaveLength(PAGE_SIZE - 2);
    // The length is the write count, even when a NUL makes the string short.
    expect(() => d.setDriverOverride(`x\0${"a".repeat(PAGE_SIZE)}`)).toThrowErrno("EINVAL");
  });

  test("the sysfs file stores and shows the same way", () => {
    const path = `${dev().kobjPath}/driver_override`;
    w.echo(path, "vfio-platform\n");
    expect(w.cat(path)).toBe("vfio-platform\n");
    w.echo(path, "\n");
    expect(w.cat(path)).toBe("(null)\n");
  });

  test("device_match_driver_override(): -1 unset, 1 named, 0 another", () => {
    const d = dev();
    const drv = platformDriver("vfio-platform");
    d.setDriverOverride("\n");
    expect(d.matchDriverOverride(drv)).toBe(-1);
    d.setDriverOverride("vfio-platform");
    expect(d.matchDriverOverride(drv)).toBe(1);
    d.setDriverOverride("uio_pdrv_genirq");
    expect(d.matchDriverOverride(drv)).toBe(0);
    d.setDriverOverride("\n");
  });

  fcTest.prop([
    fc.string({ maxLength: 64 }).filter((s) => !s.includes("\n") && !s.includes("\0")),
    fc.string({ maxLength: 16 }),
  ])("what shows is the text before the first newline, else (null)", (name, tail) => {
    const d = dev();
    d.setDriverOverride(`${name}\n${tail}`);
    expect(d.driverOverrideShow()).toBe(name === "" ? "(null)\n" : `${name}\n`);
    d.setDriverOverride("\n");
  });
});

describe("device slots", () => {
  test("another subsystem's typed attachment is kept per device", () => {
    const slot = new DeviceSlot<{ id: number }>("iommu_group");
    const d = dev();
    expect(d.slot(slot)).toBeUndefined();
    d.setSlot(slot, { id: 3 });
    expect(d.slot(slot)?.id).toBe(3);
    d.clearSlot(slot);
    expect(d.slot(slot)).toBeUndefined();
  });
});
