import { describe, expect, test } from "vitest";
import { boardWorld } from "./board-test-fixture.js";
import { builtinBoardDrivers, driversLinkIndex, registerBoardDrivers } from "./index.js";

describe("the built-in board drivers", () => {
  test("register in initcall order: arch_initcall first, then device_initcalls by link order", () => {
    expect(builtinBoardDrivers.map((e) => `${e.initcall} ${e.linkDir} ${e.name}`)).toEqual([
      "arch_initcall drivers/tty/serial uart-pl011",
      "device_initcall drivers/gpio pl061_gpio",
      "device_initcall drivers/dma dma-pl330",
      "device_initcall drivers/misc vfio-lab-dma-test",
      "device_initcall drivers/net/ethernet/calxeda calxedaxgmac",
      "device_initcall drivers/rtc rtc-pl031",
    ]);
    const device = builtinBoardDrivers.filter((e) => e.initcall === "device_initcall");
    const links = device.map((e) => driversLinkIndex(e.linkDir));
    expect(links.every((l) => l >= 0)).toBe(true);
    expect(links).toEqual([...links].sort((a, b) => a - b));
    // arm-smmu-v3 (drivers/iommu) comes after dma-pl330 and before vfio-lab-dma-test.
    const iommu = driversLinkIndex("drivers/iommu");
    expect(device.filter((e) => driversLinkIndex(e.linkDir) < iommu).map((e) => e.name)).toEqual([
      "pl061_gpio",
      "dma-pl330",
    ]);
  });

  test("each binds to its virtLab device; the SP804 stays unbound", () => {
    const w = boardWorld();
    const bound = (bus: "amba" | "platform", name: string) => w.dev(bus, name).driver?.name;
    expect(bound("amba", "9000000.pl011")).toBe("uart-pl011");
    expect(bound("amba", "9010000.pl031")).toBe("rtc-pl031");
    expect(bound("amba", "9030000.pl061")).toBe("pl061_gpio");
    expect(bound("amba", "c000000.dma")).toBe("dma-pl330");
    expect(bound("platform", "c010000.ethernet")).toBe("calxedaxgmac");
    expect(bound("platform", "c030000.dma-test")).toBe("vfio-lab-dma-test");
    expect(bound("platform", "c031000.dma-test")).toBe("vfio-lab-dma-test");
    expect(bound("amba", "c020000.timer")).toBeUndefined();
    expect(w.cat("/sys/bus/amba/devices/9030000.pl061/driver_override")).toBe("(null)\n");
  });

  test("registerBoardDrivers() calls `before` ahead of each one, and gives the drivers back", () => {
    const w = boardWorld({ drivers: false });
    for (const d of [
      ...(w.core.bus("amba")?.drivers ?? []),
      ...(w.core.bus("platform")?.drivers ?? []),
    ]) {
      if (builtinBoardDrivers.some((e) => e.name === d.name)) w.core.unregisterDriver(d);
    }
    const seen: string[] = [];
    const drivers = registerBoardDrivers(w.core, w.env, (e) => seen.push(e.name));
    expect(seen).toEqual(builtinBoardDrivers.map((e) => e.name));
    expect(drivers.map((d) => d.name)).toEqual(seen);
    expect(drivers.every((d) => d.registered)).toBe(true);
  });

  test("the boot log is the same on every boot", () => {
    const a = boardWorld().kernel.dmesg();
    const b = boardWorld().kernel.dmesg();
    expect(a).toEqual(b);
  });
});
