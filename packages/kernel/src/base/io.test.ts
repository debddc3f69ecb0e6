import { describe, expect, test } from "vitest";
import { setupKernelMatchers } from "../testing/matchers.js";
import { baseWorld } from "./base-test-fixture.js";
import { devmIoremapResource, ioremap, KernelOops } from "./io.js";
import type { PlatformDevice } from "./platform.js";
import { IORESOURCE_IRQ, Resource } from "./resource.js";

setupKernelMatchers();

describe("ioremap and readl/writel", () => {
  test("reads the PL061's PrimeCell IDs through the system bus", () => {
    const w = baseWorld({ populate: false });
    const io = ioremap(w.soc.bus, 0x9030000, 0x1000)!;
    expect([0xfe0, 0xfe4, 0xfe8, 0xfec].map((o) => io.readl(o))).toEqual([0x61, 0x10, 0x04, 0x00]);
    expect(io.readb(0xff0)).toBe(0x0d);
  });

  test("RAM and empty ranges cannot be mapped", () => {
    const w = baseWorld({ populate: false });
    expect(ioremap(w.soc.bus, 0x4000_0000, 0x1000)).toBeNull();
    expect(ioremap(w.soc.bus, 0x9030000, 0)).toBeNull();
  });

  test("an access nobody decodes is an external abort (KernelOops), not an errno", () => {
    const w = baseWorld({ populate: false });
    const io = ioremap(w.soc.bus, 0x9040000, 0x1000)!;
    let thrown: unknown;
    try {
      io.readl(0);
    } catch (e) {
      thrown = e;
    }
    expect(KernelOops.isInstance(thrown)).toBe(true);
    expect((thrown as KernelOops).message).toMatch(
      /synchronous external abort: readl at 0x0000000009040000/,
    );
    expect((thrown as KernelOops).busError?.reason).toBe("unmapped");
  });

  test("an access outside the mapping or after iounmap oopses", () => {
    const w = baseWorld({ populate: false });
    const io = ioremap(w.soc.bus, 0x9030000, 0x1000)!;
    expect(() => io.readl(0x1000)).toThrow(KernelOops);
    expect(() => io.readq(0xffc)).toThrow(KernelOops);
    io.unmap();
    expect(() => io.readl(0)).toThrow(/after iounmap/);
  });

  test("readq/writeq are two 32-bit accesses, low word first", () => {
    const w = baseWorld({ populate: false });
    const io = ioremap(w.soc.bus, 0x9030000, 0x1000)!;
    expect(io.readq(0xfe0)).toBe(0x10_0000_0061n);
  });
});

describe("devm_ioremap_resource", () => {
  const smmu = (w: ReturnType<typeof baseWorld>) =>
    w.core.findDevice("platform", "9050000.smmuv3") as PlatformDevice;

  test("claims the region as '<dev> <resource name>' and maps it", () => {
    const w = baseWorld();
    const dev = smmu(w);
    const io = dev.devmIoremapResource(0);
    expect(io.phys).toBe(0x9050000);
    expect(io.size).toBe(0x20000);
    expect(w.core.iomemShow()).toContain("09050000-0906ffff : 9050000.smmuv3 smmuv3@9050000\n");
  });

  test("EBUSY and the kernel's message when the region is claimed", () => {
    const w = baseWorld();
    const dev = smmu(w);
    dev.devmIoremapResource(0);
    expect(() => dev.devmIoremapResource(0)).toThrowErrno("EBUSY");
    expect(w.log()).toContain(
      "platform 9050000.smmuv3: error -EBUSY: can't request region for resource [mem 0x09050000-0x0906ffff]",
    );
  });

  test("the claim goes with the device's managed resources", () => {
    const w = baseWorld();
    const dev = smmu(w);
    dev.devmIoremapResource(0);
    expect(dev.devres.releaseAll()).toBe(2);
    expect(w.core.iomemShow()).not.toContain("smmuv3");
    dev.devmIoremapResource(0);
    dev.devres.releaseAll();
  });

  test("EINVAL for a missing or non-MEM resource", () => {
    const w = baseWorld();
    const dev = smmu(w);
    expect(() => dev.devmIoremapResource(1)).toThrowErrno("EINVAL");
    expect(w.log()).toContain("platform 9050000.smmuv3: error -EINVAL: invalid resource (null)");
    expect(() => devmIoremapResource(dev, new Resource(40, 40, IORESOURCE_IRQ))).toThrowErrno(
      "EINVAL",
    );
    expect(w.log()).toContain("platform 9050000.smmuv3: error -EINVAL: invalid resource [irq 40]");
  });

  test("ENOMEM when the range is RAM (ioremap refuses), and the claim is undone", () => {
    const w = baseWorld();
    const dev = smmu(w);
    const ram = new Resource(0x4000_0000, 0x4000_0fff, 0x200, "ram");
    expect(() => devmIoremapResource(dev, ram)).toThrowErrno("ENOMEM");
    expect(dev.devres.empty).toBe(true);
    expect(w.core.iomemShow()).not.toContain("40000000");
  });
});
